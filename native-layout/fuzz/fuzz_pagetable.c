/* libFuzzer harness: page tables through the C API. A mode (Sv39..Sv57x4, Svnapot or not) and a sequence of maps,
 * unmaps into a gather, completions, iova_to_phys, walks and dirty reads decoded from the input, over an allocator
 * window of 2 MiB (so exhaustion happens too). A reference model of the low 4 MiB is checked one page per operation
 * and whole at the end. Invariants: a successful map translates at its first and last page; a
 * successful unmap leaves its first page unmapped; a walk agrees with iova_to_phys; the gather's ranges are aligned and
 * inside its span; and at the end, after the gather is completed and the table destroyed, no page of the window is in
 * use (no leaked table page). Long run: see native-layout/README.md. */
#include "fuzz_common.h"

#define RAM_BASE 0x80000000ull
#define RAM_SIZE 0x200000ull
#define MAX_OPS 512

static uint8_t ram[RAM_SIZE] __attribute__((aligned(4096)));

/* A reference model of the low 4 MiB (where most generated IOVAs fall): what each 4 KiB page maps to. A successful map
 * maps, a successful unmap unmaps, every page of the range inside the region; a refused call changes nothing. */
#define MODEL_PAGES 1024
static uint64_t model_pa[MODEL_PAGES];
static uint8_t model_mapped[MODEL_PAGES];

static void model_update(uint64_t iova, uint64_t length, uint64_t pa, int map)
{
    if (iova >= (uint64_t)MODEL_PAGES << 12) {
        return;
    }
    uint64_t end = iova + length < iova || iova + length > ((uint64_t)MODEL_PAGES << 12) ? (uint64_t)MODEL_PAGES << 12
                                                                                         : iova + length;
    for (uint64_t at = iova; at < end; at += 4096) {
        model_mapped[at >> 12] = (uint8_t)map;
        model_pa[at >> 12] = pa + (at - iova);
    }
}

static void model_check(fastiommu_page_table table, uint64_t page)
{
    uint64_t pa = 0;
    fastiommu_status st = fastiommu_page_table_iova_to_phys(table, page << 12, &pa);
    if (model_mapped[page] ? st != FASTIOMMU_OK || pa != model_pa[page] : st != FASTIOMMU_ERR_NOT_MAPPED) {
        fprintf(stderr, "page 0x%llx: %s pa 0x%llx, model %s 0x%llx\n", (unsigned long long)(page << 12),
                fastiommu_status_name(st), (unsigned long long)pa, model_mapped[page] ? "mapped" : "unmapped",
                (unsigned long long)model_pa[page]);
        fuzz_fail("the table differs from the reference model");
    }
}
static const fastiommu_mode modes[6] = { FASTIOMMU_MODE_SV39, FASTIOMMU_MODE_SV48, FASTIOMMU_MODE_SV57,
                                         FASTIOMMU_MODE_SV39X4, FASTIOMMU_MODE_SV48X4, FASTIOMMU_MODE_SV57X4 };

static uint64_t an_iova(struct fuzz_input *in)
{
    uint32_t shape = (uint32_t)fuzz_bytes(in, 1);
    uint64_t low = (fuzz_bytes(in, 2) & 0x3FF) << 12;
    switch (shape % 8) {
    case 0: return fuzz_bytes(in, 8);                              /* anything */
    case 1: return low | (1ull << 30);                             /* another GiB */
    case 2: return low | (1ull << 39);                             /* beyond Sv39 */
    case 3: return low | ((uint64_t)(shape >> 3) << 21);           /* 2 MiB aligned neighbourhoods */
    case 4: return (fuzz_bytes(in, 1) & 7) << 21;                  /* superpage aligned */
    case 5: return low | 0xFFFFFFC000000000ull;                    /* upper half (not canonical everywhere) */
    default: return low;
    }
}

