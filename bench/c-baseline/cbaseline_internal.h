/* Internal types of the C baseline, shared by the engine, the benchmark loops and nothing else. */
#ifndef FASTIOMMU_CBASELINE_INTERNAL_H
#define FASTIOMMU_CBASELINE_INTERNAL_H

#include "cbaseline.h"

#define CB_PAGE_SHIFT 12
#define CB_PAGE_SIZE (1ull << CB_PAGE_SHIFT)
#define CB_PAGE_MASK (CB_PAGE_SIZE - 1)
#define CB_INLINE inline __attribute__((always_inline))

/* The arena standing for physical memory, and the lock-free page allocator over it. */
typedef struct cb_alloc {
    uint8_t *host;      /* host address of base_pa */
    uint64_t base_pa;
    uint64_t size;
    uint32_t page_count;
    _Alignas(64) uint64_t free_head; /* ABA tag << 32 | (page index + 1); 0 = empty */
    _Alignas(64) uint32_t bump;      /* first page never handed out */
    _Alignas(64) int64_t in_use;
} cb_alloc;

/* What an unmap leaves for after the IOTLB invalidation: the IOVA span touched and the unlinked tables. */
typedef struct cb_range {
    uint64_t start, size;
} cb_range;

typedef struct cb_gather {
    cb_range *ranges; /* leaves cleared, adjacent ones merged */
    size_t range_count, range_capacity;
    uint64_t *pages;  /* tables unlinked */
    size_t count, capacity;
} cb_gather;

typedef struct cb_pt {
    cb_alloc *alloc;
    uint64_t root_pa;
    uint64_t *side; /* per page of the arena: gen:31 | dead:1 | count:32 of the table in it */
    uint64_t table_start, table_bytes;
    uint64_t side_lane; /* side words per lane: ceil(pages / 8) */
    _Alignas(64) uint64_t deaths; /* tables that died so far: lets translations skip per-level validation */
    int mode, levels, gstage, addr_bits;
} cb_pt;

struct cb_ctx {
    cb_alloc alloc;
    cb_pt pt;
    cb_gather gather;
};

static CB_INLINE uint64_t *cb_qword(const cb_alloc *a, uint64_t pa)
{
    return (uint64_t *)(a->host + (pa - a->base_pa));
}

int cb_alloc_init(cb_alloc *a, uint64_t bytes, uint64_t base_pa);
void cb_alloc_fini(cb_alloc *a);
int cb_alloc_page(cb_alloc *a, uint64_t *pa);
int cb_alloc_block(cb_alloc *a, uint64_t *pa);
void cb_free_page(cb_alloc *a, uint64_t pa);
int64_t cb_pages_in_use_of(const cb_alloc *a);

void cb_gather_init(cb_gather *g);
void cb_gather_fini(cb_gather *g);
void cb_gather_complete_on(cb_alloc *a, cb_gather *g);

int cb_pt_init(cb_pt *pt, cb_alloc *a, int mode);
void cb_pt_fini(cb_pt *pt);
int cb_pt_map(const cb_pt *pt, uint64_t iova, uint64_t pa, uint64_t size, uint32_t prot, uint32_t pbmt);
uint64_t cb_pt_unmap(const cb_pt *pt, uint64_t iova, uint64_t size, cb_gather *g);
int cb_pt_iova_to_phys(const cb_pt *pt, uint64_t iova, uint64_t *pa);
int cb_pt_walk(const cb_pt *pt, uint64_t iova, uint64_t *pte, int *level);
/* Sum of translations of iova + (indices ? indices[i] : i) * 4 KiB, i < count, iterations times; plain: unvalidated walk. */
uint64_t cb_pt_translate_sum(const cb_pt *pt, int plain, uint64_t iova, const uint32_t *indices, uint64_t count,
                             uint64_t iterations);

#endif
