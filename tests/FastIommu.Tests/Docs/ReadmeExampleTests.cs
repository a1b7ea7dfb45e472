using FastIommu.Formats.RiscV;
using FastIommu.Memory;
using FastIommu.PageTables;

namespace FastIommu.Tests.Docs;

/// <summary>The README's "Embedding in thirty lines" example, line for line: if this fails, fix the README too.</summary>
public class ReadmeExampleTests
{
    [Test]
    public void Readme_example_maps_translates_and_unmaps_as_it_says()
    {
        using var memory = PhysicalMemory.Allocate(64 << 20, basePa: 0x8000_0000);
        var allocator = new PageAllocator(memory);
        using (var table = new PageTable<Sv39>(allocator))
        {
            table.Map(iova: 0x1000_0000, pa: 0x8100_0000, size: 2 << 20,
                      PageProtection.Read | PageProtection.Write | PageProtection.User);
            ulong pa = table.IovaToPhys(0x1000_1234);
            Assert.That(pa, Is.EqualTo(0x8100_1234UL), "the README's comment says 0x8100_1234");

            // "The hardware side reads the same memory": a device whose DC names the table translates its DMA
            // (a request without process_id is user-mode, which is why the example maps with User).
            ulong ddt = allocator.AllocatePage();
            memory.GetRef<DeviceContext>(ddt + (5 * DeviceContext.Size)) = new DeviceContext(
                new DeviceContextTc(0).WithV(true), default, default, Iosatp.Create<Sv39>(table.RootAddress));
            var iommu = new FastIommu.Hardware.RiscVIommu(memory, Capabilities.FullRv64);
            iommu.Write64(RegisterOffsets.Ddtp, Ddtp.Create(DdtpMode.OneLevel, ddt).Value);
            var dma = new FastIommu.Hardware.TranslationRequest(5, 0x1000_1234, FastIommu.Hardware.AccessType.Write);
            var result = iommu.Translate(in dma);
            Assert.That(result.Success && result.PhysicalAddress == 0x8100_1234UL, Is.True, $"a device's DMA translates: {result}");
            allocator.FreePage(ddt);

            var gather = new InvalidationGather();
            ulong unmapped = table.Unmap(0x1000_0000, 2 << 20, gather);
            gather.Complete();
            Assert.Multiple(() =>
            {
                Assert.That(unmapped, Is.EqualTo(2UL << 20), "the whole 2 MiB leaf went");
                Assert.That(table.TryIovaToPhys(0x1000_1234, out _), Is.False, "and nothing translates any more");
            });
        }

        Assert.That(allocator.PagesInUse, Is.Zero, "Dispose returned every table page");
    }
}
