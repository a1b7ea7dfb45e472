using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using FastIommu.Diagnostics;

namespace FastIommu.Hardware.Caches;

/// <summary>The epochs of one address space (<see cref="AddressSpaceTable.Slot"/>), read once per translation
/// before any walk.</summary>
internal struct SpaceStamp
{
    /// <summary>Epoch of the space's non-global entries.</summary>
    public uint Gen;

    /// <summary>Epoch of the space's global entries.</summary>
    public uint AllGen;
}

/// <summary>
/// The IOTLB: combined (first stage x G-stage) leaf translations, 4-way set associative, tagged with the address
/// space slot (<see cref="AddressSpaceTable"/>) and the IOVA at the entry's level. A superpage is one entry at its
/// level; lookups probe only the levels that have ever been filled. Entries stay, stale or not, until an
/// invalidation or a replacement removes them, exactly as hardware may keep them.
/// </summary>
/// <remarks>
/// Layout, chosen for the miss as much as for the hit: a set is 128 bytes, two cache lines, and the table starts on
/// a 64-byte boundary. The first line holds what a probe compares, the four ways' tags, spaces and sequence words;
/// the second what a hit returns, their PAs, epochs and flags. A probe compares the four tags at once (one vector
/// compare) and reads further only the way whose tag matches, so a miss reads one line and runs no loop, and
/// finds in the same line the empty way its fill takes. An entry records the one epoch of its space that can kill
/// it: <see cref="SpaceStamp.AllGen"/> for a global entry, <see cref="SpaceStamp.Gen"/> for the others; a hit
/// compares that one word.
/// </remarks>
internal sealed class Iotlb
{
    // Flags of an entry.
    public const uint R = 1, W = 2, X = 4;
    public const uint UserPage = 1 << 3;       // first-stage leaf U
    public const uint GlobalPage = 1 << 4;     // first-stage leaf G
    public const uint DirtyOk = 1 << 5;        // D set in every stage: a write needs no A/D update
    public const uint NoFirstStage = 1 << 6;   // first stage Bare: no U/SUM rules
    public const int PageShiftShift = 8;       // bits 15:8: log2 of the size reported (12, 16, 21, ...)
    public const int PbmtShift = 16;           // bits 17:16: the translation's PBMT (both stages resolved)

    private const int SetBytes = 128;
    private const int LineBytes = 64;

    /// <summary>One set: way <c>w</c>'s fields are element <c>w</c> of each array.</summary>
    [StructLayout(LayoutKind.Sequential, Size = SetBytes)]
    private struct Set
    {
        // First line: what a probe compares.
        public Ways64 Tag;     // (IOVA >> level shift) << 3 | level
        public Ways32 Space;   // slot + 1; 0 = empty
        public Ways32 Seq;     // the way's sequence lock (SeqLock)

        // Second line: what a hit returns.
        public Ways64 PaBase;  // PA of the entry's first byte, aligned to its level
        public Ways32 Epoch;   // SpaceStamp.AllGen if GlobalPage, else SpaceStamp.Gen, when filled
        public Ways32 Flags;
    }

    [InlineArray(4)]
    private struct Ways64
    {
        private ulong _way;
    }

    [InlineArray(4)]
    private struct Ways32
    {
        private int _way;
    }

    // Pinned (never moves), so its 64-byte-aligned first set, computed once, stays valid while this table lives.
    private readonly byte[] _storage;
    private readonly unsafe Set* _sets;
    private readonly int _entries;
    private readonly int _setShift;
    private readonly int _setMask;    // sets - 1 (sets is a power of two)
    private int _levelMask;
    private long _invalSeq;
    private int _victim;

    public Iotlb(int entries)
    {
        _entries = entries;
        _storage = GC.AllocateArray<byte>(entries / 4 * SetBytes + LineBytes, pinned: true);
        unsafe
        {
            nint address = (nint)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(_storage));
            _sets = (Set*)(address + ((LineBytes - (address & (LineBytes - 1))) & (LineBytes - 1)));
        }

