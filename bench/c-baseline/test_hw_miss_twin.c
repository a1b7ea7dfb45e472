/* Tests of the IOTLB-miss twin (hw_miss_twin.c) on a hand-written 3-level Sv39 table: PTE images and expected
 * results worked out by hand from the privileged spec's Sv39 format and the IOMMU spec's causes
 * (13 load page fault, 15 store page fault, 5 load access fault, 260 transaction type disallowed). */
#include "cbaseline.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures;

#include "test_check.h"

#define BASE 0x80000000ull
#define ROOT 0x80000000ull /* Sv39 root; L1 at +0x1000, L0 at +0x2000 */
#define DDTP_1LVL ((0x80004000ull >> 12 << 10) | 2)
#define CAPS ((1ull << 9) | (1ull << 15)) /* Sv39, Svpbmt */
#define FSC ((8ull << 60) | (ROOT >> 12))

static uint64_t mem[5 * 512]; /* 5 pages at BASE */

static void q(uint64_t pa, uint64_t value) { mem[(pa - BASE) / 8] = value; }

static cb_hw_miss_result tr(cb_hw_miss *h, uint32_t device, uint64_t iova, uint8_t access)
{
    cb_hw_miss_request req;
    memset(&req, 0, sizeof req);
    req.device_id = device;
    req.iova = iova;
    req.access = access;
    cb_hw_miss_result res;
    memset(&res, 0xAB, sizeof res); /* every field must be written */
    cb_hw_miss_translate(h, &req, &res);
    return res;
}

#define FAULT(r, c, iova_) (!((r).flags & CB_RES_SUCCESS) && (r).cause == (c) && (r).pa == 0 && (r).iotval == (iova_) && (r).iotval2 == 0)

