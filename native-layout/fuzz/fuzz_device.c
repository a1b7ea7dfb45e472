/* libFuzzer harness: the device model driven as a bus and a driver would, from a sequence of operations decoded from
 * the input: 64- and 32-bit register writes (queue bases, ddtp, fctl, cqt/cqcsr/fqcsr/pqcsr/ipsr/fqh, any offset),
 * stores of commands and of structure qwords into guest memory (256 KiB at 0x8000_0000; base registers are pointed
 * inside it most of the time), translations, command processing, page requests, ATS message reads and register
 * reads. Every status is OK or, for a bad offset or request, FASTIOMMU_ERR_INVALID_ARGUMENT; every translation
 * answer is checked (fuzz_check_response); the interrupt callback clears ipsr from inside (re-entrancy), the fault
 * callback checks its record. Long run: see native-layout/README.md. */
#include "fuzz_common.h"

#define RAM_BASE 0x80000000ull
#define RAM_SIZE 0x40000ull
#define MAX_OPS 256

static uint8_t ram[RAM_SIZE] __attribute__((aligned(4096)));
static fastiommu_iommu current;
static int interrupts, faults;

static void on_interrupt(void *context, uint32_t source, uint32_t vector)
{
    (void)context;
    interrupts++;
    fuzz_feedback(100, source * 16 + vector);
    if (source > 3) {
        fuzz_fail("interrupt source beyond pmip/pip");
    }
    if (interrupts % 3 == 0) {
        fastiommu_iommu_write32(current, RISCV_IOMMU_REG_IPSR, 1u << source); /* re-entrant clear */
    }
}

static void on_fault(void *context, const struct riscv_iommu_fault_record *record)
{
    (void)context;
    faults++;
    if (record == NULL) {
        fuzz_fail("fault callback without a record");
    }
    fuzz_feedback(101, record->dword0 & 0xFFF);
}

static const uint32_t regs32[] = { RISCV_IOMMU_REG_FCTL, RISCV_IOMMU_REG_CQT, RISCV_IOMMU_REG_CQCSR, RISCV_IOMMU_REG_FQCSR,
                                   RISCV_IOMMU_REG_PQCSR, RISCV_IOMMU_REG_IPSR, RISCV_IOMMU_REG_FQH, RISCV_IOMMU_REG_PQH,
                                   RISCV_IOMMU_REG_ICVEC, RISCV_IOMMU_REG_CQH };
static const uint32_t regs64[] = { RISCV_IOMMU_REG_DDTP, RISCV_IOMMU_REG_CQB, RISCV_IOMMU_REG_FQB, RISCV_IOMMU_REG_PQB,
                                   RISCV_IOMMU_REG_TR_REQ_IOVA, RISCV_IOMMU_REG_TR_REQ_CTL, RISCV_IOMMU_REG_MSI_CFG_TBL };

static uint64_t inside(uint64_t value)
{
    /* Keep the low 10 bits (mode, LOG2SZ-1) and point the PPN at one of the 64 pages. */
    return (value & 0x3FFull) | (value & (0xFull << 60)) | (((RAM_BASE >> 12) + ((value >> 10) & 63)) << 10);
}

