using BenchmarkDotNet.Attributes;
using static FastIommu.Benchmarks.PageTableFixture;

namespace FastIommu.Benchmarks;

/// <summary>
/// Map + unmap (+ gather complete) in a live domain, C# engine against its C twin (the baseline of each category).
/// Each region holds a neighbour mapping next to the IOVA under test, so the tables on the path stay linked
/// and no iteration allocates or frees a table: only the leaf work and the walk are timed.
/// </summary>
public class PageTableMapUnmapBenchmarks
{
    private const int Repeats = 256;   // map+unmap pairs per invocation of the single-page cases
    private const int BatchRepeats = 16;

    private PageTableFixture _f = null!;

    private static readonly ulong Iova4K = Region(0);
    private static readonly ulong Iova2M = Region(1);
    private static readonly ulong Iova1G = Region(2);
    private static readonly ulong IovaBatch4K = Region(3);
    private static readonly ulong IovaBatch2M = Region(4);
    private static readonly ulong IovaPopulate = Region(5);
    private const ulong Batch4K = 256 * Kib4; // 1 MiB at a 2 MiB aligned IOVA and PA: 256 leaves of 4 KiB
    private const ulong Batch2M = 256 * Mib2; // 512 MiB at a 1 GiB aligned IOVA and PA: 256 leaves of 2 MiB

    [GlobalSetup]
    public void Setup()
    {
        _f = new PageTableFixture();
        // Neighbours: a 4 KiB page right after each range under test, in the same lowest table that range uses
        // (4K: same leaf table; 2M: next 2 MiB slot of the same level-1 table; 1G: next 1 GiB slot of the level-2 table).
        _f.MapBoth(Iova4K + Kib4, TargetPa, Kib4);
        _f.MapBoth(Iova2M + Mib2, TargetPa, Kib4);
        _f.MapBoth(Iova1G + Gib1, TargetPa, Kib4);
        _f.MapBoth(IovaBatch4K + Batch4K, TargetPa, Kib4);
        _f.MapBoth(IovaBatch2M + Batch2M, TargetPa, Kib4);
        _f.MapBoth(IovaPopulate + 2 * Gib1, TargetPa, Kib4);

        // Both engines do the same work: same bytes unmapped, same translations afterwards.
        Same(MapUnmap4K_CSharp(), MapUnmap4K_C(), "4K");
        Same(MapUnmap2M_CSharp(), MapUnmap2M_C(), "2M");
        Same(MapUnmap1G_CSharp(), MapUnmap1G_C(), "1G");
        Same(Batch256x4K_CSharp(), Batch256x4K_C(), "256x4K");
        Same(Batch256x2M_CSharp(), Batch256x2M_C(), "256x2M");
        _f.CheckSameTranslations(Iova4K, 2 * Kib4, Kib4);
        _f.CheckSameTranslations(Iova2M, Mib2 + Kib4, Kib4);
        Same(Populate1G_CSharp(), Populate1G_C(), "populate 1G");
        // Same semantics means the same tables too; a difference is reported (in the log) rather than fatal, so one
        // engine's table-freeing bug does not hide every figure.
        if (_f.Allocator.PagesInUse != CBaseline.PagesInUse(_f.C))
        {
            Console.WriteLine(
                $"// WARNING: engines hold different table counts after setup: C# {_f.Allocator.PagesInUse} pages, C {CBaseline.PagesInUse(_f.C)}.");
        }
    }

    private static void Same(ulong csharp, ulong c, string what)
    {
        if (csharp != c)
        {
            throw new InvalidOperationException($"{what}: C# unmapped {csharp} bytes, C {c}.");
        }
    }

    [GlobalCleanup]
    public void Cleanup() => _f.Dispose();

    private ulong MapUnmapCSharp(ulong iova, ulong pa, ulong size, int repeats)
    {
        var table = _f.Table;
        var gather = _f.Gather;
        ulong sum = 0;
        for (int i = 0; i < repeats; i++)
        {
            table.Map(iova, pa, size, ReadWrite);
            sum += table.Unmap(iova, size, gather);
            gather.Complete();
        }

        return sum;
    }

