using FastIommu.Driver;
using FastIommu.Formats.RiscV;
using FastIommu.Hardware;

namespace FastIommu.Tests.Driver;

/// <summary><see cref="IommuInstance.RemoveDevice"/> (hot unplug) through the hardware model with its caches on.</summary>
[TestFixture]
public class RemoveDeviceTests
{
    private const ulong Iova = 0x4000_0000;

    /// <summary>A group of <paramref name="ids"/> on instance 0 attached to a fresh Sv39 domain with
    /// <paramref name="page"/> mapped at <see cref="Iova"/>.</summary>
    private static (DeviceGroup Group, IommuDevice[] Devices, PagingDomain Domain) Attached(DriverBed bed, int page, params uint[] ids)
    {
        DeviceGroup group = bed.Driver.CreateGroup();
        IommuDevice[] devices = [.. ids.Select(id => bed.Instance().AddDevice(id, group))];
        PagingDomain domain = bed.Driver.CreatePagingDomain(PagingModeKind.Sv39);
        bed.Driver.Attach(group, domain);
        domain.Map(Iova, DriverBed.Data(page), 4096, DmaProtection.ReadWrite);
        return (group, devices, domain);
    }

    [Test]
    public void ARemovedDeviceFaultsWithNoStaleEntryWhileItsGroupKeepsTranslating()
    {
        using var bed = new DriverBed();
        IommuInstance iommu = bed.Instance();
        (DeviceGroup group, IommuDevice[] devices, _) = Attached(bed, 3, 0x10, 0x11);
        IommuDevice gone = devices[0];
        for (int i = 0; i < 2; i++)
        {
            // Twice: a walk that fills the IOTLB, then a hit (the micro-TLB's copy).
            Assert.That(bed.Translate(0, 0x10, Iova).PhysicalAddress, Is.EqualTo(DriverBed.Data(3)), "translates before");
        }

        iommu.RemoveDevice(gone);

        TranslationResult r = bed.Translate(0, 0x10, Iova);
        Assert.That((r.Success, r.Cause), Is.EqualTo((false, FaultCause.DdtEntryNotValid)), "no cached context or translation survives");
        Assert.That(iommu.ReadDeviceContext(gone).Valid, Is.False, "its context is invalid");
        Assert.That(bed.Translate(0, 0x11, Iova).PhysicalAddress, Is.EqualTo(DriverBed.Data(3)), "the group's other device is untouched");
        Assert.That((gone.Removed, iommu.FindDevice(0x10), group.Devices.Count), Is.EqualTo((true, (IommuDevice?)null, 1)), "gone from the instance and the group");
        Assert.That(iommu.PscidsInUse, Is.EqualTo(1), "the other device still uses the domain's PSCID");
    }

    [Test]
    public void TheLastUserReleasesThePscidAndTheIdCanBeAddedAgain()
    {
        using var bed = new DriverBed();
        IommuInstance iommu = bed.Instance();
        (DeviceGroup group, IommuDevice[] devices, _) = Attached(bed, 4, 0x20);
        IommuDevice device = devices[0];
        Assert.That(bed.Translate(0, 0x20, Iova).Success, Is.True, "translates before");
        Assert.That(iommu.PscidsInUse, Is.EqualTo(1), "one PSCID for the domain");

        iommu.RemoveDevice(device);
        Assert.That(iommu.PscidsInUse, Is.Zero, "the bond went with its last user");
        Assert.That(iommu.Counters.Commands(CommandKind.IotinvalVma), Is.GreaterThan(0), "the id was flushed before its release");

        IommuDevice again = iommu.AddDevice(0x20, group);
        Assert.That(again, Is.Not.SameAs(device), "a new device object");
        Assert.That(bed.Translate(0, 0x20, Iova).PhysicalAddress, Is.EqualTo(DriverBed.Data(4)), "back on the group's domain");
    }

