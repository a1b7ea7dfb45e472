/* Layout facts of both headers. riscv_iommu.h asserts every structure's size and offsets at compile time (this
 * file compiling is that test); here the values a C user depends on are checked against the spec's numbers written
 * out independently, and fastiommu.h's enum against the library's own names for it. */
static int failures;
#include "test_support.h"

#include <stddef.h>

int main(void)
{
    /* The C API's structs (the library reads them with the same layout: NativeAbiTests on the C# side). */
    CHECK(sizeof(fastiommu_translate_request) == 24, "request %zu", sizeof(fastiommu_translate_request));
    CHECK(offsetof(fastiommu_translate_request, device_id) == 8 && offsetof(fastiommu_translate_request, access) == 20,
          "request fields");
    CHECK(sizeof(fastiommu_translate_response) == 40, "response %zu", sizeof(fastiommu_translate_response));
    CHECK(offsetof(fastiommu_translate_response, cause) == 32 && offsetof(fastiommu_translate_response, flags) == 36,
          "response fields");
    CHECK(sizeof(fastiommu_iommu_config) == 72 && offsetof(fastiommu_iommu_config, interrupt_callback) == 40,
          "config %zu", sizeof(fastiommu_iommu_config));
    CHECK(sizeof(fastiommu_memory) == 8, "a handle is one 64-bit word");

    /* The library names each status value as the header does. */
    static const char *const names[] = {
        "FASTIOMMU_OK", "FASTIOMMU_ERR_INVALID_HANDLE", "FASTIOMMU_ERR_INVALID_ARGUMENT", "FASTIOMMU_ERR_OUT_OF_MEMORY",
        "FASTIOMMU_ERR_IN_USE", "FASTIOMMU_ERR_HANDLE_TABLE_FULL", "FASTIOMMU_ERR_ACCESS_FAULT", "FASTIOMMU_ERR_UNSUPPORTED",
        "FASTIOMMU_ERR_MISALIGNED", "FASTIOMMU_ERR_IOVA_OUT_OF_RANGE", "FASTIOMMU_ERR_PA_OUT_OF_RANGE",
        "FASTIOMMU_ERR_INVALID_PROTECTION", "FASTIOMMU_ERR_OVERLAP", "FASTIOMMU_ERR_PARTIAL_SUPERPAGE",
        "FASTIOMMU_ERR_NOT_MAPPED", "FASTIOMMU_ERR_FOREIGN_GATHER", "FASTIOMMU_ERR_INTERNAL",
        "FASTIOMMU_ERR_IMAGE_FORMAT", "FASTIOMMU_ERR_TIMEOUT", "FASTIOMMU_ERR_COMMAND_QUEUE", "FASTIOMMU_ERR_IDS_EXHAUSTED",
        "FASTIOMMU_ERR_BUFFER_TOO_SMALL", "FASTIOMMU_ERR_IO",
    };
    CHECK(FASTIOMMU_ERR_IO + 1 == sizeof names / sizeof names[0], "one name per status");
    for (int s = 0; s <= FASTIOMMU_ERR_IO; s++) {
        CHECK(strcmp(fastiommu_status_name((fastiommu_status)s), names[s]) == 0, "status %d is %s, library says %s", s,
              names[s], fastiommu_status_name((fastiommu_status)s));
    }
    CHECK(fastiommu_abi_version() == FASTIOMMU_ABI_VERSION, "ABI %u", fastiommu_abi_version());
    CHECK(strcmp(fastiommu_last_error(), "") == 0, "no failure yet on this thread: \"%s\"", fastiommu_last_error());

    /* riscv_iommu.h against the spec's tables. */
    CHECK(sizeof(struct riscv_iommu_device_context) == 32, "base DC");
    CHECK(sizeof(struct riscv_iommu_extended_device_context) == 64, "extended DC");
    CHECK(sizeof(struct riscv_iommu_process_context) == 16, "PC");
    CHECK(sizeof(struct riscv_iommu_command) == 16, "command");
    CHECK(sizeof(struct riscv_iommu_fault_record) == 32, "fault record");
    CHECK(sizeof(struct riscv_iommu_page_request) == 16, "page request");
    CHECK(sizeof(struct riscv_iommu_msi_config_entry) == 16, "msi_cfg_tbl entry");
    CHECK(RISCV_IOMMU_REG_DDTP == 0x10 && RISCV_IOMMU_REG_CQT == 0x24 && RISCV_IOMMU_REG_FQCSR == 0x4C
              && RISCV_IOMMU_REG_IPSR == 0x54 && RISCV_IOMMU_REG_ICVEC == 0x2F8 && RISCV_IOMMU_REG_MSI_CFG_TBL == 0x300,
          "register offsets");
    CHECK(RISCV_IOMMU_PTE_PPN_SHIFT == 10 && RISCV_IOMMU_PTE_PPN_BITS == 44 && RISCV_IOMMU_PTE_N_BIT == 63
              && RISCV_IOMMU_PTE_PBMT_SHIFT == 61,
          "PTE");
    CHECK(RISCV_IOMMU_IOSATP_MODE_SHIFT == 60 && RISCV_IOMMU_IOSATP_MODE_SV48 == 9, "iosatp");
    CHECK(RISCV_IOMMU_DEVICE_CONTEXT_TA_PSCID_SHIFT == 12, "DC.ta.PSCID");
    CHECK(RISCV_IOMMU_COMMAND_OPCODE_IOTINVAL == 1 && RISCV_IOMMU_COMMAND_OPCODE_IOFENCE == 2
              && RISCV_IOMMU_COMMAND_OPCODE_IODIR == 3 && RISCV_IOMMU_COMMAND_OPCODE_ATS == 4,
          "opcodes");
    CHECK(RISCV_IOMMU_FAULT_CAUSE_DDT_ENTRY_NOT_VALID == 258 && RISCV_IOMMU_FAULT_CAUSE_WRITE_GUEST_PAGE_FAULT == 23,
          "causes");
    CHECK(RISCV_IOMMU_FAULT_RECORD_TTYP_SHIFT == 34 && RISCV_IOMMU_FAULT_RECORD_DID_SHIFT == 40, "fault record fields");
    CHECK(RISCV_IOMMU_CAPABILITIES_PAS_SHIFT == 32 && RISCV_IOMMU_CAPABILITIES_MSI_FLAT_BIT == 22, "capabilities");

    printf("test_layout: %s (%d failures)\n", failures ? "FAILED" : "passed", failures);
    return failures != 0;
}
