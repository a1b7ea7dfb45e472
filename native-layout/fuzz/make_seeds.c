/* Writes the seed corpus of the fuzz harnesses (native-layout/fuzz/corpus/<target>/seed-*): inputs that reach deep
 * into each target from the first run. Not run by the tests (the seeds are checked in); rerun after a change of an
 * input format:  make_seeds native-layout/fuzz/corpus   (built by CMake as fastiommu_fuzz_make_seeds). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fastiommu.h"
#include "riscv_iommu.h"

static const char *root;

static void put(const char *target, const char *name, const void *bytes, size_t size)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s/seed-%s", root, target, name);
    FILE *f = fopen(path, "wb");
    if (f == NULL || fwrite(bytes, 1, size, f) != size) {
        fprintf(stderr, "cannot write %s\n", path);
        exit(1);
    }
    fclose(f);
}

static void must(fastiommu_status st, const char *what)
{
    if (st != FASTIOMMU_OK) {
        fprintf(stderr, "%s: %s\n", what, fastiommu_last_error());
        exit(1);
    }
}

/* A byte writer for the op-sequence formats. */
static uint8_t seq[4096];
static size_t seq_len;
static void b(uint64_t v, int n)
{
    for (int i = 0; i < n; i++) {
        seq[seq_len++] = (uint8_t)(v >> (8 * i));
    }
}

static uint64_t caps(void)
{
    return 0x10ull | (1ull << RISCV_IOMMU_CAPABILITIES_SV39_BIT) | (1ull << RISCV_IOMMU_CAPABILITIES_SV48_BIT)
           | (1ull << RISCV_IOMMU_CAPABILITIES_SV39X4_BIT) | (1ull << RISCV_IOMMU_CAPABILITIES_AMO_HWAD_BIT)
           | (2ull << RISCV_IOMMU_CAPABILITIES_IGS_SHIFT) | (56ull << RISCV_IOMMU_CAPABILITIES_PAS_SHIFT)
           | (1ull << RISCV_IOMMU_CAPABILITIES_PD8_BIT) | (1ull << RISCV_IOMMU_CAPABILITIES_PD17_BIT)
           | (1ull << RISCV_IOMMU_CAPABILITIES_PD20_BIT);
}

/* image: what the library's driver builds (3-level DDT, devices, a paging domain, PASIDs, an SVA bind), saved. */
static void image_of_a_driver_world(void)
{
    static uint8_t ram[4 << 20] __attribute__((aligned(4096)));
    fastiommu_memory memory;
    fastiommu_allocator window;
    fastiommu_driver driver;
    fastiommu_iommu hw;
    fastiommu_instance instance;
    fastiommu_group group;
    fastiommu_device device, other;
    fastiommu_domain domain, queue, space;
    fastiommu_sva sva;
    fastiommu_iommu_config config = { .struct_size = sizeof config, .capabilities = caps() };
    must(fastiommu_memory_wrap(ram, sizeof ram, 0x80000000ull, &memory), "wrap");
    must(fastiommu_allocator_create(memory, 0x80100000ull, 0x200000, &window), "allocator");
    must(fastiommu_driver_create(window, &driver), "driver");
    must(fastiommu_iommu_create(memory, &config, &hw), "iommu");
    must(fastiommu_instance_create_device(driver, hw, NULL, &instance), "instance");
    must(fastiommu_group_create(driver, NULL, &group), "group");
    must(fastiommu_device_add(instance, 0x10, group, 8, FASTIOMMU_FEATURE_SVA, &device), "device");
    must(fastiommu_device_add(instance, 0x12345, group, 0, 0, &other), "device 2");
    must(fastiommu_domain_create(driver, FASTIOMMU_DOMAIN_PAGING, FASTIOMMU_MODE_SV48, &domain), "domain");
    must(fastiommu_domain_map(domain, 0x10000000, 0x80010000ull, 0x3000, 3), "map");
    must(fastiommu_domain_map(domain, 0x40000000, 0x80200000ull, 0x200000, 1), "map 2M");
    must(fastiommu_attach(group, domain), "attach");
    must(fastiommu_domain_create(driver, FASTIOMMU_DOMAIN_PAGING, FASTIOMMU_MODE_SV39, &queue), "queue domain");
    must(fastiommu_domain_map(queue, 0x20000000, 0x80020000ull, 0x1000, 1), "map queue");
    must(fastiommu_pasid_attach(device, 5, queue), "pasid");
    must(fastiommu_domain_create(driver, FASTIOMMU_DOMAIN_SVA, FASTIOMMU_MODE_SV39, &space), "sva domain");
    must(fastiommu_domain_map(space, 0x7fff0000, 0x80030000ull, 0x1000, 3), "map sva");
    must(fastiommu_sva_bind(device, space, &sva, NULL), "bind");
    fastiommu_image image;
    must(fastiommu_image_capture_iommu(hw, &image), "capture");
    uint64_t size = 0;
    fastiommu_image_save_buffer(image, NULL, 0, &size);
    uint8_t *bytes = malloc(size);
    must(fastiommu_image_save_buffer(image, bytes, size, &size), "save");
    put("image", "driver-world", bytes, size);
    free(bytes);
    /* Not torn down: the process ends. */
}

