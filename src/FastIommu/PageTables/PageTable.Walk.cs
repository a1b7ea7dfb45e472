using System.Runtime.CompilerServices;
using FastIommu.Diagnostics;
using FastIommu.Formats.RiscV;
using FastIommu.Memory;

namespace FastIommu.PageTables;

// Walks: the optimistic descent, its validation, and the lookups built on it (Walk, IovaToPhys).
public sealed unsafe partial class PageTable<TMode> where TMode : struct, IPagingMode
{
    /// <summary>Walks the table for <paramref name="iova"/>: the leaf, its level and size, and the translation.</summary>
    public WalkResult Walk(ulong iova)
    {
        ThrowIfUnusable();
        if (!PagingMode<TMode>.IsCanonical(iova))
        {
            return default;
        }

        Unsafe.SkipInit(out Path path);
        int retries = 0;
        while (true)
        {
            int stop = Descend(iova, 0, ref path, out ulong entry);
            if (stop < 0)
            {
                Backoff(stop, ref retries, iova);
                continue;
            }

            if (!Validate(ref path, stop))
            {
                continue;
            }

            return MakeResult(iova, stop, entry);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static WalkResult MakeResult(ulong iova, int level, ulong entry)
    {
        ulong size = PagingMode<TMode>.PageSize(level);
        if ((entry & Pte.V) == 0 || (entry & Pte.RwxMask) == 0)
        {
            return new WalkResult { Found = false, Pte = new Pte(entry), Level = level, PageSize = size };
        }

        ulong ppn = (entry & Pte.PpnMask) >> Pte.PpnShift;
        if ((entry & Pte.N) != 0 && level == 0)
        {
            size = NapotSize;
            ppn &= ~0xFUL;
        }

        ulong pa = (ppn << 12 & ~(size - 1)) | (iova & (size - 1));
        return new WalkResult { Found = true, Pte = new Pte(entry), Level = level, PageSize = size, PhysicalAddress = pa };
    }

    /// <summary>The physical address <paramref name="iova"/> maps to; false when it is not mapped.</summary>
    public bool TryIovaToPhys(ulong iova, out ulong pa)
    {
        ThrowIfUnusable();
        pa = 0;
        if (!PagingMode<TMode>.IsCanonical(iova))
        {
            return false;
        }

        // Fast path: a plain walk bracketed by two reads of the death counter. A table's page can be reused only after
        // its killer unlinked it, then moved the counter, then returned (so only then can Complete free it). A walk that
        // found the table through its parent read that entry before the unlink, so it read the counter before the
        // move, and if it then read the page's next life the move happened before: its second read sees it. Counter
        // unchanged: every table read was genuine. A dead but not yet freed table reads as all zero: "not mapped",
        // true at the instant it died. So only a found leaf needs the check, and a moved counter falls back to the
        // validated walk. (Moving the counter before the unlink would break this: a walk could read the moved counter,
        // then the still-linked dead table, and then its next life.)
        // The root step is peeled (its index width and shift are constants) and the lower levels count the shift
        // down, so the loop does no per-level index-width test or multiply.
        long deaths = Volatile.Read(ref _deaths.Value);
        int shift = PagingMode<TMode>.LevelShift(Top);
        ulong e = Volatile.Read(ref EntryRef(_root, PagingMode<TMode>.Index(iova, Top)));
        while (IsTablePointer(e) && shift != PhysicalMemory.PageShift)
        {
            ulong offset = ((e & Pte.PpnMask) << (PhysicalMemory.PageShift - Pte.PpnShift)) - _tableStart;
            if (offset >= _tableBytes)
            {
                return TryIovaToPhysValidated(iova, out pa);
            }

            // Interleaving point: a walk read a parent entry pointing to a table and has not read that table yet.
            if (Interleaving.Enabled)
            {
                Interleaving.Reach("PageTable.TableEntryRead");
            }

            shift -= 9;
            e = Volatile.Read(ref *(ulong*)(_host + offset + ((iova >> shift) & 511) * sizeof(ulong)));
        }

        if ((e & Pte.V) == 0 || (e & Pte.RwxMask) == 0)
        {
            return false;
        }

        if (Volatile.Read(ref _deaths.Value) != deaths)
        {
            return TryIovaToPhysValidated(iova, out pa);
        }

        if ((e & Pte.N) != 0 && shift == PhysicalMemory.PageShift)
        {
            shift = 16;
        }

        ulong mask = (1UL << shift) - 1;
        pa = (((e & Pte.PpnMask) << (PhysicalMemory.PageShift - Pte.PpnShift)) & ~mask) | (iova & mask);
        return true;
    }

    private bool TryIovaToPhysValidated(ulong iova, out ulong pa)
    {
        pa = 0;
        Unsafe.SkipInit(out Path path);
        int retries = 0;
        while (true)
        {
            int stop = Descend(iova, 0, ref path, out ulong entry);
            if (stop < 0)
            {
                Backoff(stop, ref retries, iova);
                continue;
            }

            if ((entry & Pte.V) == 0 || (entry & Pte.RwxMask) == 0)
            {
                // Not mapped. No validation needed: a stale path ends in a dead (all-zero) or reused table, and an
                // IOVA that was mapped during the whole call keeps its path alive (nobody else may unmap it).
                return false;
            }

            if (!Validate(ref path, stop))
            {
                continue;
            }

            int shift = (entry & Pte.N) != 0 && stop == 0 ? 16 : PagingMode<TMode>.LevelShift(stop);
            ulong mask = (1UL << shift) - 1;
            pa = ((entry & Pte.PpnMask) >> Pte.PpnShift << 12 & ~mask) | (iova & mask);
            return true;
        }
    }

    /// <summary>The physical address <paramref name="iova"/> maps to.</summary>
    /// <exception cref="PageTableException">The IOVA is not mapped (status <see cref="MapStatus.NotMapped"/>).</exception>
    public ulong IovaToPhys(ulong iova)
    {
        if (!TryIovaToPhys(iova, out ulong pa))
        {
            ThrowNotMapped(iova);
        }

        return pa;
    }

    /// <summary>The path of an optimistic walk: per level the table, the generation seen on entering it, and the
    /// entry read in it (for levels above where the walk stopped).</summary>
    private struct Path
    {
        public fixed ulong Table[5];
        public fixed ulong Gen[5];
        public fixed ulong Entry[5];
        public ulong Iova;
        public long Deaths; // the table-death counter when the walk started (read before the root entry)
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool IsTablePointer(ulong entry) => (entry & (Pte.V | Pte.RwxMask)) == Pte.V;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private ref ulong EntryRef(ulong table, int index) =>
        ref Unsafe.Add(ref Unsafe.AsRef<ulong>(_host + (table - _tableStart)), index);

    /// <summary>Walks from the root toward <paramref name="target"/>. Returns the level where it stopped: the target
    /// (entry = what is there) or a higher level whose entry is invalid or a leaf. -1: met a dead table (retry);
    /// -2: met a pointer outside the table area (a stale read, or a corrupted table).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private int Descend(ulong iova, int target, ref Path path, out ulong entry)
    {
        ulong table = _root;
        path.Deaths = Volatile.Read(ref _deaths.Value);
        path.Iova = iova;
        path.Table[Top] = _root;
        path.Gen[Top] = 0;
        for (int level = Top; ; level--)
        {
            ulong e = Volatile.Read(ref EntryRef(table, PagingMode<TMode>.Index(iova, level)));
            if (level == target || !IsTablePointer(e))
            {
                entry = e;
                return level;
            }

            ulong next = (e & Pte.PpnMask) >> Pte.PpnShift << 12;
            if (next - _tableStart >= _tableBytes)
            {
                entry = e;
                return -2;
            }

            // Interleaving point: as in TryIovaToPhys, a parent entry read, the table below it not yet.
            if (Interleaving.Enabled)
            {
                Interleaving.Reach("PageTable.TableEntryRead");
            }

            ulong side = Volatile.Read(ref Side(next));
            if ((side & DeadBit) != 0)
            {
                entry = e;
                return -1;
            }

            path.Entry[level] = e;
            path.Table[level - 1] = next;
            path.Gen[level - 1] = side & GenMask;
            table = next;
        }
    }

    /// <summary>True when the path down to <paramref name="level"/> was real at one instant: no table died since the
    /// walk began, or else every entry re-read unchanged (top-down), then every generation unchanged.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool Validate(ref Path path, int level)
    {
        // No table was unlinked since the walk started: every table it read was genuine when read (see
        // TryIovaToPhys). What a caller then does is guarded as before: a reservation re-checks the bottom table's
        // generation, and an unmapper's leaf keeps its table alive.
        if (Volatile.Read(ref _deaths.Value) == path.Deaths)
        {
            return true;
        }

        for (int k = Top; k > level; k--)
        {
            if (Volatile.Read(ref EntryRef(path.Table[k], PagingMode<TMode>.Index(path.Iova, k))) != path.Entry[k])
            {
                return false;
            }
        }

        for (int k = Top - 1; k >= level; k--)
        {
            if ((Volatile.Read(ref Side(path.Table[k])) & (GenMask | DeadBit)) != path.Gen[k])
            {
                return false;
            }
        }

        return true;
    }

    private void Backoff(int stop, ref int retries, ulong iova)
    {
        retries++;
        if (stop == -2 && retries > 1000)
        {
            throw new InvalidOperationException(
                $"{TMode.Name} table at 0x{_root:x}: the walk for IOVA 0x{iova:x} keeps meeting a table pointer outside the allocator's range: the table is corrupted.");
        }

        // A dying table stays linked only between its death and its unlink by the thread that killed it.
        if (retries > 10)
        {
            Thread.Yield();
        }
    }
}
