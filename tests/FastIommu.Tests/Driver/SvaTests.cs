using FastIommu.Driver;
using FastIommu.Formats.RiscV;
using FastIommu.Hardware;
using FastIommu.Memory;

namespace FastIommu.Tests.Driver;

[TestFixture]
public class SvaTests
{
    private const ulong Va = 0x7000_0000;

    [Test]
    public void AnAddressSpaceHasOnePasidSharedByItsDevicesAndTheLastUnbindFreesIt()
    {
        using var bed = new DriverBed(instances: 2);
        IommuDriver driver = bed.Driver;
        IommuDevice gpu = bed.Instance(0).AddDevice(0x1, pasidBits: 20, features: DeviceFeatures.Sva);
        IommuDevice nic = bed.Instance(1).AddDevice(0x2, pasidBits: 8, features: DeviceFeatures.Sva);
        PagingDomain mm = driver.CreateAddressSpace(PagingModeKind.Sv48);
        mm.Map(Va, DriverBed.Data(5), 4096, DmaProtection.ReadWrite);

        SvaHandle h1 = driver.BindSva(gpu, mm);
        SvaHandle h2 = driver.BindSva(nic, mm);
        Assert.That(h2.Pasid, Is.EqualTo(h1.Pasid), "one PASID per address space");
        Assert.That(driver.BindSva(gpu, mm), Is.SameAs(h1), "the same pair again: the same handle");
        Assert.That(h1.References, Is.EqualTo(2), "with one more reference");
        Assert.That(bed.Translate(0, 0x1, h1.Pasid, Va, AccessType.Write).PhysicalAddress, Is.EqualTo(DriverBed.Data(5)), "gpu translates through the process table");
        Assert.That(bed.Translate(1, 0x2, h1.Pasid, Va).PhysicalAddress, Is.EqualTo(DriverBed.Data(5)), "nic too");
        Assert.That(driver.GetDomainForDevicePasid(gpu, h1.Pasid, DomainKind.Sva), Is.SameAs(mm), "an SVA domain at the PASID");

        driver.UnbindSva(h1);
        Assert.That(bed.Translate(0, 0x1, h1.Pasid, Va).Success, Is.True, "one reference left: still bound");
        driver.UnbindSva(h1);
        Assert.That(bed.Translate(0, 0x1, h1.Pasid, Va).Cause, Is.EqualTo(FaultCause.PdtEntryNotValid), "gpu unbound");
        Assert.That(mm.SvaPasid, Is.EqualTo(h1.Pasid), "the nic still holds the PASID");
        driver.UnbindSva(h2);
        Assert.That((mm.SvaPasid, driver.PasidsInUse), Is.EqualTo(((uint?)null, 0)), "the last unbind freed the PASID");
        var ex = Assert.Throws<InvalidOperationException>(() => driver.UnbindSva(h2), "double unbind");
        Assert.That(ex!.Message, Does.Contain("unbound twice"), "clear");
        Assert.That(bed.Instance(0).PscidsInUse + bed.Instance(1).PscidsInUse, Is.Zero, "bonds gone");
    }

    [Test]
    public void UnmapOfAnAddressSpaceReachesEveryBoundDevice()
    {
        using var bed = new DriverBed(instances: 2);
        IommuDevice a = bed.Instance(0).AddDevice(0x1, pasidBits: 8, features: DeviceFeatures.Sva);
        IommuDevice b = bed.Instance(1).AddDevice(0x1, pasidBits: 8, features: DeviceFeatures.Sva);
        PagingDomain mm = bed.Driver.CreateAddressSpace(PagingModeKind.Sv39);
        mm.Map(Va, DriverBed.Data(5), 2 * 4096, DmaProtection.Read);
        uint pasid = bed.Driver.BindSva(a, mm).Pasid;
        bed.Driver.BindSva(b, mm);
        for (int i = 0; i < 2; i++)
        {
            Assert.That(bed.Translate(i, 0x1, pasid, Va).Success && bed.Translate(i, 0x1, pasid, Va).Success, Is.True, "cached");
        }

        mm.UnmapAndSync(Va, 4096);
        for (int i = 0; i < 2; i++)
        {
            Assert.That(bed.Translate(i, 0x1, pasid, Va).Cause, Is.EqualTo(FaultCause.ReadPageFault), $"instance {i}: no stale entry");
        }
    }

