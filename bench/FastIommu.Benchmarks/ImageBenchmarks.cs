using System.Text;
using BenchmarkDotNet.Attributes;
using FastIommu.Cli.Translate;
using FastIommu.Formats.RiscV;
using FastIommu.Hardware;
using FastIommu.Images;
using FastIommu.Memory;
using FastIommu.PageTables;

namespace FastIommu.Benchmarks;

/// <summary>
/// Table images and the CLI's translate loop. Targets (issue 12): loading a 100 MiB image and dumping it takes under a
/// second; `fastiommu translate` answers at least a million queries a second from a file on one core.
/// </summary>
/// <remarks>
/// The image: one device (1LVL DDT, base DC) whose Sv48 table maps 50 GiB in 4 KiB leaves, so its 25 600 level-0
/// tables (plus the levels above) make an image of about 100 MiB. "Coalesced": each 2 MiB run of leaves maps a
/// contiguous PA range (one range per 2 MiB in the dump, 25 600 lines); "scattered": the leaves of each table map
/// their pages in reverse order, so no two coalesce (13 million lines: the dump's worst case). One operation: read
/// the file, check it, decode every table and write the text dump to a null stream.
/// Translate: 1 048 576 query lines ("3 - 0x... r", random pages of a 4 MiB mapping, so the IOTLB hits as in a real
/// trace) parsed, translated on the image's bytes and formatted as JSON lines into a null stream. Per query.
/// </remarks>
public class ImageBenchmarks
{
    private const ulong MemoryBase = 0x8000_0000;
    private const ulong IovaBase = 0x40_0000_0000;
    private const ulong TargetPa = 0x100_0000_0000;
    private const int L0Tables = 25_600;                    // x 4 KiB = 100 MiB of level-0 tables
    private const int Queries = 1 << 20;

    private string _coalesced = "";
    private string _scattered = "";
    private TableImage _small = null!;
    private byte[] _queries = [];

    [GlobalSetup]
    public void Setup()
    {
        _coalesced = BuildImage(scatter: false);
        _scattered = BuildImage(scatter: true);

        // The translate loop's image: device 3 maps 4 MiB in 4 KiB pages.
        using var memory = PhysicalMemory.Allocate(4 << 20, MemoryBase);
        var allocator = new PageAllocator(memory);
        ulong ddt = allocator.AllocatePage();
        using var table = new PageTable<Sv39>(allocator);
        table.Map(0x1000_0000, 0x1_0000_1000, 4 << 20, PageProtection.Read | PageProtection.Write | PageProtection.User);
        memory.GetRef<DeviceContext>(ddt + (3 * 32)) = new DeviceContext(new DeviceContextTc(1), default, default,
            Iosatp.Create<Sv39>(table.RootAddress));
        _small = TableImage.Read(TableImage.Capture(memory, Ddtp.Create(DdtpMode.OneLevel, ddt), Capabilities.FullRv64).ToArray());

        var random = new Random(0x5EED);
        var text = new StringBuilder();
        for (int i = 0; i < Queries; i++)
        {
            text.Append("3 - 0x").Append((0x1000_0000 + ((ulong)random.Next(1024) << 12) + (ulong)random.Next(4096)).ToString("x")).Append(" r\n");
        }

        _queries = Encoding.ASCII.GetBytes(text.ToString());
        if (Translate() != Queries)
        {
            throw new InvalidOperationException("the translate loop did not answer every query");
        }
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        File.Delete(_coalesced);
        File.Delete(_scattered);
    }

    [Benchmark, BenchmarkCategory("Image load+dump 100 MiB")]
    public long LoadAndDump100MiB_Coalesced() => LoadAndDump(_coalesced);

    [Benchmark, BenchmarkCategory("Image load+dump 100 MiB")]
    public long LoadAndDump100MiB_Scattered() => LoadAndDump(_scattered);

    [Benchmark(OperationsPerInvoke = Queries), BenchmarkCategory("CLI translate query")]
    public long Translate()
    {
        var runner = new QueryRunner(_small.CreateTranslator(), TextWriter.Null);
        runner.Run(new MemoryStream(_queries, writable: false), Stream.Null);
        return runner.Queries;
    }

    private static long LoadAndDump(string path)
    {
        var image = TableImage.Load(path);
        var decoded = IommuDecoder.Decode(image);
        using var writer = new StreamWriter(Stream.Null, new UTF8Encoding(false), 1 << 16);
        TextDump.Write(decoded, writer);
        return decoded.Devices.Count;
    }

    private static string BuildImage(bool scatter)
    {
        using var memory = PhysicalMemory.Allocate(128UL << 20, MemoryBase);
        var allocator = new PageAllocator(memory);
        ulong ddt = allocator.AllocatePage();
        using var table = new PageTable<Sv48>(allocator);
        for (int t = 0; t < L0Tables; t++)
        {
            // A PA 4 KiB off 2 MiB alignment forces 4 KiB leaves: one level-0 table per call.
            ulong iova = IovaBase + ((ulong)t << 21);
            table.Map(iova, TargetPa + ((ulong)t << 21) + 0x1000, 2 << 20, PageProtection.Read | PageProtection.Write | PageProtection.User);
            if (scatter)
            {
                // No device uses the table yet: reverse each table's PAs in place so no two leaves coalesce.
                ulong l0 = table.RootAddress;
                for (int level = 3; level > 0; level--)
                {
                    l0 = (memory.Qword(l0 + (((iova >> (12 + (9 * level))) & 511) << 3)) & Pte.PpnMask) << 2;
                }

                var entries = memory.GetPage(l0);
                for (int i = 0; i < 256; i++)
                {
                    ulong a = entries[i], b = entries[511 - i];
                    entries[i] = (a & ~Pte.PpnMask) | (b & Pte.PpnMask);
                    entries[511 - i] = (b & ~Pte.PpnMask) | (a & Pte.PpnMask);
                }
            }
        }

        memory.GetRef<DeviceContext>(ddt + (3 * 32)) = new DeviceContext(new DeviceContextTc(1), default, default,
            Iosatp.Create<Sv48>(table.RootAddress));
        string path = Path.Combine(Path.GetTempPath(), $"fastiommu-bench-{(scatter ? "scattered" : "coalesced")}-{Environment.ProcessId}.img");
        TableImage.Capture(memory, Ddtp.Create(DdtpMode.OneLevel, ddt), Capabilities.FullRv64).Save(path);
        return path;
    }
}
