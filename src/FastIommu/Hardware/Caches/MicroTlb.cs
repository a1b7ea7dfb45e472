using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using FastIommu.Diagnostics;

namespace FastIommu.Hardware.Caches;

/// <summary>
/// The IOTLB's first level: translations by requester (device_id, process_id) and 4 KiB page, direct mapped,
/// as the per-port micro-TLBs of real IOMMUs (an Arm MMU-600 TBU, for one) sit in front of a shared TLB. It holds
/// only what the second level (<see cref="Iotlb"/>, through the DC, PC and address-space caches) returned, and
/// its set index comes from the request alone, so a hit is one cache line plus the epoch of its space.
/// </summary>
/// <remarks>
/// <para>Validity: an entry records its space slot and the sum of that slot's <see cref="AddressSpaceTable.Slot.MicroEpoch"/>
/// and this table's <see cref="ContextEpoch"/>, both read before the second-level lookup it copies. The slot's
/// epoch is bumped after every invalidation that touches the space (either IOTLB epoch, an address in it, the slot
/// being recycled), the context epoch after every IODIR.INVAL_DDT / INVAL_PDT. Both only grow, so the sum changes
/// whenever either does: an entry dies with any invalidation of its space or of any context, which is never less
/// than the command asked for. No invalidation scans this table.</para>
/// <para>Layout: 32-byte entries (sequence word, epoch sum, page key, requester key, data) on a 64-byte
/// boundary, two to a cache line.</para>
/// </remarks>
internal sealed class MicroTlb
{
    // Data word: bits 11:0 flags, 55:12 PA of the 4 KiB page, 63:56 log2 of the size reported.
    // Flags R, W, X, U, G, DirtyOk, NoFirstStage in the Iotlb's bit positions (0 to 6), then:
    public const uint Sum = 1 << 7;            // PC.ta.SUM (process_id requests)
    public const uint Ens = 1 << 8;            // PC.ta.ENS (process_id requests)
    public const int PbmtShift = 9;            // bits 10:9: the translation's PBMT
    public const int PageShiftShift = 56;
    public const ulong PaMask = 0x00FF_FFFF_FFFF_F000UL;
    private const uint IotlbFlagMask = Iotlb.R | Iotlb.W | Iotlb.X | Iotlb.UserPage | Iotlb.GlobalPage | Iotlb.DirtyOk | Iotlb.NoFirstStage;

    // Page key: bits 51:0 IOVA >> 12, bit 52 process_id valid, bit 63 entry filled (an empty entry matches nothing).
    private const ulong PidValidBit = 1UL << 52;
    private const ulong FilledBit = 1UL << 63;

    // Requester key: bits 23:0 device_id, 43:24 process_id (0 without one), 63:44 the space slot.
    private const int SlotShift = 44;
    private const ulong RequesterMask = (1UL << SlotShift) - 1;

    internal const int EntryBytes = 32;
    private const int LineBytes = 64;

    [StructLayout(LayoutKind.Sequential, Size = EntryBytes)]
    internal struct Entry
    {
        public int Seq;
        public uint Epoch;
        public ulong Page;
        public ulong Requester;
        public ulong Data;
    }

    // Pinned (never moves), so its 64-byte-aligned first entry, computed once, stays valid while this table lives.
    private readonly byte[] _storage;
    private readonly unsafe Entry* _entries;
    private readonly uint _mask;

    // The address-space slots the entries name (the table's own array: it never changes).
    private readonly AddressSpaceTable.Slot[] _slots;

    /// <summary>Bumped after every IODIR.INVAL_DDT / INVAL_PDT (see the remarks).</summary>
    public uint ContextEpoch;

    /// <summary>How often a live copy of another translation gives way to a new one (a power of two).</summary>
    internal const int ReplaceOneIn = 8;

    // The count behind ReplaceOneIn: a plain, racy word in its own line after the entries (fills write it; it must not
    // share a line with ContextEpoch, which every hit reads).
    private readonly unsafe uint* _replaceTick;

    public MicroTlb(int entries, AddressSpaceTable spaces)
    {
        Debug.Assert(entries > 0 && (entries & (entries - 1)) == 0, "a power of two");
        int entryBytes = (entries * EntryBytes + LineBytes - 1) & ~(LineBytes - 1);
        _storage = GC.AllocateArray<byte>(entryBytes + 2 * LineBytes, pinned: true);
        unsafe
        {
            nint address = (nint)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(_storage));
            _entries = (Entry*)(address + ((LineBytes - (address & (LineBytes - 1))) & (LineBytes - 1)));
            _replaceTick = (uint*)((byte*)_entries + entryBytes);
        }

