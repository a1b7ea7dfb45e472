/* Tests of the C baseline engine: hand-computed PTE images (privileged spec Sv39/Sv48/Sv39x4 formats),
 * overlap and bad input refused with nothing changed, table collection only after the gather completes,
 * a seeded random run against a page-granular reference model, two threads at once, and no leaked page. */
#include "cbaseline.h"
#include "cbaseline_internal.h" /* per-thread gathers for the churn test */

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures;

#include "test_check.h"

#define ARENA_PA 0x80000000ull
#define RW (CB_READ | CB_WRITE)

static uint64_t translate(cb_ctx *c, uint64_t iova)
{
    uint64_t pa = 0;
    return cb_iova_to_phys(c, iova, &pa) ? pa : UINT64_MAX;
}

static int leaf_level(cb_ctx *c, uint64_t iova)
{
    uint64_t pte;
    int level;
    return cb_walk(c, iova, &pte, &level) ? level : -1;
}

static void test_sv39_images(void)
{
    cb_ctx *c = cb_create(CB_SV39, 4 << 20, ARENA_PA);
    CHECK(c != NULL, "create");
    CHECK(cb_root_pa(c) == 0x80000000ull, "root is the first page of the arena: 0x%llx", (unsigned long long)cb_root_pa(c));

    /* 4 KiB at 0x1000: root[0] -> L1 at 0x80001000, L1[0] -> L0 at 0x80002000, L0[1] = leaf. */
    CHECK(cb_map(c, 0x1000, 0x123456000ull, 0x1000, RW, 0) == CB_OK, "map 4K");
    CHECK(cb_read_qword(c, 0x80000000) == 0x20000401ull, "root[0] = V | PPN 0x80001: 0x%llx",
          (unsigned long long)cb_read_qword(c, 0x80000000));
    CHECK(cb_read_qword(c, 0x80001000) == 0x20000801ull, "L1[0] = V | PPN 0x80002");
    CHECK(cb_read_qword(c, 0x80002008) == 0x48D158C7ull, "L0[1] = PPN 0x123456 | D A W R V: 0x%llx",
          (unsigned long long)cb_read_qword(c, 0x80002008));
    CHECK(translate(c, 0x1abc) == 0x123456abcull, "offset carried through");
    CHECK(translate(c, 0x2000) == UINT64_MAX, "neighbour page unmapped");
    CHECK(cb_pages_in_use(c) == 3, "root + 2 tables");

    /* 2 MiB leaf at level 1: root[1] -> L1 at 0x80003000. */
    CHECK(cb_map(c, 0x40200000, 0x200400000ull, 0x200000, CB_READ, 0) == CB_OK, "map 2M");
    CHECK(leaf_level(c, 0x40200000) == 1, "a 2 MiB leaf");
    CHECK(cb_read_qword(c, 0x80003008) == 0x80100043ull, "L1[1] = PPN 0x200400 | A R V (no D: read-only): 0x%llx", (unsigned long long)cb_read_qword(c, 0x80003008));
    CHECK(translate(c, 0x403fffff) == 0x2005fffffull, "last byte of the 2M page");

    /* 1 GiB leaf in root[2]: PPN 0x100000 | A X R V; PBMT=IO (2) in bits 62:61. */
    CHECK(cb_map(c, 0x80000000, 0x100000000ull, 0x40000000, CB_READ | CB_EXECUTE, 2) == CB_OK, "map 1G");
    CHECK(cb_read_qword(c, 0x80000010) == (0x4000004Bull | (2ull << 61)), "root[2]: 0x%llx",
          (unsigned long long)cb_read_qword(c, 0x80000010));
    CHECK(cb_pages_in_use(c) == 4, "a 1G leaf takes no table");

    /* pa not 2 MiB aligned: 512 leaves of 4 KiB. */
    CHECK(cb_map(c, 0xC0000000ull, 0x300001000ull, 0x200000, RW, 0) == CB_OK, "map 2M of 4K pages");
    CHECK(leaf_level(c, 0xC0000000ull) == 0 && leaf_level(c, 0xC01FF000ull) == 0, "4K leaves");
    CHECK(translate(c, 0xC01FF123ull) == 0x300200123ull, "last 4K page");

    /* Overlap: refused, and the page it mapped before hitting 0x1000 is undone. */
    int64_t pages = cb_pages_in_use(c);
    CHECK(cb_map(c, 0x0, 0x50000000, 0x4000, CB_READ, 0) == CB_EEXIST, "overlaps 0x1000");
    CHECK(translate(c, 0x0) == UINT64_MAX, "rolled back");
    CHECK(translate(c, 0x1000) == 0x123456000ull, "old mapping intact");
    CHECK(cb_map(c, 0x40300000, 0x50000000, 0x1000, CB_READ, 0) == CB_EEXIST, "4K inside a 2M leaf");
    CHECK(cb_map(c, 0x80000000, 0x50000000, 0x40000000, CB_READ, 0) == CB_EEXIST, "1G onto a 1G leaf");
    CHECK(cb_pages_in_use(c) == pages, "no table taken");

    /* Bad input. */
    CHECK(cb_map(c, 0x10800, 0x5000, 0x1000, CB_READ, 0) == CB_EINVAL, "unaligned iova");
    CHECK(cb_map(c, 0x10000, 0x5000, 0, CB_READ, 0) == CB_EINVAL, "empty");
    CHECK(cb_map(c, 0x4000000000ull, 0x5000, 0x1000, CB_READ, 0) == CB_EINVAL, "bit 38 set, bits 63:39 clear");
    CHECK(cb_map(c, 0x3ffffff000ull, 0x5000, 0x2000, CB_READ, 0) == CB_EINVAL, "runs into the hole");
    CHECK(cb_map(c, 0x10000, 0x5000, 0x1000, CB_WRITE, 0) == CB_EINVAL, "W without R is reserved");
    CHECK(cb_map(c, 0x10000, 0x5000, 0x1000, 0, 0) == CB_EINVAL, "no permission would be a table pointer");
    CHECK(cb_map(c, 0x10000, 0x5000, 0x1000, CB_READ, 3) == CB_EINVAL, "PBMT 3 is reserved");
    CHECK(cb_map(c, 0x10000, 1ull << 56, 0x1000, CB_READ, 0) == CB_EINVAL, "PA wider than 56 bits");

    /* High half: sign-extended, last entry of the root. */
    CHECK(cb_map(c, 0xFFFFFFFFFFFFF000ull, 0x7000, 0x1000, CB_READ, 0) == CB_OK, "top page");
    CHECK(translate(c, 0xFFFFFFFFFFFFFFFFull) == 0x7fffull, "top byte");
    CHECK((cb_read_qword(c, 0x80000000 + 511 * 8) & 1) == 1, "root[511] valid");

    /* Unmap: partial leaf refused, 4K unmapped without freeing, whole 1G slot frees its two tables. */
    CHECK(cb_unmap(c, 0x40200000, 0x1000) == 0, "no split of a 2M leaf");
    CHECK(cb_unmap(c, 0x40000000, 0x201000) == 0, "nor of its tail");
    CHECK(translate(c, 0x40200000) == 0x200400000ull, "2M leaf intact");
    pages = cb_pages_in_use(c);
    CHECK(cb_unmap(c, 0x1000, 0x1000) == 0x1000, "unmap 4K");
    CHECK(translate(c, 0x1000) == UINT64_MAX, "gone");
    CHECK(cb_read_qword(c, 0x80000000) == 0, "its L0 and L1 became empty: root[0] unlinked");
    CHECK(cb_pages_in_use(c) == pages, "tables are freed only by the gather");
    cb_gather_complete(c);
    CHECK(cb_pages_in_use(c) == pages - 2, "L1 and L0 freed");
    CHECK(cb_unmap(c, 0x0, 0x100000000ull) == 0x200000 + 0x40000000 + 0x200000, "whole low 4 GiB");
    CHECK(cb_unmap(c, 0xFFFFFFFFC0000000ull, 0x40000000) == 0x1000, "top 1G slot");
    cb_gather_complete(c);
    CHECK(cb_pages_in_use(c) == 1, "only the root left: %lld", (long long)cb_pages_in_use(c));

    /* Freed pages are reused and come back zeroed. */
    CHECK(cb_map(c, 0x1000, 0x9000, 0x1000, CB_READ, 0) == CB_OK, "map again");
    CHECK(translate(c, 0x2000) == UINT64_MAX && translate(c, 0x1000) == 0x9000, "clean reused tables");
    cb_destroy(c);
}

