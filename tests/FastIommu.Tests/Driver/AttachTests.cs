using FastIommu.Driver;
using FastIommu.Formats.RiscV;
using FastIommu.Hardware;
using FastIommu.PageTables;

namespace FastIommu.Tests.Driver;

[TestFixture]
public class AttachTests
{
    private const ulong Iova = 0x4000_0000;

    [Test]
    public void MapBeforeAttachWorksAndLeavesCarryTheBitsADriverSets()
    {
        using var bed = new DriverBed();
        PagingDomain domain = bed.Driver.CreatePagingDomain(PagingModeKind.Sv39);
        domain.Map(Iova, DriverBed.Data(1), 4096, DmaProtection.ReadWrite);
        domain.Map(Iova + 0x1000, DriverBed.Data(2), 4096, DmaProtection.Read);
        IommuDevice device = bed.Instance().AddDevice(0x10);
        bed.Driver.Attach(device.Group, domain);

        TranslationResult w = bed.Translate(0, 0x10, Iova + 0x10, AccessType.Write);
        Assert.That((w.Success, w.PhysicalAddress), Is.EqualTo((true, DriverBed.Data(1) + 0x10)), "mapped before attach, translated after");
        TranslationResult ro = bed.Translate(0, 0x10, Iova + 0x1000, AccessType.Write);
        Assert.That((ro.Success, ro.Cause), Is.EqualTo((false, FaultCause.WritePageFault)), "a read-only page refuses writes (cause 15)");

        Pte rw = domain.Walk(Iova).Pte;
        Assert.That(rw.Value & 0xFF, Is.EqualTo(Pte.V | Pte.R | Pte.W | Pte.U | Pte.A | Pte.D),
            "first-stage leaf: V R W, U (Linux _PAGE_BASE: requests without process_id are user accesses), A, D preset");
        Assert.That(domain.Walk(Iova + 0x1000).Pte.Value & 0xFF, Is.EqualTo(Pte.V | Pte.R | Pte.U | Pte.A), "read-only leaf");

        DeviceContext dc = bed.Instance().ReadDeviceContext(device);
        Assert.That(dc.FscAsIosatp, Is.EqualTo(Iosatp.Default.WithMode(Iosatp.ModeSv39).WithPpn(domain.RootAddress >> 12)), "iosatp");
        Assert.That(dc.Ta.Pscid, Is.Not.Zero, "a PSCID from the instance");
        Assert.That(dc.Iohgatp.IsBare, Is.True, "no G-stage");
    }

    [Test]
    public void IdentityBlockedAndGStageDomainsTranslateAsTheirKind()
    {
        using var bed = new DriverBed();
        IommuDevice device = bed.Instance().AddDevice(0x20);
        Assert.That(bed.Translate(0, 0x20, Iova).Cause, Is.EqualTo(FaultCause.DdtEntryNotValid), "a new device is blocked (tc.V = 0)");

        bed.Driver.Attach(device.Group, bed.Driver.Identity);
        Assert.That(bed.Translate(0, 0x20, Iova).PhysicalAddress, Is.EqualTo(Iova), "identity: untranslated");

        PagingDomain vm = bed.Driver.CreatePagingDomain(PagingModeKind.Sv48x4);
        vm.Map(Iova, DriverBed.Data(3), 4096, DmaProtection.ReadWrite);
        bed.Driver.Replace(device.Group, vm);
        Assert.That(bed.Translate(0, 0x20, Iova).PhysicalAddress, Is.EqualTo(DriverBed.Data(3)), "G-stage (a VM's)");
        DeviceContext dc = bed.Instance().ReadDeviceContext(device);
        Assert.That((dc.Iohgatp.Mode, dc.Iohgatp.Ppn, dc.FscAsIosatp.IsBare), Is.EqualTo((Iohgatp.ModeSv48x4, vm.RootAddress >> 12, true)), "iohgatp");
        Assert.That(dc.Iohgatp.Gscid, Is.Not.Zero, "a GSCID");
        Assert.That(bed.Translate(0, 0x20, Iova + 0x1000).Cause, Is.EqualTo(FaultCause.ReadGuestPageFault), "unmapped GPA: guest page fault (21)");

        bed.Driver.Detach(device.Group);
        Assert.That(bed.Translate(0, 0x20, Iova).Cause, Is.EqualTo(FaultCause.DdtEntryNotValid), "detached: blocked");
        Assert.That(bed.Instance().GscidsInUse, Is.Zero, "the GSCID went back");
    }

