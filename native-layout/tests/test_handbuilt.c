/* C builds page tables by hand with riscv_iommu.h's macros, in its own RAM, and the library's device model walks
 * them: an Sv39 first stage with a 4 KiB leaf (A clear, so the device must set it: DC.tc.SADE), a 2 MiB superpage
 * and a misaligned superpage (a page fault); and an Sv39x4 G-stage with its 16 KiB root. Nothing here comes from
 * the library's own table builder, so the header's bit positions are checked against the walker.
 *
 * RAM, 2 MiB at 0x8000_0000: 0x8000_1000 CQ, 0x8000_2000 FQ, 0x8001_0000 DDT, 0x8002_0000 Sv39 root,
 * 0x8002_1000 L1, 0x8002_2000 L0, 0x8003_0000 Sv39x4 root (16 KiB), 0x8003_4000 L1, 0x8003_5000 L0,
 * 0x8004_0000 data page; the 2 MiB superpage maps to 0x8020_0000 (outside RAM: translation does not read it). */
static int failures;
#include "test_support.h"

#define RAM_BASE 0x80000000ull
#define RAM_SIZE (2ull << 20)
#define DDT 0x80010000ull
#define ROOT 0x80020000ull
#define L1 0x80021000ull
#define L0 0x80022000ull
#define GROOT 0x80030000ull
#define GL1 0x80034000ull
#define GL0 0x80035000ull
#define PAGE 0x80040000ull

static uint8_t *ram;

static uint64_t *at(uint64_t pa)
{
    return (uint64_t *)(ram + (pa - RAM_BASE));
}

/* Index of the IOVA in the table of a level: VPN[level] = iova bits 12 + 9 * level (9 bits; 11 at an x4 root). */
static unsigned vpn(uint64_t iova, int level, int bits)
{
    return (unsigned)((iova >> (12 + 9 * level)) & ((1u << bits) - 1));
}

static void write_dc(uint32_t device_id, uint64_t tc, uint64_t iohgatp, uint64_t ta, uint64_t fsc)
{
    struct riscv_iommu_device_context *dc = (struct riscv_iommu_device_context *)at(DDT + device_id * sizeof *dc);
    dc->iohgatp = iohgatp;
    dc->ta = ta;
    dc->fsc = fsc;
    dc->tc = tc;
}

