/* The bad-handle matrix: every function of fastiommu.h, called with each of its handle arguments bad in turn (zero, a
 * forged generation of a live slot, a destroyed handle whose slot a live object of some kind now uses, and a live
 * handle of each of the 12 other kinds) and with each of its required pointer arguments NULL, the other arguments
 * valid. Each call must give its documented status (FASTIOMMU_ERR_INVALID_HANDLE, FASTIOMMU_ERR_INVALID_ARGUMENT),
 * a message in fastiommu_last_error() beginning with that status's name, no output written, and nothing changed:
 * the guest RAM byte for byte, the allocators' counters, the registers of the device, the driver's counters, the
 * gather and the domains as they were, and every live object still alive (the teardown destroys each one).
 *
 * Coverage is checked against the header itself: argv[1] is fastiommu.h; every function it declares must have an
 * entry below (and every entry must be declared there), so a new export cannot slip past the matrix. */
static int failures;
#include "test_support.h"

#include <stdbool.h>
#include <unistd.h>

#define RAM_BASE 0x80000000ull
#define RAM_SIZE (2ull << 20)
#define TABLE_WINDOW (RAM_BASE + 0x100000) /* the page-table allocator: 64 pages */
#define DRIVER_WINDOW (RAM_BASE + 0x140000) /* the driver's allocator: 176 pages */
#define DATA (RAM_BASE + 0x10000)
#define IOVA 0x40000000ull

enum kind {
    K_MEMORY,
    K_ALLOCATOR,
    K_PAGE_TABLE,
    K_GATHER,
    K_IOMMU,
    K_DRIVER,
    K_INSTANCE,
    K_GROUP,
    K_DEVICE,
    K_DOMAIN,
    K_UNMAP_GATHER,
    K_SVA,
    K_IMAGE,
    K_COUNT,
    K_NONE = -1
};

static const char *const kind_names[K_COUNT] = { "memory", "allocator", "page_table", "gather", "iommu", "driver",
                                                 "instance", "group", "device", "domain", "unmap_gather", "sva", "image" };

/* The world: one live object of each kind (and a few more it needs), one destroyed handle of each kind. */
static uint8_t *ram;
static uint64_t live[K_COUNT];
static uint64_t stale[K_COUNT];
static fastiommu_allocator driver_window;
static fastiommu_domain second_domain, sva_domain;
static uint64_t kept_page, kept_block; /* allocated from the table allocator, never freed during the matrix */
static char save_path[256];

/* Every output a call may write, poisoned before each call and compared after a failure. */
static struct outputs {
    uint64_t handle, pa, u64a, u64b, words[4];
    uint32_t u32a, u32b;
    void *host;
    fastiommu_walk_result walk;
    fastiommu_gather_info gather_info;
    fastiommu_counters counters;
    fastiommu_translate_response responses[2];
    struct riscv_iommu_fault_record records[4];
    struct riscv_iommu_command commands[4];
    fastiommu_image_info image_info;
    char text[64];
} out;
static uint64_t unmapped_out; /* "0 on failure" (fastiommu_page_table_unmap, fastiommu_domain_unmap): 0 or untouched */

/* Valid inputs. */
static uint8_t scratch[4096] __attribute__((aligned(4096)));
static uint64_t source_qword = 0x1122334455667788ull;
static fastiommu_translate_request requests[2] = { { .iova = IOVA, .device_id = 0x10, .access = FASTIOMMU_ACCESS_READ },
                                                   { .iova = IOVA, .device_id = 0x10, .access = FASTIOMMU_ACCESS_READ } };
static struct riscv_iommu_page_request page_request;
static fastiommu_instance_options options = { .struct_size = sizeof(fastiommu_instance_options) };
static fastiommu_iommu_config iommu_config;

static int cb_read(void *c, uint64_t pa, void *d, uint64_t n) { (void)c; (void)pa; memset(d, 0, n); return 0; }
static int cb_write(void *c, uint64_t pa, const void *s, uint64_t n) { (void)c; (void)pa; (void)s; (void)n; return 0; }
static int cb_cas(void *c, uint64_t pa, uint64_t e, uint64_t d, uint64_t *o) { (void)c; (void)pa; (void)d; *o = e; return 0; }
static fastiommu_memory_callbacks memory_callbacks = { NULL, cb_read, cb_write, cb_cas };
static uint32_t mmio_read32(void *c, uint32_t o) { (void)c; (void)o; return 0; }
static uint64_t mmio_read64(void *c, uint32_t o) { (void)c; (void)o; return 0; }
static void mmio_write32(void *c, uint32_t o, uint32_t v) { (void)c; (void)o; (void)v; }
static void mmio_write64(void *c, uint32_t o, uint64_t v) { (void)c; (void)o; (void)v; }
static fastiommu_mmio_callbacks mmio_callbacks = { NULL, mmio_read32, mmio_read64, mmio_write32, mmio_write64 };

/* ---------------------------------------------------------------------------------------------- the calls */

struct args {
    uint64_t h[3];  /* handle arguments, in the order of the entry's kinds */
    unsigned nulls; /* bit j: pointer argument j is NULL */
};

#define H(type, i) ((fastiommu_##type){ a->h[i] })
#define PTR(j, valid) ((a->nulls >> (j) & 1u) ? NULL : (valid))

/* Pointer argument specs, one character per pointer argument in order:
 *   r  required: NULL is FASTIOMMU_ERR_INVALID_ARGUMENT and changes nothing;
 *   o  may be NULL (documented): NULL with valid handles succeeds and, for these arguments, changes nothing;
 *   n  may be NULL (documented), but the call would then do its work (create, unmap, clear D): not tried here. */
struct entry {
    const char *name;
    enum kind kinds[3];
    const char *pointers;
    fastiommu_status (*call)(const struct args *a);
};

