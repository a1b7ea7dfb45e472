/* Every misuse the header documents gives its status and a message, never a crash: bad and forged handles, a
 * handle of another kind, use after destroy (also after its slot was reused), NULL and malformed arguments,
 * overlapping and misaligned maps, destroying a lender, exhaustion, double free, bad register offsets. */
static int failures;
#include "test_support.h"

#include <pthread.h>

static void *other_thread(void *arg)
{
    /* The last error is per thread: this thread has not failed yet. */
    *(int *)arg = strcmp(fastiommu_last_error(), "") == 0;
    return NULL;
}

int main(void)
{
    fastiommu_memory memory;
    fastiommu_allocator allocator;
    fastiommu_page_table table;
    fastiommu_gather gather;
    fastiommu_iommu iommu;
    uint64_t pa = 0;

    /* Bad arguments at creation. */
    EXPECT_STATUS(fastiommu_memory_create(0, 0, &memory), FASTIOMMU_ERR_INVALID_ARGUMENT);
    EXPECT_STATUS(fastiommu_memory_create(4095, 0, &memory), FASTIOMMU_ERR_INVALID_ARGUMENT);
    EXPECT_STATUS(fastiommu_memory_create(4096, 0x123, &memory), FASTIOMMU_ERR_INVALID_ARGUMENT);
    EXPECT_STATUS(fastiommu_memory_create(4096, 0, NULL), FASTIOMMU_ERR_INVALID_ARGUMENT);
    CHECK(strstr(fastiommu_last_error(), "FASTIOMMU_ERR_INVALID_ARGUMENT") == fastiommu_last_error(),
          "the message starts with the status name: \"%s\"", fastiommu_last_error());
    EXPECT_STATUS(fastiommu_memory_wrap(NULL, 4096, 0, &memory), FASTIOMMU_ERR_INVALID_ARGUMENT);
    EXPECT_STATUS(fastiommu_memory_create_callbacks(NULL, &memory), FASTIOMMU_ERR_INVALID_ARGUMENT);
    fastiommu_memory_callbacks empty = { NULL, NULL, NULL, NULL };
    EXPECT_STATUS(fastiommu_memory_create_callbacks(&empty, &memory), FASTIOMMU_ERR_INVALID_ARGUMENT);

    OK(fastiommu_memory_create(64 * 4096, 0x80000000ull, &memory));
    EXPECT_STATUS(fastiommu_allocator_create(memory, 0x80000000ull, 128 * 4096, &allocator), FASTIOMMU_ERR_INVALID_ARGUMENT);
    OK(fastiommu_allocator_create(memory, 0x80000000ull, 8 * 4096, &allocator));
    EXPECT_STATUS(fastiommu_page_table_create(allocator, (fastiommu_mode)3, 0, &table), FASTIOMMU_ERR_INVALID_ARGUMENT);
    EXPECT_STATUS(fastiommu_page_table_create(allocator, FASTIOMMU_MODE_SV39, 0x80, &table), FASTIOMMU_ERR_INVALID_ARGUMENT);
    OK(fastiommu_page_table_create(allocator, FASTIOMMU_MODE_SV48, 0, &table));
    OK(fastiommu_gather_create(&gather));

    /* Bad and forged handles, and handles of another kind. */
    fastiommu_memory zero = { 0 };
    fastiommu_memory forged = { 0xFFFFFFFF00000001ull };
    fastiommu_memory huge = { 0x00000001FFFFFFFFull };
    fastiommu_memory wrong_kind = { allocator.id };
    fastiommu_page_table table_as_allocator = { allocator.id };
    EXPECT_STATUS(fastiommu_memory_read(zero, 0x80000000ull, &pa, 8), FASTIOMMU_ERR_INVALID_HANDLE);
    EXPECT_STATUS(fastiommu_memory_read(forged, 0x80000000ull, &pa, 8), FASTIOMMU_ERR_INVALID_HANDLE);
    EXPECT_STATUS(fastiommu_memory_read(huge, 0x80000000ull, &pa, 8), FASTIOMMU_ERR_INVALID_HANDLE);
    EXPECT_STATUS(fastiommu_memory_read(wrong_kind, 0x80000000ull, &pa, 8), FASTIOMMU_ERR_INVALID_HANDLE);
    EXPECT_STATUS(fastiommu_page_table_map(table_as_allocator, 0, 0x80000000ull, 4096, FASTIOMMU_PROT_READ, 0),
                  FASTIOMMU_ERR_INVALID_HANDLE);
    EXPECT_STATUS(fastiommu_memory_destroy(wrong_kind), FASTIOMMU_ERR_INVALID_HANDLE);
    fastiommu_iommu no_iommu = { 0 };
    fastiommu_translate_request request = { .iova = 0x1000, .device_id = 1, .access = FASTIOMMU_ACCESS_READ };
    fastiommu_translate_response response;
    EXPECT_STATUS(fastiommu_iommu_translate(no_iommu, &request, &response), FASTIOMMU_ERR_INVALID_HANDLE);

    /* Memory access out of range. */
    EXPECT_STATUS(fastiommu_memory_read(memory, 0x7FFFF000ull, &pa, 8), FASTIOMMU_ERR_ACCESS_FAULT);
    EXPECT_STATUS(fastiommu_memory_write(memory, 0x80000000ull + 64 * 4096 - 4, &pa, 8), FASTIOMMU_ERR_ACCESS_FAULT);
    EXPECT_STATUS(fastiommu_memory_read(memory, 0x80000000ull, NULL, 8), FASTIOMMU_ERR_INVALID_ARGUMENT);

    /* Maps: overlap, misalignment, bad protection, out of range; each changes nothing. */
    const uint32_t rw = FASTIOMMU_PROT_READ | FASTIOMMU_PROT_WRITE;
    OK(fastiommu_page_table_map(table, 0x10000, 0x90000000ull, 4 * 4096, rw, FASTIOMMU_PBMT_PMA));
    EXPECT_STATUS(fastiommu_page_table_map(table, 0x13000, 0x91000000ull, 2 * 4096, rw, 0), FASTIOMMU_ERR_OVERLAP);
    CHECK(strstr(fastiommu_last_error(), "0x13000") != NULL, "the message names the IOVA: \"%s\"", fastiommu_last_error());
    EXPECT_STATUS(fastiommu_page_table_iova_to_phys(table, 0x14000, &pa), FASTIOMMU_ERR_NOT_MAPPED);
    CHECK(pa == 0, "pa is 0 for an unmapped IOVA");
    EXPECT_STATUS(fastiommu_page_table_map(table, 0x20001, 0x90000000ull, 4096, rw, 0), FASTIOMMU_ERR_MISALIGNED);
    EXPECT_STATUS(fastiommu_page_table_map(table, 0x20000, 0x90000000ull, 0, rw, 0), FASTIOMMU_ERR_INVALID_ARGUMENT);
    EXPECT_STATUS(fastiommu_page_table_map(table, 0x20000, 0x90000000ull, 4096, FASTIOMMU_PROT_WRITE, 0),
                  FASTIOMMU_ERR_INVALID_PROTECTION);
    EXPECT_STATUS(fastiommu_page_table_map(table, 0x20000, 0x90000000ull, 4096, 0x100, 0), FASTIOMMU_ERR_INVALID_PROTECTION);
    EXPECT_STATUS(fastiommu_page_table_map(table, 0x20000, 0x90000000ull, 4096, rw, 7), FASTIOMMU_ERR_INVALID_PROTECTION);
    EXPECT_STATUS(fastiommu_page_table_map(table, 1ull << 50, 0x90000000ull, 4096, rw, 0), FASTIOMMU_ERR_IOVA_OUT_OF_RANGE);
    EXPECT_STATUS(fastiommu_page_table_map(table, 0x20000, 1ull << 60, 4096, rw, 0), FASTIOMMU_ERR_PA_OUT_OF_RANGE);
    EXPECT_STATUS(fastiommu_page_table_unmap(table, 0x10000, 4096, (fastiommu_gather){ 0 }, NULL), FASTIOMMU_ERR_INVALID_HANDLE);
    EXPECT_STATUS(fastiommu_page_table_read_and_clear_dirty(table, 0x10000, 4 * 4096, NULL, 1, NULL),
                  FASTIOMMU_ERR_INVALID_ARGUMENT);

    /* A 2 MiB leaf cannot be cut; the allocator runs out (8 pages: root + a few tables), changing nothing. */
    OK(fastiommu_page_table_map(table, 0x200000, 0x90200000ull, 0x200000, rw, 0));
    EXPECT_STATUS(fastiommu_page_table_unmap(table, 0x200000, 4096, gather, NULL), FASTIOMMU_ERR_PARTIAL_SUPERPAGE);
    uint64_t in_use = 0, in_use_after = 0;
    OK(fastiommu_allocator_stats(allocator, NULL, &in_use));
    fastiommu_status st = FASTIOMMU_OK;
    for (uint64_t i = 1; i < 16 && st == FASTIOMMU_OK; i++) {
        st = fastiommu_page_table_map(table, i << 39, 0x90000000ull, 4096, rw, 0); /* each needs 3 new tables */
    }
    CHECK(st == FASTIOMMU_ERR_OUT_OF_MEMORY, "the allocator ran out: %s", fastiommu_status_name(st));
    OK(fastiommu_allocator_stats(allocator, NULL, &in_use_after));
    CHECK(in_use_after <= 8, "never more pages than the window: %" PRIu64, in_use_after);
    EXPECT_STATUS(fastiommu_allocator_alloc_block(allocator, &pa), FASTIOMMU_ERR_OUT_OF_MEMORY);

    /* Double free and foreign pages. */
    fastiommu_allocator spare;
    OK(fastiommu_allocator_create(memory, 0x80000000ull + 16 * 4096, 16 * 4096, &spare));
    OK(fastiommu_allocator_alloc_page(spare, &pa));
    OK(fastiommu_allocator_free_page(spare, pa));
    EXPECT_STATUS(fastiommu_allocator_free_page(spare, pa), FASTIOMMU_ERR_INVALID_ARGUMENT);
    EXPECT_STATUS(fastiommu_allocator_free_page(spare, 0x80000000ull), FASTIOMMU_ERR_INVALID_ARGUMENT);
    EXPECT_STATUS(fastiommu_allocator_free_block(spare, pa + 4096), FASTIOMMU_ERR_INVALID_ARGUMENT);

    /* Lenders refuse destruction while borrowed; a gather holding work refuses too. */
    EXPECT_STATUS(fastiommu_memory_destroy(memory), FASTIOMMU_ERR_IN_USE);
    EXPECT_STATUS(fastiommu_allocator_destroy(allocator), FASTIOMMU_ERR_IN_USE);
    uint64_t unmapped = 0;
    OK(fastiommu_page_table_unmap(table, 0x10000, 4 * 4096, gather, &unmapped));
    EXPECT_STATUS(fastiommu_gather_destroy(gather), FASTIOMMU_ERR_IN_USE);
    OK(fastiommu_gather_complete(gather));

    /* The device: bad config, bad offsets, bad request. */
    fastiommu_iommu_config config = { .struct_size = sizeof config, .capabilities = test_capabilities() };
    fastiommu_iommu_config small = config;
    small.struct_size = 8;
    EXPECT_STATUS(fastiommu_iommu_create(memory, &small, &iommu), FASTIOMMU_ERR_INVALID_ARGUMENT);
    fastiommu_iommu_config bad_pas = config;
    bad_pas.capabilities &= ~RISCV_IOMMU_CAPABILITIES_PAS_MASK;
    EXPECT_STATUS(fastiommu_iommu_create(memory, &bad_pas, &iommu), FASTIOMMU_ERR_INVALID_ARGUMENT);
    fastiommu_iommu_config bad_cache = config;
    bad_cache.iotlb_entries = 3;
    EXPECT_STATUS(fastiommu_iommu_create(memory, &bad_cache, &iommu), FASTIOMMU_ERR_INVALID_ARGUMENT);
    EXPECT_STATUS(fastiommu_iommu_create(memory, NULL, &iommu), FASTIOMMU_ERR_INVALID_ARGUMENT);
    OK(fastiommu_iommu_create(memory, &config, &iommu));
    uint32_t value32 = 0;
    uint64_t value64 = 0;
    EXPECT_STATUS(fastiommu_iommu_read64(iommu, 4, &value64), FASTIOMMU_ERR_INVALID_ARGUMENT);
    EXPECT_STATUS(fastiommu_iommu_read32(iommu, 4096, &value32), FASTIOMMU_ERR_INVALID_ARGUMENT);
    EXPECT_STATUS(fastiommu_iommu_write32(iommu, 2, 0), FASTIOMMU_ERR_INVALID_ARGUMENT);
    EXPECT_STATUS(fastiommu_iommu_read32(iommu, 0, NULL), FASTIOMMU_ERR_INVALID_ARGUMENT);
    EXPECT_STATUS(fastiommu_iommu_translate(iommu, NULL, &response), FASTIOMMU_ERR_INVALID_ARGUMENT);
    request.access = 7;
    EXPECT_STATUS(fastiommu_iommu_translate(iommu, &request, &response), FASTIOMMU_ERR_INVALID_ARGUMENT);
    request.access = FASTIOMMU_ACCESS_READ;
    OK(fastiommu_iommu_translate(iommu, &request, &response));
    CHECK(!(response.flags & FASTIOMMU_RESP_SUCCESS) && response.cause == RISCV_IOMMU_FAULT_CAUSE_ALL_INBOUND_TRANSACTIONS_DISALLOWED,
          "an Off IOMMU faults every request (a fault is a response, not an error): cause %u", response.cause);

    /* The last error is per thread. */
    int clean = 0;
    pthread_t thread;
    pthread_create(&thread, NULL, other_thread, &clean);
    pthread_join(thread, NULL);
    CHECK(clean, "another thread's last error is empty");

    /* Use after destroy, also once the slot is reused by a new object. */
    OK(fastiommu_iommu_destroy(iommu));
    EXPECT_STATUS(fastiommu_iommu_translate(iommu, &request, &response), FASTIOMMU_ERR_INVALID_HANDLE);
    EXPECT_STATUS(fastiommu_iommu_destroy(iommu), FASTIOMMU_ERR_INVALID_HANDLE);
    OK(fastiommu_page_table_destroy(table));
    EXPECT_STATUS(fastiommu_page_table_map(table, 0x10000, 0x90000000ull, 4096, rw, 0), FASTIOMMU_ERR_INVALID_HANDLE);
    fastiommu_page_table reused;
    OK(fastiommu_page_table_create(allocator, FASTIOMMU_MODE_SV39, 0, &reused));
    CHECK((uint32_t)reused.id == (uint32_t)table.id && reused.id != table.id,
          "the slot is reused with a new generation: 0x%" PRIx64 " after 0x%" PRIx64, reused.id, table.id);
    EXPECT_STATUS(fastiommu_page_table_iova_to_phys(table, 0x200000, &pa), FASTIOMMU_ERR_INVALID_HANDLE);
    OK(fastiommu_page_table_map(reused, 0x10000, 0x90000000ull, 4096, rw, 0));
    OK(fastiommu_page_table_destroy(reused));
    OK(fastiommu_gather_destroy(gather));
    EXPECT_STATUS(fastiommu_gather_complete(gather), FASTIOMMU_ERR_INVALID_HANDLE);
    OK(fastiommu_allocator_destroy(spare));
    OK(fastiommu_allocator_destroy(allocator));
    EXPECT_STATUS(fastiommu_allocator_alloc_page(allocator, &pa), FASTIOMMU_ERR_INVALID_HANDLE);
    OK(fastiommu_memory_destroy(memory));
    EXPECT_STATUS(fastiommu_memory_read(memory, 0x80000000ull, &pa, 8), FASTIOMMU_ERR_INVALID_HANDLE);
    EXPECT_STATUS(fastiommu_memory_destroy(memory), FASTIOMMU_ERR_INVALID_HANDLE);

    printf("test_errors: %s (%d failures)\n", failures ? "FAILED" : "passed", failures);
    return failures != 0;
}
