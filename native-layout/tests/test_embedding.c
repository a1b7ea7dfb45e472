/* An emulator's embedding, end to end through the C API: the test owns the guest RAM (wrapped, not copied), the
 * library builds an Sv39 table in a window of it, the test writes the device context and every command itself,
 * and the library's device model translates, faults, queues fault records and raises interrupts.
 *
 * Guest RAM, 4 MiB at 0x8000_0000:
 *   0x8000_1000 command queue   0x8000_2000 fault queue   0x8000_3000 IOFENCE.C flag   0x8001_0000 DDT (1LVL)
 *   0x8010_0000 .. 0x8030_0000 page-table window (the library's allocator)      0x8030_0000 .. data pages */
static int failures;
#include "test_support.h"

#define RAM_BASE 0x80000000ull
#define RAM_SIZE (4ull << 20)
#define DDT (RAM_BASE + 0x10000)
#define TABLE_WINDOW (RAM_BASE + 0x100000)
#define DATA (RAM_BASE + 0x300000)
#define FENCE_FLAG (RAM_BASE + 0x3000)
#define DEVICE 5u
#define PSCID 0x77u
#define IOVA 0x40000000ull

struct events {
    fastiommu_iommu iommu; /* the handler acknowledges through it, re-entering the library */
    int interrupts[4];
    int acknowledged;
    int faults;
    uint64_t last_cause;
    uint64_t last_iotval;
};

static void on_interrupt(void *context, uint32_t source, uint32_t vector)
{
    struct events *events = context;
    (void)vector;
    if (source < 4) {
        events->interrupts[source]++;
        /* The header allows the handler to write registers: acknowledge (ipsr is write-1-to-clear). */
        events->acknowledged += fastiommu_iommu_write32(events->iommu, RISCV_IOMMU_REG_IPSR, 1u << source) == FASTIOMMU_OK;
    }
}

static void on_fault(void *context, const struct riscv_iommu_fault_record *record)
{
    struct events *events = context;
    events->faults++;
    events->last_cause = (record->dword0 & RISCV_IOMMU_FAULT_RECORD_CAUSE_MASK) >> RISCV_IOMMU_FAULT_RECORD_CAUSE_SHIFT;
    events->last_iotval = record->iotval;
}

static uint64_t *host(uint8_t *ram, uint64_t pa)
{
    return (uint64_t *)(ram + (pa - RAM_BASE));
}