static void test_sv48_mixed_sizes(void)
{
    cb_ctx *c = cb_create(CB_SV48, 4 << 20, ARENA_PA);
    /* 4K + 1G + 2M + 4K in one call: the largest aligned page at each step. */
    uint64_t iova = 0x3FFFF000ull, pa = 0x13FFFF000ull, size = 0x1000 + 0x40000000 + 0x200000 + 0x1000;
    CHECK(cb_map(c, iova, pa, size, RW, 0) == CB_OK, "map");
    CHECK(leaf_level(c, 0x3FFFF000ull) == 0, "head 4K");
    CHECK(leaf_level(c, 0x40000000ull) == 2, "1G");
    CHECK(leaf_level(c, 0x80000000ull) == 1, "2M");
    CHECK(leaf_level(c, 0x80200000ull) == 0, "tail 4K");
    CHECK(translate(c, 0x80200fffull) == 0x180200fffull, "tail");
    CHECK(cb_map(c, 0x80201000ull, 0x5000, 0x1000, CB_READ, 0) == CB_OK, "page after the range is free");
    CHECK(cb_unmap(c, iova, size) == size, "unmap all of it");
    CHECK(cb_unmap(c, 0, 1ull << 39) == 0x1000, "first 512 GiB slot, collecting its tables");
    cb_gather_complete(c);
    CHECK(cb_pages_in_use(c) == 1, "no leak: %lld", (long long)cb_pages_in_use(c));
    /* A 2M map where a table sits is an overlap, even where its own pages are free. */
    CHECK(cb_map(c, 0x3ff000, 0x9000, 0x1000, CB_READ, 0) == CB_OK, "make a table in slot 0x200000");
    CHECK(cb_map(c, 0x200000, 0x400000, 0x200000, CB_READ, 0) == CB_EEXIST, "2M over a table");
    CHECK(cb_map(c, 0x200000, 0x400000, 0x1000, CB_READ, 0) == CB_OK, "4K into it");
    CHECK(cb_unmap(c, 0x200000, 0x200000) == 0x2000, "both 4K pages");
    CHECK(cb_map(c, 0x200000, 0x400000, 0x200000, CB_READ, 0) == CB_OK, "the emptied table was freed: 2M fits");
    CHECK(leaf_level(c, 0x3ff000) == 1, "a 2M leaf");
    cb_destroy(c);
}

