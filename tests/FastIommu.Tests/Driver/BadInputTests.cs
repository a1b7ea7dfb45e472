using FastIommu.Driver;
using FastIommu.Formats.RiscV;

namespace FastIommu.Tests.Driver;

/// <summary>Bad input not covered beside its feature: each a clear error and nothing changed.</summary>
[TestFixture]
public class BadInputTests
{
    [Test]
    public void ADeviceOfAShutDownInstanceCannotBeAttached()
    {
        using var bed = new DriverBed(instances: 2);
        DeviceGroup group = bed.Driver.CreateGroup();
        bed.Instance(0).AddDevice(0x1, group);
        bed.Instance(1).AddDevice(0x1, group);
        IommuInstance gone = bed.Instance(1);
        gone.Dispose();
        PagingDomain d = bed.Driver.CreatePagingDomain(PagingModeKind.Sv39);
        var ex = Assert.Throws<ArgumentException>(() => bed.Driver.Attach(group, d), "a member sits behind a shut-down instance");
        Assert.That(ex!.Message, Does.Contain("not on a live instance"), "clear");
        Assert.That((group.Domain, bed.Instance(0).PscidsInUse), Is.EqualTo(((IommuDomain)bed.Driver.Blocked, 0)), "nothing changed");
        Assert.Throws<ObjectDisposedException>(() => gone.AddDevice(0x2), "a shut-down instance takes no device");
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
}
