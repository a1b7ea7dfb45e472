/* The header's thread rules, exercised from C threads: two threads translate a stable range through one device
 * (IOTLB on) and each checks every result, while the main thread maps, unmaps and invalidates another range of the
 * same table through the command queue, and a fourth thread fails calls on purpose to show last_error is its own.
 * Bounded by iteration counts, not time. */
static int failures;
#include "test_support.h"

#include <pthread.h>

#define RAM_BASE 0x80000000ull
#define RAM_SIZE (8ull << 20)
#define DDT (RAM_BASE + 0x10000)
#define DATA (RAM_BASE + 0x400000)
#define STABLE 0x40000000ull /* 64 pages, never touched after setup */
#define CHURN 0x50000000ull  /* mapped and unmapped by the main thread */
#define ROUNDS 200000

static fastiommu_iommu iommu;
static int stop;

struct reader {
    unsigned seed;
    long translated, wrong;
};

static void *read_stable(void *arg)
{
    struct reader *r = arg;
    for (int i = 0; i < ROUNDS; i++) {
        r->seed = r->seed * 1103515245u + 12345u;
        uint64_t page = (r->seed >> 8) % 64;
        fastiommu_translate_request request = { .iova = STABLE + page * 4096 + 8, .device_id = 5, .access = FASTIOMMU_ACCESS_READ };
        fastiommu_translate_response response;
        if (fastiommu_iommu_translate(iommu, &request, &response) != FASTIOMMU_OK || !(response.flags & FASTIOMMU_RESP_SUCCESS)
            || response.pa != DATA + page * 4096 + 8) {
            r->wrong++;
        }
        r->translated++;
    }
    return NULL;
}

static void *fail_on_purpose(void *arg)
{
    int *ok = arg;
    fastiommu_memory none = { 0 };
    uint64_t value;
    while (!__atomic_load_n(&stop, __ATOMIC_ACQUIRE)) {
        if (fastiommu_memory_read(none, 0, &value, 8) != FASTIOMMU_ERR_INVALID_HANDLE
            || strncmp(fastiommu_last_error(), "FASTIOMMU_ERR_INVALID_HANDLE", 28) != 0) {
            *ok = 0;
        }
    }
    return NULL;
}

int main(void)
{
    uint8_t *ram = aligned_alloc(4096, RAM_SIZE);
    memset(ram, 0, RAM_SIZE);
    fastiommu_memory memory;
    fastiommu_allocator allocator;
    fastiommu_page_table table;
    fastiommu_gather gather;
    OK(fastiommu_memory_wrap(ram, RAM_SIZE, RAM_BASE, &memory));
    OK(fastiommu_allocator_create(memory, RAM_BASE + 0x100000, 0x200000, &allocator));
    OK(fastiommu_page_table_create(allocator, FASTIOMMU_MODE_SV39, 0, &table));
    OK(fastiommu_gather_create(&gather));
    const uint32_t prot = FASTIOMMU_PROT_READ | FASTIOMMU_PROT_WRITE | FASTIOMMU_PROT_USER;
    OK(fastiommu_page_table_map(table, STABLE, DATA, 64 * 4096, prot, 0));
    uint64_t root = 0;
    OK(fastiommu_page_table_root(table, &root));
    struct riscv_iommu_device_context *dc = (struct riscv_iommu_device_context *)(ram + (DDT - RAM_BASE) + 5 * 32);
    dc->ta = (uint64_t)9 << RISCV_IOMMU_DEVICE_CONTEXT_TA_PSCID_SHIFT;
    dc->fsc = ((uint64_t)RISCV_IOMMU_IOSATP_MODE_SV39 << RISCV_IOMMU_IOSATP_MODE_SHIFT) | (root >> 12);
    dc->tc = 1ull << RISCV_IOMMU_DEVICE_CONTEXT_TC_V_BIT;
    fastiommu_iommu_config config = { .struct_size = sizeof config, .capabilities = test_capabilities() };
    struct test_driver driver = { .memory = memory, .cq_base = RAM_BASE + 0x1000, .fq_base = RAM_BASE + 0x2000 };
    OK(fastiommu_iommu_create(memory, &config, &driver.iommu));
    iommu = driver.iommu;
    failures += test_driver_start(&driver, DDT);

    struct reader readers[2] = { { 1, 0, 0 }, { 2, 0, 0 } };
    int own_error_ok = 1;
    pthread_t threads[3];
    pthread_create(&threads[0], NULL, read_stable, &readers[0]);
    pthread_create(&threads[1], NULL, read_stable, &readers[1]);
    pthread_create(&threads[2], NULL, fail_on_purpose, &own_error_ok);

    /* Meanwhile: map, unmap and invalidate the churn range (tables come and go beside the stable range's). */
    long churned = 0;
    for (int round = 0; round < 2000; round++) {
        uint64_t unmapped = 0;
        OK(fastiommu_page_table_map(table, CHURN, DATA + 0x100000, 16 * 4096, prot, 0));
        fastiommu_translate_request request = { .iova = CHURN + 0x3008, .device_id = 5, .access = FASTIOMMU_ACCESS_WRITE };
        fastiommu_translate_response response;
        OK(fastiommu_iommu_translate(iommu, &request, &response));
        CHECK((response.flags & FASTIOMMU_RESP_SUCCESS) && response.pa == DATA + 0x103008, "round %d: the fresh mapping "
              "translates (flags 0x%x cause %u)", round, response.flags, response.cause);
        OK(fastiommu_page_table_unmap(table, CHURN, 16 * 4096, gather, &unmapped));
        failures += test_driver_queue(&driver, cmd_iotinval_vma(9, 0), 0);
        failures += test_driver_queue(&driver, cmd_iofence(0, 0), 0);
        failures += test_driver_submit(&driver);
        OK(fastiommu_gather_complete(gather));
        OK(fastiommu_iommu_translate(iommu, &request, &response));
        CHECK(!(response.flags & FASTIOMMU_RESP_SUCCESS), "round %d: after the invalidation it faults", round);
        churned += (long)unmapped;
    }
    pthread_join(threads[0], NULL);
    pthread_join(threads[1], NULL);
    __atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
    pthread_join(threads[2], NULL);

    CHECK(readers[0].wrong == 0 && readers[1].wrong == 0, "every stable translation was right: %ld and %ld wrong",
          readers[0].wrong, readers[1].wrong);
    CHECK(readers[0].translated == ROUNDS && readers[1].translated == ROUNDS, "all translations ran");
    CHECK(churned == 2000 * 16 * 4096, "every churn round unmapped its 16 pages: %ld bytes", churned);
    CHECK(own_error_ok, "the failing thread always saw its own last error");
    CHECK(strcmp(fastiommu_last_error(), "") == 0, "the main thread's last error is untouched by the failing thread: \"%s\"",
          fastiommu_last_error());

    OK(fastiommu_iommu_destroy(iommu));
    OK(fastiommu_gather_destroy(gather));
    OK(fastiommu_page_table_destroy(table));
    OK(fastiommu_allocator_destroy(allocator));
    OK(fastiommu_memory_destroy(memory));
    free(ram);
    printf("test_threads: %s (%d failures)\n", failures ? "FAILED" : "passed", failures);
    return failures != 0;
}
