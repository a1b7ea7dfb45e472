/* Guest memory that is not one flat block: two RAM banks with a hole between, reached only through the
 * emulator's callbacks. The device model finds its DDT in the low bank and its page tables in the high one,
 * sets A/D through the compare-and-swap callback, and reports a table pointer into the hole as an access fault.
 *
 * low bank 1 MiB at 0x8000_0000: 0x8000_1000 CQ, 0x8000_2000 FQ, 0x8001_0000 DDT, 0x8004_0000 data page
 * high bank 1 MiB at 0x1_0000_0000: 0x1_0000_0000 Sv39 root, 0x1_0000_1000 L1, 0x1_0000_2000 L0
 * hole: everything else (an L1 entry points at 0xC000_0000). */
static int failures;
#include "test_support.h"

#define LOW 0x80000000ull
#define HIGH 0x100000000ull
#define BANK (1ull << 20)

struct bus {
    uint8_t *low;
    uint8_t *high;
    long reads, writes, cas;
};

static uint8_t *locate(struct bus *bus, uint64_t pa, uint64_t length)
{
    if (pa >= LOW && pa - LOW <= BANK && length <= BANK - (pa - LOW)) {
        return bus->low + (pa - LOW);
    }
    if (pa >= HIGH && pa - HIGH <= BANK && length <= BANK - (pa - HIGH)) {
        return bus->high + (pa - HIGH);
    }
    return NULL;
}

static int bus_read(void *context, uint64_t pa, void *destination, uint64_t length)
{
    struct bus *bus = context;
    uint8_t *p = locate(bus, pa, length);
    __atomic_add_fetch(&bus->reads, 1, __ATOMIC_RELAXED);
    if (!p) {
        return 1;
    }
    if (length == 8) {
        uint64_t v = __atomic_load_n((uint64_t *)p, __ATOMIC_ACQUIRE); /* single-copy atomic, as the API asks */
        memcpy(destination, &v, 8);
    } else {
        memcpy(destination, p, length);
    }
    return 0;
}

static int bus_write(void *context, uint64_t pa, const void *source, uint64_t length)
{
    struct bus *bus = context;
    uint8_t *p = locate(bus, pa, length);
    __atomic_add_fetch(&bus->writes, 1, __ATOMIC_RELAXED);
    if (!p) {
        return 1;
    }
    if (length == 8) {
        uint64_t v;
        memcpy(&v, source, 8);
        __atomic_store_n((uint64_t *)p, v, __ATOMIC_RELEASE);
    } else {
        memcpy(p, source, length);
    }
    return 0;
}

