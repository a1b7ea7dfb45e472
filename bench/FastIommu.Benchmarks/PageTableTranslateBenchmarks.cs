using BenchmarkDotNet.Attributes;
using static FastIommu.Benchmarks.PageTableFixture;

namespace FastIommu.Benchmarks;

/// <summary>
/// iova_to_phys over 4 MiB and 1 GiB of 4 KiB mappings, sequential (every page in order) and random (a precomputed
/// index array, the same one handed to C). Per translation; the result is summed so nothing is optimised away.
/// The <c>_CPlainWalk</c> rows are extra: C with the plain walk a C driver's iova_to_phys does (no side words, no path
/// validation), which is not the C# engine's semantics; they price what the validated walk costs.
/// </summary>
public class PageTableTranslateBenchmarks
{
    private const int SmallPages = (int)((4UL << 20) / Kib4);  // 1024
    private const int LargePages = (int)(Gib1 / Kib4);        // 262144
    private const int SmallPasses = 16;                       // sequential 4 MiB: 16 passes per invocation
    private const int RandomCount = 65536;                    // random: translations per invocation

    private static readonly ulong IovaSmall = Region(8);
    private static readonly ulong IovaLarge = Region(9);

    private PageTableFixture _f = null!;
    private uint[] _randomSmall = null!;
    private uint[] _randomLarge = null!;

    [GlobalSetup]
    public void Setup()
    {
        _f = new PageTableFixture();
        // 4 KiB mappings made one call per page (a 2 MiB aligned range in one call would become 2 MiB leaves).
        for (ulong offset = 0; offset < (ulong)SmallPages * Kib4; offset += Kib4)
        {
            _f.MapBoth(IovaSmall + offset, TargetPa + offset, Kib4);
        }

        for (ulong offset = 0; offset < Gib1; offset += Kib4)
        {
            _f.MapBoth(IovaLarge + offset, TargetPa + offset, Kib4);
        }

        _randomSmall = RandomIndices.Create(RandomCount, SmallPages, seed: 0x5EED_0001);
        _randomLarge = RandomIndices.Create(RandomCount, LargePages, seed: 0x5EED_0002);

        _f.CheckSameTranslations(IovaLarge, Gib1, 4099 * Kib4);
        Same(Sequential4M_CSharp(), Sequential4M_C(), "sequential 4M");
        Same(Random4M_CSharp(), Random4M_C(), "random 4M");
        Same(Sequential1G_CSharp(), Sequential1G_C(), "sequential 1G");
        Same(Random1G_CSharp(), Random1G_C(), "random 1G");
        Same(Sequential4M_CPlainWalk(), Sequential4M_C(), "plain sequential 4M");
        Same(Random4M_CPlainWalk(), Random4M_C(), "plain random 4M");
        Same(Sequential1G_CPlainWalk(), Sequential1G_C(), "plain sequential 1G");
        Same(Random1G_CPlainWalk(), Random1G_C(), "plain random 1G");
    }

    private static void Same(ulong csharp, ulong c, string what)
    {
        if (csharp != c)
        {
            throw new InvalidOperationException($"{what}: C# checksum 0x{csharp:x}, C 0x{c:x}.");
        }
    }

    [GlobalCleanup]
    public void Cleanup() => _f.Dispose();

    private ulong SequentialCSharp(ulong iova, int pages, int passes)
    {
        var table = _f.Table;
        ulong sum = 0;
        for (int pass = 0; pass < passes; pass++)
        {
            for (int i = 0; i < pages; i++)
            {
                if (!table.TryIovaToPhys(iova + ((ulong)i << 12), out ulong pa))
                {
                    throw new InvalidOperationException($"IOVA 0x{iova + ((ulong)i << 12):x} is not mapped.");
                }

                sum += pa;
            }
        }

        return sum;
    }

    private ulong IndexedCSharp(ulong iova, uint[] indices)
    {
        var table = _f.Table;
        ulong sum = 0;
        foreach (uint index in indices)
        {
            if (!table.TryIovaToPhys(iova + ((ulong)index << 12), out ulong pa))
            {
                throw new InvalidOperationException($"IOVA 0x{iova + ((ulong)index << 12):x} is not mapped.");
            }

            sum += pa;
        }

        return sum;
    }

    [Benchmark(OperationsPerInvoke = SmallPages * SmallPasses), BenchmarkCategory("Translate seq 4M")]
    public ulong Sequential4M_CSharp() => SequentialCSharp(IovaSmall, SmallPages, SmallPasses);

    [Benchmark(Baseline = true, OperationsPerInvoke = SmallPages * SmallPasses), BenchmarkCategory("Translate seq 4M")]
    public ulong Sequential4M_C() =>
        Check(CBaseline.BenchTranslateSequential(_f.C, IovaSmall, SmallPages, SmallPasses), "sequential 4M");

    [Benchmark(OperationsPerInvoke = SmallPages * SmallPasses), BenchmarkCategory("Translate seq 4M")]
    public ulong Sequential4M_CPlainWalk() => Check(CBaseline.BenchTranslatePlain(_f.C, IovaSmall, null, SmallPages, SmallPasses), "plain Sequential4M");

    [Benchmark(OperationsPerInvoke = RandomCount), BenchmarkCategory("Translate random 4M")]
    public ulong Random4M_CSharp() => IndexedCSharp(IovaSmall, _randomSmall);

    [Benchmark(Baseline = true, OperationsPerInvoke = RandomCount), BenchmarkCategory("Translate random 4M")]
    public ulong Random4M_C() =>
        Check(CBaseline.BenchTranslateIndexed(_f.C, IovaSmall, _randomSmall, RandomCount, 1), "random 4M");

    [Benchmark(OperationsPerInvoke = RandomCount), BenchmarkCategory("Translate random 4M")]
    public ulong Random4M_CPlainWalk() => Check(CBaseline.BenchTranslatePlain(_f.C, IovaSmall, _randomSmall, RandomCount, 1), "plain Random4M");

    [Benchmark(OperationsPerInvoke = LargePages), BenchmarkCategory("Translate seq 1G")]
    public ulong Sequential1G_CSharp() => SequentialCSharp(IovaLarge, LargePages, 1);

    [Benchmark(Baseline = true, OperationsPerInvoke = LargePages), BenchmarkCategory("Translate seq 1G")]
    public ulong Sequential1G_C() =>
        Check(CBaseline.BenchTranslateSequential(_f.C, IovaLarge, LargePages, 1), "sequential 1G");

    [Benchmark(OperationsPerInvoke = LargePages), BenchmarkCategory("Translate seq 1G")]
    public ulong Sequential1G_CPlainWalk() => Check(CBaseline.BenchTranslatePlain(_f.C, IovaLarge, null, LargePages, 1), "plain Sequential1G");

    [Benchmark(OperationsPerInvoke = RandomCount), BenchmarkCategory("Translate random 1G")]
    public ulong Random1G_CSharp() => IndexedCSharp(IovaLarge, _randomLarge);

    [Benchmark(Baseline = true, OperationsPerInvoke = RandomCount), BenchmarkCategory("Translate random 1G")]
    public ulong Random1G_C() =>
        Check(CBaseline.BenchTranslateIndexed(_f.C, IovaLarge, _randomLarge, RandomCount, 1), "random 1G");

    [Benchmark(OperationsPerInvoke = RandomCount), BenchmarkCategory("Translate random 1G")]
    public ulong Random1G_CPlainWalk() => Check(CBaseline.BenchTranslatePlain(_f.C, IovaLarge, _randomLarge, RandomCount, 1), "plain Random1G");
}