static fastiommu_status c_memory_create(const struct args *a) { return fastiommu_memory_create(4096, 0, PTR(0, (fastiommu_memory *)&out.handle)); }
static fastiommu_status c_memory_wrap(const struct args *a) { return fastiommu_memory_wrap(PTR(0, scratch), 4096, 0, PTR(1, (fastiommu_memory *)&out.handle)); }
static fastiommu_status c_memory_create_callbacks(const struct args *a) { return fastiommu_memory_create_callbacks(PTR(0, &memory_callbacks), PTR(1, (fastiommu_memory *)&out.handle)); }
static fastiommu_status c_memory_destroy(const struct args *a) { return fastiommu_memory_destroy(H(memory, 0)); }
static fastiommu_status c_memory_read(const struct args *a) { return fastiommu_memory_read(H(memory, 0), RAM_BASE, PTR(0, &out.u64a), 8); }
static fastiommu_status c_memory_write(const struct args *a) { return fastiommu_memory_write(H(memory, 0), DATA, PTR(0, &source_qword), 8); }
static fastiommu_status c_memory_host_pointer(const struct args *a) { return fastiommu_memory_host_pointer(H(memory, 0), RAM_BASE, PTR(0, &out.host)); }
static fastiommu_status c_allocator_create(const struct args *a) { return fastiommu_allocator_create(H(memory, 0), RAM_BASE + 0x20000, 0x4000, PTR(0, (fastiommu_allocator *)&out.handle)); }
static fastiommu_status c_allocator_destroy(const struct args *a) { return fastiommu_allocator_destroy(H(allocator, 0)); }
static fastiommu_status c_allocator_alloc_page(const struct args *a) { return fastiommu_allocator_alloc_page(H(allocator, 0), PTR(0, &out.pa)); }
static fastiommu_status c_allocator_alloc_block(const struct args *a) { return fastiommu_allocator_alloc_block(H(allocator, 0), PTR(0, &out.pa)); }
static fastiommu_status c_allocator_free_page(const struct args *a) { return fastiommu_allocator_free_page(H(allocator, 0), kept_page); }
static fastiommu_status c_allocator_free_block(const struct args *a) { return fastiommu_allocator_free_block(H(allocator, 0), kept_block); }
static fastiommu_status c_allocator_stats(const struct args *a) { return fastiommu_allocator_stats(H(allocator, 0), PTR(0, &out.u64a), PTR(1, &out.u64b)); }
static fastiommu_status c_page_table_create(const struct args *a) { return fastiommu_page_table_create(H(allocator, 0), FASTIOMMU_MODE_SV39, 0, PTR(0, (fastiommu_page_table *)&out.handle)); }
static fastiommu_status c_page_table_destroy(const struct args *a) { return fastiommu_page_table_destroy(H(page_table, 0)); }
static fastiommu_status c_page_table_root(const struct args *a) { return fastiommu_page_table_root(H(page_table, 0), PTR(0, &out.pa)); }
static fastiommu_status c_page_table_map(const struct args *a) { return fastiommu_page_table_map(H(page_table, 0), IOVA + 0x100000, DATA, 4096, FASTIOMMU_PROT_READ, 0); }
static fastiommu_status c_page_table_unmap(const struct args *a) { return fastiommu_page_table_unmap(H(page_table, 0), IOVA, 4096, H(gather, 1), PTR(0, &unmapped_out)); }
static fastiommu_status c_page_table_iova_to_phys(const struct args *a) { return fastiommu_page_table_iova_to_phys(H(page_table, 0), IOVA, PTR(0, &out.pa)); }
static fastiommu_status c_page_table_walk(const struct args *a) { return fastiommu_page_table_walk(H(page_table, 0), IOVA, PTR(0, &out.walk)); }
static fastiommu_status c_page_table_read_and_clear_dirty(const struct args *a) { return fastiommu_page_table_read_and_clear_dirty(H(page_table, 0), IOVA, 4096, PTR(0, out.words), 1, PTR(1, &out.u64a)); }
static fastiommu_status c_gather_create(const struct args *a) { return fastiommu_gather_create(PTR(0, (fastiommu_gather *)&out.handle)); }
static fastiommu_status c_gather_destroy(const struct args *a) { return fastiommu_gather_destroy(H(gather, 0)); }
static fastiommu_status c_gather_info_get(const struct args *a) { return fastiommu_gather_info_get(H(gather, 0), PTR(0, &out.gather_info)); }
static fastiommu_status c_gather_range(const struct args *a) { return fastiommu_gather_range(H(gather, 0), 0, PTR(0, &out.u64a), PTR(1, &out.u64b)); }
static fastiommu_status c_gather_complete(const struct args *a) { return fastiommu_gather_complete(H(gather, 0)); }
static fastiommu_status c_iommu_create(const struct args *a) { return fastiommu_iommu_create(H(memory, 0), PTR(0, &iommu_config), PTR(1, (fastiommu_iommu *)&out.handle)); }
static fastiommu_status c_iommu_destroy(const struct args *a) { return fastiommu_iommu_destroy(H(iommu, 0)); }
static fastiommu_status c_iommu_read32(const struct args *a) { return fastiommu_iommu_read32(H(iommu, 0), RISCV_IOMMU_REG_FQH, PTR(0, &out.u32a)); }
static fastiommu_status c_iommu_read64(const struct args *a) { return fastiommu_iommu_read64(H(iommu, 0), RISCV_IOMMU_REG_DDTP, PTR(0, &out.u64a)); }
static fastiommu_status c_iommu_write32(const struct args *a) { return fastiommu_iommu_write32(H(iommu, 0), RISCV_IOMMU_REG_CQCSR, 0); }
static fastiommu_status c_iommu_write64(const struct args *a) { return fastiommu_iommu_write64(H(iommu, 0), RISCV_IOMMU_REG_DDTP, 0); }
static fastiommu_status c_iommu_process_commands(const struct args *a) { return fastiommu_iommu_process_commands(H(iommu, 0), PTR(0, &out.u32a)); }
static fastiommu_status c_iommu_fault_counts(const struct args *a) { return fastiommu_iommu_fault_counts(H(iommu, 0), PTR(0, &out.u64a), PTR(1, &out.u64b)); }
static fastiommu_status c_iommu_report_page_request(const struct args *a) { return fastiommu_iommu_report_page_request(H(iommu, 0), PTR(0, &page_request), PTR(1, &out.u32a)); }
static fastiommu_status c_iommu_take_ats_messages(const struct args *a) { return fastiommu_iommu_take_ats_messages(H(iommu, 0), PTR(0, out.commands), 4, PTR(1, &out.u32a)); }
static fastiommu_status c_iommu_translate(const struct args *a) { return fastiommu_iommu_translate(H(iommu, 0), PTR(0, &requests[0]), PTR(1, &out.responses[0])); }
static fastiommu_status c_iommu_translate_batch(const struct args *a) { return fastiommu_iommu_translate_batch(H(iommu, 0), PTR(0, requests), PTR(1, out.responses), 2); }
static fastiommu_status c_driver_create(const struct args *a) { return fastiommu_driver_create(H(allocator, 0), PTR(0, (fastiommu_driver *)&out.handle)); }
static fastiommu_status c_driver_destroy(const struct args *a) { return fastiommu_driver_destroy(H(driver, 0)); }
static fastiommu_status c_instance_create_mmio(const struct args *a) { return fastiommu_instance_create_mmio(H(driver, 0), PTR(0, &mmio_callbacks), PTR(1, &options), PTR(2, (fastiommu_instance *)&out.handle)); }
static fastiommu_status c_instance_create_device(const struct args *a) { return fastiommu_instance_create_device(H(driver, 0), H(iommu, 1), PTR(0, &options), PTR(1, (fastiommu_instance *)&out.handle)); }
static fastiommu_status c_instance_destroy(const struct args *a) { return fastiommu_instance_destroy(H(instance, 0)); }
static fastiommu_status c_instance_counters(const struct args *a) { return fastiommu_instance_counters(H(instance, 0), PTR(0, &out.counters)); }
static fastiommu_status c_instance_sync(const struct args *a) { return fastiommu_instance_sync(H(instance, 0)); }
static fastiommu_status c_instance_read_faults(const struct args *a) { return fastiommu_instance_read_faults(H(instance, 0), PTR(0, out.records), 4, PTR(1, &out.u32a)); }
static fastiommu_status c_group_create(const struct args *a) { return fastiommu_group_create(H(driver, 0), PTR(0, "g"), PTR(1, (fastiommu_group *)&out.handle)); }
static fastiommu_status c_group_destroy(const struct args *a) { return fastiommu_group_destroy(H(group, 0)); }
static fastiommu_status c_device_add(const struct args *a) { return fastiommu_device_add(H(instance, 0), 0x77, H(group, 1), 0, 0, PTR(0, (fastiommu_device *)&out.handle)); }
static fastiommu_status c_device_release(const struct args *a) { return fastiommu_device_release(H(device, 0)); }
static fastiommu_status c_device_remove(const struct args *a) { return fastiommu_device_remove(H(device, 0)); }
static fastiommu_status c_domain_create(const struct args *a) { return fastiommu_domain_create(H(driver, 0), FASTIOMMU_DOMAIN_PAGING, FASTIOMMU_MODE_SV39, PTR(0, (fastiommu_domain *)&out.handle)); }
static fastiommu_status c_domain_create_nested(const struct args *a) { return fastiommu_domain_create_nested(H(domain, 0), 0x1000, 1, PTR(0, (fastiommu_domain *)&out.handle)); }
static fastiommu_status c_domain_destroy(const struct args *a) { return fastiommu_domain_destroy(H(domain, 0)); }
static fastiommu_status c_domain_info(const struct args *a) { return fastiommu_domain_info(H(domain, 0), PTR(0, &out.u32a), PTR(1, &out.u64a)); }
static fastiommu_status c_attach(const struct args *a) { return fastiommu_attach(H(group, 0), H(domain, 1)); }
static fastiommu_status c_replace(const struct args *a) { return fastiommu_replace(H(group, 0), H(domain, 1)); }
static fastiommu_status c_detach(const struct args *a) { return fastiommu_detach(H(group, 0)); }
static fastiommu_status c_pasid_attach(const struct args *a) { return fastiommu_pasid_attach(H(device, 0), 7, H(domain, 1)); }
static fastiommu_status c_pasid_detach(const struct args *a) { return fastiommu_pasid_detach(H(device, 0), 5); }
static fastiommu_status c_sva_bind(const struct args *a) { return fastiommu_sva_bind(H(device, 0), H(domain, 1), PTR(0, (fastiommu_sva *)&out.handle), PTR(1, &out.u32a)); }
static fastiommu_status c_sva_unbind(const struct args *a) { return fastiommu_sva_unbind(H(sva, 0)); }
static fastiommu_status c_unmap_gather_create(const struct args *a) { return fastiommu_unmap_gather_create(H(driver, 0), PTR(0, (fastiommu_unmap_gather *)&out.handle)); }
static fastiommu_status c_unmap_gather_destroy(const struct args *a) { return fastiommu_unmap_gather_destroy(H(unmap_gather, 0)); }
static fastiommu_status c_domain_map(const struct args *a) { return fastiommu_domain_map(H(domain, 0), IOVA + 0x100000, DATA, 4096, FASTIOMMU_PROT_READ); }
static fastiommu_status c_domain_unmap(const struct args *a) { return fastiommu_domain_unmap(H(domain, 0), IOVA, 4096, H(unmap_gather, 1), PTR(0, &unmapped_out)); }
static fastiommu_status c_domain_sync(const struct args *a) { return fastiommu_domain_sync(H(domain, 0), H(unmap_gather, 1)); }
static fastiommu_status c_domain_unmap_sync(const struct args *a) { return fastiommu_domain_unmap_sync(H(domain, 0), IOVA, 4096, PTR(0, &unmapped_out)); }
static fastiommu_status c_domain_iova_to_phys(const struct args *a) { return fastiommu_domain_iova_to_phys(H(domain, 0), IOVA, PTR(0, &out.pa)); }
static fastiommu_status c_image_capture(const struct args *a) { return fastiommu_image_capture(H(memory, 0), 0, test_capabilities(), 0, PTR(0, (fastiommu_image *)&out.handle)); }
static fastiommu_status c_image_capture_iommu(const struct args *a) { return fastiommu_image_capture_iommu(H(iommu, 0), PTR(0, (fastiommu_image *)&out.handle)); }
static fastiommu_status c_image_destroy(const struct args *a) { return fastiommu_image_destroy(H(image, 0)); }
static fastiommu_status c_image_info_get(const struct args *a) { return fastiommu_image_info_get(H(image, 0), PTR(0, &out.image_info)); }
static fastiommu_status c_image_save(const struct args *a) { return fastiommu_image_save(H(image, 0), PTR(0, save_path)); }
static fastiommu_status c_image_save_buffer(const struct args *a) { return fastiommu_image_save_buffer(H(image, 0), PTR(0, out.text), sizeof out.text, PTR(1, &out.u64a)); }
static fastiommu_status c_image_load(const struct args *a) { return fastiommu_image_load(PTR(0, save_path), PTR(1, (fastiommu_image *)&out.handle)); }
static fastiommu_status c_image_load_buffer(const struct args *a) { return fastiommu_image_load_buffer(PTR(0, scratch), 64, PTR(1, (fastiommu_image *)&out.handle)); }
static fastiommu_status c_image_dump(const struct args *a) { return fastiommu_image_dump(H(image, 0), PTR(0, out.text), sizeof out.text, PTR(1, &out.u64a)); }
static fastiommu_status c_image_dump_file(const struct args *a) { return fastiommu_image_dump_file(H(image, 0), PTR(0, save_path)); }

