using System.Diagnostics;
using FastIommu.Cli.Driver;
using FastIommu.Driver;
using FastIommu.Formats.RiscV;
using FastIommu.Hardware;
using FastIommu.Memory;
using FastIommu.PageTables;

namespace FastIommu.Cli.Replay;

/// <summary>How unmaps are made visible to the IOMMUs.</summary>
/// <param name="BatchSize">0: strict (each unmap synced at once, Linux's strict DMA mode); N: unmaps gathered per
/// domain and every domain's gather synced after each N unmaps (a flush queue), and at <c>sync</c> lines.</param>
internal readonly record struct InvalidationPolicy(int BatchSize)
{
    public bool Strict => BatchSize == 0;

    public override string ToString() => Strict ? "strict (a sync after every unmap)" : $"batched (a sync every {BatchSize} unmaps)";
}

/// <summary>
/// Runs a <see cref="Trace"/> through the driver layer (<see cref="IommuDriver"/>, one <see cref="RiscVIommu"/> per
/// instance behind <see cref="InProcessMmio"/>) and counts what can be seen from outside the model: translations and
/// faults, the model's memory reads per translation (none: served by its caches), translations that disagree with
/// the page table (stale cache entries the policy has not invalidated yet), and the commands the driver sent.
/// </summary>
internal sealed class ReplayRunner : IDisposable
{
    private readonly Trace _trace;
    private readonly InvalidationPolicy _policy;
    private readonly PhysicalMemory _ram;
    private readonly CountingMemoryAccess _memory;
    private readonly IommuDriver _driver;
    private readonly RiscVIommu[] _hardware;
    private readonly PagingDomain?[] _domains;
    private readonly DeviceGroup?[] _groups;
    private readonly IommuDevice?[] _devices;
    private readonly int[] _groupDomain;
    private readonly Dictionary<(int Device, uint Pasid), int> _pasidDomain = [];
    private readonly UnmapGather?[] _pending;
    private int _pendingCount;
    private int _unmapsSinceSync;

    public ReplayRunner(Trace trace, InvalidationPolicy policy, TranslatorCacheOptions cache)
    {
        _trace = trace;
        _policy = policy;
        _ram = PhysicalMemory.Allocate(trace.MemorySize, basePa: trace.MemoryBase);
        _memory = new CountingMemoryAccess(_ram);
        _driver = new IommuDriver(new PageAllocator(_ram, trace.MemoryBase + (trace.MemorySize / 2), trace.MemorySize / 2));
        _hardware = new RiscVIommu[trace.Instances.Count];
        for (int i = 0; i < _hardware.Length; i++)
        {
            _hardware[i] = new RiscVIommu(_memory, Capabilities.FullRv64, cacheOptions: cache);
            _driver.AddInstance(new InProcessMmio(_hardware[i]));
        }

        _domains = new PagingDomain?[trace.Domains.Count];
        _groups = new DeviceGroup?[trace.Groups.Count];
        _groupDomain = new int[trace.Groups.Count];
        Array.Fill(_groupDomain, -1);
        _devices = new IommuDevice?[trace.Devices.Count];
        _pending = new UnmapGather?[trace.Domains.Count];
        Setup = CommandTally.Snapshot(_driver.Instances);
    }

    /// <summary>The model's own cache counters (<see cref="TranslatorCacheOptions.CountHits"/>), summed over the
    /// IOMMUs: which level served each DMA request. The bring-up translates nothing, so they count the trace's DMA.</summary>
    public TranslationCacheStatistics CacheStatistics
    {
        get
        {
            long microHits = 0, microMisses = 0, iotlbHits = 0, dcHits = 0, dcMisses = 0, pcHits = 0, pcMisses = 0;
            foreach (RiscVIommu hardware in _hardware)
            {
                TranslationCacheStatistics s = hardware.Translator.CacheStatistics;
                microHits += s.MicroTlbHits;
                microMisses += s.MicroTlbMisses;
                iotlbHits += s.IotlbHits;
                dcHits += s.DeviceContextHits;
                dcMisses += s.DeviceContextMisses;
                pcHits += s.ProcessContextHits;
                pcMisses += s.ProcessContextMisses;
            }

            return new TranslationCacheStatistics(microHits, microMisses, iotlbHits, dcHits, dcMisses, pcHits, pcMisses);
        }
    }

    /// <summary>The driver's counters after bring-up, before the trace's first line.</summary>
    public CommandTally Setup { get; }

    public ReplayStats Stats { get; } = new();

    public IReadOnlyList<IommuInstance> Instances => _driver.Instances;

