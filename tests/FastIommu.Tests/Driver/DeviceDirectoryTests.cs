using FastIommu.Driver;
using FastIommu.Formats.RiscV;
using FastIommu.Hardware;
using FastIommu.Memory;

namespace FastIommu.Tests.Driver;

[TestFixture]
public class DeviceDirectoryTests
{
    private static readonly Capabilities Extended = Capabilities.FullRv64.WithMsiFlat(true);

    [TestCase(1, false, 0x7Fu)]
    [TestCase(2, false, 0xFFFFu)]
    [TestCase(3, false, 0xABCDEFu)]
    [TestCase(1, true, 0x3Fu)]
    [TestCase(2, true, 0x7FFFu)]
    [TestCase(3, true, 0xFEDCBAu)]
    public void ContextsSitWhereTheSpecsIndexSplitPutsThem(int levels, bool extended, uint deviceId)
    {
        using var bed = new DriverBed(capabilities: extended ? Extended : Capabilities.FullRv64,
            options: new IommuDriverOptions { MaxDdtLevels = levels });
        IommuInstance iommu = bed.Instance();
        Assert.That(iommu.ExtendedDeviceContexts, Is.EqualTo(extended), "DC format from capabilities.MSI_FLAT");
        IommuDevice device = iommu.AddDevice(deviceId);

        // Walk the DDT by hand, with the digest's DDI split.
        int[] bits = extended ? [6, 9, 9] : [7, 9, 8];
        int dcSize = extended ? 64 : 32;
        ulong table = iommu.DdtRoot;
        int shift = bits[0] + (levels > 2 ? bits[1] : 0);
        for (int level = levels - 1; level > 0; level--)
        {
            uint ddi = (deviceId >> (level == 2 ? bits[0] + bits[1] : bits[0])) & ((1u << bits[level]) - 1);
            ulong entry = bed.Memory.Qword(table + (ddi * 8UL));
            Assert.That(entry & 1, Is.EqualTo(1UL), $"non-leaf entry of level {level} is valid");
            Assert.That(entry & ~0x003F_FFFF_FFFF_FC01UL, Is.Zero, "only V and PPN set");
            table = ((entry >> 10) & ((1UL << 44) - 1)) << 12;
        }

        _ = shift;
        ulong expected = table + ((deviceId & ((1u << bits[0]) - 1)) * (ulong)dcSize);
        Assert.That(device.ContextAddress, Is.EqualTo(expected), "the leaf the hardware will index");
        Assert.That(iommu.DdtPages, Is.EqualTo(levels), "root plus one page per lower level");

        bed.Driver.Attach(device.Group, bed.Driver.Identity);
        TranslationResult r = bed.Translate(0, deviceId, 0x1234_5000);
        Assert.That((r.Success, r.PhysicalAddress), Is.EqualTo((true, 0x1234_5000UL)), "the hardware finds the context: identity");
    }

    [Test]
    public void ADeviceIdWiderThanTheDdtIsRefused()
    {
        using var bed = new DriverBed(options: new IommuDriverOptions { MaxDdtLevels = 1 });
        Assert.Throws<ArgumentOutOfRangeException>(() => bed.Instance().AddDevice(0x80), "1LVL with 32-byte DCs indexes 7 bits");
        Assert.That(bed.Instance().Devices, Is.Empty, "nothing added");
    }

    [Test]
    public void RunningOutOfPagesForDdtLevelsChangesNothing()
    {
        using var bed = new DriverBed(windowSize: 6 * 4096); // cq, fq, fence, root, blocked... 2 pages left
        IommuInstance iommu = bed.Instance();
        while (bed.Allocator.TryAllocatePage(out _) && bed.Allocator.PagesFree > 1)
        {
        }

        Assert.That(bed.Allocator.PagesFree, Is.EqualTo(1), "one page left; 3LVL needs two for a new device");
        Assert.Throws<OutOfPhysicalMemoryException>(() => iommu.AddDevice(0x123456), "not enough pages");
        Assert.That(bed.Allocator.PagesFree, Is.EqualTo(1), "the page taken was given back");
        Assert.That(bed.Memory.GetSpan(iommu.DdtRoot, 4096).IndexOfAnyExcept((byte)0), Is.EqualTo(-1), "root untouched");
        Assert.That(iommu.Devices, Is.Empty, "no device");
    }

