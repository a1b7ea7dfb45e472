using FastIommu.Driver;
using FastIommu.Formats.RiscV;
using FastIommu.Hardware;

namespace FastIommu.Tests.Driver;

/// <summary>The invalidation batcher end to end: through the hardware model with its IOTLB and micro-TLB on.</summary>
[TestFixture]
public class SyncTests
{
    private const ulong Iova = 0x4000_0000;

    private static (DriverBed Bed, PagingDomain Domain) Shared(int instances, int devicesPerInstance, PagingModeKind mode = PagingModeKind.Sv39,
        IommuDriverOptions? options = null)
    {
        var bed = new DriverBed(instances, options: options);
        DeviceGroup group = bed.Driver.CreateGroup();
        for (int i = 0; i < instances; i++)
        {
            for (uint d = 0; d < devicesPerInstance; d++)
            {
                bed.Instance(i).AddDevice(0x100 + d, group);
            }
        }

        PagingDomain domain = bed.Driver.CreatePagingDomain(mode);
        bed.Driver.Attach(group, domain);
        return (bed, domain);
    }

    [TestCase(PagingModeKind.Sv39, FaultCause.ReadPageFault)]
    [TestCase(PagingModeKind.Sv57, FaultCause.ReadPageFault)]
    [TestCase(PagingModeKind.Sv39x4, FaultCause.ReadGuestPageFault)]
    [TestCase(PagingModeKind.Sv48x4, FaultCause.ReadGuestPageFault)]
    public void UnmapAndSyncLeaveNoStaleTranslationInAnyCache(PagingModeKind mode, FaultCause cause)
    {
        var (bed, domain) = Shared(2, 3, mode);
        using (bed)
        {
            domain.Map(Iova, DriverBed.Data(7), 4096, DmaProtection.ReadWrite);
            domain.Map(Iova + 0x1000, DriverBed.Data(8), 4096, DmaProtection.ReadWrite); // keeps the table alive
            for (int round = 0; round < 3; round++)
            {
                for (int i = 0; i < 2; i++)
                {
                    // Twice: the first fills the IOTLB, the second is served by the micro-TLB.
                    Assert.That(bed.Translate(i, 0x101, Iova).PhysicalAddress, Is.EqualTo(DriverBed.Data(7)), "mapped, walked and cached");
                    Assert.That(bed.Translate(i, 0x101, Iova).PhysicalAddress, Is.EqualTo(DriverBed.Data(7)), "mapped, from the caches");
                }
            }

            domain.UnmapAndSync(Iova, 4096);
            for (int i = 0; i < 2; i++)
            {
                for (uint d = 0; d < 3; d++)
                {
                    TranslationResult r = bed.Translate(i, 0x100 + d, Iova);
                    Assert.That((r.Success, r.Cause), Is.EqualTo((false, cause)), $"instance {i} device {d}: no stale IOTLB or micro-TLB entry");
                }

                Assert.That(bed.Translate(i, 0x101, Iova + 0x1000).PhysicalAddress, Is.EqualTo(DriverBed.Data(8)), "the neighbour stays");
            }
        }
    }

    [Test]
    public void TenDevicesOnOneInstanceCostOneInvalidationAndOneFence()
    {
        var (bed, domain) = Shared(1, 10);
        using (bed)
        {
            domain.Map(Iova, DriverBed.Data(1), 2 * 4096, DmaProtection.Read);
            IommuCounters c = bed.Instance().Counters;
            long vma = c.Commands(CommandKind.IotinvalVma), fences = c.Commands(CommandKind.IofenceC), syncs = c.Syncs;
            bed.Recorder().Clear();
            domain.UnmapAndSync(Iova, 4096);
            Assert.That(c.Commands(CommandKind.IotinvalVma) - vma, Is.EqualTo(1), "one IOTINVAL for ten devices");
            Assert.That(c.Commands(CommandKind.IofenceC) - fences, Is.EqualTo(1), "one IOFENCE.C");
            Assert.That(c.Syncs - syncs, Is.EqualTo(1), "one sync counted");
            uint pscid = bed.Instance().ReadDeviceContext(bed.Instance().Devices[0]).Ta.Pscid;
            Assert.That(bed.Recorder().Commands.First(), Is.EqualTo(Command.IotinvalVma(false, 0, true, pscid, true, Iova)),
                "page-addressed (AV = 1) for the domain's PSCID");
        }
    }