#define N K_NONE
static const struct entry matrix[] = {
    /* No handle and no pointer: nothing to try beyond "callable"; checked in main. */
    { "fastiommu_abi_version", { N, N, N }, "", NULL },
    { "fastiommu_last_error", { N, N, N }, "", NULL },
    { "fastiommu_status_name", { N, N, N }, "", NULL },

    { "fastiommu_memory_create", { N, N, N }, "r", c_memory_create },
    { "fastiommu_memory_wrap", { N, N, N }, "rr", c_memory_wrap },
    { "fastiommu_memory_create_callbacks", { N, N, N }, "rr", c_memory_create_callbacks },
    { "fastiommu_memory_destroy", { K_MEMORY, N, N }, "", c_memory_destroy },
    { "fastiommu_memory_read", { K_MEMORY, N, N }, "r", c_memory_read },
    { "fastiommu_memory_write", { K_MEMORY, N, N }, "r", c_memory_write },
    { "fastiommu_memory_host_pointer", { K_MEMORY, N, N }, "r", c_memory_host_pointer },
    { "fastiommu_allocator_create", { K_MEMORY, N, N }, "r", c_allocator_create },
    { "fastiommu_allocator_destroy", { K_ALLOCATOR, N, N }, "", c_allocator_destroy },
    { "fastiommu_allocator_alloc_page", { K_ALLOCATOR, N, N }, "r", c_allocator_alloc_page },
    { "fastiommu_allocator_alloc_block", { K_ALLOCATOR, N, N }, "r", c_allocator_alloc_block },
    { "fastiommu_allocator_free_page", { K_ALLOCATOR, N, N }, "", c_allocator_free_page },
    { "fastiommu_allocator_free_block", { K_ALLOCATOR, N, N }, "", c_allocator_free_block },
    { "fastiommu_allocator_stats", { K_ALLOCATOR, N, N }, "oo", c_allocator_stats },
    { "fastiommu_page_table_create", { K_ALLOCATOR, N, N }, "r", c_page_table_create },
    { "fastiommu_page_table_destroy", { K_PAGE_TABLE, N, N }, "", c_page_table_destroy },
    { "fastiommu_page_table_root", { K_PAGE_TABLE, N, N }, "r", c_page_table_root },
    { "fastiommu_page_table_map", { K_PAGE_TABLE, N, N }, "", c_page_table_map },
    { "fastiommu_page_table_unmap", { K_PAGE_TABLE, K_GATHER, N }, "n", c_page_table_unmap },
    { "fastiommu_page_table_iova_to_phys", { K_PAGE_TABLE, N, N }, "r", c_page_table_iova_to_phys },
    { "fastiommu_page_table_walk", { K_PAGE_TABLE, N, N }, "r", c_page_table_walk },
    { "fastiommu_page_table_read_and_clear_dirty", { K_PAGE_TABLE, N, N }, "rn", c_page_table_read_and_clear_dirty },
    { "fastiommu_gather_create", { N, N, N }, "r", c_gather_create },
    { "fastiommu_gather_destroy", { K_GATHER, N, N }, "", c_gather_destroy },
    { "fastiommu_gather_info_get", { K_GATHER, N, N }, "r", c_gather_info_get },
    { "fastiommu_gather_range", { K_GATHER, N, N }, "rr", c_gather_range },
    { "fastiommu_gather_complete", { K_GATHER, N, N }, "", c_gather_complete },
    { "fastiommu_iommu_create", { K_MEMORY, N, N }, "rr", c_iommu_create },
    { "fastiommu_iommu_destroy", { K_IOMMU, N, N }, "", c_iommu_destroy },
    { "fastiommu_iommu_read32", { K_IOMMU, N, N }, "r", c_iommu_read32 },
    { "fastiommu_iommu_read64", { K_IOMMU, N, N }, "r", c_iommu_read64 },
    { "fastiommu_iommu_write32", { K_IOMMU, N, N }, "", c_iommu_write32 },
    { "fastiommu_iommu_write64", { K_IOMMU, N, N }, "", c_iommu_write64 },
    { "fastiommu_iommu_process_commands", { K_IOMMU, N, N }, "o", c_iommu_process_commands },
    { "fastiommu_iommu_fault_counts", { K_IOMMU, N, N }, "oo", c_iommu_fault_counts },
    { "fastiommu_iommu_report_page_request", { K_IOMMU, N, N }, "ro", c_iommu_report_page_request },
    { "fastiommu_iommu_take_ats_messages", { K_IOMMU, N, N }, "rr", c_iommu_take_ats_messages },
    { "fastiommu_iommu_translate", { K_IOMMU, N, N }, "rr", c_iommu_translate },
    { "fastiommu_iommu_translate_batch", { K_IOMMU, N, N }, "rr", c_iommu_translate_batch },
    { "fastiommu_driver_create", { K_ALLOCATOR, N, N }, "r", c_driver_create },
    { "fastiommu_driver_destroy", { K_DRIVER, N, N }, "", c_driver_destroy },
    { "fastiommu_instance_create_mmio", { K_DRIVER, N, N }, "rnr", c_instance_create_mmio },
    { "fastiommu_instance_create_device", { K_DRIVER, K_IOMMU, N }, "nr", c_instance_create_device },
    { "fastiommu_instance_destroy", { K_INSTANCE, N, N }, "", c_instance_destroy },
    { "fastiommu_instance_counters", { K_INSTANCE, N, N }, "r", c_instance_counters },
    { "fastiommu_instance_sync", { K_INSTANCE, N, N }, "", c_instance_sync },
    { "fastiommu_instance_read_faults", { K_INSTANCE, N, N }, "rr", c_instance_read_faults },
    { "fastiommu_group_create", { K_DRIVER, N, N }, "nr", c_group_create },
    { "fastiommu_group_destroy", { K_GROUP, N, N }, "", c_group_destroy },
    { "fastiommu_device_add", { K_INSTANCE, K_GROUP, N }, "r", c_device_add },
    { "fastiommu_device_release", { K_DEVICE, N, N }, "", c_device_release },
    { "fastiommu_device_remove", { K_DEVICE, N, N }, "", c_device_remove },
    { "fastiommu_domain_create", { K_DRIVER, N, N }, "r", c_domain_create },
    { "fastiommu_domain_create_nested", { K_DOMAIN, N, N }, "r", c_domain_create_nested },
    { "fastiommu_domain_destroy", { K_DOMAIN, N, N }, "", c_domain_destroy },
    { "fastiommu_domain_info", { K_DOMAIN, N, N }, "oo", c_domain_info },
    { "fastiommu_attach", { K_GROUP, K_DOMAIN, N }, "", c_attach },
    { "fastiommu_replace", { K_GROUP, K_DOMAIN, N }, "", c_replace },
    { "fastiommu_detach", { K_GROUP, N, N }, "", c_detach },
    { "fastiommu_pasid_attach", { K_DEVICE, K_DOMAIN, N }, "", c_pasid_attach },
    { "fastiommu_pasid_detach", { K_DEVICE, N, N }, "", c_pasid_detach },
    { "fastiommu_sva_bind", { K_DEVICE, K_DOMAIN, N }, "rn", c_sva_bind },
    { "fastiommu_sva_unbind", { K_SVA, N, N }, "", c_sva_unbind },
    { "fastiommu_unmap_gather_create", { K_DRIVER, N, N }, "r", c_unmap_gather_create },
    { "fastiommu_unmap_gather_destroy", { K_UNMAP_GATHER, N, N }, "", c_unmap_gather_destroy },
    { "fastiommu_domain_map", { K_DOMAIN, N, N }, "", c_domain_map },
    { "fastiommu_domain_unmap", { K_DOMAIN, K_UNMAP_GATHER, N }, "n", c_domain_unmap },
    { "fastiommu_domain_sync", { K_DOMAIN, K_UNMAP_GATHER, N }, "", c_domain_sync },
    { "fastiommu_domain_unmap_sync", { K_DOMAIN, N, N }, "n", c_domain_unmap_sync },
    { "fastiommu_domain_iova_to_phys", { K_DOMAIN, N, N }, "r", c_domain_iova_to_phys },
    { "fastiommu_image_capture", { K_MEMORY, N, N }, "r", c_image_capture },
    { "fastiommu_image_capture_iommu", { K_IOMMU, N, N }, "r", c_image_capture_iommu },
    { "fastiommu_image_destroy", { K_IMAGE, N, N }, "", c_image_destroy },
    { "fastiommu_image_info_get", { K_IMAGE, N, N }, "r", c_image_info_get },
    { "fastiommu_image_save", { K_IMAGE, N, N }, "r", c_image_save },
    { "fastiommu_image_save_buffer", { K_IMAGE, N, N }, "rr", c_image_save_buffer },
    { "fastiommu_image_load", { N, N, N }, "rr", c_image_load },
    { "fastiommu_image_load_buffer", { N, N, N }, "rr", c_image_load_buffer },
    { "fastiommu_image_dump", { K_IMAGE, N, N }, "rr", c_image_dump },
    { "fastiommu_image_dump_file", { K_IMAGE, N, N }, "r", c_image_dump_file },
};
#undef N
#define MATRIX_SIZE (sizeof matrix / sizeof matrix[0])