static void test_sv39x4(void)
{
    /* Arena starts 4 KiB past a 16 KiB boundary: the root skips to 0x80004000. */
    cb_ctx *c = cb_create(CB_SV39X4, 1 << 20, 0x80001000ull);
    CHECK(cb_root_pa(c) == 0x80004000ull, "16 KiB aligned root: 0x%llx", (unsigned long long)cb_root_pa(c));
    CHECK(cb_pages_in_use(c) == 4, "root is 4 pages");
    CHECK(cb_map(c, 1ull << 40, 0x2000, 0x1000, CB_READ | CB_GLOBAL, 0) == CB_EINVAL, "G refused in a G-stage");
    CHECK(cb_map(c, 1ull << 40, 0x2000, 0x1000, CB_READ, 0) == CB_OK, "GPA 2^40");
    /* root index = GPA[40:30] = 1024: the 11-bit root index of an x4 mode. */
    uint64_t root1024 = cb_read_qword(c, 0x80004000ull + 1024 * 8);
    CHECK((root1024 & 0x3ff) == 1, "root[1024] is a table pointer: 0x%llx", (unsigned long long)root1024);
    uint64_t pte;
    int level;
    CHECK(cb_walk(c, 1ull << 40, &pte, &level) && pte == ((0x2ull << 10) | 0x53), "leaf gets U (A R V, no D: read-only): 0x%llx",
          (unsigned long long)pte);
    CHECK(cb_map(c, 1ull << 41, 0x2000, 0x1000, CB_READ, 0) == CB_EINVAL, "GPA bit 41 set");
    CHECK(cb_map(c, 0xFFFFFFFFFFFFF000ull, 0x2000, 0x1000, CB_READ, 0) == CB_EINVAL, "no sign extension in G-stage");
    CHECK(cb_unmap(c, 0, 1ull << 41) == 0x1000, "everything");
    cb_gather_complete(c);
    CHECK(cb_pages_in_use(c) == 4, "only the root");
    cb_destroy(c);
}

