using FastIommu.Formats.RiscV;
using FastIommu.Hardware;
using FastIommu.Memory;
using FastIommu.PageTables;

namespace FastIommu.Tests.Hardware.Translation;

/// <summary>
/// Tables built by the page-table engine (<see cref="PageTable{TMode}"/>), translated by the hardware model,
/// must agree with the engine's own IovaToPhys over thousands of random addresses: single stage for every mode
/// and two stage (Sv48 over Sv48x4, Sv39 over Sv39x4, Sv57 over Sv57x4), the G-stage built by the engine too.
/// </summary>
public class TranslationDifferentialTests
{
    private const ulong MemoryBase = 0x8000_0000;
    private const ulong MemorySize = 48UL << 20;
    private const ulong DdtPage = MemoryBase;            // 1LVL DDT, device 1's DC at +0x20
    private static readonly ulong[] Sizes = [0x1000, 0x20_0000, 0x4000_0000];

    /// <summary>Maps random 4 KiB / 2 MiB / 1 GiB pages; returns the mapped (iova, size) list.</summary>
    private static List<(ulong Iova, ulong Size)> MapRandom<TMode>(PageTable<TMode> table, Random rng, int count, ulong paBase, PageProtection prot)
        where TMode : struct, IPagingMode
    {
        var mapped = new List<(ulong, ulong)>();
        int bits = TMode.AddressBits;
        for (int i = 0; i < count; i++)
        {
            ulong size = Sizes[rng.Next(i % 8 == 0 ? 3 : 2)];
            // Addresses in the low half of the space (and, for a first stage, sometimes the sign-extended high half).
            ulong iova = (ulong)rng.NextInt64(0, (long)(1UL << (bits - 2))) & ~(size - 1);
            if (!TMode.IsGStage && rng.Next(4) == 0)
            {
                iova |= ~((1UL << (bits - 1)) - 1);
            }

            ulong pa = (paBase + ((ulong)rng.NextInt64(0, 1L << 36) & ~(size - 1))) & ((1UL << 50) - 1) & ~(size - 1);
            if (table.TryMap(iova, pa, size, prot) == MapStatus.Success)
            {
                mapped.Add((iova, size));
            }
        }

        return mapped;
    }

    private static ulong PickAddress(List<(ulong Iova, ulong Size)> mapped, Random rng, int bits, bool gStage)
    {
        if (rng.Next(4) != 0)
        {
            var (iova, size) = mapped[rng.Next(mapped.Count)];
            return iova + ((ulong)rng.NextInt64(0, (long)size) & ~7UL);
        }

        ulong a = (ulong)rng.NextInt64() & ((1UL << bits) - 1);
        if (!gStage && (a >> (bits - 1)) != 0)
        {
            a |= ~((1UL << bits) - 1); // sign-extend
        }

        return a;
    }

    private static void WriteDc(PhysicalMemory memory, ulong iohgatp, ulong fsc)
    {
        memory.Qword(DdtPage + 0x20) = 0x1;            // tc: V
        memory.Qword(DdtPage + 0x28) = iohgatp;
        memory.Qword(DdtPage + 0x30) = 3UL << 12;       // PSCID 3
        memory.Qword(DdtPage + 0x38) = fsc;
    }

    private static IommuTranslator NewTranslator(PhysicalMemory memory, TranslatorCacheOptions options)
    {
        var translator = new IommuTranslator(memory, new Capabilities(TranslationBed.AllCaps), options);
        translator.Ddtp = new Ddtp(((DdtPage >> 12) << 10) | 2);
        return translator;
    }

    private static void SingleStage<TMode>(int seed) where TMode : struct, IPagingMode
    {
        using var memory = PhysicalMemory.Allocate(MemorySize, MemoryBase);
        var allocator = new PageAllocator(memory, MemoryBase + 0x1000, MemorySize - 0x1000);
        using var table = new PageTable<TMode>(allocator);
        var rng = new Random(seed);
        var mapped = MapRandom(table, rng, 300, 0x10_0000_0000, PageProtection.Read | PageProtection.Write | PageProtection.User);
        WriteDc(memory, 0, ((ulong)TMode.ModeEncoding << 60) | (table.RootAddress >> 12));

        var cached = NewTranslator(memory, TranslatorCacheOptions.Default);
        var uncached = NewTranslator(memory, TranslatorCacheOptions.Uncached);
        int hits = 0;
        for (int i = 0; i < 3000; i++)
        {
            ulong iova = PickAddress(mapped, rng, TMode.AddressBits, gStage: false);
            var request = new TranslationRequest(1, iova, rng.Next(2) == 0 ? AccessType.Read : AccessType.Write);
            bool expectMapped = table.TryIovaToPhys(iova, out ulong expected);
            foreach (var translator in new[] { uncached, cached, cached })
            {
                var r = translator.Translate(in request);
                if (expectMapped)
                {
                    Assert.That(r.Success && r.PhysicalAddress == expected, Is.True,
                        $"{TMode.Name} IOVA 0x{iova:x}: engine says 0x{expected:x}, model {r}");
                }
                else
                {
                    Assert.That(!r.Success && (ushort)r.Cause is 13 or 15, Is.True, $"{TMode.Name} IOVA 0x{iova:x} unmapped: model {r}");
                }
            }

            hits += expectMapped ? 1 : 0;
        }

        Assert.That(hits, Is.GreaterThan(1000), "most addresses fall in mapped pages");
    }