/* Which live handle stands for a valid argument of kind k in a given call: the domain of attach, PASID attach and
 * SVA bind is the one that makes the call legal (an unattached paging domain, the SVA address space). */
static uint64_t valid_handle(const struct entry *e, int position)
{
    enum kind k = e->kinds[position];
    if (k == K_DOMAIN && position == 1) {
        return strcmp(e->name, "fastiommu_sva_bind") == 0 ? sva_domain.id : second_domain.id;
    }
    return live[k];
}

/* ---------------------------------------------------------------------------------------------- "nothing changed" */

static struct fingerprint {
    uint64_t table_stats[2], driver_stats[2];
    uint64_t registers[0x60 / 8];
    uint32_t ipsr;
    fastiommu_counters counters;
    uint64_t faults_written, faults_dropped;
    fastiommu_gather_info gather;
    uint32_t domain_kind;
    uint64_t domain_root, second_root, iova_pa, table_pa;
    fastiommu_image_info image;
    int save_path_exists;
} before_print;
static uint8_t *ram_before;

static void take_fingerprint(struct fingerprint *f)
{
    memset(f, 0, sizeof *f);
    fastiommu_allocator_stats((fastiommu_allocator){ live[K_ALLOCATOR] }, &f->table_stats[0], &f->table_stats[1]);
    fastiommu_allocator_stats(driver_window, &f->driver_stats[0], &f->driver_stats[1]);
    for (uint32_t i = 0; i < 0x60 / 8; i++) {
        fastiommu_iommu_read64((fastiommu_iommu){ live[K_IOMMU] }, i * 8, &f->registers[i]);
    }
    fastiommu_iommu_read32((fastiommu_iommu){ live[K_IOMMU] }, RISCV_IOMMU_REG_IPSR, &f->ipsr);
    fastiommu_instance_counters((fastiommu_instance){ live[K_INSTANCE] }, &f->counters);
    fastiommu_iommu_fault_counts((fastiommu_iommu){ live[K_IOMMU] }, &f->faults_written, &f->faults_dropped);
    fastiommu_gather_info_get((fastiommu_gather){ live[K_GATHER] }, &f->gather);
    fastiommu_domain_info((fastiommu_domain){ live[K_DOMAIN] }, &f->domain_kind, &f->domain_root);
    fastiommu_domain_info(second_domain, NULL, &f->second_root);
    fastiommu_domain_iova_to_phys((fastiommu_domain){ live[K_DOMAIN] }, IOVA, &f->iova_pa);
    fastiommu_page_table_iova_to_phys((fastiommu_page_table){ live[K_PAGE_TABLE] }, IOVA, &f->table_pa);
    fastiommu_image_info_get((fastiommu_image){ live[K_IMAGE] }, &f->image);
    f->save_path_exists = access(save_path, F_OK) == 0;
}

