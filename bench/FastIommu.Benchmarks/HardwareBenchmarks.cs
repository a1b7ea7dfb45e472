using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using BenchmarkDotNet.Attributes;
using FastIommu.Formats.RiscV;
using FastIommu.Hardware;
using FastIommu.Hardware.Caches;
using FastIommu.Memory;
using FastIommu.PageTables;

namespace FastIommu.Benchmarks;

/// <summary>
/// The hardware model's translation side, per translation (or per invalidation): an IOTLB hit, without and with a
/// process_id (PDT PD8, PC cached), served by the micro-TLB (the default) and with the micro-TLB off (the second
/// level: DC/PC caches and the 4-way IOTLB); an IOTLB miss
/// through a 3-level Sv39 walk (DC cached), with the IOTLB off and with it on (probe, walk, fill); a miss through a 3LVL DDT plus Sv48 with every cache off; two-stage
/// Sv48 over Sv48x4 (IOTLB off, 4 KiB G-stage leaves, so every first-stage PTE read is a 4-level G-stage walk);
/// IOTINVAL.VMA of one PSCID, whole or one address, with 100 000 entries of other PSCIDs cached.
/// Tables come from the page-table engine; the DDT and contexts are written as raw qwords.
/// Every case is in a category; a case with no C twin yet is the baseline of a category of its own (ratio 1.00), so
/// no ratio reads "?".
/// </summary>
public class HardwareBenchmarks
{
    private const ulong MemoryBase = 0x8000_0000;
    private const ulong MemorySize = 64UL << 20;
    private const ulong Ddt1 = MemoryBase;                  // 1LVL DDT: devices 1 (Sv39), 2 (two-stage), 3.. (PSCID fill)
    private const ulong Ddt3Root = MemoryBase + 0x1000;     // 3LVL DDT: root, L1, L0 pages
    private const uint Device3Lvl = (2u << 16) | (3u << 7) | 5;
    private const ulong Caps = 0x10UL | (1UL << 9) | (1UL << 10) | (1UL << 11) | (1UL << 15) | (1UL << 17) | (1UL << 18)
        | (1UL << 19) | (1UL << 24) | (1UL << 25) | (1UL << 26) | (1UL << 38) | (1UL << 39) | (1UL << 40);
    internal const int Pages = 1024;                         // IOVAs 0x4000_0000 + i x 4 KiB
    private const ulong IovaBase = 0x4000_0000;
    private const int FillDevices = 100;                    // x 1000 pages = 100 000 IOTLB entries of other PSCIDs
    private const int FillPages = 1000;
    private const uint PasidDevice = 120;                   // PDTV = 1, PD8 PDT at PdtPage; process 3 uses the Sv39 table
    private const uint Pasid = 3;
    private const ulong PdtPage = MemoryBase + 0x8000;

    private PhysicalMemory _memory = null!;
    private PageAllocator _allocator = null!;
    private PageTable<Sv39> _sv39 = null!;
    private PageTable<Sv48> _sv48 = null!;
    private PageTable<Sv48> _guestSv48 = null!;
    private PageTable<Sv48x4> _gStage = null!;
    private IommuTranslator _cached = null!;
    private IommuTranslator _noMicro = null!;
    private IommuTranslator _oneEntryMicro = null!;
    private IommuTranslator _noIotlb = null!;
    private IommuTranslator _oneSetIotlb = null!;
    private IommuTranslator _uncached3Lvl = null!;
    private IommuTranslator _big = null!;
    private TranslationRequest[] _sv39Requests = null!;
    private TranslationRequest[] _pasidRequests = null!;
    private TranslationRequest[] _sv48Requests = null!;
    private TranslationRequest[] _twoStageRequests = null!;
    private uint[] _indices = null!;
    private nint _cSv39;
    private nint _cHw;
    private nint _cHwMiss;
    private nint _cHwMissOneSet;

    private void Q(ulong pa, ulong value) => _memory.Qword(pa) = value;

