/* The C API's price: the hardware model's translate (IOTLB hit through the micro-TLB, through the second level, a
 * 3-level Sv39 miss), a 4 KiB map + unmap, and the driver's map 4K + unmap + sync (1 and 10 devices sharing the
 * domain, as DriverBenchmarks), called through libfastiommu.so from C, beside the C twins of
 * bench/c-baseline doing the same work in the same process. The setups mirror bench/FastIommu.Benchmarks
 * (HardwareBenchmarks, PageTableMapUnmapBenchmarks), so "C API - C# figure" is the cost of the export.
 *
 *   run:  build/native-layout/fastiommu_bench            (about 10 s; pin it: taskset -c 1 ...)
 *         build/native-layout/fastiommu_bench --quick    (a smoke run: ctest does this; its figures mean nothing)
 * Each case: a warm-up, then the best of `rounds` timed rounds (CLOCK_MONOTONIC), in ns per operation. Before
 * timing, the C API and the twin must agree (sum of translated PAs, bytes unmapped), else the program fails. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cbaseline.h"
#include "fastiommu.h"
#include "riscv_iommu.h"

#define MEMORY_BASE 0x80000000ull
#define MEMORY_SIZE (64ull << 20)
#define DDT MEMORY_BASE
#define PAGES 1024
#define IOVA_BASE 0x40000000ull
#define TARGET_PA 0x4000000000ull
#define CAPS                                                                                                           \
    (0x10ull | (1ull << 9) | (1ull << 10) | (1ull << 11) | (1ull << 15) | (1ull << 17) | (1ull << 18) | (1ull << 19)   \
     | (1ull << 24) | (1ull << 25) | (1ull << 26) | (1ull << 38) | (1ull << 39) | (1ull << 40)                     \
     | (56ull << 32)) /* HardwareBenchmarks.Caps plus PAS 56, which the device (not the bare translator) requires */

static int quick;

static double now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

static void fail(const char *what)
{
    fprintf(stderr, "fastiommu_bench: %s (%s)\n", what, fastiommu_last_error());
    exit(1);
}

