using FastIommu.Formats.RiscV;
using FastIommu.Hardware.Caches;
using FastIommu.Memory;

namespace FastIommu.Hardware;

/// <summary>
/// The translation side of a RISC-V IOMMU v1.0: "Process to translate an IOVA" (iommu_data_structures.adoc)
/// over physical memory, with an IOTLB and DDT/PDT caches that keep entries until invalidated, as hardware may.
/// It sees only memory (through <see cref="IMemoryAccess"/>) and the register values the device gives it.
/// </summary>
/// <remarks>
/// <para>Thread safety: <see cref="Translate(in TranslationRequest)"/> may run on any number of threads while other threads call the
/// Invalidate methods and set the registers. A translation that began before an invalidation returned may use
/// (and return) what it read before; once an Invalidate method has returned, no translation that starts later
/// returns anything that invalidation removed, and no translation still in flight can put it back in a cache.
/// Once <see cref="Fence"/> has returned, no translation that began before it is still reading table memory.</para>
/// <para><see cref="Translate(in TranslationRequest)"/> allocates nothing. Caches never observe memory writes by themselves: a PTE, DC or
/// PC changed without the matching IOTINVAL / IODIR may keep translating the old way.</para>
/// </remarks>
[System.Runtime.CompilerServices.SkipLocalsInit]
public sealed class IommuTranslator
{
    private readonly TranslatorEngine _engine;

    /// <summary>A translator over FastIommu's own physical memory (the fast path).</summary>
    public IommuTranslator(PhysicalMemory memory, Capabilities capabilities, TranslatorCacheOptions? options = null)
        : this(TranslatorEngine.Create(new PhysicalMemoryAccess(memory), capabilities, options))
    {
    }

    /// <summary>A translator over any memory. A <see cref="PhysicalMemoryAccess"/> gets the specialised fast path;
    /// other implementations are called through the interface (use <see cref="Create{TMemory}"/> with a struct to
    /// have them specialised too).</summary>
    public IommuTranslator(IMemoryAccess memory, Capabilities capabilities, TranslatorCacheOptions? options = null)
        : this(memory is PhysicalMemoryAccess fast
            ? TranslatorEngine.Create(fast, capabilities, options)
            : TranslatorEngine.Create(new InterfaceMemoryAccess(memory), capabilities, options))
    {
    }

    private IommuTranslator(TranslatorEngine engine)
    {
        _engine = engine;
        _fast = engine as TranslatorEngine<PhysicalMemoryAccess, NotCounting>;
    }

    // The engine again when it is the PhysicalMemory one that does not count: a direct (devirtualised) call on the
    // hot path.
    private readonly TranslatorEngine<PhysicalMemoryAccess, NotCounting>? _fast;

    /// <summary>A translator whose walkers are specialised for the struct memory type <typeparamref name="TMemory"/>.</summary>
    public static IommuTranslator Create<TMemory>(TMemory memory, Capabilities capabilities, TranslatorCacheOptions? options = null)
        where TMemory : struct, IMemoryAccess =>
        new(TranslatorEngine.Create(memory, capabilities, options));

    /// <summary>The capabilities register the translator honours (fixed at construction).</summary>
    public Capabilities Capabilities => new(_engine.Caps);

    /// <summary>The ddtp register as the device holds it. Caches are not flushed when it changes (software follows
    /// a ddtp write with IODIR.INVAL_DDT, as the spec asks).</summary>
    public Ddtp Ddtp
    {
        get => new(Volatile.Read(ref _engine.DdtpValue));
        set => _engine.SetDdtp(value.Value);
    }

    /// <summary>The fctl register (BE, WSI, GXL) as the device holds it.</summary>
    public Fctl Fctl
    {
        get => new(Volatile.Read(ref _engine.FctlValue));
        set => Volatile.Write(ref _engine.FctlValue, value.Value);
    }

    /// <summary>Translates one inbound transaction. Thread-safe, allocation-free.</summary>
    public TranslationResult Translate(in TranslationRequest request) =>
        _fast is { } fast ? fast.Translate(in request) : _engine.Translate(in request);