static void test_out_of_memory(void)
{
    cb_ctx *c = cb_create(CB_SV39, 3 * 4096, ARENA_PA); /* root + 2 tables: exactly one 4K leaf's path */
    CHECK(cb_map(c, 0x1000, 0x1000, 0x1000, CB_READ, 0) == CB_OK, "fits");
    /* 0x1ff000..0x201000 needs a second L0 table for its second page: none left, first page undone. */
    CHECK(cb_map(c, 0x1ff000, 0x5000, 0x2000, CB_READ, 0) == CB_ENOMEM, "no page for the second L0");
    CHECK(translate(c, 0x1ff000) == UINT64_MAX, "rolled back");
    CHECK(translate(c, 0x1000) == 0x1000, "old mapping intact");
    cb_destroy(c);
}

/* ---- seeded random run against a page-granular reference model ---- */

static uint64_t rng_state;
static uint64_t next_random(void) /* splitmix64 */
{
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* The raw entry at `level` on the way to iova, read from the table image as the spec lays it out (the test's own
 * walker: root index is 11 bits for an x4 root, 9 elsewhere). 0 when a level above has no table. */
static uint64_t raw_entry(cb_ctx *c, int levels, int gstage, uint64_t iova, int level)
{
    uint64_t table = cb_root_pa(c);
    for (int l = levels - 1;; l--) {
        uint64_t mask = (l == levels - 1 && gstage) ? 2047 : 511;
        uint64_t pte = cb_read_qword(c, table + ((iova >> (12 + 9 * l)) & mask) * 8);
        if (l == level)
            return pte;
        if ((pte & 0xf) != 1)
            return 0;
        table = (pte >> 10 & ((1ull << 44) - 1)) << 12;
    }
}

#define WINDOW_PAGES 16384u /* 64 MiB */
typedef struct { uint64_t iova, size; } range;

static void test_random_against_model(int mode, int levels, int root_pages, uint64_t window)
{
    cb_ctx *c = cb_create(mode, 16 << 20, ARENA_PA);
    static uint64_t model[WINDOW_PAGES]; /* pa of each page, or UINT64_MAX */
    static range ranges[4096];
    size_t nranges = 0;
    for (unsigned i = 0; i < WINDOW_PAGES; i++)
        model[i] = UINT64_MAX;
    rng_state = 42 + (uint64_t)mode;
    for (int op = 0; op < 3000; op++) {
        if (nranges > 0 && next_random() % 3 == 0) {
            size_t k = next_random() % nranges;
            range r = ranges[k];
            CHECK(cb_unmap(c, r.iova, r.size) == r.size, "unmap a mapped range");
            for (uint64_t p = (r.iova - window) >> 12; p < (r.iova - window + r.size) >> 12; p++)
                model[p] = UINT64_MAX;
            ranges[k] = ranges[--nranges];
            if (next_random() % 4 == 0)
                cb_gather_complete(c);
        } else {
            int big = next_random() % 4 == 0;
            uint64_t align = big ? 512 : 1;
            uint64_t first = (next_random() % WINDOW_PAGES) / align * align;
            uint64_t count = big ? 512 * (1 + next_random() % 2) : 1 + next_random() % 40;
            if (first + count > WINDOW_PAGES)
                continue;
            uint64_t pa = (next_random() % (1ull << 20)) * align * 4096;
            uint64_t iova = window + first * 4096, size = count * 4096;
            int overlap = 0;
            for (uint64_t p = first; p < first + count; p++)
                overlap |= model[p] != UINT64_MAX;
            /* A table where a 2M leaf would go is an overlap too. */
            for (uint64_t p = first; big && p < first + count; p += 512)
                overlap |= (raw_entry(c, levels, mode >= CB_SV39X4, window + p * 4096, 1) & 0xf) == 1;
            int rc = cb_map(c, iova, pa, size, RW, 0);
            CHECK(rc == (overlap ? CB_EEXIST : CB_OK), "op %d: map 0x%llx+0x%llx gave %d", op,
                  (unsigned long long)iova, (unsigned long long)size, rc);
            if (rc == CB_OK) {
                for (uint64_t p = 0; p < count; p++)
                    model[first + p] = pa + p * 4096;
                ranges[nranges++] = (range){ iova, size };
            }
        }
        if (op % 100 == 0 || op == 2999) {
            for (unsigned p = 0; p < WINDOW_PAGES; p++) {
                uint64_t got = translate(c, window + (uint64_t)p * 4096 + 0x18);
                uint64_t want = model[p] == UINT64_MAX ? UINT64_MAX : model[p] + 0x18;
                if (got != want) {
                    CHECK(got == want, "op %d page %u: got 0x%llx want 0x%llx", op, p, (unsigned long long)got,
                          (unsigned long long)want);
                    break;
                }
            }
        }
    }
    for (size_t k = 0; k < nranges; k++)
        cb_unmap(c, ranges[k].iova, ranges[k].size);
    uint64_t root_slot = 1ull << (12 + 9 * (levels - 1));
    cb_unmap(c, window & ~(root_slot - 1), root_slot); /* collect every table under the window's root entry */
    cb_gather_complete(c);
    CHECK(cb_pages_in_use(c) == root_pages, "mode %d: no leak, %lld pages", mode, (long long)cb_pages_in_use(c));
    cb_destroy(c);
}

/* ---- two threads at once ---- */

typedef struct { cb_ctx *c; uint64_t iova; int bad; } job;

static void *map_job(void *arg)
{
    job *j = arg;
    for (uint64_t off = 0; off < (16u << 20); off += 4096)
        j->bad |= cb_map(j->c, j->iova + off, j->iova + off + 0x100000000ull, 4096, RW, 0) != CB_OK;
    return NULL;
}

/* Map, check, unmap pages of one shared leaf table over and over: the table keeps dying and coming back while the
 * other thread maps into it. No mapping may be lost, no table leaked. */
typedef struct { cb_ctx *c; uint64_t first; int lost; } churn;
static void *churn_job(void *arg)
{
    churn *j = arg;
    cb_gather g;
    cb_gather_init(&g);
    for (int i = 0; i < 100000; i++) {
        uint64_t iova = 0x40000000ull + ((j->first + (uint64_t)(i % 8) * 2) << 12);
        if (cb_map(j->c, iova, iova + 0x1000000000ull, 4096, RW, 0) != CB_OK) {
            j->lost++;
            continue;
        }
        uint64_t pa = 0;
        j->lost += !cb_iova_to_phys(j->c, iova, &pa) || pa != iova + 0x1000000000ull;
        j->lost += cb_pt_unmap(&j->c->pt, iova, 4096, &g) != 4096;
        cb_gather_complete_on(&j->c->alloc, &g);
    }
    cb_gather_fini(&g);
    return NULL;
}

static void test_threads(void)
{
    cb_ctx *c = cb_create(CB_SV48, 16 << 20, ARENA_PA);
    /* Interleaved 16 MiB halves of one 1G slot: both threads race to install the shared upper tables. */
    job jobs[2] = { { c, 0x0, 0 }, { c, 16u << 20, 0 } };
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&t[i], NULL, map_job, &jobs[i]);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    CHECK(!jobs[0].bad && !jobs[1].bad, "every disjoint map succeeded");
    int wrong = 0;
    for (uint64_t off = 0; off < (32u << 20); off += 4096)
        wrong += translate(c, off) != off + 0x100000000ull;
    CHECK(wrong == 0, "%d pages translate wrong", wrong);
    CHECK(cb_pages_in_use(c) == 1 + 1 + 1 + 16, "no duplicate table survived: %lld", (long long)cb_pages_in_use(c));

    CHECK(cb_unmap(c, 0, 1ull << 31) == (32u << 20), "unmap both");
    cb_gather_complete(c);
    CHECK(cb_pages_in_use(c) == 1, "no leak: %lld", (long long)cb_pages_in_use(c));
    cb_destroy(c);

    /* Churn: the shared leaf table dies and comes back all the time; each thread has its own gather. */
    c = cb_create(CB_SV48, 16 << 20, ARENA_PA);
    churn jobs2[2] = { { c, 0, 0 }, { c, 1, 0 } };
    for (int i = 0; i < 2; i++)
        pthread_create(&t[i], NULL, churn_job, &jobs2[i]);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    CHECK(jobs2[0].lost == 0 && jobs2[1].lost == 0, "no map refused or lost: %d, %d", jobs2[0].lost, jobs2[1].lost);
    CHECK(cb_pages_in_use(c) == 1, "every table died in the end: %lld", (long long)cb_pages_in_use(c));
    cb_destroy(c);
}

