using System.Runtime.CompilerServices;
using FastIommu.Diagnostics;
using FastIommu.Formats.RiscV;
using FastIommu.Hardware.Caches;
using static FastIommu.Hardware.SpecBits;

namespace FastIommu.Hardware;

/// <summary>Marks a stage as Bare for the generic walkers (Levels = 0 folds the stage away).</summary>
internal struct BareStage : IPagingMode
{
    public static string Name => "Bare";
    public static int Levels => 0;
    public static int AddressBits => 64;
    public static bool IsGStage => false;
    public static byte ModeEncoding => 0;
}

/// <summary>The translator specialised for one memory type: "Process to translate an IOVA", steps 1 to 20.
/// <typeparamref name="TCount"/>: whether it counts cache hits (<see cref="TranslatorCacheOptions.CountHits"/>), a
/// type so that the engine that does not count has no trace of it on its hot paths.</summary>
/// <remarks>SkipLocalsInit: the hot method's frame holds a walk state and two context copies that are always
/// written before they are read; zeroing them on every call would cost more than an IOTLB lookup.</remarks>
[SkipLocalsInit]
internal sealed partial class TranslatorEngine<TMemory, TCount> : TranslatorEngine
    where TMemory : struct, IMemoryAccess
    where TCount : struct, ICountPolicy
{
    private readonly TMemory _memory;

    public TranslatorEngine(TMemory memory, Capabilities capabilities, TranslatorCacheOptions? options)
        : base(capabilities, options) => _memory = memory;

    /// <summary>The state of one translation through both stages.</summary>
    private struct Walk
    {
        public ulong Iova;
        public AccessType Access;
        public bool Supervisor;
        public bool Sum;
        public bool Sade;
        public bool Gade;
        public bool Ats;
        public bool Svpbmt;
        public ulong FsRoot;
        public ulong GsRoot;
        public ulong Msiptp;      // 0 (Off) unless an extended-format DC enables MSI translation
        public ulong MsiMask;
        public ulong MsiPattern;
        public bool NoCache;     // an MSI translation: never put in the IOTLB

        public ulong Gpa;
        public ulong Pa;
        public int FsShift;
        public int GsShift;
        public uint FsPerms;      // leaf R W X as bits 0..2
        public uint FsEffective;  // after the U / SUM rules (what an ATS completion grants)
        public uint GsPerms;
        public bool FsUser;
        public bool FsGlobal;
        public bool FsDirty;
        public bool GsDirty;
        public ulong FsLeaf;      // the first-stage leaf PTE as the walk used it (A/D included)
        public uint FsPbmt;       // leaf PBMT of each stage (0 = PMA; a Bare stage gives 0)
        public uint GsPbmt;

        public FaultCause Cause;
        public ulong Iotval2;
    }

    private const int ExplicitAccess = 0;
    private const int ImplicitRead = 1;   // iotval2 bit 0
    private const int ImplicitWrite = 3;  // iotval2 bits 0 and 1

    public override TranslationResult Translate(in TranslationRequest request)
    {
        // The common case first, in a small frame: an untranslated request whose translation the micro-TLB holds.
        if (!request.AtsTranslationRequest && !request.Translated)
        {
            // Without a process_id (the common requester), its own lookup: the page key, requester key and
            // permission rules of a request without one, folded.
            if (!request.ProcessIdValid)
            {
                if (TryMicroTlbHit(in request, processIdValid: false, out ulong hit))
                {
                    Count(CacheCounters.MicroTlbHit);
                    return MicroTlbHit(in request, hit);
                }

                // Then the common miss, straight to its own frame: through TranslateMiss, whose frame is sized for the
                // process_id path's inlined lookups, the in-cache second-level hit and 3-level miss each paid a second
                // large prologue and epilogue (BenchmarkDotNet: 14.5 and 20.6 ns before this call moved here).
                Count(CacheCounters.MicroTlbMiss);
                return TranslateMissWithoutProcessId(in request);
            }

            if (TryMicroTlbHit(in request, processIdValid: true, out ulong data))
            {
                Count(CacheCounters.MicroTlbHit);
                return MicroTlbHit(in request, data);
            }
        }

        return TranslateMiss(in request);
    }

    /// <summary>What <see cref="Translate"/> does not send to <see cref="TranslateMissWithoutProcessId"/>: a micro-TLB
    /// miss with a process_id (the second level through the DC, PC and IOTLB caches, else a walk), and ATS and
    /// translated requests (a walk). Out of line, so that the first level's frame stays small.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private TranslationResult TranslateMiss(in TranslationRequest request)
    {
        Count(CacheCounters.MicroTlbMiss);
        if (!request.AtsTranslationRequest && !request.Translated && request.ProcessIdValid)
        {
            if (TryCachedTranslation(in request, out ulong pa, out uint flags))
            {
                CountSecondLevelHit(processContext: true);
                return Hit(in request, pa, (int)((flags >> Iotlb.PageShiftShift) & 0xFF), (flags >> Iotlb.PbmtShift) & 3, flags);
            }
        }

        // A walk from here on (it reads contexts and tables): IOFENCE.C waits for it (WalksInFlight), so it is marked
        // before anything below reads a context. Over PhysicalMemory the walk ends its mark where it returns; other
        // memories may throw, so their walks are marked under a finally.
        return WalksEndThemselves ? TranslateMarked(in request) : TranslateGuarded(in request);
    }

    /// <summary>The second level and the miss of an untranslated request without process_id, probe and walk fused:
    /// one read of the cached DC (<see cref="DirectoryCaches.TryGetDcMiss"/>) and of its space's epochs serves the
    /// IOTLB probe and, on a miss, the first-stage shortcut (<see cref="TranslateFirstStage{TFs, TCheck}"/>), whose
    /// fill takes the set and way the probe chose (<see cref="Iotlb.TryLookup(int, SpaceStamp, ulong, out ulong, out uint, out int)"/>).
    /// Anything else (no DC cached, a recycled slot, a DC that is not first-stage alone, SADE, a memory that may
    /// throw) goes to the full process as a marked walk.</summary>
    /// <remarks>The order of reads, each before what depends on it: the micro-TLB's context epoch before the DC (a copy
    /// records it); the space's micro epoch before its IOTLB epochs (invalidations bump it after them), the epochs
    /// before the slot's identity (a recycled slot changes the identity first), all before the probe; on a miss the
    /// IOTLB's invalidation sequence, then (in the shortcut) the fence epoch, then the tables. So the probe and the
    /// walk run under the same generations as when each read them separately: a fill made from this walk is dropped
    /// by any address invalidation since the sequence was read, and dies with any epoch bump since the stamp.</remarks>
    // Not inlined into TranslateMiss: inlined, its locals and the full process's shared one frame, and
    // BenchmarkDotNet measured the second-level hit at 16.2 ns against 14.3 not inlined, the in-cache 3-level miss
    // (IOTLB off) at 21.4 against 20.8, and the one-set IOTLB-on miss at 37.3 against 34.7.
    [MethodImpl(MethodImplOptions.NoInlining)]
    private TranslationResult TranslateMissWithoutProcessId(in TranslationRequest request)
    {
        uint deviceId = request.DeviceId;
        Iotlb? tlb = Tlb;
        MicroTlb? micro = Micro;
        uint epoch = micro is null ? 0 : Volatile.Read(ref micro.ContextEpoch);

        // Steps 1, 2, 5: only 1LVL/2LVL/3LVL with a device_id the mode accepts (HitDeviceLimit is 0 for Off and
        // Bare); steps 6, 7, 10 from the cached DC.
        if (deviceId >= Volatile.Read(ref HitDeviceLimit)
            || !Dir.TryGetDcMiss(deviceId, out int slot, out uint identity, out ulong fsc, out uint tc))
        {
            return TranslateFullProcess(in request);
        }

        SpaceStamp stamp = default;
        long invalSeq = 0;
        int hint = Iotlb.NoHint;
        if (tlb is not null)
        {
            if (slot < 0)
            {
                // PDTV = 1 (no process_id: DPE or a Bare first stage) or both stages Bare: the full process.
                return TranslateFullProcess(in request);
            }

            ref AddressSpaceTable.Slot space = ref Spaces.SlotAtUnchecked(slot);
            epoch += Volatile.Read(ref space.MicroEpoch);
            stamp.Gen = Volatile.Read(ref space.Gen);
            stamp.AllGen = Volatile.Read(ref space.AllGen);
            if (Volatile.Read(ref space.Identity) != identity)
            {
                return TranslateFullProcess(in request); // the slot was recycled: the full process resolves the space again
            }

            if (tlb.TryLookup(slot, stamp, request.Iova, out ulong pa, out uint flags, out hint))
            {
                if (HitPermits(flags, request.Access, supervisor: false, sum: false))
                {
                    micro?.Fill(MicroTlb.PageKey(request.Iova, false), MicroTlb.RequesterKey(deviceId, 0), slot, epoch, pa, flags,
                        sum: false, ens: false);

                    CountSecondLevelHit(processContext: false);
                    return Hit(in request, pa, (int)((flags >> Iotlb.PageShiftShift) & 0xFF), (flags >> Iotlb.PbmtShift) & 3, flags);
                }

                hint = Iotlb.NoHint; // an entry that does not permit the access: the walk's fill finds it
            }

            // Before the walk reads a table: its fill is dropped if an address invalidation runs from here on.
            invalSeq = tlb.InvalidationSequence;
        }

        // The first-stage shortcut without SADE writes no memory: instead of marking itself in flight it is
        // validated against the fence epoch (TranslateFirstStage), so the common miss reads no thread-local state.
        if (fsc == 0 || (tc & TcSade) != 0 || !WalksEndThemselves)
        {
            return TranslateFullProcess(in request);
        }

        switch (fsc >> AtpModeShift)
        {
            case 8:
                return TranslateFirstStage<Sv39, ValidatedWalk>(in request, fsc, tc, slot, stamp, invalSeq, hint);
            case 9:
                return TranslateFirstStage<Sv48, ValidatedWalk>(in request, fsc, tc, slot, stamp, invalSeq, hint);
            default:
                return TranslateFirstStage<Sv57, ValidatedWalk>(in request, fsc, tc, slot, stamp, invalSeq, hint);
        }
    }

    /// <summary>The full process for a request the caches and the shortcut do not serve: a marked walk.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private TranslationResult TranslateFullProcess(in TranslationRequest request) =>
        WalksEndThemselves ? TranslateMarked(in request) : TranslateGuarded(in request);

    /// <summary>Steps 1 to 20 for a request no TLB level served: the first-stage shortcut when the cached DC allows it,
    /// else the full process. <paramref name="mark"/>: the walk's in-flight mark, which it ends (null when the caller
    /// ends it: <see cref="TranslateGuarded"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private TranslationResult TranslateWalk(in TranslationRequest request, WalksInFlight.Mark? mark)
    {
        // Steps 1, 2, 5 as the hit paths check them; then a DC that translates by its first stage alone.
        uint deviceId = request.DeviceId;
        if (!request.AtsTranslationRequest && !request.Translated && !request.ProcessIdValid
            && deviceId < Volatile.Read(ref HitDeviceLimit)
            && Dir.TryGetDcWalk(deviceId, out ulong fsc, out uint tc, out int slot, out uint identity))
        {
            // The generations and the invalidation sequence before the walk, as in TranslateFully; a recycled slot
            // goes to the full process, which resolves it again.
            SpaceStamp stamp = default;
            long invalSeq = 0;
            if (Tlb is { } tlb)
            {
                ref AddressSpaceTable.Slot space = ref Spaces.SlotAt(slot);
                stamp.Gen = Volatile.Read(ref space.Gen);
                stamp.AllGen = Volatile.Read(ref space.AllGen);
                if (Volatile.Read(ref space.Identity) != identity)
                {
                    return TranslateFullyThenEnd(in request, mark);
                }

                invalSeq = tlb.InvalidationSequence;
            }

            // One return per call (not a switch expression), so each call writes straight into our return buffer.
            switch (fsc >> AtpModeShift)
            {
                case 8:
                    return TranslateFirstStage<Sv39, MarkedWalk>(in request, fsc, tc, slot, stamp, invalSeq, Iotlb.NoHint);
                case 9:
                    return TranslateFirstStage<Sv48, MarkedWalk>(in request, fsc, tc, slot, stamp, invalSeq, Iotlb.NoHint);
                default:
                    return TranslateFirstStage<Sv57, MarkedWalk>(in request, fsc, tc, slot, stamp, invalSeq, Iotlb.NoHint);
            }
        }

        return TranslateFullyThenEnd(in request, mark);
    }

    /// <summary><see cref="TranslateFully"/> for an untranslated request without process_id whose cached DC
    /// translates by its first stage alone (<see cref="DirectoryCaches.TryGetDcMiss"/>): steps 1 to 16 hold by
    /// construction (the DC was checked when cached; no process_id, PDTV = 0: steps 7, 8, 10), step 18 has no MSI
    /// page table, step 19 a Bare G-stage. So: step 17's walk, then step 20 with the IOTLB fill. The caller read the
    /// space's epochs <paramref name="stamp"/> (its slot's identity checked) and the IOTLB's
    /// <paramref name="invalSeq"/> (both unused without an IOTLB); <paramref name="hint"/> places the fill.</summary>
    /// <remarks>Out of line, so that <see cref="TranslateMiss"/> keeps a small frame for second-level hits; the walk is
    /// inlined here, and the walk state never leaves this frame (a fault is built from its cause, not through
    /// <see cref="WalkFault"/>: no ATS here), so its fields live in registers.</remarks>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private TranslationResult TranslateFirstStage<TFs, TCheck>(in TranslationRequest request, ulong fsc, uint tc, int slot,
        SpaceStamp stamp, long invalSeq, int hint)
        where TFs : struct, IPagingMode
        where TCheck : struct, IWalkCheck
    {
        // Validated, not marked (TCheck = ValidatedWalk, over PhysicalMemory: TranslateMiss's SADE-less shortcut): the fence epoch
        // before any table read, again after the last. Unchanged, no fence began in between, so no table page the
        // walk read can have been freed and reused yet (the driver frees only after its fence returns; a PTE load is
        // ordered before the second epoch load, and a fence's increment before the driver's later stores). Moved,
        // the walk may have read a reused page: what it read is dropped and the request walks again, marked.
        bool validated = WalksEndThemselves && TCheck.Validated;
        long fenceEpoch = validated ? Volatile.Read(ref FenceEpoch) : 0;
        ulong iova = request.Iova;
        Unsafe.SkipInit(out Walk w);
        w.Iova = iova;
        w.Access = request.Access;
        w.Supervisor = false;
        w.Sum = false;
        w.Sade = (tc & TcSade) != 0;
        w.Ats = false;
        w.Svpbmt = Has(Caps, CapSvpbmt);
        w.FsRoot = (fsc & AtpPpn) << 12;
        bool walked = WalkFirstStageInline<TFs, BareStage>(ref w);
        if (validated && Volatile.Read(ref FenceEpoch) != fenceEpoch)
        {
            return TranslateMarked(in request);
        }

        // The walk stands (a validated one that must walk again counts where it ends): its DC came from the cache.
        Count(CacheCounters.DeviceContextHit);

        if (!walked)
        {
            EndShortcutWalk<TCheck>();
            return Fault(iova, HitTtyp(request.Access), w.Cause, (tc & TcDtf) != 0, w.Iotval2);
        }

        // Step 20 with a Bare G-stage: the GPA is the SPA, and the first stage alone gives size, permissions, PBMT,
        // all read off the leaf PTE (so the walk's other fields die in the walk and stay out of this frame).
        int shift = w.FsShift;
        uint flags = FirstStageFlags(w.FsLeaf, shift);
        if (Tlb is { } tlb)
        {
            if (shift == 12 && hint != Iotlb.NoHint)
            {
                // The common fill: a 4 KiB leaf, where its probe chose.
                tlb.InsertPage(hint, slot, stamp, invalSeq, iova, w.Gpa & ~0xFFFUL, flags);
            }
            else
            {
                int level = (shift - 12) / 9;
                tlb.Insert(hint, slot, stamp, invalSeq, iova, level, w.Gpa & ~((1UL << (12 + 9 * level)) - 1), flags);
            }
        }

        // The walk and the fill are done: the result is built from registers.
        EndShortcutWalk<TCheck>();
        return new TranslationResult(w.Gpa, 1UL << shift, iova, HitTtyp(request.Access), (PageBasedMemoryType)((flags >> Iotlb.PbmtShift) & 3),
            (byte)((flags & (Iotlb.R | Iotlb.W | Iotlb.X)) | TranslationResult.SuccessBit));
    }

    /// <summary>The result of a cache hit for an untranslated request, built straight in the caller's return buffer:
    /// <paramref name="rwx"/> holds R, W, X in the IOTLB's bits 0 to 2.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static TranslationResult Hit(in TranslationRequest request, ulong pa, int pageShift, uint pbmt, uint rwx) =>
        new(pa, 1UL << pageShift, request.Iova, HitTtyp(request.Access), (PageBasedMemoryType)pbmt,
            (byte)((rwx & (Iotlb.R | Iotlb.W | Iotlb.X)) | TranslationResult.SuccessBit));

    /// <summary>The result of a micro-TLB hit: <paramref name="data"/> is the entry's data word.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static TranslationResult MicroTlbHit(in TranslationRequest request, ulong data) =>
        Hit(in request, (data & MicroTlb.PaMask) | (request.Iova & 0xFFF), (int)(data >> MicroTlb.PageShiftShift),
            (uint)(data >> MicroTlb.PbmtShift) & 3, (uint)data);

    /// <summary>The first level: a live micro-TLB entry of this requester and page whose flags permit the access,
    /// under the same rules as <see cref="TryCachedTranslation"/> (which filled it).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool TryMicroTlbHit(in TranslationRequest request, bool processIdValid, out ulong data)
    {
        MicroTlb? micro = Micro;
        uint deviceId = request.DeviceId;
        bool pidValid = processIdValid; // the caller's constant: request.ProcessIdValid
        // Steps 1, 2, 5 as the second level checks them (the limit is 0 for Off and Bare, at most 2^24, so the
        // device_id fits the requester key).
        if (micro is null || deviceId >= Volatile.Read(ref HitDeviceLimit)
            || !micro.TryLookup(MicroTlb.PageKey(request.Iova, pidValid),
                MicroTlb.RequesterKey(deviceId, pidValid ? request.ProcessId : 0), out data))
        {
            data = 0;
            return false;
        }

        // Step 15 (supervisor needs PC.ta.ENS), then the second level's permission rules on the copied flags.
        uint flags = (uint)data;
        bool supervisor = pidValid && request.Privileged;
        return (!supervisor || (flags & MicroTlb.Ens) != 0)
            && HitPermits(flags, request.Access, supervisor, (flags & MicroTlb.Sum) != 0);
    }

    /// <summary>The translation process for an untranslated request with a process_id when its DC and PC are cached
    /// and the IOTLB holds a live entry that permits the access: the PA and IOTLB flags of exactly what
    /// <see cref="TranslateFully"/> returns for such a request, copied into the micro-TLB. False sends the request
    /// to the full process, which decides (and faults) on its own. (Requests without one:
    /// <see cref="TranslateMissWithoutProcessId"/>.)</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool TryCachedTranslation(in TranslationRequest request, out ulong pa, out uint flags)
    {
        uint deviceId = request.DeviceId;
        Iotlb? tlb = Tlb;
        MicroTlb? micro = Micro;
        pa = 0;
        flags = 0;
        if (tlb is null)
        {
            return false;
        }

        // A micro-TLB copy records the context epoch read before the contexts below (see MicroTlb).
        uint epoch = micro is null ? 0 : Volatile.Read(ref micro.ContextEpoch);

        // Steps 1, 2, 5: only 1LVL/2LVL/3LVL with a device_id the mode accepts (HitDeviceLimit is 0 for Off and
        // Bare). Steps 6, 7.2, 7.3: PDTV = 1 and a process_id the PDT's mode accepts (the limit is 0 when PDTV = 0).
        // Step 14 from the PDT cache; step 15: supervisor privilege needs PC.ta.ENS; step 16: SUM, and the first
        // stage's slot (none when PC.fsc is Bare).
        if (deviceId >= Volatile.Read(ref HitDeviceLimit)
            || !Dir.TryGetDcPidHit(deviceId, out uint pidLimit, out ulong dcStamp) || request.ProcessId >= pidLimit
            || !Dir.TryGetPcHit(deviceId, request.ProcessId, dcStamp, out int slot, out uint identity, out uint ta))
        {
            return false;
        }

        bool supervisor = request.Privileged;
        bool sum = (ta & PcSum) != 0;
        bool ens = (ta & PcEns) != 0;
        if (slot < 0 || (supervisor && !ens))
        {
            return false;
        }

        // The micro epoch before the IOTLB epochs: invalidations bump it after them.
        ref AddressSpaceTable.Slot space = ref Spaces.SlotAtUnchecked(slot);
        epoch += Volatile.Read(ref space.MicroEpoch);
        SpaceStamp stamp;
        stamp.Gen = Volatile.Read(ref space.Gen);
        stamp.AllGen = Volatile.Read(ref space.AllGen);
        if (Volatile.Read(ref space.Identity) != identity
            || !tlb.TryLookup(slot, stamp, request.Iova, out pa, out flags))
        {
            pa = 0;
            flags = 0;
            return false;
        }

        if (!HitPermits(flags, request.Access, supervisor, sum))
        {
            return false;
        }

        // The copy keeps SUM and ENS, so that a user request's copy serves a later supervisor one only if the PC
        // allows it.
        micro?.Fill(MicroTlb.PageKey(request.Iova, true), MicroTlb.RequesterKey(deviceId, request.ProcessId), slot, epoch, pa, flags, sum, ens);

        return true;
    }

    /// <summary>Counts <paramref name="counter"/> in an engine that counts (<typeparamref name="TCount"/> = <see cref="Counting"/>;
    /// in the other the JIT folds it away): the count itself out of line, so that the hot paths keep their frames.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void Count(int counter)
    {
        if (TCount.Enabled)
        {
            CountOutOfLine(Counters!, counter);
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void CountOutOfLine(CacheCounters counters, int counter) => counters.Add(counter);

    /// <summary>Counts a second-level hit of the fast paths: the IOTLB, the DC cache, and the PC cache when
    /// <paramref name="processContext"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void CountSecondLevelHit(bool processContext)
    {
        if (TCount.Enabled)
        {
            CountSecondLevelHit(Counters!, processContext);
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void CountSecondLevelHit(CacheCounters counters, bool processContext)
    {
        counters.Add(CacheCounters.IotlbHit);
        counters.Add(CacheCounters.DeviceContextHit);
        if (processContext)
        {
            counters.Add(CacheCounters.ProcessContextHit);
        }
    }

    /// <summary>Permissions of an IOTLB hit: the access's R, W or X, and D already set for a write; then the U rules
    /// of the first stage (no first stage: none): user mode needs U = 1, supervisor U = 0, or SUM and no execute.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool HitPermits(uint flags, AccessType access, bool supervisor, bool sum)
    {
        uint need = HitNeed(access);
        if ((flags & need) != need)
        {
            return false;
        }

        return supervisor
            ? (flags & (Iotlb.NoFirstStage | Iotlb.UserPage)) != Iotlb.UserPage || (sum && access != AccessType.Execute)
            : (flags & (Iotlb.NoFirstStage | Iotlb.UserPage)) != 0;
    }

    /// <summary>The IOTLB flags a hit needs: read R, write W and DirtyOk, execute X (any other value as execute).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static uint HitNeed(AccessType access) =>
        (HitNeeds >> (8 * Math.Min((int)access, (int)AccessType.Execute))) & 0xFF;

    private const uint HitNeeds = Iotlb.R | ((Iotlb.W | Iotlb.DirtyOk) << 8) | (Iotlb.X << 16);

    /// <summary><see cref="TtypOf"/> of an untranslated request: read 2, write 3, execute (or any other value) 1.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static TransactionType HitTtyp(AccessType access) =>
        (TransactionType)((HitTtyps >> (4 * Math.Min((int)access, (int)AccessType.Execute))) & 0xF);

    private const uint HitTtyps = (uint)TransactionType.UntranslatedRead | ((uint)TransactionType.UntranslatedWrite << 4)
        | ((uint)TransactionType.UntranslatedExecute << 8);

    private TranslationResult TranslateFully(in TranslationRequest request)
    {
        ulong iova = request.Iova;
        bool ats = request.AtsTranslationRequest;
        bool translated = request.Translated && !ats;
        TransactionType ttyp = TtypOf(request.Access, ats, translated);

        ulong ddtp = Volatile.Read(ref DdtpValue);
        uint iommuMode = (uint)ddtp & 0xF;

        // Step 1: ddtp.iommu_mode == Off: "All inbound transactions disallowed". Reserved modes are never
        // accepted by the register, so they are treated as Off too.
        if (iommuMode == DdtpOff || iommuMode > Ddtp3Lvl)
        {
            return Fault(iova, ttyp, FaultCause.AllInboundTransactionsDisallowed, dtf: false);
        }

        // Step 2: Bare: translated requests and ATS translation requests are disallowed, others pass through.
        if (iommuMode == DdtpBare)
        {
            return translated || ats
                ? Fault(iova, ttyp, FaultCause.TransactionTypeDisallowed, dtf: false)
                : Identity(iova, ttyp);
        }

        // Steps 3 and 4: base format DDI[0] = device_id[6:0], extended (MSI_FLAT) DDI[0] = device_id[5:0].
        bool extended = Has(Caps, CapMsiFlat);
        int ddi0Bits = extended ? 6 : 7;
        uint deviceId = request.DeviceId;

        // Step 5: a device_id wider than the DDT mode supports (or than 24 bits) is "transaction type disallowed".
        uint ddi1 = (deviceId >> ddi0Bits) & 0x1FF;
        uint ddi2 = deviceId >> (ddi0Bits + 9);
        if (deviceId > 0xFF_FFFF
            || (iommuMode == Ddtp2Lvl && ddi2 != 0)
            || (iommuMode == Ddtp1Lvl && (ddi1 | ddi2) != 0))
        {
            return Fault(iova, ttyp, FaultCause.TransactionTypeDisallowed, dtf: false);
        }

        // Step 6: locate the device context (GET_DC), from the DDT cache when it holds it.
        bool dcCached = Dir.TryGetDc(deviceId, out DeviceContextInfo dc);
        Count(dcCached ? CacheCounters.DeviceContextHit : CacheCounters.DeviceContextMiss);
        if (!dcCached && !LocateDeviceContext(deviceId, ddtp, iommuMode, extended, out FaultCause dcCause, out dc))
        {
            return Fault(iova, ttyp, dcCause, dtf: false);
        }

        bool dtf = (dc.Tc & TcDtf) != 0;
        bool pdtv = (dc.Tc & TcPdtv) != 0;
        uint pdtpMode = (uint)(dc.Fsc >> AtpModeShift);

        // Step 7: transaction type disallowed when...
        if (((translated || ats) && (dc.Tc & TcEnAts) == 0)                                   // 7.1 ATS not enabled
            || (request.ProcessIdValid && !pdtv)                                                // 7.2 process_id without PDT
            || (request.ProcessIdValid && pdtv && ProcessIdTooWide(request.ProcessId, pdtpMode))) // 7.3 process_id too wide
        {
            return Fault(iova, ttyp, FaultCause.TransactionTypeDisallowed, dtf);
        }

        // Step 8: a translated request with T2GPA = 0 carries an SPA already.
        if (translated && (dc.Tc & TcT2gpa) == 0)
        {
            return Identity(iova, ttyp);
        }

        uint gMode = (uint)(dc.Iohgatp >> AtpModeShift);
        // Every field a walk reads is set below or by the walkers before use; skipping the zeroing of the whole
        // struct keeps the IOTLB-hit path short.
        Unsafe.SkipInit(out Walk w);
        w.Sum = false;
        w.FsRoot = 0;
        w.Msiptp = dc.Msiptp;
        w.MsiMask = dc.MsiMask;
        w.MsiPattern = dc.MsiPattern;
        w.NoCache = false;
        w.Cause = FaultCause.None;
        w.Iotval2 = 0;
        w.Iova = request.Iova;
        w.Access = request.Access;
        // Only a request with a process_id (PASID) can ask for supervisor privilege.
        w.Supervisor = request.Privileged && request.ProcessIdValid;
        w.Sade = (dc.Tc & TcSade) != 0;
        w.Gade = (dc.Tc & TcGade) != 0;
        w.Ats = ats;
        w.Svpbmt = Has(Caps, CapSvpbmt);
        w.GsRoot = (dc.Iohgatp & AtpPpn) << 12;

        uint fsMode;
        int slot;
        uint identity;
        ulong spaceKey;
        bool gv = gMode != 0;
        uint gscid = (uint)(dc.Iohgatp >> GscidShift) & 0xFFFF;
        if (translated)
        {
            // Step 9: translated request with T2GPA = 1: the IOVA is a GPA, first stage Bare.
            fsMode = 0;
            slot = dc.GSlot;
            identity = dc.GIdentity;
            spaceKey = AddressSpaceTable.MakeKey(gv, gscid, false, 0);
        }
        else if (!pdtv)
        {
            // Step 10: first-stage controls from DC.fsc (iosatp) and DC.ta.PSCID.
            fsMode = pdtpMode;
            w.FsRoot = (dc.Fsc & AtpPpn) << 12;
            bool fsActive = fsMode != 0;
            slot = fsActive ? dc.FsSlot : dc.GSlot;
            identity = fsActive ? dc.FsIdentity : dc.GIdentity;
            spaceKey = AddressSpaceTable.MakeKey(gv, gscid, fsActive, (uint)(dc.Ta >> PscidShift) & 0xFFFFF);
        }
        else
        {
            uint processId = request.ProcessId;
            bool hasProcessId = request.ProcessIdValid;

            // Step 11: DPE = 1 and no process_id: use the default process_id 0.
            if (!hasProcessId && (dc.Tc & TcDpe) != 0)
            {
                processId = 0;
                hasProcessId = true;
            }

            if (!hasProcessId || pdtpMode == 0)
            {
                // Step 12 (no process_id, DPE = 0) and step 13 (pdtp.MODE = Bare): first stage Bare.
                fsMode = 0;
                slot = dc.GSlot;
                identity = dc.GIdentity;
                spaceKey = AddressSpaceTable.MakeKey(gv, gscid, false, 0);
            }
            else
            {
                // Step 14: locate the process context (GET_PC), from the PDT cache when it holds it.
                bool pcCached = Dir.TryGetPc(deviceId, processId, dc.Stamp, out ProcessContextInfo pc);
                Count(pcCached ? CacheCounters.ProcessContextHit : CacheCounters.ProcessContextMiss);
                if (!pcCached && !LocateProcessContext(ref w, in dc, deviceId, processId, gMode, out pc))
                {
                    return WalkFault(iova, ttyp, ref w, dtf);
                }

                // Step 15: supervisor privilege needs PC.ta.ENS.
                if (w.Supervisor && (pc.Ta & PcEns) == 0)
                {
                    return Fault(iova, ttyp, FaultCause.TransactionTypeDisallowed, dtf);
                }

                // Step 16: first-stage controls from PC.fsc and PC.ta.PSCID.
                w.Sum = (pc.Ta & PcSum) != 0;
                fsMode = (uint)(pc.Fsc >> AtpModeShift);
                w.FsRoot = (pc.Fsc & AtpPpn) << 12;
                bool fsActive = fsMode != 0;
                slot = fsActive ? pc.Slot : dc.GSlot;
                identity = fsActive ? pc.Identity : dc.GIdentity;
                spaceKey = AddressSpaceTable.MakeKey(gv, gscid, fsActive, (uint)(pc.Ta >> PscidShift) & 0xFFFFF);
            }
        }

        // Both stages Bare: the IOVA is the SPA. (An MSI page table needs a G-stage: a DC with one under a Bare
        // G-stage failed its configuration checks.) So every walk below has a stage with a largest leaf, and the
        // page size reported is at most that leaf's.
        bool bothBare = fsMode == 0 && gMode == 0;
        if (bothBare)
        {
            return Identity(iova, ttyp);
        }

        // Steps 17 to 20 from the IOTLB when it holds a live entry that permits this access.
        SpaceStamp stamp = default;
        long invalSeq = 0;
        int hint = Iotlb.NoHint;
        bool cache = Tlb is not null && !ats && !bothBare;
        if (cache)
        {
            slot = ReadStamp(slot, identity, spaceKey, out stamp);
            invalSeq = Tlb!.InvalidationSequence;
            if (Tlb.TryLookup(slot, stamp, request.Iova, out ulong pa, out uint flags, out hint) && Permits(flags, ref w))
            {
                Count(CacheCounters.IotlbHit);
                return new TranslationResult(pa, 1UL << (int)((flags >> Iotlb.PageShiftShift) & 0xFF), iova, ttyp,
                    (PageBasedMemoryType)((flags >> Iotlb.PbmtShift) & 3),
                    (byte)((flags & (Iotlb.R | Iotlb.W | Iotlb.X)) | TranslationResult.SuccessBit));
            }
        }

        // Step 17: first stage (each access translated by the G-stage); step 18: a GPA in the MSI window goes
        // through the MSI page table (flat mode; MRIF is not modelled, see docs/hardware-model.md); step 19: G-stage
        // of the GPA. All in IommuTranslator.Walk.cs.
        if (!Dispatch(fsMode, gMode, ref w))
        {
            return WalkFault(iova, ttyp, ref w, dtf);
        }

        // Step 20: translation complete.
        int shift = Math.Min(w.FsShift, w.GsShift);
        if ((w.Msiptp >> AtpModeShift) == 1 && shift > 12 && MsiWindowMeets(ref w, w.Gpa, shift))
        {
            // Step 18 applies per 4 KiB GPA page: a range holding a page of the MSI window is not this translation's
            // beyond its own page. Reported and cached as 4 KiB, or an IOTLB hit would bypass the MSI page table.
            shift = 12;
        }

        uint perms = (ats ? w.FsEffective : w.FsPerms) & w.GsPerms;
        if (ats && ((perms & Iotlb.R) == 0 || request.Access != AccessType.Execute))
        {
            // ATS grants X only with R and only when execute was requested.
            perms &= ~Iotlb.X;
        }

        // Svpbmt with two stages: a G-stage PBMT other than PMA overrides the PMA, and a first-stage PBMT other than
        // PMA overrides that (privileged spec, Svpbmt; a Bare stage contributes PMA).
        uint pbmt = w.FsPbmt != 0 ? w.FsPbmt : w.GsPbmt;

        if (cache && !w.NoCache)
        {
            if (fsMode != 0 && (w.FsShift - 12) / 9 > (shift - 12) / 9)
            {
                // A first-stage superpage cached in pieces (smaller G-stage pages, or the MSI window): an address
                // invalidation of the leaf must drop every piece, not only the one at its address. Marked before the
                // fill's invalidation-sequence check (see AddressSpaceTable.MarkSplintered).
                Spaces.MarkSplintered(slot);
            }

            Fill(Tlb!, hint, slot, stamp, invalSeq, iova, w.Pa, shift, perms, w.FsUser, w.FsGlobal, w.FsDirty && w.GsDirty,
                firstStage: fsMode != 0, pbmt);
        }

        return new TranslationResult(ats && (dc.Tc & TcT2gpa) != 0 ? w.Gpa : w.Pa, 1UL << shift, iova, ttyp,
            (PageBasedMemoryType)pbmt, (byte)((perms & (Iotlb.R | Iotlb.W | Iotlb.X)) | TranslationResult.SuccessBit));
    }

    /// <summary>Step 20's IOTLB fill: <paramref name="iova"/> to <paramref name="pa"/> as one entry of the translation's
    /// page size (the smaller stage's), with its R W X, the first-stage leaf's U and G, D of both stages' leaves
    /// (a write may use the entry only then), whether a first stage took part, and the PBMT. The state is passed
    /// by value so that the miss shortcut's walk state stays in registers. <paramref name="hint"/>: the failed probe's
    /// set and way (<see cref="Iotlb.NoHint"/> for none).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Fill(Iotlb tlb, int hint, int slot, SpaceStamp stamp, long invalSeq, ulong iova, ulong pa, int shift, uint perms,
        bool user, bool global, bool dirty, bool firstStage, uint pbmt)
    {
        int level = (shift - 12) / 9;
        uint flags = perms
            | (user ? Iotlb.UserPage : 0)
            | (global ? Iotlb.GlobalPage : 0)
            | (dirty ? Iotlb.DirtyOk : 0)
            | (firstStage ? 0 : Iotlb.NoFirstStage)
            | ((uint)shift << Iotlb.PageShiftShift)
            | (pbmt << Iotlb.PbmtShift);
        tlb.Insert(hint, slot, stamp, invalSeq, iova, level, pa & ~((1UL << (12 + 9 * level)) - 1), flags);
    }

    /// <summary>The IOTLB flags <see cref="Fill"/> gives a translation by a first stage alone (a Bare G-stage) of size
    /// 2^<paramref name="shift"/>, read straight off its leaf PTE: R, W, X, U, G are PTE bits 1 to 5 and the flags'
    /// bits 0 to 4, D (bit 7) is DirtyOk (bit 5), then the size and the PBMT (PTE bits 62:61). The shifts rely on those
    /// positions; <c>TranslationFirstStageShortcutTests</c> compares every leaf's filled entry with the full process.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static uint FirstStageFlags(ulong leaf, int shift) =>
        ((uint)(leaf >> Pte.RBit) & (Iotlb.R | Iotlb.W | Iotlb.X | Iotlb.UserPage | Iotlb.GlobalPage))
        | ((uint)(leaf >> (Pte.DBit - 5)) & Iotlb.DirtyOk)
        | ((uint)shift << Iotlb.PageShiftShift)
        | (((uint)(leaf >> Pte.PbmtShift) & 3) << Iotlb.PbmtShift);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static TransactionType TtypOf(AccessType access, bool ats, bool translated)
    {
        if (ats)
        {
            return TransactionType.AtsTranslationRequest;
        }

        // Untranslated 1/2/3 (execute/read/write), translated 5/6/7.
        int code = access switch
        {
            AccessType.Execute => 1,
            AccessType.Read => 2,
            _ => 3,
        };
        return (TransactionType)(translated ? code + 4 : code);
    }

    /// <summary>PD8 allows process_id[7:0], PD17 [16:0], PD20 [19:0] (pdtp.MODE encodings).</summary>
    private static bool ProcessIdTooWide(uint processId, uint pdtpMode) => pdtpMode switch
    {
        1 => processId >> 8 != 0,
        2 => processId >> 17 != 0,
        3 => processId >> 20 != 0,
        _ => processId >> 20 != 0,
    };

    /// <summary>Bare paths: the address (the IOVA) is the SPA; reported as a 4 KiB translation with every permission.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static TranslationResult Identity(ulong iova, TransactionType ttyp) =>
        new(iova, 4096, iova, ttyp, PageBasedMemoryType.Pma,
            (byte)(TranslationResult.ReadableBit | TranslationResult.WritableBit | TranslationResult.ExecutableBit | TranslationResult.SuccessBit));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static TranslationResult Fault(ulong iova, TransactionType ttyp, FaultCause cause, bool dtf, ulong iotval2 = 0) =>
        new(0, 0, iova, iotval2, cause, ttyp, PageBasedMemoryType.Pma,
            dtf && !ReportedDespiteDtf(cause) ? TranslationResult.SuppressedBit : (byte)0);

    /// <summary>Causes the spec's table marks "Reported if DTF is 1? Yes".</summary>
    private static bool ReportedDespiteDtf(FaultCause cause) => (ushort)cause is >= 256 and <= 259 or 268 or 272 or 273;

    private static TranslationResult WalkFault(ulong iova, TransactionType ttyp, ref Walk w, bool dtf)
    {
        if (w.Ats && (ushort)w.Cause is 12 or 13 or 15 or 20 or 21 or 23 or 262 or 266)
        {
            // PCIe ATS: these end in a Success response with R = W = 0 and nothing is logged.
            return new TranslationResult(0, 0, iova, 0, w.Cause, ttyp, PageBasedMemoryType.Pma, TranslationResult.SuccessBit);
        }

        return Fault(iova, ttyp, w.Cause, dtf, w.Iotval2);
    }

    /// <summary>The generations of <paramref name="slot"/>, re-resolving it when its slot was recycled since the
    /// context was cached (the slow path, out of line).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private int ReadStamp(int slot, uint identity, ulong key, out SpaceStamp stamp)
    {
        if (slot >= 0)
        {
            ref AddressSpaceTable.Slot s = ref Spaces.SlotAt(slot);
            if (Volatile.Read(ref s.Identity) == identity)
            {
                stamp.Gen = Volatile.Read(ref s.Gen);
                stamp.AllGen = Volatile.Read(ref s.AllGen);
                if (Volatile.Read(ref s.Identity) == identity)
                {
                    return slot;
                }
            }
        }

        return ReadStampSlow(key, out stamp);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private int ReadStampSlow(ulong key, out SpaceStamp stamp)
    {
        while (true)
        {
            int slot = Spaces.Resolve(key, out uint identity);
            ref AddressSpaceTable.Slot s = ref Spaces.SlotAt(slot);
            stamp.Gen = Volatile.Read(ref s.Gen);
            stamp.AllGen = Volatile.Read(ref s.AllGen);
            if (Volatile.Read(ref s.Identity) == identity)
            {
                return slot;
            }
        }
    }

    /// <summary>Whether a cached entry lets this access through without a walk (else the walk decides, and faults).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool Permits(uint flags, ref Walk w)
    {
        uint need = NeedBit(w.Access);
        if ((flags & need) == 0 || (w.Access == AccessType.Write && (flags & Iotlb.DirtyOk) == 0))
        {
            return false;
        }

        if ((flags & Iotlb.NoFirstStage) != 0)
        {
            return true;
        }

        bool user = (flags & Iotlb.UserPage) != 0;
        return w.Supervisor ? !user || (w.Sum && w.Access != AccessType.Execute) : user;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static uint NeedBit(AccessType access) => access switch
    {
        AccessType.Read => Iotlb.R,
        AccessType.Write => Iotlb.W,
        _ => Iotlb.X,
    };
}