    [Test]
    public void TenDevicesOnTwoInstancesCostTwoAndTwo()
    {
        var (bed, domain) = Shared(2, 5);
        using (bed)
        {
            domain.Map(Iova, DriverBed.Data(1), 2 * 4096, DmaProtection.Read);
            long[] before = [.. Enumerable.Range(0, 2).Select(i => bed.Instance(i).Counters.TotalCommands)];
            domain.UnmapAndSync(Iova, 4096);
            for (int i = 0; i < 2; i++)
            {
                IommuCounters c = bed.Instance(i).Counters;
                Assert.That(c.TotalCommands - before[i], Is.EqualTo(2), $"instance {i}: one IOTINVAL + one IOFENCE.C");
                Assert.That(c.Commands(CommandKind.IotinvalVma), Is.GreaterThanOrEqualTo(1), "the IOTINVAL");
            }
        }
    }

    [Test]
    public void TwoMegabytesArePageAddressedAndMoreIsOnePscidWideCommand()
    {
        var (bed, domain) = Shared(1, 1);
        using (bed)
        {
            IommuCounters c = bed.Instance().Counters;
            // [Iova, Iova + 2 MiB + 8 KiB): unmapping [Iova + 4 KiB, + 2 MiB) leaves a page in both L0 tables.
            domain.Map(Iova, DriverBed.Data(0), (2UL << 20) + 8192, DmaProtection.Read);
            long vma = c.Commands(CommandKind.IotinvalVma);
            bed.Recorder().Clear();
            UnmapGather gather = domain.Unmap(Iova + 4096, 2UL << 20);
            Assert.That(gather.HasFreedTables, Is.False, "no table emptied");
            domain.Sync(gather);
            Assert.That(c.Commands(CommandKind.IotinvalVma) - vma, Is.EqualTo(512), "at the limit: one page-addressed command per 4 KiB page");
            Assert.That(bed.Recorder().Commands.Where(x => x.Kind == CommandKind.IotinvalVma).All(x => x.Av), Is.True, "all page-addressed");

            domain.Map(Iova + 4096, DriverBed.Data(0), (2UL << 20) - 4096, DmaProtection.Read);
            vma = c.Commands(CommandKind.IotinvalVma);
            domain.UnmapAndSync(Iova + 4096, (2UL << 20) - 4096);
            Assert.That(c.Commands(CommandKind.IotinvalVma) - vma, Is.EqualTo(511), "below the limit");
        }
    }

    [Test]
    public void FourMegabytesCostOnePscidWideCommand()
    {
        var (bed, domain) = Shared(1, 1);
        using (bed)
        {
            IommuCounters c = bed.Instance().Counters;
            domain.Map(Iova, DriverBed.Data(0), 4UL << 20, DmaProtection.Read);
            long vma = c.Commands(CommandKind.IotinvalVma);
            bed.Recorder().Clear();
            domain.UnmapAndSync(Iova, 4UL << 20);
            uint pscid = bed.Instance().ReadDeviceContext(bed.Instance().Devices[0]).Ta.Pscid;
            Assert.That(c.Commands(CommandKind.IotinvalVma) - vma, Is.EqualTo(1), "one command");
            Assert.That(bed.Recorder().Commands.First(), Is.EqualTo(Command.IotinvalVma(false, 0, true, pscid, false, 0)), "PSCID-wide: AV = 0, PSCV = 1");
        }
    }

    [Test]
    public void AboveTheLimitWithoutFreedTablesIsPscidWide()
    {
        var (bed, domain) = Shared(1, 1, options: new IommuDriverOptions { PageInvalidationLimit = 8192 });
        using (bed)
        {
            domain.Map(Iova, DriverBed.Data(0), 4 * 4096, DmaProtection.Read);
            bed.Recorder().Clear();
            UnmapGather gather = domain.Unmap(Iova + 4096, 3 * 4096);
            Assert.That(gather.HasFreedTables, Is.False, "page 0 keeps the table");
            domain.Sync(gather);
            Assert.That(bed.Recorder().Commands.Select(x => (x.Kind, x.Av)), Is.EqualTo(new[] { (CommandKind.IotinvalVma, false), (CommandKind.IofenceC, true) }),
                "12 KiB > 8 KiB limit: one PSCID-wide command, one fence");
        }
    }

