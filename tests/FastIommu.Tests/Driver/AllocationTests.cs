using FastIommu.Driver;
using FastIommu.Formats.RiscV;
using FastIommu.Hardware;
using FastIommu.Memory;

namespace FastIommu.Tests.Driver;

[TestFixture]
public class AllocationTests
{
    [TestCase(1)]
    [TestCase(10)]
    public void MapUnmapSyncAllocateNothing(int devices)
    {
        using var memory = PhysicalMemory.Allocate(32UL << 20, 0x8000_0000);
        using var driver = new IommuDriver(new PageAllocator(memory, 0x8100_0000, 16UL << 20));
        IommuInstance iommu = driver.AddInstance(new InProcessMmio(new RiscVIommu(memory, Capabilities.FullRv64)));
        DeviceGroup group = driver.CreateGroup();
        for (int i = 0; i < devices; i++)
        {
            iommu.AddDevice((uint)(0x100 + i), group);
        }

        PagingDomain domain = driver.CreatePagingDomain(PagingModeKind.Sv39);
        driver.Attach(group, domain);
        domain.Map(0x4000_1000, 0x8010_1000, 4096, DmaProtection.Read); // keeps the table alive
        void Round()
        {
            domain.Map(0x4000_0000, 0x8010_0000, 4096, DmaProtection.ReadWrite);
            domain.UnmapAndSync(0x4000_0000, 4096);
            domain.Map(0x4020_0000, 0x8010_0000, 4096, DmaProtection.ReadWrite); // a fresh table: freed at the unmap
            domain.UnmapAndSync(0x4020_0000, 4096);
        }

        for (int i = 0; i < 8; i++)
        {
            Round();
        }

        long before = GC.GetAllocatedBytesForCurrentThread();
        long commands = iommu.Counters.TotalCommands;
        for (int i = 0; i < 100; i++)
        {
            Round();
        }

        Assert.That(GC.GetAllocatedBytesForCurrentThread() - before, Is.Zero, "map, unmap and sync (page-addressed and PSCID-wide) allocate nothing");
        Assert.That(iommu.Counters.TotalCommands - commands, Is.EqualTo(100 * 4), "two commands per sync whatever the device count");
    }
}