int main(void)
{
    ram = aligned_alloc(4096, RAM_SIZE);
    memset(ram, 0, RAM_SIZE);
    const uint64_t pointer = RISCV_IOMMU_PTE_V;
    const uint64_t leaf_rw = RISCV_IOMMU_PTE_V | RISCV_IOMMU_PTE_U | RISCV_IOMMU_PTE_R | RISCV_IOMMU_PTE_W | RISCV_IOMMU_PTE_A | RISCV_IOMMU_PTE_D;

    /* Sv39: IOVA 0x4000_1000 -> PAGE through root / L1 / L0, its leaf without A (and without D). */
    const uint64_t iova4k = 0x40001000ull;
    at(ROOT)[vpn(iova4k, 2, 9)] = pte_of(L1, pointer);
    at(L1)[vpn(iova4k, 1, 9)] = pte_of(L0, pointer);
    at(L0)[vpn(iova4k, 0, 9)] = pte_of(PAGE, RISCV_IOMMU_PTE_V | RISCV_IOMMU_PTE_U | RISCV_IOMMU_PTE_R | RISCV_IOMMU_PTE_W);
    /* A 2 MiB leaf at level 1: IOVA 0x4020_0000 -> 0x8020_0000. */
    const uint64_t iova2m = 0x40200000ull;
    at(L1)[vpn(iova2m, 1, 9)] = pte_of(0x80200000ull, leaf_rw);
    /* A misaligned 2 MiB leaf (PPN[0] != 0): the spec makes it a page fault. */
    const uint64_t iova_bad = 0x40400000ull;
    at(L1)[vpn(iova_bad, 1, 9)] = pte_of(0x80201000ull, leaf_rw);

    /* Sv39x4: GPA 0x1_0000_3000 (VPN[2] = 4 uses the widened root) -> PAGE. */
    const uint64_t gpa = 0x100003000ull;
    at(GROOT)[vpn(gpa, 2, 11)] = pte_of(GL1, pointer);
    at(GL1)[vpn(gpa, 1, 9)] = pte_of(GL0, pointer);
    at(GL0)[vpn(gpa, 0, 9)] = pte_of(PAGE, leaf_rw);

    const uint64_t valid = 1ull << RISCV_IOMMU_DEVICE_CONTEXT_TC_V_BIT;
    write_dc(5, valid | RISCV_IOMMU_DEVICE_CONTEXT_TC_SADE_MASK, 0, (uint64_t)0x77 << RISCV_IOMMU_DEVICE_CONTEXT_TA_PSCID_SHIFT,
             ((uint64_t)RISCV_IOMMU_IOSATP_MODE_SV39 << RISCV_IOMMU_IOSATP_MODE_SHIFT) | (ROOT >> 12));
    write_dc(8, valid,
             ((uint64_t)RISCV_IOMMU_IOHGATP_MODE_SV39X4 << RISCV_IOMMU_IOHGATP_MODE_SHIFT)
                 | ((uint64_t)0x55 << RISCV_IOMMU_IOHGATP_GSCID_SHIFT) | (GROOT >> 12),
             0, 0);

    fastiommu_memory memory;
    OK(fastiommu_memory_wrap(ram, RAM_SIZE, RAM_BASE, &memory));
    fastiommu_iommu_config config = { .struct_size = sizeof config, .capabilities = test_capabilities() };
    struct test_driver driver = { .memory = memory, .cq_base = 0x80001000ull, .fq_base = 0x80002000ull };
    OK(fastiommu_iommu_create(memory, &config, &driver.iommu));
    failures += test_driver_start(&driver, DDT);

    fastiommu_translate_response r = test_translate(driver.iommu, 5, iova4k + 0x10, FASTIOMMU_ACCESS_READ, &failures);
    CHECK((r.flags & FASTIOMMU_RESP_SUCCESS) && r.pa == PAGE + 0x10 && r.page_size == 4096,
          "4 KiB leaf: flags 0x%x PA 0x%" PRIx64 " size 0x%" PRIx64 " cause %u", r.flags, r.pa, r.page_size, r.cause);
    uint64_t leaf = at(L0)[vpn(iova4k, 0, 9)];
    CHECK((leaf & RISCV_IOMMU_PTE_A) && !(leaf & RISCV_IOMMU_PTE_D), "the read set A only: PTE 0x%" PRIx64, leaf);
    r = test_translate(driver.iommu, 5, iova4k, FASTIOMMU_ACCESS_WRITE, &failures);
    leaf = at(L0)[vpn(iova4k, 0, 9)];
    CHECK((r.flags & FASTIOMMU_RESP_SUCCESS) && (leaf & RISCV_IOMMU_PTE_D), "the write set D: PTE 0x%" PRIx64, leaf);
    CHECK(((leaf & RISCV_IOMMU_PTE_PPN_MASK) >> RISCV_IOMMU_PTE_PPN_SHIFT) == PAGE >> 12, "PPN untouched: 0x%" PRIx64, leaf);

    r = test_translate(driver.iommu, 5, iova2m + 0x12345, FASTIOMMU_ACCESS_READ, &failures);
    CHECK((r.flags & FASTIOMMU_RESP_SUCCESS) && r.pa == 0x80212345ull && r.page_size == 2ull << 20,
          "2 MiB leaf: PA 0x%" PRIx64 " size 0x%" PRIx64, r.pa, r.page_size);
    r = test_translate(driver.iommu, 5, iova_bad, FASTIOMMU_ACCESS_READ, &failures);
    CHECK(!(r.flags & FASTIOMMU_RESP_SUCCESS) && r.cause == RISCV_IOMMU_FAULT_CAUSE_READ_PAGE_FAULT,
          "misaligned superpage faults: cause %u", r.cause);
    r = test_translate(driver.iommu, 5, 0x40600000ull, FASTIOMMU_ACCESS_READ, &failures);
    CHECK(!(r.flags & FASTIOMMU_RESP_SUCCESS) && r.cause == RISCV_IOMMU_FAULT_CAUSE_READ_PAGE_FAULT,
          "an invalid entry faults: cause %u", r.cause);

    r = test_translate(driver.iommu, 8, gpa + 0x80, FASTIOMMU_ACCESS_WRITE, &failures);
    CHECK((r.flags & FASTIOMMU_RESP_SUCCESS) && r.pa == PAGE + 0x80,
          "G-stage Sv39x4 through the widened root: flags 0x%x PA 0x%" PRIx64 " cause %u", r.flags, r.pa, r.cause);
    r = test_translate(driver.iommu, 8, 0x40001000ull, FASTIOMMU_ACCESS_READ, &failures);
    CHECK(!(r.flags & FASTIOMMU_RESP_SUCCESS) && r.cause == RISCV_IOMMU_FAULT_CAUSE_READ_GUEST_PAGE_FAULT
              && (r.iotval2 >> 2) == (0x40001000ull >> 2),
          "an unmapped GPA is a guest-page fault with the GPA in iotval2: cause %u iotval2 0x%" PRIx64, r.cause, r.iotval2);

    /* The debug translation interface reads the same hand-built table (tr_req_iova, tr_req_ctl, tr_response). */
    OK(fastiommu_iommu_write64(driver.iommu, RISCV_IOMMU_REG_TR_REQ_IOVA, iova2m));
    OK(fastiommu_iommu_write64(driver.iommu, RISCV_IOMMU_REG_TR_REQ_CTL,
                               RISCV_IOMMU_TR_REQ_CTL_GO_BUSY_MASK | ((uint64_t)5 << RISCV_IOMMU_TR_REQ_CTL_DID_SHIFT)));
    uint64_t response = 0;
    OK(fastiommu_iommu_read64(driver.iommu, RISCV_IOMMU_REG_TR_RESPONSE, &response));
    CHECK(!(response & RISCV_IOMMU_TR_RESPONSE_FAULT_MASK) && (response & RISCV_IOMMU_TR_RESPONSE_S_MASK),
          "tr_response: a superpage translation, 0x%" PRIx64, response);

    OK(fastiommu_iommu_destroy(driver.iommu));
    OK(fastiommu_memory_destroy(memory));
    free(ram);
    printf("test_handbuilt: %s (%d failures)\n", failures ? "FAILED" : "passed", failures);
    return failures != 0;
}