    [Test]
    public void ADeviceWithPasidsAttachedIsRefusedAndNothingChanges()
    {
        using var bed = new DriverBed();
        IommuInstance iommu = bed.Instance();
        IommuDevice device = iommu.AddDevice(0x30, pasidBits: 8);
        PagingDomain domain = bed.Driver.CreatePagingDomain(PagingModeKind.Sv39);
        bed.Driver.AttachPasid(device, 5, domain);
        domain.Map(Iova, DriverBed.Data(5), 4096, DmaProtection.Read);
        byte[] before = Snapshot(bed);
        long pages = bed.Allocator.PagesInUse;

        var ex = Assert.Throws<InvalidOperationException>(() => iommu.RemoveDevice(device), "PASIDs attached");
        Assert.That(ex!.Message, Does.Contain("0x5").And.Contain("detach them first"), "names the PASID");
        Assert.That(Snapshot(bed), Is.EqualTo(before), "memory as before");
        Assert.That((bed.Allocator.PagesInUse, device.Removed, iommu.FindDevice(0x30)), Is.EqualTo((pages, false, (IommuDevice?)device)), "still there");
        Assert.That(bed.Translate(0, 0x30, 5, Iova).PhysicalAddress, Is.EqualTo(DriverBed.Data(5)), "still translating");
    }

    [Test]
    public void ItsProcessDirectoryGoesBackToTheAllocator()
    {
        using var bed = new DriverBed();
        IommuInstance iommu = bed.Instance();
        IommuDevice device = iommu.AddDevice(0x40, pasidBits: 20); // PD20: a three-level PDT
        PagingDomain domain = bed.Driver.CreatePagingDomain(PagingModeKind.Sv39);
        long start = bed.Allocator.PagesInUse; // the DDT and the domain's root
        bed.Driver.AttachPasid(device, 0x12345, domain);
        bed.Driver.DetachPasid(device, 0x12345);
        Assert.That(bed.Allocator.PagesInUse - start, Is.GreaterThanOrEqualTo(3), "the PDT keeps its three levels after the detach");

        iommu.RemoveDevice(device);
        Assert.That(bed.Allocator.PagesInUse, Is.EqualTo(start), "the PDT's pages are free (the DDT stays for the other ids)");
    }

    [Test]
    public void ARemovedDeviceIsRefusedByEveryLaterCall()
    {
        using var bed = new DriverBed();
        IommuInstance iommu = bed.Instance();
        IommuDevice device = iommu.AddDevice(0x50, pasidBits: 8, features: DeviceFeatures.Sva);
        PagingDomain domain = bed.Driver.CreatePagingDomain(PagingModeKind.Sv39);
        iommu.RemoveDevice(device);

        Assert.Throws<InvalidOperationException>(() => iommu.RemoveDevice(device), "removed twice");
        Assert.That(Assert.Throws<InvalidOperationException>(() => bed.Driver.AttachPasid(device, 3, domain))!.Message,
            Does.Contain("was removed"), "no PASID on a removed device");
        PagingDomain space = bed.Driver.CreateAddressSpace(PagingModeKind.Sv39);
        Assert.Throws<InvalidOperationException>(() => bed.Driver.BindSva(device, space), "no SVA bind");
        Assert.That(space.Kind, Is.EqualTo(DomainKind.Sva), "the address space is still usable");
    }

    [Test]
    public void ADeviceOfAnotherInstanceIsRefused()
    {
        using var bed = new DriverBed(instances: 2);
        IommuDevice device = bed.Instance(1).AddDevice(0x60);
        Assert.Throws<InvalidOperationException>(() => bed.Instance(0).RemoveDevice(device), "not on instance 0");
        Assert.That(bed.Instance(1).FindDevice(0x60), Is.SameAs(device), "still on its own");
    }

    private static byte[] Snapshot(DriverBed bed) => bed.Memory.GetSpan(DriverBed.MemoryBase, (int)DriverBed.MemorySize).ToArray();
}
