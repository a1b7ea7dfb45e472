/* The C baseline engine: arena, page allocator, page-table map / unmap / translate. See cbaseline.h. */
#include "cbaseline_internal.h"

#include <sched.h>
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
        /* Nobody may use the freed page until it is popped again, but a stale walker may still read it (and throw
         * what it read away when its validation fails): a relaxed atomic store keeps that read race-free. */
        __atomic_store_n(link, (uint32_t)head, __ATOMIC_RELAXED);
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
    /* Private until published by a CAS: plain zeroing. A stale walker may read it meanwhile; it discards what it read
     * because the page's generation moved (the one benign race of the design, as in the C# engine). */
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

int64_t cb_pages_in_use_of(const cb_alloc *a)
{
    return __atomic_load_n(&a->in_use, __ATOMIC_RELAXED);
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

/* ---------------------------------------------------------------- page table
 *
 * The same algorithm as the C# PageTable<TMode>, so the two do the same work:
 * - Each table page has a side word (in pt->side, indexed by page): gen:31 | dead:1 | count:32, count = valid
 *   entries + reservations. A mapper checks the entries invalid and reserves them (CAS count += n, refused when dead
 *   or the generation moved), then stores them (release); an unmapper stores 0 over its leaves and subtracts them. Whoever
 *   brings count to 0 tries CAS(count 0 -> dead, gen + 1); on success the table is empty for good, is unlinked
 *   (CAS parent entry -> 0), its parent loses an entry (which may cascade) and the page goes to the gather.
 * - Walks are optimistic: the generation of each table is read on entering it, and before acting the walk
 *   re-reads its path's entries top-down, then the generations (a seqlock-like validation), so a table that died
 *   and was reused meanwhile is never written to or translated through.
 * - Map first tries with every table present (no preflight); if a table is missing it preflights the rest (overlap,
 *   tables needed against free pages) and maps it creating tables. A failed call leaves no leaf behind.
 * - Unmap refuses, before any store, a range that would cut a superpage in part. */

/* Two entries at once: a 16-byte GCC vector is one SSE2 register, which plain -O2 on x86-64 has (a 32-byte one
 * would be emulated, slower than scalar code, without -mavx2). */
typedef uint64_t v2u64 __attribute__((vector_size(16), aligned(8)));

#define SIDE_COUNT_MASK 0xFFFFFFFFull
#define SIDE_DEAD (1ull << 32)
#define SIDE_GEN_UNIT (1ull << 33)
#define SIDE_GEN_MASK (~(SIDE_GEN_UNIT - 1))
#define NEED_TABLES 255

int cb_pt_init(cb_pt *pt, cb_alloc *a, int mode)
{
    if (mode < CB_SV39 || mode > CB_SV57X4)
        return 0;
    pt->alloc = a;
    pt->mode = mode;
    pt->levels = 3 + mode % 3;
    pt->gstage = mode >= CB_SV39X4;
    pt->addr_bits = 12 + 9 * pt->levels + (pt->gstage ? 2 : 0);
    pt->table_start = a->base_pa;
    pt->table_bytes = a->size;
    pt->side_lane = ((uint64_t)a->page_count + 7) / 8;
    pt->side = calloc(pt->side_lane * 8, sizeof(uint64_t));
    if (!pt->side)
        return 0;
    if (!(pt->gstage ? cb_alloc_block(a, &pt->root_pa) : cb_alloc_page(a, &pt->root_pa))) {
        free(pt->side);
        return 0;
    }
    return 1;
}

void cb_pt_fini(cb_pt *pt)
{
    free(pt->side);
    pt->side = NULL;
}

typedef struct path {
    uint64_t table[5], gen[5], entry[5];
    uint64_t iova;
    uint64_t deaths; /* the table-death counter when the walk started */
} path;

static CB_INLINE unsigned level_shift(int level) { return 12u + 9u * (unsigned)level; }

static CB_INLINE unsigned entries_at(int level, int levels, int gstage)
{
    return (level == levels - 1 && gstage) ? 2048u : 512u;
}

static CB_INLINE unsigned pt_index(uint64_t iova, int level, int levels, int gstage)
{
    return (unsigned)(iova >> level_shift(level)) & (entries_at(level, levels, gstage) - 1);
}

static CB_INLINE uint64_t pte_pa(uint64_t pte) { return (pte & CB_PTE_PPN_MASK) >> CB_PTE_PPN_SHIFT << CB_PAGE_SHIFT; }
static CB_INLINE int is_table_pointer(uint64_t e) { return (e & (CB_PTE_V | CB_PTE_R | CB_PTE_W | CB_PTE_X)) == CB_PTE_V; }
static CB_INLINE uint64_t *entry_ref(const cb_pt *pt, uint64_t table, unsigned index) { return cb_qword(pt->alloc, table) + index; }
/* Neighbouring pages get side words on different cache lines (8 lanes: index = (page % 8) * lane + page / 8), so two
 * threads filling tables allocated one after the other do not bounce one line with their reservation CASes. */
static CB_INLINE uint64_t *side_ref(const cb_pt *pt, uint64_t table)
{
    uint64_t page = (table - pt->table_start) >> CB_PAGE_SHIFT;
    return &pt->side[(page & 7) * pt->side_lane + (page >> 3)];
}
static CB_INLINE uint64_t load(const uint64_t *p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }

static CB_INLINE int canonical(uint64_t a, int addr_bits, int gstage)
{
    if (gstage)
        return (a >> addr_bits) == 0;
    int64_t high = (int64_t)a >> (addr_bits - 1);
    return high == 0 || high == -1;
}

/* [iova, iova + size) is inside one contiguous stretch of legal input addresses and does not wrap. */
static CB_INLINE int legal_range(uint64_t iova, uint64_t size, int addr_bits, int gstage)
{
    uint64_t last = iova + (size - 1);
    return last >= iova && canonical(iova, addr_bits, gstage) && canonical(last, addr_bits, gstage)
        && ((iova ^ last) >> 63) == 0;
}

/* Walks from the root toward `target`: the level where it stopped (the target, or a higher level whose entry is
 * invalid or a leaf), -1 when it met a dead table (retry). */
static CB_INLINE int descend(const cb_pt *pt, int levels, int gstage, uint64_t iova, int target, path *p, uint64_t *entry)
{
    const int top = levels - 1;
    uint64_t table = pt->root_pa;
    p->deaths = __atomic_load_n(&pt->deaths, __ATOMIC_ACQUIRE);
    p->iova = iova;
    p->table[top] = table;
    p->gen[top] = 0;
    for (int level = top;; level--) {
        uint64_t e = load(entry_ref(pt, table, pt_index(iova, level, levels, gstage)));
        if (level == target || !is_table_pointer(e)) {
            *entry = e;
            return level;
        }
        uint64_t next = pte_pa(e);
        if (next - pt->table_start >= pt->table_bytes) {
            *entry = e;
            return -1; /* a stale read of a reused page: walk again */
        }
        uint64_t side = load(side_ref(pt, next));
        if (side & SIDE_DEAD) {
            *entry = e;
            return -1;
        }
        p->entry[level] = e;
        p->table[level - 1] = next;
        p->gen[level - 1] = side & SIDE_GEN_MASK;
        table = next;
    }
}

/* The path down to `level` was real at one instant and its tables are still alive. */
static CB_INLINE int validate(const cb_pt *pt, int levels, int gstage, const path *p, int level)
{
    /* No table died since the walk started: every table it read was linked where it assumed. */
    if (__atomic_load_n(&pt->deaths, __ATOMIC_ACQUIRE) == p->deaths)
        return 1;
    const int top = levels - 1;
    for (int k = top; k > level; k--)
        if (load(entry_ref(pt, p->table[k], pt_index(p->iova, k, levels, gstage))) != p->entry[k])
            return 0;
    for (int k = top - 1; k >= level; k--)
        if ((load(side_ref(pt, p->table[k])) & (SIDE_GEN_MASK | SIDE_DEAD)) != p->gen[k])
            return 0;
    return 1;
}

static CB_INLINE void backoff(int *retries)
{
    if (++*retries > 10)
        sched_yield(); /* a dying table stays linked only until its killer unlinks it */
}

static CB_INLINE int try_reserve(const cb_pt *pt, uint64_t table, uint64_t gen, uint32_t n)
{
    uint64_t *side = side_ref(pt, table);
    uint64_t value = load(side);
    for (;;) {
        if ((value & (SIDE_GEN_MASK | SIDE_DEAD)) != gen)
            return 0;
        if (__atomic_compare_exchange_n(side, &value, value + n, 0, __ATOMIC_SEQ_CST, __ATOMIC_ACQUIRE))
            return 1;
    }
}

static CB_INLINE void release(const cb_pt *pt, uint64_t table, uint32_t n)
{
    __atomic_fetch_sub(side_ref(pt, table), (uint64_t)n, __ATOMIC_SEQ_CST);
}

static CB_INLINE int choose_level(int levels, uint64_t iova, uint64_t pa, uint64_t remaining)
{
    for (int level = levels - 1; level > 0; level--) {
        uint64_t s = 1ull << level_shift(level);
        if (((iova | pa) & (s - 1)) == 0 && remaining >= s)
            return level;
    }
    return 0;
}

/* Entries of the run at `level` from iova: to the end of the table or of the range. */
static CB_INLINE unsigned run_length(int levels, int gstage, uint64_t iova, uint64_t remaining, int level)
{
    unsigned index = pt_index(iova, level, levels, gstage);
    uint64_t left = remaining >> level_shift(level);
    unsigned room = entries_at(level, levels, gstage) - index;
    return left < room ? (unsigned)left : room;
}

static CB_INLINE int all_zero(const uint64_t *first, unsigned n)
{
    if (n == 1)
        return load(first) == 0;
    /* Relaxed loads: the path was read with acquire loads, and a stale answer is caught by the reservation and
     * validation that follow, or excluded by the caller contract (the range is this call's). */
    v2u64 any2 = { 0, 0 };
    unsigned i = 0;
    for (; i + 2 <= n; i += 2)
        any2 |= *(const v2u64 *)(first + i);
    uint64_t any = any2[0] | any2[1];
    for (; i < n; i++)
        any |= __atomic_load_n(first + i, __ATOMIC_RELAXED);
    return any == 0;
}

/* Installs a zeroed table below the invalid entry of p->table[level]. OK also when another thread won the race or the
 * path went stale: the caller walks again either way. */
static CB_INLINE int try_install_table(const cb_pt *pt, int levels, int gstage, path *p, int level)
{
    uint64_t parent = p->table[level];
    if (!validate(pt, levels, gstage, p, level) || !try_reserve(pt, parent, p->gen[level], 1))
        return CB_OK;
    uint64_t page;
    if (!cb_alloc_page(pt->alloc, &page)) {
        release(pt, parent, 1);
        return CB_ENOMEM;
    }
    uint64_t *side = side_ref(pt, page);
    /* Unpublished page: nobody can reserve it, a plain store of "live, count 0, same generation". */
    __atomic_store_n(side, load(side) & SIDE_GEN_MASK, __ATOMIC_RELAXED);
    uint64_t expected = 0;
    uint64_t tpte = CB_PTE_V | ((page >> CB_PAGE_SHIFT) << CB_PTE_PPN_SHIFT);
    if (!__atomic_compare_exchange_n(entry_ref(pt, parent, pt_index(p->iova, level, levels, gstage)), &expected, tpte, 0,
                                     __ATOMIC_SEQ_CST, __ATOMIC_ACQUIRE)) {
        release(pt, parent, 1);
        __atomic_store_n(side, ((load(side) & SIDE_GEN_MASK) + SIDE_GEN_UNIT) | SIDE_DEAD, __ATOMIC_RELEASE);
        cb_free_page(pt->alloc, page);
    }
    return CB_OK;
}

/* Writes n leaves from pa into entries this call checked invalid and reserved: release stores, no CAS. Hardware never
 * writes an invalid entry, other software would need an overlapping concurrent map (excluded by the contract), the
 * reservation CAS before is a full fence, and each aligned 8-byte store is single-copy atomic. */
static CB_INLINE void write_leaves(uint64_t *first, unsigned n, uint64_t pa, uint64_t leaf_bits, int level)
{
    uint64_t pte = leaf_bits | ((pa >> CB_PAGE_SHIFT) << CB_PTE_PPN_SHIFT);
    const uint64_t step = (1ull << level_shift(level)) >> CB_PAGE_SHIFT << CB_PTE_PPN_SHIFT;
    unsigned i = 0;
    if (n >= 8) {
        /* Vector stores: each aligned 8-byte lane is single-copy atomic; the caller's release (the count CAS of the
         * next call, or the return to the caller) orders them, as in the C# engine's SetLeafRun. */
        __atomic_thread_fence(__ATOMIC_RELEASE);
        v2u64 ptes = { pte, pte + step };
        const v2u64 advance = { 2 * step, 2 * step };
        for (; i + 2 <= n; i += 2) {
            *(v2u64 *)(first + i) = ptes;
            ptes += advance;
        }
        pte = ptes[0];
    }
    for (; i < n; i++, pte += step)
        __atomic_store_n(first + i, pte, __ATOMIC_RELEASE);
}

static CB_INLINE int map_range(const cb_pt *pt, int levels, int gstage, uint64_t iova, uint64_t pa, uint64_t size,
                               uint64_t leaf_bits, int allow_install, uint64_t *done)
{
    path p;
    uint64_t cur = iova, cur_pa = pa, remaining = size;
    int retries = 0;
    *done = 0;
    while (remaining != 0) {
        int level = choose_level(levels, cur, cur_pa, remaining);
        uint64_t entry;
        int stop = descend(pt, levels, gstage, cur, level, &p, &entry);
        if (stop < 0) {
            backoff(&retries);
            continue;
        }
        if (stop > level) {
            if (entry != 0) { /* a leaf above the wanted level covers cur */
                if (!validate(pt, levels, gstage, &p, stop))
                    continue;
                return CB_EEXIST;
            }
            if (!allow_install)
                return NEED_TABLES;
            int rc = try_install_table(pt, levels, gstage, &p, stop);
            if (rc != CB_OK)
                return rc;
            continue;
        }
        unsigned n = run_length(levels, gstage, cur, remaining, level);
        uint64_t table = p.table[level];
        uint64_t *first = entry_ref(pt, table, pt_index(cur, level, levels, gstage));
        if (entry != 0 || !all_zero(first, n)) {
            if (!validate(pt, levels, gstage, &p, level))
                continue;
            return CB_EEXIST;
        }
        if (!validate(pt, levels, gstage, &p, level) || !try_reserve(pt, table, p.gen[level], n))
            continue;
        write_leaves(first, n, cur_pa, leaf_bits, level);
        uint64_t bytes = (uint64_t)n << level_shift(level);
        cur += bytes;
        cur_pa += bytes;
        remaining -= bytes;
        *done += bytes;
    }
    return CB_OK;
}

/* Counts the tables the range needs and checks none of it is mapped. Changes nothing. */
static CB_INLINE int preflight(const cb_pt *pt, int levels, int gstage, uint64_t iova, uint64_t pa, uint64_t size,
                               int64_t *tables_needed)
{
    path p;
    uint64_t last_counted[5] = { UINT64_MAX, UINT64_MAX, UINT64_MAX, UINT64_MAX, UINT64_MAX };
    uint64_t cur = iova, cur_pa = pa, remaining = size;
    int retries = 0;
    *tables_needed = 0;
    while (remaining != 0) {
        int level = choose_level(levels, cur, cur_pa, remaining);
        uint64_t entry;
        int stop = descend(pt, levels, gstage, cur, level, &p, &entry);
        if (stop < 0) {
            backoff(&retries);
            continue;
        }
        unsigned n = run_length(levels, gstage, cur, remaining, level);
        if (stop > level || entry != 0
            || !all_zero(entry_ref(pt, p.table[level], pt_index(cur, level, levels, gstage)), n)) {
            if (!validate(pt, levels, gstage, &p, stop))
                continue;
            if (entry != 0 || stop == level)
                return CB_EEXIST;
            for (int j = stop - 1; j >= level; j--) {
                uint64_t key = cur >> level_shift(j + 1);
                if (key != last_counted[j]) {
                    last_counted[j] = key;
                    (*tables_needed)++;
                }
            }
        }
        uint64_t bytes = (uint64_t)n << level_shift(level);
        cur += bytes;
        cur_pa += bytes;
        remaining -= bytes;
    }
    return CB_OK;
}

/* Clears the leaves among n level-0 entries of this call's range, adds the cleared stretches to the gather (when
 * there is one) and returns how many were valid. Relaxed stores of zero: the range is the caller's, a racing hardware
 * A/D update (a CAS against the old leaf) lands first or fails, and the count decrement that follows is a full fence. */
static CB_INLINE uint32_t clear_leaf_run(uint64_t *first, unsigned n, uint64_t iova, cb_gather *g)
{
    uint32_t cleared = 0;
    uint64_t run_start = 0, run_bytes = 0;
    unsigned i = 0;
    const v2u64 zero = { 0, 0 };
    __atomic_thread_fence(__ATOMIC_RELEASE);
    for (; i + 2 <= n; i += 2) {
        v2u64 v = *(const v2u64 *)(first + i);
        if (v[0] && v[1]) { /* two leaves: one vector store of zero */
            *(v2u64 *)(first + i) = zero;
            if (run_bytes == 0)
                run_start = iova + ((uint64_t)i << CB_PAGE_SHIFT);
            run_bytes += 2 * CB_PAGE_SIZE;
            cleared += 2;
            continue;
        }
        for (unsigned lane = 0; lane < 2; lane++) {
            if (v[lane]) {
                __atomic_store_n(first + i + lane, 0, __ATOMIC_RELEASE);
                if (run_bytes == 0)
                    run_start = iova + ((uint64_t)(i + lane) << CB_PAGE_SHIFT);
                run_bytes += CB_PAGE_SIZE;
                cleared++;
            } else if (run_bytes != 0) {
                if (g)
                    gather_add_range(g, run_start, run_bytes);
                run_bytes = 0;
            }
        }
    }
    for (; i < n; i++) {
        if (__atomic_load_n(first + i, __ATOMIC_RELAXED) != 0) {
            __atomic_store_n(first + i, 0, __ATOMIC_RELEASE);
            if (run_bytes == 0)
                run_start = iova + ((uint64_t)i << CB_PAGE_SHIFT);
            run_bytes += CB_PAGE_SIZE;
            cleared++;
        } else if (run_bytes != 0) {
            if (g)
                gather_add_range(g, run_start, run_bytes);
            run_bytes = 0;
        }
    }
    if (run_bytes != 0 && g)
        gather_add_range(g, run_start, run_bytes);
    return cleared;
}

/* Subtracts n cleared entries from the table at `level`; an empty, unreserved table dies, is unlinked, goes to
 * the gather, and its parent loses an entry. */
static CB_INLINE void release_and_free_empty(const cb_pt *pt, int levels, int gstage, const path *p, int level,
                                             uint32_t n, cb_gather *g)
{
    for (int k = level; k < levels - 1; k++) {
        uint64_t table = p->table[k];
        uint64_t *side = side_ref(pt, table);
        uint64_t after = __atomic_sub_fetch(side, (uint64_t)n, __ATOMIC_SEQ_CST);
        if ((after & SIDE_COUNT_MASK) != 0)
            return;
        uint64_t dead = ((after & SIDE_GEN_MASK) + SIDE_GEN_UNIT) | SIDE_DEAD;
        if (!__atomic_compare_exchange_n(side, &after, dead, 0, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED))
            return; /* a mapper reserved it meanwhile */
        __atomic_fetch_add((uint64_t *)&pt->deaths, 1, __ATOMIC_SEQ_CST); /* before this unmap returns, so before the page is freed */
        uint64_t expected = p->entry[k + 1];
        __atomic_compare_exchange_n(entry_ref(pt, p->table[k + 1], pt_index(p->iova, k + 1, levels, gstage)), &expected,
                                    0, 0, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED);
        gather_add_page(g, table);
        n = 1;
    }
}

/* Clears the leaves in the range; with a gather records ranges and frees empty tables, without (rollback) only
 * gives the counts back. */
static CB_INLINE uint64_t clear_range(const cb_pt *pt, int levels, int gstage, uint64_t iova, uint64_t size, cb_gather *g)
{
    path p;
    uint64_t cur = iova, remaining = size, total = 0;
    int retries = 0;
    while (remaining != 0) {
        uint64_t entry;
        int stop = descend(pt, levels, gstage, cur, 0, &p, &entry);
        if (stop < 0) {
            backoff(&retries);
            continue;
        }
        const unsigned shift = level_shift(stop);
        const uint64_t page_size = 1ull << shift;
        if (entry == 0) {
            uint64_t step = page_size - (cur & (page_size - 1));
            if (step >= remaining)
                break;
            cur += step;
            remaining -= step;
            continue;
        }
        if (!validate(pt, levels, gstage, &p, stop))
            continue;
        uint64_t table = p.table[stop];
        unsigned index = pt_index(cur, stop, levels, gstage);
        if (stop == 0) { /* level 0 holds no table pointers: the whole run at once */
            uint64_t left = remaining >> CB_PAGE_SHIFT;
            unsigned n = left < 512 - index ? (unsigned)left : 512 - index;
            uint32_t run = clear_leaf_run(entry_ref(pt, table, index), n, cur, g);
            cur += (uint64_t)n << CB_PAGE_SHIFT;
            remaining -= (uint64_t)n << CB_PAGE_SHIFT;
            total += (uint64_t)run << CB_PAGE_SHIFT;
            if (run != 0) {
                if (g)
                    release_and_free_empty(pt, levels, gstage, &p, 0, run, g);
                else
                    release(pt, table, run);
            }
            continue;
        }
        const unsigned entries = entries_at(stop, levels, gstage);
        uint32_t cleared = 0;
        uint64_t leaf_start = cur, leaf_bytes = 0;
        for (; index < entries && remaining != 0; index++) {
            uint64_t *slot = entry_ref(pt, table, index);
            uint64_t value = load(slot);
            if (is_table_pointer(value))
                break; /* descend on the next walk */
            if (remaining < page_size) {
                remaining = 0; /* the partial-superpage check let only a hole through here */
                break;
            }
            if (value != 0) {
                __atomic_store_n(slot, 0, __ATOMIC_RELEASE);
                cleared++;
                if (leaf_bytes == 0)
                    leaf_start = cur;
                leaf_bytes += page_size;
            } else if (leaf_bytes != 0) {
                if (g)
                    gather_add_range(g, leaf_start, leaf_bytes);
                leaf_bytes = 0;
            }
            cur += page_size;
            remaining -= page_size;
        }
        if (leaf_bytes != 0 && g)
            gather_add_range(g, leaf_start, leaf_bytes);
        total += (uint64_t)cleared << shift;
        if (cleared != 0) {
            if (g)
                release_and_free_empty(pt, levels, gstage, &p, stop, cleared, g);
            else
                release(pt, table, cleared);
        }
    }
    return total;
}

/* Software walk: 1 and the leaf's PTE and level when iova is mapped. */
static CB_INLINE int pt_walk_impl(const cb_pt *pt, int levels, int gstage, uint64_t iova, uint64_t *pte_out,
                                  int *level_out)
{
    if (!canonical(iova, pt->addr_bits, gstage))
        return 0;
    path p;
    int retries = 0;
    for (;;) {
        uint64_t entry;
        int stop = descend(pt, levels, gstage, iova, 0, &p, &entry);
        if (stop < 0) {
            backoff(&retries);
            continue;
        }
        if (!validate(pt, levels, gstage, &p, stop))
            continue;
        *pte_out = entry;
        *level_out = stop;
        return (entry & CB_PTE_V) && (entry & (CB_PTE_R | CB_PTE_W | CB_PTE_X));
    }
}

static CB_INLINE int pt_translate_validated(const cb_pt *pt, int levels, int gstage, uint64_t iova, uint64_t *pa)
{
    path p;
    int retries = 0;
    for (;;) {
        uint64_t entry;
        int stop = descend(pt, levels, gstage, iova, 0, &p, &entry);
        if (stop < 0) {
            backoff(&retries);
            continue;
        }
        /* Not mapped needs no validation: a stale path ends in a dead (zeroed) or reused table, and an IOVA mapped
         * during the whole call keeps its path alive. */
        if (!(entry & CB_PTE_V) || !(entry & (CB_PTE_R | CB_PTE_W | CB_PTE_X)))
            return 0;
        if (!validate(pt, levels, gstage, &p, stop))
            continue;
        uint64_t mask = (1ull << level_shift(stop)) - 1;
        *pa = (pte_pa(entry) & ~mask) | (iova & mask);
        return 1;
    }
}

static CB_INLINE int pt_map_impl(const cb_pt *pt, int levels, int gstage, uint64_t iova, uint64_t pa, uint64_t size,
                                 uint32_t prot, uint32_t pbmt)
{
    if (size == 0 || ((iova | pa | size) & CB_PAGE_MASK) || !legal_range(iova, size, pt->addr_bits, gstage)
        || pa + (size - 1) < pa || ((pa + (size - 1)) >> 56) != 0)
        return CB_EINVAL;
    /* A leaf needs R, W or X; W without R is reserved; G is meaningless in a G-stage; PBMT 3 is reserved. */
    if ((prot & ~31u) || !(prot & 7u) || (prot & (CB_READ | CB_WRITE)) == CB_WRITE || (gstage && (prot & CB_GLOBAL))
        || pbmt > 2)
        return CB_EINVAL;
    /* V and A always, D with W (no hardware A/D updating, as Linux presets them); G-stage leaves need U. */
    uint64_t leaf_bits = CB_PTE_V | CB_PTE_A | ((uint64_t)pbmt << CB_PTE_PBMT_SHIFT);
    if (prot & CB_READ)
        leaf_bits |= CB_PTE_R;
    if (prot & CB_WRITE)
        leaf_bits |= CB_PTE_W | CB_PTE_D;
    if (prot & CB_EXECUTE)
        leaf_bits |= CB_PTE_X;
    if ((prot & CB_USER) || gstage)
        leaf_bits |= CB_PTE_U;
    if (prot & CB_GLOBAL)
        leaf_bits |= CB_PTE_G;

    uint64_t done;
    int rc = map_range(pt, levels, gstage, iova, pa, size, leaf_bits, 0, &done);
    if (rc == CB_OK)
        return rc;
    if (rc == NEED_TABLES) {
        int64_t needed;
        rc = preflight(pt, levels, gstage, iova + done, pa + done, size - done, &needed);
        if (rc == CB_OK && needed > (int64_t)pt->alloc->page_count - cb_pages_in_use_of(pt->alloc))
            rc = CB_ENOMEM;
        if (rc == CB_OK) {
            uint64_t rest;
            rc = map_range(pt, levels, gstage, iova + done, pa + done, size - done, leaf_bits, 1, &rest);
            done += rest;
            if (rc == CB_OK)
                return rc;
        }
    }
    if (done != 0)
        clear_range(pt, levels, gstage, iova, done, NULL);
    return rc;
}

/* The range starts with a leaf at level > 0 and lies in that leaf's table: 1 done (*unmapped set; 0 bytes when a
 * superpage would be cut), -1 when the general path must decide. */
static CB_INLINE int unmap_upper_run(const cb_pt *pt, int levels, int gstage, path *p, int level, uint64_t iova,
                                     uint64_t size, cb_gather *g, uint64_t *unmapped)
{
    *unmapped = 0;
    if (!validate(pt, levels, gstage, p, level))
        return -1;
    const unsigned shift = level_shift(level);
    const uint64_t page_size = 1ull << shift;
    if (iova & (page_size - 1))
        return 1; /* partial superpage: refused */
    if (size & (page_size - 1))
        return -1;
    unsigned n = (unsigned)(size >> shift);
    uint64_t *first = entry_ref(pt, p->table[level], pt_index(iova, level, levels, gstage));
    for (unsigned i = 0; i < n; i++)
        if (is_table_pointer(load(first + i)))
            return -1;
    uint32_t cleared = 0;
    for (unsigned i = 0; i < n; i++) {
        if (load(first + i) != 0) {
            __atomic_store_n(first + i, 0, __ATOMIC_RELEASE);
            gather_add_range(g, iova + ((uint64_t)i << shift), page_size);
            cleared++;
        }
    }
    if (cleared != 0) {
        *unmapped = (uint64_t)cleared << shift;
        release_and_free_empty(pt, levels, gstage, p, level, cleared, g);
    }
    return 1;
}

/* Unmap of a range inside the table where the walk for its first page stops: one walk, no head/tail walks.
 * 1 done, -1 when the general path must decide (the range spans tables or meets a lower table). */
static CB_INLINE int unmap_within_table(const cb_pt *pt, int levels, int gstage, uint64_t iova, uint64_t size,
                                        cb_gather *g, uint64_t *unmapped)
{
    path p;
    int retries = 0;
    uint64_t last = iova + (size - 1);
    *unmapped = 0;
    for (;;) {
        uint64_t entry;
        int stop = descend(pt, levels, gstage, iova, 0, &p, &entry);
        if (stop < 0) {
            backoff(&retries);
            continue;
        }
        const unsigned shift = level_shift(stop);
        if (stop < levels - 1 && ((iova ^ last) >> (shift + 9)) != 0)
            return -1; /* the range leaves this table */
        if (stop > 0) {
            if (entry == 0)
                return ((iova ^ last) >> shift) == 0 ? 1 : -1; /* one invalid entry covers it all: nothing mapped */
            return unmap_upper_run(pt, levels, gstage, &p, stop, iova, size, g, unmapped);
        }
        if (!validate(pt, levels, gstage, &p, 0))
            continue;
        uint32_t cleared = clear_leaf_run(entry_ref(pt, p.table[0], pt_index(iova, 0, levels, gstage)),
                                          (unsigned)(size >> CB_PAGE_SHIFT), iova, g);
        if (cleared != 0) {
            *unmapped = (uint64_t)cleared << CB_PAGE_SHIFT;
            release_and_free_empty(pt, levels, gstage, &p, 0, cleared, g);
        }
        return 1;
    }
}

static CB_INLINE uint64_t pt_unmap_impl(const cb_pt *pt, int levels, int gstage, uint64_t iova, uint64_t size,
                                        cb_gather *g)
{
    if (size == 0 || ((iova | size) & CB_PAGE_MASK) || !legal_range(iova, size, pt->addr_bits, gstage))
        return 0;
    uint64_t fast;
    if (unmap_within_table(pt, levels, gstage, iova, size, g, &fast) > 0)
        return fast;
    /* Only the leaves holding the first and the last page can stick out of the range. */
    uint64_t pte;
    int level;
    uint64_t head_size = 0;
    if (pt_walk_impl(pt, levels, gstage, iova, &pte, &level)) {
        head_size = 1ull << level_shift(level);
        if (iova & (head_size - 1))
            return 0;
    }
    uint64_t last = iova + (size - 1);
    if (!(head_size != 0 && size <= head_size) && pt_walk_impl(pt, levels, gstage, last, &pte, &level)
        && ((last + 1) & ((1ull << level_shift(level)) - 1)))
        return 0;
    return clear_range(pt, levels, gstage, iova, size, g);
}

/* A plain walk bracketed by two reads of the table-death counter. To read a freed and reused page, the walk must reach
 * a table that died after the walk read its parent entry; that death bumps the counter before its unmap returns, so
 * before the page can be freed. Counter unchanged: every table read was genuine. A dead, not yet freed table reads as
 * zeros ("not mapped", true when it died), so only a found leaf needs the check; a moved counter falls back to the
 * validated walk. */
static CB_INLINE int pt_translate_impl(const cb_pt *pt, int levels, int gstage, uint64_t iova, uint64_t *pa)
{
    if (!canonical(iova, pt->addr_bits, gstage))
        return 0;
    uint64_t deaths = __atomic_load_n(&pt->deaths, __ATOMIC_ACQUIRE);
    uint64_t table = pt->root_pa;
    for (int level = levels - 1;; level--) {
        uint64_t e = load(entry_ref(pt, table, pt_index(iova, level, levels, gstage)));
        if (level > 0 && is_table_pointer(e)) {
            table = pte_pa(e);
            if (table - pt->table_start >= pt->table_bytes)
                return pt_translate_validated(pt, levels, gstage, iova, pa);
            continue;
        }
        if (!(e & CB_PTE_V) || !(e & (CB_PTE_R | CB_PTE_W | CB_PTE_X)))
            return 0;
        if (__atomic_load_n(&pt->deaths, __ATOMIC_ACQUIRE) != deaths)
            return pt_translate_validated(pt, levels, gstage, iova, pa);
        uint64_t mask = (1ull << level_shift(level)) - 1;
        *pa = (pte_pa(e) & ~mask) | (iova & mask);
        return 1;
    }
}

/* The plain walk a C driver's iova_to_phys does (Linux's, for one): no side words, no path validation. Not the C#
 * engine's semantics (a walk racing with a table's death may read a reused page); the benchmarks show it beside the
 * validated walk only to price that validation. */
static CB_INLINE int pt_translate_plain(const cb_pt *pt, int levels, int gstage, uint64_t iova, uint64_t *pa)
{
    if (!canonical(iova, pt->addr_bits, gstage))
        return 0;
    uint64_t table = pt->root_pa;
    for (int level = levels - 1; level >= 0; level--) {
        uint64_t e = load(entry_ref(pt, table, pt_index(iova, level, levels, gstage)));
        if (!(e & CB_PTE_V))
            return 0;
        if (!is_table_pointer(e)) {
            uint64_t mask = (1ull << level_shift(level)) - 1;
            *pa = (pte_pa(e) & ~mask) | (iova & mask);
            return 1;
        }
        table = pte_pa(e);
    }
    return 0;
}

/* Sum of the translations of iova + index * 4 KiB, index = i or indices[i]; the loop lives next to the walk so the
 * walk inlines into it, specialised per mode and per walk kind. UINT64_MAX when a page is not mapped. */
static CB_INLINE uint64_t translate_sum(const cb_pt *pt, int levels, int gstage, int plain, uint64_t iova,
                                        const uint32_t *indices, uint64_t count, uint64_t iterations)
{
    uint64_t sum = 0;
    for (uint64_t it = 0; it < iterations; it++) {
        for (uint64_t i = 0; i < count; i++) {
            uint64_t a = iova + ((indices ? (uint64_t)indices[i] : i) << CB_PAGE_SHIFT), pa;
            int ok = plain ? pt_translate_plain(pt, levels, gstage, a, &pa) : pt_translate_impl(pt, levels, gstage, a, &pa);
            if (!ok)
                return UINT64_MAX;
            sum += pa;
        }
    }
    return sum;
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
#define CALL(l, gs) pt_unmap_impl(pt, l, gs, iova, size, g)
    CB_DISPATCH(pt, CALL)
#undef CALL
}

int cb_pt_iova_to_phys(const cb_pt *pt, uint64_t iova, uint64_t *pa)
{
#define CALL(l, g) pt_translate_impl(pt, l, g, iova, pa)
    CB_DISPATCH(pt, CALL)
#undef CALL
}

uint64_t cb_pt_translate_sum(const cb_pt *pt, int plain, uint64_t iova, const uint32_t *indices, uint64_t count,
                             uint64_t iterations)
{
    if (plain) {
#define CALL(l, g) translate_sum(pt, l, g, 1, iova, indices, count, iterations)
        CB_DISPATCH(pt, CALL)
#undef CALL
    }
#define CALL(l, g) translate_sum(pt, l, g, 0, iova, indices, count, iterations)
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
    cb_pt_fini(&ctx->pt);
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