    [Test]
    public void Sv39_single_stage_agrees_with_the_engine() => SingleStage<Sv39>(39);

    [Test]
    public void Sv48_single_stage_agrees_with_the_engine() => SingleStage<Sv48>(48);

    [Test]
    public void Sv57_single_stage_agrees_with_the_engine() => SingleStage<Sv57>(57);

    private static void TwoStage<TFs, TGs>(int seed) where TFs : struct, IPagingMode where TGs : struct, IPagingMode
    {
        using var memory = PhysicalMemory.Allocate(MemorySize, MemoryBase);
        var allocator = new PageAllocator(memory, MemoryBase + 0x1000, MemorySize - 0x1000);
        using var gStage = new PageTable<TGs>(allocator);
        using var firstStage = new PageTable<TFs>(allocator);
        var rng = new Random(seed);

        // The G-stage maps the memory holding the first-stage tables at GPA = SPA (so the engine's PAs are valid
        // GPAs), then random guest RAM at GPA 0x10_0000_0000 + ... to random SPAs.
        gStage.Map(MemoryBase, MemoryBase, MemorySize, PageProtection.Read | PageProtection.Write);
        var guestRam = MapRandom(gStage, rng, 200, 0x20_0000_0000, PageProtection.Read | PageProtection.Write | PageProtection.Execute);
        // First-stage leaves point into guest RAM: sometimes into mapped GPAs, sometimes not (guest-page faults).
        var mapped = new List<(ulong, ulong)>();
        for (int i = 0; i < 300; i++)
        {
            ulong size = Sizes[rng.Next(2)];
            ulong gpa = rng.Next(5) != 0
                ? guestRam[rng.Next(guestRam.Count)].Iova & ~(size - 1)
                : 0x30_0000_0000 + ((ulong)rng.NextInt64(0, 1L << 30) & ~(size - 1));
            ulong iova = (ulong)rng.NextInt64(0, (long)(1UL << (TFs.AddressBits - 2))) & ~(size - 1);
            if (firstStage.TryMap(iova, gpa, size, PageProtection.Read | PageProtection.Write | PageProtection.User) == MapStatus.Success)
            {
                mapped.Add((iova, size));
            }
        }

        ulong iohgatp = ((ulong)TGs.ModeEncoding << 60) | (5UL << 44) | (gStage.RootAddress >> 12);
        WriteDc(memory, iohgatp, ((ulong)TFs.ModeEncoding << 60) | (firstStage.RootAddress >> 12));
        var cached = NewTranslator(memory, TranslatorCacheOptions.Default);
        var uncached = NewTranslator(memory, TranslatorCacheOptions.Uncached);
        int both = 0;
        for (int i = 0; i < 3000; i++)
        {
            ulong iova = PickAddress(mapped, rng, TFs.AddressBits, gStage: false);
            var request = new TranslationRequest(1, iova, AccessType.Read);
            bool fsMapped = firstStage.TryIovaToPhys(iova, out ulong gpa);
            ulong spa = 0;
            bool gsMapped = fsMapped && gStage.TryIovaToPhys(gpa, out spa);
            foreach (var translator in new[] { uncached, cached, cached })
            {
                var r = translator.Translate(in request);
                string where = $"{TFs.Name}/{TGs.Name} IOVA 0x{iova:x}";
                if (!fsMapped)
                {
                    Assert.That(!r.Success && r.Cause == FaultCause.ReadPageFault, Is.True, $"{where}: first stage unmapped, model {r}");
                }
                else if (!gsMapped)
                {
                    Assert.That(!r.Success && r.Cause == FaultCause.ReadGuestPageFault && r.Iotval2 == (gpa & ~3UL), Is.True,
                        $"{where}: GPA 0x{gpa:x} unmapped, model {r}");
                }
                else
                {
                    Assert.That(r.Success && r.PhysicalAddress == spa, Is.True, $"{where}: engine 0x{gpa:x} -> 0x{spa:x}, model {r}");
                }
            }

            both += gsMapped ? 1 : 0;
        }

        Assert.That(both, Is.GreaterThan(1000), "most addresses translate through both stages");
    }

    [Test]
    public void Sv48_over_Sv48x4_agrees_with_the_engine() => TwoStage<Sv48, Sv48x4>(4848);

    [Test]
    public void Sv39_over_Sv39x4_agrees_with_the_engine() => TwoStage<Sv39, Sv39x4>(3939);

    [Test]
    public void Sv57_over_Sv57x4_agrees_with_the_engine() => TwoStage<Sv57, Sv57x4>(5757);
}
