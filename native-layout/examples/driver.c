/* The emulator of emulator.c with the library's driver in place of a hand-written one: the driver brings the
 * IOMMU up through the emulator's own bus (MMIO callbacks), a group holds the DMA engine, a paging domain maps its
 * buffers, and the DMA engine translates every page before touching guest RAM. After unmap + sync the same DMA
 * faults: the driver invalidated the IOTLB (one IOTINVAL.VMA and one IOFENCE.C, shown by the counters).
 *
 *   guest physical map: 0x8000_0000 RAM (8 MiB); the driver's pages come from its last 4 MiB
 *   build: cc driver.c $(pkg-config --cflags --libs fastiommu)       run: ./driver */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fastiommu.h"
#include "riscv_iommu.h"

#define RAM_BASE 0x80000000ull
#define RAM_SIZE (8ull << 20)
#define DMA_DEVICE 0x42u
#define SRC_IOVA 0x10000000ull
#define DST_IOVA 0x20000000ull

static void die(const char *what)
{
    fprintf(stderr, "driver example: %s: %s\n", what, fastiommu_last_error());
    exit(1);
}

#define TRY(call)                                                                                                      \
    do {                                                                                                               \
        if ((call) != FASTIOMMU_OK) die(#call);                                                                        \
    } while (0)

/* The bus: the IOMMU's register page forwarded to the model; a cqt write (the doorbell) runs the command queue,
 * as the model's own thread would. */
static uint32_t mmio_read32(void *iommu, uint32_t offset)
{
    uint32_t value = 0;
    TRY(fastiommu_iommu_read32(*(fastiommu_iommu *)iommu, offset, &value));
    return value;
}

static uint64_t mmio_read64(void *iommu, uint32_t offset)
{
    uint64_t value = 0;
    TRY(fastiommu_iommu_read64(*(fastiommu_iommu *)iommu, offset, &value));
    return value;
}

static void mmio_write32(void *iommu, uint32_t offset, uint32_t value)
{
    TRY(fastiommu_iommu_write32(*(fastiommu_iommu *)iommu, offset, value));
    if (offset == RISCV_IOMMU_REG_CQT) TRY(fastiommu_iommu_process_commands(*(fastiommu_iommu *)iommu, NULL));
}

static void mmio_write64(void *iommu, uint32_t offset, uint64_t value)
{
    TRY(fastiommu_iommu_write64(*(fastiommu_iommu *)iommu, offset, value));
}

/* The DMA engine: copy length bytes, page by page, each side translated first. 0 on success, else the cause. */
static unsigned dma_copy(fastiommu_iommu iommu, uint8_t *ram, uint64_t src, uint64_t dst, uint64_t length)
{
    for (uint64_t done = 0; done < length; done += 4096) {
        fastiommu_translate_request rd = { .iova = src + done, .device_id = DMA_DEVICE, .access = FASTIOMMU_ACCESS_READ };
        fastiommu_translate_request wr = { .iova = dst + done, .device_id = DMA_DEVICE, .access = FASTIOMMU_ACCESS_WRITE };
        fastiommu_translate_response from, to;
        TRY(fastiommu_iommu_translate(iommu, &rd, &from));
        TRY(fastiommu_iommu_translate(iommu, &wr, &to));
        if (!(from.flags & FASTIOMMU_RESP_SUCCESS)) return from.cause;
        if (!(to.flags & FASTIOMMU_RESP_SUCCESS)) return to.cause;
        memmove(ram + (to.pa - RAM_BASE), ram + (from.pa - RAM_BASE), 4096);
    }
    return 0;
}

int main(void)
{
    uint8_t *ram = aligned_alloc(4096, RAM_SIZE);
    memset(ram, 0, RAM_SIZE);
    fastiommu_memory memory;
    fastiommu_allocator window;
    fastiommu_iommu iommu;
    fastiommu_driver driver;
    fastiommu_instance instance;
    fastiommu_group group;
    fastiommu_device dma;
    fastiommu_domain domain;
    TRY(fastiommu_memory_wrap(ram, RAM_SIZE, RAM_BASE, &memory));
    TRY(fastiommu_allocator_create(memory, RAM_BASE + (4ull << 20), 4ull << 20, &window));
    fastiommu_iommu_config config = { .struct_size = sizeof config, .flags = FASTIOMMU_IOMMU_DEFER_COMMANDS,
                                      .capabilities = 0x10 | (1ull << RISCV_IOMMU_CAPABILITIES_SV39_BIT)
                                                      | (56ull << RISCV_IOMMU_CAPABILITIES_PAS_SHIFT) };
    TRY(fastiommu_iommu_create(memory, &config, &iommu));

    /* The driver, over the bus. */
    fastiommu_mmio_callbacks bus = { &iommu, mmio_read32, mmio_read64, mmio_write32, mmio_write64 };
    TRY(fastiommu_driver_create(window, &driver));
    TRY(fastiommu_instance_create_mmio(driver, &bus, NULL, &instance));
    TRY(fastiommu_group_create(driver, "dma", &group));
    TRY(fastiommu_device_add(instance, DMA_DEVICE, group, 0, 0, &dma));
    TRY(fastiommu_domain_create(driver, FASTIOMMU_DOMAIN_PAGING, FASTIOMMU_MODE_SV39, &domain));
    TRY(fastiommu_domain_map(domain, SRC_IOVA, RAM_BASE + 0x100000, 0x4000, FASTIOMMU_PROT_READ));
    TRY(fastiommu_domain_map(domain, DST_IOVA, RAM_BASE + 0x200000, 0x4000, FASTIOMMU_PROT_READ | FASTIOMMU_PROT_WRITE));
    TRY(fastiommu_attach(group, domain));

    for (int i = 0; i < 0x4000; i++) ram[0x100000 + i] = (uint8_t)(i * 7);
    unsigned cause = dma_copy(iommu, ram, SRC_IOVA, DST_IOVA, 0x4000);
    int ok = cause == 0 && memcmp(ram + 0x100000, ram + 0x200000, 0x4000) == 0;
    printf("DMA of 16 KiB through the IOMMU: %s\n", ok ? "copied" : "FAILED");

    fastiommu_counters before, after;
    uint64_t unmapped = 0;
    TRY(fastiommu_instance_counters(instance, &before));
    TRY(fastiommu_domain_unmap_sync(domain, DST_IOVA, 0x4000, &unmapped));
    TRY(fastiommu_instance_counters(instance, &after));
    cause = dma_copy(iommu, ram, SRC_IOVA, DST_IOVA, 0x1000);
    printf("after unmap + sync (%" PRIu64 " IOTINVAL.VMA, %" PRIu64 " IOFENCE.C): the DMA faults with cause %u\n",
           after.commands[FASTIOMMU_CMD_IOTINVAL_VMA] - before.commands[FASTIOMMU_CMD_IOTINVAL_VMA],
           after.commands[FASTIOMMU_CMD_IOFENCE_C] - before.commands[FASTIOMMU_CMD_IOFENCE_C], cause);
    ok = ok && unmapped == 0x4000 && cause == RISCV_IOMMU_FAULT_CAUSE_WRITE_PAGE_FAULT;

    TRY(fastiommu_detach(group));
    TRY(fastiommu_domain_destroy(domain));
    TRY(fastiommu_device_release(dma));
    TRY(fastiommu_group_destroy(group));
    TRY(fastiommu_instance_destroy(instance));
    TRY(fastiommu_driver_destroy(driver));
    TRY(fastiommu_iommu_destroy(iommu));
    TRY(fastiommu_allocator_destroy(window));
    TRY(fastiommu_memory_destroy(memory));
    free(ram);
    return ok ? 0 : 1;
}
