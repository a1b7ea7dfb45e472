using System.Diagnostics;
using System.Runtime.CompilerServices;
using FastIommu.Formats.RiscV;

namespace FastIommu.PageTables;

// Unmap: argument checks, the one-table fast path, the general clearing walk.
public sealed unsafe partial class PageTable<TMode> where TMode : struct, IPagingMode
{
    /// <summary>Unmaps every leaf in [iova, iova + size) (holes are skipped) and records what it cleared in
    /// <paramref name="gather"/>, with the table pages that became empty.</summary>
    /// <param name="unmapped">Bytes of leaves cleared.</param>
    /// <returns>Success, or why nothing was changed (a superpage cut in part, misalignment, range).</returns>
    public MapStatus TryUnmap(ulong iova, ulong size, InvalidationGather gather, out ulong unmapped)
    {
        ThrowIfUnusable();
        ArgumentNullException.ThrowIfNull(gather);
        unmapped = 0;
        MapStatus status = size == 0 ? MapStatus.ZeroSize
            : (iova & 0xFFF) != 0 ? MapStatus.MisalignedIova
            : (size & 0xFFF) != 0 ? MapStatus.MisalignedSize
            : !IsLegalRange(iova, size) ? MapStatus.IovaOutOfRange
            : !gather.Accepts(_allocator) ? MapStatus.ForeignGather
            : MapStatus.Success;
        if (status != MapStatus.Success)
        {
            return status;
        }

        // A range inside one table: one walk, no preflight (the common unmap of a page, a superpage, a batch).
        int fast = TryUnmapWithinTable(iova, size, gather, out unmapped);
        if (fast >= 0)
        {
            return (MapStatus)fast;
        }

        // Only the leaves holding the first and the last page can stick out of the range.
        WalkResult head = Walk(iova);
        if (head.Found && (iova & (head.PageSize - 1)) != 0)
        {
            return MapStatus.PartialSuperpage;
        }

        ulong last = iova + (size - 1);
        WalkResult tail = size <= head.PageSize && head.Found ? head : Walk(last);
        if (tail.Found && ((last + 1) & (tail.PageSize - 1)) != 0)
        {
            return MapStatus.PartialSuperpage;
        }

        unmapped = ClearRange(iova, size, gather);
        return MapStatus.Success;
    }

    /// <summary>Unmap of a range that lies inside the table where the walk for its first page stops: returns the
    /// status, or -1 when the general path must decide (the range spans tables, or meets a lower table).
    /// Changes nothing before it knows it can finish.</summary>
    private int TryUnmapWithinTable(ulong iova, ulong size, InvalidationGather gather, out ulong unmapped)
    {
        Unsafe.SkipInit(out Path path);
        int retries = 0;
        unmapped = 0;
        ulong last = iova + (size - 1);
        while (true)
        {
            int stop = Descend(iova, 0, ref path, out ulong entry);
            if (stop < 0)
            {
                Backoff(stop, ref retries, iova);
                continue;
            }

            int shift = PagingMode<TMode>.LevelShift(stop);
            if (stop < Top && ((iova ^ last) >> (shift + 9)) != 0)
            {
                return -1; // the range leaves this table
            }

            if (stop > 0)
            {
                if (entry == 0)
                {
                    // An invalid entry above level 0 covering the whole range: nothing is mapped.
                    return ((iova ^ last) >> shift) == 0 ? (int)MapStatus.Success : -1;
                }

                return UnmapUpperRun(ref path, stop, iova, size, gather, out unmapped);
            }

            ulong table = path.Table[0];
            int n = (int)(size >> 12);
            ref ulong first = ref EntryRef(table, PagingMode<TMode>.Index(iova, 0));
            // Validate only once a valid entry was read (acquire): that entry is a leaf of this call's range, so the
            // table cannot die before we clear it. A table with none of our leaves is not ours to touch: a walk that
            // finds nothing there has nothing to do, whatever happened to the table meanwhile.
            if (!AnyValid(ref first, n))
            {
                return (int)MapStatus.Success;
            }

            if (!Validate(ref path, 0))
            {
                continue;
            }

            // A 64 KiB Svnapot group may stick out at either end.
            if (((iova & (NapotSize - 1)) != 0 && (Volatile.Read(ref first) & Pte.N) != 0)
                || (((iova + size) & (NapotSize - 1)) != 0 && (Volatile.Read(ref Unsafe.Add(ref first, n - 1)) & Pte.N) != 0))
            {
                return (int)MapStatus.PartialSuperpage;
            }

            uint cleared = ClearLeafRun(ref first, n, iova, gather);
            if (cleared != 0)
            {
                unmapped = (ulong)cleared << 12;
                ReleaseAndFreeEmpty(ref path, 0, cleared, gather);
            }

            return (int)MapStatus.Success;
        }
    }