    /// <summary>Translates <paramref name="requests"/> in order into <paramref name="results"/> (as many), each
    /// exactly as <see cref="Translate(in TranslationRequest)"/> would, and faster at working sets the CPU's caches do
    /// not hold: the leaf PTE of a request a few places ahead is prefetched, so the memory latency of several walks
    /// overlaps (see docs/hardware-model.md, "Batches"). Thread-safe, allocation-free.</summary>
    /// <exception cref="ArgumentException"><paramref name="results"/> is shorter than <paramref name="requests"/>
    /// (nothing is translated).</exception>
    public void Translate(ReadOnlySpan<TranslationRequest> requests, Span<TranslationResult> results)
    {
        if (results.Length < requests.Length)
        {
            throw new ArgumentException($"results has {results.Length} elements for {requests.Length} requests.", nameof(results));
        }

        if (_fast is { } fast)
        {
            fast.TranslateBatch(requests, results);
        }
        else
        {
            _engine.TranslateBatch(requests, results);
        }
    }

    /// <summary>A batch's prefetch of <paramref name="request"/>'s leaf PTE, for callers that run their own batch loop
    /// (the C API's translate_batch); translator over other memories, or counting hits, prefetch nothing here.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    internal void Prefetch(in TranslationRequest request, ref PrefetchPlan plan) => _fast?.Prefetch(in request, ref plan);

    /// <summary>IOTINVAL.VMA with the given operands (spec table "IOTINVAL.VMA operands and operations").</summary>
    public void InvalidateVma(bool gv, ushort gscid, bool pscv, uint pscid, bool av, ulong address) =>
        _engine.InvalidateVma(gv, gscid, pscv, pscid, av, address);

    /// <summary>IOTINVAL.GVMA with the given operands. Cached translations are combined (IOVA to SPA) and not tagged
    /// with their GPA, so an address-selective GVMA flushes every entry of the GSCID, as the spec's note allows.</summary>
    public void InvalidateGvma(bool gv, ushort gscid, bool av, ulong address) => _engine.InvalidateGvma(gv, gscid, av, address);

    /// <summary>IODIR.INVAL_DDT: DV=0 flushes every cached DC and PC; DV=1 the DC of <paramref name="deviceId"/> and its PCs.</summary>
    public void InvalidateDdt(bool dv, uint deviceId) => _engine.InvalidateDdt(dv, deviceId);

    /// <summary>IODIR.INVAL_PDT: the cached PC of (<paramref name="deviceId"/>, <paramref name="processId"/>).</summary>
    public void InvalidatePdt(uint deviceId, uint processId) => _engine.InvalidatePdt(deviceId, processId);

    /// <summary>Flushes every cache.</summary>
    public void InvalidateAll() => _engine.InvalidateAll();

    /// <summary>The translator's part of IOFENCE.C: returns once every translation that was walking memory (reading
    /// a directory or a page table) when it was called has finished. The <c>Invalidate*</c> methods do not wait; call
    /// this after them before freeing or reusing a table page they unlinked, as a driver waits for IOFENCE.C.
    /// Translations that start later cannot reach what the invalidations removed, and cache hits read no table.
    /// A call from a thread that is itself in a walk of this translator (from an <see cref="IMemoryAccess"/>
    /// callback) does not wait for that walk. An <see cref="IMemoryAccess"/> must not block on anything held by the
    /// thread that fences (the device lock, for <see cref="RiscVIommu"/>): the fence would wait for it forever.</summary>
    public void Fence() => _engine.Fence();

    /// <summary>Non-empty IOTLB entries (live or stale); for tests and statistics.</summary>
    public int IotlbOccupancy => _engine.Tlb?.CountOccupied() ?? 0;

    /// <summary>What each cache level served since the translator was made or <see cref="ResetCacheStatistics"/>
    /// (all zero unless <see cref="TranslatorCacheOptions.CountHits"/> was set). Exact once translating threads have
    /// stopped; see <see cref="TranslationCacheStatistics"/> for what each counter counts.</summary>
    public TranslationCacheStatistics CacheStatistics => _engine.Counters?.Snapshot() ?? default;

