/* What the libFuzzer harnesses share.
 *
 * Coverage: libfastiommu.so is NativeAOT code that clang does not instrument, so libFuzzer's edge coverage sees only
 * the harness. To give it a signal from inside the library, each harness reports the library's decisions (the status
 * of every call, a translation's cause, flags and page size, a walk's level, ...) through fuzz_feedback(), which
 * counts them in libFuzzer's extra-counters section: an input that makes the library decide something new is a new
 * feature and is kept in the corpus, as if that decision were a new edge. This is a coarse signal (outcomes, not the
 * paths inside the library that lead to them), honest about what it is.
 *
 * Failures: a crash of the process (an exception escaping an export ends it), FASTIOMMU_ERR_INTERNAL (a bug by the
 * header's definition), a broken invariant of an answer (fuzz_fail), a leaked handle (a handle made in one input and
 * not destroyed shows up as a slot that is not reused, fuzz_check_handles), or ASan's findings in the harness. */
#ifndef FASTIOMMU_FUZZ_COMMON_H
#define FASTIOMMU_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fastiommu.h"
#include "riscv_iommu.h"

#define FUZZ_COUNTERS 4096

/* libFuzzer reads this section as extra coverage counters (lib/fuzzer/FuzzerExtraCounters.cpp, Linux). */
__attribute__((section("__libfuzzer_extra_counters"), used)) static uint8_t fuzz_counters[FUZZ_COUNTERS];

/* Counts one decision of the library: (site, value) hashed to a counter. */
static inline void fuzz_feedback(uint32_t site, uint64_t value)
{
    uint64_t h = (value + 0x9E3779B97F4A7C15ull * (site + 1)) * 0xBF58476D1CE4E5B9ull;
    h ^= h >> 31;
    uint8_t *counter = &fuzz_counters[h % FUZZ_COUNTERS];
    if (*counter != 0xFF) {
        (*counter)++;
    }
}

__attribute__((noreturn)) static inline void fuzz_fail(const char *what)
{
    fprintf(stderr, "fuzz invariant broken: %s (last error: %s)\n", what, fastiommu_last_error());
    abort();
}

/* Every status is fed back; FASTIOMMU_ERR_INTERNAL is a bug; a status outside the enum too. */
static inline fastiommu_status fuzz_status(uint32_t site, fastiommu_status st)
{
    fuzz_feedback(site, (uint64_t)st);
    if (st == FASTIOMMU_ERR_INTERNAL || (uint32_t)st > FASTIOMMU_ERR_IO) {
        fprintf(stderr, "site %u: %s\n", site, fastiommu_status_name(st));
        fuzz_fail("FASTIOMMU_ERR_INTERNAL or an unknown status");
    }
    return st;
}

/* A handle made and destroyed at the start of every input takes the same slot each time (the handle table reuses
 * the last freed slot first), unless an earlier input leaked a handle into it. */
static inline void fuzz_check_handles(void)
{
    static uint32_t slot;
    fastiommu_gather probe;
    if (fastiommu_gather_create(&probe) != FASTIOMMU_OK) {
        fuzz_fail("cannot make a probe handle");
    }
    uint32_t now = (uint32_t)probe.id;
    fastiommu_gather_destroy(probe);
    if (slot == 0) {
        slot = now;
    } else if (now != slot) {
        fuzz_fail("a handle of an earlier input was not destroyed (leak)");
    }
}

/* A little-endian reader over the fuzz input; reads past the end give zeros. */
struct fuzz_input {
    const uint8_t *data;
    size_t size, at;
};

static inline uint64_t fuzz_bytes(struct fuzz_input *in, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++) {
        v |= (uint64_t)(in->at < in->size ? in->data[in->at] : 0) << (8 * i);
        in->at++;
    }
    return v;
}

static inline int fuzz_done(const struct fuzz_input *in) { return in->at >= in->size; }

/* v1.0; every paging mode; A/D; DBG; PAS 56; PD8/17/20; MSI and WSI; ATS and T2GPA (page-request queue present). */
static inline uint64_t fuzz_capabilities(void)
{
    return 0x10ull | (1ull << RISCV_IOMMU_CAPABILITIES_SV39_BIT) | (1ull << RISCV_IOMMU_CAPABILITIES_SV48_BIT)
           | (1ull << RISCV_IOMMU_CAPABILITIES_SV57_BIT) | (1ull << RISCV_IOMMU_CAPABILITIES_SV39X4_BIT)
           | (1ull << RISCV_IOMMU_CAPABILITIES_SV48X4_BIT) | (1ull << RISCV_IOMMU_CAPABILITIES_SV57X4_BIT)
           | (1ull << RISCV_IOMMU_CAPABILITIES_AMO_HWAD_BIT) | (1ull << RISCV_IOMMU_CAPABILITIES_DBG_BIT)
           | (1ull << RISCV_IOMMU_CAPABILITIES_ATS_BIT) | (1ull << RISCV_IOMMU_CAPABILITIES_T2GPA_BIT)
           | (2ull << RISCV_IOMMU_CAPABILITIES_IGS_SHIFT) | (56ull << RISCV_IOMMU_CAPABILITIES_PAS_SHIFT)
           | (1ull << RISCV_IOMMU_CAPABILITIES_PD8_BIT) | (1ull << RISCV_IOMMU_CAPABILITIES_PD17_BIT)
           | (1ull << RISCV_IOMMU_CAPABILITIES_PD20_BIT);
}

/* Checks a translation's answer: a success keeps the page offset and covers a power-of-two size >= 4 KiB. */
static inline void fuzz_check_response(uint32_t site, const fastiommu_translate_request *request,
                                       const fastiommu_translate_response *r)
{
    fuzz_feedback(site, r->cause);
    fuzz_feedback(site + 1, r->flags);
    fuzz_feedback(site + 2, r->page_size);
    fuzz_feedback(site + 3, r->ttyp);
    if (r->flags & FASTIOMMU_RESP_SUCCESS) {
        if (r->page_size < 4096 || (r->page_size & (r->page_size - 1)) != 0) {
            fuzz_fail("a translation's page size is not a power of two >= 4 KiB");
        }
        if (r->cause != 0 && !(request->flags & FASTIOMMU_REQ_ATS)) {
            fuzz_fail("a successful untranslated request has a cause");
        }
        if (!(request->flags & FASTIOMMU_REQ_ATS) && ((r->pa ^ request->iova) & 0xFFF) != 0) {
            fuzz_fail("a translation lost the page offset");
        }
    } else if (r->cause == 0 && !(request->flags & FASTIOMMU_REQ_ATS)) {
        fuzz_fail("a failed translation has no cause");
    }
}

#endif