/* One bad call: the expected status, a message naming it, no output, nothing changed. */
static int calls;
static void expect_refused(const struct entry *e, const struct args *a, fastiommu_status expected, const char *what)
{
    static struct outputs poisoned;
    static int poisoned_ready;
    if (!poisoned_ready) {
        memset(&poisoned, 0xA5, sizeof poisoned);
        poisoned_ready = 1;
    }
    out = poisoned;
    unmapped_out = 0xA5A5A5A5A5A5A5A5ull;
    calls++;
    /* A known failure first, so a message left over from an earlier call is not taken for this one's. */
    uint64_t ignored;
    fastiommu_memory_read((fastiommu_memory){ live[K_MEMORY] }, 0x10, &ignored, 8); /* ACCESS_FAULT: no case gives it */
    char marker[128];
    snprintf(marker, sizeof marker, "%s", fastiommu_last_error());
    fastiommu_status st = e->call(a);
    const char *message = fastiommu_last_error();
    CHECK(strcmp(message, marker) != 0, "%s with %s: the call set its own message", e->name, what);
    const char *expected_name = fastiommu_status_name(expected);
    CHECK(st == expected, "%s with %s: %s, expected %s (%s)", e->name, what, fastiommu_status_name(st), expected_name,
          message);
    CHECK(message != NULL && strncmp(message, expected_name, strlen(expected_name)) == 0 && strlen(message) > strlen(expected_name) + 2,
          "%s with %s: the last error names the status and says why: \"%s\"", e->name, what, message ? message : "(null)");
    CHECK(memcmp(&out, &poisoned, sizeof out) == 0, "%s with %s: no output written on failure", e->name, what);
    CHECK(unmapped_out == 0xA5A5A5A5A5A5A5A5ull || unmapped_out == 0, "%s with %s: *unmapped untouched or 0", e->name, what);
    if (st == FASTIOMMU_OK && out.handle != 0xA5A5A5A5A5A5A5A5ull) {
        fprintf(stderr, "%s with %s created handle 0x%" PRIx64 " (leaked by the test)\n", e->name, what, out.handle);
    }
    struct fingerprint after;
    take_fingerprint(&after);
    CHECK(memcmp(&after, &before_print, sizeof after) == 0, "%s with %s: allocators, registers, counters, gather, domains "
          "and image as before", e->name, what);
    if (memcmp(ram, ram_before, RAM_SIZE) != 0) {
        uint64_t at = 0;
        while (ram[at] == ram_before[at]) {
            at++;
        }
        CHECK(0, "%s with %s: guest RAM changed, first at PA 0x%" PRIx64, e->name, what, (uint64_t)(RAM_BASE + at));
        memcpy(ram_before, ram, RAM_SIZE); /* report each change once */
        take_fingerprint(&before_print);
    }
    if (memcmp(&after, &before_print, sizeof after) != 0) {
        before_print = after;
    }
}