    [Test]
    public void APasidBeyondALaterDevicesWidthIsRefused()
    {
        using var bed = new DriverBed();
        IommuDevice wide = bed.Instance().AddDevice(0x1, pasidBits: 8, features: DeviceFeatures.Sva);
        IommuDevice narrow = bed.Instance().AddDevice(0x2, pasidBits: 4, features: DeviceFeatures.Sva);
        PagingDomain? last = null;
        for (int i = 0; i < 16; i++)
        {
            last = bed.Driver.CreateAddressSpace(PagingModeKind.Sv39);
            bed.Driver.BindSva(wide, last);
        }

        Assert.That(last!.SvaPasid, Is.EqualTo(16u), "PASIDs 1..16 taken");
        Assert.Throws<ArgumentOutOfRangeException>(() => bed.Driver.BindSva(narrow, last), "16 does not fit a 4-bit device");
        Assert.That(last.Sva!.Handles, Has.Count.EqualTo(1), "nothing bound");
        Assert.That(narrow.AttachedPasids, Is.Empty, "nothing attached");
    }

    [Test]
    public void PasidExhaustionIsRefusedAndNothingChanges()
    {
        using var memory = PhysicalMemory.Allocate(DriverBed.MemorySize, DriverBed.MemoryBase);
        var allocator = new PageAllocator(memory, DriverBed.WindowBase, DriverBed.WindowSize);
        using var driver = new IommuDriver(allocator) { PasidCount = 2 }; // PASID 1 only
        IommuInstance iommu = driver.AddInstance(new InProcessMmio(new RiscVIommu(memory, Capabilities.FullRv64)));
        IommuDevice device = iommu.AddDevice(0x1, pasidBits: 8, features: DeviceFeatures.Sva);
        driver.BindSva(device, driver.CreateAddressSpace(PagingModeKind.Sv39));
        PagingDomain second = driver.CreateAddressSpace(PagingModeKind.Sv39);
        var ex = Assert.Throws<IdSpaceExhaustedException>(() => driver.BindSva(device, second), "no PASID left");
        Assert.That(ex!.Space, Is.EqualTo("PASID"), "names the space");
        Assert.That((second.SvaPasid, device.AttachedPasids.Count, second.AttachedCount), Is.EqualTo(((uint?)null, 1, 0)), "nothing changed");
    }

    [Test]
    public void ADeviceWithoutSvaCannotBind()
    {
        using var bed = new DriverBed();
        IommuDevice device = bed.Instance().AddDevice(0x1, pasidBits: 8);
        Assert.Throws<NotSupportedException>(() => bed.Driver.BindSva(device, bed.Driver.CreateAddressSpace(PagingModeKind.Sv39)), "no SVA feature");
    }

    [Test]
    public void AnAuxDomainReachesASubDeviceThroughAPasidOnItsParent()
    {
        using var bed = new DriverBed();
        IommuDevice parent = bed.Instance().AddDevice(0x40, pasidBits: 10);
        SubDevice queue = bed.Driver.CreateSubDevice(parent, "queue0");
        PagingDomain d = bed.Driver.CreatePagingDomain(PagingModeKind.Sv39);
        d.Map(Va, DriverBed.Data(6), 4096, DmaProtection.Read);
        bed.Driver.AttachAux(queue, d);
        Assert.That(queue.Domain, Is.SameAs(d), "the sub-device knows its domain");
        Assert.That(IommuDriver.AuxPasid(d, parent), Is.EqualTo(queue.Pasid), "the domain knows its PASID on the parent");
        Assert.That(bed.Translate(0, 0x40, queue.Pasid!.Value, Va).PhysicalAddress, Is.EqualTo(DriverBed.Data(6)), "parent's DMA tagged with the PASID");
        uint pasid = queue.Pasid.Value;
        bed.Driver.DetachAux(queue);
        Assert.That((queue.Domain, queue.Pasid, IommuDriver.AuxPasid(d, parent)), Is.EqualTo(((IommuDomain?)null, (uint?)null, (uint?)null)), "detached");
        Assert.That(bed.Translate(0, 0x40, pasid, Va).Cause, Is.EqualTo(FaultCause.PdtEntryNotValid), "no DMA at the PASID any more");
        Assert.That(bed.Driver.PasidsInUse, Is.Zero, "PASID freed");
    }
}