    private void Dc(ulong dcPa, ulong tc, ulong iohgatp, ulong pscid, ulong fsc)
    {
        Q(dcPa, tc);
        Q(dcPa + 8, iohgatp);
        Q(dcPa + 16, pscid << 12);
        Q(dcPa + 24, fsc);
    }

    [GlobalSetup]
    public void Setup()
    {
        _memory = PhysicalMemory.Allocate(MemorySize, MemoryBase);
        _allocator = new PageAllocator(_memory, MemoryBase + 0x10_0000, MemorySize - 0x10_0000);
        _sv39 = new PageTable<Sv39>(_allocator);
        _sv48 = new PageTable<Sv48>(_allocator);
        _guestSv48 = new PageTable<Sv48>(_allocator);
        _gStage = new PageTable<Sv48x4>(_allocator);
        var prot = PageProtection.Read | PageProtection.Write | PageProtection.User;
        for (int i = 0; i < Pages; i++)
        {
            ulong iova = IovaBase + ((ulong)i << 12);
            _sv39.Map(iova, 0x40_0000_0000 + ((ulong)i << 12), 4096, prot);
            _sv48.Map(iova, 0x40_0000_0000 + ((ulong)i << 12), 4096, prot);
            _guestSv48.Map(iova, 0x1_0000_0000 + ((ulong)i << 12), 4096, prot);
            _gStage.Map(0x1_0000_0000 + ((ulong)i << 12), 0x40_0000_0000 + ((ulong)i << 12), 4096, PageProtection.Read | PageProtection.Write);
        }

        // The G-stage maps the memory that holds the guest's first-stage table at GPA = SPA, in 4 KiB pages.
        for (ulong pa = MemoryBase; pa < MemoryBase + (16UL << 20); pa += 4096)
        {
            _gStage.Map(pa, pa, 4096, PageProtection.Read | PageProtection.Write);
        }

        Dc(Ddt1 + 1 * 32, 1, 0, 1, (8UL << 60) | (_sv39.RootAddress >> 12));
        Dc(Ddt1 + 2 * 32, 1, (9UL << 60) | (1UL << 44) | (_gStage.RootAddress >> 12), 1, (9UL << 60) | (_guestSv48.RootAddress >> 12));
        for (int d = 0; d < FillDevices; d++)
        {
            Dc(Ddt1 + (ulong)(3 + d) * 32, 1, 0, 1000 + (ulong)d, (8UL << 60) | (_sv39.RootAddress >> 12));
        }

        // The PASID device: tc V | PDTV, fsc = pdtp PD8; PC of process 3: ta V | PSCID 9, fsc Sv39.
        Dc(Ddt1 + PasidDevice * 32, 1 | (1UL << 5), 0, 0, (1UL << 60) | (PdtPage >> 12));
        Q(PdtPage + Pasid * 16, 1 | (9UL << 12));
        Q(PdtPage + Pasid * 16 + 8, (8UL << 60) | (_sv39.RootAddress >> 12));

        // 3LVL: DDI[2] = 2 -> L1 page, DDI[1] = 3 -> L0 page, DDI[0] = 5 -> DC.
        Q(Ddt3Root + 2 * 8, ((Ddt3Root + 0x1000) >> 12 << 10) | 1);
        Q(Ddt3Root + 0x1000 + 3 * 8, ((Ddt3Root + 0x2000) >> 12 << 10) | 1);
        Dc(Ddt3Root + 0x2000 + 5 * 32, 1, 0, 2, (9UL << 60) | (_sv48.RootAddress >> 12));

        var caps = new Capabilities(Caps);
        var ddtp1 = new Ddtp((Ddt1 >> 12 << 10) | 2);
        _cached = new IommuTranslator(_memory, caps) { Ddtp = ddtp1 };
        _noMicro = new IommuTranslator(_memory, caps, new TranslatorCacheOptions { MicroTlbEntries = 0 }) { Ddtp = ddtp1 };
        _oneEntryMicro = new IommuTranslator(_memory, caps, new TranslatorCacheOptions { MicroTlbEntries = 1 }) { Ddtp = ddtp1 };
        var noIotlbOptions = new TranslatorCacheOptions { IotlbEntries = 0 };
        _noIotlb = new IommuTranslator(_memory, caps, noIotlbOptions) { Ddtp = ddtp1 };
        // One IOTLB set (4 ways) for 1024 pages: nearly every request misses; the micro-TLB off, since it would keep
        // the copies of the rare hits and serve them.
        _oneSetIotlb = new IommuTranslator(_memory, caps, new TranslatorCacheOptions { IotlbEntries = 4, MicroTlbEntries = 0 }) { Ddtp = ddtp1 };
        _uncached3Lvl = new IommuTranslator(_memory, caps, TranslatorCacheOptions.Uncached) { Ddtp = new Ddtp((Ddt3Root >> 12 << 10) | 4) };
        _big = new IommuTranslator(_memory, caps, new TranslatorCacheOptions { IotlbEntries = 1 << 18, AddressSpaces = 4096 }) { Ddtp = ddtp1 };

        _sv39Requests = new TranslationRequest[Pages];
        _pasidRequests = new TranslationRequest[Pages];
        _sv48Requests = new TranslationRequest[Pages];
        _twoStageRequests = new TranslationRequest[Pages];
        _indices = new uint[Pages];
        var rng = new Random(7);
        for (int i = 0; i < Pages; i++)
        {
            _indices[i] = (uint)rng.Next(Pages);
            ulong iova = IovaBase + ((ulong)_indices[i] << 12) + 0x10;
            _sv39Requests[i] = new TranslationRequest(1, iova, AccessType.Read);
            _pasidRequests[i] = new TranslationRequest(PasidDevice, Pasid, iova, AccessType.Read);
            _sv48Requests[i] = new TranslationRequest(Device3Lvl, iova, AccessType.Read);
            _twoStageRequests[i] = new TranslationRequest(2, iova, AccessType.Read);
        }

        // Check every scenario translates as the engine says, and warm the IOTLB.
        for (int i = 0; i < Pages; i++)
        {
            ulong iova = _sv39Requests[i].Iova;
            Check(_cached.Translate(in _sv39Requests[i]), _sv39.IovaToPhys(iova), "cached Sv39");
            Check(_cached.Translate(in _pasidRequests[i]), _sv39.IovaToPhys(iova), "cached Sv39 with process_id");
            Check(_noMicro.Translate(in _sv39Requests[i]), _sv39.IovaToPhys(iova), "cached Sv39, micro-TLB off");
            Check(_oneEntryMicro.Translate(in _sv39Requests[i]), _sv39.IovaToPhys(iova), "cached Sv39, one micro-TLB entry");
            Check(_noMicro.Translate(in _pasidRequests[i]), _sv39.IovaToPhys(iova), "cached Sv39 with process_id, micro-TLB off");
            Check(_noIotlb.Translate(in _sv39Requests[i]), _sv39.IovaToPhys(iova), "Sv39 walk");
            Check(_oneSetIotlb.Translate(in _sv39Requests[i]), _sv39.IovaToPhys(iova), "Sv39 walk, one-set IOTLB");
            Check(_uncached3Lvl.Translate(in _sv48Requests[i]), _sv48.IovaToPhys(iova), "3LVL + Sv48");
            Check(_noIotlb.Translate(in _twoStageRequests[i]), _gStage.IovaToPhys(_guestSv48.IovaToPhys(iova)), "Sv48 over Sv48x4");
        }

        for (int d = 0; d < FillDevices; d++)
        {
            for (int i = 0; i < FillPages; i++)
            {
                var request = new TranslationRequest((uint)(3 + d), IovaBase + ((ulong)i << 12), AccessType.Read);
                _big.Translate(in request);
            }
        }

        // The C twins: the IOTLB-hit path over the same layouts, a validated Sv39 walk of the same pages, and the
        // IOTLB-miss path over this very memory.
        _cSv39 = CBaseline.Create(0, 1UL << 20, 0x1000_0000);
        for (int i = 0; i < Pages; i++)
        {
            int status = CBaseline.Map(_cSv39, IovaBase + ((ulong)i << 12), 0x40_0000_0000 + ((ulong)i << 12), 4096, 1 | 2 | 8, 0);
            if (status != 0)
            {
                throw new InvalidOperationException($"C map: status {status}");
            }
        }

        _cHw = CBaseline.HwCreate(IovaBase, 0x40_0000_0000, _indices, Pages);
        if (_cHw == 0 || IotlbHit_C() != IotlbHit() || IotlbHitProcessId_C() != IotlbHitProcessId()
            || SecondLevelHit_C() != SecondLevelHit() || SecondLevelHitProcessId_C() != SecondLevelHitProcessId())
        {
            throw new InvalidOperationException("C twin of the IOTLB hit: a different sum of PAs.");
        }

        if (Sv39Walk_C() == CBaseline.Failed)
        {
            throw new InvalidOperationException("C Sv39 walk failed.");
        }

        // The twin of the IOTLB miss walks this memory's own tables, with device 1's DC (the qwords the model's DDT
        // walk read) in its DDT cache and the very bytes of the C# requests.
        if (CBaseline.HwMissLayout(0) != (ulong)Unsafe.SizeOf<TranslationRequest>()
            || CBaseline.HwMissLayout(1) != (ulong)Unsafe.SizeOf<TranslationResult>()
            || CBaseline.HwMissLayout(2) != (ulong)Unsafe.SizeOf<DeviceContextInfo>())
        {
            throw new InvalidOperationException("C twin of the IOTLB miss: request, result or DC layout differs from C#.");
        }

        ulong dc1 = Ddt1 + 1 * 32;
        _cHwMiss = CBaseline.HwMissCreate(_memory.HostPointer, MemoryBase, MemorySize, ddtp1.Value, Caps, (uint)noIotlbOptions.DeviceContextEntries);
        if (_cHwMiss == 0
            || CBaseline.HwMissPutDc(_cHwMiss, 1, _memory.Qword(dc1), _memory.Qword(dc1 + 8), _memory.Qword(dc1 + 16), _memory.Qword(dc1 + 24)) != 0
            || CBaseline.HwMissSetRequests(_cHwMiss, MemoryMarshal.AsBytes(_sv39Requests.AsSpan()).ToArray(), Pages) != 0
            || Sv39WalkTwin_C() != Sv39Walk())
        {
            throw new InvalidOperationException("C twin of the IOTLB miss: a different sum of PAs.");
        }

        // Its twin with the one-set IOTLB of _oneSetIotlb (hw_caches.h: the same set, probe, hint and fill), warmed by
        // one pass as the model was.
        _cHwMissOneSet = CBaseline.HwMissCreate(_memory.HostPointer, MemoryBase, MemorySize, ddtp1.Value, Caps, (uint)noIotlbOptions.DeviceContextEntries);
        if (_cHwMissOneSet == 0
            || CBaseline.HwMissEnableCaches(_cHwMissOneSet, 4, 0, (uint)TranslatorCacheOptions.Default.AddressSpaces) != 0
            || CBaseline.HwMissPutDc(_cHwMissOneSet, 1, _memory.Qword(dc1), _memory.Qword(dc1 + 8), _memory.Qword(dc1 + 16), _memory.Qword(dc1 + 24)) != 0
            || CBaseline.HwMissSetRequests(_cHwMissOneSet, MemoryMarshal.AsBytes(_sv39Requests.AsSpan()).ToArray(), Pages) != 0
            || Sv39WalkIotlbOnTwin_C() != Sv39Walk())
        {
            throw new InvalidOperationException("C twin of the one-set IOTLB miss: a different sum of PAs.");
        }

        var target = new TranslationRequest(1, IovaBase, AccessType.Read);
        _big.Translate(in target);
        Console.WriteLine($"// IOTLB for the invalidation cases holds {_big.IotlbOccupancy} entries");
    }