    [Test]
    public void AttachActsOnTheWholeGroup()
    {
        using var bed = new DriverBed(instances: 2);
        DeviceGroup group = bed.Driver.CreateGroup();
        IommuDevice a = bed.Instance(0).AddDevice(0x1, group);
        IommuDevice b = bed.Instance(0).AddDevice(0x2, group);
        IommuDevice c = bed.Instance(1).AddDevice(0x1, group);
        PagingDomain domain = bed.Driver.CreatePagingDomain(PagingModeKind.Sv39);
        domain.Map(Iova, DriverBed.Data(4), 4096, DmaProtection.Read);
        bed.Driver.Attach(group, domain);
        foreach (var (i, id) in new[] { (0, 1u), (0, 2u), (1, 1u) })
        {
            Assert.That(bed.Translate(i, id, Iova).PhysicalAddress, Is.EqualTo(DriverBed.Data(4)), $"instance {i} device {id} attached");
        }

        Assert.That((a.Domain, b.Domain, c.Domain), Is.EqualTo((domain, domain, domain)), "one domain for the group");
        Assert.That(domain.AttachedCount, Is.EqualTo(3), "three devices");
        Assert.That((bed.Instance(0).PscidsInUse, bed.Instance(1).PscidsInUse), Is.EqualTo((1, 1)), "one PSCID per instance, not per device");

        IommuDevice late = bed.Instance(0).AddDevice(0x3, group);
        Assert.That(bed.Translate(0, 3, Iova).PhysicalAddress, Is.EqualTo(DriverBed.Data(4)), "a device joining a group takes its domain");

        bed.Driver.Detach(group);
        Assert.That(bed.Translate(1, 1, Iova).Cause, Is.EqualTo(FaultCause.DdtEntryNotValid), "all blocked");
        Assert.That(bed.Instance(0).PscidsInUse + bed.Instance(1).PscidsInUse, Is.Zero, "bonds unlinked, ids freed");
        _ = late;
    }

    [Test]
    public void DuplicateDeviceIdsAreRefused()
    {
        using var bed = new DriverBed(instances: 2);
        bed.Instance(0).AddDevice(0x5);
        var ex = Assert.Throws<InvalidOperationException>(() => bed.Instance(0).AddDevice(0x5), "same id, same instance");
        Assert.That(ex!.Message, Does.Contain("0x5").And.Contain("already"), "clear");
        Assert.That(bed.Instance(0).Devices, Has.Count.EqualTo(1), "nothing added");
        Assert.DoesNotThrow(() => bed.Instance(1).AddDevice(0x5), "device ids are per IOMMU");
    }

    [Test]
    public void AModeTheInstanceLacksIsRefusedAndNothingChanges()
    {
        using var bed = new DriverBed(capabilities: Capabilities.FullRv64.WithSv57(false));
        IommuDevice device = bed.Instance().AddDevice(0x7);
        bed.Driver.Attach(device.Group, bed.Driver.Identity);
        DeviceContext before = bed.Instance().ReadDeviceContext(device);
        PagingDomain sv57 = bed.Driver.CreatePagingDomain(PagingModeKind.Sv57);
        Assert.Throws<NotSupportedException>(() => bed.Driver.Attach(device.Group, sv57), "no Sv57 in capabilities");
        Assert.That(bed.Instance().ReadDeviceContext(device), Is.EqualTo(before), "bytes unchanged");
        Assert.That(device.Domain, Is.EqualTo(bed.Driver.Identity), "still on its old domain");
        Assert.That(bed.Instance().PscidsInUse, Is.Zero, "no id taken");
    }

    [Test]
    public void ADomainOfAnotherDriverIsRefused()
    {
        using var bed = new DriverBed();
        using var other = new DriverBed();
        IommuDevice device = bed.Instance().AddDevice(0x7);
        PagingDomain foreign = other.Driver.CreatePagingDomain(PagingModeKind.Sv39);
        Assert.Throws<ArgumentException>(() => bed.Driver.Attach(device.Group, foreign), "another driver's domain");
        Assert.Throws<ArgumentException>(() => other.Driver.Attach(device.Group, foreign), "a device of another driver's instance");
        Assert.That(device.Domain, Is.EqualTo(bed.Driver.Blocked), "unchanged");
    }

    [Test]
    public void PscidExhaustionLeavesEveryDeviceOnItsOldDomain()
    {
        using var bed = new DriverBed(options: new IommuDriverOptions { PscidCount = 2 }); // one usable PSCID
        DeviceGroup g1 = bed.Driver.CreateGroup();
        DeviceGroup g2 = bed.Driver.CreateGroup();
        bed.Instance().AddDevice(0x1, g1);
        IommuDevice d2 = bed.Instance().AddDevice(0x2, g2);
        IommuDevice d3 = bed.Instance().AddDevice(0x3, g2);
        PagingDomain a = bed.Driver.CreatePagingDomain(PagingModeKind.Sv39);
        PagingDomain b = bed.Driver.CreatePagingDomain(PagingModeKind.Sv39);
        bed.Driver.Attach(g1, a);
        bed.Driver.Attach(g2, bed.Driver.Identity);
        DeviceContext before2 = bed.Instance().ReadDeviceContext(d2);
        DeviceContext before3 = bed.Instance().ReadDeviceContext(d3);
        var ex = Assert.Throws<IdSpaceExhaustedException>(() => bed.Driver.Attach(g2, b), "no PSCID left for b");
        Assert.That(ex!.Space, Is.EqualTo("PSCID"), "names the space");
        Assert.That((bed.Instance().ReadDeviceContext(d2), bed.Instance().ReadDeviceContext(d3)), Is.EqualTo((before2, before3)), "bytes unchanged");
        Assert.That(g2.Domain, Is.EqualTo(bed.Driver.Identity), "still on identity");
        Assert.That(bed.Translate(0, 2, Iova).PhysicalAddress, Is.EqualTo(Iova), "and translating through it");
        Assert.That(b.AttachedCount, Is.Zero, "b has no users");
    }

