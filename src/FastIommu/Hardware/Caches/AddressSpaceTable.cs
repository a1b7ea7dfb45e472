using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace FastIommu.Hardware.Caches;

/// <summary>
/// The address spaces the IOTLB tags its entries with: one slot per (GV, GSCID, PSCV, PSCID) in use, each with
/// two epochs so that invalidating a whole PSCID is one increment and a whole GSCID one increment per space of that
/// GSCID, never a scan of the IOTLB.
/// </summary>
/// <remarks>
/// An IOTLB entry records its slot and one epoch of it (<see cref="Slot.AllGen"/> for a global entry,
/// <see cref="Slot.Gen"/> otherwise); it is live only while that epoch is unchanged. <see cref="Slot.Gen"/> alone is
/// bumped by IOTINVAL.VMA with PSCV=1, AV=0 (global entries survive it); both are bumped when the slot is recycled
/// and by the commands that flush every space of a GSCID (index 65536 = host, i.e. second stage Bare). Slots of one
/// GSCID are linked in a list, so those commands, and an address-selective flush for "all PSCIDs of this GSCID",
/// visit only that GSCID's spaces. Mutations take a lock (they happen on cache fills and invalidations, never on an
/// IOTLB hit).
/// </remarks>
internal sealed class AddressSpaceTable
{
    public const int HostGscIndex = 65536;

    /// <remarks>32 bytes: two slots to a cache line.</remarks>
    internal struct Slot
    {
        /// <summary>Bumped each time the slot is given to another space; contexts caching the slot check it.</summary>
        public uint Identity;

        /// <summary>Epoch of the non-global entries: bumped by every invalidation of this space.</summary>
        public uint Gen;

        /// <summary>Epoch of the global entries: bumped by the invalidations that include global entries.</summary>
        public uint AllGen;

        /// <summary>Epoch of the space's <see cref="MicroTlb"/> entries: bumped after every change above and after
        /// every address invalidation in the space (the micro-TLB is not searched by address).</summary>
        public uint MicroEpoch;
        public ulong Key;
        public int GscIndex;
        public int Next;
    }

    private readonly Slot[] _slots;
    private readonly int[] _splintered; // per slot: 1 once a first-stage leaf was cached below its own level
    private readonly int[] _gscHead = new int[HostGscIndex + 1];
    private readonly Dictionary<ulong, int> _index;
    private readonly Lock _lock = new();
    private int _clock;
    private int _used;

    public AddressSpaceTable(int capacity)
    {
        _slots = new Slot[capacity];
        _splintered = new int[capacity];
        _index = new Dictionary<ulong, int>(capacity);
        Array.Fill(_gscHead, -1);
    }

    public int Capacity => _slots.Length;

    /// <summary>The slots themselves, for the micro-TLB's hit path (read-only there; the array never changes).</summary>
    public Slot[] Slots => _slots;

    /// <summary>The key of a space: GV in bit 63, GSCID 47:32, PSCV bit 31, PSCID 19:0.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong MakeKey(bool gv, uint gscid, bool pscv, uint pscid) =>
        (gv ? 1UL << 63 : 0) | ((ulong)(gscid & 0xFFFF) << 32) | (pscv ? 1UL << 31 : 0) | (pscid & 0xFFFFF);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int GscIndexOf(bool gv, uint gscid) => gv ? (int)(gscid & 0xFFFF) : HostGscIndex;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ref Slot SlotAt(int index) => ref _slots[index];

