using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using BenchmarkDotNet.Attributes;
using FastIommu.Formats.RiscV;
using FastIommu.Hardware;
using FastIommu.Memory;
using FastIommu.PageTables;

namespace FastIommu.Benchmarks;

/// <summary>
/// Translations at realistic working sets, where a device's DMA spreads over gigabytes and neither the model's caches
/// nor the CPU's hold the tables: per translation, the model with its default caches (micro-TLB, IOTLB, DC cache),
/// the model with the IOTLB off (every request walks), the C twins of both (hw_miss_twin.c: the same steps and checks;
/// with the caches on, hw_caches.h: the same caches, layouts and rules), and the baseline, the bare C walk of the same
/// tables (plain_walk.c): the floor any model pays.
/// </summary>
/// <remarks>
/// <para>One Sv39 table per scenario, built by the page-table engine in its own PhysicalMemory; 1LVL DDT, base DCs
/// (V, PSCID = device_id, iosatp Sv39 at the table). Leaves are R|W|U with A and D, at PAs outside the memory (device
/// memory: only the tables are read).</para>
/// <para>The setup prints the hit rate of each cache level for the scenario (a "// scenario, default caches: ..."
/// line in the log), from the model's own counters (<see cref="IommuTranslator.CacheStatistics"/>).</para>
/// <para>Scenarios: each 2^20 requests. <c>1G-4K-random</c>: four random permutations of all 262 144 pages of 1 GiB of
/// 4 KiB leaves, one after the other; <c>1G-2M-random</c>: 512 leaves of 2 MiB, random 4 KiB pages;
/// <c>16G-4K-random</c>: random pages of 16 GiB of 4 KiB leaves (32 MiB of leaf tables); <c>1G-4K-random-64dev</c>, the first scenario with each request
/// from one of 64 devices (64 DCs and 64 address spaces over the one table); <c>256M-4K-stream</c>, 256 MiB in
/// order, each page translated 16 times within a window of 16 pages and then never again, like a network ring.</para>
/// </remarks>
public class RealisticMissBenchmarks
{
    private const ulong MemoryBase = 0x8000_0000;
    private const ulong Ddt = MemoryBase;
    private const ulong IovaBase = 0x4000_0000;            // 1 GiB aligned
    private const ulong PaBase = 0x40_0000_0000;            // device memory, outside the arena
    private const ulong Caps = 0x10UL | (1UL << 9) | (1UL << 10) | (1UL << 11) | (1UL << 15) | (1UL << 24);
    private const int Operations = 1 << 20;                 // requests per invocation, every scenario

    private PhysicalMemory _memory = null!;
    private PageTable<Sv39> _table = null!;
    private IommuTranslator _cached = null!;
    private IommuTranslator _walking = null!;
    private TranslationRequest[] _requests = null!;
    private GCHandle _pinned;
    private nint _twin;
    private nint _twinCached;

    [Params("1G-4K-random", "1G-2M-random", "16G-4K-random", "1G-4K-random-64dev", "256M-4K-stream")]
    public string Scenario { get; set; } = "1G-4K-random";