    [Test]
    public void ALiveContextIsUpdatedInTheSpecsOrder()
    {
        using var bed = new DriverBed();
        IommuDriver driver = bed.Driver;
        IommuDevice device = bed.Instance().AddDevice(0x42);
        PagingDomain a = driver.CreatePagingDomain(PagingModeKind.Sv39);
        PagingDomain b = driver.CreatePagingDomain(PagingModeKind.Sv48);
        RecordingMmio rec = bed.Recorder();
        rec.Watch = device.ContextAddress; // tc

        rec.Clear();
        driver.Attach(device.Group, a);
        // A context that was not valid: fields, V last, then INVAL_DDT + fence (Linux).
        Assert.That(rec.Log.Select(e => (e.Command.Kind, e.Watched & 1)), Is.EqualTo(new[]
        {
            (CommandKind.IodirInvalDdt, 1UL), (CommandKind.IofenceC, 1UL),
        }), "first attach: V already set when the INVAL_DDT is fetched");
        uint pscidA = bed.Instance().ReadDeviceContext(device).Ta.Pscid;

        rec.Clear();
        driver.Replace(device.Group, b);
        Assert.That(rec.Log.Select(e => (e.Command.Kind, e.Watched & 1)), Is.EqualTo(new[]
        {
            (CommandKind.IodirInvalDdt, 0UL), (CommandKind.IotinvalVma, 0UL), (CommandKind.IofenceC, 0UL),
            (CommandKind.IodirInvalDdt, 1UL), (CommandKind.IofenceC, 1UL),
            (CommandKind.IotinvalVma, 1UL), (CommandKind.IofenceC, 1UL),
        }), "clear V -> INVAL_DDT (+ old PSCID flush) -> fence -> fields -> V -> INVAL_DDT -> fence; then the old bond's PSCID flushed before it is freed");
        Assert.That(rec.Log[0].Command, Is.EqualTo(Command.IodirInvalDdt(true, 0x42)), "INVAL_DDT names the device");
        Assert.That(rec.Log[1].Command, Is.EqualTo(Command.IotinvalVma(false, 0, true, pscidA, false, 0)),
            "spec 'Changing device directory table entry': the old context's PSCID");

        DeviceContext dc = bed.Instance().ReadDeviceContext(device);
        Assert.That(dc.FscAsIosatp, Is.EqualTo(Iosatp.Default.WithMode(Iosatp.ModeSv48).WithPpn(b.RootAddress >> 12)), "new iosatp");
        Assert.That(dc.Tc.Value, Is.EqualTo(DeviceContextTc.V), "tc: V only");
        driver.Detach(device.Group);
        a.Dispose();
        b.Dispose();
    }

    [Test]
    public void DirectoryPagesAreFreedOnlyAfterTheirInvalidation()
    {
        using var bed = new DriverBed();
        IommuInstance iommu = bed.Instance();
        iommu.AddDevice(0x10);
        RecordingMmio rec = bed.Recorder();
        rec.Watch = iommu.DdtRoot; // the root's entry 0 points at the level-1 page while the page is held
        ulong rootEntry = bed.Memory.Qword(iommu.DdtRoot);
        rec.Clear();
        long inUse = bed.Allocator.PagesInUse;
        long atInvalidation = -1;
        rec.Drop = c =>
        {
            if (c.Kind == CommandKind.IodirInvalDdt && !c.Dv)
            {
                atInvalidation = bed.Allocator.PagesInUse;
            }

            return false;
        };
        iommu.Dispose();
        Assert.That(rec.Commands.Select(c => c.Kind).ToArray(), Does.Contain(CommandKind.IodirInvalDdt), "an INVAL_DDT at shutdown");
        Assert.That(atInvalidation, Is.EqualTo(inUse), "every DDT page still held when the invalidation went out");
        Assert.That(rec.Log.First(e => e.Command.Kind == CommandKind.IodirInvalDdt).Watched, Is.EqualTo(rootEntry), "and still linked");
        Assert.That(bed.Allocator.PagesInUse, Is.Zero, "freed afterwards");
    }
}
