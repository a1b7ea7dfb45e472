using BenchmarkDotNet.Attributes;
using FastIommu.PageTables;
using static FastIommu.Benchmarks.PageTableFixture;

namespace FastIommu.Benchmarks;

/// <summary>
/// Two threads each populating (4 KiB map calls) and tearing down their own 1 GiB range, against one thread doing
/// both ranges one after the other: the same 2 GiB of work, per 4 KiB page. The ranges are disjoint 1 GiB slots
/// under one level-2 table, so the threads share the upper tables and the page allocator, as two DMA streams of
/// one domain do. Each thread unmaps into its own gather. Thread start (one per invocation, on both sides) is
/// timed, about 0.1 ms against some 10 ms of work. A third C# case gives each thread its own table, allocator and
/// memory (nothing shared but the process): if it scales no better than the shared one, what the two threads share
/// in the engine is not what keeps the scaling below two.
/// </summary>
public class PageTableConcurrencyBenchmarks
{
    private const int PagesPerGib = (int)(Gib1 / Kib4);
    private const int Ops = 2 * PagesPerGib;

    private static readonly ulong IovaRanges = Region(12);

    private PageTableFixture _f = null!;
    private PageTableFixture _own = null!;
    private InvalidationGather _secondGather = null!;

    [GlobalSetup]
    public void Setup()
    {
        _f = new PageTableFixture();
        _secondGather = new InvalidationGather(1024);
        _own = new PageTableFixture();
        _own.MapBoth(IovaRanges + 2 * Gib1, TargetPa, Kib4);
        _f.MapBoth(IovaRanges + 2 * Gib1, TargetPa, Kib4); // neighbour: keeps the shared level-2 table linked
        if (OneThread_CSharp() != TwoThreads_CSharp() || OneThread_C() != TwoThreads_C() || OneThread_C() != OneThread_CSharp()
            || TwoThreadsOwnTables_CSharp() != TwoThreads_CSharp())
        {
            throw new InvalidOperationException("Engines or thread counts unmapped different byte counts.");
        }
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _f.Dispose();
        _own.Dispose();
    }

    private ulong PopulateTeardown(ulong iova, InvalidationGather gather) => PopulateTeardown(_f, iova, gather);

    private static ulong PopulateTeardown(PageTableFixture f, ulong iova, InvalidationGather gather)
    {
        var table = f.Table;
        for (ulong offset = 0; offset < Gib1; offset += Kib4)
        {
            table.Map(iova + offset, TargetPa + offset, Kib4, ReadWrite);
        }

        ulong unmapped = table.Unmap(iova, Gib1, gather);
        gather.Complete();
        return unmapped;
    }

    [Benchmark(OperationsPerInvoke = Ops), BenchmarkCategory("Populate 2x1G, 1 thread")]
    public ulong OneThread_CSharp() =>
        PopulateTeardown(IovaRanges, _f.Gather) + PopulateTeardown(IovaRanges + Gib1, _f.Gather);

    [Benchmark(Baseline = true, OperationsPerInvoke = Ops), BenchmarkCategory("Populate 2x1G, 1 thread")]
    public ulong OneThread_C() =>
        Check(CBaseline.BenchPopulateParallel(_f.C, IovaRanges, Gib1, TargetPa, Gib1, ranges: 2, threads: 1, 1), "1 thread");

    [Benchmark(OperationsPerInvoke = Ops), BenchmarkCategory("Populate 2x1G, 2 threads")]
    public ulong TwoThreads_CSharp()
    {
        ulong second = 0;
        var thread = new Thread(() => second = PopulateTeardown(IovaRanges + Gib1, _secondGather));
        thread.Start();
        ulong first = PopulateTeardown(IovaRanges, _f.Gather);
        thread.Join();
        return first + second;
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = Ops), BenchmarkCategory("Populate 2x1G, 2 threads")]
    public ulong TwoThreads_C() =>
        Check(CBaseline.BenchPopulateParallel(_f.C, IovaRanges, Gib1, TargetPa, Gib1, ranges: 2, threads: 2, 1), "2 threads");

    [Benchmark(OperationsPerInvoke = Ops), BenchmarkCategory("Populate 2x1G, 2 threads")]
    public ulong TwoThreadsOwnTables_CSharp()
    {
        ulong second = 0;
        var thread = new Thread(() => second = PopulateTeardown(_own, IovaRanges + Gib1, _own.Gather));
        thread.Start();
        ulong first = PopulateTeardown(IovaRanges, _f.Gather);
        thread.Join();
        return first + second;
    }
}
