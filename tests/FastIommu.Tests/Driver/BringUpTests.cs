using FastIommu.Driver;
using FastIommu.Formats.RiscV;
using FastIommu.Hardware;
using FastIommu.Memory;

namespace FastIommu.Tests.Driver;

[TestFixture]
public class BringUpTests
{
    [Test]
    public void BringUpProgramsTheQueuesThenDdtpWithPagesFromTheWindow()
    {
        using var bed = new DriverBed();
        IommuInstance iommu = bed.Instance();
        RiscVIommu hw = bed.Hardware();

        Assert.That(iommu.Capabilities, Is.EqualTo(Capabilities.FullRv64), "capabilities read through MMIO");
        Assert.That(iommu.DdtMode, Is.EqualTo(DdtpMode.ThreeLevel), "the deepest mode the device retains");
        var ddtp = new Ddtp(hw.Read64(RegisterOffsets.Ddtp));
        Assert.That(ddtp, Is.EqualTo(Ddtp.Create(DdtpMode.ThreeLevel, iommu.DdtRoot)), "ddtp points at the driver's root");
        var cqb = new QueueBase(hw.Read64(RegisterOffsets.Cqb));
        Assert.That((cqb.BaseAddress, cqb.Log2Size), Is.EqualTo((iommu.CommandQueueBase, 8)), "cqb: ring and LOG2SZ-1");
        var fqb = new QueueBase(hw.Read64(RegisterOffsets.Fqb));
        Assert.That((fqb.BaseAddress, fqb.Log2Size), Is.EqualTo((iommu.FaultQueueBase, 7)), "fqb: ring and LOG2SZ-1");
        Assert.That(new CqCsr(hw.Read32(RegisterOffsets.Cqcsr)).Cqon, Is.True, "cqon");
        Assert.That(new FqCsr(hw.Read32(RegisterOffsets.Fqcsr)).Fqon, Is.True, "fqon");
        foreach (ulong pa in new[] { iommu.CommandQueueBase, iommu.FaultQueueBase, iommu.DdtRoot })
        {
            Assert.That(pa, Is.InRange(DriverBed.WindowBase, DriverBed.WindowBase + DriverBed.WindowSize - 1), "pages come from the caller's window");
            Assert.That(bed.Allocator.IsAllocated(pa), Is.True, "and are held by the driver");
        }
    }

    [Test]
    public void ShutdownTurnsEverythingOffAndReturnsEveryPage()
    {
        using var bed = new DriverBed();
        IommuInstance iommu = bed.Instance();
        Assert.That(bed.Allocator.PagesInUse, Is.GreaterThan(0), "bring-up took pages");
        iommu.Dispose();
        RiscVIommu hw = bed.Hardware();
        Assert.That(new Ddtp(hw.Read64(RegisterOffsets.Ddtp)).Mode, Is.EqualTo(DdtpMode.Off), "ddtp Off");
        Assert.That(new CqCsr(hw.Read32(RegisterOffsets.Cqcsr)).Cqon, Is.False, "command queue off");
        Assert.That(new FqCsr(hw.Read32(RegisterOffsets.Fqcsr)).Fqon, Is.False, "fault queue off");
        Assert.That(bed.Allocator.PagesInUse, Is.Zero, "rings, fence page and DDT returned");
        Assert.That(bed.Driver.Instances, Is.Empty, "the driver forgot it");
        Assert.Throws<ObjectDisposedException>(() => iommu.Sync(), "a shut-down instance refuses work");
        Assert.DoesNotThrow(iommu.Dispose, "Dispose is idempotent");
    }

    [TestCase(1, DdtpMode.OneLevel)]
    [TestCase(2, DdtpMode.TwoLevel)]
    [TestCase(3, DdtpMode.ThreeLevel)]
    public void MaxDdtLevelsPicksTheMode(int levels, DdtpMode mode)
    {
        using var bed = new DriverBed(options: new IommuDriverOptions { MaxDdtLevels = levels });
        Assert.That(bed.Instance().DdtMode, Is.EqualTo(mode), "asked depth");
        Assert.That(new Ddtp(bed.Hardware().Read64(RegisterOffsets.Ddtp)).Mode, Is.EqualTo(mode), "as programmed");
    }

    [Test]
    public void ADeviceWithoutThreeLevelsGetsTheDeepestItRetains()
    {
        using var bed = new DriverBed(deviceOptions: new IommuOptions { DdtModes = SupportedDdtModes.OneLevel | SupportedDdtModes.TwoLevel });
        Assert.That(bed.Instance().DdtMode, Is.EqualTo(DdtpMode.TwoLevel), "3LVL was not retained, 2LVL was");
    }

    [Test]
    public void OutOfPagesAtBringUpChangesNothing()
    {
        using var memory = PhysicalMemory.Allocate(1 << 20, 0x8000_0000);
        var allocator = new PageAllocator(memory, 0x8000_0000, 3 * 4096); // rings + fence, no DDT root
        using var driver = new IommuDriver(allocator);
        var hw = new RiscVIommu(memory, Capabilities.FullRv64);
        Assert.Throws<OutOfPhysicalMemoryException>(() => driver.AddInstance(new InProcessMmio(hw)), "no page for the DDT root");
        Assert.That(allocator.PagesInUse, Is.Zero, "the pages taken were given back");
        Assert.That(new CqCsr(hw.Read32(RegisterOffsets.Cqcsr)).Cqon, Is.False, "no queue left on");
        Assert.That(driver.Instances, Is.Empty, "no instance");
    }

    [Test]
    public void IdSpacesArePerInstance()
    {
        using var bed = new DriverBed(instances: 2);
        Assert.That(bed.Instance(0).Pscids.TryAllocate(out uint a), Is.True, "instance 0 PSCID");
        Assert.That(bed.Instance(1).Pscids.TryAllocate(out uint b), Is.True, "instance 1 PSCID");
        Assert.That((a, b), Is.EqualTo((1u, 1u)), "each instance has its own space (0 stays unused, as in Linux)");
        Assert.That(bed.Instance(0).Pscids.Capacity, Is.EqualTo((1 << 20) - 1), "20-bit PSCIDs");
        Assert.That(bed.Instance(0).Gscids.Capacity, Is.EqualTo((1 << 16) - 1), "16-bit GSCIDs");
    }
}
