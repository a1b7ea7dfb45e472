using FastIommu.Driver;
using FastIommu.Formats.RiscV;
using FastIommu.Hardware;

namespace FastIommu.Tests.Driver;

[TestFixture]
public class PasidTests
{
    private const ulong Iova = 0x4000_0000;

    [TestCase(8, PdtpMode.PD8)]
    [TestCase(12, PdtpMode.PD17)]
    [TestCase(20, PdtpMode.PD20)]
    public void APasidDomainTranslatesBesideTheRidDomain(int pasidBits, PdtpMode mode)
    {
        using var bed = new DriverBed();
        IommuDriver driver = bed.Driver;
        IommuDevice device = bed.Instance().AddDevice(0x30, pasidBits: pasidBits);
        PagingDomain rid = driver.CreatePagingDomain(PagingModeKind.Sv39);
        rid.Map(Iova, DriverBed.Data(1), 4096, DmaProtection.Read);
        driver.Attach(device.Group, rid);
        PagingDomain pasidDomain = driver.CreatePagingDomain(PagingModeKind.Sv48);
        pasidDomain.Map(Iova, DriverBed.Data(2), 4096, DmaProtection.ReadWrite);
        uint pasid = (1u << pasidBits) - 1;

        driver.AttachPasid(device, pasid, pasidDomain);
        Assert.That(bed.Translate(0, 0x30, pasid, Iova, AccessType.Write).PhysicalAddress, Is.EqualTo(DriverBed.Data(2)), "through the PDT");
        Assert.That(bed.Translate(0, 0x30, Iova).PhysicalAddress, Is.EqualTo(DriverBed.Data(1)), "the RID still on its domain (PC 0, DPE)");
        DeviceContext dc = bed.Instance().ReadDeviceContext(device);
        Assert.That((dc.Tc.Pdtv, dc.Tc.Dpe, dc.FscAsPdtp.Mode), Is.EqualTo((true, true, mode)), "PDTV, DPE, the smallest PDT mode for the width");
        Assert.That(device.AttachedPasids, Is.EqualTo(new[] { pasid }), "recorded");

        driver.DetachPasid(device, pasid);
        Assert.That(bed.Translate(0, 0x30, pasid, Iova).Cause, Is.EqualTo(FaultCause.PdtEntryNotValid), "detached: PC not valid (266)");
        Assert.That(bed.Translate(0, 0x30, Iova).PhysicalAddress, Is.EqualTo(DriverBed.Data(1)), "RID unaffected");
        Assert.That(pasidDomain.AttachedCount, Is.Zero, "no user left");
        Assert.That(bed.Instance().PscidsInUse, Is.EqualTo(1), "the PASID domain's PSCID went back");
    }

    [Test]
    public void ThePdtModeFollowsWhatTheIommuImplements()
    {
        using var bed = new DriverBed(capabilities: Capabilities.FullRv64.WithPd8(false));
        IommuDevice device = bed.Instance().AddDevice(0x30, pasidBits: 8);
        bed.Driver.AttachPasid(device, 3, bed.Driver.Identity);
        Assert.That(bed.Instance().ReadDeviceContext(device).FscAsPdtp.Mode, Is.EqualTo(PdtpMode.PD17), "no PD8: PD17");
        Assert.That(bed.Translate(0, 0x30, 3, Iova).PhysicalAddress, Is.EqualTo(Iova), "identity at a PASID");
    }