static void expect_ok_or_argument(uint32_t site, fastiommu_status st)
{
    if (fuzz_status(site, st) != FASTIOMMU_OK && st != FASTIOMMU_ERR_INVALID_ARGUMENT) {
        fuzz_fail("a register access or request failed with neither OK nor INVALID_ARGUMENT");
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_check_handles();
    struct fuzz_input in = { data, size, 0 };
    memset(ram, 0, sizeof ram);
    uint32_t options = (uint32_t)fuzz_bytes(&in, 1);
    fastiommu_memory memory;
    if (fastiommu_memory_wrap(ram, RAM_SIZE, RAM_BASE, &memory) != FASTIOMMU_OK) {
        fuzz_fail("wrap");
    }
    fastiommu_iommu_config config = { .struct_size = sizeof config, .capabilities = fuzz_capabilities(),
                                      .flags = options & 7, .iotlb_entries = options & 8 ? 4 : 0,
                                      .interrupt_callback = on_interrupt, .fault_callback = on_fault };
    if (options & 0x10) {
        config.ddt_modes = FASTIOMMU_DDT_1LVL | FASTIOMMU_DDT_2LVL;
    }
    if (fastiommu_iommu_create(memory, &config, &current) != FASTIOMMU_OK) {
        fuzz_fail("iommu_create");
    }
    for (int op = 0; op < MAX_OPS && !fuzz_done(&in); op++) {
        uint32_t kind = (uint32_t)fuzz_bytes(&in, 1);
        fuzz_feedback(1, kind % 12);
        switch (kind % 12) {
        case 0: { /* a 64-bit register, base registers inside the memory most of the time */
            uint32_t which = (uint32_t)fuzz_bytes(&in, 1);
            uint64_t value = fuzz_bytes(&in, 8);
            uint32_t reg = regs64[which % (sizeof regs64 / sizeof regs64[0])];
            if (!(which & 0x80) && reg <= RISCV_IOMMU_REG_PQB) {
                value = inside(value);
            }
            expect_ok_or_argument(2, fastiommu_iommu_write64(current, reg, value));
            break;
        }
        case 1: { /* a 32-bit register */
            uint32_t which = (uint32_t)fuzz_bytes(&in, 1);
            uint32_t value = (uint32_t)fuzz_bytes(&in, which & 0x80 ? 4 : 1);
            expect_ok_or_argument(3, fastiommu_iommu_write32(current, regs32[which % (sizeof regs32 / sizeof regs32[0])], value));
            break;
        }
        case 2: { /* a command (16 bytes) into a queue slot of some page */
            uint64_t at = (fuzz_bytes(&in, 1) % 64) * 4096 + (fuzz_bytes(&in, 1) % 256) * 16;
            uint64_t command[2] = { fuzz_bytes(&in, 8), fuzz_bytes(&in, 8) };
            memcpy(ram + at, command, sizeof command);
            break;
        }
        case 3: { /* a structure qword (DC, PC, PTE, MSI PTE), sometimes pointing inside the memory */
            uint64_t where = fuzz_bytes(&in, 2);
            uint64_t at = ((where & 0x7FFF) * 8) % RAM_SIZE;
            uint64_t value = fuzz_bytes(&in, 8);
            if (where & 0x8000) { /* as a PTE: its PPN (bits 53:10) at one of the 64 pages */
                value = (value & 0xFFC00000000003FFull) | (((RAM_BASE >> 12) + ((value >> 10) & 63)) << 10);
            }
            memcpy(ram + at, &value, 8);
            break;
        }
        case 4:
        case 5: { /* a translation */
            uint64_t word = fuzz_bytes(&in, 4);
            fastiommu_translate_request request = {
                .iova = word & 0x100 ? fuzz_bytes(&in, 8) : (fuzz_bytes(&in, 2) << 12) | (word >> 20 & 0xFFF),
                .device_id = (uint32_t)(word & 0xF) | (word & 0x200 ? (uint32_t)fuzz_bytes(&in, 3) : 0),
                .process_id = (uint32_t)(word >> 4 & 0xF) | (word & 0x400 ? ((uint32_t)fuzz_bytes(&in, 3) & 0xFFFFF) : 0),
                .flags = (uint32_t)(word >> 12) & 0xF,
                .access = (uint32_t)(word >> 16) % 3,
            };
            fastiommu_translate_response response;
            if (fuzz_status(4, fastiommu_iommu_translate(current, &request, &response)) != FASTIOMMU_OK) {
                fuzz_fail("translate refused a legal request");
            }
            fuzz_check_response(5, &request, &response);
            break;
        }
        case 6: {
            uint32_t completed = 0;
            fuzz_status(10, fastiommu_iommu_process_commands(current, &completed));
            fuzz_feedback(11, completed);
            break;
        }
        case 7: {
            struct riscv_iommu_page_request message = { fuzz_bytes(&in, 8), fuzz_bytes(&in, 8) };
            uint32_t outcome = 99;
            if (fuzz_status(12, fastiommu_iommu_report_page_request(current, &message, &outcome)) == FASTIOMMU_OK
                && outcome > FASTIOMMU_REPORT_DISCARDED) {
                fuzz_fail("page request outcome out of range");
            }
            fuzz_feedback(13, outcome);
            break;
        }
        case 8: {
            struct riscv_iommu_command messages[4];
            uint32_t count = 99;
            if (fuzz_status(14, fastiommu_iommu_take_ats_messages(current, messages, 4, &count)) != FASTIOMMU_OK || count > 4) {
                fuzz_fail("take_ats_messages");
            }
            fuzz_feedback(15, count);
            break;
        }
        case 9: { /* any offset, any width */
            uint32_t offset = (uint32_t)fuzz_bytes(&in, 2) & 0x1FFF;
            uint32_t v32;
            uint64_t v64;
            expect_ok_or_argument(16, fastiommu_iommu_read32(current, offset, &v32));
            expect_ok_or_argument(17, fastiommu_iommu_read64(current, offset, &v64));
            break;
        }
        case 10: { /* any offset written (RO and reserved registers included) */
            uint32_t offset = (uint32_t)fuzz_bytes(&in, 2) & 0x1FFF;
            uint64_t value = fuzz_bytes(&in, 8);
            expect_ok_or_argument(18, offset & 4 ? fastiommu_iommu_write32(current, offset, (uint32_t)value)
                                                 : fastiommu_iommu_write64(current, offset, value));
            break;
        }
        default: {
            uint64_t written = 0, dropped = 0;
            uint32_t ipsr = 0, cqcsr = 0, fqcsr = 0;
            fuzz_status(19, fastiommu_iommu_fault_counts(current, &written, &dropped));
            fastiommu_iommu_read32(current, RISCV_IOMMU_REG_IPSR, &ipsr);
            fastiommu_iommu_read32(current, RISCV_IOMMU_REG_CQCSR, &cqcsr);
            fastiommu_iommu_read32(current, RISCV_IOMMU_REG_FQCSR, &fqcsr);
            fuzz_feedback(20, ipsr);
            fuzz_feedback(21, cqcsr >> 8);
            fuzz_feedback(22, fqcsr >> 8);
            fuzz_feedback(23, written > 8 ? 8 : written);
            break;
        }
        }
    }
    if (fastiommu_iommu_destroy(current) != FASTIOMMU_OK || fastiommu_memory_destroy(memory) != FASTIOMMU_OK) {
        fuzz_fail("teardown");
    }
    return 0;
}
