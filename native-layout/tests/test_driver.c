/* The driver layer through the C API: the library's driver brings two IOMMUs up (one in process through its
 * fastiommu_iommu handle, one through MMIO callbacks standing for an emulator's bus), attaches a group of ten devices
 * to a paging domain, maps, and the device model translates; unmap + sync then faults (no stale IOTLB entry), and
 * the counters show one IOTINVAL and one IOFENCE.C per sync however many devices share the domain. PASID attach,
 * SVA bind and the error paths (bad and stale handles, destroy while attached, PASID beyond the width, double
 * unbind) end in the documented statuses.
 *
 * Guest RAM, 16 MiB at 0x8000_0000: 0x8030_0000.. data pages; 0x8080_0000 .. 0x8100_0000 the driver's window. */
static int failures;
#include "test_support.h"

#define RAM_BASE 0x80000000ull
#define RAM_SIZE (16ull << 20)
#define WINDOW (RAM_BASE + 0x800000)
#define WINDOW_SIZE (8ull << 20)
#define DATA (RAM_BASE + 0x300000)
#define IOVA 0x10000000ull
#define DEVICES 10

/* The emulator's bus: register accesses forwarded to its IOMMU model (here the library's, with deferred commands,
 * which the bus runs on the cqt doorbell as its device thread would). */
struct bus {
    fastiommu_iommu iommu;
    int doorbells;
};

static uint32_t bus_read32(void *context, uint32_t offset)
{
    uint32_t value = 0;
    fastiommu_iommu_read32(((struct bus *)context)->iommu, offset, &value);
    return value;
}

static uint64_t bus_read64(void *context, uint32_t offset)
{
    uint64_t value = 0;
    fastiommu_iommu_read64(((struct bus *)context)->iommu, offset, &value);
    return value;
}

static void bus_write32(void *context, uint32_t offset, uint32_t value)
{
    struct bus *bus = context;
    fastiommu_iommu_write32(bus->iommu, offset, value);
    if (offset == RISCV_IOMMU_REG_CQT) {
        bus->doorbells++;
        fastiommu_iommu_process_commands(bus->iommu, NULL);
    }
}

static void bus_write64(void *context, uint32_t offset, uint64_t value)
{
    fastiommu_iommu_write64(((struct bus *)context)->iommu, offset, value);
}

static fastiommu_translate_response translate(fastiommu_iommu iommu, uint32_t device_id, int pasid_valid, uint32_t pasid,
                                              uint64_t iova, uint32_t access)
{
    fastiommu_translate_request request = { .iova = iova, .device_id = device_id, .process_id = pasid,
                                            .flags = pasid_valid ? FASTIOMMU_REQ_PV : 0, .access = access };
    fastiommu_translate_response response;
    memset(&response, 0xA5, sizeof response);
    OK(fastiommu_iommu_translate(iommu, &request, &response));
    return response;
}

static fastiommu_counters counters_of(fastiommu_instance instance)
{
    fastiommu_counters counters;
    memset(&counters, 0, sizeof counters);
    OK(fastiommu_instance_counters(instance, &counters));
    return counters;
}