    [Test]
    public void ReplacingTheRidDomainOfADeviceWithAPdtRewritesPcZero()
    {
        using var bed = new DriverBed();
        IommuDevice device = bed.Instance().AddDevice(0x30, pasidBits: 8);
        PagingDomain a = bed.Driver.CreatePagingDomain(PagingModeKind.Sv39);
        PagingDomain b = bed.Driver.CreatePagingDomain(PagingModeKind.Sv39);
        a.Map(Iova, DriverBed.Data(1), 4096, DmaProtection.Read);
        b.Map(Iova, DriverBed.Data(2), 4096, DmaProtection.Read);
        bed.Driver.AttachPasid(device, 9, a);
        Assert.That(bed.Translate(0, 0x30, Iova).Cause, Is.EqualTo(FaultCause.PdtEntryNotValid), "RID blocked: PC 0 not valid");
        bed.Driver.Attach(device.Group, b);
        Assert.That(bed.Translate(0, 0x30, Iova).PhysicalAddress, Is.EqualTo(DriverBed.Data(2)), "RID on b");
        bed.Driver.Replace(device.Group, a);
        Assert.That(bed.Translate(0, 0x30, Iova).PhysicalAddress, Is.EqualTo(DriverBed.Data(1)), "RID on a, beside PASID 9 on a");
        Assert.That(bed.Instance().PscidsInUse, Is.EqualTo(1), "a has one PSCID on the instance, shared by RID and PASID");
        PagingDomain vm = bed.Driver.CreatePagingDomain(PagingModeKind.Sv39x4);
        Assert.Throws<NotSupportedException>(() => bed.Driver.Replace(device.Group, vm), "PC 0 cannot hold a G-stage");
        Assert.That(bed.Translate(0, 0x30, Iova).PhysicalAddress, Is.EqualTo(DriverBed.Data(1)), "unchanged");
    }

    [Test]
    public void GetDomainForDevicePasidReturnsTheDomainOnlyIfOfThatKind()
    {
        using var bed = new DriverBed();
        IommuDevice device = bed.Instance().AddDevice(0x30, pasidBits: 8);
        PagingDomain d = bed.Driver.CreatePagingDomain(PagingModeKind.Sv39);
        bed.Driver.AttachPasid(device, 4, d);
        Assert.That(bed.Driver.GetDomainForDevicePasid(device, 4, DomainKind.Paging), Is.SameAs(d), "paging at 4");
        Assert.That(bed.Driver.GetDomainForDevicePasid(device, 4, DomainKind.Sva), Is.Null, "not SVA");
        Assert.That(bed.Driver.GetDomainForDevicePasid(device, 5, DomainKind.Paging), Is.Null, "nothing at 5");
    }