static void test_bench_loops(void)
{
    cb_ctx *c = cb_create(CB_SV48, 16 << 20, ARENA_PA);
    CHECK(cb_map(c, 0x40000000ull + 0x1000, 0x1000, 0x1000, CB_READ, 0) == CB_OK, "neighbour");
    int64_t pages = cb_pages_in_use(c);
    CHECK(cb_bench_map_unmap(c, 0x40000000ull, 0x5000, 0x1000, RW, 10) == 10 * 0x1000ull, "checksum");
    CHECK(cb_pages_in_use(c) == pages, "steady state");
    CHECK(cb_bench_populate_teardown(c, 0x80000000ull, 0, 8u << 20, 4096, 2) == 2 * (8u << 20), "populate");
    CHECK(cb_pages_in_use(c) == pages, "every table of the populated slot freed: %lld",
          (long long)cb_pages_in_use(c));
    CHECK(cb_map(c, 0x100000000ull, 0x200000000ull, 1u << 20, CB_READ, 0) == CB_OK, "1 MiB");
    uint64_t want = 0;
    for (uint64_t i = 0; i < 256; i++)
        want += 0x200000000ull + i * 4096;
    CHECK(cb_bench_translate_sequential(c, 0x100000000ull, 256, 3) == 3 * want, "sequential sum");
    uint32_t idx[3] = { 5, 0, 255 };
    CHECK(cb_bench_translate_indexed(c, 0x100000000ull, idx, 3, 1) == 3 * 0x200000000ull + 260 * 4096, "indexed sum");
    CHECK(cb_bench_translate_sequential(c, 0x100000000ull, 257, 1) == UINT64_MAX, "unmapped page reported");
    CHECK(cb_bench_translate_plain(c, 0x100000000ull, NULL, 256, 3) == 3 * want, "plain sequential sum");
    CHECK(cb_bench_translate_plain(c, 0x100000000ull, idx, 3, 1) == 3 * 0x200000000ull + 260 * 4096, "plain indexed");
    CHECK(cb_bench_translate_plain(c, 0x100000000ull, NULL, 257, 1) == UINT64_MAX, "plain: unmapped page reported");
    CHECK(cb_bench_populate_parallel(c, 0x200000000ull, 1ull << 30, 0, 4u << 20, 2, 2, 2) == 4 * (4u << 20), "2 threads");
    CHECK(cb_bench_populate_parallel(c, 0x200000000ull, 1ull << 30, 0, 4u << 20, 2, 1, 2) == 4 * (4u << 20), "1 thread");
    cb_destroy(c);
}

int main(void)
{
    test_sv39_images();
    test_sv48_mixed_sizes();
    test_sv39x4();
    test_out_of_memory();
    test_random_against_model(CB_SV39, 3, 1, 0x40000000ull);
    test_random_against_model(CB_SV48, 4, 1, 0x7F0000000000ull - (1ull << 30));
    test_random_against_model(CB_SV48X4, 4, 4, 1ull << 49);
    test_threads();
    test_bench_loops();
    if (failures) {
        fprintf(stderr, "%d check(s) failed\n", failures);
        return 1;
    }
    puts("all C baseline checks passed");
    return 0;
}