static void run_entry(const struct entry *e)
{
    if (e->call == NULL) {
        return;
    }
    struct args base = { { 0, 0, 0 }, 0 };
    int handles = 0;
    for (int i = 0; i < 3 && e->kinds[i] != K_NONE; i++) {
        base.h[handles++] = valid_handle(e, i);
    }
    char what[96];
    for (int i = 0; i < handles; i++) {
        enum kind k = e->kinds[i];
        struct args a = base;
        a.h[i] = 0;
        snprintf(what, sizeof what, "%s argument %d zero", kind_names[k], i);
        expect_refused(e, &a, FASTIOMMU_ERR_INVALID_HANDLE, what);
        a.h[i] = base.h[i] ^ (0x80000000ull << 32); /* a live slot, another generation */
        snprintf(what, sizeof what, "%s argument %d forged (live slot, other generation)", kind_names[k], i);
        expect_refused(e, &a, FASTIOMMU_ERR_INVALID_HANDLE, what);
        a.h[i] = ~0ull;
        snprintf(what, sizeof what, "%s argument %d all ones", kind_names[k], i);
        expect_refused(e, &a, FASTIOMMU_ERR_INVALID_HANDLE, what);
        a.h[i] = stale[k];
        snprintf(what, sizeof what, "%s argument %d destroyed (slot reused)", kind_names[k], i);
        expect_refused(e, &a, FASTIOMMU_ERR_INVALID_HANDLE, what);
        for (int other = 0; other < K_COUNT; other++) {
            if (other == (int)k) {
                continue;
            }
            a.h[i] = live[other];
            snprintf(what, sizeof what, "%s argument %d given a live %s", kind_names[k], i, kind_names[other]);
            expect_refused(e, &a, FASTIOMMU_ERR_INVALID_HANDLE, what);
        }
    }
    for (int j = 0; e->pointers[j] != 0; j++) {
        struct args a = base;
        a.nulls = 1u << j;
        if (e->pointers[j] == 'r') {
            snprintf(what, sizeof what, "pointer argument %d NULL", j);
            expect_refused(e, &a, FASTIOMMU_ERR_INVALID_ARGUMENT, what);
        } else if (e->pointers[j] == 'o') {
            calls++;
            fastiommu_status st = e->call(&a);
            CHECK(st == FASTIOMMU_OK, "%s with the optional pointer %d NULL: %s (%s)", e->name, j,
                  fastiommu_status_name(st), fastiommu_last_error());
            struct fingerprint after;
            take_fingerprint(&after);
            CHECK(memcmp(&after, &before_print, sizeof after) == 0 && memcmp(ram, ram_before, RAM_SIZE) == 0,
                  "%s with the optional pointer %d NULL: a query, nothing changed", e->name, j);
        }
    }
}

/* ---------------------------------------------------------------------------------------------- coverage */

/* The functions fastiommu.h declares: at the start of a line (not a typedef, comment or directive), the first
 * identifier fastiommu_* directly followed by '('. */
static int check_coverage(const char *header)
{
    FILE *file = fopen(header, "r");
    CHECK(file != NULL, "cannot open %s", header);
    if (file == NULL) {
        return 0;
    }
    char line[1024];
    int declared = 0;
    bool seen[MATRIX_SIZE] = { false };
    while (fgets(line, sizeof line, file)) {
        if (line[0] == ' ' || line[0] == '\t' || line[0] == '/' || line[0] == '#' || line[0] == '*'
            || strncmp(line, "typedef", 7) == 0 || strncmp(line, "_Static_assert", 14) == 0) {
            continue;
        }
        for (char *p = strstr(line, "fastiommu_"); p != NULL; p = strstr(p + 1, "fastiommu_")) {
            size_t n = 0;
            while (p[n] == '_' || (p[n] >= 'a' && p[n] <= 'z') || (p[n] >= '0' && p[n] <= '9')) {
                n++;
            }
            if (p[n] != '(' || (p > line && (p[-1] == '_' || (p[-1] >= 'a' && p[-1] <= 'z')))) {
                continue;
            }
            declared++;
            bool found = false;
            for (size_t i = 0; i < MATRIX_SIZE; i++) {
                if (strlen(matrix[i].name) == n && strncmp(matrix[i].name, p, n) == 0) {
                    found = seen[i] = true;
                }
            }
            CHECK(found, "%.*s is declared in fastiommu.h but has no entry in the bad-handle matrix", (int)n, p);
            break;
        }
    }
    fclose(file);
    for (size_t i = 0; i < MATRIX_SIZE; i++) {
        CHECK(seen[i], "the matrix entry %s is not declared in fastiommu.h", matrix[i].name);
    }
    return declared;
}

/* ---------------------------------------------------------------------------------------------- the world */