    [Test]
    public void APasidBeyondTheDevicesWidthIsRefusedAndNothingChanges()
    {
        using var bed = new DriverBed();
        IommuDevice device = bed.Instance().AddDevice(0x30, pasidBits: 4);
        PagingDomain d = bed.Driver.CreatePagingDomain(PagingModeKind.Sv39);
        DeviceContext before = bed.Instance().ReadDeviceContext(device);
        long pages = bed.Allocator.PagesInUse;
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => bed.Driver.AttachPasid(device, 16, d), "4-bit width: 16 is beyond");
        Assert.That(ex!.Message, Does.Contain("beyond").And.Contain("4-bit"), "clear");
        Assert.Throws<ArgumentOutOfRangeException>(() => bed.Driver.AttachPasid(device, 0, d), "PASID 0 is the RID's");
        Assert.That((bed.Instance().ReadDeviceContext(device), bed.Allocator.PagesInUse, bed.Instance().PscidsInUse, d.AttachedCount),
            Is.EqualTo((before, pages, 0, 0)), "nothing changed: DC, pages, ids, users");
        Assert.Throws<NotSupportedException>(() => bed.Driver.AttachPasid(device, 1, bed.Driver.CreatePagingDomain(PagingModeKind.Sv39x4)), "no G-stage in a PC");
    }

    [Test]
    public void UnmapAndSyncReachAPasidOnlyUser()
    {
        using var bed = new DriverBed();
        IommuDevice device = bed.Instance().AddDevice(0x30, pasidBits: 8);
        PagingDomain d = bed.Driver.CreatePagingDomain(PagingModeKind.Sv39);
        d.Map(Iova, DriverBed.Data(1), 2 * 4096, DmaProtection.Read);
        bed.Driver.AttachPasid(device, 7, d);
        Assert.That(bed.Translate(0, 0x30, 7, Iova).Success, Is.True, "cached");
        Assert.That(bed.Translate(0, 0x30, 7, Iova).Success, Is.True, "cached twice");
        d.UnmapAndSync(Iova, 4096);
        Assert.That(bed.Translate(0, 0x30, 7, Iova).Cause, Is.EqualTo(FaultCause.ReadPageFault), "the PASID's bond was invalidated");
    }

    [Test]
    public void ALiveProcessContextIsUpdatedInTheSpecsOrder()
    {
        using var bed = new DriverBed();
        IommuDevice device = bed.Instance().AddDevice(0x30, pasidBits: 8);
        PagingDomain a = bed.Driver.CreatePagingDomain(PagingModeKind.Sv39);
        PagingDomain b = bed.Driver.CreatePagingDomain(PagingModeKind.Sv39);
        bed.Driver.AttachPasid(device, 6, a);
        // PD8: the PC of PASID 6 is at root + 6 × 16; watch its ta (V in bit 0).
        ulong pdt = bed.Instance().ReadDeviceContext(device).FscAsPdtp.RootAddress;
        uint pscidA = new ProcessContextTa(bed.Memory.Qword(pdt + (6 * 16))).Pscid;
        RecordingMmio rec = bed.Recorder();
        rec.Watch = pdt + (6 * 16);
        rec.Clear();
        bed.Driver.AttachPasid(device, 6, b);
        Assert.That(rec.Log.Select(e => (e.Command.Kind, e.Watched & 1)), Is.EqualTo(new[]
        {
            (CommandKind.IodirInvalPdt, 0UL), (CommandKind.IotinvalVma, 0UL), (CommandKind.IofenceC, 0UL),
            (CommandKind.IodirInvalPdt, 1UL), (CommandKind.IofenceC, 1UL),
            (CommandKind.IotinvalVma, 1UL), (CommandKind.IofenceC, 1UL),
        }), "clear V -> INVAL_PDT + IOTINVAL (old PSCID) -> fence -> fsc -> V -> INVAL_PDT -> fence; then a's bond flushed before its PSCID is freed");
        Assert.That(rec.Log[0].Command, Is.EqualTo(Command.IodirInvalPdt(0x30, 6)), "INVAL_PDT names device and PASID");
        Assert.That(rec.Log[1].Command, Is.EqualTo(Command.IotinvalVma(false, 0, true, pscidA, false, 0)), "spec 'Changing process directory table entry'");
    }

    [Test]
    public void AReusedPscidAtAPasidCarriesNothingOfItsLastDomain()
    {
        using var bed = new DriverBed(options: new IommuDriverOptions { PscidCount = 2 }); // PSCID 1 only
        IommuDevice device = bed.Instance().AddDevice(0x30, pasidBits: 8);
        PagingDomain a = bed.Driver.CreatePagingDomain(PagingModeKind.Sv39);
        PagingDomain b = bed.Driver.CreatePagingDomain(PagingModeKind.Sv39);
        a.Map(Iova, DriverBed.Data(1), 4096, DmaProtection.Read);
        b.Map(Iova, DriverBed.Data(2), 4096, DmaProtection.Read);
        bed.Driver.AttachPasid(device, 6, a);
        Assert.That(bed.Translate(0, 0x30, 6, Iova).PhysicalAddress, Is.EqualTo(DriverBed.Data(1)), "a, cached under PSCID 1");
        bed.Driver.DetachPasid(device, 6);
        bed.Driver.AttachPasid(device, 6, b);
        Assert.That(bed.Translate(0, 0x30, 6, Iova).PhysicalAddress, Is.EqualTo(DriverBed.Data(2)), "b under the same PSCID: nothing of a's");
    }
}
