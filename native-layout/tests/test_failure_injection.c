/* Failure injection through the C API: each operation that takes pages runs with exactly k free pages left in its
 * allocator window (the test takes the others with fastiommu_allocator_alloc_page), for k = 0, 1, ... until it
 * succeeds. Every shortage must give FASTIOMMU_ERR_OUT_OF_MEMORY with a message, leave the guest RAM (the test's own
 * buffer, wrapped) byte for byte as before, the allocator's pages in use as before, and the device model's answers to
 * a few requests as before; with N pages (the count each operation is known to need, asserted so a change shows) it
 * succeeds. Two changes are not state and are left out of the byte comparison, as in the C# failure-injection
 * tests: the instance's command ring and fence page (a PSCID freshly taken is invalidated before use, so a shortage
 * after it leaves an executed IOTINVAL + IOFENCE.C: the queue is checked drained instead, cqh = cqt), and the first
 * qword of each free page of the window (the allocator's free-list link). Then PASID exhaustion on a device with 1 and 2 PASID bits: FASTIOMMU_ERR_IDS_EXHAUSTED, nothing changed.
 *
 * Operations: page-table create and map (through fastiommu_page_table_*), and through the driver exports: instance
 * bring-up, device add (DDT growth), domain create, domain map, attach, PASID attach (PDT growth), SVA bind. */
static int failures;
#include "test_support.h"

#define RAM_BASE 0x80000000ull
#define RAM_SIZE (4ull << 20)
#define WINDOW (RAM_BASE + 0x200000) /* 1 MiB: 256 pages */
#define WINDOW_SIZE 0x100000ull
#define DATA (RAM_BASE + 0x10000)
#define MAX_K 24

struct bed {
    uint8_t *ram;
    fastiommu_memory memory;
    fastiommu_allocator window;
    fastiommu_iommu hw;
    fastiommu_driver driver;
    fastiommu_instance instance;
    fastiommu_group group;
    fastiommu_device device;
    fastiommu_domain domain, second, address_space;
    fastiommu_page_table table;
    uint64_t filler[256];
    int fillers;
};

enum op {
    OP_TABLE_CREATE,
    OP_TABLE_MAP,
    OP_BRING_UP,
    OP_DEVICE_ADD,
    OP_DOMAIN_CREATE,
    OP_DOMAIN_MAP,
    OP_ATTACH,
    OP_PASID_ATTACH,
    OP_SVA_BIND,
    OP_COUNT
};

static const struct {
    const char *name;
    int pages; /* N: what it needs here */
} ops[OP_COUNT] = {
    [OP_TABLE_CREATE] = { "page_table_create Sv57 (root)", 1 },
    [OP_TABLE_MAP] = { "page_table_map Sv48, 16 KiB across two leaf tables", 4 },
    [OP_BRING_UP] = { "instance_create_device (cq, fq, fence, DDT root)", 4 },
    [OP_DEVICE_ADD] = { "device_add of device 0xABCDEF (3-level DDT growth)", 2 },
    [OP_DOMAIN_CREATE] = { "domain_create paging Sv48 (root)", 1 },
    [OP_DOMAIN_MAP] = { "domain_map Sv48 4 KiB in a new GiB (L1 + L0 tables)", 2 },
    [OP_ATTACH] = { "attach group to a paging domain", 0 },
    [OP_PASID_ATTACH] = { "pasid_attach PASID 0x8A5A5, 20-bit device (PD20, new PDT)", 5 },
    [OP_SVA_BIND] = { "sva_bind on a 20-bit device (PD20, new PDT)", 3 },
};

static const uint32_t rw = FASTIOMMU_PROT_READ | FASTIOMMU_PROT_WRITE;