static void build_world(void)
{
    ram = aligned_alloc(4096, RAM_SIZE);
    ram_before = malloc(RAM_SIZE);
    memset(ram, 0, RAM_SIZE);
    iommu_config = (fastiommu_iommu_config){ .struct_size = sizeof iommu_config, .capabilities = test_capabilities() };
    snprintf(save_path, sizeof save_path, "/tmp/fastiommu_matrix_%d.img", (int)getpid());
    remove(save_path);

    fastiommu_memory memory;
    OK(fastiommu_memory_wrap(ram, RAM_SIZE, RAM_BASE, &memory));

    /* A destroyed handle of each kind first: the live objects made after them take their slots (LIFO free list). */
    {
        fastiommu_memory m;
        fastiommu_allocator al;
        fastiommu_page_table t;
        fastiommu_gather g;
        fastiommu_iommu hw;
        fastiommu_driver d;
        fastiommu_instance in;
        fastiommu_group gr;
        fastiommu_device dev;
        fastiommu_domain dom, as;
        fastiommu_unmap_gather ug;
        fastiommu_sva sva;
        fastiommu_image img;
        OK(fastiommu_memory_create(4096, 0, &m));
        OK(fastiommu_allocator_create(memory, RAM_BASE + 0x1C0000, 0x40000, &al));
        OK(fastiommu_page_table_create(al, FASTIOMMU_MODE_SV39, 0, &t));
        OK(fastiommu_gather_create(&g));
        OK(fastiommu_iommu_create(memory, &iommu_config, &hw));
        OK(fastiommu_driver_create(al, &d));
        OK(fastiommu_instance_create_device(d, hw, NULL, &in));
        OK(fastiommu_group_create(d, NULL, &gr));
        OK(fastiommu_device_add(in, 0x99, gr, 8, FASTIOMMU_FEATURE_SVA, &dev));
        OK(fastiommu_domain_create(d, FASTIOMMU_DOMAIN_PAGING, FASTIOMMU_MODE_SV39, &dom));
        OK(fastiommu_domain_create(d, FASTIOMMU_DOMAIN_SVA, FASTIOMMU_MODE_SV39, &as));
        OK(fastiommu_unmap_gather_create(d, &ug));
        OK(fastiommu_sva_bind(dev, as, &sva, NULL));
        OK(fastiommu_image_capture_iommu(hw, &img));
        stale[K_MEMORY] = m.id;
        stale[K_ALLOCATOR] = al.id;
        stale[K_PAGE_TABLE] = t.id;
        stale[K_GATHER] = g.id;
        stale[K_IOMMU] = hw.id;
        stale[K_DRIVER] = d.id;
        stale[K_INSTANCE] = in.id;
        stale[K_GROUP] = gr.id;
        stale[K_DEVICE] = dev.id;
        stale[K_DOMAIN] = dom.id;
        stale[K_UNMAP_GATHER] = ug.id;
        stale[K_SVA] = sva.id;
        stale[K_IMAGE] = img.id;
        OK(fastiommu_image_destroy(img));
        OK(fastiommu_sva_unbind(sva));
        OK(fastiommu_unmap_gather_destroy(ug));
        OK(fastiommu_domain_destroy(as));
        OK(fastiommu_domain_destroy(dom));
        OK(fastiommu_device_release(dev));
        OK(fastiommu_instance_destroy(in));
        OK(fastiommu_group_destroy(gr));
        OK(fastiommu_driver_destroy(d));
        OK(fastiommu_iommu_destroy(hw));
        OK(fastiommu_gather_destroy(g));
        OK(fastiommu_page_table_destroy(t));
        OK(fastiommu_allocator_destroy(al));
        OK(fastiommu_memory_destroy(m));
    }

    /* The live world. */
    fastiommu_allocator tables;
    fastiommu_page_table table;
    fastiommu_gather gather;
    fastiommu_iommu hw;
    fastiommu_driver driver;
    fastiommu_instance instance;
    fastiommu_group group;
    fastiommu_device device;
    fastiommu_domain domain;
    fastiommu_unmap_gather unmap_gather;
    fastiommu_sva sva;
    fastiommu_image image;
    OK(fastiommu_allocator_create(memory, TABLE_WINDOW, 0x40000, &tables));
    OK(fastiommu_allocator_create(memory, DRIVER_WINDOW, 0xB0000, &driver_window));
    OK(fastiommu_allocator_alloc_page(tables, &kept_page));
    OK(fastiommu_allocator_alloc_block(tables, &kept_block));
    OK(fastiommu_page_table_create(tables, FASTIOMMU_MODE_SV39, 0, &table));
    OK(fastiommu_page_table_map(table, IOVA, DATA, 0x4000, FASTIOMMU_PROT_READ | FASTIOMMU_PROT_WRITE, 0));
    OK(fastiommu_gather_create(&gather));
    OK(fastiommu_page_table_unmap(table, IOVA + 0x3000, 0x1000, gather, NULL)); /* the gather holds one range */
    OK(fastiommu_iommu_create(memory, &iommu_config, &hw));
    OK(fastiommu_driver_create(driver_window, &driver));
    OK(fastiommu_instance_create_device(driver, hw, NULL, &instance));
    OK(fastiommu_group_create(driver, "matrix", &group));
    OK(fastiommu_device_add(instance, 0x10, group, 8, FASTIOMMU_FEATURE_SVA, &device));
    OK(fastiommu_domain_create(driver, FASTIOMMU_DOMAIN_PAGING, FASTIOMMU_MODE_SV39, &domain));
    OK(fastiommu_domain_create(driver, FASTIOMMU_DOMAIN_PAGING, FASTIOMMU_MODE_SV48, &second_domain));
    OK(fastiommu_domain_create(driver, FASTIOMMU_DOMAIN_SVA, FASTIOMMU_MODE_SV39, &sva_domain));
    OK(fastiommu_domain_map(domain, IOVA, DATA, 0x4000, FASTIOMMU_PROT_READ | FASTIOMMU_PROT_WRITE));
    OK(fastiommu_attach(group, domain));
    OK(fastiommu_pasid_attach(device, 5, second_domain));
    OK(fastiommu_unmap_gather_create(driver, &unmap_gather));
    uint64_t unmapped = 0;
    OK(fastiommu_domain_unmap(domain, IOVA + 0x3000, 0x1000, unmap_gather, &unmapped)); /* an unsynced unmap */
    OK(fastiommu_sva_bind(device, sva_domain, &sva, NULL));
    OK(fastiommu_image_capture_iommu(hw, &image));
    /* A translation through the device fills its caches and sets A (the snapshot is taken after). */
    int f = 0;
    fastiommu_translate_response r = test_translate(hw, 0x10, IOVA, FASTIOMMU_ACCESS_READ, &f);
    failures += f;
    CHECK(r.flags & FASTIOMMU_RESP_SUCCESS, "the world translates: cause %u", r.cause);

    live[K_MEMORY] = memory.id;
    live[K_ALLOCATOR] = tables.id;
    live[K_PAGE_TABLE] = table.id;
    live[K_GATHER] = gather.id;
    live[K_IOMMU] = hw.id;
    live[K_DRIVER] = driver.id;
    live[K_INSTANCE] = instance.id;
    live[K_GROUP] = group.id;
    live[K_DEVICE] = device.id;
    live[K_DOMAIN] = domain.id;
    live[K_UNMAP_GATHER] = unmap_gather.id;
    live[K_SVA] = sva.id;
    live[K_IMAGE] = image.id;
    for (int k = 0; k < K_COUNT; k++) {
        CHECK(live[k] != stale[k], "the live %s is not the destroyed one", kind_names[k]);
    }
}