        _mask = (uint)entries - 1;
        _slots = spaces.Slots;
    }

    /// <summary>The page key of a request: its IOVA's 4 KiB page and whether it carries a process_id.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong PageKey(ulong iova, bool processIdValid) =>
        (iova >> 12) | (processIdValid ? PidValidBit : 0) | FilledBit;

    /// <summary>The requester key: device_id (below 2^24: the caller checked it against the ddtp limit) and
    /// process_id (0 without one). A process_id of 2^20 or more sets bits an entry's key never has, so it matches
    /// nothing.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong RequesterKey(uint deviceId, uint processId) => deviceId | ((ulong)processId << 24);

    /// <summary>Sequential pages of one requester take consecutive entries; requesters are spread by a hash.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private ref Entry EntryFor(ulong page, ulong requester) => ref EntryAt(page, Spread(requester));

    /// <summary><see cref="EntryFor"/> with the requester's <see cref="Spread"/> already computed.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private unsafe ref Entry EntryAt(ulong page, uint spread) => ref _entries[((uint)page ^ spread) & _mask];

    /// <summary>How a requester's pages are spread over the entries (what <see cref="EntryFor"/> XORs into the page
    /// number), for a caller that looks up many pages of one requester (<see cref="PrefetchHolds"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static uint Spread(ulong requester) => ((uint)requester * 0x9E37_79B1u ^ (uint)(requester >> 24) * 0x85EB_CA77u) >> 16;

    /// <summary>The data word of a live entry for (<paramref name="page"/>, <paramref name="requester"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryLookup(ulong page, ulong requester, out ulong data)
    {
        ref Entry e = ref EntryFor(page, requester);
        int seq = SeqLock.BeginRead(ref e.Seq);
        if (e.Page != page)
        {
            // Another page (or a torn read of this one): a miss, decided on the page key alone, which is most of
            // what a miss costs when a request stream rarely repeats a page.
            data = 0;
            return false;
        }

        ulong who = e.Requester;
        data = e.Data;
        uint epoch = e.Epoch;
        if (!SeqLock.Validate(ref e.Seq, seq) || (who & RequesterMask) != requester)
        {
            return false;
        }

        return IsLive(epoch, who);
    }

    /// <summary>For a prefetch hint: whether the entry of (<paramref name="page"/>, <paramref name="requester"/>, whose
    /// <see cref="Spread"/> is <paramref name="spread"/>)
    /// holds that translation (live or not: a guess, read racily); when it does not, the entry's line is on its way
    /// into the CPU's cache all the same.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool PrefetchHolds(ulong page, ulong requester, uint spread)
    {
        ref Entry e = ref EntryAt(page, spread);
        return e.Page == page && (e.Requester & RequesterMask) == requester;
    }

    /// <summary>The validity rule: the epoch sum a copy recorded is still its slot's micro epoch plus the context
    /// epoch. The slot came from the table (a fill wrote it, or 0 in an empty entry), so no bounds check.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool IsLive(uint epoch, ulong who) =>
        epoch == Volatile.Read(ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(_slots), (nint)(who >> SlotShift)).MicroEpoch)
            + Volatile.Read(ref ContextEpoch);

    /// <summary>Copies a second-level hit: <paramref name="epoch"/> is the context epoch read before the DC was
    /// looked up plus the slot's micro epoch read before its IOTLB epochs; <paramref name="pa"/> and
    /// <paramref name="iotlbFlags"/> are the hit's address and IOTLB flags; <paramref name="sum"/> and
    /// <paramref name="ens"/> the PC's SUM and ENS (false without a process_id).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public unsafe void Fill(ulong page, ulong requester, int slot, uint epoch, ulong pa, uint iotlbFlags, bool sum, bool ens)
    {
        // Interleaving point: an IOTLB hit about to be copied here with the epochs read before its lookup; an
        // invalidation that runs here must leave the copy stale.
        if (Interleaving.Enabled)
        {
            Interleaving.Reach("MicroTlb.FillReady");
        }

        ref Entry e = ref EntryFor(page, requester);
        // A live copy of another translation is replaced one time in ReplaceOneIn (bimodal insertion): traffic whose
        // pages keep colliding in an entry then pays the copy (a locked CAS) rarely instead of on every lookup. An
        // empty or dead entry, or this translation's own copy (one that no longer served, e.g. clean where the page
        // is now dirty), is always replaced. The entry is read racily: that decides whether to write, never what a
        // lookup returns.
        ulong key = Volatile.Read(ref e.Page), who = Volatile.Read(ref e.Requester);
        bool other = key != page || (who & RequesterMask) != requester;
        if (!other || (key & FilledBit) == 0 || !IsLive(Volatile.Read(ref e.Epoch), who)
            || (++*_replaceTick & (ReplaceOneIn - 1)) == 0)
        {
            Write(ref e, page, requester, slot, epoch, pa, iotlbFlags, sum, ens);
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void Write(ref Entry e, ulong page, ulong requester, int slot, uint epoch, ulong pa, uint iotlbFlags, bool sum, bool ens)
    {
        if (!SeqLock.TryEnter(ref e.Seq, out int start))
        {
            return; // another thread owns the entry; caching is optional
        }

        e.Page = page;
        e.Requester = requester | ((ulong)(uint)slot << SlotShift);
        e.Epoch = epoch;
        e.Data = (pa & PaMask)
            | (iotlbFlags & IotlbFlagMask)
            | (sum ? Sum : 0)
            | (ens ? Ens : 0)
            | (((iotlbFlags >> Iotlb.PbmtShift) & 3) << PbmtShift)
            | ((ulong)((iotlbFlags >> Iotlb.PageShiftShift) & 0xFF) << PageShiftShift);
        SeqLock.Exit(ref e.Seq, start);
    }

    /// <summary>After an IODIR.INVAL_DDT or INVAL_PDT has dropped its contexts: every entry dies.</summary>
    public void NoteContextInvalidation() => Interlocked.Increment(ref ContextEpoch);
}