    [Test]
    public void GscidExhaustionIsRefusedToo()
    {
        using var bed = new DriverBed(options: new IommuDriverOptions { GscidCount = 2 });
        DeviceGroup g1 = bed.Driver.CreateGroup();
        DeviceGroup g2 = bed.Driver.CreateGroup();
        bed.Instance().AddDevice(0x1, g1);
        bed.Instance().AddDevice(0x2, g2);
        bed.Driver.Attach(g1, bed.Driver.CreatePagingDomain(PagingModeKind.Sv39x4));
        var ex = Assert.Throws<IdSpaceExhaustedException>(() => bed.Driver.Attach(g2, bed.Driver.CreatePagingDomain(PagingModeKind.Sv39x4)), "one GSCID only");
        Assert.That(ex!.Space, Is.EqualTo("GSCID"), "names the space");
        Assert.That(g2.Domain, Is.EqualTo(bed.Driver.Blocked), "unchanged");
    }

    [Test]
    public void DestroyingAnAttachedDomainIsRefused()
    {
        using var bed = new DriverBed();
        IommuDevice device = bed.Instance().AddDevice(0x1);
        PagingDomain domain = bed.Driver.CreatePagingDomain(PagingModeKind.Sv39);
        domain.Map(Iova, DriverBed.Data(1), 4096, DmaProtection.Read);
        bed.Driver.Attach(device.Group, domain);
        long pages = bed.Allocator.PagesInUse;
        var ex = Assert.Throws<InvalidOperationException>(domain.Dispose, "still attached");
        Assert.That(ex!.Message, Does.Contain("still attached"), "clear");
        Assert.That((domain.IsDestroyed, bed.Allocator.PagesInUse), Is.EqualTo((false, pages)), "nothing freed");
        Assert.That(bed.Translate(0, 1, Iova).PhysicalAddress, Is.EqualTo(DriverBed.Data(1)), "still translating");

        bed.Driver.Detach(device.Group);
        domain.Dispose();
        Assert.That(bed.Allocator.PagesInUse, Is.LessThan(pages), "the table went back once detached");
        Assert.Throws<ObjectDisposedException>(() => bed.Driver.Attach(device.Group, domain), "a destroyed domain cannot be attached");
    }

    [Test]
    public void AnAtsDeviceGetsEnAts()
    {
        using var bed = new DriverBed();
        IommuDevice device = bed.Instance().AddDevice(0x9, features: DeviceFeatures.Ats);
        bed.Driver.Attach(device.Group, bed.Driver.Identity);
        Assert.That(bed.Instance().ReadDeviceContext(device).Tc.Value, Is.EqualTo(DeviceContextTc.V | DeviceContextTc.EnAtsMask), "tc: V, EN_ATS");
        using var noAts = new DriverBed(capabilities: Capabilities.FullRv64.WithAts(false));
        Assert.Throws<NotSupportedException>(() => noAts.Instance().AddDevice(0x9, features: DeviceFeatures.Ats), "no capabilities.ATS");
    }

    [Test]
    public void AReplaceNeverWritesTheBlockedImage()
    {
        using var bed = new DriverBed();
        IommuDevice device = bed.Instance().AddDevice(0x42);
        PagingDomain a = bed.Driver.CreatePagingDomain(PagingModeKind.Sv39);
        PagingDomain b = bed.Driver.CreatePagingDomain(PagingModeKind.Sv39);
        bed.Driver.Attach(device.Group, a);
        ulong fscA = bed.Instance().ReadDeviceContext(device).Fsc;
        RecordingMmio rec = bed.Recorder();
        rec.Watch = device.ContextAddress + DeviceContext.FscOffset;
        rec.Clear();
        bed.Driver.Replace(device.Group, b);
        ulong fscB = bed.Instance().ReadDeviceContext(device).Fsc;
        Assert.That(rec.Log.Select(e => e.Watched).Distinct(), Is.EquivalentTo(new[] { fscA, fscB }),
            "fsc goes from a's iosatp to b's: never Bare/zero (the blocked domain's), no detour through blocked");
        Assert.That(device.Domain, Is.SameAs(b), "on b");
    }
}