/* image (as memory): 64 KiB whose first qword is ddtp (1LVL at page 1); page 1 holds DCs of devices 0..3 with an Sv39
 * first stage at page 2, tables built by the library in pages 2..15; then 16 requests (the harness reads them from
 * the end). */
static void memory_with_a_ddt(void)
{
    static uint8_t ram[0x10000] __attribute__((aligned(4096)));
    const uint64_t base = 0x80000000ull;
    fastiommu_memory memory;
    fastiommu_allocator window;
    fastiommu_page_table table;
    uint64_t root = 0;
    must(fastiommu_memory_wrap(ram, sizeof ram, base, &memory), "wrap");
    must(fastiommu_allocator_create(memory, base + 0x2000, 0xE000, &window), "allocator");
    must(fastiommu_page_table_create(window, FASTIOMMU_MODE_SV39, 0, &table), "table");
    must(fastiommu_page_table_map(table, 0x1000, base + 0x1000, 0x1000, FASTIOMMU_PROT_READ | FASTIOMMU_PROT_WRITE | FASTIOMMU_PROT_USER, 0), "map");
    must(fastiommu_page_table_map(table, 0x40000000, base, 0x10000, FASTIOMMU_PROT_READ | FASTIOMMU_PROT_USER, 0), "map 2");
    must(fastiommu_page_table_root(table, &root), "root");
    uint64_t ddtp = ((uint64_t)RISCV_IOMMU_DDTP_MODE_ONE_LEVEL << RISCV_IOMMU_DDTP_IOMMU_MODE_SHIFT)
                    | (((base + 0x1000) >> 12) << RISCV_IOMMU_DDTP_PPN_SHIFT);
    memcpy(ram, &ddtp, 8);
    for (uint32_t d = 0; d < 4; d++) {
        struct riscv_iommu_device_context *dc = (struct riscv_iommu_device_context *)(ram + 0x1000 + d * 32);
        dc->tc = (1ull << RISCV_IOMMU_DEVICE_CONTEXT_TC_V_BIT) | (d & 1 ? RISCV_IOMMU_DEVICE_CONTEXT_TC_SADE_MASK : 0);
        dc->ta = (uint64_t)(0x10 + d) << RISCV_IOMMU_DEVICE_CONTEXT_TA_PSCID_SHIFT;
        dc->fsc = ((uint64_t)RISCV_IOMMU_IOSATP_MODE_SV39 << RISCV_IOMMU_IOSATP_MODE_SHIFT) | (root >> 12);
    }
    uint8_t *input = malloc(sizeof ram + 16 * 16);
    memcpy(input, ram, sizeof ram);
    for (int i = 0; i < 16; i++) {
        uint64_t word = (uint64_t)(i % 4) | ((uint64_t)(i % 3) << 29); /* device i % 4, access read/write/exec */
        uint64_t iova = i < 8 ? 0x1000 + (uint64_t)i * 8 : 0x40000000 + (uint64_t)i * 0x1000;
        memcpy(input + sizeof ram + i * 16, &word, 8);
        memcpy(input + sizeof ram + i * 16 + 8, &iova, 8);
    }
    put("image", "memory-1lvl-sv39", input, sizeof ram + 16 * 16);
    free(input);
}

