/* Benchmark entry points of the C baseline: every loop runs in C, so the C# side times one call per invocation. */
#include "cbaseline_internal.h"

#include <pthread.h>

#define CB_FAIL UINT64_MAX

uint64_t cb_bench_map_unmap(cb_ctx *ctx, uint64_t iova, uint64_t pa, uint64_t size, uint32_t prot,
                            uint64_t iterations)
{
    uint64_t sum = 0;
    for (uint64_t i = 0; i < iterations; i++) {
        if (cb_pt_map(&ctx->pt, iova, pa, size, prot, 0) != CB_OK)
            return CB_FAIL;
        sum += cb_pt_unmap(&ctx->pt, iova, size, &ctx->gather);
        cb_gather_complete_on(&ctx->alloc, &ctx->gather);
    }
    return sum;
}

/* Map alone: one 4 KiB map call per page, pages 0 .. pages_per_slot - 1 of each of `slots` 2 MiB slots in order. */
uint64_t cb_bench_map_each(cb_ctx *ctx, uint64_t iova, uint64_t pa, uint64_t slots, uint64_t pages_per_slot)
{
    uint64_t mapped = 0;
    for (uint64_t s = 0; s < slots; s++) {
        for (uint64_t p = 0; p < pages_per_slot; p++) {
            uint64_t off = (s << 21) + (p << CB_PAGE_SHIFT);
            if (cb_pt_map(&ctx->pt, iova + off, pa + off, CB_PAGE_SIZE, CB_READ | CB_WRITE, 0) != CB_OK)
                return CB_FAIL;
            mapped += CB_PAGE_SIZE;
        }
    }
    return mapped;
}

/* Unmap alone: the pages cb_bench_map_each mapped, one 4 KiB unmap call + gather completion per page, in order. */
uint64_t cb_bench_unmap_each(cb_ctx *ctx, uint64_t iova, uint64_t slots, uint64_t pages_per_slot)
{
    uint64_t sum = 0;
    for (uint64_t s = 0; s < slots; s++) {
        for (uint64_t p = 0; p < pages_per_slot; p++) {
            sum += cb_pt_unmap(&ctx->pt, iova + (s << 21) + (p << CB_PAGE_SHIFT), CB_PAGE_SIZE, &ctx->gather);
            cb_gather_complete_on(&ctx->alloc, &ctx->gather);
        }
    }
    return sum;
}

static uint64_t populate_teardown(const cb_pt *pt, cb_gather *g, uint64_t iova, uint64_t pa, uint64_t bytes,
                                  uint64_t page_size)
{
    for (uint64_t off = 0; off < bytes; off += page_size) {
        if (cb_pt_map(pt, iova + off, pa + off, page_size, CB_READ | CB_WRITE, 0) != CB_OK)
            return CB_FAIL;
    }
    uint64_t unmapped = cb_pt_unmap(pt, iova, bytes, g);
    cb_gather_complete_on(pt->alloc, g);
    return unmapped;
}

uint64_t cb_bench_populate_teardown(cb_ctx *ctx, uint64_t iova, uint64_t pa, uint64_t bytes, uint64_t page_size,
                                    uint64_t iterations)
{
    uint64_t sum = 0;
    for (uint64_t i = 0; i < iterations; i++) {
        uint64_t unmapped = populate_teardown(&ctx->pt, &ctx->gather, iova, pa, bytes, page_size);
        if (unmapped == CB_FAIL)
            return CB_FAIL;
        sum += unmapped;
    }
    return sum;
}

uint64_t cb_bench_translate_sequential(const cb_ctx *ctx, uint64_t iova, uint64_t pages, uint64_t iterations)
{
    return cb_pt_translate_sum(&ctx->pt, 0, iova, NULL, pages, iterations);
}

uint64_t cb_bench_translate_indexed(const cb_ctx *ctx, uint64_t iova, const uint32_t *indices, uint64_t count,
                                    uint64_t iterations)
{
    return cb_pt_translate_sum(&ctx->pt, 0, iova, indices, count, iterations);
}

uint64_t cb_bench_translate_plain(const cb_ctx *ctx, uint64_t iova, const uint32_t *indices, uint64_t count,
                                  uint64_t iterations)
{
    return cb_pt_translate_sum(&ctx->pt, 1, iova, indices, count, iterations);
}

typedef struct worker {
    const cb_pt *pt;
    pthread_barrier_t *start;
    uint64_t iova, stride, pa, bytes, iterations;
    int ranges;
    uint64_t result;
} worker;

static void *worker_run(void *arg)
{
    worker *w = arg;
    cb_gather g; /* each thread has its own gather, as each unmapping caller does */
    cb_gather_init(&g);
    pthread_barrier_wait(w->start);
    uint64_t sum = 0;
    for (uint64_t it = 0; it < w->iterations && sum != CB_FAIL; it++) {
        for (int r = 0; r < w->ranges; r++) {
            uint64_t unmapped = populate_teardown(w->pt, &g, w->iova + (uint64_t)r * w->stride, w->pa, w->bytes,
                                                  CB_PAGE_SIZE);
            if (unmapped == CB_FAIL) {
                sum = CB_FAIL;
                break;
            }
            sum += unmapped;
        }
    }
    cb_gather_fini(&g);
    w->result = sum;
    return NULL;
}

uint64_t cb_bench_populate_parallel(cb_ctx *ctx, uint64_t iova, uint64_t stride, uint64_t pa, uint64_t bytes,
                                    int ranges, int threads, uint64_t iterations)
{
    enum { MAX_THREADS = 8 };
    if (threads < 1 || threads > MAX_THREADS || ranges < 1 || (threads > 1 && threads != ranges))
        return CB_FAIL;
    worker workers[MAX_THREADS];
    pthread_t ids[MAX_THREADS];
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, (unsigned)threads);
    for (int t = 0; t < threads; t++) {
        workers[t] = (worker){ .pt = &ctx->pt, .start = &start, .iova = iova + (uint64_t)t * stride,
                               .stride = stride, .pa = pa, .bytes = bytes, .iterations = iterations,
                               .ranges = threads == 1 ? ranges : 1 };
    }
    /* Thread 0 is the caller, so the one-thread case creates no thread at all. */
    for (int t = 1; t < threads; t++)
        pthread_create(&ids[t], NULL, worker_run, &workers[t]);
    worker_run(&workers[0]);
    uint64_t sum = workers[0].result;
    for (int t = 1; t < threads; t++) {
        pthread_join(ids[t], NULL);
        sum = (sum == CB_FAIL || workers[t].result == CB_FAIL) ? CB_FAIL : sum + workers[t].result;
    }
    pthread_barrier_destroy(&start);
    return sum;
}