    [GlobalSetup]
    public void Setup()
    {
        (ulong bytes, ulong leaf, int devices) = Scenario switch
        {
            "1G-4K-random" => (1UL << 30, 4096UL, 1),
            "1G-2M-random" => (1UL << 30, 2UL << 20, 1),
            "16G-4K-random" => (16UL << 30, 4096UL, 1),
            "1G-4K-random-64dev" => (1UL << 30, 4096UL, 64),
            "256M-4K-stream" => (256UL << 20, 4096UL, 1),
            _ => throw new ArgumentException($"unknown scenario {Scenario}"),
        };
        ulong tableBytes = bytes / 4096 * 8 * 2 + (8UL << 20); // leaf tables, their parents, slack
        _memory = PhysicalMemory.Allocate(tableBytes + 0x10_0000, MemoryBase);
        var allocator = new PageAllocator(_memory, MemoryBase + 0x10_0000, tableBytes);
        _table = new PageTable<Sv39>(allocator);
        var prot = PageProtection.Read | PageProtection.Write | PageProtection.User;
        // A PA one page off the IOVA's 2 MiB alignment forces 4 KiB leaves; one 2 MiB off its 1 GiB alignment, 2 MiB leaves.
        ulong skew = leaf == 4096 ? 4096UL : 2UL << 20;
        _table.Map(IovaBase, PaBase + skew, bytes, prot);

        for (uint d = 1; d <= (uint)devices; d++)
        {
            ulong dc = Ddt + d * 32;
            _memory.Qword(dc) = 1;
            _memory.Qword(dc + 16) = (ulong)d << 12;
            _memory.Qword(dc + 24) = (8UL << 60) | (_table.RootAddress >> 12);
        }

        var caps = new Capabilities(Caps);
        var ddtp = new Ddtp((Ddt >> 12 << 10) | 2);
        _cached = new IommuTranslator(_memory, caps) { Ddtp = ddtp };
        _walking = new IommuTranslator(_memory, caps, new TranslatorCacheOptions { IotlbEntries = 0 }) { Ddtp = ddtp };

        _requests = Requests(bytes, leaf, devices);
        _pinned = GCHandle.Alloc(_requests, GCHandleType.Pinned);

        // Every request translates as the engine says, through both model configurations; warm both.
        for (int i = 0; i < _requests.Length; i++)
        {
            ulong expected = _table.IovaToPhys(_requests[i].Iova);
            Check(_cached.Translate(in _requests[i]), expected);
            Check(_walking.Translate(in _requests[i]), expected);
        }

        if (Unsafe.SizeOf<TranslationRequest>() != (int)CBaseline.HwMissLayout(0))
        {
            throw new InvalidOperationException("C twin: TranslationRequest layout differs.");
        }

        _twin = CreateTwin(ddtp, devices, cached: false);
        _twinCached = CreateTwin(ddtp, devices, cached: true);

        ulong sum = ModelCachesOn();
        if (ModelIotlbOff() != sum || ModelCachesOnBatch() != sum || ModelIotlbOffBatch() != sum || Twin_C() != sum
            || TwinCachesOn_C() != sum || PlainWalk_C() != sum)
        {
            throw new InvalidOperationException($"{Scenario}: the model, the twin and the bare walk differ.");
        }

        PrintHitRates(caps, ddtp);
    }

    /// <summary>A C twin over this scenario's DCs and requests: of the IOTLB-off miss, or with the caches of the C#
    /// defaults (<paramref name="cached"/>).</summary>
    private nint CreateTwin(Ddtp ddtp, int devices, bool cached)
    {
        var defaults = TranslatorCacheOptions.Default;
        nint twin = CBaseline.HwMissCreate(_memory.HostPointer, MemoryBase, _memory.Size, ddtp.Value, Caps, (uint)defaults.DeviceContextEntries);
        if (twin == 0
            || (cached && CBaseline.HwMissEnableCaches(twin, (uint)defaults.IotlbEntries, (uint)defaults.MicroTlbEntries, (uint)defaults.AddressSpaces) != 0))
        {
            throw new InvalidOperationException("C twin: create failed.");
        }

        for (uint d = 1; d <= (uint)devices; d++)
        {
            ulong dc = Ddt + d * 32;
            if (CBaseline.HwMissPutDc(twin, d, _memory.Qword(dc), 0, _memory.Qword(dc + 16), _memory.Qword(dc + 24)) != 0)
            {
                throw new InvalidOperationException("C twin: put_dc failed.");
            }
        }

        if (CBaseline.HwMissSetRequests(twin, MemoryMarshal.AsBytes(_requests.AsSpan()).ToArray(), (ulong)_requests.Length) != 0)
        {
            throw new InvalidOperationException("C twin: requests failed.");
        }

        return twin;
    }

    /// <summary>The hit rate of each cache level for this scenario's stream, from the model's own counters: a third
    /// translator with the default caches and <see cref="TranslatorCacheOptions.CountHits"/> (the measured ones do not
    /// count), warmed by one pass of the stream, counted over the next.</summary>
    private void PrintHitRates(Capabilities caps, Ddtp ddtp)
    {
        var counting = new IommuTranslator(_memory, caps, new TranslatorCacheOptions { CountHits = true }) { Ddtp = ddtp };
        Run(counting, _requests);
        counting.ResetCacheStatistics();
        Run(counting, _requests);
        Console.WriteLine($"// {Scenario}, default caches: {counting.CacheStatistics}");
    }