        int sets = entries / 4;
        _setShift = 64 - BitOperations.Log2((uint)sets);
        _setMask = sets - 1;
        if (sets == 1)
        {
            _setShift = 63; // one set: index is always 0 after the mask below
        }
    }

    /// <summary>Set <paramref name="set"/>, masked by <see cref="SetOf"/>, so inside the storage: no bounds check.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private unsafe ref Set SetAt(int set) => ref _sets[set];

    // Way w's fields (w in 0..3, which the JIT cannot see: no bounds check).
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ref ulong At(ref Ways64 ways, nint way) => ref Unsafe.Add(ref Unsafe.As<Ways64, ulong>(ref ways), way);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ref int At(ref Ways32 ways, nint way) => ref Unsafe.Add(ref Unsafe.As<Ways32, int>(ref ways), way);

    /// <summary>The ways of <paramref name="set"/> whose tag is <paramref name="tag"/>, as bits 0 to 3.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static uint TagMatches(ref Set set, ulong tag) =>
        Vector256.Equals(Vector256.LoadUnsafe(ref Unsafe.As<Ways64, ulong>(ref set.Tag)), Vector256.Create(tag))
            .ExtractMostSignificantBits();

    /// <summary>The empty ways of <paramref name="set"/>, as bits 0 to 3.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static uint EmptyWays(ref Set set) =>
        Vector128.Equals(Vector128.LoadUnsafe(ref Unsafe.As<Ways32, int>(ref set.Space)), Vector128<int>.Zero)
            .ExtractMostSignificantBits();

    /// <summary>Prefetches the line a probe of <paramref name="iova"/>'s 4 KiB entry in space <paramref name="slot"/>
    /// compares (its set's tags): a hint, for a batch that knows its next requests.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public unsafe void Prefetch(int slot, ulong iova)
    {
        if (Sse.IsSupported)
        {
            Sse.Prefetch0(Unsafe.AsPointer(ref SetAt(SetOf(TagOf(iova, 0), slot + 1))));
        }
    }

    /// <summary>Read before a walk; a fill made with an older value after an address invalidation is dropped.</summary>
    public long InvalidationSequence => Volatile.Read(ref _invalSeq);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private int SetOf(ulong tag, int space)
    {
        ulong h = (tag ^ ((ulong)space << 40)) * 0x9E37_79B9_7F4A_7C15UL;
        return (int)(h >> _setShift) & _setMask;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong TagOf(ulong iova, int level) => ((iova >> (12 + 9 * level)) << 3) | (uint)level;

    /// <summary>No fill hint: the fill hashes and searches the set itself.</summary>
    public const int NoHint = -1;

    /// <summary>Finds a live entry for <paramref name="iova"/> in space <paramref name="slot"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryLookup(int slot, SpaceStamp stamp, ulong iova, out ulong pa, out uint flags) =>
        TryLookup(slot, stamp, iova, out pa, out flags, out _);

    /// <summary>Finds a live entry for <paramref name="iova"/> in space <paramref name="slot"/>. On a miss,
    /// <paramref name="hint"/> tells the fill of a 4 KiB translation (<see cref="Insert(int, int, SpaceStamp, long, ulong, int, ulong, uint)"/>)
    /// the set the probe already hashed and the way it would replace: this translation's own dead entry, else an
    /// empty way, else none (the fill picks a victim). <see cref="NoHint"/> when no 4 KiB entry was ever cached.
    /// The hint only places the fill; what the fill writes is decided under the entry's sequence lock.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryLookup(int slot, SpaceStamp stamp, ulong iova, out ulong pa, out uint flags, out int hint)
    {
        int mask = Volatile.Read(ref _levelMask);
        int space = slot + 1;
        hint = NoHint;
        if ((mask & 1) != 0)
        {
            // Level 0 (4 KiB), the common leaf, first and unrolled from the others: its set and way are the hint.
            ulong tag = TagOf(iova, 0);
            int setIndex = SetOf(tag, space);
            ref Set set = ref SetAt(setIndex);
            int chosen = NoWay;
            for (uint match = TagMatches(ref set, tag); match != 0; match &= match - 1)
            {
                int way = BitOperations.TrailingZeroCount(match);
                if (ReadWay(ref set, way, tag, space, stamp, out ulong paBase, out flags, out bool own))
                {
                    pa = paBase | (iova & 0xFFF);
                    return true;
                }

                if (own)
                {
                    chosen = way; // this translation's entry, dead: a fill replaces it rather than duplicate it
                }
            }

            if (chosen == NoWay && EmptyWays(ref set) is uint empty && empty != 0)
            {
                chosen = BitOperations.TrailingZeroCount(empty);
            }

            hint = (setIndex << 3) | chosen;
            mask &= ~1;
        }

        while (mask != 0)
        {
            int level = BitOperations.TrailingZeroCount(mask);
            mask &= mask - 1;
            ulong tag = TagOf(iova, level);
            ref Set set = ref SetAt(SetOf(tag, space));
            for (uint match = TagMatches(ref set, tag); match != 0; match &= match - 1)
            {
                if (ReadWay(ref set, BitOperations.TrailingZeroCount(match), tag, space, stamp, out ulong paBase, out flags, out _))
                {
                    ulong offsetMask = (1UL << (12 + 9 * level)) - 1;
                    pa = paBase | (iova & offsetMask);
                    return true;
                }
            }
        }

        pa = 0;
        flags = 0;
        return false;
    }

    /// <summary>Reads way <paramref name="way"/> of <paramref name="set"/>, whose tag matched without its sequence:
    /// true when, under its sequence lock, it holds <paramref name="tag"/> of <paramref name="space"/> and is live
    /// under <paramref name="stamp"/>. <paramref name="own"/>: it holds that tag and space, live or not.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool ReadWay(ref Set set, nint way, ulong tag, int space, SpaceStamp stamp, out ulong paBase, out uint flags, out bool own)
    {
        // The sequence first (an acquire read), then the entry: the copy is consistent if the sequence is even and
        // unchanged after it.
        ref int seq = ref At(ref set.Seq, way);
        int start = SeqLock.BeginRead(ref seq);
        own = At(ref set.Tag, way) == tag && At(ref set.Space, way) == space;
        paBase = At(ref set.PaBase, way);
        uint epoch = (uint)At(ref set.Epoch, way);
        flags = (uint)At(ref set.Flags, way);
        return own && SeqLock.Validate(ref seq, start)
            && epoch == ((flags & GlobalPage) != 0 ? stamp.AllGen : stamp.Gen);
    }

    // A hint's way field (bits 2:0): 0 to 3, or NoWay (the fill picks a victim).
    private const int NoWay = 4;

    /// <summary>Caches a translation made under <paramref name="stamp"/>, unless an address invalidation ran since
    /// <paramref name="invalSeq"/> was read (the walk may have seen the old tables).</summary>
    public void Insert(int slot, SpaceStamp stamp, long invalSeq, ulong iova, int level, ulong paBase, uint flags)
    {
        int space = slot + 1;
        ulong tag = TagOf(iova, level);
        ref Set set = ref SetAt(SetOf(tag, space));

        // This translation's own entry, else an empty way, else a victim.
        int way = NoWay;
        for (uint match = TagMatches(ref set, tag); match != 0; match &= match - 1)
        {
            int candidate = BitOperations.TrailingZeroCount(match);
            if (Volatile.Read(ref At(ref set.Space, candidate)) == space)
            {
                way = candidate;
                break;
            }
        }

        if (way == NoWay)
        {
            uint empty = EmptyWays(ref set);
            way = empty != 0 ? BitOperations.TrailingZeroCount(empty) : (_victim++ ^ (int)tag) & 3;
        }

        Write(ref set, way, space, tag, stamp, invalSeq, level, paBase, flags);
    }

    /// <summary><see cref="Insert(int, SpaceStamp, long, ulong, int, ulong, uint)"/> placed by the
    /// <paramref name="hint"/> of the lookup that missed (same slot and IOVA): a 4 KiB translation takes the set and
    /// way the probe chose, with no second hash or search; any other (a superpage, or no hint) searches.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Insert(int hint, int slot, SpaceStamp stamp, long invalSeq, ulong iova, int level, ulong paBase, uint flags)
    {
        if (hint < 0 || level != 0)
        {
            Insert(slot, stamp, invalSeq, iova, level, paBase, flags);
            return;
        }

        InsertPage(hint, slot, stamp, invalSeq, iova, paBase, flags);
    }

    /// <summary>The fill of a 4 KiB translation whose probe missed with <paramref name="hint"/> (not
    /// <see cref="NoHint"/>): the set and way the probe chose take it.</summary>
    /// <remarks>No level bit to set: the probe that gave the hint saw level 0's bit set, and no bit is ever cleared.</remarks>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void InsertPage(int hint, int slot, SpaceStamp stamp, long invalSeq, ulong iova, ulong paBase, uint flags)
    {
        ulong tag = TagOf(iova, 0);
        int way = hint & 7;
        if (way == NoWay)
        {
            way = (_victim++ ^ (int)tag) & 3;
        }

        WriteEntry(ref SetAt(hint >> 3), way, slot + 1, tag, stamp, invalSeq, paBase, flags);
    }

    /// <summary>The fill proper: way <paramref name="way"/> of <paramref name="set"/> takes the translation under its
    /// sequence lock, unless another thread owns the way or an address invalidation ran since
    /// <paramref name="invalSeq"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void Write(ref Set set, int way, int space, ulong tag, SpaceStamp stamp, long invalSeq, int level, ulong paBase, uint flags)
    {
        // The level's bit before the sequence check, each side with a full fence between its store and its load
        // (here the Or or the CAS below; InvalidateAddress: the sequence increment): either this fill sees the
        // invalidation's new sequence and gives up, or the invalidation sees the bit and visits this entry. Set after
        // the entry, an invalidation that ran in between skipped the level and the entry stayed live. (A hinted fill
        // is at level 0, whose bit its probe saw set: InsertPage skips this, and the CAS is the fence.)
        if ((Volatile.Read(ref _levelMask) & (1 << level)) == 0)
        {
            Interlocked.Or(ref _levelMask, 1 << level);
        }

        WriteEntry(ref set, way, space, tag, stamp, invalSeq, paBase, flags);
    }

    /// <summary><see cref="Write"/> once the level's bit is set.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void WriteEntry(ref Set set, int wayIndex, int space, ulong tag, SpaceStamp stamp, long invalSeq, ulong paBase, uint flags)
    {
        nint way = wayIndex; // widened once, not at each field
        ref int seq = ref At(ref set.Seq, way);
        if (!SeqLock.TryEnter(ref seq, out int start))
        {
            return; // another thread owns the way; caching is optional
        }

        if (Volatile.Read(ref _invalSeq) != invalSeq)
        {
            SeqLock.Exit(ref seq, start);
            return;
        }

        At(ref set.Space, way) = space;
        At(ref set.Tag, way) = tag;
        At(ref set.PaBase, way) = paBase;
        At(ref set.Epoch, way) = (int)((flags & GlobalPage) != 0 ? stamp.AllGen : stamp.Gen);
        At(ref set.Flags, way) = (int)flags;
        SeqLock.Exit(ref seq, start);

        // A fill has written its entry and left its sequence lock (tests hold it here to run an invalidation).
        if (Interleaving.Enabled)
        {
            Interleaving.Reach("Iotlb.EntryWritten");
        }
    }

    /// <summary>Makes every fill whose walk began before now give up (called before any address invalidation).</summary>
    public void NoteInvalidation() => Interlocked.Increment(ref _invalSeq);

    /// <summary>Removes the entries of space <paramref name="slot"/> that translate <paramref name="address"/>,
    /// at every level; global entries only if <paramref name="includeGlobal"/>. Visits 4 entries per level.</summary>
    public void InvalidateAddress(int slot, ulong address, bool includeGlobal)
    {
        // The increment is a full fence before the mask is read (see Insert).
        NoteInvalidation();
        int space = slot + 1;
        int mask = Volatile.Read(ref _levelMask);
        while (mask != 0)
        {
            int level = BitOperations.TrailingZeroCount(mask);
            mask &= mask - 1;
            ulong tag = TagOf(address, level);
            ref Set set = ref SetAt(SetOf(tag, space));
            for (int way = 0; way < 4; way++)
            {
                // Take every way, even a non-matching one: a fill in progress may be about to write a match.
                ref int seq = ref At(ref set.Seq, way);
                int start = SeqLock.Enter(ref seq);
                if (At(ref set.Space, way) == space && At(ref set.Tag, way) == tag
                    && (includeGlobal || ((uint)At(ref set.Flags, way) & GlobalPage) == 0))
                {
                    At(ref set.Space, way) = 0;
                }

                SeqLock.Exit(ref seq, start);
            }
        }
    }

    /// <summary>Number of live-looking (non-empty) entries; for tests and statistics, not for the hot path.</summary>
    public int CountOccupied()
    {
        int n = 0;
        for (int set = 0; set < _entries / 4; set++)
        {
            for (int way = 0; way < 4; way++)
            {
                if (Volatile.Read(ref At(ref SetAt(set).Space, way)) != 0)
                {
                    n++;
                }
            }
        }

        return n;
    }
}