    [Test]
    public void FreedTablesForceAPscidWideFlushAndAreFreedOnlyAfterTheFence()
    {
        var (bed, domain) = Shared(1, 1);
        using (bed)
        {
            domain.Map(Iova, DriverBed.Data(0), 4096, DmaProtection.Read);
            ulong leafTable = LeafTable(bed, domain, Iova);
            UnmapGather gather = domain.Unmap(Iova, 4096);
            Assert.That(gather.HasFreedTables, Is.True, "the lone page's tables were emptied");
            int freed = gather.FreedTablePages;
            bool heldAtFence = false;
            bed.Recorder().Clear();
            bed.Recorder().Drop = cmd =>
            {
                if (cmd.Kind == CommandKind.IofenceC)
                {
                    heldAtFence = bed.Allocator.IsAllocated(leafTable);
                }

                return false;
            };
            domain.Sync(gather);
            Assert.That(bed.Recorder().Commands.Select(x => (x.Kind, x.Av)), Is.EqualTo(new[] { (CommandKind.IotinvalVma, false), (CommandKind.IofenceC, true) }),
                "4 KiB, but tables freed: PSCID-wide (v1.0 has no non-leaf invalidation)");
            Assert.That(heldAtFence, Is.True, "the emptied table was still held when the fence was queued");
            Assert.That(bed.Allocator.IsAllocated(leafTable), Is.False, "and freed after it completed");
            Assert.That(bed.Instance().Counters.PagesFreedAfterSync, Is.EqualTo(freed), "counted");
        }
    }

    [Test]
    public void AGStageDomainIsInvalidatedWithGvma()
    {
        var (bed, domain) = Shared(1, 2, PagingModeKind.Sv39x4);
        using (bed)
        {
            domain.Map(Iova, DriverBed.Data(0), 2 * 4096, DmaProtection.Read);
            uint gscid = bed.Instance().ReadDeviceContext(bed.Instance().Devices[0]).Iohgatp.Gscid;
            bed.Recorder().Clear();
            domain.UnmapAndSync(Iova, 4096);
            Assert.That(bed.Recorder().Commands.ToArray(), Is.EqualTo(new[]
            {
                Command.IotinvalGvma(true, gscid, true, Iova), bed.Recorder().Commands.Last(),
            }), "IOTINVAL.GVMA GV = AV = 1 with the GSCID, then the fence");
            Assert.That(bed.Recorder().Commands.Last().Kind, Is.EqualTo(CommandKind.IofenceC), "fence");
        }
    }

    [Test]
    public void SyncDoesNotReturnBeforeTheHardwareRanItsFence()
    {
        using var bed = new DriverBed(options: new IommuDriverOptions { CommandTimeout = TimeSpan.FromSeconds(30) },
            deviceOptions: new IommuOptions { ProcessCommandsOnTailWrite = false });
        IommuDevice device = bed.Instance().AddDevice(0x1);
        PagingDomain domain = bed.Driver.CreatePagingDomain(PagingModeKind.Sv39);
        domain.Map(Iova, DriverBed.Data(0), 4096, DmaProtection.Read);
        bed.Driver.Attach(device.Group, domain);
        Assert.That(bed.Translate(0, 1, Iova).Success, Is.True, "cached");
        ulong leafTable = LeafTable(bed, domain, Iova);

        UnmapGather gather = domain.Unmap(Iova, 4096);
        bed.Mmio().ProcessOnDoorbell = false; // the device stops running its queue
        var sync = Task.Run(() => domain.Sync(gather));
        Assert.That(sync.Wait(200), Is.False, "Sync waits for the fence's write-back");
        Assert.That(bed.Allocator.IsAllocated(leafTable), Is.True, "and frees no table before it");
        bed.Mmio().ProcessOnDoorbell = true;
        bed.Hardware().ProcessCommands();
        Assert.That(sync.Wait(TimeSpan.FromSeconds(20)), Is.True, "completes once the hardware ran");
        Assert.That(bed.Translate(0, 1, Iova).Success, Is.False, "no stale translation");
        Assert.That(bed.Allocator.IsAllocated(leafTable), Is.False, "table freed");
    }

