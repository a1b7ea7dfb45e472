using FastIommu.Driver;
using FastIommu.Formats.RiscV;

namespace FastIommu.Tests.Driver;

/// <summary>Bad input not covered beside its feature: each a clear error and nothing changed.</summary>
[TestFixture]
public class BadInputTests
{
    [Test]
    public void ADeviceOfAnotherDriversInstanceIsRefused()
    {
        using var bed = new DriverBed();
        using var other = new DriverBed();
        IommuDevice mine = bed.Instance().AddDevice(0x1, pasidBits: 8);
        PagingDomain theirs = other.Driver.CreatePagingDomain(PagingModeKind.Sv39);
        var ex = Assert.Throws<ArgumentException>(() => other.Driver.AttachPasid(mine, 3, theirs), "a device of another driver's IOMMU");
        Assert.That(ex!.Message, Does.Contain("must belong to this driver"), "clear");
        Assert.Throws<ArgumentException>(() => other.Driver.Attach(mine.Group, theirs), "its group too");
        Assert.Throws<ArgumentException>(() => bed.Instance().AddDevice(0x2, other.Driver.CreateGroup()), "a group of another driver");
        Assert.That((mine.AttachedPasids.Count, theirs.AttachedCount, bed.Instance().Devices.Count), Is.EqualTo((0, 0, 1)), "nothing changed");
    }

    [Test]
    public void AShutDownInstanceTakesNoDevice()
    {
        using var bed = new DriverBed();
        IommuInstance gone = bed.Instance();
        gone.Dispose();
        Assert.Throws<ObjectDisposedException>(() => gone.AddDevice(0x2), "a shut-down instance takes no device");
        Assert.Throws<ObjectDisposedException>(() => gone.TryReadFault(out _), "nor reads faults");
    }

    [Test]
    public void AGatherOfOneDomainCannotBeSyncedOnAnother()
    {
        using var bed = new DriverBed();
        PagingDomain a = bed.Driver.CreatePagingDomain(PagingModeKind.Sv39);
        PagingDomain b = bed.Driver.CreatePagingDomain(PagingModeKind.Sv39);
        a.Map(0x1000, DriverBed.Data(0), 4096, DmaProtection.Read);
        UnmapGather g = a.Unmap(0x1000, 4096);
        Assert.Throws<ArgumentException>(() => b.Sync(g), "a's unmaps on b");
        Assert.Throws<ArgumentException>(() => b.TryUnmap(0x1000, 4096, g, out _), "mixing domains in one gather");
        Assert.DoesNotThrow(() => a.Sync(g), "still syncable on its own domain");
    }

    /// <summary>Found by the C bad-handle matrix: a refused unmap bound its empty gather to the domain, which then
    /// refused every other domain until a sync ("This gather holds unmaps of Paging domain #1").</summary>
    [Test]
    public void ARefusedUnmapLeavesItsGatherFreeForAnotherDomain()
    {
        using var bed = new DriverBed();
        PagingDomain a = bed.Driver.CreatePagingDomain(PagingModeKind.Sv39);
        PagingDomain b = bed.Driver.CreatePagingDomain(PagingModeKind.Sv39);
        b.Map(0x1000, DriverBed.Data(0), 4096, DmaProtection.Read);
        UnmapGather g = bed.Driver.RentGather();
        Assert.That(a.TryUnmap(0x1001, 4096, g, out _), Is.EqualTo(FastIommu.PageTables.MapStatus.MisalignedIova), "refused");
        Assert.That(b.TryUnmap(0x1000, 4096, g, out ulong bytes), Is.EqualTo(FastIommu.PageTables.MapStatus.Success),
            "the refused unmap changed nothing, so the gather takes b's unmap");
        Assert.That(bytes, Is.EqualTo(4096UL), "one page");
        Assert.DoesNotThrow(() => b.Sync(g), "and syncs on b");
    }

    [Test]
    public void AMapThatOverlapsIsRefusedWithTheStatus()
    {
        using var bed = new DriverBed();
        PagingDomain a = bed.Driver.CreatePagingDomain(PagingModeKind.Sv39);
        a.Map(0x1000, DriverBed.Data(0), 4096, DmaProtection.Read);
        var ex = Assert.Throws<FastIommu.PageTables.PageTableException>(() => a.Map(0x1000, DriverBed.Data(1), 4096, DmaProtection.Read), "overlap");
        Assert.That(ex!.Status, Is.EqualTo(FastIommu.PageTables.MapStatus.Overlap), "the status");
        Assert.That(a.TryIovaToPhys(0x1000, out ulong pa) && pa == DriverBed.Data(0), Is.True, "the first mapping stays");
    }

    [Test]
    public void ShuttingDownAnInstanceReleasesItsDevicesFromTheirDomains()
    {
        using var bed = new DriverBed(instances: 2);
        DeviceGroup group = bed.Driver.CreateGroup();
        bed.Instance(0).AddDevice(0x1, group);
        bed.Instance(1).AddDevice(0x1, group, pasidBits: 8);
        PagingDomain d = bed.Driver.CreatePagingDomain(PagingModeKind.Sv39);
        PagingDomain p = bed.Driver.CreatePagingDomain(PagingModeKind.Sv39);
        d.Map(0x1000, DriverBed.Data(0), 2 * 4096, DmaProtection.Read);
        bed.Driver.Attach(group, d);
        bed.Driver.AttachPasid(group.Devices[1], 3, p);
        long before = bed.Instance(0).Counters.Invalidations;
        bed.Instance(1).Dispose();
        Assert.That((d.AttachedCount, p.AttachedCount, group.Devices.Count), Is.EqualTo((1, 0, 1)), "its device left the group and the domains");
        Assert.DoesNotThrow(() => d.UnmapAndSync(0x1000, 4096), "a sync goes only to live instances");
        Assert.That(bed.Instance(0).Counters.Invalidations - before, Is.EqualTo(1), "the remaining instance still gets its invalidation");
        Assert.DoesNotThrow(p.Dispose, "a domain only the shut-down instance used can be destroyed");
    }
}