int main(void)
{
    /* root[1] -> L1 (PPN 0x80001), L1[0] -> L0 (PPN 0x80002): IOVAs 0x40000000 + n x 4 KiB use L0[n]. */
    q(ROOT + 1 * 8, 0x20000401ull);
    q(ROOT + 0x1000 + 0 * 8, 0x20000801ull);
    q(ROOT + 0x2000 + 1 * 8, 0x48D14D7ull);  /* PPN 0x12345 | D A U W R V */
    q(ROOT + 0x2000 + 2 * 8, 0x48D14DDull);  /* D A U X W V: W without R (reserved) */
    q(ROOT + 0x2000 + 3 * 8, 0x48D1453ull);  /* A U R V: read-only */
    q(ROOT + 0x2000 + 4 * 8, 0x48D14C7ull);  /* D A W R V: U = 0 */
    q(ROOT + 0x2000 + 5 * 8, 0x48D1413ull);  /* U R V: A = 0 */
    q(ROOT + 0x2000 + 16 * 8, 0x80000000048D2053ull); /* N | PPN 0x12348 | A U R V: 64 KiB NAPOT */
    q(ROOT + 0x1000 + 1 * 8, 0x48D1453ull);  /* 2 MiB leaf, PPN 0x12345: misaligned superpage */
    q(ROOT + 0x1000 + 2 * 8, 0x4900053ull);  /* 2 MiB leaf, PPN 0x12400 | A U R V */
    q(ROOT + 2 * 8, 0x24000001ull);          /* root[2] -> table at 0x90000000, outside memory */
    q(ROOT + 3 * 8, (1ull << 54) | 0x20000401ull); /* reserved bit 54 in a non-leaf PTE */

    cb_hw_miss *h = cb_hw_miss_create(mem, BASE, sizeof mem, DDTP_1LVL, CAPS, 256);
    CHECK(h != NULL, "create");
    CHECK(cb_hw_miss_layout(0) == 24 && cb_hw_miss_layout(1) == 40 && cb_hw_miss_layout(2) == 80, "layouts");
    CHECK(cb_hw_miss_put_dc(h, 1, 1, 0, 5 << 12, FSC) == CB_OK, "DC 1: V");
    CHECK(cb_hw_miss_put_dc(h, 2, 1 | (1 << 8), 0, 5 << 12, FSC) == CB_OK, "DC 2: V, SADE");
    CHECK(cb_hw_miss_put_dc(h, 4, 1 | (1 << 4), 0, 5 << 12, FSC) == CB_OK, "DC 4: V, DTF");

    cb_hw_miss_result r = tr(h, 1, 0x40001010, 0);
    CHECK((r.flags & CB_RES_SUCCESS) && r.pa == 0x12345010 && r.page_size == 0x1000 && (r.flags & CB_RES_R) && (r.flags & CB_RES_W) && !(r.flags & CB_RES_X) && r.ttyp == 2
              && r.cause == 0 && r.iotval == 0x40001010 && r.iotval2 == 0 && !(r.flags & CB_RES_SUPPRESSED),
          "4 KiB read: pa 0x%llx size 0x%llx", (unsigned long long)r.pa, (unsigned long long)r.page_size);
    r = tr(h, 1, 0x40001010, 1);
    CHECK((r.flags & CB_RES_SUCCESS) && r.pa == 0x12345010 && r.ttyp == 3, "write to a D leaf, TTYP 3");

    r = tr(h, 1, 0x40002010, 1);
    CHECK(FAULT(r, 15, 0x40002010ull), "W without R is reserved even for a write: cause %u", r.cause);
    r = tr(h, 1, 0x40003000, 1);
    CHECK(FAULT(r, 15, 0x40003000ull) && r.ttyp == 3, "write to a read-only leaf: cause %u", r.cause);
    r = tr(h, 1, 0x40004000, 0);
    CHECK(FAULT(r, 13, 0x40004000ull), "user request, U = 0: cause %u", r.cause);
    r = tr(h, 1, 0x40005000, 0);
    CHECK(FAULT(r, 13, 0x40005000ull) && mem[(ROOT + 0x2000 + 5 * 8 - BASE) / 8] == 0x48D1413ull,
          "A = 0 without SADE: cause %u, PTE unchanged", r.cause);
    r = tr(h, 2, 0x40005000, 0);
    CHECK((r.flags & CB_RES_SUCCESS) && r.pa == 0x12345000 && mem[(ROOT + 0x2000 + 5 * 8 - BASE) / 8] == 0x48D1453ull,
          "SADE sets A: PTE now 0x%llx", (unsigned long long)mem[(ROOT + 0x2000 + 5 * 8 - BASE) / 8]);
    r = tr(h, 1, 0x40010010, 0);
    CHECK((r.flags & CB_RES_SUCCESS) && r.pa == 0x12340010 && r.page_size == 0x10000 && (r.flags & CB_RES_R) && !(r.flags & CB_RES_W), "64 KiB NAPOT: pa 0x%llx",
          (unsigned long long)r.pa);
    r = tr(h, 1, 0x40200000, 0);
    CHECK(FAULT(r, 13, 0x40200000ull), "misaligned superpage: cause %u", r.cause);
    r = tr(h, 1, 0x40412345, 0);
    CHECK((r.flags & CB_RES_SUCCESS) && r.pa == 0x12412345 && r.page_size == 0x200000, "2 MiB leaf: pa 0x%llx", (unsigned long long)r.pa);
    r = tr(h, 1, 0x80000000, 0);
    CHECK(FAULT(r, 5, 0x80000000ull), "table outside memory: load access fault, cause %u", r.cause);
    r = tr(h, 1, 0xC0000000, 2);
    CHECK(FAULT(r, 12, 0xC0000000ull) && r.ttyp == 1, "reserved bit in a non-leaf PTE, execute: cause %u", r.cause);
    r = tr(h, 1, 0x4000000000ull, 0);
    CHECK(FAULT(r, 13, 0x4000000000ull), "bit 38 set, 63:39 clear: not sign-extended, cause %u", r.cause);
    r = tr(h, 1, 0x8000000040001010ull, 0);
    CHECK(FAULT(r, 13, 0x8000000040001010ull), "VPNs of a good page but bits 63:39 not all equal to bit 38");
    r = tr(h, 4, 0x40002010, 0);
    CHECK(!(r.flags & CB_RES_SUCCESS) && r.cause == 13 && (r.flags & CB_RES_SUPPRESSED), "DTF suppresses a page fault report");
    r = tr(h, 0x80, 0x40001010, 0);
    CHECK(FAULT(r, 260, 0x40001010ull) && !(r.flags & CB_RES_SUPPRESSED), "device_id wider than 1LVL: cause %u", r.cause);
    r = tr(h, 3, 0x40001010, 0);
    CHECK(!(r.flags & CB_RES_SUCCESS) && r.cause == CB_HW_MISS_NOT_MODELLED, "DC not cached: the DDT walk is not modelled");
    /* A DC with a PDT (PDTV = 1, pdtp PD8) has no walk plan: the full process, step 12 (no process_id, DPE = 0:
     * first stage Bare) and, the G-stage Bare too, the IOVA as the SPA. */
    CHECK(cb_hw_miss_put_dc(h, 5, 1 | (1 << 5), 0, 0, (1ull << 60) | (ROOT >> 12)) == CB_OK, "DC 5: V, PDTV");
    r = tr(h, 5, 0x40001010, 0);
    CHECK((r.flags & CB_RES_SUCCESS) && r.pa == 0x40001010 && r.page_size == 4096, "PDTV = 1, no process_id: identity, pa 0x%llx",
          (unsigned long long)r.pa);

    cb_hw_miss_request pid;
    memset(&pid, 0, sizeof pid);
    pid.device_id = 1;
    pid.process_id = 7;
    pid.flags = CB_REQ_PV;
    pid.iova = 0x40001010;
    cb_hw_miss_translate(h, &pid, &r);
    CHECK(FAULT(r, 260, 0x40001010ull), "process_id with PDTV = 0: cause %u", r.cause);

    /* The benchmark loop sums the PAs, 0 for a fault. */
    cb_hw_miss_request reqs[3];
    memset(reqs, 0, sizeof reqs);
    reqs[0].device_id = reqs[1].device_id = reqs[2].device_id = 1;
    reqs[0].iova = 0x40001010;
    reqs[1].iova = 0x40002010;
    reqs[2].iova = 0x40412345;
    CHECK(cb_hw_miss_set_requests(h, reqs, 3) == CB_OK, "set requests");
    CHECK(cb_bench_hw_miss(h, 2) == 2 * (0x12345010ull + 0x12412345ull), "sum of PAs");
    cb_hw_miss_destroy(h);

    /* The caches on (cb_hw_miss_enable_caches): every case above gives the same result, first from the walk and its
     * fill, then from the caches; an answer the caches hold outlives a PTE changed without an invalidation, as the
     * C# model's does (hardware may keep a translation until it is invalidated). */
    h = cb_hw_miss_create(mem, BASE, sizeof mem, DDTP_1LVL, CAPS, 256);
    CHECK(cb_hw_miss_enable_caches(h, 6, 1024, 16) == CB_EINVAL, "IOTLB entries not a power of two");
    CHECK(cb_hw_miss_enable_caches(h, 4096, 1000, 16) == CB_EINVAL, "micro-TLB entries not a power of two");
    CHECK(cb_hw_miss_enable_caches(h, 4096, 1024, 0) == CB_EINVAL, "no address spaces");
    CHECK(cb_hw_miss_enable_caches(h, 4096, 1024, 16) == CB_OK, "enable caches");
    CHECK(cb_hw_miss_enable_caches(h, 4096, 1024, 16) == CB_EINVAL, "enable caches twice");
    CHECK(cb_hw_miss_put_dc(h, 1, 1, 0, 5 << 12, FSC) == CB_OK, "cached: DC 1");
    CHECK(cb_hw_miss_put_dc(h, 2, 1 | (1 << 8), 0, 5 << 12, FSC) == CB_OK, "cached: DC 2, SADE");
    cb_hw_miss *plain = cb_hw_miss_create(mem, BASE, sizeof mem, DDTP_1LVL, CAPS, 256);
    CHECK(cb_hw_miss_put_dc(plain, 1, 1, 0, 5 << 12, FSC) == CB_OK && cb_hw_miss_put_dc(plain, 2, 1 | (1 << 8), 0, 5 << 12, FSC) == CB_OK,
          "uncached twin's DCs");
    CHECK(cb_hw_miss_enable_caches(plain, 4096, 1024, 16) == CB_EINVAL, "caches after a DC was put");
    static const struct { uint32_t device; uint64_t iova; uint8_t access; } cases[] = {
        { 1, 0x40001010, 0 }, { 1, 0x40001010, 1 }, { 1, 0x40002010, 1 }, { 1, 0x40003000, 0 }, { 1, 0x40003000, 1 },
        { 1, 0x40004000, 0 }, { 1, 0x40010010, 0 }, { 1, 0x40200000, 0 }, { 1, 0x40412345, 0 }, { 1, 0x80000000, 0 },
        { 1, 0xC0000000, 2 }, { 2, 0x40001010, 1 }, { 1, 0x8000000040001010ull, 0 },
    };
    for (int pass = 0; pass < 3; pass++)
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
            cb_hw_miss_result cached = tr(h, cases[i].device, cases[i].iova, cases[i].access);
            cb_hw_miss_result want = tr(plain, cases[i].device, cases[i].iova, cases[i].access);
            CHECK(memcmp(&cached, &want, sizeof cached) == 0, "pass %d, case %zu (0x%llx): cached pa 0x%llx cause %u, uncached pa 0x%llx cause %u",
                  pass, i, (unsigned long long)cases[i].iova, (unsigned long long)cached.pa, cached.cause,
                  (unsigned long long)want.pa, want.cause);
        }
    /* Remap the 4 KiB page and the 2 MiB leaf without an invalidation: the cached twin keeps the translations it
     * holds (the 4 KiB one from the micro-TLB by now, the 2 MiB one from the IOTLB: a superpage's fill searches its
     * set, as Iotlb.Insert), the uncached one walks the new PTEs. */
    q(ROOT + 0x2000 + 1 * 8, 0x48D18D7ull);  /* PPN 0x12346 */
    q(ROOT + 0x1000 + 2 * 8, 0x4A00053ull);  /* PPN 0x12800 */
    r = tr(h, 1, 0x40001010, 0);
    CHECK((r.flags & CB_RES_SUCCESS) && r.pa == 0x12345010, "cached 4 KiB after the remap: pa 0x%llx", (unsigned long long)r.pa);
    r = tr(h, 1, 0x40412345, 0);
    CHECK((r.flags & CB_RES_SUCCESS) && r.pa == 0x12412345 && r.page_size == 0x200000, "cached 2 MiB after the remap: pa 0x%llx",
          (unsigned long long)r.pa);
    r = tr(h, 1, 0x40400000, 0);
    CHECK((r.flags & CB_RES_SUCCESS) && r.pa == 0x12400000, "another page of the cached 2 MiB leaf: pa 0x%llx", (unsigned long long)r.pa);
    r = tr(plain, 1, 0x40001010, 0);
    CHECK((r.flags & CB_RES_SUCCESS) && r.pa == 0x12346010, "uncached 4 KiB after the remap: pa 0x%llx", (unsigned long long)r.pa);
    /* A write to the cached read-only page: its entry does not permit it, so the request walks and faults. */
    r = tr(h, 1, 0x40003000, 1);
    CHECK(FAULT(r, 15, 0x40003000ull), "write to a cached read-only page: cause %u", r.cause);
    /* The benchmark loop through the caches: the same sum as the walk of the same (remapped) tables. */
    memset(reqs, 0, sizeof reqs);
    reqs[0].device_id = reqs[1].device_id = reqs[2].device_id = 1;
    reqs[0].iova = 0x40005010; /* not translated before: walks */
    reqs[1].iova = 0x40002010;
    reqs[2].iova = 0x40010010;
    CHECK(cb_hw_miss_set_requests(h, reqs, 3) == CB_OK && cb_hw_miss_set_requests(plain, reqs, 3) == CB_OK, "set requests");
    CHECK(cb_bench_hw_miss(h, 3) == cb_bench_hw_miss(plain, 3), "cached and uncached sums");
    q(ROOT + 0x2000 + 1 * 8, 0x48D14D7ull);
    q(ROOT + 0x1000 + 2 * 8, 0x4900053ull);
    cb_hw_miss_destroy(plain);
    cb_hw_miss_destroy(h);

    /* ddtp Bare: the IOVA passes through. */
    h = cb_hw_miss_create(mem, BASE, sizeof mem, 1, CAPS, 256);
    r = tr(h, 1, 0x40002010, 0);
    CHECK((r.flags & CB_RES_SUCCESS) && r.pa == 0x40002010 && r.page_size == 4096 && (r.flags & CB_RES_R) && (r.flags & CB_RES_W) && (r.flags & CB_RES_X), "Bare: identity");
    cb_hw_miss_destroy(h);

    printf("hw_miss_twin: %s (%d failures)\n", failures ? "FAILED" : "ok", failures);
    return failures != 0;
}