    private ulong MapUnmapC(ulong iova, ulong pa, ulong size, int repeats) =>
        Check(CBaseline.BenchMapUnmap(_f.C, iova, pa, size, CReadWrite, (ulong)repeats), "map+unmap");

    [Benchmark(OperationsPerInvoke = Repeats), BenchmarkCategory("MapUnmap 1x4K")]
    public ulong MapUnmap4K_CSharp() => MapUnmapCSharp(Iova4K, TargetPa, Kib4, Repeats);

    [Benchmark(Baseline = true, OperationsPerInvoke = Repeats), BenchmarkCategory("MapUnmap 1x4K")]
    public ulong MapUnmap4K_C() => MapUnmapC(Iova4K, TargetPa, Kib4, Repeats);

    [Benchmark(OperationsPerInvoke = Repeats), BenchmarkCategory("MapUnmap 1x2M")]
    public ulong MapUnmap2M_CSharp() => MapUnmapCSharp(Iova2M, TargetPa, Mib2, Repeats);

    [Benchmark(Baseline = true, OperationsPerInvoke = Repeats), BenchmarkCategory("MapUnmap 1x2M")]
    public ulong MapUnmap2M_C() => MapUnmapC(Iova2M, TargetPa, Mib2, Repeats);

    [Benchmark(OperationsPerInvoke = Repeats), BenchmarkCategory("MapUnmap 1x1G")]
    public ulong MapUnmap1G_CSharp() => MapUnmapCSharp(Iova1G, TargetPa, Gib1, Repeats);

    [Benchmark(Baseline = true, OperationsPerInvoke = Repeats), BenchmarkCategory("MapUnmap 1x1G")]
    public ulong MapUnmap1G_C() => MapUnmapC(Iova1G, TargetPa, Gib1, Repeats);

    /// <summary>One Map call of 256 × 4 KiB, one Unmap call of it, complete: per call pair.</summary>
    [Benchmark(OperationsPerInvoke = BatchRepeats), BenchmarkCategory("MapUnmap 256x4K (1 call)")]
    public ulong Batch256x4K_CSharp() => MapUnmapCSharp(IovaBatch4K, TargetPa, Batch4K, BatchRepeats);

    [Benchmark(Baseline = true, OperationsPerInvoke = BatchRepeats), BenchmarkCategory("MapUnmap 256x4K (1 call)")]
    public ulong Batch256x4K_C() => MapUnmapC(IovaBatch4K, TargetPa, Batch4K, BatchRepeats);

    /// <summary>One Map call of 256 × 2 MiB, one Unmap call of it, complete: per call pair.</summary>
    [Benchmark(OperationsPerInvoke = BatchRepeats), BenchmarkCategory("MapUnmap 256x2M (1 call)")]
    public ulong Batch256x2M_CSharp() => MapUnmapCSharp(IovaBatch2M, TargetPa, Batch2M, BatchRepeats);

    [Benchmark(Baseline = true, OperationsPerInvoke = BatchRepeats), BenchmarkCategory("MapUnmap 256x2M (1 call)")]
    public ulong Batch256x2M_C() => MapUnmapC(IovaBatch2M, TargetPa, Batch2M, BatchRepeats);

    private const int PagesPerGib = (int)(Gib1 / Kib4);

    /// <summary>262144 Map calls of 4 KiB filling 1 GiB, then one Unmap of the GiB (its 513 tables collected) and
    /// complete: per 4 KiB page.</summary>
    [Benchmark(OperationsPerInvoke = PagesPerGib), BenchmarkCategory("Populate+teardown 1G of 4K")]
    public ulong Populate1G_CSharp()
    {
        var table = _f.Table;
        var gather = _f.Gather;
        for (ulong offset = 0; offset < Gib1; offset += Kib4)
        {
            table.Map(IovaPopulate + offset, TargetPa + offset, Kib4, ReadWrite);
        }

        ulong unmapped = table.Unmap(IovaPopulate, Gib1, gather);
        gather.Complete();
        return unmapped;
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = PagesPerGib), BenchmarkCategory("Populate+teardown 1G of 4K")]
    public ulong Populate1G_C() =>
        Check(CBaseline.BenchPopulateTeardown(_f.C, IovaPopulate, TargetPa, Gib1, Kib4, 1), "populate");
}