    /// <summary>Zeroes the counters of <see cref="CacheStatistics"/> (call it while no thread translates).</summary>
    public void ResetCacheStatistics() => _engine.Counters?.Reset();
}

/// <summary>The state and invalidation logic shared by every memory type; <see cref="TranslatorEngine{TMemory, TCount}"/>
/// holds the walkers.</summary>
internal abstract class TranslatorEngine
{
    public ulong DdtpValue;

    /// <summary>The IOTLB-hit path serves device_ids below this: 2^7 (2^6 with MSI_FLAT), 2^16 (2^15), 2^24 for
    /// 1LVL, 2LVL, 3LVL (step 5 of the translation process); 0 when ddtp is Off or Bare. Set with ddtp.</summary>
    public uint HitDeviceLimit;

    public uint FctlValue;
    public readonly ulong Caps;
    public readonly Iotlb? Tlb;
    /// <summary>The IOTLB's first level; null when it or the IOTLB is off.</summary>
    public readonly MicroTlb? Micro;
    public readonly DirectoryCaches Dir;
    public readonly AddressSpaceTable Spaces;

    /// <summary>The hit counters; null unless <see cref="TranslatorCacheOptions.CountHits"/> (then the hot paths
    /// test this field and count nothing).</summary>
    public readonly CacheCounters? Counters;

    /// <summary>The walks in flight, which <see cref="Fence"/> waits for.</summary>
    public readonly WalksInFlight Walks = new();

    /// <summary>Moved by every <see cref="Fence"/> before it waits: a walk that writes nothing (the first-stage
    /// shortcut without SADE) reads it before and after its table reads instead of marking itself in flight, and
    /// walks again, marked, when it moved (see <c>TranslateFirstStage</c>).</summary>
    public long FenceEpoch;

    protected TranslatorEngine(Capabilities capabilities, TranslatorCacheOptions? options)
    {
        options ??= TranslatorCacheOptions.Default;
        options.Validate();
        Caps = capabilities.Value;
        Tlb = options.IotlbEntries == 0 ? null : new Iotlb(options.IotlbEntries);
        Dir = new DirectoryCaches(options.DeviceContextEntries, options.ProcessContextEntries);
        Spaces = new AddressSpaceTable(options.AddressSpaces);
        Micro = Tlb is null || options.MicroTlbEntries == 0 ? null : new MicroTlb(options.MicroTlbEntries, Spaces);
        Counters = options.CountHits ? new CacheCounters() : null;
    }

    public abstract TranslationResult Translate(in TranslationRequest request);

    /// <summary>How many requests ahead a batch prefetches. At 1 GiB of random 4 KiB pages, 2, 4 and 16 measured the
    /// same (one translation is 30 to 50 ns, so even 2 ahead covers the memory's latency).</summary>
    public const int PrefetchDistance = 4;

    /// <summary>The batch <c>IommuTranslator.Translate</c> (the caller checked the lengths).</summary>
    public abstract void TranslateBatch(ReadOnlySpan<TranslationRequest> requests, Span<TranslationResult> results);

    /// <summary>The engine for <paramref name="memory"/>: one that counts cache hits when the options ask for it.</summary>
    public static TranslatorEngine Create<TMemory>(TMemory memory, Capabilities capabilities, TranslatorCacheOptions? options)
        where TMemory : struct, IMemoryAccess =>
        options?.CountHits == true
            ? new TranslatorEngine<TMemory, Counting>(memory, capabilities, options)
            : new TranslatorEngine<TMemory, NotCounting>(memory, capabilities, options);