    /// <summary>The slot <paramref name="index"/> without a bounds check: only for an index this table handed out
    /// (<see cref="Resolve"/> returns indices below <see cref="Capacity"/>, and slots are never removed).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ref Slot SlotAtUnchecked(int index)
    {
        Debug.Assert((uint)index < (uint)_slots.Length, "a slot index this table handed out");
        return ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(_slots), index);
    }

    /// <summary>The slot of the space <paramref name="key"/>, creating it (and recycling another) if needed.</summary>
    public int Resolve(ulong key, out uint identity)
    {
        lock (_lock)
        {
            if (_index.TryGetValue(key, out int found))
            {
                identity = _slots[found].Identity;
                return found;
            }

            int index;
            if (_used < _slots.Length)
            {
                index = _used++;
            }
            else
            {
                index = _clock;
                _clock = (_clock + 1) % _slots.Length;
                ref Slot old = ref _slots[index];
                _index.Remove(old.Key);
                Unlink(index);
            }

            ref Slot slot = ref _slots[index];
            // Identity first: a reader that sees any of the new fields also sees the new identity (ProcessSpace rechecks).
            Volatile.Write(ref slot.Identity, slot.Identity + 1);
            Bump(ref slot);
            slot.Key = key;
            int gscIndex = (key >> 63) != 0 ? (int)((key >> 32) & 0xFFFF) : HostGscIndex;
            Volatile.Write(ref slot.GscIndex, gscIndex);
            slot.Next = _gscHead[gscIndex];
            _gscHead[gscIndex] = index;
            _index.Add(key, index);
            identity = slot.Identity;
            return index;
        }
    }

    private void Unlink(int index)
    {
        ref Slot slot = ref _slots[index];
        ref int link = ref _gscHead[slot.GscIndex];
        while (link != -1)
        {
            if (link == index)
            {
                link = slot.Next;
                return;
            }

            link = ref _slots[link].Next;
        }
    }

    /// <summary>IOTINVAL.VMA PSCV=1 AV=0: drop the non-global entries of one space.</summary>
    public void BumpNonGlobal(ulong key)
    {
        lock (_lock)
        {
            if (_index.TryGetValue(key, out int index))
            {
                Interlocked.Increment(ref _slots[index].Gen);
                Interlocked.Increment(ref _slots[index].MicroEpoch);
            }
        }
    }

    /// <summary>After an address invalidation has removed its IOTLB entries from <paramref name="slot"/>: the
    /// slot's micro-TLB entries die (caller holds the lock, inside <see cref="ForSpace"/> or <see cref="ForEachSpaceOf"/>).</summary>
    public void BumpMicro(int slot) => Interlocked.Increment(ref _slots[slot].MicroEpoch);

    /// <summary>A fill is about to cache part of a first-stage leaf at a lower level than the leaf's own (a superpage
    /// over smaller G-stage pages): from now on an address invalidation of the slot drops the whole space
    /// (<see cref="DropSplintered"/>), since the pieces sit at IOVAs it does not visit. Set before the fill's
    /// invalidation-sequence check with a full fence, as the IOTLB's level mask is: either the fill sees the
    /// invalidation's new sequence and gives up, or the invalidation sees the mark. Never cleared (a recycled slot
    /// keeps it: over-invalidation only).</summary>
    public void MarkSplintered(int slot)
    {
        if (Volatile.Read(ref _splintered[slot]) == 0)
        {
            Interlocked.Exchange(ref _splintered[slot], 1);
        }
    }

    /// <summary>After an address invalidation of <paramref name="slot"/> (whose sequence increment is the full fence
    /// before this read): if the slot holds pieces of first-stage superpages, kill its non-global entries, and its
    /// global ones too when <paramref name="includeGlobal"/>. Caller holds the lock.</summary>
    public void DropSplintered(int slot, bool includeGlobal)
    {
        if (Volatile.Read(ref _splintered[slot]) == 0)
        {
            return;
        }

        if (includeGlobal)
        {
            Interlocked.Increment(ref _slots[slot].AllGen);
        }

        Interlocked.Increment(ref _slots[slot].Gen);
    }

    /// <summary>Drops every entry (global ones too) of every space of one GSCID (or of the host).</summary>
    public void BumpGsc(int gscIndex)
    {
        lock (_lock)
        {
            for (int index = _gscHead[gscIndex]; index != -1; index = _slots[index].Next)
            {
                Bump(ref _slots[index]);
            }
        }
    }

    /// <summary>Drops every entry of every VM space (all GSCIDs, not the host), or of every space when
    /// <paramref name="includeHost"/>.</summary>
    public void BumpAllGuests(bool includeHost = false)
    {
        lock (_lock)
        {
            for (int index = 0; index < _used; index++)
            {
                ref Slot slot = ref _slots[index];
                if (includeHost || slot.GscIndex != HostGscIndex)
                {
                    Bump(ref slot);
                }
            }
        }
    }

    /// <summary>Kills every entry of a slot: the global epoch, then the non-global one, then the micro-TLB's (last:
    /// a micro-TLB fill that read the new micro epoch also reads the new IOTLB epochs).</summary>
    private static void Bump(ref Slot slot)
    {
        Interlocked.Increment(ref slot.AllGen);
        Interlocked.Increment(ref slot.Gen);
        Interlocked.Increment(ref slot.MicroEpoch);
    }

    /// <summary>Calls <paramref name="action"/> for the slot of <paramref name="key"/>, if it exists, under the lock.</summary>
    public void ForSpace<TState>(ulong key, ref TState state, SpaceAction<TState> action)
    {
        lock (_lock)
        {
            if (_index.TryGetValue(key, out int index))
            {
                action(ref state, index);
            }
        }
    }

    /// <summary>Calls <paramref name="action"/> for every slot of one GSCID (or of the host), under the lock.</summary>
    public void ForEachSpaceOf<TState>(int gscIndex, ref TState state, SpaceAction<TState> action)
    {
        lock (_lock)
        {
            for (int index = _gscHead[gscIndex]; index != -1; index = _slots[index].Next)
            {
                action(ref state, index);
            }
        }
    }
}

internal delegate void SpaceAction<TState>(ref TState state, int slot);