/* device: a driver's bring-up as register writes, commands written and run, translations. */
static void device_bring_up(void)
{
    const uint64_t base = 0x80000000ull;
    seq_len = 0;
    b(0, 1); /* options: immediate commands, caches on */
    /* ddtp 1LVL at page 1 (kind 0, which 0 = DDTP; PPN field: (value >> 10) & 63 picks the page) */
    b(0, 1), b(0, 1), b(((uint64_t)RISCV_IOMMU_DDTP_MODE_ONE_LEVEL << RISCV_IOMMU_DDTP_IOMMU_MODE_SHIFT) | (1ull << 10), 8);
    /* cqb at page 2, LOG2SZ-1 = 5 */
    b(0, 1), b(1, 1), b((2ull << 10) | 5, 8);
    b(1, 1), b(0x84, 1), b(RISCV_IOMMU_CQCSR_CQEN_MASK, 4); /* cqcsr.cqen (0x84 % 10 = 2, 0x80: 4 bytes) */
    b(0, 1), b(2, 1), b((3ull << 10) | 5, 8);                   /* fqb at page 3 */
    b(1, 1), b(0x85, 1), b(RISCV_IOMMU_FQCSR_FQEN_MASK | RISCV_IOMMU_FQCSR_FIE_MASK, 4); /* fqcsr */
    /* A DC for device 1 (page 1 + 32): V, Sv39 at page 4 (kind 3 stores a qword as given: offset bit 15 clear). */
    b(3, 1), b((0x1000 + 32) / 8, 2), b(1ull << RISCV_IOMMU_DEVICE_CONTEXT_TC_V_BIT, 8);
    b(3, 1), b((0x1000 + 56) / 8, 2), b(((uint64_t)RISCV_IOMMU_IOSATP_MODE_SV39 << RISCV_IOMMU_IOSATP_MODE_SHIFT) | ((base >> 12) + 4), 8);
    /* Sv39 root page 4 -> L1 page 5 -> L0 page 6 -> leaf page 7 for IOVA 0 */
    b(3, 1), b(0x4000 / 8, 2), b((((base >> 12) + 5) << 10) | 1, 8);
    b(3, 1), b(0x5000 / 8, 2), b((((base >> 12) + 6) << 10) | 1, 8);
    b(3, 1), b(0x6000 / 8, 2), b((((base >> 12) + 7) << 10) | 0xD7, 8);
    /* Commands: IODIR.INVAL_DDT all, IOFENCE.C; cqt = 2 */
    b(2, 1), b(2, 1), b(0, 1), b((uint64_t)RISCV_IOMMU_COMMAND_OPCODE_IODIR << RISCV_IOMMU_COMMAND_OPCODE_SHIFT, 8), b(0, 8);
    b(2, 1), b(2, 1), b(1, 1), b((uint64_t)RISCV_IOMMU_COMMAND_OPCODE_IOFENCE << RISCV_IOMMU_COMMAND_OPCODE_SHIFT, 8), b(0, 8);
    b(1, 1), b(1, 1), b(2, 1);
    /* Translations of device 1: IOVA 0x10 read, write; device 2 (faults); a PASID request. */
    b(4, 1), b(0x1 | (0x10ull << 20), 4), b(0, 2);
    b(4, 1), b(0x1 | (1ull << 16) | (0x18ull << 20), 4), b(0, 2);
    b(5, 1), b(0x2, 4), b(0, 2);
    b(4, 1), b(0x1 | (3ull << 4) | (1ull << 12), 4), b(0, 2);
    b(11, 1);
    put("device", "bring-up", seq, seq_len);
}

/* pagetable: maps of each shape, unmaps, walks, dirty reads, gather checks and completions. */
static void page_table_sequences(void)
{
    for (int mode = 0; mode < 6; mode++) {
        seq_len = 0;
        b((uint64_t)mode | (mode == 1 ? 0x80 : 0), 1);
        b(0, 1), b(7, 1), b(0x10, 2), b(7 | (3 << 3), 1), b(0x100, 3), b(0x03 | 0x08, 1); /* map 4 pages RW+U */
        b(0, 1), b(4, 1), b(1, 1), b(1, 1), b(0x200, 3), b(0x01, 1);                       /* map 2 MiB R */
        b(0, 1), b(7, 1), b(0x10, 2), b(5, 1), b(0x300, 3), b(0x01, 1);                    /* overlap */
        b(5, 1), b(7, 1), b(0x11, 2);                                                       /* walk */
        b(6, 1), b(7, 1), b(0x10, 2), b(3, 1);                                              /* dirty */
        b(3, 1), b(7, 1), b(0x11, 2), b(5, 1);                                              /* unmap 1 page */
        b(3, 1), b(4, 1), b(1, 1), b(5, 1);                                                 /* partial superpage */
        b(7, 1);                                                                            /* gather check */
        b(3, 1), b(7, 1), b(0x10, 2), b(7 | (7 << 3), 1);                                   /* unmap the rest */
        b(7 | 0x80, 1);                                                                     /* complete */
        char name[32];
        snprintf(name, sizeof name, "mode-%d", mode);
        put("pagetable", name, seq, seq_len);
    }
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: make_seeds native-layout/fuzz/corpus\n");
        return 2;
    }
    root = argv[1];
    memory_with_a_ddt();
    device_bring_up();
    page_table_sequences();
    image_of_a_driver_world();
    printf("seeds written under %s\n", root);
    return 0;
}