    private static TranslationRequest[] Requests(ulong bytes, ulong leaf, int devices)
    {
        var rng = new Random(15);
        ulong pages = bytes / 4096;
        if (devices == 1 && bytes == 256UL << 20)
        {
            // Streaming: windows of 16 pages, 16 rounds over each window, then the next window (2^16 pages x 16).
            var stream = new TranslationRequest[Operations];
            int n = 0;
            for (ulong window = 0; window < pages; window += 16)
            {
                for (int round = 0; round < 16; round++)
                {
                    for (ulong p = window; p < window + 16; p++)
                    {
                        stream[n++] = new TranslationRequest(1, IovaBase + (p << 12) + 0x40, AccessType.Read);
                    }
                }
            }

            return stream;
        }

        var requests = new TranslationRequest[Operations];
        if (leaf == 4096 && pages == 1UL << 18)
        {
            // Four random permutations of every page one after the other, so each is translated once per pass.
            var order = new uint[pages];
            for (int pass = 0; pass < Operations / (int)pages; pass++)
            {
                for (int i = 0; i < order.Length; i++)
                {
                    order[i] = (uint)i;
                }

                rng.Shuffle(order);
                for (int i = 0; i < order.Length; i++)
                {
                    uint device = devices == 1 ? 1u : (uint)rng.Next(1, devices + 1);
                    requests[(pass * order.Length) + i] = new TranslationRequest(device, IovaBase + ((ulong)order[i] << 12) + 0x40, AccessType.Read);
                }
            }
        }
        else
        {
            for (int i = 0; i < requests.Length; i++)
            {
                ulong page = (ulong)rng.NextInt64((long)pages);
                requests[i] = new TranslationRequest(1, IovaBase + (page << 12) + 0x40, AccessType.Read);
            }
        }

        return requests;
    }

    private static void Check(TranslationResult r, ulong expected)
    {
        if (!r.Success || r.PhysicalAddress != expected)
        {
            throw new InvalidOperationException($"model {r}, engine 0x{expected:x}.");
        }
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        CBaseline.HwMissDestroy(_twin);
        CBaseline.HwMissDestroy(_twinCached);
        if (_pinned.IsAllocated)
        {
            _pinned.Free();
        }

        _table.Dispose();
        _memory.Dispose();
    }

    private static ulong Run(IommuTranslator translator, TranslationRequest[] requests)
    {
        ulong sum = 0;
        for (int i = 0; i < requests.Length; i++)
        {
            sum += translator.Translate(in requests[i]).PhysicalAddress;
        }

        return sum;
    }

    private int Count => _requests.Length;

    private readonly TranslationResult[] _batchResults = new TranslationResult[BatchSize];
    private const int BatchSize = 256;

    /// <summary>The stream in batches of 256 through the batch translate, which prefetches the leaf PTE a few
    /// requests ahead (<see cref="IommuTranslator.Translate(ReadOnlySpan{TranslationRequest}, Span{TranslationResult})"/>).</summary>
    private ulong RunBatches(IommuTranslator translator)
    {
        ulong sum = 0;
        TranslationResult[] results = _batchResults;
        for (int start = 0; start < _requests.Length; start += BatchSize)
        {
            translator.Translate(_requests.AsSpan(start, BatchSize), results);
            for (int i = 0; i < results.Length; i++)
            {
                sum += results[i].PhysicalAddress;
            }
        }

        return sum;
    }

    [Benchmark(OperationsPerInvoke = Operations, Description = "model, default caches")]
    public ulong ModelCachesOn() => Run(_cached, _requests);

    [Benchmark(OperationsPerInvoke = Operations, Description = "model, IOTLB off (every request walks)")]
    public ulong ModelIotlbOff() => Run(_walking, _requests);

    [Benchmark(OperationsPerInvoke = Operations, Description = "model, default caches, batches of 256 (prefetching)")]
    public ulong ModelCachesOnBatch() => RunBatches(_cached);

    [Benchmark(OperationsPerInvoke = Operations, Description = "model, IOTLB off, batches of 256 (prefetching)")]
    public ulong ModelIotlbOffBatch() => RunBatches(_walking);

    [Benchmark(OperationsPerInvoke = Operations, Description = "C twin of the IOTLB-off miss (same steps and checks)")]
    public ulong Twin_C() => CBaseline.BenchHwMiss(_twin, 1);

    [Benchmark(OperationsPerInvoke = Operations, Description = "C twin of the model with its default caches (same caches and rules)")]
    public ulong TwinCachesOn_C() => CBaseline.BenchHwMiss(_twinCached, 1);

    [Benchmark(Baseline = true, OperationsPerInvoke = Operations, Description = "C: bare Sv39 walk of the same tables")]
    public ulong PlainWalk_C() =>
        CBaseline.BenchPlainWalkSv39(_memory.HostPointer, MemoryBase, _table.RootAddress, _pinned.AddrOfPinnedObject(), (ulong)Count, 1);
}
