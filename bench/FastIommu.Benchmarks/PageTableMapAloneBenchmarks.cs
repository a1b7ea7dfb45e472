using BenchmarkDotNet.Attributes;
using static FastIommu.Benchmarks.PageTableFixture;

namespace FastIommu.Benchmarks;

/// <summary>
/// A 4 KiB map alone and a 4 KiB unmap alone (the 25 ns / 15 ns targets), C# against its C twin.
/// One invocation makes <see cref="Ops"/> calls on distinct pages: pages 0..510 of each of 32 2 MiB slots, in
/// order. Page 511 of every slot holds a neighbour mapping, so the leaf tables stay linked and no call allocates or
/// frees a table (as in the MapUnmap cases). State is restored outside the timed region by BenchmarkDotNet's
/// iteration hooks: the map cases unmap everything in [IterationCleanup], the unmap cases map everything in
/// [IterationSetup]; so one iteration = one invocation (BenchmarkDotNet's rule with iteration hooks), 16352 calls.
/// GlobalSetup runs both directions 60 times with a pause so the JIT has tiered every method up before timing.
/// Each unmap is followed by gather.Complete() (nothing to free: only the range list is reset), as in MapUnmap 1x4K.
/// </summary>
[WarmupCount(5), IterationCount(40)]
public class PageTableMapAloneBenchmarks
{
    private const int Slots = 32;
    private const int PagesPerSlot = 511;
    private const int Ops = Slots * PagesPerSlot;

    private static readonly ulong Iova = Region(10);

    private PageTableFixture _f = null!;

    [GlobalSetup]
    public void Setup()
    {
        _f = new PageTableFixture();
        for (int s = 0; s < Slots; s++)
        {
            _f.MapBoth(Iova + (ulong)s * Mib2 + PagesPerSlot * Kib4, TargetPa, Kib4); // neighbour: page 511
        }

        for (int round = 0; round < 120; round++)
        {
            if (round == 60)
            {
                Thread.Sleep(500); // let the background tier-1 compiles land
            }

            Same(MapEach_CSharp(), MapEach_C(), "map");
            Same(UnmapEach_CSharp(), UnmapEach_C(), "unmap");
        }

        if (_f.Allocator.PagesInUse != CBaseline.PagesInUse(_f.C))
        {
            throw new InvalidOperationException(
                $"Engines hold different table counts: C# {_f.Allocator.PagesInUse} pages, C {CBaseline.PagesInUse(_f.C)}.");
        }
    }

    private static void Same(ulong csharp, ulong c, string what)
    {
        if (csharp != c || csharp != (ulong)Ops * Kib4)
        {
            throw new InvalidOperationException($"{what}: C# {csharp} bytes, C {c}, expected {(ulong)Ops * Kib4}.");
        }
    }

    [GlobalCleanup]
    public void Cleanup() => _f.Dispose();

    [IterationCleanup(Target = nameof(Map4K_CSharp))]
    public void AfterMapCSharp() => UnmapEach_CSharp();

    [IterationCleanup(Target = nameof(Map4K_C))]
    public void AfterMapC() => UnmapEach_C();

    [IterationSetup(Target = nameof(Unmap4K_CSharp))]
    public void BeforeUnmapCSharp() => MapEach_CSharp();

    [IterationSetup(Target = nameof(Unmap4K_C))]
    public void BeforeUnmapC() => MapEach_C();

    private ulong MapEach_CSharp()
    {
        var table = _f.Table;
        ulong mapped = 0;
        for (int s = 0; s < Slots; s++)
        {
            ulong slot = (ulong)s * Mib2;
            for (int p = 0; p < PagesPerSlot; p++)
            {
                ulong offset = slot + ((ulong)p << 12);
                table.Map(Iova + offset, TargetPa + offset, Kib4, ReadWrite);
                mapped += Kib4;
            }
        }

        return mapped;
    }

    private ulong UnmapEach_CSharp()
    {
        var table = _f.Table;
        var gather = _f.Gather;
        ulong sum = 0;
        for (int s = 0; s < Slots; s++)
        {
            ulong slot = Iova + (ulong)s * Mib2;
            for (int p = 0; p < PagesPerSlot; p++)
            {
                sum += table.Unmap(slot + ((ulong)p << 12), Kib4, gather);
                gather.Complete();
            }
        }

        return sum;
    }

    private ulong MapEach_C() => Check(CBaseline.BenchMapEach(_f.C, Iova, TargetPa, Slots, PagesPerSlot), "map each");

    private ulong UnmapEach_C() => Check(CBaseline.BenchUnmapEach(_f.C, Iova, Slots, PagesPerSlot), "unmap each");

    /// <summary>16352 Map calls of one 4 KiB page each: per call.</summary>
    [Benchmark(OperationsPerInvoke = Ops), BenchmarkCategory("Map 1x4K alone")]
    public ulong Map4K_CSharp() => MapEach_CSharp();

    [Benchmark(Baseline = true, OperationsPerInvoke = Ops), BenchmarkCategory("Map 1x4K alone")]
    public ulong Map4K_C() => MapEach_C();

    /// <summary>16352 Unmap calls of one 4 KiB page each (+ gather.Complete()): per call.</summary>
    [Benchmark(OperationsPerInvoke = Ops), BenchmarkCategory("Unmap 1x4K alone")]
    public ulong Unmap4K_CSharp() => UnmapEach_CSharp();

    [Benchmark(Baseline = true, OperationsPerInvoke = Ops), BenchmarkCategory("Unmap 1x4K alone")]
    public ulong Unmap4K_C() => UnmapEach_C();
}
