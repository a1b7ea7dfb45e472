using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;
using FastIommu.Driver;
using FastIommu.Formats.RiscV;
using FastIommu.Hardware;
using FastIommu.Memory;

namespace FastIommu.Benchmarks;

/// <summary>
/// The driver's strict DMA unmap path, end to end: map 4 KiB, unmap it, sync (one page-addressed IOTINVAL.VMA per
/// bond, one IOFENCE.C per instance, written into the real command queue ring, the doorbell rung through
/// <see cref="InProcessMmio"/>, the hardware model running the queue and writing the fence back). One device, and ten
/// devices of one group sharing the domain: the bond batching should make them cost the same (target: ten ≤ 1.1 × one).
/// A neighbouring page keeps the leaf table alive, so no table is freed per iteration. The "Cmds/sync" column is the
/// number of commands one sync sends (measured once, outside the timed runs). Must allocate 0 B.
/// </summary>
[Config(typeof(Config))]
[MemoryDiagnoser]
public class DriverBenchmarks
{
    private const ulong MemoryBase = 0x8000_0000;
    private const ulong Iova = 0x4000_0000;

    private PhysicalMemory _memory = null!;
    private IommuDriver _driver = null!;
    private PagingDomain _domain = null!;
    private ulong _pa;

    /// <summary>Devices of one group sharing the domain, all behind one IOMMU.</summary>
    [Params(1, 10)]
    public int Devices { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _memory = PhysicalMemory.Allocate(32UL << 20, MemoryBase);
        var allocator = new PageAllocator(_memory, MemoryBase + (16UL << 20), 16UL << 20);
        _driver = new IommuDriver(allocator);
        var device = new RiscVIommu(_memory, Capabilities.FullRv64, new IommuOptions(), TranslatorCacheOptions.Default);
        IommuInstance iommu = _driver.AddInstance(new InProcessMmio(device));
        DeviceGroup group = _driver.CreateGroup();
        for (int i = 0; i < Devices; i++)
        {
            iommu.AddDevice((uint)(0x100 + i), group);
        }

        _domain = _driver.CreatePagingDomain(PagingModeKind.Sv39);
        _driver.Attach(group, _domain);
        _pa = MemoryBase + 0x10_0000;
        _domain.Map(Iova + 0x1000, _pa + 0x1000, 4096, DmaProtection.Read); // keeps the leaf table alive
        MapUnmapSync(); // warm the pools
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _driver.Dispose();
        _memory.Dispose();
    }

    [Benchmark(Description = "map 4K + unmap + sync (strict)")]
    public void MapUnmapSync()
    {
        _domain.Map(Iova, _pa, 4096, DmaProtection.ReadWrite);
        _domain.UnmapAndSync(Iova, 4096);
    }

    /// <summary>Commands one sync sends with <paramref name="devices"/> devices sharing the domain.</summary>
    public static double CommandsPerSync(int devices)
    {
        var bench = new DriverBenchmarks { Devices = devices };
        bench.Setup();
        try
        {
            IommuCounters counters = bench._driver.Instances[0].Counters;
            long before = counters.TotalCommands;
            const int Syncs = 16;
            for (int i = 0; i < Syncs; i++)
            {
                bench.MapUnmapSync();
            }

            return (counters.TotalCommands - before) / (double)Syncs;
        }
        finally
        {
            bench.Cleanup();
        }
    }

    private sealed class Config : ManualConfig
    {
        public Config() => AddColumn(new CommandsPerSyncColumn());
    }

    /// <summary>A column with <see cref="CommandsPerSync"/> for the case's device count.</summary>
    private sealed class CommandsPerSyncColumn : IColumn
    {
        public string Id => nameof(CommandsPerSyncColumn);

        public string ColumnName => "Cmds/sync";

        public bool AlwaysShow => true;

        public ColumnCategory Category => ColumnCategory.Custom;

        public int PriorityInCategory => 0;

        public bool IsNumeric => true;

        public UnitType UnitType => UnitType.Dimensionless;

        public string Legend => "Commands written to the command queue per sync (IOTINVALs + IOFENCE.C), measured once outside the runs";

        public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => GetValue(summary, benchmarkCase, SummaryStyle.Default);

        public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style)
        {
            object? devices = benchmarkCase.Parameters["Devices"];
            return devices is int n ? CommandsPerSync(n).ToString("0.##", System.Globalization.CultureInfo.InvariantCulture) : "-";
        }

        public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;

        public bool IsAvailable(Summary summary) => true;
    }
}
