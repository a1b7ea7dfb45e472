/* What the C tests share: CHECK (count a failure, say where, go on), OK (a call must return FASTIOMMU_OK; prints
 * fastiommu_last_error() when not), the capabilities the tests give the device, and a driver-side view of a
 * device (queues in guest RAM, commands written by the test itself). Each test file defines `static int failures;`
 * before including this. */
#ifndef FASTIOMMU_TEST_SUPPORT_H
#define FASTIOMMU_TEST_SUPPORT_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fastiommu.h"
#include "riscv_iommu.h"

#define CHECK(cond, ...)                                                                                               \
    do {                                                                                                               \
        if (!(cond)) {                                                                                                 \
            failures++;                                                                                                \
            fprintf(stderr, "%s:%d: FAILED %s: ", __FILE__, __LINE__, #cond);                                          \
            fprintf(stderr, __VA_ARGS__);                                                                              \
            fputc('\n', stderr);                                                                                       \
        }                                                                                                              \
    } while (0)

#define OK(call)                                                                                                       \
    do {                                                                                                               \
        fastiommu_status ok_status_ = (call);                                                                          \
        CHECK(ok_status_ == FASTIOMMU_OK, "%s returned %s (%s)", #call, fastiommu_status_name(ok_status_),             \
              fastiommu_last_error());                                                                                 \
    } while (0)

/* The status a call must return. */
#define EXPECT_STATUS(call, expected)                                                                                  \
    do {                                                                                                               \
        fastiommu_status st_ = (call);                                                                                 \
        CHECK(st_ == (expected), "%s returned %s, expected %s (%s)", #call, fastiommu_status_name(st_),                \
              fastiommu_status_name(expected), fastiommu_last_error());                                                \
    } while (0)

/* v1.0; Sv39/48/57 and x4; A/D updates; DBG; PAS 56; PD8/17/20; MSI and WSI. */
static inline uint64_t test_capabilities(void)
{
    return 0x10ull | (1ull << RISCV_IOMMU_CAPABILITIES_SV39_BIT) | (1ull << RISCV_IOMMU_CAPABILITIES_SV48_BIT)
           | (1ull << RISCV_IOMMU_CAPABILITIES_SV57_BIT) | (1ull << RISCV_IOMMU_CAPABILITIES_SV39X4_BIT)
           | (1ull << RISCV_IOMMU_CAPABILITIES_SV48X4_BIT) | (1ull << RISCV_IOMMU_CAPABILITIES_SV57X4_BIT)
           | (1ull << RISCV_IOMMU_CAPABILITIES_AMO_HWAD_BIT) | (1ull << RISCV_IOMMU_CAPABILITIES_DBG_BIT)
           | (2ull << RISCV_IOMMU_CAPABILITIES_IGS_SHIFT) | (56ull << RISCV_IOMMU_CAPABILITIES_PAS_SHIFT)
           | (1ull << RISCV_IOMMU_CAPABILITIES_PD8_BIT) | (1ull << RISCV_IOMMU_CAPABILITIES_PD17_BIT)
           | (1ull << RISCV_IOMMU_CAPABILITIES_PD20_BIT);
}

static inline uint64_t pte_of(uint64_t pa, uint64_t flags)
{
    return ((pa >> 12) << RISCV_IOMMU_PTE_PPN_SHIFT) | flags;
}

/* The driver's side of one device: where its queues are, and the command-queue tail it owns. */
struct test_driver {
    fastiommu_iommu iommu;
    fastiommu_memory memory;
    uint64_t cq_base; /* 64 commands */
    uint64_t fq_base; /* 64 records */
    uint32_t cq_tail;
};

/* ddtp = 1LVL at ddt, command and fault queues of 64 entries on, as a driver brings the IOMMU up. */
static inline int test_driver_start(struct test_driver *driver, uint64_t ddt)
{
    int failures = 0;
    fastiommu_iommu iommu = driver->iommu;
    uint64_t log2sz_minus1 = 5; /* 64 entries */
    /* Wired interrupts (fctl.WSI, only while Off with the queues off): no MSI table to set up, the callback still
     * sees every ipsr edge. */
    OK(fastiommu_iommu_write32(iommu, RISCV_IOMMU_REG_FCTL, RISCV_IOMMU_FCTL_WSI_MASK));
    OK(fastiommu_iommu_write64(iommu, RISCV_IOMMU_REG_DDTP,
                               ((uint64_t)RISCV_IOMMU_DDTP_MODE_ONE_LEVEL << RISCV_IOMMU_DDTP_IOMMU_MODE_SHIFT)
                                   | ((ddt >> 12) << RISCV_IOMMU_DDTP_PPN_SHIFT)));
    OK(fastiommu_iommu_write64(iommu, RISCV_IOMMU_REG_CQB,
                               ((driver->cq_base >> 12) << RISCV_IOMMU_QUEUE_BASE_PPN_SHIFT) | log2sz_minus1));
    OK(fastiommu_iommu_write32(iommu, RISCV_IOMMU_REG_CQCSR, RISCV_IOMMU_CQCSR_CQEN_MASK));
    OK(fastiommu_iommu_write64(iommu, RISCV_IOMMU_REG_FQB,
                               ((driver->fq_base >> 12) << RISCV_IOMMU_QUEUE_BASE_PPN_SHIFT) | log2sz_minus1));
    OK(fastiommu_iommu_write32(iommu, RISCV_IOMMU_REG_FQCSR, RISCV_IOMMU_FQCSR_FQEN_MASK | RISCV_IOMMU_FQCSR_FIE_MASK));
    uint32_t cqcsr = 0, fqcsr = 0;
    OK(fastiommu_iommu_read32(iommu, RISCV_IOMMU_REG_CQCSR, &cqcsr));
    OK(fastiommu_iommu_read32(iommu, RISCV_IOMMU_REG_FQCSR, &fqcsr));
    CHECK(cqcsr & RISCV_IOMMU_CQCSR_CQON_MASK, "cqcsr 0x%x: the command queue is on", cqcsr);
    CHECK(fqcsr & RISCV_IOMMU_FQCSR_FQON_MASK, "fqcsr 0x%x: the fault queue is on", fqcsr);
    return failures;
}

/* Writes one command at the tail (the slot is the driver's until cqt moves past it). */
static inline int test_driver_queue(struct test_driver *driver, uint64_t dword0, uint64_t dword1)
{
    int failures = 0;
    struct riscv_iommu_command command = { dword0, dword1 };
    OK(fastiommu_memory_write(driver->memory, driver->cq_base + (uint64_t)driver->cq_tail * sizeof command, &command,
                              sizeof command));
    driver->cq_tail = (driver->cq_tail + 1) % 64;
    return failures;
}

/* Moves cqt (the device runs the commands before the write returns) and checks they all completed legally. */
static inline int test_driver_submit(struct test_driver *driver)
{
    int failures = 0;
    uint32_t cqh = 0, cqcsr = 0;
    OK(fastiommu_iommu_write32(driver->iommu, RISCV_IOMMU_REG_CQT, driver->cq_tail));
    OK(fastiommu_iommu_read32(driver->iommu, RISCV_IOMMU_REG_CQH, &cqh));
    OK(fastiommu_iommu_read32(driver->iommu, RISCV_IOMMU_REG_CQCSR, &cqcsr));
    CHECK(cqh == driver->cq_tail, "cqh %u reached cqt %u", cqh, driver->cq_tail);
    CHECK((cqcsr & (RISCV_IOMMU_CQCSR_CMD_ILL_MASK | RISCV_IOMMU_CQCSR_CQMF_MASK)) == 0, "cqcsr 0x%x: no error", cqcsr);
    return failures;
}

/* IOTINVAL.VMA for one PSCID (and one page when addr is not ~0). */
static inline uint64_t cmd_iotinval_vma(uint32_t pscid, int one_page)
{
    return ((uint64_t)RISCV_IOMMU_COMMAND_OPCODE_IOTINVAL << RISCV_IOMMU_COMMAND_OPCODE_SHIFT)
           | ((uint64_t)RISCV_IOMMU_COMMAND_FUNC3_IOTINVAL_VMA << RISCV_IOMMU_COMMAND_FUNC3_SHIFT)
           | (one_page ? RISCV_IOMMU_COMMAND_AV_MASK : 0) | RISCV_IOMMU_COMMAND_PSCV_MASK
           | ((uint64_t)pscid << RISCV_IOMMU_COMMAND_PSCID_SHIFT);
}

static inline uint64_t cmd_iotinval_addr(uint64_t iova)
{
    return (iova >> 12) << RISCV_IOMMU_COMMAND_IOTINVAL_ADDR_SHIFT;
}

/* IOFENCE.C; with a non-zero addr it also writes data there (AV). */
static inline uint64_t cmd_iofence(uint64_t addr, uint32_t data)
{
    return ((uint64_t)RISCV_IOMMU_COMMAND_OPCODE_IOFENCE << RISCV_IOMMU_COMMAND_OPCODE_SHIFT)
           | ((uint64_t)RISCV_IOMMU_COMMAND_FUNC3_IOFENCE_C << RISCV_IOMMU_COMMAND_FUNC3_SHIFT)
           | (addr ? RISCV_IOMMU_COMMAND_AV_MASK : 0) | ((uint64_t)data << RISCV_IOMMU_COMMAND_DATA_SHIFT);
}

static inline uint64_t cmd_iofence_addr(uint64_t addr)
{
    return (addr >> 2) << RISCV_IOMMU_COMMAND_FENCE_ADDR_SHIFT;
}

/* IODIR.INVAL_DDT for one device. */
static inline uint64_t cmd_iodir_ddt(uint32_t device_id)
{
    return ((uint64_t)RISCV_IOMMU_COMMAND_OPCODE_IODIR << RISCV_IOMMU_COMMAND_OPCODE_SHIFT)
           | ((uint64_t)RISCV_IOMMU_COMMAND_FUNC3_IODIR_INVAL_DDT << RISCV_IOMMU_COMMAND_FUNC3_SHIFT)
           | RISCV_IOMMU_COMMAND_DV_MASK | ((uint64_t)device_id << RISCV_IOMMU_COMMAND_DID_SHIFT);
}

static inline fastiommu_translate_response test_translate(fastiommu_iommu iommu, uint32_t device_id, uint64_t iova,
                                                          uint32_t access, int *failures_out)
{
    int failures = 0;
    fastiommu_translate_request request = { .iova = iova, .device_id = device_id, .access = access };
    fastiommu_translate_response response;
    memset(&response, 0xA5, sizeof response);
    OK(fastiommu_iommu_translate(iommu, &request, &response));
    *failures_out += failures;
    return response;
}

#endif
