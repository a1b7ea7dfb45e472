using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
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
/// Layout, chosen for the hit path: an entry is 32 bytes (the sequence word, the space, the tag, the PA, one epoch
/// and the flags), a set is 4 entries = 128 bytes, and the table starts on a 64-byte boundary, so a set is two whole
/// cache lines and an entry never straddles one. An entry records the one epoch of its space that can kill it:
/// <see cref="SpaceStamp.AllGen"/> for a global entry, <see cref="SpaceStamp.Gen"/> for the others; a hit compares
/// that one word.
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

    private const int EntryBytes = 32;
    private const int LineBytes = 64;

    [StructLayout(LayoutKind.Sequential, Size = EntryBytes)]
    private struct Entry
    {
        public int Seq;
        public int Space;     // slot + 1; 0 = empty
        public ulong Tag;     // (IOVA >> level shift) << 3 | level
        public ulong PaBase;  // PA of the entry's first byte, aligned to its level
        public uint Epoch;    // SpaceStamp.AllGen if GlobalPage, else SpaceStamp.Gen, when filled
        public uint Flags;
    }

    // Pinned (never moves), so the 64-byte-aligned start computed once stays aligned.
    private readonly byte[] _storage;
    private readonly int _start;
    private readonly int _entries;
    private readonly int _setShift;
    private readonly int _setMask;    // sets - 1 (sets is a power of two)
    private int _levelMask;
    private long _invalSeq;
    private int _victim;

    public Iotlb(int entries)
    {
        _entries = entries;
        _storage = GC.AllocateArray<byte>(entries * EntryBytes + LineBytes, pinned: true);
        unsafe
        {
            nint address = (nint)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(_storage));
            _start = (int)((LineBytes - (address & (LineBytes - 1))) & (LineBytes - 1));
        }

        int sets = entries / 4;
        _setShift = 64 - BitOperations.Log2((uint)sets);
        _setMask = sets - 1;
        if (sets == 1)
        {
            _setShift = 63; // one set: index is always 0 after the mask below
        }
    }

    /// <summary>The first way of set <paramref name="set"/>; <paramref name="set"/> is masked by <see cref="SetOf"/>,
    /// so the set's 4 entries are inside the storage: no bounds check.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private ref Entry SetAt(int set) =>
        ref Unsafe.As<byte, Entry>(ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(_storage), _start + (set << 7)));

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
            ref Entry set = ref SetAt(setIndex);
            int chosen = NoWay;
            for (int way = 0; way < 4; way++)
            {
                ref Entry e = ref Unsafe.Add(ref set, way);
                // The sequence first (an acquire read), then the entry: the copy is consistent if the sequence
                // is even and unchanged after it.
                int seq = SeqLock.BeginRead(ref e.Seq);
                int entrySpace = e.Space;
                if (e.Tag != tag || entrySpace != space)
                {
                    if (entrySpace == 0 && chosen == NoWay)
                    {
                        chosen = way;
                    }

                    continue;
                }

                chosen = way; // this translation's entry, live or not: a fill replaces it rather than duplicate it
                ulong paBase = e.PaBase;
                uint epoch = e.Epoch, entryFlags = e.Flags;
                if (!SeqLock.Validate(ref e.Seq, seq)
                    || epoch != ((entryFlags & GlobalPage) != 0 ? stamp.AllGen : stamp.Gen))
                {
                    continue;
                }

                pa = paBase | (iova & 0xFFF);
                flags = entryFlags;
                return true;
            }

            hint = (setIndex << 3) | chosen;
            mask &= ~1;
        }

        while (mask != 0)
        {
            int level = BitOperations.TrailingZeroCount(mask);
            mask &= mask - 1;
            ulong tag = TagOf(iova, level);
            ref Entry set = ref SetAt(SetOf(tag, space));
            for (int way = 0; way < 4; way++)
            {
                ref Entry e = ref Unsafe.Add(ref set, way);
                int seq = SeqLock.BeginRead(ref e.Seq);
                if (e.Tag != tag || e.Space != space)
                {
                    continue;
                }

                ulong paBase = e.PaBase;
                uint epoch = e.Epoch, entryFlags = e.Flags;
                if (!SeqLock.Validate(ref e.Seq, seq)
                    || epoch != ((entryFlags & GlobalPage) != 0 ? stamp.AllGen : stamp.Gen))
                {
                    continue;
                }

                ulong offsetMask = (1UL << (12 + 9 * level)) - 1;
                pa = paBase | (iova & offsetMask);
                flags = entryFlags;
                return true;
            }
        }

        pa = 0;
        flags = 0;
        return false;
    }

    // A hint's way field (bits 2:0): 0 to 3, or NoWay (the fill picks a victim).
    private const int NoWay = 4;

    /// <summary>Caches a translation made under <paramref name="stamp"/>, unless an address invalidation ran since
    /// <paramref name="invalSeq"/> was read (the walk may have seen the old tables).</summary>
    public void Insert(int slot, SpaceStamp stamp, long invalSeq, ulong iova, int level, ulong paBase, uint flags)
    {
        int space = slot + 1;
        ulong tag = TagOf(iova, level);
        ref Entry set = ref SetAt(SetOf(tag, space));
        int way = -1;
        for (int i = 0; i < 4; i++)
        {
            ref Entry e = ref Unsafe.Add(ref set, i);
            if (e.Space == 0 || (e.Space == space && e.Tag == tag))
            {
                way = i;
                break;
            }
        }

        if (way < 0)
        {
            way = (_victim++ ^ (int)tag) & 3;
        }

        Write(ref Unsafe.Add(ref set, way), space, tag, stamp, invalSeq, level, paBase, flags);
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

        ulong tag = TagOf(iova, 0);
        int way = hint & 7;
        if (way == NoWay)
        {
            way = (_victim++ ^ (int)tag) & 3;
        }

        Write(ref Unsafe.Add(ref SetAt(hint >> 3), way), slot + 1, tag, stamp, invalSeq, 0, paBase, flags);
    }

    /// <summary>The fill proper: <paramref name="target"/> takes the translation under its sequence lock, unless
    /// another thread owns the entry or an address invalidation ran since <paramref name="invalSeq"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void Write(ref Entry target, int space, ulong tag, SpaceStamp stamp, long invalSeq, int level, ulong paBase, uint flags)
    {
        // The level's bit before the sequence check, each side with a full fence between its store and its load
        // (here the Or or the CAS below; InvalidateAddress: the sequence increment): either this fill sees the
        // invalidation's new sequence and gives up, or the invalidation sees the bit and visits this entry. Set after
        // the entry, an invalidation that ran in between skipped the level and the entry stayed live. (A hinted fill
        // is at level 0, whose bit its probe saw set: the Or is skipped, the CAS is the fence.)
        if ((Volatile.Read(ref _levelMask) & (1 << level)) == 0)
        {
            Interlocked.Or(ref _levelMask, 1 << level);
        }

        if (!SeqLock.TryEnter(ref target.Seq, out int start))
        {
            return; // another thread owns the entry; caching is optional
        }

        if (Volatile.Read(ref _invalSeq) != invalSeq)
        {
            SeqLock.Exit(ref target.Seq, start);
            return;
        }

        target.Space = space;
        target.Tag = tag;
        target.PaBase = paBase;
        target.Epoch = (flags & GlobalPage) != 0 ? stamp.AllGen : stamp.Gen;
        target.Flags = flags;
        SeqLock.Exit(ref target.Seq, start);

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
            ref Entry set = ref SetAt(SetOf(tag, space));
            for (int way = 0; way < 4; way++)
            {
                ref Entry e = ref Unsafe.Add(ref set, way);
                // Take every way, even a non-matching one: a fill in progress may be about to write a match.
                int start = SeqLock.Enter(ref e.Seq);
                if (e.Space == space && e.Tag == tag && (includeGlobal || (e.Flags & GlobalPage) == 0))
                {
                    e.Space = 0;
                }

                SeqLock.Exit(ref e.Seq, start);
            }
        }
    }

    /// <summary>Number of live-looking (non-empty) entries; for tests and statistics, not for the hot path.</summary>
    public int CountOccupied()
    {
        int n = 0;
        ref Entry first = ref SetAt(0);
        for (int i = 0; i < _entries; i++)
        {
            if (Volatile.Read(ref Unsafe.Add(ref first, i).Space) != 0)
            {
                n++;
            }
        }

        return n;
    }
}