    /// <summary>ddtp as the device writes it, and the device_id limit of the IOTLB-hit path that follows from it.
    /// A translation racing the write may use either value, as one that began before the write.</summary>
    public void SetDdtp(ulong value)
    {
        Volatile.Write(ref DdtpValue, value);
        // Steps 3 to 5: DDI[0] is device_id[5:0] with the extended DC format (MSI_FLAT), [6:0] with the base one.
        int ddi0Bits = (Caps & (1UL << SpecBits.CapMsiFlat)) != 0 ? 6 : 7;
        uint limit = (uint)(value & Ddtp.IommuModeMask) switch
        {
            SpecBits.Ddtp1Lvl => 1u << ddi0Bits,
            SpecBits.Ddtp2Lvl => 1u << (ddi0Bits + 9),
            SpecBits.Ddtp3Lvl => 1u << 24,
            _ => 0,
        };
        Volatile.Write(ref HitDeviceLimit, limit);
    }

    private struct AddressInvalidation
    {
        public Iotlb Tlb;
        public AddressSpaceTable Spaces;
        public ulong Address;
    }

    public void InvalidateVma(bool gv, ushort gscid, bool pscv, uint pscid, bool av, ulong address)
    {
        int gscIndex = AddressSpaceTable.GscIndexOf(gv, gscid);
        if (!av)
        {
            if (pscv)
            {
                // GV=*, AV=0, PSCV=1: the non-global entries of one address space.
                Spaces.BumpNonGlobal(AddressSpaceTable.MakeKey(gv, gscid, true, pscid));
            }
            else
            {
                // GV=*, AV=0, PSCV=0: every entry, global ones too, of every space of the host / of GSCID.
                Spaces.BumpGsc(gscIndex);
            }

            return;
        }

        if (Tlb is null)
        {
            return;
        }

        Tlb.NoteInvalidation();
        // The micro-TLB is not searched by address: each space the command covers drops all its micro-TLB entries,
        // after their IOTLB entries are gone.
        var state = new AddressInvalidation { Tlb = Tlb, Spaces = Spaces, Address = address };
        if (pscv)
        {
            // AV=1, PSCV=1: leaf entries for ADDR in one space, except global ones.
            Spaces.ForSpace(AddressSpaceTable.MakeKey(gv, gscid, true, pscid), ref state,
                static (ref AddressInvalidation s, int slot) =>
                {
                    s.Tlb.InvalidateAddress(slot, s.Address, includeGlobal: false);
                    s.Spaces.DropSplintered(slot, includeGlobal: false);
                    s.Spaces.BumpMicro(slot);
                });
        }
        else
        {
            // AV=1, PSCV=0: leaf entries for ADDR in every space of the host / of GSCID, global ones too.
            Spaces.ForEachSpaceOf(gscIndex, ref state,
                static (ref AddressInvalidation s, int slot) =>
                {
                    s.Tlb.InvalidateAddress(slot, s.Address, includeGlobal: true);
                    s.Spaces.DropSplintered(slot, includeGlobal: true);
                    s.Spaces.BumpMicro(slot);
                });
        }
    }

    public void InvalidateGvma(bool gv, ushort gscid, bool av, ulong address)
    {
        _ = av;
        _ = address;
        if (gv)
        {
            Spaces.BumpGsc(gscid);
        }
        else
        {
            Spaces.BumpAllGuests();
        }
    }

    public void InvalidateDdt(bool dv, uint deviceId)
    {
        if (dv)
        {
            Dir.InvalidateDevice(deviceId);
        }
        else
        {
            Dir.InvalidateAllDevices();
        }

        // After the contexts are gone: micro-TLB entries copied through them die (they carry no device context).
        Micro?.NoteContextInvalidation();
    }

    public void InvalidatePdt(uint deviceId, uint processId)
    {
        Dir.InvalidateProcess(deviceId, processId);
        Micro?.NoteContextInvalidation();
    }

    /// <summary>IOFENCE.C's wait: when it returns, every walk in flight when it was called has ended (a marked walk)
    /// or will discard what it read and walk again (a validated one: the epoch moved under it).</summary>
    public void Fence()
    {
        // A locked increment: also the full fence WaitForWalks needs between the invalidations and its reads.
        Interlocked.Increment(ref FenceEpoch);
        Walks.WaitForWalks();
    }

    public void InvalidateAll()
    {
        Dir.InvalidateAllDevices();
        Spaces.BumpAllGuests(includeHost: true);
        Micro?.NoteContextInvalidation();
    }
}