    [Test]
    public void AReusedPscidCarriesNothingOfItsLastDomain()
    {
        using var bed = new DriverBed(options: new IommuDriverOptions { PscidCount = 2 }); // PSCID 1 only
        IommuDevice d1 = bed.Instance().AddDevice(0x1);
        IommuDevice d2 = bed.Instance().AddDevice(0x2);
        PagingDomain a = bed.Driver.CreatePagingDomain(PagingModeKind.Sv39);
        PagingDomain b = bed.Driver.CreatePagingDomain(PagingModeKind.Sv39);
        a.Map(Iova, DriverBed.Data(1), 4096, DmaProtection.Read);
        b.Map(Iova, DriverBed.Data(2), 4096, DmaProtection.Read);
        bed.Driver.Attach(d1.Group, a);
        Assert.That(bed.Translate(0, 1, Iova).PhysicalAddress, Is.EqualTo(DriverBed.Data(1)), "a, cached under PSCID 1");
        bed.Driver.Detach(d1.Group);
        bed.Driver.Attach(d2.Group, b);
        Assert.That(bed.Instance().ReadDeviceContext(d2).Ta.Pscid, Is.EqualTo(1u), "b got the same PSCID");
        Assert.That(bed.Translate(0, 2, Iova).PhysicalAddress, Is.EqualTo(DriverBed.Data(2)), "nothing of a's under it");
    }

    private static ulong LeafTable(DriverBed bed, PagingDomain domain, ulong iova)
    {
        // Sv39: root[VPN2] -> L1, L1[VPN1] -> L0 (the table holding the 4 KiB leaf).
        ulong l1 = ((bed.Memory.Qword(domain.RootAddress + (((iova >> 30) & 511) * 8)) >> 10) & ((1UL << 44) - 1)) << 12;
        return ((bed.Memory.Qword(l1 + (((iova >> 21) & 511) * 8)) >> 10) & ((1UL << 44) - 1)) << 12;
    }

    [Test]
    public void AStrictUnmapWhoseFenceTimesOutKeepsItsTablePagesAndTheNextOneWorks()
    {
        // UnmapAndSync reuses the domain's own gather: a sync that failed must not hand its unlinked table (still
        // reachable by a walk the fence did not wait for) to the next call, nor to the allocator.
        using var bed = new DriverBed(
            options: new IommuDriverOptions { CommandTimeout = TimeSpan.FromMilliseconds(100) },
            deviceOptions: new IommuOptions { ProcessCommandsOnTailWrite = false });
        DeviceGroup group = bed.Driver.CreateGroup();
        bed.Instance().AddDevice(0x100, group);
        PagingDomain domain = bed.Driver.CreatePagingDomain(PagingModeKind.Sv39);
        bed.Driver.Attach(group, domain);
        long before = bed.Allocator.PagesInUse;
        domain.Map(Iova, DriverBed.Data(1), 4096, DmaProtection.ReadWrite); // a new leaf table, freed by the unmap
        long withTable = bed.Allocator.PagesInUse;
        Assert.That(withTable, Is.GreaterThan(before), "the map took a leaf table");

        bed.Mmio().ProcessOnDoorbell = false; // the hardware stops
        Assert.Throws<CommandQueueTimeoutException>(() => domain.UnmapAndSync(Iova, 4096), "the fence never completes");
        Assert.That(bed.Allocator.PagesInUse, Is.EqualTo(withTable), "the unlinked table is not freed: the hardware may still walk it");

        bed.Mmio().ProcessOnDoorbell = true; // it runs again
        bed.Hardware().ProcessCommands();
        domain.Map(Iova + (4UL << 20), DriverBed.Data(2), 4096, DmaProtection.ReadWrite);
        Assert.That(domain.UnmapAndSync(Iova + (4UL << 20), 4096), Is.EqualTo(4096UL), "the next strict unmap works");
        Assert.That(bed.Allocator.PagesInUse, Is.EqualTo(withTable), "it freed its own table and not the lost one");
        Assert.That(bed.Translate(0, 0x100, Iova + (4UL << 20)).Success, Is.False, "and took effect");
    }
}
