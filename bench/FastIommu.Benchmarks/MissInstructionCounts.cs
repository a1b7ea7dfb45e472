using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using FastIommu.Formats.RiscV;
using FastIommu.Hardware;
using FastIommu.Memory;
using FastIommu.PageTables;

namespace FastIommu.Benchmarks;

/// <summary>
/// The instruction-count harness (<c>--callgrind</c>, run by <c>bench/callgrind-miss.sh</c> under valgrind's
/// callgrind): each case warms its translator, then translates a fixed request stream between two callgrind client
/// requests (zero, dump under the case's name), so every dump holds exactly that stream's instructions. Counts do
/// not depend on machine load, so they are the metric to work against on a busy machine; time is measured only by
/// BenchmarkDotNet (<see cref="RealisticMissBenchmarks"/>, <see cref="HardwareBenchmarks"/>).
/// </summary>
/// <remarks>One Sv39 table of 1 GiB of 4 KiB leaves (R|W|U, A, D) as in <see cref="RealisticMissBenchmarks"/>,
/// one 1LVL base DC. Cases: <c>micro-hit</c> (1024 pages, default caches), <c>iotlb-hit</c> (the same, micro-TLB
/// off), <c>incache-miss-off</c> / <c>incache-miss-oneset</c> (1024 pages, IOTLB off / one 4-way set and no
/// micro-TLB: the 3-level walk with the tables in cache), <c>realistic-off</c> / <c>realistic-on</c> (random pages
/// of the whole GiB, IOTLB off / default caches); <c>micro-hit-counting</c> / <c>realistic-on-counting</c>, two of them
/// with <see cref="TranslatorCacheOptions.CountHits"/> (the cost of counting when it is on); <c>twin-realistic-off</c> /
/// <c>twin-realistic-on</c>, the C twins of the realistic cases (IOTLB off / the same caches and rules in C);
/// <c>twostage-off</c>, the two-stage walk of <see cref="HardwareBenchmarks.TwoStageWalk"/>.</remarks>
internal static class MissInstructionCounts
{
    private const ulong MemoryBase = 0x8000_0000;
    private const ulong Ddt = MemoryBase;
    private const ulong IovaBase = 0x4000_0000;
    private const ulong PaBase = 0x40_0000_0000;
    private const ulong Bytes = 1UL << 30;
    private const ulong Caps = 0x10UL | (1UL << 9) | (1UL << 10) | (1UL << 11) | (1UL << 15) | (1UL << 24);