    /// <summary>Runs every operation, then syncs what the policy left pending. <paramref name="progress"/> is called
    /// every 4096 operations with the number done.</summary>
    public void Run(Action<int>? progress = null)
    {
        var ops = _trace.Ops;
        var clock = Stopwatch.StartNew();
        for (int i = 0; i < ops.Length; i++)
        {
            Execute(in ops[i]);
            if ((i & 4095) == 4095)
            {
                progress?.Invoke(i + 1);
            }
        }

        SyncAll();
        clock.Stop();
        Stats.Operations = ops.Length;
        Stats.Elapsed = clock.Elapsed;
        progress?.Invoke(ops.Length);
    }

    public void Dispose()
    {
        _driver.Dispose();
        _ram.Dispose();
    }

    private void Execute(in TraceOp op)
    {
        try
        {
            switch (op.Kind)
            {
                case TraceOpKind.Domain:
                    _domains[op.Index] = _driver.CreatePagingDomain(op.Mode);
                    break;
                case TraceOpKind.Device:
                    var d = _trace.Devices[op.Index];
                    _groups[d.Group] ??= _driver.CreateGroup(_trace.Groups[d.Group]);
                    _devices[op.Index] = _driver.Instances[d.Instance].AddDevice(d.Id, _groups[d.Group], d.PasidBits);
                    break;
                case TraceOpKind.Attach:
                    _driver.Attach(_groups[op.Index] ?? throw new TraceException(op.Line, "the group has no device yet"), _domains[op.Target]!);
                    _groupDomain[op.Index] = op.Target;
                    break;
                case TraceOpKind.AttachPasid:
                    _driver.AttachPasid(_devices[op.Index]!, op.Pasid, _domains[op.Target]!);
                    _pasidDomain[(op.Index, op.Pasid)] = op.Target;
                    break;
                case TraceOpKind.Map:
                    Check(op, _domains[op.Index]!.TryMap(op.Iova, op.Pa, op.Size, op.Protection), "map");
                    Stats.Maps++;
                    break;
                case TraceOpKind.Unmap:
                    Unmap(op);
                    break;
                case TraceOpKind.Sync:
                    Sync(op.Index);
                    break;
                default:
                    Dma(op);
                    break;
            }
        }
        catch (Exception ex) when (ex is InvalidOperationException or ArgumentException or NotSupportedException or TimeoutException)
        {
            throw new TraceException(op.Line, ex.Message);
        }
    }

    private void Unmap(in TraceOp op)
    {
        var domain = _domains[op.Index]!;
        Stats.Unmaps++;
        if (_policy.Strict)
        {
            var gather = _driver.RentGather();
            if (domain.TryUnmap(op.Iova, op.Size, gather, out _) is var status && status != MapStatus.Success)
            {
                domain.Sync(gather); // returns the (empty) gather to its pool
                Check(op, status, "unmap");
            }

            domain.Sync(gather);
            Stats.Syncs++;
            return;
        }

        if (_pending[op.Index] is null)
        {
            _pending[op.Index] = _driver.RentGather();
            _pendingCount++;
        }

        Check(op, domain.TryUnmap(op.Iova, op.Size, _pending[op.Index]!, out _), "unmap");
        if (++_unmapsSinceSync >= _policy.BatchSize)
        {
            SyncAll();
        }
    }

    private void Sync(int domain)
    {
        if (_pending[domain] is { } gather)
        {
            _pending[domain] = null;
            _pendingCount--;
            _domains[domain]!.Sync(gather);
            Stats.Syncs++;
        }
    }

    private void SyncAll()
    {
        for (int i = 0; i < _pending.Length && _pendingCount > 0; i++)
        {
            Sync(i);
        }

        _unmapsSinceSync = 0;
    }

    private void Dma(in TraceOp op)
    {
        var device = _trace.Devices[op.Index];
        var request = op.HasPasid
            ? new TranslationRequest(device.Id, op.Pasid, op.Iova, op.Access)
            : new TranslationRequest(device.Id, op.Iova, op.Access);
        long reads = _memory.Reads;
        TranslationResult result = _hardware[device.Instance].Translate(in request);
        reads = _memory.Reads - reads;
        Stats.CountDma(result, reads);

        // Only while unmaps wait for a sync can the IOTLB disagree with the table: check then (a software walk).
        if (result.Success && _pendingCount > 0)
        {
            int domain = op.HasPasid
                ? _pasidDomain.GetValueOrDefault((op.Index, op.Pasid), -1)
                : _groupDomain[device.Group];
            if (domain >= 0 && (!_domains[domain]!.TryIovaToPhys(op.Iova, out ulong pa) || pa != result.PhysicalAddress))
            {
                Stats.Stale++;
            }
        }
    }

    private static void Check(in TraceOp op, MapStatus status, string what)
    {
        if (status != MapStatus.Success)
        {
            throw new TraceException(op.Line, $"{what} of 0x{op.Iova:x} + 0x{op.Size:x} refused: {status}");
        }
    }
}
