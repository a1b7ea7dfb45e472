/* The C baseline engine: arena, page allocator, page-table map / unmap / translate. See cbaseline.h. */
#include "cbaseline_internal.h"

#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- page allocator */

int cb_alloc_init(cb_alloc *a, uint64_t bytes, uint64_t base_pa)
{
    if (bytes == 0 || (bytes & CB_PAGE_MASK) || (base_pa & CB_PAGE_MASK) || bytes / CB_PAGE_SIZE >= UINT32_MAX)
        return 0;
    a->host = aligned_alloc(CB_PAGE_SIZE, bytes);
    if (!a->host)
        return 0;
    memset(a->host, 0, bytes);
    a->base_pa = base_pa;
    a->size = bytes;
    a->page_count = (uint32_t)(bytes / CB_PAGE_SIZE);
    a->free_head = 0;
    a->bump = 0;
    a->in_use = 0;
    return 1;
}

void cb_alloc_fini(cb_alloc *a)
{
    free(a->host);
    a->host = NULL;
}

static inline uint64_t page_pa(const cb_alloc *a, uint32_t index)
{
    return a->base_pa + ((uint64_t)index << CB_PAGE_SHIFT);
}

static void free_list_push(cb_alloc *a, uint32_t index)
{
    uint64_t *link = cb_qword(a, page_pa(a, index));
    uint64_t head = __atomic_load_n(&a->free_head, __ATOMIC_ACQUIRE);
    uint64_t next;
    do {
        /* The freed page is private until popped again: a plain store is fine. */
        *link = (uint32_t)head;
        next = (((head >> 32) + 1) << 32) | (index + 1u);
    } while (!__atomic_compare_exchange_n(&a->free_head, &head, next, 1, __ATOMIC_RELEASE, __ATOMIC_ACQUIRE));
}