    /// <summary>True when one of the <paramref name="n"/> entries is non-zero. Acquire loads, so a validation after it
    /// is ordered after the entry read.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool AnyValid(ref ulong first, int n)
    {
        for (int i = 0; i < n; i++)
        {
            if (Volatile.Read(ref Unsafe.Add(ref first, i)) != 0)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>The range starts with a leaf at <paramref name="level"/> &gt; 0 and lies in that leaf's table.</summary>
    private int UnmapUpperRun(ref Path path, int level, ulong iova, ulong size, InvalidationGather gather, out ulong unmapped)
    {
        unmapped = 0;
        if (!Validate(ref path, level))
        {
            return -1; // moved under us: let the general path walk again
        }

        int shift = PagingMode<TMode>.LevelShift(level);
        ulong pageSize = 1UL << shift;
        if ((iova & (pageSize - 1)) != 0)
        {
            return (int)MapStatus.PartialSuperpage;
        }

        if ((size & (pageSize - 1)) != 0)
        {
            return -1; // the end falls inside an entry: the general path checks what is there
        }

        int n = (int)(size >> shift);
        ref ulong first = ref EntryRef(path.Table[level], PagingMode<TMode>.Index(iova, level));
        for (int i = 0; i < n; i++)
        {
            if (IsTablePointer(Volatile.Read(ref Unsafe.Add(ref first, i))))
            {
                return -1; // a lower table inside the range
            }
        }

        uint cleared = 0;
        for (int i = 0; i < n; i++)
        {
            ref ulong slot = ref Unsafe.Add(ref first, i);
            if (Volatile.Read(ref slot) != 0)
            {
                ClearLeaf(ref slot);
                gather.AddRange(iova + ((ulong)i << shift), pageSize);
                cleared++;
            }
        }

        if (cleared != 0)
        {
            unmapped = (ulong)cleared << shift;
            ReleaseAndFreeEmpty(ref path, level, cleared, gather);
        }

        return (int)MapStatus.Success;
    }

    /// <summary>Unmaps like <see cref="TryUnmap"/> and returns the bytes unmapped.</summary>
    /// <exception cref="PageTableException">The unmap was refused; nothing changed.</exception>
    public ulong Unmap(ulong iova, ulong size, InvalidationGather gather)
    {
        MapStatus status = TryUnmap(iova, size, gather, out ulong unmapped);
        if (status != MapStatus.Success)
        {
            ThrowUnmap(status, iova, size);
        }

        return unmapped;
    }

    /// <summary>Clears the leaves in [iova, iova + size), records the ranges in <paramref name="gather"/> and frees
    /// tables left empty into it (no gather: a rollback of the overload without one; empty tables are parked).</summary>
    private ulong ClearRange(ulong iova, ulong size, InvalidationGather? gather)
    {
        Unsafe.SkipInit(out Path path);
        ulong cur = iova;
        ulong remaining = size;
        ulong total = 0;
        int retries = 0;
        while (remaining != 0)
        {
            int stop = Descend(cur, 0, ref path, out ulong entry);
            if (stop < 0)
            {
                Backoff(stop, ref retries, cur);
                continue;
            }

            int shift = PagingMode<TMode>.LevelShift(stop);
            ulong pageSize = 1UL << shift;
            if (entry == 0)
            {
                ulong step = pageSize - (cur & (pageSize - 1));
                if (step >= remaining)
                {
                    break;
                }

                cur += step;
                remaining -= step;
                continue;
            }

            if (!Validate(ref path, stop))
            {
                continue;
            }

            // The table is ours to clear in: the leaf at cur belongs to this call's range and keeps it alive.
            ulong table = path.Table[stop];
            int index = PagingMode<TMode>.Index(cur, stop);
            if (stop == 0)
            {
                // Level 0 holds no table pointers: clear the whole run at once.
                int n = (int)Math.Min((ulong)(512 - index), remaining >> 12);
                uint run = ClearLeafRun(ref EntryRef(table, index), n, cur, gather);
                cur += (ulong)n << 12;
                remaining -= (ulong)n << 12;
                total += (ulong)run << 12;
                if (run != 0)
                {
                    ReleaseAndFreeEmpty(ref path, 0, run, gather);
                }

                continue;
            }

            int entries = EntriesAt(stop);
            uint cleared = 0;
            ulong leafStart = cur;
            ulong leafBytes = 0;
            for (; index < entries && remaining != 0; index++)
            {
                ref ulong slot = ref EntryRef(table, index);
                ulong value = Volatile.Read(ref slot);
                if (IsTablePointer(value))
                {
                    break; // descend on the next walk
                }

                if (remaining < pageSize)
                {
                    Debug.Assert(value == 0, "a leaf sticking out of the range passed the partial-superpage check");
                    remaining = 0;
                    break;
                }

                if (value != 0)
                {
                    ClearLeaf(ref slot);
                    cleared++;
                    if (leafBytes == 0)
                    {
                        leafStart = cur;
                    }

                    leafBytes += pageSize;
                }
                else if (leafBytes != 0)
                {
                    gather?.AddRange(leafStart, leafBytes);
                    leafBytes = 0;
                }

                cur += pageSize;
                remaining -= pageSize;
            }

            if (leafBytes != 0)
            {
                gather?.AddRange(leafStart, leafBytes);
            }

            total += (ulong)cleared << shift;
            if (cleared != 0)
            {
                ReleaseAndFreeEmpty(ref path, stop, cleared, gather);
            }
        }

        return total;
    }
}