    public static int Run(string[] args)
    {
        int count = 20000;
        string? only = null;
        for (int i = 0; i < args.Length; i++)
        {
            if (args[i] == "--count" && i + 1 < args.Length)
            {
                count = int.Parse(args[++i], CultureInfo.InvariantCulture);
            }
            else if (args[i] == "--case" && i + 1 < args.Length)
            {
                only = args[++i];
            }
        }

        if (CBaseline.RunningOnValgrind() == 0)
        {
            Console.WriteLine("// not under valgrind: the cases run (and are checked) but nothing is counted");
        }

        // Both client requests once before any counted region: a P/Invoke's first call builds its stub (a dump
        // named without a count, which the report skips).
        CBaseline.CallgrindZero();
        CBaseline.CallgrindDump("harness-start\0"u8.ToArray());

        ulong tableBytes = Bytes / 4096 * 8 * 2 + (8UL << 20);
        using PhysicalMemory memory = PhysicalMemory.Allocate(tableBytes + 0x10_0000, MemoryBase);
        var allocator = new PageAllocator(memory, MemoryBase + 0x10_0000, tableBytes);
        using var table = new PageTable<Sv39>(allocator);
        table.Map(IovaBase, PaBase + 4096, Bytes, PageProtection.Read | PageProtection.Write | PageProtection.User);
        memory.Qword(Ddt + 32) = 1;
        memory.Qword(Ddt + 48) = 1UL << 12;
        memory.Qword(Ddt + 56) = (8UL << 60) | (table.RootAddress >> 12);
        var caps = new Capabilities(Caps);
        var ddtp = new Ddtp((Ddt >> 12 << 10) | 2);

        var inCache = new TranslationRequest[1024];
        for (int i = 0; i < inCache.Length; i++)
        {
            inCache[i] = new TranslationRequest(1, IovaBase + ((ulong)i << 12) + 0x40, AccessType.Read);
        }

        // Random pages of the whole GiB: the first half warms the caches, the second is counted.
        var rng = new Random(15);
        var random = new TranslationRequest[2 * count];
        for (int i = 0; i < random.Length; i++)
        {
            random[i] = new TranslationRequest(1, IovaBase + ((ulong)rng.NextInt64((long)(Bytes / 4096)) << 12) + 0x40, AccessType.Read);
        }

        var cases = new (string Name, TranslatorCacheOptions Options, TranslationRequest[] Requests, int Warm, int Measured)[]
        {
            ("micro-hit", TranslatorCacheOptions.Default, inCache, 4 * 1024, 16 * 1024),
            ("iotlb-hit", new TranslatorCacheOptions { MicroTlbEntries = 0 }, inCache, 4 * 1024, 16 * 1024),
            ("incache-miss-off", new TranslatorCacheOptions { IotlbEntries = 0 }, inCache, 4 * 1024, 16 * 1024),
            ("incache-miss-oneset", new TranslatorCacheOptions { IotlbEntries = 4, MicroTlbEntries = 0 }, inCache, 4 * 1024, 16 * 1024),
            ("realistic-off", new TranslatorCacheOptions { IotlbEntries = 0 }, random, count, count),
            ("realistic-on", TranslatorCacheOptions.Default, random, count, count),
            // The cost of counting when it is on (off, the engine has no trace of it: the cases above).
            ("micro-hit-counting", new TranslatorCacheOptions { CountHits = true }, inCache, 4 * 1024, 16 * 1024),
            ("realistic-on-counting", new TranslatorCacheOptions { CountHits = true }, random, count, count),
        };

        foreach ((string name, TranslatorCacheOptions options, TranslationRequest[] requests, int warm, int measured) in cases)
        {
            if (only is not null && name != only)
            {
                continue;
            }

            var translator = new IommuTranslator(memory, caps, options) { Ddtp = ddtp };
            // Warm-up, every result checked against the engine; a random stream's counted part follows its warm part.
            for (int n = 0; n < warm; n++)
            {
                ref TranslationRequest request = ref requests[n % requests.Length];
                ulong expected = table.IovaToPhys(request.Iova);
                TranslationResult result = translator.Translate(in request);
                if (!result.Success || result.PhysicalAddress != expected)
                {
                    throw new InvalidOperationException($"{name}: model {result}, engine 0x{expected:x}.");
                }
            }

            int start = warm % requests.Length;
            Loop(translator, requests, start, 16); // the loop itself compiled before the counted region
            translator.ResetCacheStatistics();     // the counting cases print the counted region's rates
            byte[] dumpName = Encoding.UTF8.GetBytes($"{name} {measured}\0");
            CBaseline.CallgrindZero();
            ulong sum = Loop(translator, requests, start, measured);
            CBaseline.CallgrindDump(dumpName);
            Console.WriteLine($"{name}: {measured} translations (sum 0x{sum:x})");
            if (options.CountHits)
            {
                Console.WriteLine($"  {translator.CacheStatistics}");
            }
        }

        // The C twins of the realistic cases (hw_miss_twin.c; with the caches on, hw_caches.h): the same stream, warmed
        // by its first half, its second half counted; what the model's design costs in C.
        foreach ((string name, bool cached) in new[] { ("twin-realistic-off", false), ("twin-realistic-on", true) })
        {
            if (only is not null && name != only)
            {
                continue;
            }

            TranslatorCacheOptions defaults = TranslatorCacheOptions.Default;
            nint twin = CBaseline.HwMissCreate(memory.HostPointer, MemoryBase, memory.Size, ddtp.Value, Caps, (uint)defaults.DeviceContextEntries);
            if (twin == 0
                || (cached && CBaseline.HwMissEnableCaches(twin, (uint)defaults.IotlbEntries, (uint)defaults.MicroTlbEntries, (uint)defaults.AddressSpaces) != 0)
                || CBaseline.HwMissPutDc(twin, 1, memory.Qword(Ddt + 32), 0, memory.Qword(Ddt + 48), memory.Qword(Ddt + 56)) != 0)
            {
                throw new InvalidOperationException($"{name}: the twin could not be made.");
            }

            ulong expected = 0;
            for (int n = count; n < 2 * count; n++)
            {
                expected += table.IovaToPhys(random[n].Iova);
            }

            byte[] warmPart = MemoryMarshal.AsBytes(random.AsSpan(0, count)).ToArray();
            byte[] countedPart = MemoryMarshal.AsBytes(random.AsSpan(count, count)).ToArray();
            if (CBaseline.HwMissSetRequests(twin, warmPart, (ulong)count) != 0)
            {
                throw new InvalidOperationException($"{name}: requests failed.");
            }

            CBaseline.BenchHwMiss(twin, 1);
            if (CBaseline.HwMissSetRequests(twin, countedPart, (ulong)count) != 0)
            {
                throw new InvalidOperationException($"{name}: requests failed.");
            }

            byte[] dumpName = Encoding.UTF8.GetBytes($"{name} {count}\0");
            CBaseline.CallgrindZero();
            ulong sum = CBaseline.BenchHwMiss(twin, 1);
            CBaseline.CallgrindDump(dumpName);
            CBaseline.HwMissDestroy(twin);
            if (sum != expected)
            {
                throw new InvalidOperationException($"{name}: sum 0x{sum:x}, engine 0x{expected:x}.");
            }

            Console.WriteLine($"{name}: {count} translations (sum 0x{sum:x})");
        }

        // The two-stage walk of HardwareBenchmarks.TwoStageWalk (Sv48 over Sv48x4, 4 KiB G-stage leaves, IOTLB off):
        // its own setup, which checks every result, then one pass warm and one counted.
        if (only is null || only == "twostage-off")
        {
            var hardware = new HardwareBenchmarks();
            hardware.Setup();
            ulong expected = hardware.TwoStageWalk();
            byte[] dumpName = Encoding.UTF8.GetBytes($"twostage-off {HardwareBenchmarks.Pages}\0");
            CBaseline.CallgrindZero();
            ulong sum = hardware.TwoStageWalk();
            CBaseline.CallgrindDump(dumpName);
            hardware.Cleanup();
            if (sum != expected)
            {
                throw new InvalidOperationException($"twostage-off: sum 0x{sum:x}, first pass 0x{expected:x}.");
            }

            Console.WriteLine($"twostage-off: {HardwareBenchmarks.Pages} translations (sum 0x{sum:x})");
        }

        return 0;
    }

    /// <summary><paramref name="count"/> translations from <paramref name="start"/>, wrapping around the stream.</summary>
    private static ulong Loop(IommuTranslator translator, TranslationRequest[] requests, int start, int count)
    {
        ulong sum = 0;
        int i = start;
        for (int n = 0; n < count; n++)
        {
            sum += translator.Translate(in requests[i]).PhysicalAddress;
            if (++i == requests.Length)
            {
                i = 0;
            }
        }

        return sum;
    }
}