#define TRY(call)                                                                                                      \
    do {                                                                                                               \
        if ((call) != FASTIOMMU_OK) fail(#call);                                                                       \
    } while (0)

/* ---- the measured loops: each returns a checksum so nothing is optimised away */
static fastiommu_translate_request requests[PAGES];
static uint32_t indices[PAGES];

static uint64_t capi_translate(fastiommu_iommu iommu, uint64_t iterations)
{
    uint64_t sum = 0;
    fastiommu_translate_response response;
    for (uint64_t it = 0; it < iterations; it++) {
        for (int i = 0; i < PAGES; i++) {
            if (fastiommu_iommu_translate(iommu, &requests[i], &response) != FASTIOMMU_OK) return UINT64_MAX;
            sum += (response.flags & FASTIOMMU_RESP_SUCCESS) ? response.pa : 0;
        }
    }
    return sum;
}

static fastiommu_translate_response responses[PAGES];

static uint64_t capi_translate_batch(fastiommu_iommu iommu, uint64_t iterations)
{
    uint64_t sum = 0;
    for (uint64_t it = 0; it < iterations; it++) {
        if (fastiommu_iommu_translate_batch(iommu, requests, responses, PAGES) != FASTIOMMU_OK) return UINT64_MAX;
        for (int i = 0; i < PAGES; i++) {
            sum += (responses[i].flags & FASTIOMMU_RESP_SUCCESS) ? responses[i].pa : 0;
        }
    }
    return sum;
}

static uint64_t capi_map_unmap(fastiommu_page_table table, fastiommu_gather gather, uint64_t iova, uint64_t iterations)
{
    uint64_t sum = 0, unmapped = 0;
    for (uint64_t it = 0; it < iterations; it++) {
        if (fastiommu_page_table_map(table, iova, TARGET_PA, 4096, FASTIOMMU_PROT_READ | FASTIOMMU_PROT_WRITE, 0) != FASTIOMMU_OK
            || fastiommu_page_table_unmap(table, iova, 4096, gather, &unmapped) != FASTIOMMU_OK
            || fastiommu_gather_complete(gather) != FASTIOMMU_OK) {
            return UINT64_MAX;
        }
        sum += unmapped;
    }
    return sum;
}

/* DriverBenchmarks' strict path: map 4 KiB, unmap + sync (one IOTINVAL.VMA, one IOFENCE.C through the command
 * queue ring, run by the device model on the doorbell). With a gather: unmap into it, then sync it. */
static uint64_t capi_driver_strict(fastiommu_domain domain, uint64_t iova, uint64_t pa, uint64_t iterations)
{
    uint64_t sum = 0, unmapped = 0;
    for (uint64_t it = 0; it < iterations; it++) {
        if (fastiommu_domain_map(domain, iova, pa, 4096, FASTIOMMU_PROT_READ | FASTIOMMU_PROT_WRITE) != FASTIOMMU_OK
            || fastiommu_domain_unmap_sync(domain, iova, 4096, &unmapped) != FASTIOMMU_OK) {
            return UINT64_MAX;
        }
        sum += unmapped;
    }
    return sum;
}

static uint64_t capi_driver_gather(fastiommu_domain domain, fastiommu_unmap_gather gather, uint64_t iova, uint64_t pa,
                                   uint64_t iterations)
{
    uint64_t sum = 0, unmapped = 0;
    for (uint64_t it = 0; it < iterations; it++) {
        if (fastiommu_domain_map(domain, iova, pa, 4096, FASTIOMMU_PROT_READ | FASTIOMMU_PROT_WRITE) != FASTIOMMU_OK
            || fastiommu_domain_unmap(domain, iova, 4096, gather, &unmapped) != FASTIOMMU_OK
            || fastiommu_domain_sync(domain, gather) != FASTIOMMU_OK) {
            return UINT64_MAX;
        }
        sum += unmapped;
    }
    return sum;
}

static uint64_t capi_null(uint64_t iterations)
{
    uint64_t sum = 0;
    for (uint64_t it = 0; it < iterations; it++) sum += fastiommu_abi_version();
    return sum;
}

/* ---- realistic working set: RealisticMissBenchmarks' 16G-4K-random through the C API, one call a request and in
 * batches of 256 (translate_batch prefetches the leaf PTE of the request 4 ahead). Its own memory and device; the
 * requests random pages of 16 GiB of 4 KiB leaves (32 MiB of leaf tables: far beyond the CPU's caches). */
#define REAL_REQUESTS (1 << 20)
#define REAL_BATCH 256
static fastiommu_translate_request real_requests[REAL_REQUESTS];
static fastiommu_translate_response real_responses[REAL_BATCH];

static uint64_t real_single(fastiommu_iommu iommu, uint64_t iterations)
{
    uint64_t sum = 0;
    fastiommu_translate_response response;
    for (uint64_t it = 0; it < iterations; it++)
        for (int i = 0; i < REAL_REQUESTS; i++) {
            if (fastiommu_iommu_translate(iommu, &real_requests[i], &response) != FASTIOMMU_OK) return UINT64_MAX;
            sum += response.pa;
        }
    return sum;
}

static uint64_t real_batches(fastiommu_iommu iommu, uint64_t iterations)
{
    uint64_t sum = 0;
    for (uint64_t it = 0; it < iterations; it++)
        for (int i = 0; i < REAL_REQUESTS; i += REAL_BATCH) {
            if (fastiommu_iommu_translate_batch(iommu, &real_requests[i], real_responses, REAL_BATCH) != FASTIOMMU_OK) return UINT64_MAX;
            for (int k = 0; k < REAL_BATCH; k++) sum += real_responses[k].pa;
        }
    return sum;
}

/* ---- timing */
enum { CASE_CAPI_TRANSLATE, CASE_CAPI_BATCH, CASE_CAPI_MAP_UNMAP, CASE_CAPI_NULL, CASE_TWIN_MICRO, CASE_TWIN_IOTLB, CASE_TWIN_MISS, CASE_TWIN_MAP_UNMAP, CASE_DRIVER_STRICT, CASE_DRIVER_GATHER, CASE_REAL_SINGLE, CASE_REAL_BATCHES };
struct bench_case {
    int kind;
    fastiommu_iommu iommu;
    fastiommu_page_table table;
    fastiommu_gather gather;
    const cb_hw *hw;
    cb_hw_miss *miss; /* not const: with its caches on, a translation fills them */
    cb_ctx *ctx;
    uint64_t iova;
    fastiommu_domain domain;
    fastiommu_unmap_gather unmap_gather;
};

static uint64_t run(const struct bench_case *c, uint64_t iterations)
{
    switch (c->kind) {
    case CASE_CAPI_TRANSLATE: return capi_translate(c->iommu, iterations);
    case CASE_CAPI_BATCH: return capi_translate_batch(c->iommu, iterations);
    case CASE_CAPI_MAP_UNMAP: return capi_map_unmap(c->table, c->gather, c->iova, iterations);
    case CASE_CAPI_NULL: return capi_null(iterations);
    case CASE_TWIN_MICRO: return cb_bench_micro_hit(c->hw, iterations);
    case CASE_TWIN_IOTLB: return cb_bench_iotlb_hit(c->hw, iterations);
    case CASE_TWIN_MISS: return cb_bench_hw_miss(c->miss, iterations);
    case CASE_DRIVER_STRICT: return capi_driver_strict(c->domain, c->iova, TARGET_PA, iterations);
    case CASE_DRIVER_GATHER: return capi_driver_gather(c->domain, c->unmap_gather, c->iova, TARGET_PA, iterations);
    case CASE_REAL_SINGLE: return real_single(c->iommu, iterations);
    case CASE_REAL_BATCHES: return real_batches(c->iommu, iterations);
    default: return cb_bench_map_unmap(c->ctx, c->iova, TARGET_PA, 4096, CB_READ | CB_WRITE, iterations);
    }
}

/* ns per operation: best of the rounds; ops_per_iteration operations per iteration. */
static double measure(const char *name, const struct bench_case *c, uint64_t ops_per_iteration)
{
    uint64_t iterations = 1;
    double target = quick ? 2e6 : 2e8; /* 2 ms or 200 ms per round */
    run(c, 1);
    for (;;) { /* grow until one round takes the target time */
        double t0 = now_ns();
        run(c, iterations);
        if (now_ns() - t0 >= target / 4 || iterations >= (1ull << 40)) break;
        iterations *= 2;
    }
    iterations *= 4;
    double best = 1e300;
    for (int round = 0; round < (quick ? 2 : 7); round++) {
        double t0 = now_ns();
        uint64_t checksum = run(c, iterations);
        double elapsed = now_ns() - t0;
        if (checksum == UINT64_MAX) fail(name);
        if (elapsed < best) best = elapsed;
    }
    double per_op = best / (double)(iterations * ops_per_iteration);
    printf("  %-58s %8.2f ns\n", name, per_op);
    return per_op;
}

static void realistic(void)
{
    const uint64_t base = 0x100000000ull, iova = 0x1000000000ull, pa = 0x4000000000ull + 4096; /* 4 KiB leaves */
    const uint64_t bytes = quick ? (256ull << 20) : (16ull << 30), pages = bytes >> 12;
    const uint64_t memory_size = (bytes >> 12) * 8 + (16ull << 20);
    fastiommu_memory memory;
    fastiommu_allocator allocator;
    fastiommu_page_table table;
    fastiommu_iommu iommu;
    uint64_t root = 0;
    TRY(fastiommu_memory_create(memory_size, base, &memory));
    TRY(fastiommu_allocator_create(memory, base + 0x100000, memory_size - 0x100000, &allocator));
    TRY(fastiommu_page_table_create(allocator, FASTIOMMU_MODE_SV39, 0, &table));
    TRY(fastiommu_page_table_map(table, iova, pa, bytes, FASTIOMMU_PROT_READ | FASTIOMMU_PROT_WRITE | FASTIOMMU_PROT_USER, 0));
    TRY(fastiommu_page_table_root(table, &root));
    struct riscv_iommu_device_context dc = {
        .tc = 1ull << RISCV_IOMMU_DEVICE_CONTEXT_TC_V_BIT,
        .ta = 1ull << RISCV_IOMMU_DEVICE_CONTEXT_TA_PSCID_SHIFT,
        .fsc = ((uint64_t)RISCV_IOMMU_IOSATP_MODE_SV39 << RISCV_IOMMU_IOSATP_MODE_SHIFT) | (root >> 12),
    };
    TRY(fastiommu_memory_write(memory, base + 1 * sizeof dc, &dc, sizeof dc));
    fastiommu_iommu_config config = { .struct_size = sizeof config, .capabilities = CAPS };
    TRY(fastiommu_iommu_create(memory, &config, &iommu));
    TRY(fastiommu_iommu_write64(iommu, RISCV_IOMMU_REG_DDTP,
                                ((uint64_t)RISCV_IOMMU_DDTP_MODE_ONE_LEVEL << RISCV_IOMMU_DDTP_IOMMU_MODE_SHIFT)
                                    | ((base >> 12) << RISCV_IOMMU_DDTP_PPN_SHIFT)));
    uint64_t state = 15;
    for (int i = 0; i < REAL_REQUESTS; i++) {
        state = state * 6364136223846793005ull + 1442695040888963407ull;
        real_requests[i] = (fastiommu_translate_request){ .iova = iova + (((state >> 20) % pages) << 12) + 0x40, .device_id = 1,
                                                          .access = FASTIOMMU_ACCESS_READ };
    }
    if (real_single(iommu, 1) != real_batches(iommu, 1)) fail("realistic: single calls and batches disagree");
    struct bench_case single = { .kind = CASE_REAL_SINGLE, .iommu = iommu }, batches = { .kind = CASE_REAL_BATCHES, .iommu = iommu };
    measure(quick ? "translate, 256M-4K-random, one call each: C API" : "translate, 16G-4K-random, one call each: C API", &single, REAL_REQUESTS);
    measure(quick ? "translate, 256M-4K-random, batches of 256: C API" : "translate, 16G-4K-random, batches of 256: C API", &batches, REAL_REQUESTS);
    TRY(fastiommu_iommu_destroy(iommu));
    TRY(fastiommu_page_table_destroy(table));
    TRY(fastiommu_allocator_destroy(allocator));
    TRY(fastiommu_memory_destroy(memory));
}

int main(int argc, char **argv)
{
    quick = argc > 1 && strcmp(argv[1], "--quick") == 0;
    uint8_t *ram = aligned_alloc(4096, MEMORY_SIZE);
    memset(ram, 0, MEMORY_SIZE);
    fastiommu_memory memory;
    fastiommu_allocator allocator;
    fastiommu_page_table sv39, sv48;
    fastiommu_gather gather;
    TRY(fastiommu_memory_wrap(ram, MEMORY_SIZE, MEMORY_BASE, &memory));
    TRY(fastiommu_allocator_create(memory, MEMORY_BASE + 0x100000, MEMORY_SIZE - 0x100000, &allocator));
    TRY(fastiommu_page_table_create(allocator, FASTIOMMU_MODE_SV39, 0, &sv39));
    TRY(fastiommu_page_table_create(allocator, FASTIOMMU_MODE_SV48, 0, &sv48));
    TRY(fastiommu_gather_create(&gather));

    /* HardwareBenchmarks' setup: 1024 pages at IOVA 0x4000_0000 -> 0x40_0000_0000, R|W|U; device 1 Sv39 PSCID 1;
     * requests in a fixed random page order, read, at page offset 0x10. */
    for (int i = 0; i < PAGES; i++) {
        TRY(fastiommu_page_table_map(sv39, IOVA_BASE + ((uint64_t)i << 12), TARGET_PA + ((uint64_t)i << 12), 4096,
                                     FASTIOMMU_PROT_READ | FASTIOMMU_PROT_WRITE | FASTIOMMU_PROT_USER, 0));
    }
    uint64_t root = 0;
    TRY(fastiommu_page_table_root(sv39, &root));
    struct riscv_iommu_device_context dc = {
        .tc = 1ull << RISCV_IOMMU_DEVICE_CONTEXT_TC_V_BIT,
        .iohgatp = 0,
        .ta = 1ull << RISCV_IOMMU_DEVICE_CONTEXT_TA_PSCID_SHIFT,
        .fsc = ((uint64_t)RISCV_IOMMU_IOSATP_MODE_SV39 << RISCV_IOMMU_IOSATP_MODE_SHIFT) | (root >> 12),
    };
    TRY(fastiommu_memory_write(memory, DDT + 1 * sizeof dc, &dc, sizeof dc));
    uint64_t state = 7;
    for (int i = 0; i < PAGES; i++) {
        state = state * 6364136223846793005ull + 1442695040888963407ull;
        indices[i] = (uint32_t)(state >> 33) % PAGES;
        requests[i] = (fastiommu_translate_request){ .iova = IOVA_BASE + ((uint64_t)indices[i] << 12) + 0x10, .device_id = 1,
                                                     .access = FASTIOMMU_ACCESS_READ };
    }
    const uint64_t ddtp = ((uint64_t)RISCV_IOMMU_DDTP_MODE_ONE_LEVEL << RISCV_IOMMU_DDTP_IOMMU_MODE_SHIFT)
                          | ((DDT >> 12) << RISCV_IOMMU_DDTP_PPN_SHIFT);

    /* Three devices over the same memory: default caches (micro-TLB hit), micro-TLB off (second-level hit),
     * IOTLB off with the DC cached (every request walks 3 levels). */
    fastiommu_iommu micro, second, miss;
    fastiommu_iommu_config config = { .struct_size = sizeof config, .capabilities = CAPS };
    TRY(fastiommu_iommu_create(memory, &config, &micro));
    config.flags = FASTIOMMU_IOMMU_UNCACHED;
    config.iotlb_entries = 4096;
    config.device_context_entries = 256;
    config.process_context_entries = 256;
    TRY(fastiommu_iommu_create(memory, &config, &second));
    config.iotlb_entries = 0;
    TRY(fastiommu_iommu_create(memory, &config, &miss));
    TRY(fastiommu_iommu_write64(micro, RISCV_IOMMU_REG_DDTP, ddtp));
    TRY(fastiommu_iommu_write64(second, RISCV_IOMMU_REG_DDTP, ddtp));
    TRY(fastiommu_iommu_write64(miss, RISCV_IOMMU_REG_DDTP, ddtp));

    /* The twins: the IOTLB-hit twin with the same pages and order, the miss twin over the same memory and DC. */
    cb_hw *hw = cb_hw_create(IOVA_BASE, TARGET_PA, indices, PAGES);
    cb_hw_miss *hw_miss = cb_hw_miss_create(ram, MEMORY_BASE, MEMORY_SIZE, ddtp, CAPS, 256);
    if (!hw || !hw_miss || cb_hw_miss_put_dc(hw_miss, 1, dc.tc, dc.iohgatp, dc.ta, dc.fsc) != 0) fail("C twins");
    cb_hw_miss_request twin_requests[PAGES];
    memset(twin_requests, 0, sizeof twin_requests);
    for (int i = 0; i < PAGES; i++) {
        twin_requests[i].device_id = 1;
        twin_requests[i].iova = requests[i].iova;
    }
    if (cb_hw_miss_layout(0) != sizeof(cb_hw_miss_request) || cb_hw_miss_set_requests(hw_miss, twin_requests, PAGES) != 0) {
        fail("miss twin requests");
    }

    /* PageTableMapUnmapBenchmarks' 4 KiB case: Sv48, IOVA 64 GiB, the neighbour page mapped so the tables stay. */
    const uint64_t map_iova = 64ull << 30;
    cb_ctx *ctx = cb_create(CB_SV48, MEMORY_SIZE, MEMORY_BASE);
    if (!ctx || cb_map(ctx, map_iova + 4096, TARGET_PA, 4096, CB_READ | CB_WRITE, 0) != CB_OK) fail("C map twin");
    TRY(fastiommu_page_table_map(sv48, map_iova + 4096, TARGET_PA, 4096, FASTIOMMU_PROT_READ | FASTIOMMU_PROT_WRITE, 0));

    /* DriverBenchmarks' setup: the driver brings a fourth device up (its queues and DDT from the same allocator);
     * one group of 1 device and one of 10 share nothing; each has an Sv39 domain with the neighbour page mapped. */
    fastiommu_iommu driven;
    fastiommu_driver driver;
    fastiommu_instance instance;
    fastiommu_unmap_gather unmap_gather;
    fastiommu_group groups[2];
    fastiommu_domain domains[2];
    fastiommu_device devices[11];
    config = (fastiommu_iommu_config){ .struct_size = sizeof config, .capabilities = CAPS };
    TRY(fastiommu_iommu_create(memory, &config, &driven));
    TRY(fastiommu_driver_create(allocator, &driver));
    TRY(fastiommu_instance_create_device(driver, driven, NULL, &instance));
    TRY(fastiommu_unmap_gather_create(driver, &unmap_gather));
    for (int g = 0, d = 0; g < 2; g++) {
        TRY(fastiommu_group_create(driver, NULL, &groups[g]));
        for (int i = 0; i < (g == 0 ? 1 : 10); i++, d++) {
            TRY(fastiommu_device_add(instance, 0x100 + (uint32_t)d, groups[g], 0, 0, &devices[d]));
        }
        TRY(fastiommu_domain_create(driver, FASTIOMMU_DOMAIN_PAGING, FASTIOMMU_MODE_SV39, &domains[g]));
        TRY(fastiommu_attach(groups[g], domains[g]));
        TRY(fastiommu_domain_map(domains[g], IOVA_BASE + 0x1000, TARGET_PA + 0x1000, 4096, FASTIOMMU_PROT_READ));
    }

    struct bench_case cases[] = {
        { .kind = CASE_CAPI_TRANSLATE, .iommu = micro },
        { .kind = CASE_TWIN_MICRO, .hw = hw },
        { .kind = CASE_CAPI_TRANSLATE, .iommu = second },
        { .kind = CASE_TWIN_IOTLB, .hw = hw },
        { .kind = CASE_CAPI_TRANSLATE, .iommu = miss },
        { .kind = CASE_TWIN_MISS, .miss = hw_miss },
        { .kind = CASE_CAPI_MAP_UNMAP, .table = sv48, .gather = gather, .iova = map_iova },
        { .kind = CASE_TWIN_MAP_UNMAP, .ctx = ctx, .iova = map_iova },
        { .kind = CASE_CAPI_NULL },
        { .kind = CASE_CAPI_BATCH, .iommu = micro },
        { .kind = CASE_DRIVER_STRICT, .domain = domains[0], .iova = IOVA_BASE },
        { .kind = CASE_DRIVER_STRICT, .domain = domains[1], .iova = IOVA_BASE },
        { .kind = CASE_DRIVER_GATHER, .domain = domains[1], .unmap_gather = unmap_gather, .iova = IOVA_BASE },
    };
    for (int i = 10; i < 13; i++) {
        if (run(&cases[i], 2) != 2 * 4096) fail("the driver's map + unmap + sync");
    }
    fastiommu_counters before, after;
    TRY(fastiommu_instance_counters(instance, &before));
    run(&cases[11], 16);
    TRY(fastiommu_instance_counters(instance, &after));
    uint64_t commands = 0;
    for (int k = 0; k < 8; k++) commands += after.commands[k] - before.commands[k];
    if (commands != 2 * 16) fail("ten devices sharing a domain: one IOTINVAL and one IOFENCE.C per sync");
    if (run(&cases[9], 2) != run(&cases[1], 2)) fail("the batch translate and the twin disagree");
    /* The same work: the C API and its twin give the same checksum. */
    for (int i = 0; i < 8; i += 2) {
        uint64_t a = run(&cases[i], 2), b = run(&cases[i + 1], 2);
        if (a != b || a == UINT64_MAX) {
            fprintf(stderr, "case %d: C API checksum 0x%" PRIx64 " != twin 0x%" PRIx64 "\n", i / 2, a, b);
            fail("the C API and its twin disagree");
        }
    }

    printf("fastiommu_bench%s: ns per operation (best of the rounds)\n", quick ? " --quick (smoke run, figures meaningless)" : "");
    measure("translate, IOTLB hit (micro-TLB): C API", &cases[0], PAGES);
    measure("translate, IOTLB hit (micro-TLB): C API, batches of 1024", &cases[9], PAGES);
    measure("translate, IOTLB hit (micro-TLB): C twin", &cases[1], PAGES);
    measure("translate, IOTLB hit (second level, micro-TLB off): C API", &cases[2], PAGES);
    measure("translate, IOTLB hit (second level, micro-TLB off): C twin", &cases[3], PAGES);
    measure("translate, IOTLB miss (3-level Sv39 walk, DC cached): C API", &cases[4], PAGES);
    measure("translate, IOTLB miss (3-level Sv39 walk, DC cached): C twin", &cases[5], PAGES);
    measure("map + unmap + gather complete, 4 KiB (Sv48): C API", &cases[6], 1);
    measure("map + unmap + gather complete, 4 KiB (Sv48): C twin", &cases[7], 1);
    measure("driver: map 4K + unmap_sync, 1 device: C API", &cases[10], 1);
    measure("driver: map 4K + unmap_sync, 10 devices sharing the domain: C API", &cases[11], 1);
    measure("driver: map 4K + unmap + sync (gather), 10 devices: C API", &cases[12], 1);
    measure("empty export call (fastiommu_abi_version)", &cases[8], 1);
    realistic();

    for (int g = 0; g < 2; g++) {
        TRY(fastiommu_detach(groups[g]));
        TRY(fastiommu_domain_destroy(domains[g]));
    }
    for (int d = 0; d < 11; d++) TRY(fastiommu_device_release(devices[d]));
    for (int g = 0; g < 2; g++) TRY(fastiommu_group_destroy(groups[g]));
    TRY(fastiommu_unmap_gather_destroy(unmap_gather));
    TRY(fastiommu_instance_destroy(instance));
    TRY(fastiommu_driver_destroy(driver));
    TRY(fastiommu_iommu_destroy(driven));

    cb_destroy(ctx);
    cb_hw_miss_destroy(hw_miss);
    cb_hw_destroy(hw);
    TRY(fastiommu_iommu_destroy(miss));
    TRY(fastiommu_iommu_destroy(second));
    TRY(fastiommu_iommu_destroy(micro));
    TRY(fastiommu_gather_destroy(gather));
    TRY(fastiommu_page_table_destroy(sv48));
    TRY(fastiommu_page_table_destroy(sv39));
    TRY(fastiommu_allocator_destroy(allocator));
    TRY(fastiommu_memory_destroy(memory));
    free(ram);
    return 0;
}