    private static void Check(TranslationResult r, ulong expected, string what)
    {
        if (!r.Success || r.PhysicalAddress != expected)
        {
            throw new InvalidOperationException($"{what}: model {r}, engine 0x{expected:x}.");
        }
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _sv39.Dispose();
        _sv48.Dispose();
        _guestSv48.Dispose();
        _gStage.Dispose();
        _memory.Dispose();
        CBaseline.Destroy(_cSv39);
        CBaseline.HwDestroy(_cHw);
        CBaseline.HwMissDestroy(_cHwMiss);
        CBaseline.HwMissDestroy(_cHwMissOneSet);
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

    [Benchmark(OperationsPerInvoke = Pages, Description = "IOTLB hit (Sv39, micro-TLB)"), BenchmarkCategory("IOTLB hit")]
    public ulong IotlbHit() => Run(_cached, _sv39Requests);

    /// <summary>C doing the same micro-TLB probe, epoch reads and result (bench/c-baseline/hw_twin.c).</summary>
    [Benchmark(Baseline = true, OperationsPerInvoke = Pages, Description = "C twin: IOTLB hit (micro-TLB)"), BenchmarkCategory("IOTLB hit")]
    public ulong IotlbHit_C() => CBaseline.BenchMicroHit(_cHw, 1);

    [Benchmark(OperationsPerInvoke = Pages, Description = "IOTLB hit with process_id (PD8, micro-TLB)"), BenchmarkCategory("IOTLB hit, process_id")]
    public ulong IotlbHitProcessId() => Run(_cached, _pasidRequests);

    [Benchmark(Baseline = true, OperationsPerInvoke = Pages, Description = "C twin: IOTLB hit with process_id (micro-TLB)"), BenchmarkCategory("IOTLB hit, process_id")]
    public ulong IotlbHitProcessId_C() => CBaseline.BenchMicroHitProcessId(_cHw, 1);

    /// <summary>The micro-TLB's worst case: a one-entry micro-TLB and random pages, so nearly every lookup misses it,
    /// hits the second level and copies the hit back. Compare with the second level alone.</summary>
    [Benchmark(OperationsPerInvoke = Pages, Description = "IOTLB hit, one-entry micro-TLB (misses it, copies back)"), BenchmarkCategory("IOTLB hit, second level")]
    public ulong MicroMissSecondLevelHit() => Run(_oneEntryMicro, _sv39Requests);

    [Benchmark(OperationsPerInvoke = Pages, Description = "IOTLB hit, micro-TLB off (DC cached, 4-way IOTLB)"), BenchmarkCategory("IOTLB hit, second level")]
    public ulong SecondLevelHit() => Run(_noMicro, _sv39Requests);

    /// <summary>C doing the same DC probe, generation reads, IOTLB probe and result (bench/c-baseline/hw_twin.c).</summary>
    [Benchmark(Baseline = true, OperationsPerInvoke = Pages, Description = "C twin: IOTLB hit, micro-TLB off"), BenchmarkCategory("IOTLB hit, second level")]
    public ulong SecondLevelHit_C() => CBaseline.BenchIotlbHit(_cHw, 1);

    [Benchmark(OperationsPerInvoke = Pages, Description = "IOTLB hit with process_id, micro-TLB off (DC and PC cached)"), BenchmarkCategory("IOTLB hit, second level, process_id")]
    public ulong SecondLevelHitProcessId() => Run(_noMicro, _pasidRequests);

    /// <summary>The C twin's second level with a process_id: DC, PC under its sequence and DC stamp, then the same probe.</summary>
    [Benchmark(Baseline = true, OperationsPerInvoke = Pages, Description = "C twin: IOTLB hit with process_id, micro-TLB off"), BenchmarkCategory("IOTLB hit, second level, process_id")]
    public ulong SecondLevelHitProcessId_C() => CBaseline.BenchIotlbHitProcessId(_cHw, 1);

    [Benchmark(OperationsPerInvoke = Pages, Description = "IOTLB miss: 3-level Sv39 walk, DC cached"), BenchmarkCategory("Sv39 walk")]
    public ulong Sv39Walk() => Run(_noIotlb, _sv39Requests);

    /// <summary>A miss as it comes with the IOTLB on: the second level's probe (DC hit slot, the slot's epochs, one
    /// IOTLB set), then the walk and the fill, which evicts a way of the one set.</summary>
    [Benchmark(OperationsPerInvoke = Pages, Description = "IOTLB miss with the IOTLB on: probe, 3-level Sv39 walk, fill (one 4-way set)"), BenchmarkCategory("Sv39 walk, IOTLB on")]
    public ulong Sv39WalkIotlbOn() => Run(_oneSetIotlb, _sv39Requests);

    /// <summary>C doing the same with the same one-set IOTLB (bench/c-baseline/hw_miss_twin.c with hw_caches.h).</summary>
    [Benchmark(Baseline = true, OperationsPerInvoke = Pages, Description = "C twin: IOTLB miss with the IOTLB on (one 4-way set)"), BenchmarkCategory("Sv39 walk, IOTLB on")]
    public ulong Sv39WalkIotlbOnTwin_C() => CBaseline.BenchHwMiss(_cHwMissOneSet, 1);

    /// <summary>C doing the same steps over the same memory, DC-cache entry, requests and results: the fast-path
    /// prologue, steps 1 to 10 with the DC copied under its seqlock, and the Sv39 walk with every per-PTE check
    /// (bench/c-baseline/hw_miss_twin.c).</summary>
    [Benchmark(Baseline = true, OperationsPerInvoke = Pages, Description = "C twin: IOTLB miss (DC cached, full checks)"), BenchmarkCategory("Sv39 walk")]
    public ulong Sv39WalkTwin_C() => CBaseline.BenchHwMiss(_cHwMiss, 1);

    /// <summary>The C baseline's validated Sv39 walk of the same pages (its own copy of the tables; no DC lookup, no
    /// request/result structs, none of the spec's per-PTE checks): a floor, not a like-for-like baseline.</summary>
    [Benchmark(OperationsPerInvoke = Pages, Description = "C: validated Sv39 walk only (no DC, no checks)"), BenchmarkCategory("Sv39 walk")]
    public ulong Sv39Walk_C() => CBaseline.BenchTranslateIndexed(_cSv39, IovaBase, _indices, Pages, 1);

    [Benchmark(Baseline = true, OperationsPerInvoke = Pages, Description = "all caches off: 3LVL DDT + Sv48 walk"), BenchmarkCategory("3LVL DDT + Sv48, uncached")]
    public ulong Ddt3LvlSv48Walk() => Run(_uncached3Lvl, _sv48Requests);

    [Benchmark(Baseline = true, OperationsPerInvoke = Pages, Description = "IOTLB miss: Sv48 over Sv48x4 (4 KiB G-stage)"), BenchmarkCategory("Two-stage walk")]
    public ulong TwoStageWalk() => Run(_noIotlb, _twoStageRequests);

    [Benchmark(Baseline = true, Description = "IOTINVAL.VMA PSCID (AV=0), 100k entries of other PSCIDs cached"), BenchmarkCategory("IOTINVAL.VMA PSCID")]
    public void InvalidatePscid() => _big.InvalidateVma(false, 0, true, 1, false, 0);

    [Benchmark(Baseline = true, Description = "IOTINVAL.VMA PSCID + ADDR, 100k entries of other PSCIDs cached"), BenchmarkCategory("IOTINVAL.VMA PSCID + ADDR")]
    public void InvalidatePscidAddress() => _big.InvalidateVma(false, 0, true, 1, true, IovaBase);
}