static void bed_open(struct bed *b, enum op op)
{
    memset(b, 0, sizeof *b);
    b->ram = aligned_alloc(4096, RAM_SIZE);
    memset(b->ram, 0, RAM_SIZE);
    OK(fastiommu_memory_wrap(b->ram, RAM_SIZE, RAM_BASE, &b->memory));
    OK(fastiommu_allocator_create(b->memory, WINDOW, WINDOW_SIZE, &b->window));
    fastiommu_iommu_config config = { .struct_size = sizeof config, .capabilities = test_capabilities() };
    OK(fastiommu_iommu_create(b->memory, &config, &b->hw));
    if (op == OP_TABLE_CREATE) {
        return;
    }
    if (op == OP_TABLE_MAP) {
        OK(fastiommu_page_table_create(b->window, FASTIOMMU_MODE_SV48, 0, &b->table));
        return;
    }
    OK(fastiommu_driver_create(b->window, &b->driver));
    if (op == OP_BRING_UP) {
        return;
    }
    OK(fastiommu_instance_create_device(b->driver, b->hw, NULL, &b->instance));
    OK(fastiommu_group_create(b->driver, NULL, &b->group));
    if (op == OP_DEVICE_ADD) {
        return;
    }
    OK(fastiommu_device_add(b->instance, 0x12, b->group, 20, FASTIOMMU_FEATURE_SVA, &b->device));
    if (op == OP_DOMAIN_CREATE) {
        return;
    }
    OK(fastiommu_domain_create(b->driver, FASTIOMMU_DOMAIN_PAGING, FASTIOMMU_MODE_SV48, &b->domain));
    OK(fastiommu_domain_map(b->domain, 0x1000, DATA, 0x1000, rw));
    OK(fastiommu_domain_create(b->driver, FASTIOMMU_DOMAIN_PAGING, FASTIOMMU_MODE_SV39, &b->second));
    OK(fastiommu_domain_map(b->second, 0x2000, DATA + 0x1000, 0x1000, rw));
    OK(fastiommu_domain_create(b->driver, FASTIOMMU_DOMAIN_SVA, FASTIOMMU_MODE_SV39, &b->address_space));
    OK(fastiommu_domain_map(b->address_space, 0x3000, DATA + 0x2000, 0x1000, rw));
    OK(fastiommu_attach(b->group, b->domain));
}

static void bed_close(struct bed *b)
{
    /* Destroy in borrow order; the statuses are not checked (a bed left half made by a failure is still closed). */
    for (int i = 0; i < b->fillers; i++) {
        fastiommu_allocator_free_page(b->window, b->filler[i]);
    }
    fastiommu_detach(b->group);
    fastiommu_pasid_detach(b->device, 0x8A5A5);
    fastiommu_device_release(b->device);
    fastiommu_domain_destroy(b->domain);
    fastiommu_domain_destroy(b->second);
    fastiommu_domain_destroy(b->address_space);
    fastiommu_group_destroy(b->group);
    fastiommu_instance_destroy(b->instance);
    fastiommu_driver_destroy(b->driver);
    fastiommu_page_table_destroy(b->table);
    fastiommu_iommu_destroy(b->hw);
    OK(fastiommu_allocator_destroy(b->window));
    OK(fastiommu_memory_destroy(b->memory));
    free(b->ram);
}

static uint64_t pages_in_use(fastiommu_allocator window)
{
    uint64_t in_use = 0;
    OK(fastiommu_allocator_stats(window, NULL, &in_use));
    return in_use;
}

/* Takes pages until exactly k are free. */
static void leave_free(struct bed *b, int k)
{
    uint64_t total = 0, in_use = 0;
    OK(fastiommu_allocator_stats(b->window, &total, &in_use));
    while (total - in_use > (uint64_t)k) {
        OK(fastiommu_allocator_alloc_page(b->window, &b->filler[b->fillers]));
        b->fillers++;
        in_use++;
    }
}

/* The device model's answers to a few requests (device 0x12 RID, PASID 0x8A5A5 and the SVA PASID 1). */
static void probe(struct bed *b, fastiommu_translate_response out[4])
{
    fastiommu_translate_request requests[4] = {
        { .iova = 0x1000, .device_id = 0x12, .access = FASTIOMMU_ACCESS_READ },
        { .iova = 0x2000, .device_id = 0x12, .process_id = 0x8A5A5, .flags = FASTIOMMU_REQ_PV, .access = FASTIOMMU_ACCESS_READ },
        { .iova = 0x3000, .device_id = 0x12, .process_id = 1, .flags = FASTIOMMU_REQ_PV, .access = FASTIOMMU_ACCESS_READ },
        { .iova = 0x1000, .device_id = 0xABCDEF, .access = FASTIOMMU_ACCESS_READ },
    };
    memset(out, 0, 4 * sizeof out[0]);
    OK(fastiommu_iommu_translate_batch(b->hw, requests, out, 4));
}