int main(void)
{
    uint8_t *ram = aligned_alloc(4096, RAM_SIZE);
    memset(ram, 0, RAM_SIZE);
    struct events events = { { 0 }, { 0 }, 0, 0, 0, 0 };

    fastiommu_memory memory;
    fastiommu_allocator allocator;
    fastiommu_page_table table;
    fastiommu_gather gather;
    OK(fastiommu_memory_wrap(ram, RAM_SIZE, RAM_BASE, &memory));
    OK(fastiommu_allocator_create(memory, TABLE_WINDOW, 0x200000, &allocator));
    OK(fastiommu_page_table_create(allocator, FASTIOMMU_MODE_SV39, 0, &table));
    OK(fastiommu_gather_create(&gather));

    /* 16 pages at IOVA, read/write, to DATA + 16 pages apart from one read-only page. */
    OK(fastiommu_page_table_map(table, IOVA, DATA, 15 * 4096, FASTIOMMU_PROT_READ | FASTIOMMU_PROT_WRITE | FASTIOMMU_PROT_USER, FASTIOMMU_PBMT_PMA));
    OK(fastiommu_page_table_map(table, IOVA + 15 * 4096, DATA + 15 * 4096, 4096, FASTIOMMU_PROT_READ | FASTIOMMU_PROT_USER, FASTIOMMU_PBMT_PMA));
    uint64_t root = 0, pa = 0;
    OK(fastiommu_page_table_root(table, &root));
    CHECK(root >= TABLE_WINDOW && root < TABLE_WINDOW + 0x200000, "root 0x%" PRIx64 " is in the allocator's window", root);
    OK(fastiommu_page_table_iova_to_phys(table, IOVA + 0x2345, &pa));
    CHECK(pa == DATA + 0x2345, "software walk: 0x%" PRIx64, pa);

    /* The software walk, a 64 KiB Svnapot leaf from a table created with FASTIOMMU_PT_SVNAPOT, the host pointer. */
    fastiommu_walk_result walk;
    OK(fastiommu_page_table_walk(table, IOVA + 0x2345, &walk));
    CHECK(walk.found && walk.level == 0 && walk.page_size == 4096 && walk.pa == DATA + 0x2345
              && (walk.pte & (RISCV_IOMMU_PTE_V | RISCV_IOMMU_PTE_R | RISCV_IOMMU_PTE_W | RISCV_IOMMU_PTE_U))
                     == (RISCV_IOMMU_PTE_V | RISCV_IOMMU_PTE_R | RISCV_IOMMU_PTE_W | RISCV_IOMMU_PTE_U),
          "walk: found %u level %u size 0x%" PRIx64 " PA 0x%" PRIx64 " PTE 0x%" PRIx64, walk.found, walk.level, walk.page_size,
          walk.pa, walk.pte);
    fastiommu_page_table napot;
    OK(fastiommu_page_table_create(allocator, FASTIOMMU_MODE_SV48, FASTIOMMU_PT_SVNAPOT, &napot));
    OK(fastiommu_page_table_map(napot, 0x10000, DATA, 0x10000, FASTIOMMU_PROT_READ, FASTIOMMU_PBMT_PMA));
    OK(fastiommu_page_table_walk(napot, 0x1F000, &walk));
    CHECK(walk.found && walk.page_size == 0x10000 && (walk.pte & (1ull << RISCV_IOMMU_PTE_N_BIT)) && walk.pa == DATA + 0xF000,
          "a 64 KiB NAPOT leaf: size 0x%" PRIx64 " PTE 0x%" PRIx64, walk.page_size, walk.pte);
    OK(fastiommu_page_table_destroy(napot));
    void *data_host = NULL;
    OK(fastiommu_memory_host_pointer(memory, DATA, &data_host));
    CHECK(data_host == ram + (DATA - RAM_BASE), "wrapped memory is used in place");

    fastiommu_iommu_config config = {
        .struct_size = sizeof config,
        .capabilities = test_capabilities(),
        .interrupt_callback = on_interrupt,
        .interrupt_context = &events,
        .fault_callback = on_fault,
        .fault_context = &events,
    };
    struct test_driver driver = { .memory = memory, .cq_base = RAM_BASE + 0x1000, .fq_base = RAM_BASE + 0x2000 };
    OK(fastiommu_iommu_create(memory, &config, &driver.iommu));
    fastiommu_iommu iommu = driver.iommu;
    events.iommu = iommu;
    failures += test_driver_start(&driver, DDT);

    uint64_t caps = 0;
    OK(fastiommu_iommu_read64(iommu, RISCV_IOMMU_REG_CAPABILITIES, &caps));
    CHECK(caps == test_capabilities(), "capabilities reads back 0x%" PRIx64, caps);

    /* The device context, written by the test into its own RAM: first stage Sv39 at the library's root. */
    struct riscv_iommu_device_context *dc = (struct riscv_iommu_device_context *)host(ram, DDT + DEVICE * 32);
    dc->ta = (uint64_t)PSCID << RISCV_IOMMU_DEVICE_CONTEXT_TA_PSCID_SHIFT;
    dc->fsc = ((uint64_t)RISCV_IOMMU_IOSATP_MODE_SV39 << RISCV_IOMMU_IOSATP_MODE_SHIFT) | (root >> 12);
    dc->iohgatp = 0;
    dc->tc = (1ull << RISCV_IOMMU_DEVICE_CONTEXT_TC_V_BIT);
    failures += test_driver_queue(&driver, cmd_iodir_ddt(DEVICE), 0);
    failures += test_driver_queue(&driver, cmd_iofence(FENCE_FLAG, 0xC0FFEE), cmd_iofence_addr(FENCE_FLAG));
    failures += test_driver_submit(&driver);
    CHECK(*(uint32_t *)host(ram, FENCE_FLAG) == 0xC0FFEE, "IOFENCE.C wrote its data: 0x%x", *(uint32_t *)host(ram, FENCE_FLAG));

    /* Translations through the device model. */
    fastiommu_translate_response r = test_translate(iommu, DEVICE, IOVA + 0x1234, FASTIOMMU_ACCESS_WRITE, &failures);
    CHECK(r.flags & FASTIOMMU_RESP_SUCCESS, "write to a RW page succeeds (cause %u)", r.cause);
    CHECK(r.pa == DATA + 0x1234, "PA 0x%" PRIx64, r.pa);
    CHECK(r.page_size == 4096, "page size %" PRIu64, r.page_size);
    CHECK((r.flags & (FASTIOMMU_RESP_READ | FASTIOMMU_RESP_WRITE)) == (FASTIOMMU_RESP_READ | FASTIOMMU_RESP_WRITE),
          "R and W granted: flags 0x%x", r.flags);
    r = test_translate(iommu, DEVICE, IOVA + 0x1234, FASTIOMMU_ACCESS_WRITE, &failures);
    CHECK((r.flags & FASTIOMMU_RESP_SUCCESS) && r.pa == DATA + 0x1234, "the IOTLB hit gives the same PA 0x%" PRIx64, r.pa);
    r = test_translate(iommu, DEVICE, IOVA + 15 * 4096, FASTIOMMU_ACCESS_WRITE, &failures);
    CHECK(!(r.flags & FASTIOMMU_RESP_SUCCESS), "write to a read-only page faults");
    CHECK(r.cause == RISCV_IOMMU_FAULT_CAUSE_WRITE_PAGE_FAULT, "cause %u is the store page fault", r.cause);
    CHECK(events.faults == 1 && events.last_cause == RISCV_IOMMU_FAULT_CAUSE_WRITE_PAGE_FAULT
              && events.last_iotval == IOVA + 15 * 4096,
          "the fault callback saw it: %d faults, cause %" PRIu64 ", iotval 0x%" PRIx64, events.faults, events.last_cause,
          events.last_iotval);
    CHECK(events.interrupts[FASTIOMMU_INTERRUPT_FQ] == 1, "fip raised once: %d", events.interrupts[FASTIOMMU_INTERRUPT_FQ]);
    uint32_t fqt = 0, ipsr = 0;
    OK(fastiommu_iommu_read32(iommu, RISCV_IOMMU_REG_IPSR, &ipsr));
    CHECK(events.acknowledged == 1 && ipsr == 0, "the handler cleared ipsr from inside the callback: ipsr 0x%x", ipsr);
    OK(fastiommu_iommu_read32(iommu, RISCV_IOMMU_REG_FQT, &fqt));
    CHECK(fqt == 1, "one fault record queued: fqt %u", fqt);
    struct riscv_iommu_fault_record *record = (struct riscv_iommu_fault_record *)host(ram, driver.fq_base);
    CHECK((record->dword0 & RISCV_IOMMU_FAULT_RECORD_CAUSE_MASK) == RISCV_IOMMU_FAULT_CAUSE_WRITE_PAGE_FAULT,
          "the record in guest RAM has the cause: dword0 0x%" PRIx64, record->dword0);
    CHECK(((record->dword0 & RISCV_IOMMU_FAULT_RECORD_DID_MASK) >> RISCV_IOMMU_FAULT_RECORD_DID_SHIFT) == DEVICE,
          "and the device_id: dword0 0x%" PRIx64, record->dword0);
    CHECK(record->iotval == IOVA + 15 * 4096, "and iotval 0x%" PRIx64, record->iotval);

    /* Unmap a page: until the IOTLB is invalidated the device may still use the old translation; after
     * IOTINVAL.VMA + IOFENCE.C it faults. Then the gather's table pages go back to the allocator. */
    uint64_t unmapped = 0;
    OK(fastiommu_page_table_unmap(table, IOVA + 0x1000, 0x1000, gather, &unmapped));
    CHECK(unmapped == 0x1000, "unmapped %" PRIu64 " bytes", unmapped);
    fastiommu_gather_info info;
    OK(fastiommu_gather_info_get(gather, &info));
    CHECK(info.range_count == 1 && info.start == IOVA + 0x1000 && info.end == IOVA + 0x2000 && info.freed_table_count == 0,
          "gather: %u ranges [0x%" PRIx64 ", 0x%" PRIx64 "), %u tables", info.range_count, info.start, info.end,
          info.freed_table_count);
    r = test_translate(iommu, DEVICE, IOVA + 0x1234, FASTIOMMU_ACCESS_READ, &failures);
    CHECK(r.flags & FASTIOMMU_RESP_SUCCESS, "before the invalidation the cached translation may still serve");
    failures += test_driver_queue(&driver, cmd_iotinval_vma(PSCID, 1), cmd_iotinval_addr(IOVA + 0x1000));
    failures += test_driver_queue(&driver, cmd_iofence(0, 0), 0);
    failures += test_driver_submit(&driver);
    OK(fastiommu_gather_complete(gather));
    r = test_translate(iommu, DEVICE, IOVA + 0x1234, FASTIOMMU_ACCESS_READ, &failures);
    CHECK(!(r.flags & FASTIOMMU_RESP_SUCCESS) && r.cause == RISCV_IOMMU_FAULT_CAUSE_READ_PAGE_FAULT,
          "after IOTINVAL.VMA the unmapped page faults: flags 0x%x cause %u", r.flags, r.cause);
    r = test_translate(iommu, DEVICE, IOVA + 0x2000, FASTIOMMU_ACCESS_READ, &failures);
    CHECK((r.flags & FASTIOMMU_RESP_SUCCESS) && r.pa == DATA + 0x2000, "its neighbour still translates");

    /* Unmapping everything empties the leaf table: it is unlinked and handed back only after complete. */
    uint64_t in_use_before = 0, in_use_after = 0;
    OK(fastiommu_allocator_stats(allocator, NULL, &in_use_before));
    OK(fastiommu_page_table_unmap(table, IOVA, 16 * 4096, gather, &unmapped));
    CHECK(unmapped == 15 * 4096, "the 15 mapped pages were unmapped: %" PRIu64, unmapped);
    OK(fastiommu_gather_info_get(gather, &info));
    CHECK(info.freed_table_count >= 1, "the empty tables were unlinked: %u", info.freed_table_count);
    failures += test_driver_queue(&driver, cmd_iotinval_vma(PSCID, 0), 0);
    failures += test_driver_queue(&driver, cmd_iofence(0, 0), 0);
    failures += test_driver_submit(&driver);
    OK(fastiommu_gather_complete(gather));
    OK(fastiommu_allocator_stats(allocator, NULL, &in_use_after));
    CHECK(in_use_after == in_use_before - info.freed_table_count, "table pages returned: %" PRIu64 " -> %" PRIu64,
          in_use_before, in_use_after);

    /* Dirty tracking: a writable mapping is created dirty; read-and-clear reports and clears it; after the
     * invalidation a device write with DC.tc.SADE sets D again. */
    OK(fastiommu_page_table_map(table, IOVA, DATA, 4 * 4096, FASTIOMMU_PROT_READ | FASTIOMMU_PROT_WRITE | FASTIOMMU_PROT_USER, FASTIOMMU_PBMT_PMA));
    uint64_t bitmap[1] = { 0 }, dirty = 0;
    OK(fastiommu_page_table_read_and_clear_dirty(table, IOVA, 4 * 4096, bitmap, 1, &dirty));
    CHECK(bitmap[0] == 0xF && dirty == 4 * 4096, "4 dirty pages after map: bitmap 0x%" PRIx64, bitmap[0]);
    bitmap[0] = 0;
    OK(fastiommu_page_table_read_and_clear_dirty(table, IOVA, 4 * 4096, bitmap, 1, &dirty));
    CHECK(bitmap[0] == 0 && dirty == 0, "clean after the first read: 0x%" PRIx64, bitmap[0]);
    dc->tc |= RISCV_IOMMU_DEVICE_CONTEXT_TC_SADE_MASK;
    failures += test_driver_queue(&driver, cmd_iodir_ddt(DEVICE), 0);
    failures += test_driver_queue(&driver, cmd_iotinval_vma(PSCID, 0), 0);
    failures += test_driver_queue(&driver, cmd_iofence(0, 0), 0);
    failures += test_driver_submit(&driver);
    r = test_translate(iommu, DEVICE, IOVA + 2 * 4096, FASTIOMMU_ACCESS_WRITE, &failures);
    CHECK(r.flags & FASTIOMMU_RESP_SUCCESS, "write with SADE: cause %u", r.cause);
    OK(fastiommu_page_table_read_and_clear_dirty(table, IOVA, 4 * 4096, bitmap, 1, &dirty));
    CHECK(bitmap[0] == 0x4, "the device's write dirtied page 2 only: 0x%" PRIx64, bitmap[0]);

    /* A second model in the same process is independent of the first. */
    uint8_t *ram2 = aligned_alloc(4096, 1 << 20);
    memset(ram2, 0, 1 << 20);
    fastiommu_memory memory2;
    fastiommu_iommu iommu2;
    OK(fastiommu_memory_wrap(ram2, 1 << 20, RAM_BASE, &memory2));
    fastiommu_iommu_config config2 = { .struct_size = sizeof config2, .capabilities = test_capabilities() };
    OK(fastiommu_iommu_create(memory2, &config2, &iommu2));
    r = test_translate(iommu2, DEVICE, IOVA + 2 * 4096, FASTIOMMU_ACCESS_READ, &failures);
    CHECK(!(r.flags & FASTIOMMU_RESP_SUCCESS) && r.cause == RISCV_IOMMU_FAULT_CAUSE_ALL_INBOUND_TRANSACTIONS_DISALLOWED,
          "the second IOMMU is Off after reset: cause %u", r.cause);
    r = test_translate(iommu, DEVICE, IOVA + 2 * 4096, FASTIOMMU_ACCESS_READ, &failures);
    CHECK((r.flags & FASTIOMMU_RESP_SUCCESS) && r.pa == DATA + 2 * 4096, "the first still translates");
    /* Deferred command processing: a cqt write only queues; fastiommu_iommu_process_commands runs them. */
    fastiommu_iommu deferred;
    fastiommu_iommu_config config3 = { .struct_size = sizeof config3, .flags = FASTIOMMU_IOMMU_DEFER_COMMANDS,
                                       .capabilities = test_capabilities() | (1ull << RISCV_IOMMU_CAPABILITIES_ATS_BIT) };
    OK(fastiommu_iommu_create(memory2, &config3, &deferred));
    struct test_driver driver3 = { .iommu = deferred, .memory = memory2, .cq_base = RAM_BASE + 0x1000, .fq_base = RAM_BASE + 0x2000 };
    failures += test_driver_start(&driver3, RAM_BASE + 0x10000);
    failures += test_driver_queue(&driver3, cmd_iofence(RAM_BASE + 0x3000, 0xD0D0), cmd_iofence_addr(RAM_BASE + 0x3000));
    OK(fastiommu_iommu_write32(deferred, RISCV_IOMMU_REG_CQT, driver3.cq_tail));
    uint32_t cqh = 0, completed = 0;
    OK(fastiommu_iommu_read32(deferred, RISCV_IOMMU_REG_CQH, &cqh));
    CHECK(cqh == 0 && *(uint32_t *)(ram2 + 0x3000) == 0, "deferred: nothing ran at the cqt write (cqh %u)", cqh);
    OK(fastiommu_iommu_process_commands(deferred, &completed));
    OK(fastiommu_iommu_read32(deferred, RISCV_IOMMU_REG_CQH, &cqh));
    CHECK(completed == 1 && cqh == 1 && *(uint32_t *)(ram2 + 0x3000) == 0xD0D0,
          "process_commands ran the IOFENCE.C: %u completed, cqh %u, data 0x%x", completed, cqh, *(uint32_t *)(ram2 + 0x3000));
    /* ATS: an ATS.INVAL command becomes a message for the emulator to deliver; a page request with the page-request
     * queue off is refused with its outcome. */
    const uint64_t ats_inval = ((uint64_t)RISCV_IOMMU_COMMAND_OPCODE_ATS << RISCV_IOMMU_COMMAND_OPCODE_SHIFT)
                               | ((uint64_t)0x1234 << RISCV_IOMMU_COMMAND_RID_SHIFT);
    failures += test_driver_queue(&driver3, ats_inval, (0x40000ull << 12) | RISCV_IOMMU_COMMAND_ATS_S_MASK);
    OK(fastiommu_iommu_write32(deferred, RISCV_IOMMU_REG_CQT, driver3.cq_tail));
    OK(fastiommu_iommu_process_commands(deferred, &completed));
    struct riscv_iommu_command messages[4];
    uint32_t count = 99;
    OK(fastiommu_iommu_take_ats_messages(deferred, messages, 0, &count));
    CHECK(count == 0, "no room: nothing taken, the message waits (%u)", count);
    OK(fastiommu_iommu_take_ats_messages(deferred, messages, 4, &count));
    CHECK(count == 1 && messages[0].dword0 == ats_inval, "the ATS.INVAL message: %u, dword0 0x%" PRIx64, count,
          count ? messages[0].dword0 : 0);
    OK(fastiommu_iommu_take_ats_messages(deferred, messages, 4, &count));
    CHECK(count == 0, "taken once only");
    struct riscv_iommu_page_request page_request = { 0, 0 };
    uint32_t outcome = 99;
    OK(fastiommu_iommu_report_page_request(deferred, &page_request, &outcome));
    CHECK(outcome == FASTIOMMU_REPORT_QUEUE_OFF, "the page-request queue is off: outcome %u", outcome);
    OK(fastiommu_iommu_destroy(deferred));
    OK(fastiommu_iommu_destroy(iommu2));
    OK(fastiommu_memory_destroy(memory2));
    free(ram2);

    OK(fastiommu_iommu_destroy(iommu));
    OK(fastiommu_gather_destroy(gather));
    OK(fastiommu_page_table_destroy(table));
    OK(fastiommu_allocator_destroy(allocator));
    OK(fastiommu_memory_destroy(memory));
    free(ram);
    printf("test_embedding: %s (%d failures)\n", failures ? "FAILED" : "passed", failures);
    return failures != 0;
}