int main(void)
{
    uint8_t *ram = aligned_alloc(4096, RAM_SIZE);
    memset(ram, 0, RAM_SIZE);
    fastiommu_memory memory;
    fastiommu_allocator window;
    fastiommu_driver driver;
    OK(fastiommu_memory_wrap(ram, RAM_SIZE, RAM_BASE, &memory));
    OK(fastiommu_allocator_create(memory, WINDOW, WINDOW_SIZE, &window));
    OK(fastiommu_driver_create(window, &driver));

    fastiommu_iommu_config config = { .struct_size = sizeof config, .capabilities = test_capabilities() };
    fastiommu_iommu hw0, hw1;
    OK(fastiommu_iommu_create(memory, &config, &hw0));
    config.flags = FASTIOMMU_IOMMU_DEFER_COMMANDS;
    OK(fastiommu_iommu_create(memory, &config, &hw1));

    /* Bring-up: in process, and through the emulator's bus. */
    fastiommu_instance iommu0, iommu1;
    OK(fastiommu_instance_create_device(driver, hw0, NULL, &iommu0));
    struct bus bus = { hw1, 0 };
    fastiommu_mmio_callbacks mmio = { &bus, bus_read32, bus_read64, bus_write32, bus_write64 };
    fastiommu_instance_options options = { .struct_size = sizeof options, .command_queue_log2 = 6 };
    OK(fastiommu_instance_create_mmio(driver, &mmio, &options, &iommu1));
    uint64_t ddtp = 0;
    OK(fastiommu_iommu_read64(hw1, RISCV_IOMMU_REG_DDTP, &ddtp));
    CHECK(ddtp >> RISCV_IOMMU_DDTP_IOMMU_MODE_SHIFT != 0, "ddtp 0x%" PRIx64 ": the bus instance is brought up", ddtp);

    /* Ten devices in one group on iommu0, one device of the same group on iommu1. */
    fastiommu_group group;
    fastiommu_device devices[DEVICES], remote;
    OK(fastiommu_group_create(driver, "dma", &group));
    for (uint32_t i = 0; i < DEVICES; i++) {
        OK(fastiommu_device_add(iommu0, 0x10 + i, group, 0, 0, &devices[i]));
    }
    OK(fastiommu_device_add(iommu1, 0x40, group, 0, 0, &remote));

    /* A paging domain mapped before the attach. */
    fastiommu_domain domain;
    OK(fastiommu_domain_create(driver, FASTIOMMU_DOMAIN_PAGING, FASTIOMMU_MODE_SV48, &domain));
    OK(fastiommu_domain_map(domain, IOVA, DATA, 0x2000, FASTIOMMU_PROT_READ | FASTIOMMU_PROT_WRITE));
    uint64_t pa = 0;
    OK(fastiommu_domain_iova_to_phys(domain, IOVA + 0x1234, &pa));
    CHECK(pa == DATA + 0x1234, "iova_to_phys 0x%" PRIx64, pa);

    fastiommu_translate_response r = translate(hw0, 0x10, 0, 0, IOVA, FASTIOMMU_ACCESS_READ);
    CHECK(!(r.flags & FASTIOMMU_RESP_SUCCESS), "blocked before the attach (cause %u)", r.cause);
    OK(fastiommu_attach(group, domain));
    for (uint32_t i = 0; i < DEVICES; i++) {
        r = translate(hw0, 0x10 + i, 0, 0, IOVA + 0x1008, FASTIOMMU_ACCESS_WRITE);
        CHECK((r.flags & FASTIOMMU_RESP_SUCCESS) && r.pa == DATA + 0x1008,
              "device 0x%x writes through the domain: flags 0x%x pa 0x%" PRIx64 " cause %u", 0x10 + i, r.flags,
              r.pa, r.cause);
    }
    r = translate(hw1, 0x40, 0, 0, IOVA, FASTIOMMU_ACCESS_READ);
    CHECK((r.flags & FASTIOMMU_RESP_SUCCESS) && r.pa == DATA, "the bus instance's device reads: cause %u", r.cause);

    /* Unmap into a gather: the table no longer maps it, the IOTLBs may until the sync. */
    fastiommu_unmap_gather gather;
    OK(fastiommu_unmap_gather_create(driver, &gather));
    fastiommu_counters before0 = counters_of(iommu0), before1 = counters_of(iommu1);
    uint64_t unmapped = 0;
    OK(fastiommu_domain_unmap(domain, IOVA + 0x1000, 0x1000, gather, &unmapped));
    CHECK(unmapped == 0x1000, "unmapped 0x%" PRIx64, unmapped);
    EXPECT_STATUS(fastiommu_domain_iova_to_phys(domain, IOVA + 0x1000, &pa), FASTIOMMU_ERR_NOT_MAPPED);
    EXPECT_STATUS(fastiommu_unmap_gather_destroy(gather), FASTIOMMU_ERR_IN_USE); /* holds an unsynced unmap */
    OK(fastiommu_domain_sync(domain, gather));
    fastiommu_counters after0 = counters_of(iommu0), after1 = counters_of(iommu1);
    CHECK(after0.commands[FASTIOMMU_CMD_IOTINVAL_VMA] - before0.commands[FASTIOMMU_CMD_IOTINVAL_VMA] == 1,
          "ten devices sharing the domain: one IOTINVAL.VMA on iommu0, got %" PRIu64,
          after0.commands[FASTIOMMU_CMD_IOTINVAL_VMA] - before0.commands[FASTIOMMU_CMD_IOTINVAL_VMA]);
    CHECK(after0.commands[FASTIOMMU_CMD_IOFENCE_C] - before0.commands[FASTIOMMU_CMD_IOFENCE_C] == 1,
          "one IOFENCE.C on iommu0, got %" PRIu64, after0.commands[FASTIOMMU_CMD_IOFENCE_C] - before0.commands[FASTIOMMU_CMD_IOFENCE_C]);
    CHECK(after0.syncs - before0.syncs == 1 && after1.syncs - before1.syncs == 1, "one sync reached each instance");
    CHECK(after1.commands[FASTIOMMU_CMD_IOTINVAL_VMA] - before1.commands[FASTIOMMU_CMD_IOTINVAL_VMA] == 1
              && after1.commands[FASTIOMMU_CMD_IOFENCE_C] - before1.commands[FASTIOMMU_CMD_IOFENCE_C] == 1,
          "one IOTINVAL.VMA and one IOFENCE.C on the bus instance");
    CHECK(bus.doorbells > 0, "the bus saw the cqt doorbell");
    for (uint32_t i = 0; i < DEVICES; i++) {
        r = translate(hw0, 0x10 + i, 0, 0, IOVA + 0x1008, FASTIOMMU_ACCESS_WRITE);
        CHECK(!(r.flags & FASTIOMMU_RESP_SUCCESS) && r.cause == RISCV_IOMMU_FAULT_CAUSE_WRITE_PAGE_FAULT,
              "device 0x%x faults after unmap + sync (no stale entry): flags 0x%x cause %u", 0x10 + i, r.flags, r.cause);
    }
    r = translate(hw1, 0x40, 0, 0, IOVA + 0x1000, FASTIOMMU_ACCESS_READ);
    CHECK(!(r.flags & FASTIOMMU_RESP_SUCCESS), "the bus instance's device faults too");
    r = translate(hw0, 0x10, 0, 0, IOVA, FASTIOMMU_ACCESS_READ);
    CHECK(r.flags & FASTIOMMU_RESP_SUCCESS, "the page left mapped still translates");
    struct riscv_iommu_fault_record records[16];
    uint32_t faults = 0;
    OK(fastiommu_instance_read_faults(iommu0, records, 16, &faults));
    CHECK(faults == DEVICES + 1, "the driver read %u fault records (the blocked read and the ten writes)", faults);
    OK(fastiommu_domain_sync(domain, gather)); /* empty: OK, nothing sent */
    CHECK(counters_of(iommu0).commands[FASTIOMMU_CMD_IOFENCE_C] == after0.commands[FASTIOMMU_CMD_IOFENCE_C],
          "an empty sync sends nothing");

    /* Unmap + sync in one call. */
    before0 = counters_of(iommu0);
    OK(fastiommu_domain_unmap_sync(domain, IOVA, 0x1000, &unmapped));
    after0 = counters_of(iommu0);
    CHECK(unmapped == 0x1000 && after0.commands[FASTIOMMU_CMD_IOFENCE_C] - before0.commands[FASTIOMMU_CMD_IOFENCE_C] == 1,
          "unmap_sync: 0x%" PRIx64 " bytes, one fence", unmapped);
    r = translate(hw0, 0x11, 0, 0, IOVA, FASTIOMMU_ACCESS_READ);
    CHECK(!(r.flags & FASTIOMMU_RESP_SUCCESS), "unmapped and synced: faults");

    /* PASIDs: a device with 8 PASID bits, a first-stage domain on PASID 5, an SVA bind. */
    fastiommu_group accel_group;
    fastiommu_device accel;
    OK(fastiommu_group_create(driver, NULL, &accel_group));
    OK(fastiommu_device_add(iommu0, 0x80, accel_group, 8, FASTIOMMU_FEATURE_SVA, &accel));
    fastiommu_domain queue_domain, process;
    OK(fastiommu_domain_create(driver, FASTIOMMU_DOMAIN_PAGING, FASTIOMMU_MODE_SV39, &queue_domain));
    OK(fastiommu_domain_map(queue_domain, 0x20000000, DATA + 0x10000, 0x1000, FASTIOMMU_PROT_READ));
    OK(fastiommu_pasid_attach(accel, 5, queue_domain));
    r = translate(hw0, 0x80, 1, 5, 0x20000000, FASTIOMMU_ACCESS_READ);
    CHECK((r.flags & FASTIOMMU_RESP_SUCCESS) && r.pa == DATA + 0x10000, "PASID 5 translates: cause %u", r.cause);
    EXPECT_STATUS(fastiommu_pasid_attach(accel, 256, queue_domain), FASTIOMMU_ERR_INVALID_ARGUMENT); /* beyond 8 bits */
    EXPECT_STATUS(fastiommu_pasid_attach(accel, 0, queue_domain), FASTIOMMU_ERR_INVALID_ARGUMENT);   /* the RID's */

    OK(fastiommu_domain_create(driver, FASTIOMMU_DOMAIN_SVA, FASTIOMMU_MODE_SV48, &process));
    OK(fastiommu_domain_map(process, 0x7fff0000, DATA + 0x20000, 0x1000, FASTIOMMU_PROT_READ | FASTIOMMU_PROT_WRITE));
    fastiommu_sva sva;
    uint32_t sva_pasid = 0;
    OK(fastiommu_sva_bind(accel, process, &sva, &sva_pasid));
    CHECK(sva_pasid != 0 && sva_pasid != 5, "the address space got PASID %u", sva_pasid);
    r = translate(hw0, 0x80, 1, sva_pasid, 0x7fff0000, FASTIOMMU_ACCESS_WRITE);
    CHECK((r.flags & FASTIOMMU_RESP_SUCCESS) && r.pa == DATA + 0x20000, "SVA PASID translates: cause %u", r.cause);
    EXPECT_STATUS(fastiommu_sva_bind(devices[0], process, &sva, NULL), FASTIOMMU_ERR_UNSUPPORTED); /* no SVA feature */
    EXPECT_STATUS(fastiommu_domain_destroy(process), FASTIOMMU_ERR_IN_USE);                   /* bound */
    OK(fastiommu_sva_unbind(sva));
    EXPECT_STATUS(fastiommu_sva_unbind(sva), FASTIOMMU_ERR_INVALID_HANDLE);                   /* double unbind */
    r = translate(hw0, 0x80, 1, sva_pasid, 0x7fff0000, FASTIOMMU_ACCESS_WRITE);
    CHECK(!(r.flags & FASTIOMMU_RESP_SUCCESS), "unbound: the SVA PASID faults");

    /* Destroy while attached / borrowed: refused, nothing changed. */
    EXPECT_STATUS(fastiommu_domain_destroy(domain), FASTIOMMU_ERR_IN_USE);
    EXPECT_STATUS(fastiommu_domain_destroy(queue_domain), FASTIOMMU_ERR_IN_USE);
    EXPECT_STATUS(fastiommu_group_destroy(group), FASTIOMMU_ERR_IN_USE);
    EXPECT_STATUS(fastiommu_driver_destroy(driver), FASTIOMMU_ERR_IN_USE);
    EXPECT_STATUS(fastiommu_instance_destroy(iommu0), FASTIOMMU_ERR_IN_USE);
    EXPECT_STATUS(fastiommu_iommu_destroy(hw0), FASTIOMMU_ERR_IN_USE);

    /* Replace to identity: straight through (bare), then detach. */
    fastiommu_domain identity, blocked;
    OK(fastiommu_domain_create(driver, FASTIOMMU_DOMAIN_IDENTITY, 0, &identity));
    OK(fastiommu_domain_create(driver, FASTIOMMU_DOMAIN_BLOCKED, 0, &blocked));
    OK(fastiommu_replace(group, identity));
    r = translate(hw0, 0x12, 0, 0, DATA, FASTIOMMU_ACCESS_READ);
    CHECK((r.flags & FASTIOMMU_RESP_SUCCESS) && r.pa == DATA, "identity: IOVA = PA");
    EXPECT_STATUS(fastiommu_domain_map(identity, IOVA, DATA, 0x1000, FASTIOMMU_PROT_READ), FASTIOMMU_ERR_UNSUPPORTED);
    OK(fastiommu_attach(group, blocked));
    r = translate(hw0, 0x12, 0, 0, DATA, FASTIOMMU_ACCESS_READ);
    CHECK(!(r.flags & FASTIOMMU_RESP_SUCCESS), "blocked: faults");
    OK(fastiommu_detach(group));
    OK(fastiommu_pasid_detach(accel, 5));

    /* Hot unplug: refused while a PASID is attached, then the device faults (258) and its id can come back. */
    fastiommu_device unplugged;
    OK(fastiommu_device_add(iommu0, 0x90, accel_group, 8, 0, &unplugged));
    OK(fastiommu_pasid_attach(unplugged, 7, queue_domain));
    EXPECT_STATUS(fastiommu_device_remove(unplugged), FASTIOMMU_ERR_IN_USE);
    r = translate(hw0, 0x90, 1, 7, 0x20000000, FASTIOMMU_ACCESS_READ);
    CHECK((r.flags & FASTIOMMU_RESP_SUCCESS) && r.pa == DATA + 0x10000, "a refused remove changed nothing: cause %u", r.cause);
    OK(fastiommu_pasid_detach(unplugged, 7));
    OK(fastiommu_device_remove(unplugged));
    r = translate(hw0, 0x90, 1, 7, 0x20000000, FASTIOMMU_ACCESS_READ);
    CHECK(!(r.flags & FASTIOMMU_RESP_SUCCESS) && r.cause == RISCV_IOMMU_FAULT_CAUSE_DDT_ENTRY_NOT_VALID,
          "removed: its context is invalid (cause %u)", r.cause);
    EXPECT_STATUS(fastiommu_device_remove(unplugged), FASTIOMMU_ERR_INVALID_HANDLE);
    OK(fastiommu_device_add(iommu0, 0x90, accel_group, 0, 0, &unplugged));
    OK(fastiommu_device_release(unplugged));

    /* Bad, stale and wrong-kind handles. */
    fastiommu_domain forged = { 0x1234567800000042ull };
    EXPECT_STATUS(fastiommu_domain_map(forged, IOVA, DATA, 0x1000, FASTIOMMU_PROT_READ), FASTIOMMU_ERR_INVALID_HANDLE);
    fastiommu_group zero = { 0 };
    EXPECT_STATUS(fastiommu_attach(zero, domain), FASTIOMMU_ERR_INVALID_HANDLE);
    fastiommu_group as_group = { domain.id };
    EXPECT_STATUS(fastiommu_attach(as_group, domain), FASTIOMMU_ERR_INVALID_HANDLE);
    EXPECT_STATUS(fastiommu_domain_map(domain, IOVA + 1, DATA, 0x1000, FASTIOMMU_PROT_READ), FASTIOMMU_ERR_MISALIGNED);
    EXPECT_STATUS(fastiommu_domain_map(domain, IOVA + 0x4000, DATA, 0x1000, 0x40), FASTIOMMU_ERR_INVALID_PROTECTION);
    EXPECT_STATUS(fastiommu_device_add(iommu0, 0x10, accel_group, 0, 0, &accel), FASTIOMMU_ERR_IN_USE); /* id taken */
    EXPECT_STATUS(fastiommu_domain_create(driver, FASTIOMMU_DOMAIN_PAGING, 3, &domain), FASTIOMMU_ERR_INVALID_ARGUMENT);
    EXPECT_STATUS(fastiommu_instance_create_mmio(driver, NULL, NULL, &iommu1), FASTIOMMU_ERR_INVALID_ARGUMENT);

    /* Teardown, in borrow order; every stale handle is refused afterwards. */
    OK(fastiommu_domain_destroy(process));
    OK(fastiommu_domain_destroy(queue_domain));
    OK(fastiommu_domain_destroy(domain));
    EXPECT_STATUS(fastiommu_domain_map(domain, IOVA, DATA, 0x1000, FASTIOMMU_PROT_READ), FASTIOMMU_ERR_INVALID_HANDLE);
    OK(fastiommu_domain_destroy(identity));
    OK(fastiommu_domain_destroy(blocked));
    OK(fastiommu_unmap_gather_destroy(gather));
    for (uint32_t i = 0; i < DEVICES; i++) {
        OK(fastiommu_device_release(devices[i]));
    }
    OK(fastiommu_device_release(remote));
    OK(fastiommu_device_release(accel));
    EXPECT_STATUS(fastiommu_device_release(accel), FASTIOMMU_ERR_INVALID_HANDLE);
    OK(fastiommu_group_destroy(group));
    OK(fastiommu_group_destroy(accel_group));
    OK(fastiommu_instance_destroy(iommu0));
    OK(fastiommu_instance_destroy(iommu1));
    OK(fastiommu_driver_destroy(driver));
    EXPECT_STATUS(fastiommu_instance_counters(iommu0, &after0), FASTIOMMU_ERR_INVALID_HANDLE);
    OK(fastiommu_iommu_destroy(hw0));
    OK(fastiommu_iommu_destroy(hw1));
    OK(fastiommu_allocator_destroy(window));
    OK(fastiommu_memory_destroy(memory));
    free(ram);

    if (failures != 0) {
        fprintf(stderr, "test_driver: %d check(s) failed\n", failures);
        return 1;
    }
    printf("test_driver: ok\n");
    return 0;
}