/* Every live object is destroyed with FASTIOMMU_OK, in borrow order: none was lost to a bad call. */
/* Objects of another driver where this driver's are expected: refused, nothing changed. */
static void foreign_objects(void)
{
    fastiommu_memory memory = { live[K_MEMORY] };
    fastiommu_allocator window;
    fastiommu_driver other;
    fastiommu_group other_group;
    fastiommu_domain other_domain, other_sva;
    fastiommu_unmap_gather other_gather;
    OK(fastiommu_allocator_create(memory, RAM_BASE + 0x1F0000, 0x10000, &window));
    OK(fastiommu_driver_create(window, &other));
    OK(fastiommu_group_create(other, NULL, &other_group));
    OK(fastiommu_domain_create(other, FASTIOMMU_DOMAIN_PAGING, FASTIOMMU_MODE_SV39, &other_domain));
    OK(fastiommu_domain_create(other, FASTIOMMU_DOMAIN_SVA, FASTIOMMU_MODE_SV39, &other_sva));
    OK(fastiommu_unmap_gather_create(other, &other_gather));
    take_fingerprint(&before_print);
    memcpy(ram_before, ram, RAM_SIZE);

    fastiommu_group group = { live[K_GROUP] };
    fastiommu_device device = { live[K_DEVICE] };
    fastiommu_domain domain = { live[K_DOMAIN] };
    fastiommu_device added;
    fastiommu_sva sva;
    uint64_t unmapped = 7;
    struct { const char *what; fastiommu_status st; fastiommu_status expected; } cases[] = {
        { "attach to another driver's domain", fastiommu_attach(group, other_domain), FASTIOMMU_ERR_INVALID_ARGUMENT },
        { "replace by another driver's domain", fastiommu_replace(group, other_domain), FASTIOMMU_ERR_INVALID_ARGUMENT },
        { "device_add into another driver's group",
          fastiommu_device_add((fastiommu_instance){ live[K_INSTANCE] }, 0x78, other_group, 0, 0, &added), FASTIOMMU_ERR_INVALID_ARGUMENT },
        { "pasid_attach of another driver's domain", fastiommu_pasid_attach(device, 9, other_domain), FASTIOMMU_ERR_INVALID_ARGUMENT },
        { "sva_bind of another driver's address space", fastiommu_sva_bind(device, other_sva, &sva, NULL), FASTIOMMU_ERR_INVALID_ARGUMENT },
        { "domain_unmap into another driver's gather", fastiommu_domain_unmap(domain, IOVA, 0x1000, other_gather, &unmapped), FASTIOMMU_ERR_FOREIGN_GATHER },
        { "domain_sync of a gather that holds another domain's unmap",
          fastiommu_domain_sync(second_domain, (fastiommu_unmap_gather){ live[K_UNMAP_GATHER] }), FASTIOMMU_ERR_INVALID_ARGUMENT },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        CHECK(cases[i].st == cases[i].expected, "%s: %s, expected %s", cases[i].what, fastiommu_status_name(cases[i].st),
              fastiommu_status_name(cases[i].expected));
        calls++;
    }
    struct fingerprint after;
    take_fingerprint(&after);
    CHECK(memcmp(&after, &before_print, sizeof after) == 0 && memcmp(ram, ram_before, RAM_SIZE) == 0,
          "objects of another driver: nothing changed");

    /* A refused unmap leaves its gather free for another domain (nothing was gathered). */
    fastiommu_unmap_gather fresh;
    OK(fastiommu_unmap_gather_create((fastiommu_driver){ live[K_DRIVER] }, &fresh));
    EXPECT_STATUS(fastiommu_domain_unmap(domain, IOVA + 1, 0x1000, fresh, &unmapped), FASTIOMMU_ERR_MISALIGNED);
    EXPECT_STATUS(fastiommu_domain_unmap(second_domain, IOVA, 0x1000, fresh, &unmapped), FASTIOMMU_OK);
    OK(fastiommu_domain_sync(second_domain, fresh));
    OK(fastiommu_unmap_gather_destroy(fresh));

    OK(fastiommu_unmap_gather_destroy(other_gather));
    OK(fastiommu_domain_destroy(other_sva));
    OK(fastiommu_domain_destroy(other_domain));
    OK(fastiommu_group_destroy(other_group));
    OK(fastiommu_driver_destroy(other));
    OK(fastiommu_allocator_destroy(window));
}

static void tear_down(void)
{
    OK(fastiommu_image_destroy((fastiommu_image){ live[K_IMAGE] }));
    OK(fastiommu_sva_unbind((fastiommu_sva){ live[K_SVA] }));
    OK(fastiommu_domain_sync((fastiommu_domain){ live[K_DOMAIN] }, (fastiommu_unmap_gather){ live[K_UNMAP_GATHER] }));
    OK(fastiommu_unmap_gather_destroy((fastiommu_unmap_gather){ live[K_UNMAP_GATHER] }));
    OK(fastiommu_pasid_detach((fastiommu_device){ live[K_DEVICE] }, 5));
    OK(fastiommu_detach((fastiommu_group){ live[K_GROUP] }));
    OK(fastiommu_domain_destroy(sva_domain));
    OK(fastiommu_domain_destroy(second_domain));
    OK(fastiommu_domain_destroy((fastiommu_domain){ live[K_DOMAIN] }));
    OK(fastiommu_device_release((fastiommu_device){ live[K_DEVICE] }));
    OK(fastiommu_group_destroy((fastiommu_group){ live[K_GROUP] }));
    OK(fastiommu_instance_destroy((fastiommu_instance){ live[K_INSTANCE] }));
    OK(fastiommu_driver_destroy((fastiommu_driver){ live[K_DRIVER] }));
    OK(fastiommu_iommu_destroy((fastiommu_iommu){ live[K_IOMMU] }));
    OK(fastiommu_gather_complete((fastiommu_gather){ live[K_GATHER] }));
    OK(fastiommu_gather_destroy((fastiommu_gather){ live[K_GATHER] }));
    OK(fastiommu_page_table_destroy((fastiommu_page_table){ live[K_PAGE_TABLE] }));
    OK(fastiommu_allocator_free_page((fastiommu_allocator){ live[K_ALLOCATOR] }, kept_page));
    OK(fastiommu_allocator_free_block((fastiommu_allocator){ live[K_ALLOCATOR] }, kept_block));
    uint64_t in_use = 1;
    OK(fastiommu_allocator_stats((fastiommu_allocator){ live[K_ALLOCATOR] }, NULL, &in_use));
    CHECK(in_use == 0, "every table page came back: %" PRIu64 " in use", in_use);
    OK(fastiommu_allocator_destroy((fastiommu_allocator){ live[K_ALLOCATOR] }));
    OK(fastiommu_allocator_destroy(driver_window));
    OK(fastiommu_memory_destroy((fastiommu_memory){ live[K_MEMORY] }));
    remove(save_path);
    free(ram);
    free(ram_before);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: test_handle_matrix path/to/fastiommu.h\n");
        return 2;
    }
    int declared = check_coverage(argv[1]);
    CHECK(declared == (int)MATRIX_SIZE, "fastiommu.h declares %d functions, the matrix has %zu entries", declared,
          MATRIX_SIZE);

    CHECK(fastiommu_abi_version() == FASTIOMMU_ABI_VERSION, "abi version");
    CHECK(fastiommu_status_name((fastiommu_status)9999) != NULL, "an unknown status still has a name");
    CHECK(fastiommu_last_error() != NULL, "last_error is never NULL");

    build_world();
    take_fingerprint(&before_print);
    memcpy(ram_before, ram, RAM_SIZE);
    for (size_t i = 0; i < MATRIX_SIZE; i++) {
        run_entry(&matrix[i]);
    }
    foreign_objects();
    tear_down();

    if (failures != 0) {
        fprintf(stderr, "test_handle_matrix: %d check(s) failed in %d calls\n", failures, calls);
        return 1;
    }
    printf("test_handle_matrix: ok, %d functions of fastiommu.h, %d bad calls\n", declared, calls);
    return 0;
}