static int bus_cas(void *context, uint64_t pa, uint64_t expected, uint64_t desired, uint64_t *observed)
{
    struct bus *bus = context;
    uint64_t *p = (uint64_t *)locate(bus, pa, 8);
    __atomic_add_fetch(&bus->cas, 1, __ATOMIC_RELAXED);
    if (!p) {
        return 1;
    }
    __atomic_compare_exchange_n(p, &expected, desired, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
    *observed = expected; /* on failure the builtin wrote the value found into expected */
    return 0;
}

static uint64_t *word(struct bus *bus, uint64_t pa)
{
    return (uint64_t *)locate(bus, pa, 8);
}

int main(void)
{
    struct bus bus = { aligned_alloc(4096, BANK), aligned_alloc(4096, BANK), 0, 0, 0 };
    memset(bus.low, 0, BANK);
    memset(bus.high, 0, BANK);

    const uint64_t root = HIGH, l1 = HIGH + 0x1000, l0 = HIGH + 0x2000, page = LOW + 0x40000, ddt = LOW + 0x10000;
    const uint64_t iova = 0x40001000ull, iova_hole = 0x40200000ull;
    word(&bus, root)[1] = pte_of(l1, RISCV_IOMMU_PTE_V);                     /* VPN[2] = 1 */
    word(&bus, l1)[0] = pte_of(l0, RISCV_IOMMU_PTE_V);                       /* VPN[1] = 0 */
    word(&bus, l1)[1] = pte_of(0xC0000000ull, RISCV_IOMMU_PTE_V);             /* VPN[1] = 1: a table in the hole */
    word(&bus, l0)[1] = pte_of(page, RISCV_IOMMU_PTE_V | RISCV_IOMMU_PTE_U | RISCV_IOMMU_PTE_R | RISCV_IOMMU_PTE_W); /* A, D clear */
    struct riscv_iommu_device_context *dc = (struct riscv_iommu_device_context *)(bus.low + (ddt - LOW) + 5 * 32);
    dc->tc = (1ull << RISCV_IOMMU_DEVICE_CONTEXT_TC_V_BIT) | RISCV_IOMMU_DEVICE_CONTEXT_TC_SADE_MASK;
    dc->ta = (uint64_t)0x12 << RISCV_IOMMU_DEVICE_CONTEXT_TA_PSCID_SHIFT;
    dc->fsc = ((uint64_t)RISCV_IOMMU_IOSATP_MODE_SV39 << RISCV_IOMMU_IOSATP_MODE_SHIFT) | (root >> 12);

    fastiommu_memory_callbacks callbacks = { &bus, bus_read, bus_write, bus_cas };
    fastiommu_memory memory;
    OK(fastiommu_memory_create_callbacks(&callbacks, &memory));
    fastiommu_iommu_config config = { .struct_size = sizeof config, .capabilities = test_capabilities() };
    struct test_driver driver = { .memory = memory, .cq_base = LOW + 0x1000, .fq_base = LOW + 0x2000 };
    OK(fastiommu_iommu_create(memory, &config, &driver.iommu));
    failures += test_driver_start(&driver, ddt);

    long reads_before = bus.reads;
    fastiommu_translate_response r = test_translate(driver.iommu, 5, iova + 8, FASTIOMMU_ACCESS_WRITE, &failures);
    CHECK((r.flags & FASTIOMMU_RESP_SUCCESS) && r.pa == page + 8, "translated through the callbacks: flags 0x%x PA 0x%" PRIx64
          " cause %u", r.flags, r.pa, r.cause);
    CHECK(bus.reads - reads_before >= 4, "the DC and three levels were read through the read callback: %ld reads",
          bus.reads - reads_before);
    CHECK(bus.cas >= 1, "A/D were set by the compare-and-swap callback: %ld", bus.cas);
    uint64_t leaf = word(&bus, l0)[1];
    CHECK((leaf & (RISCV_IOMMU_PTE_A | RISCV_IOMMU_PTE_D)) == (RISCV_IOMMU_PTE_A | RISCV_IOMMU_PTE_D),
          "the leaf in the high bank has A and D: 0x%" PRIx64, leaf);

    r = test_translate(driver.iommu, 5, iova_hole, FASTIOMMU_ACCESS_READ, &failures);
    CHECK(!(r.flags & FASTIOMMU_RESP_SUCCESS) && r.cause == RISCV_IOMMU_FAULT_CAUSE_READ_ACCESS_FAULT,
          "a table in the hole is an access fault: cause %u", r.cause);
    uint32_t fqt = 0;
    OK(fastiommu_iommu_read32(driver.iommu, RISCV_IOMMU_REG_FQT, &fqt));
    struct riscv_iommu_fault_record record;
    OK(fastiommu_memory_read(memory, driver.fq_base, &record, sizeof record));
    CHECK(fqt == 1 && (record.dword0 & RISCV_IOMMU_FAULT_RECORD_CAUSE_MASK) == RISCV_IOMMU_FAULT_CAUSE_READ_ACCESS_FAULT,
          "its record went to the fault queue through the write callback: fqt %u dword0 0x%" PRIx64, fqt, record.dword0);

    /* Allocators and page tables need a pointer: refused over callbacks, with a status. */
    fastiommu_allocator allocator;
    EXPECT_STATUS(fastiommu_allocator_create(memory, LOW, BANK, &allocator), FASTIOMMU_ERR_UNSUPPORTED);
    void *host = NULL;
    EXPECT_STATUS(fastiommu_memory_host_pointer(memory, LOW, &host), FASTIOMMU_ERR_UNSUPPORTED);

    OK(fastiommu_iommu_destroy(driver.iommu));
    OK(fastiommu_memory_destroy(memory));
    free(bus.low);
    free(bus.high);
    printf("test_callbacks: %s (%d failures)\n", failures ? "FAILED" : "passed", failures);
    return failures != 0;
}