static uint64_t a_size(struct fuzz_input *in)
{
    uint32_t shape = (uint32_t)fuzz_bytes(in, 1);
    switch (shape % 8) {
    case 0: return fuzz_bytes(in, 8);
    case 1: return 0x200000;
    case 2: return 0x10000;
    case 3: return ((shape >> 3) + 1) * 0x10000ull;
    case 4: return 0x40000000;
    default: return ((shape >> 3) + 1) * 4096ull;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_check_handles();
    struct fuzz_input in = { data, size, 0 };
    uint32_t setup = (uint32_t)fuzz_bytes(&in, 1);
    fastiommu_memory memory;
    fastiommu_allocator allocator;
    fastiommu_page_table table;
    fastiommu_gather gather;
    if (fastiommu_memory_wrap(ram, RAM_SIZE, RAM_BASE, &memory) != FASTIOMMU_OK
        || fastiommu_allocator_create(memory, RAM_BASE, RAM_SIZE, &allocator) != FASTIOMMU_OK
        || fastiommu_gather_create(&gather) != FASTIOMMU_OK) {
        fuzz_fail("setup");
    }
    if (fuzz_status(1, fastiommu_page_table_create(allocator, modes[setup % 6], setup & 0x80 ? FASTIOMMU_PT_SVNAPOT : 0,
                                                   &table)) != FASTIOMMU_OK) {
        fuzz_fail("page_table_create");
    }
    int gstage = setup % 6 >= 3;
    memset(model_mapped, 0, sizeof model_mapped);
    for (int op = 0; op < MAX_OPS && !fuzz_done(&in); op++) {
        uint32_t kind = (uint32_t)fuzz_bytes(&in, 1);
        model_check(table, (uint64_t)(op * 97 + kind) % MODEL_PAGES);
        switch (kind % 8) {
        case 0:
        case 1:
        case 2: { /* map */
            uint64_t iova = an_iova(&in), length = a_size(&in);
            uint64_t pa = (fuzz_bytes(&in, 3) << 12) | (kind & 0x80 ? fuzz_bytes(&in, 1) : 0);
            if (kind & 0x40) {
                pa = fuzz_bytes(&in, 8);
            }
            uint32_t prot = (uint32_t)fuzz_bytes(&in, 1), pbmt = prot >> 6;
            prot &= 0x3F;
            fastiommu_status st = fuzz_status(2, fastiommu_page_table_map(table, iova, pa, length, prot, pbmt));
            fuzz_feedback(3, (uint64_t)st * 64 + (uint64_t)gstage * 32 + prot);
            if (st == FASTIOMMU_OK) {
                model_update(iova, length, pa, 1);
                uint64_t got = 0, last = length - 4096;
                if (fastiommu_page_table_iova_to_phys(table, iova, &got) != FASTIOMMU_OK || got != pa) {
                    fuzz_fail("a mapped range's first page does not translate to its PA");
                }
                if (fastiommu_page_table_iova_to_phys(table, iova + last, &got) != FASTIOMMU_OK || got != pa + last) {
                    fuzz_fail("a mapped range's last page does not translate to its PA");
                }
            }
            break;
        }
        case 3:
        case 4: { /* unmap into the gather */
            uint64_t iova = an_iova(&in), length = a_size(&in), unmapped = 0;
            fastiommu_status st = fuzz_status(4, fastiommu_page_table_unmap(table, iova, length, gather, &unmapped));
            fuzz_feedback(5, unmapped >> 12 > 64 ? 64 : unmapped >> 12);
            if (st == FASTIOMMU_OK) {
                model_update(iova, length, 0, 0);
            }
            uint64_t got = 0;
            if (st == FASTIOMMU_OK && fastiommu_page_table_iova_to_phys(table, iova, &got) != FASTIOMMU_ERR_NOT_MAPPED) {
                fuzz_fail("an unmapped range's first page still translates");
            }
            if (st != FASTIOMMU_OK && unmapped != 0) {
                fuzz_fail("a refused unmap reports bytes unmapped");
            }
            break;
        }
        case 5: { /* walk and iova_to_phys agree */
            uint64_t iova = an_iova(&in), pa = 0;
            fastiommu_walk_result walk;
            fastiommu_status st = fuzz_status(6, fastiommu_page_table_iova_to_phys(table, iova, &pa));
            if (fuzz_status(7, fastiommu_page_table_walk(table, iova, &walk)) == FASTIOMMU_OK) {
                fuzz_feedback(8, walk.level * 2 + walk.found);
                if ((st == FASTIOMMU_OK) != (walk.found != 0) || (st == FASTIOMMU_OK && walk.pa != pa)) {
                    fuzz_fail("walk and iova_to_phys disagree");
                }
                if (walk.found && (walk.page_size < 4096 || (walk.page_size & (walk.page_size - 1)) != 0)) {
                    fuzz_fail("a leaf's page size is not a power of two");
                }
            }
            break;
        }
        case 6: { /* dirty bits */
            uint64_t iova = an_iova(&in) & ~0xFFFull, length = ((fuzz_bytes(&in, 1) & 63) + 1) * 4096ull;
            uint64_t bitmap[1] = { 0 }, dirty = 0;
            fastiommu_status st = fuzz_status(9, fastiommu_page_table_read_and_clear_dirty(table, iova, length, bitmap, 1, &dirty));
            fuzz_feedback(10, (uint64_t)__builtin_popcountll(bitmap[0]));
            if (st == FASTIOMMU_OK && (uint64_t)__builtin_popcountll(bitmap[0]) * 4096 > length) {
                fuzz_fail("more dirty pages than the range has");
            }
            break;
        }
        default: { /* the gather: ordered disjoint ranges; sometimes completed */
            fastiommu_gather_info info;
            if (fuzz_status(11, fastiommu_gather_info_get(gather, &info)) != FASTIOMMU_OK) {
                fuzz_fail("gather_info_get");
            }
            fuzz_feedback(12, info.range_count > 16 ? 16 : info.range_count);
            fuzz_feedback(13, info.freed_table_count > 16 ? 16 : info.freed_table_count);
            /* Ranges come in unmap order (not sorted: unmaps need not go upwards); each is 4 KiB aligned, non-empty
             * and inside [start, end). */
            for (uint32_t i = 0; i < info.range_count && i < 64; i++) {
                uint64_t start = 0, length = 0;
                if (fastiommu_gather_range(gather, i, &start, &length) != FASTIOMMU_OK || length == 0
                    || ((start | length) & 0xFFF) != 0 || start < info.start || start + length > info.end) {
                    fuzz_fail("a gather range is empty, misaligned or outside the gather's span");
                }
            }
            if (kind & 0x80) {
                fuzz_status(14, fastiommu_gather_complete(gather));
            }
            break;
        }
        }
    }
    for (uint64_t page = 0; page < MODEL_PAGES; page++) {
        model_check(table, page);
    }
    uint64_t in_use = 1;
    if (fastiommu_gather_complete(gather) != FASTIOMMU_OK || fastiommu_page_table_destroy(table) != FASTIOMMU_OK
        || fastiommu_allocator_stats(allocator, NULL, &in_use) != FASTIOMMU_OK) {
        fuzz_fail("teardown");
    }
    if (in_use != 0) {
        fuzz_fail("table pages leaked: pages in use after the table was destroyed");
    }
    if (fastiommu_gather_destroy(gather) != FASTIOMMU_OK || fastiommu_allocator_destroy(allocator) != FASTIOMMU_OK
        || fastiommu_memory_destroy(memory) != FASTIOMMU_OK) {
        fuzz_fail("teardown");
    }
    return 0;
}
