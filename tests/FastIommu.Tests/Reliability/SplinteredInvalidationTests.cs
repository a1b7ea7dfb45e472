using FastIommu.Formats.RiscV;
using FastIommu.Hardware;
using FastIommu.Memory;

namespace FastIommu.Tests.Reliability;

/// <summary>
/// A first-stage superpage over smaller G-stage pages is cached as several 4 KiB IOTLB entries (the translation's
/// size is the smaller stage's). IOTINVAL.VMA with AV = 1 "invalidates all address-translation cache entries that
/// contain first-stage leaf page table entries corresponding to the IOVA in ADDR": every such entry comes from the
/// same leaf, so every one of them must go, not only the one at ADDR.
/// </summary>
public class SplinteredInvalidationTests
{
    private const ulong Base = 0x8000_0000;
    private const ulong GRoot = Base + 0x4000;
    private const ulong GL1 = Base + 0x1000;
    private const ulong GL0 = Base + 0x2000;
    private const ulong FsRoot = Base + 0x8000;
    private const ulong FsL1 = Base + 0x9000;
    private const ulong Superpage = 0x20_0000;           // IOVA of the first stage's 2 MiB leaf -> GPA 0x8020_0000
    private const ulong Caps = 0x10 | (1UL << 9) | (1UL << 17) | (56UL << 32);

    private static (PhysicalMemory Memory, IommuTranslator Translator) Bed(ushort gscid, uint pscid)
    {
        var memory = PhysicalMemory.Allocate(0x10_0000, Base);
        memory.Qword(Base + 32) = 1;                                                   // device 1: tc V
        memory.Qword(Base + 32 + 8) = (8UL << 60) | ((ulong)gscid << 44) | (GRoot >> 12);
        memory.Qword(Base + 32 + 16) = (ulong)pscid << 12;                             // ta: PSCID
        memory.Qword(Base + 32 + 24) = (8UL << 60) | (FsRoot >> 12);                    // fsc: Sv39, root GPA = SPA
        // G-stage: GPA 0x8000_0000..0x801F_FFFF identity as one 2 MiB leaf (the tables); GPA 0x8020_0000 + i x 4K ->
        // SPA 0x9000_0000 + i x 4K as 4 KiB leaves.
        memory.Qword(GRoot + (2 * 8)) = ((GL1 >> 12) << 10) | 1;
        memory.Qword(GL1) = ((Base >> 12) << 10) | 0xDF;
        memory.Qword(GL1 + 8) = ((GL0 >> 12) << 10) | 1;
        for (ulong i = 0; i < 512; i++)
        {
            memory.Qword(GL0 + (i * 8)) = (((0x9000_0000UL >> 12) + i) << 10) | 0xDF;
        }

        // First stage: IOVA 0x20_0000 (2 MiB) -> GPA 0x8020_0000, V R W U A D.
        memory.Qword(FsRoot) = ((FsL1 >> 12) << 10) | 1;
        memory.Qword(FsL1 + 8) = ((0x8020_0000UL >> 12) << 10) | 0xD7;
        var translator = new IommuTranslator(memory, new Capabilities(Caps)) { Ddtp = new Ddtp(((Base >> 12) << 10) | 2) };
        return (memory, translator);
    }

    [TestCase(true, TestName = "IOTINVAL.VMA AV=1 PSCV=1 at one address drops every 4 KiB entry of the first-stage superpage")]
    [TestCase(false, TestName = "IOTINVAL.VMA AV=1 PSCV=0 at one address drops every 4 KiB entry of the first-stage superpage")]
    public void Address_invalidation_drops_every_splinter_of_the_leaf(bool pscv)
    {
        (PhysicalMemory memory, IommuTranslator translator) = Bed(gscid: 3, pscid: 9);
        using (memory)
        {
            TranslationResult first = translator.Translate(new TranslationRequest(1, Superpage + 0x10, AccessType.Read));
            TranslationResult other = translator.Translate(new TranslationRequest(1, Superpage + 0x5_0010, AccessType.Read));
            Assume.That(first.PhysicalAddress == 0x9000_0010 && other.PhysicalAddress == 0x9005_0010 && first.PageSize == 0x1000, Is.True,
                $"premise: two 4 KiB translations of one 2 MiB first-stage leaf: {first}, {other}");

            memory.Qword(FsL1 + 8) = 0;                                               // the driver unmaps the superpage
            translator.InvalidateVma(true, 3, pscv, 9, true, Superpage);             // ... and invalidates its address
            TranslationResult after = translator.Translate(new TranslationRequest(1, Superpage + 0x5_0010, AccessType.Read));
            Assert.That(after.Success, Is.False,
                $"IOVA 0x{Superpage + 0x5_0010:x} came from the invalidated leaf but still translates: {after}");
        }
    }
}