static int free_list_pop(cb_alloc *a, uint32_t *index)
{
    uint64_t head = __atomic_load_n(&a->free_head, __ATOMIC_ACQUIRE);
    for (;;) {
        uint32_t top = (uint32_t)head;
        if (top == 0)
            return 0;
        /* A racing pop may reuse the page and scribble on the link; the tag then moved and the CAS fails. */
        uint32_t link = (uint32_t)__atomic_load_n(cb_qword(a, page_pa(a, top - 1)), __ATOMIC_RELAXED);
        uint64_t next = (((head >> 32) + 1) << 32) | link;
        if (__atomic_compare_exchange_n(&a->free_head, &head, next, 1, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
            *index = top - 1;
            return 1;
        }
    }
}

/* Takes `pages` never-used pages at a physical address aligned to `align` pages; skipped pages go to the free list. */
static int bump_take(cb_alloc *a, uint32_t pages, uint32_t align, uint32_t *index)
{
    uint32_t current = __atomic_load_n(&a->bump, __ATOMIC_RELAXED);
    for (;;) {
        uint64_t first_pfn = (a->base_pa >> CB_PAGE_SHIFT) + current;
        uint64_t aligned_pfn = (first_pfn + align - 1) & ~((uint64_t)align - 1);
        uint64_t start = current + (aligned_pfn - first_pfn);
        if (start + pages > a->page_count)
            return 0;
        if (__atomic_compare_exchange_n(&a->bump, &current, (uint32_t)(start + pages), 1, __ATOMIC_RELAXED,
                                        __ATOMIC_RELAXED)) {
            for (uint32_t skipped = current; skipped < start; skipped++)
                free_list_push(a, skipped);
            *index = (uint32_t)start;
            return 1;
        }
    }
}

int cb_alloc_page(cb_alloc *a, uint64_t *pa)
{
    uint32_t index;
    if (!free_list_pop(a, &index) && !bump_take(a, 1, 1, &index))
        return 0;
    __atomic_fetch_add(&a->in_use, 1, __ATOMIC_RELAXED);
    *pa = page_pa(a, index);
    /* Private until published by a CAS: plain zeroing. */
    memset(cb_qword(a, *pa), 0, CB_PAGE_SIZE);
    return 1;
}

int cb_alloc_block(cb_alloc *a, uint64_t *pa)
{
    uint32_t index;
    if (!bump_take(a, 4, 4, &index))
        return 0;
    __atomic_fetch_add(&a->in_use, 4, __ATOMIC_RELAXED);
    *pa = page_pa(a, index);
    memset(cb_qword(a, *pa), 0, 4 * CB_PAGE_SIZE);
    return 1;
}

void cb_free_page(cb_alloc *a, uint64_t pa)
{
    free_list_push(a, (uint32_t)((pa - a->base_pa) >> CB_PAGE_SHIFT));
    __atomic_fetch_sub(&a->in_use, 1, __ATOMIC_RELAXED);
}

/* ---------------------------------------------------------------- gather */

void cb_gather_init(cb_gather *g)
{
    memset(g, 0, sizeof *g);
}

void cb_gather_fini(cb_gather *g)
{
    free(g->pages);
    free(g->ranges);
    memset(g, 0, sizeof *g);
}

static void *grow(void *array, size_t *capacity, size_t element)
{
    size_t n = *capacity ? *capacity * 2 : 8;
    void *p = realloc(array, n * element);
    if (!p)
        abort(); /* host out of memory: nothing sensible left to do in a benchmark baseline */
    *capacity = n;
    return p;
}

/* Leaves are cleared in increasing IOVA order within an unmap, so adjacent ranges merge into the last one. */
static inline void gather_add_range(cb_gather *g, uint64_t iova, uint64_t size)
{
    if (g->range_count && g->ranges[g->range_count - 1].start + g->ranges[g->range_count - 1].size == iova) {
        g->ranges[g->range_count - 1].size += size;
        return;
    }
    if (g->range_count == g->range_capacity)
        g->ranges = grow(g->ranges, &g->range_capacity, sizeof *g->ranges);
    g->ranges[g->range_count++] = (cb_range){ iova, size };
}

static void gather_add_page(cb_gather *g, uint64_t pa)
{
    if (g->count == g->capacity)
        g->pages = grow(g->pages, &g->capacity, sizeof *g->pages);
    g->pages[g->count++] = pa;
}

void cb_gather_complete_on(cb_alloc *a, cb_gather *g)
{
    for (size_t i = 0; i < g->count; i++)
        cb_free_page(a, g->pages[i]);
    g->count = 0;
    g->range_count = 0;
}

/* ---------------------------------------------------------------- page table */

int cb_pt_init(cb_pt *pt, cb_alloc *a, int mode)
{
    if (mode < CB_SV39 || mode > CB_SV57X4)
        return 0;
    pt->alloc = a;
    pt->mode = mode;
    pt->levels = 3 + mode % 3;
    pt->gstage = mode >= CB_SV39X4;
    pt->addr_bits = 12 + 9 * pt->levels + (pt->gstage ? 2 : 0);
    return pt->gstage ? cb_alloc_block(a, &pt->root_pa) : cb_alloc_page(a, &pt->root_pa);
}

static inline unsigned level_shift(int level)
{
    return 12u + 9u * (unsigned)level;
}

static inline unsigned pt_index(uint64_t iova, int level, int levels, int gstage)
{
    unsigned mask = (level == levels - 1 && gstage) ? 2047u : 511u;
    return (unsigned)(iova >> level_shift(level)) & mask;
}

static inline unsigned table_entries(int level, int levels, int gstage)
{
    return (level == levels - 1 && gstage) ? 2048u : 512u;
}

static inline uint64_t pte_pa(uint64_t pte)
{
    return (pte & CB_PTE_PPN_MASK) >> CB_PTE_PPN_SHIFT << CB_PAGE_SHIFT;
}

static inline int pte_is_leaf(uint64_t pte)
{
    return (pte & (CB_PTE_R | CB_PTE_W | CB_PTE_X)) != 0;
}

static inline uint64_t make_table_pte(uint64_t table_pa)
{
    return CB_PTE_V | ((table_pa >> CB_PAGE_SHIFT) << CB_PTE_PPN_SHIFT);
}

/* [iova, iova + size) is non-empty, canonical as a whole (one half of a first-stage space) and does not wrap. */
static inline int range_ok(uint64_t iova, uint64_t size, int addr_bits, int gstage)
{
    uint64_t last = iova + size - 1;
    if (size == 0 || last < iova)
        return 0;
    if (gstage)
        return (last >> addr_bits) == 0;
    int64_t hi = (int64_t)iova >> (addr_bits - 1);
    int64_t hl = (int64_t)last >> (addr_bits - 1);
    return (hi == 0 || hi == -1) && hi == hl;
}

/* One map walk over one table. *iova, *pa and *remaining advance as pages are mapped. The table covers at
 * most its own span, so the loop stops at the last entry even if *remaining is not zero yet. */
static int map_table(cb_alloc *a, uint64_t table_pa, int level, int levels, int gstage, uint64_t *iova,
                               uint64_t *pa, uint64_t *remaining, uint64_t leaf_bits)
{
    uint64_t *table = cb_qword(a, table_pa);
    const unsigned shift = level_shift(level);
    const uint64_t size = 1ull << shift;
    const unsigned entries = table_entries(level, levels, gstage);
    for (unsigned idx = pt_index(*iova, level, levels, gstage); *remaining != 0 && idx < entries; idx++) {
        uint64_t *slot = &table[idx];
        uint64_t old = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
        const int leaf_fits = level <= 2 && ((*iova | *pa) & (size - 1)) == 0 && *remaining >= size;
        int installed = 0;
        for (;;) {
            if (old == 0 && leaf_fits) {
                uint64_t leaf = leaf_bits | ((*pa >> CB_PAGE_SHIFT) << CB_PTE_PPN_SHIFT);
                if (__atomic_compare_exchange_n(slot, &old, leaf, 0, __ATOMIC_RELEASE, __ATOMIC_ACQUIRE)) {
                    installed = 1;
                    break;
                }
                continue; /* someone changed the slot: decide again on what is there now */
            }
            if (old == 0) {
                uint64_t new_pa;
                if (!cb_alloc_page(a, &new_pa))
                    return CB_ENOMEM;
                uint64_t tpte = make_table_pte(new_pa);
                if (__atomic_compare_exchange_n(slot, &old, tpte, 0, __ATOMIC_RELEASE, __ATOMIC_ACQUIRE)) {
                    old = tpte;
                } else {
                    cb_free_page(a, new_pa); /* lost the race: use the winner's table (or see its leaf) */
                    continue;
                }
            }
            /* A leaf, or a table where a superpage would go, is an overlap (the C# engine's rule too). */
            if (pte_is_leaf(old) || level == 0 || leaf_fits)
                return CB_EEXIST;
            break;
        }
        if (installed) {
            *iova += size;
            *pa += size;
            *remaining -= size;
            continue;
        }
        int rc = map_table(a, pte_pa(old), level - 1, levels, gstage, iova, pa, remaining, leaf_bits);
        if (rc != CB_OK)
            return rc;
    }
    return CB_OK;
}

static uint64_t unmap_table(cb_alloc *a, uint64_t table_pa, int level, int levels, int gstage,
                                      uint64_t *iova, uint64_t *remaining, cb_gather *g, int collect, int *stop)
{
    uint64_t *table = cb_qword(a, table_pa);
    const unsigned shift = level_shift(level);
    const uint64_t size = 1ull << shift;
    const unsigned entries = table_entries(level, levels, gstage);
    uint64_t unmapped = 0;
    for (unsigned idx = pt_index(*iova, level, levels, gstage); *remaining != 0 && idx < entries; idx++) {
        uint64_t *slot = &table[idx];
        uint64_t old = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
        const uint64_t offset = *iova & (size - 1);
        const uint64_t step = *remaining < size - offset ? *remaining : size - offset;
        const int covers = offset == 0 && *remaining >= size;
        if (old == 0) {
            /* hole: nothing to do */
        } else if (pte_is_leaf(old)) {
            if (!covers) {
                *stop = 1; /* a leaf only partly inside the range is not split */
                return unmapped;
            }
            if (__atomic_exchange_n(slot, 0, __ATOMIC_ACQ_REL) != 0) {
                unmapped += size;
                if (g)
                    gather_add_range(g, *iova, size);
            }
        } else {
            uint64_t child_iova = *iova, child_remaining = step;
            unmapped += unmap_table(a, pte_pa(old), level - 1, levels, gstage, &child_iova, &child_remaining, g,
                                    collect, stop);
            if (*stop)
                return unmapped;
            /* The range covered the whole span: the table is empty and, as the caller owns the span, stays so. */
            if (covers && collect && __atomic_compare_exchange_n(slot, &old, 0, 0, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
                gather_add_page(g, pte_pa(old));
        }
        *iova += step;
        *remaining -= step;
    }
    return unmapped;
}

static CB_INLINE uint64_t pt_unmap_impl(const cb_pt *pt, int levels, int gstage, uint64_t iova, uint64_t size,
                                        cb_gather *g, int collect)
{
    if (!range_ok(iova, size, pt->addr_bits, gstage) || ((iova | size) & CB_PAGE_MASK))
        return 0;
    int stop = 0;
    return unmap_table(pt->alloc, pt->root_pa, levels - 1, levels, gstage, &iova, &size, g, collect, &stop);
}

static CB_INLINE int pt_map_impl(const cb_pt *pt, int levels, int gstage, uint64_t iova, uint64_t pa, uint64_t size,
                                 uint32_t prot, uint32_t pbmt)
{
    if (((iova | pa | size) & CB_PAGE_MASK) || !range_ok(iova, size, pt->addr_bits, gstage) || pbmt > 2
        || ((pa + size - 1) >> 56) != 0 || pa + size - 1 < pa)
        return CB_EINVAL;
    /* A leaf needs R or X; W without R is a reserved encoding. */
    if ((prot & ~31u) || !(prot & (CB_READ | CB_EXECUTE)) || ((prot & CB_WRITE) && !(prot & CB_READ)))
        return CB_EINVAL;
    uint64_t leaf_bits = CB_PTE_V | CB_PTE_A | CB_PTE_D | ((uint64_t)prot << 1) | ((uint64_t)pbmt << CB_PTE_PBMT_SHIFT);
    if (gstage && (prot & CB_GLOBAL))
        return CB_EINVAL; /* G is meaningless in a G-stage */
    if (gstage)
        leaf_bits |= CB_PTE_U; /* G-stage leaves must have U=1 (all G-stage accesses are user accesses) */
    uint64_t cur_iova = iova, cur_pa = pa, remaining = size;
    int rc = map_table(pt->alloc, pt->root_pa, levels - 1, levels, gstage, &cur_iova, &cur_pa, &remaining, leaf_bits);
    if (rc != CB_OK && cur_iova != iova)
        pt_unmap_impl(pt, levels, gstage, iova, cur_iova - iova, NULL, 0); /* undo our own leaves */
    return rc;
}

static CB_INLINE int pt_walk_impl(const cb_pt *pt, int levels, int gstage, uint64_t iova, uint64_t *pte_out,
                                  int *level_out)
{
    if (!range_ok(iova, 1, pt->addr_bits, gstage))
        return 0;
    uint64_t table_pa = pt->root_pa;
    for (int level = levels - 1; level >= 0; level--) {
        uint64_t pte = __atomic_load_n(cb_qword(pt->alloc, table_pa) + pt_index(iova, level, levels, gstage),
                                       __ATOMIC_ACQUIRE);
        if (!(pte & CB_PTE_V))
            return 0;
        if (pte_is_leaf(pte)) {
            *pte_out = pte;
            *level_out = level;
            return 1;
        }
        table_pa = pte_pa(pte);
    }
    return 0;
}

static CB_INLINE int pt_translate_impl(const cb_pt *pt, int levels, int gstage, uint64_t iova, uint64_t *pa)
{
    uint64_t pte;
    int level;
    if (!pt_walk_impl(pt, levels, gstage, iova, &pte, &level))
        return 0;
    uint64_t mask = (1ull << level_shift(level)) - 1;
    *pa = (pte_pa(pte) & ~mask) | (iova & mask);
    return 1;
}

/* One copy of each operation per mode, so levels and the root width are constants in it. */
#define CB_DISPATCH(pt, call)                                                                                          \
    switch ((pt)->mode) {                                                                                              \
    case CB_SV39: return call(3, 0);                                                                                   \
    case CB_SV48: return call(4, 0);                                                                                   \
    case CB_SV57: return call(5, 0);                                                                                   \
    case CB_SV39X4: return call(3, 1);                                                                                 \
    case CB_SV48X4: return call(4, 1);                                                                                 \
    default: return call(5, 1);                                                                                        \
    }

int cb_pt_map(const cb_pt *pt, uint64_t iova, uint64_t pa, uint64_t size, uint32_t prot, uint32_t pbmt)
{
#define CALL(l, g) pt_map_impl(pt, l, g, iova, pa, size, prot, pbmt)
    CB_DISPATCH(pt, CALL)
#undef CALL
}

uint64_t cb_pt_unmap(const cb_pt *pt, uint64_t iova, uint64_t size, cb_gather *g)
{
#define CALL(l, gs) pt_unmap_impl(pt, l, gs, iova, size, g, 1)
    CB_DISPATCH(pt, CALL)
#undef CALL
}

int cb_pt_iova_to_phys(const cb_pt *pt, uint64_t iova, uint64_t *pa)
{
#define CALL(l, g) pt_translate_impl(pt, l, g, iova, pa)
    CB_DISPATCH(pt, CALL)
#undef CALL
}

int cb_pt_walk(const cb_pt *pt, uint64_t iova, uint64_t *pte, int *level)
{
#define CALL(l, g) pt_walk_impl(pt, l, g, iova, pte, level)
    CB_DISPATCH(pt, CALL)
#undef CALL
}

/* ---------------------------------------------------------------- public context API */

cb_ctx *cb_create(int mode, uint64_t arena_bytes, uint64_t base_pa)
{
    cb_ctx *ctx = aligned_alloc(64, sizeof(cb_ctx));
    if (!ctx)
        return NULL;
    memset(ctx, 0, sizeof *ctx);
    if (!cb_alloc_init(&ctx->alloc, arena_bytes, base_pa)) {
        free(ctx);
        return NULL;
    }
    if (!cb_pt_init(&ctx->pt, &ctx->alloc, mode)) {
        cb_alloc_fini(&ctx->alloc);
        free(ctx);
        return NULL;
    }
    cb_gather_init(&ctx->gather);
    return ctx;
}

void cb_destroy(cb_ctx *ctx)
{
    if (!ctx)
        return;
    cb_gather_fini(&ctx->gather);
    cb_alloc_fini(&ctx->alloc);
    free(ctx);
}

uint64_t cb_root_pa(const cb_ctx *ctx) { return ctx->pt.root_pa; }
int64_t cb_pages_in_use(const cb_ctx *ctx) { return __atomic_load_n(&ctx->alloc.in_use, __ATOMIC_RELAXED); }

uint64_t cb_read_qword(const cb_ctx *ctx, uint64_t pa)
{
    if (pa < ctx->alloc.base_pa || pa - ctx->alloc.base_pa > ctx->alloc.size - 8 || (pa & 7))
        return 0;
    return __atomic_load_n(cb_qword(&ctx->alloc, pa), __ATOMIC_ACQUIRE);
}

int cb_map(cb_ctx *ctx, uint64_t iova, uint64_t pa, uint64_t size, uint32_t prot, uint32_t pbmt)
{
    return cb_pt_map(&ctx->pt, iova, pa, size, prot, pbmt);
}

uint64_t cb_unmap(cb_ctx *ctx, uint64_t iova, uint64_t size) { return cb_pt_unmap(&ctx->pt, iova, size, &ctx->gather); }
void cb_gather_complete(cb_ctx *ctx) { cb_gather_complete_on(&ctx->alloc, &ctx->gather); }
int cb_iova_to_phys(const cb_ctx *ctx, uint64_t iova, uint64_t *pa) { return cb_pt_iova_to_phys(&ctx->pt, iova, pa); }
int cb_walk(const cb_ctx *ctx, uint64_t iova, uint64_t *pte, int *level) { return cb_pt_walk(&ctx->pt, iova, pte, level); }