static fastiommu_status run(struct bed *b, enum op op)
{
    fastiommu_page_table table;
    fastiommu_instance instance;
    fastiommu_device device;
    fastiommu_domain domain;
    fastiommu_sva sva;
    fastiommu_status st;
    switch (op) {
    case OP_TABLE_CREATE:
        st = fastiommu_page_table_create(b->window, FASTIOMMU_MODE_SV57, 0, &table);
        if (st == FASTIOMMU_OK) {
            b->table = table;
        }
        return st;
    case OP_TABLE_MAP:
        return fastiommu_page_table_map(b->table, 0x7F001FE000ull, DATA, 0x4000, rw, 0);
    case OP_BRING_UP:
        st = fastiommu_instance_create_device(b->driver, b->hw, NULL, &instance);
        if (st == FASTIOMMU_OK) {
            b->instance = instance;
        }
        return st;
    case OP_DEVICE_ADD:
        st = fastiommu_device_add(b->instance, 0xABCDEF, b->group, 0, 0, &device);
        if (st == FASTIOMMU_OK) {
            b->device = device;
        }
        return st;
    case OP_DOMAIN_CREATE:
        st = fastiommu_domain_create(b->driver, FASTIOMMU_DOMAIN_PAGING, FASTIOMMU_MODE_SV48, &domain);
        if (st == FASTIOMMU_OK) {
            b->domain = domain;
        }
        return st;
    case OP_DOMAIN_MAP:
        return fastiommu_domain_map(b->domain, 0x7F00000000ull, DATA, 0x1000, rw);
    case OP_ATTACH:
        return fastiommu_attach(b->group, b->second);
    case OP_PASID_ATTACH:
        return fastiommu_pasid_attach(b->device, 0x8A5A5, b->second);
    case OP_SVA_BIND:
        st = fastiommu_sva_bind(b->device, b->address_space, &sva, NULL);
        if (st == FASTIOMMU_OK) {
            OK(fastiommu_sva_unbind(sva));
        }
        return st;
    default:
        return FASTIOMMU_ERR_INTERNAL;
    }
}

static int refusals;

/* The first PA whose byte differs from the snapshot, or 0, leaving out the command ring and the fence page of the
 * instance (with cqh = cqt checked) and the first qword of each free window page. Takes the free pages (as fillers)
 * to learn which they are, after copying the RAM (a page handed out is zeroed). */
static uint64_t first_difference(struct bed *b, const uint8_t *snapshot)
{
    uint8_t *now = malloc(RAM_SIZE);
    memcpy(now, b->ram, RAM_SIZE);
    uint64_t ring = ~0ull, fence = ~0ull;
    if (b->instance.id != 0) {
        uint64_t cqb = 0, ddtp = 0;
        uint32_t cqh = 0, cqt = 1;
        OK(fastiommu_iommu_read64(b->hw, RISCV_IOMMU_REG_CQB, &cqb));
        OK(fastiommu_iommu_read64(b->hw, RISCV_IOMMU_REG_DDTP, &ddtp));
        OK(fastiommu_iommu_read32(b->hw, RISCV_IOMMU_REG_CQH, &cqh));
        OK(fastiommu_iommu_read32(b->hw, RISCV_IOMMU_REG_CQT, &cqt));
        CHECK(cqh == cqt, "every command sent was executed: cqh %u cqt %u", cqh, cqt);
        ring = ((cqb & RISCV_IOMMU_QUEUE_BASE_PPN_MASK) >> RISCV_IOMMU_QUEUE_BASE_PPN_SHIFT) << 12;
        fence = (((ddtp & RISCV_IOMMU_DDTP_PPN_MASK) >> RISCV_IOMMU_DDTP_PPN_SHIFT) << 12) - 4096; /* cq, fq, fence, DDT */
    }
    uint64_t free_pages[MAX_K + 1];
    int free_count = 0;
    uint64_t pa;
    while (free_count <= MAX_K && fastiommu_allocator_alloc_page(b->window, &pa) == FASTIOMMU_OK) {
        free_pages[free_count++] = pa;
        b->filler[b->fillers++] = pa;
    }
    uint64_t found = 0;
    for (uint64_t offset = 0; offset < RAM_SIZE && found == 0; offset += 8) {
        if (memcmp(snapshot + offset, now + offset, 8) == 0) {
            continue;
        }
        uint64_t at = RAM_BASE + offset, page = at & ~0xFFFull;
        int excluded = page == ring || page == fence;
        for (int i = 0; i < free_count && !excluded; i++) {
            excluded = at == free_pages[i];
        }
        if (!excluded) {
            found = at;
        }
    }
    free(now);
    return found;
}

