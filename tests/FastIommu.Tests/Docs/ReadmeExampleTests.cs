using FastIommu.Formats.RiscV;
using FastIommu.Hardware;
using FastIommu.Memory;
using FastIommu.PageTables;

namespace FastIommu.Tests.Docs;

/// <summary>The README's "Embedding in thirty lines" example, line for line: if this fails, fix the README too.</summary>
public class ReadmeExampleTests
{
    [Test]
    public void Readme_example_maps_translates_through_the_device_and_unmaps_as_it_says()
    {
        using var memory = PhysicalMemory.Allocate(64 << 20, basePa: 0x8000_0000);
        var allocator = new PageAllocator(memory);
        using (var table = new PageTable<Sv39>(allocator))
        {
            table.Map(iova: 0x1000_0000, pa: 0x8100_0000, size: 2 << 20, PageProtection.Read | PageProtection.Write | PageProtection.User);
            ulong pa = table.IovaToPhys(0x1000_1234);
            Assert.That(pa, Is.EqualTo(0x8100_1234UL), "the README's comment says 0x8100_1234");

            var iommu = new RiscVIommu(memory, Capabilities.FullRv64);
            ulong ddt = allocator.AllocatePage();
            memory.GetRef<DeviceContext>(ddt + 1 * DeviceContext.Size) = new DeviceContext(DeviceContextTc.Default.WithV(true),
                default, DeviceContextTa.Default.WithPscid(5), Iosatp.Create<Sv39>(table.RootAddress));
            iommu.Write64(RegisterOffsets.Ddtp, Ddtp.Create(DdtpMode.OneLevel, ddt).Value);
            var dma = new TranslationRequest(deviceId: 1, iova: 0x1000_1234, AccessType.Write);
            TranslationResult result = iommu.Translate(in dma);
            Assert.That((result.Success, result.PhysicalAddress), Is.EqualTo((true, 0x8100_1234UL)),
                $"the device translates the DMA as the README's comment says (cause {result.Cause})");

            var gather = new InvalidationGather();
            ulong unmapped = table.Unmap(0x1000_0000, 2 << 20, gather);
            gather.Complete();
            Assert.Multiple(() =>
            {
                Assert.That(unmapped, Is.EqualTo(2UL << 20), "the whole 2 MiB leaf went");
                Assert.That(table.TryIovaToPhys(0x1000_1234, out _), Is.False, "and nothing translates any more");
            });
            allocator.FreePage(ddt);
        }

        Assert.That(allocator.PagesInUse, Is.Zero, "Dispose returned every table page");
    }
}
