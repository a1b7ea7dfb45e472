/* A tiny emulator embedding FastIommu: guest RAM, a system bus that forwards the IOMMU's MMIO page to the
 * library, a "driver" that programs the IOMMU only through that bus (as guest software would), and a DMA engine
 * that copies a buffer between two IOVAs, translating every page through the IOMMU before touching guest RAM.
 *
 *   guest physical map: 0x1000_0000 IOMMU registers (4 KiB)   0x8000_0000 RAM (8 MiB)
 *   build: cc emulator.c $(pkg-config --cflags --libs fastiommu)       run: ./emulator */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fastiommu.h"
#include "riscv_iommu.h"

#define IOMMU_MMIO 0x10000000ull
#define RAM_BASE 0x80000000ull
#define RAM_SIZE (8ull << 20)
#define DMA_DEVICE 0x42u /* the DMA engine's device_id */

struct machine {
    uint8_t *ram;
    fastiommu_memory memory;
    fastiommu_iommu iommu;
    int interrupts;
};

static void die(const char *what)
{
    fprintf(stderr, "emulator: %s: %s\n", what, fastiommu_last_error());
    exit(1);
}

#define TRY(call)                                                                                                      \
    do {                                                                                                               \
        if ((call) != FASTIOMMU_OK) die(#call);                                                                        \
    } while (0)

/* ---- the bus: RAM is plain memory, the IOMMU's page goes to the library */
static void bus_write64(struct machine *m, uint64_t pa, uint64_t value)
{
    if (pa >= IOMMU_MMIO && pa < IOMMU_MMIO + 4096) {
        TRY(fastiommu_iommu_write64(m->iommu, (uint32_t)(pa - IOMMU_MMIO), value));
    } else {
        memcpy(m->ram + (pa - RAM_BASE), &value, 8);
    }
}

static void bus_write32(struct machine *m, uint64_t pa, uint32_t value)
{
    if (pa >= IOMMU_MMIO && pa < IOMMU_MMIO + 4096) {
        TRY(fastiommu_iommu_write32(m->iommu, (uint32_t)(pa - IOMMU_MMIO), value));
    } else {
        memcpy(m->ram + (pa - RAM_BASE), &value, 4);
    }
}

static uint32_t bus_read32(struct machine *m, uint64_t pa)
{
    uint32_t value = 0;
    if (pa >= IOMMU_MMIO && pa < IOMMU_MMIO + 4096) {
        TRY(fastiommu_iommu_read32(m->iommu, (uint32_t)(pa - IOMMU_MMIO), &value));
    } else {
        memcpy(&value, m->ram + (pa - RAM_BASE), 4);
    }
    return value;
}

static void on_interrupt(void *context, uint32_t source, uint32_t vector)
{
    struct machine *m = context;
    m->interrupts++;
    printf("  interrupt: ipsr bit %u (vector %u)\n", source, vector);
}

/* ---- the DMA engine: copies length bytes from IOVA src to IOVA dst, one translation per page touched */
static int dma_copy(struct machine *m, uint64_t src, uint64_t dst, uint64_t length)
{
    while (length > 0) {
        uint64_t chunk = 4096 - (src & 4095);
        if (4096 - (dst & 4095) < chunk) chunk = 4096 - (dst & 4095);
        if (length < chunk) chunk = length;
        fastiommu_translate_request rd = { .iova = src, .device_id = DMA_DEVICE, .access = FASTIOMMU_ACCESS_READ };
        fastiommu_translate_request wr = { .iova = dst, .device_id = DMA_DEVICE, .access = FASTIOMMU_ACCESS_WRITE };
        fastiommu_translate_response from, to;
        TRY(fastiommu_iommu_translate(m->iommu, &rd, &from));
        TRY(fastiommu_iommu_translate(m->iommu, &wr, &to));
        if (!(from.flags & FASTIOMMU_RESP_SUCCESS) || !(to.flags & FASTIOMMU_RESP_SUCCESS)) {
            printf("  DMA aborted: IOVA 0x%" PRIx64 " cause %u\n", (from.flags & FASTIOMMU_RESP_SUCCESS) ? dst : src,
                   (from.flags & FASTIOMMU_RESP_SUCCESS) ? to.cause : from.cause);
            return -1;
        }
        memmove(m->ram + (to.pa - RAM_BASE), m->ram + (from.pa - RAM_BASE), chunk);
        src += chunk;
        dst += chunk;
        length -= chunk;
    }
    return 0;
}

int main(void)
{
    struct machine m = { .ram = aligned_alloc(4096, RAM_SIZE) };
    memset(m.ram, 0, RAM_SIZE);

    /* The library sees guest RAM in place; page tables come from a 1 MiB window the "firmware" set aside. */
    fastiommu_allocator tables;
    fastiommu_page_table domain;
    fastiommu_gather gather;
    TRY(fastiommu_memory_wrap(m.ram, RAM_SIZE, RAM_BASE, &m.memory));
    TRY(fastiommu_allocator_create(m.memory, RAM_BASE + 0x100000, 0x100000, &tables));
    TRY(fastiommu_page_table_create(tables, FASTIOMMU_MODE_SV39, 0, &domain));
    TRY(fastiommu_gather_create(&gather));
    fastiommu_iommu_config config = {
        .struct_size = sizeof config,
        .capabilities = 0x10 | (1ull << RISCV_IOMMU_CAPABILITIES_SV39_BIT) | (1ull << RISCV_IOMMU_CAPABILITIES_SV48_BIT)
                        | (1ull << RISCV_IOMMU_CAPABILITIES_AMO_HWAD_BIT) | (56ull << RISCV_IOMMU_CAPABILITIES_PAS_SHIFT),
        .interrupt_callback = on_interrupt,
        .interrupt_context = &m,
    };
    TRY(fastiommu_iommu_create(m.memory, &config, &m.iommu));

    /* ---- the guest driver, through the bus only: DDT at RAM+64K, CQ at RAM+4K, FQ at RAM+8K */
    const uint64_t ddt = RAM_BASE + 0x10000, cq = RAM_BASE + 0x1000, fq = RAM_BASE + 0x2000;
    uint64_t root;
    TRY(fastiommu_page_table_root(domain, &root));
    const uint64_t dc = ddt + DMA_DEVICE * sizeof(struct riscv_iommu_device_context);
    bus_write64(&m, dc + offsetof(struct riscv_iommu_device_context, ta), (uint64_t)1 << RISCV_IOMMU_DEVICE_CONTEXT_TA_PSCID_SHIFT);
    bus_write64(&m, dc + offsetof(struct riscv_iommu_device_context, fsc),
                ((uint64_t)RISCV_IOMMU_IOSATP_MODE_SV39 << RISCV_IOMMU_IOSATP_MODE_SHIFT) | (root >> 12));
    bus_write64(&m, dc + offsetof(struct riscv_iommu_device_context, tc), 1ull << RISCV_IOMMU_DEVICE_CONTEXT_TC_V_BIT);
    /* Interrupts as MSIs: vector 0 (every source, icvec = 0) writes 0x1234 to the "interrupt controller" word. */
    const uint64_t msi_doorbell = RAM_BASE + 0x3000;
    bus_write64(&m, IOMMU_MMIO + RISCV_IOMMU_REG_MSI_CFG_TBL, msi_doorbell);
    bus_write32(&m, IOMMU_MMIO + RISCV_IOMMU_REG_MSI_CFG_TBL + 8, 0x1234);
    bus_write64(&m, IOMMU_MMIO + RISCV_IOMMU_REG_CQB, ((cq >> 12) << RISCV_IOMMU_QUEUE_BASE_PPN_SHIFT) | 5);
    bus_write32(&m, IOMMU_MMIO + RISCV_IOMMU_REG_CQCSR, RISCV_IOMMU_CQCSR_CQEN_MASK);
    bus_write64(&m, IOMMU_MMIO + RISCV_IOMMU_REG_FQB, ((fq >> 12) << RISCV_IOMMU_QUEUE_BASE_PPN_SHIFT) | 5);
    bus_write32(&m, IOMMU_MMIO + RISCV_IOMMU_REG_FQCSR, RISCV_IOMMU_FQCSR_FQEN_MASK | RISCV_IOMMU_FQCSR_FIE_MASK);
    bus_write64(&m, IOMMU_MMIO + RISCV_IOMMU_REG_DDTP,
                ((uint64_t)RISCV_IOMMU_DDTP_MODE_ONE_LEVEL << RISCV_IOMMU_DDTP_IOMMU_MODE_SHIFT)
                    | ((ddt >> 12) << RISCV_IOMMU_DDTP_PPN_SHIFT));
    printf("IOMMU up: cqcsr 0x%x fqcsr 0x%x\n", bus_read32(&m, IOMMU_MMIO + RISCV_IOMMU_REG_CQCSR),
           bus_read32(&m, IOMMU_MMIO + RISCV_IOMMU_REG_FQCSR));

    /* Two 16 KiB buffers: source at IOVA 0x1000_0000 -> RAM+4M, destination at IOVA 0x2000_0000 -> RAM+5M. */
    const uint64_t src = 0x10000000ull, dst = 0x20000000ull, size = 0x4000;
    TRY(fastiommu_page_table_map(domain, src, RAM_BASE + 0x400000, size, FASTIOMMU_PROT_READ | FASTIOMMU_PROT_USER, FASTIOMMU_PBMT_PMA));
    TRY(fastiommu_page_table_map(domain, dst, RAM_BASE + 0x500000, size, FASTIOMMU_PROT_READ | FASTIOMMU_PROT_WRITE | FASTIOMMU_PROT_USER,
                                 FASTIOMMU_PBMT_PMA));
    for (uint64_t i = 0; i < size; i++) {
        m.ram[0x400000 + i] = (uint8_t)(i * 7 + 1);
    }

    /* The DMA loop: copy in 1 KiB bursts, as a device would. */
    for (uint64_t offset = 0; offset < size; offset += 1024) {
        if (dma_copy(&m, src + offset, dst + offset, 1024) != 0) return 1;
    }
    int same = memcmp(m.ram + 0x400000, m.ram + 0x500000, size) == 0;
    printf("DMA of %" PRIu64 " bytes through the IOMMU: %s\n", size, same ? "copied" : "WRONG");

    /* The driver unmaps the destination, invalidates (IOTINVAL.VMA PSCID 1, IOFENCE.C) and the next DMA faults. */
    TRY(fastiommu_page_table_unmap(domain, dst, size, gather, NULL));
    struct riscv_iommu_command commands[2] = {
        { ((uint64_t)RISCV_IOMMU_COMMAND_OPCODE_IOTINVAL << RISCV_IOMMU_COMMAND_OPCODE_SHIFT) | RISCV_IOMMU_COMMAND_PSCV_MASK
              | ((uint64_t)1 << RISCV_IOMMU_COMMAND_PSCID_SHIFT), 0 },
        { ((uint64_t)RISCV_IOMMU_COMMAND_OPCODE_IOFENCE << RISCV_IOMMU_COMMAND_OPCODE_SHIFT), 0 },
    };
    memcpy(m.ram + (cq - RAM_BASE), commands, sizeof commands);
    bus_write32(&m, IOMMU_MMIO + RISCV_IOMMU_REG_CQT, 2);
    TRY(fastiommu_gather_complete(gather));
    int faulted = dma_copy(&m, src, dst, 64) != 0;
    uint32_t fqt = bus_read32(&m, IOMMU_MMIO + RISCV_IOMMU_REG_FQT);
    struct riscv_iommu_fault_record record;
    memcpy(&record, m.ram + (fq - RAM_BASE), sizeof record);
    uint32_t msi = bus_read32(&m, msi_doorbell);
    printf("after unmap: DMA %s, %u fault record(s), first cause %" PRIu64 " iotval 0x%" PRIx64 ", %d interrupt(s),"
           " MSI data 0x%x\n",
           faulted ? "faulted" : "went through", fqt, (uint64_t)(record.dword0 & RISCV_IOMMU_FAULT_RECORD_CAUSE_MASK),
           record.iotval, m.interrupts, msi);

    TRY(fastiommu_iommu_destroy(m.iommu));
    TRY(fastiommu_gather_destroy(gather));
    TRY(fastiommu_page_table_destroy(domain));
    TRY(fastiommu_allocator_destroy(tables));
    TRY(fastiommu_memory_destroy(m.memory));
    free(m.ram);
    int ok = same && faulted && fqt == 1 && m.interrupts == 1 && msi == 0x1234;
    printf("%s\n", ok ? "emulator: ok" : "emulator: UNEXPECTED");
    return ok ? 0 : 1;
}