static void inject(enum op op)
{
    int needed = -1;
    for (int k = 0; k <= MAX_K && needed < 0; k++) {
        struct bed b;
        bed_open(&b, op);
        leave_free(&b, k);
        fastiommu_translate_response probe_before[4], probe_after[4];
        probe(&b, probe_before); /* before the snapshot: a walk may set A or log a fault */
        uint8_t *snapshot = malloc(RAM_SIZE);
        memcpy(snapshot, b.ram, RAM_SIZE);
        uint64_t in_use = pages_in_use(b.window);

        fastiommu_status st = run(&b, op);
        if (st == FASTIOMMU_OK) {
            needed = k;
        } else {
            refusals++;
            const char *message = fastiommu_last_error();
            CHECK(st == FASTIOMMU_ERR_OUT_OF_MEMORY, "%s with %d free pages: %s (%s)", ops[op].name, k,
                  fastiommu_status_name(st), message);
            CHECK(strncmp(message, "FASTIOMMU_ERR_OUT_OF_MEMORY: ", 29) == 0, "%s with %d free pages: message \"%s\"",
                  ops[op].name, k, message);
            CHECK(pages_in_use(b.window) == in_use, "%s with %d free pages: pages in use %" PRIu64 " -> %" PRIu64,
                  ops[op].name, k, in_use, pages_in_use(b.window));
            uint64_t at = first_difference(&b, snapshot);
            CHECK(at == 0, "%s with %d free pages: RAM changed, first at PA 0x%" PRIx64, ops[op].name, k, at);
            probe(&b, probe_after);
            for (int i = 0; i < 4; i++) {
                CHECK(probe_after[i].flags == probe_before[i].flags && probe_after[i].pa == probe_before[i].pa
                          && probe_after[i].cause == probe_before[i].cause,
                      "%s with %d free pages: request %d answered as before (flags 0x%x/0x%x cause %u/%u)", ops[op].name,
                      k, i, probe_before[i].flags, probe_after[i].flags, probe_before[i].cause, probe_after[i].cause);
            }
        }
        free(snapshot);
        bed_close(&b);
    }
    CHECK(needed >= 0, "%s never succeeded with up to %d free pages", ops[op].name, MAX_K);
    if (ops[op].pages >= 0) {
        CHECK(needed == ops[op].pages, "%s needs %d pages, expected %d", ops[op].name, needed, ops[op].pages);
    } else {
        CHECK(needed >= 1, "%s needs %d pages: it should take at least one", ops[op].name, needed);
    }
    printf("  %-60s N = %d (k = 0..%d refused cleanly)\n", ops[op].name, needed, needed - 1);
}

/* A device with pasid_bits PASID bits has 2^bits - 1 PASIDs for SVA (0 is the RID's): one more bind is
 * FASTIOMMU_ERR_IDS_EXHAUSTED and changes nothing. */
static void pasid_exhaustion(uint32_t pasid_bits)
{
    struct bed b;
    bed_open(&b, OP_DOMAIN_CREATE);
    fastiommu_device device;
    fastiommu_group group;
    OK(fastiommu_group_create(b.driver, NULL, &group));
    OK(fastiommu_device_add(b.instance, 0x40, group, pasid_bits, FASTIOMMU_FEATURE_SVA, &device));
    uint32_t count = (1u << pasid_bits) - 1;
    fastiommu_domain spaces[8];
    fastiommu_sva binds[8];
    for (uint32_t i = 0; i <= count; i++) {
        OK(fastiommu_domain_create(b.driver, FASTIOMMU_DOMAIN_SVA, FASTIOMMU_MODE_SV39, &spaces[i]));
    }
    for (uint32_t i = 0; i < count; i++) {
        uint32_t pasid = 0;
        OK(fastiommu_sva_bind(device, spaces[i], &binds[i], &pasid));
        CHECK(pasid >= 1 && pasid <= count, "bind %u got PASID %u within %u bits", i, pasid, pasid_bits);
    }
    uint8_t *snapshot = malloc(RAM_SIZE);
    memcpy(snapshot, b.ram, RAM_SIZE);
    uint64_t in_use = pages_in_use(b.window);
    fastiommu_sva extra;
    EXPECT_STATUS(fastiommu_sva_bind(device, spaces[count], &extra, NULL), FASTIOMMU_ERR_IDS_EXHAUSTED);
    CHECK(strstr(fastiommu_last_error(), "PASID") != NULL, "the message names the PASID space: %s", fastiommu_last_error());
    CHECK(memcmp(snapshot, b.ram, RAM_SIZE) == 0 && pages_in_use(b.window) == in_use,
          "PASID exhaustion (%u bits): RAM and pages in use as before", pasid_bits);
    refusals++;
    /* One unbind frees a PASID: the refused address space binds now. */
    OK(fastiommu_sva_unbind(binds[0]));
    OK(fastiommu_sva_bind(device, spaces[count], &binds[0], NULL));
    for (uint32_t i = 0; i < count; i++) {
        OK(fastiommu_sva_unbind(binds[i]));
    }
    for (uint32_t i = 0; i <= count; i++) {
        OK(fastiommu_domain_destroy(spaces[i]));
    }
    OK(fastiommu_device_release(device));
    OK(fastiommu_group_destroy(group));
    free(snapshot);
    bed_close(&b);
    printf("  PASID exhaustion with %u PASID bits after %u binds: refused cleanly\n", pasid_bits, count);
}

int main(void)
{
    for (int op = 0; op < OP_COUNT; op++) {
        inject((enum op)op);
    }
    pasid_exhaustion(1);
    pasid_exhaustion(2);
    if (failures != 0) {
        fprintf(stderr, "test_failure_injection: %d check(s) failed\n", failures);
        return 1;
    }
    printf("test_failure_injection: ok, %d refused calls, each clean\n", refusals);
    return 0;
}
