using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using FastIommu.Diagnostics;
using FastIommu.Formats.RiscV;

namespace FastIommu.PageTables;

// Map: checks, preflight, the range walk that installs tables and writes leaves, rollback.
public sealed unsafe partial class PageTable<TMode> where TMode : struct, IPagingMode
{
    /// <summary>Maps [iova, iova + size) to [pa, pa + size) with the largest leaves alignment allows.
    /// A is set, D too when writable (hardware A/D updating off, as the Linux driver does); G-stage leaves get U.</summary>
    /// <returns><see cref="MapStatus.Success"/>, or why nothing is mapped.</returns>
    /// <remarks>Every refusal found by the checks changes nothing. A map can fail after its first store only when
    /// another user takes the shared allocator's last pages between the check and an install, or a concurrent call
    /// breaks the contract; it then rolls back. The leaves it cleared may already have been cached by the IOMMU, and
    /// this overload has nowhere to report them: a driver that shares its allocator, or whose device may already use
    /// the range, calls <see cref="TryMap(ulong, ulong, ulong, PageProtection, InvalidationGather, PageBasedMemoryType)"/>.
    /// Tables the rollback empties are unlinked and kept until <see cref="Dispose"/>.</remarks>
    public MapStatus TryMap(ulong iova, ulong pa, ulong size, PageProtection prot, PageBasedMemoryType pbmt = PageBasedMemoryType.Pma)
    {
        ThrowIfUnusable();
        return MapCore(iova, pa, size, prot, pbmt, gather: null);
    }

    /// <summary>Maps like <see cref="TryMap(ulong, ulong, ulong, PageProtection, PageBasedMemoryType)"/>; a map that
    /// fails after its first store records in <paramref name="gather"/> what its rollback removed, as an Unmap would.</summary>
    /// <returns><see cref="MapStatus.Success"/>, or why nothing is mapped.</returns>
    /// <remarks>Whatever the result, if <paramref name="gather"/> is not empty afterwards the caller treats it like an
    /// Unmap's: invalidate its <see cref="InvalidationGather.Ranges"/> (a whole PSCID/GSCID when it has freed tables),
    /// fence, then <see cref="InvalidationGather.Complete"/>. It gains entries only from a rollback, or (rarely, even on
    /// success) a table left empty when this call gave back a reservation while unmaps emptied it; a refusal by the
    /// checks leaves it untouched. <see cref="MapStatus.ForeignGather"/>: the gather holds table pages of another
    /// allocator; nothing changed.</remarks>
    public MapStatus TryMap(ulong iova, ulong pa, ulong size, PageProtection prot, InvalidationGather gather,
        PageBasedMemoryType pbmt = PageBasedMemoryType.Pma)
    {
        ThrowIfUnusable();
        ArgumentNullException.ThrowIfNull(gather);
        return gather.Accepts(_allocator) ? MapCore(iova, pa, size, prot, pbmt, gather) : MapStatus.ForeignGather;
    }

    /// <summary>Maps like <see cref="TryMap(ulong, ulong, ulong, PageProtection, PageBasedMemoryType)"/>.</summary>
    /// <exception cref="PageTableException">The mapping was refused (overlap, misalignment, range, memory); nothing is mapped.</exception>
    public void Map(ulong iova, ulong pa, ulong size, PageProtection prot, PageBasedMemoryType pbmt = PageBasedMemoryType.Pma)
    {
        ThrowIfUnusable();
        MapStatus status = MapCore(iova, pa, size, prot, pbmt, gather: null);
        if (status != MapStatus.Success)
        {
            ThrowMap(status, iova, pa, size);
        }
    }

    /// <summary>Maps like <see cref="TryMap(ulong, ulong, ulong, PageProtection, InvalidationGather, PageBasedMemoryType)"/>.</summary>
    /// <exception cref="PageTableException">The mapping was refused; nothing is mapped, and what a rollback removed
    /// is in <paramref name="gather"/>.</exception>
    public void Map(ulong iova, ulong pa, ulong size, PageProtection prot, InvalidationGather gather,
        PageBasedMemoryType pbmt = PageBasedMemoryType.Pma)
    {
        MapStatus status = TryMap(iova, pa, size, prot, gather, pbmt);
        if (status != MapStatus.Success)
        {
            ThrowMap(status, iova, pa, size);
        }
    }

    private MapStatus MapCore(ulong iova, ulong pa, ulong size, PageProtection prot, PageBasedMemoryType pbmt, InvalidationGather? gather)
    {
        MapStatus status = CheckMap(iova, pa, size, prot, pbmt);
        if (status != MapStatus.Success)
        {
            return status;
        }

        ulong leafBits = LeafBits(prot, pbmt);
        // First try without creating tables: if every table exists, nothing can fail after the first store except a
        // contract-breaking race (rolled back), so no preflight pass is needed.
        status = MapRange(iova, pa, size, leafBits, allowInstall: false, gather, out ulong done);
        if (status == MapStatus.Success)
        {
            return status;
        }

        if (status == NeedTables)
        {
            status = Preflight(iova + done, pa + done, size - done, _allocator.PagesFree, out long tablesNeeded);
            if (status == MapStatus.Success && tablesNeeded > _allocator.PagesFree)
            {
                status = MapStatus.OutOfMemory;
            }

            if (status == MapStatus.Success)
            {
                // Interleaving point: the preflight found room for every table; none is installed yet.
                if (Interleaving.Enabled)
                {
                    Interleaving.Reach("PageTable.Preflighted");
                }

                status = MapRange(iova + done, pa + done, size - done, leafBits, allowInstall: true, gather, out ulong rest);
                done += rest;
                if (status == MapStatus.Success)
                {
                    return status;
                }
            }
        }

        if (done != 0)
        {
            Rollback(iova, done, gather);
        }

        return status;
    }

    private const MapStatus NeedTables = (MapStatus)255;

    private static MapStatus CheckMap(ulong iova, ulong pa, ulong size, PageProtection prot, PageBasedMemoryType pbmt)
    {
        if (size == 0)
        {
            return MapStatus.ZeroSize;
        }

        if ((iova & 0xFFF) != 0)
        {
            return MapStatus.MisalignedIova;
        }

        if ((pa & 0xFFF) != 0)
        {
            return MapStatus.MisalignedPhysicalAddress;
        }

        if ((size & 0xFFF) != 0)
        {
            return MapStatus.MisalignedSize;
        }

        if (!IsLegalRange(iova, size))
        {
            return MapStatus.IovaOutOfRange;
        }

        if (pa + (size - 1) < pa || pa + (size - 1) >= MaxPhysicalAddress)
        {
            return MapStatus.PhysicalAddressOutOfRange;
        }

        const PageProtection Known = PageProtection.Read | PageProtection.Write | PageProtection.Execute | PageProtection.User | PageProtection.Global;
        bool noAccess = (prot & (PageProtection.Read | PageProtection.Write | PageProtection.Execute)) == 0;
        bool writeOnly = (prot & (PageProtection.Read | PageProtection.Write)) == PageProtection.Write;
        bool globalInGStage = TMode.IsGStage && (prot & PageProtection.Global) != 0;
        if ((prot & ~Known) != 0 || noAccess || writeOnly || globalInGStage || pbmt > PageBasedMemoryType.Io)
        {
            return MapStatus.InvalidProtection;
        }

        return MapStatus.Success;
    }

    /// <summary>[iova, iova + size) is inside one contiguous stretch of legal input addresses and does not wrap.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool IsLegalRange(ulong iova, ulong size)
    {
        ulong last = iova + (size - 1);
        // Both ends legal, no wrap, and (first stage) both in the same half: the hole between the halves is not legal.
        return last >= iova && PagingMode<TMode>.IsCanonical(iova) && PagingMode<TMode>.IsCanonical(last) && ((iova ^ last) >> 63) == 0;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong LeafBits(PageProtection prot, PageBasedMemoryType pbmt)
    {
        // V and A always; D with W (no hardware A/D updating: Linux presets them the same way).
        ulong bits = Pte.V | Pte.A | ((ulong)pbmt << Pte.PbmtShift);
        if ((prot & PageProtection.Read) != 0)
        {
            bits |= Pte.R;
        }

        if ((prot & PageProtection.Write) != 0)
        {
            bits |= Pte.W | Pte.D;
        }

        if ((prot & PageProtection.Execute) != 0)
        {
            bits |= Pte.X;
        }

        // Privileged spec, G-stage: leaves must have U=1 (the G-stage treats every access as a U-mode access).
        if ((prot & PageProtection.User) != 0 || TMode.IsGStage)
        {
            bits |= Pte.U;
        }

        if ((prot & PageProtection.Global) != 0)
        {
            bits |= Pte.G;
        }

        return bits;
    }

    /// <summary>The level of the largest leaf that fits at (iova, pa) with <paramref name="remaining"/> bytes left.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int ChooseLevel(ulong iova, ulong pa, ulong remaining)
    {
        for (int level = Top; level > 0; level--)
        {
            ulong s = PagingMode<TMode>.PageSize(level);
            if (((iova | pa) & (s - 1)) == 0 && remaining >= s)
            {
                return level;
            }
        }

        return 0;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int EntriesAt(int level) => level == Top ? PagingMode<TMode>.RootEntries : 512;

    /// <summary>Entries of the run at <paramref name="level"/> starting at <paramref name="iova"/>: up to the end of the
    /// table or of the range. Every entry of it takes a leaf of this level (a larger one needs the next table boundary).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int RunLength(ulong iova, ulong remaining, int level)
    {
        int index = PagingMode<TMode>.Index(iova, level);
        ulong left = remaining >> PagingMode<TMode>.LevelShift(level);
        int room = EntriesAt(level) - index;
        return left < (ulong)room ? (int)left : room;
    }

    private MapStatus MapRange(ulong iova, ulong pa, ulong size, ulong leafBits, bool allowInstall, InvalidationGather? gather, out ulong done)
    {
        Unsafe.SkipInit(out Path path);
        ulong cur = iova;
        ulong curPa = pa;
        ulong remaining = size;
        int retries = 0;
        done = 0;
        while (remaining != 0)
        {
            int level = ChooseLevel(cur, curPa, remaining);
            int stop = Descend(cur, level, ref path, out ulong entry);
            if (stop < 0)
            {
                Backoff(stop, ref retries, cur);
                continue;
            }

            if (stop > level)
            {
                if (entry != 0)
                {
                    // A leaf above the level we want covers cur.
                    if (!Validate(ref path, stop))
                    {
                        continue;
                    }

                    return MapStatus.Overlap;
                }

                if (!allowInstall)
                {
                    return NeedTables;
                }

                MapStatus installed = TryInstallTable(ref path, stop, gather);
                if (installed != MapStatus.Success)
                {
                    return installed;
                }

                continue; // walk again, through the table now there
            }

            int n = RunLength(cur, remaining, level);
            ulong table = path.Table[level];
            ref ulong first = ref EntryRef(table, PagingMode<TMode>.Index(cur, level));
            if (entry != 0 || !AllZero(ref first, n))
            {
                if (!Validate(ref path, level))
                {
                    continue;
                }

                return MapStatus.Overlap;
            }

            if (!Validate(ref path, level) || !TryReserve(table, path.Gen[level], (uint)n))
            {
                continue;
            }

            // Interleaving point: n entries of a live table are reserved (its count holds them, so it cannot die);
            // the leaves are not written yet.
            if (Interleaving.Enabled)
            {
                Interleaving.Reach("PageTable.LeavesReserved");
            }

            if (level == 0 && _svnapot)
            {
                WriteLeaves0(ref first, n, cur, curPa, leafBits);
            }
            else
            {
                WriteLeaves(ref first, n, curPa, leafBits, level);
            }

            ulong bytes = (ulong)n << PagingMode<TMode>.LevelShift(level);
            cur += bytes;
            curPa += bytes;
            remaining -= bytes;
            done += bytes;
        }

        return MapStatus.Success;
    }

    /// <summary>Installs a fresh zeroed table below the invalid entry of <c>path.Table[level]</c> for <c>path.Iova</c>.
    /// Success also when another thread installed one first (ours is then freed: it was never visible).</summary>
    /// <remarks>Giving back the parent's reservation (no page, or a lost race) may leave the parent empty, whoever
    /// created it (its other entries may have been removed meanwhile): it then dies like after an Unmap, into
    /// <paramref name="gather"/> (or is parked until Dispose when there is none).</remarks>
    private MapStatus TryInstallTable(ref Path path, int level, InvalidationGather? gather)
    {
        ulong parent = path.Table[level];
        if (!Validate(ref path, level) || !TryReserve(parent, path.Gen[level], 1))
        {
            return MapStatus.Success; // stale path: the caller walks again
        }

        // Interleaving point: the parent entry is reserved for a new table, which is not allocated yet.
        if (Interleaving.Enabled)
        {
            Interleaving.Reach("PageTable.InstallReserved");
        }

        if (!_allocator.TryAllocatePage(out ulong page))
        {
            ReleaseAndFreeEmpty(ref path, level, 1, gather);
            return MapStatus.OutOfMemory;
        }

        ref ulong side = ref Side(page);
        // The page is unpublished: nobody can reserve it (its word is dead or was never ours), so a plain store.
        Volatile.Write(ref side, Volatile.Read(ref side) & GenMask);
        ref ulong slot = ref EntryRef(parent, PagingMode<TMode>.Index(path.Iova, level));
        if (Interlocked.CompareExchange(ref slot, Pte.Table(page).Value, 0) != 0)
        {
            // Lost the race: use the winner's table (the caller walks again); ours was never published.
            Volatile.Write(ref side, ((side & GenMask) + GenUnit) | DeadBit);
            _allocator.FreePage(page);
            ReleaseAndFreeEmpty(ref path, level, 1, gather);
        }
        else if (Interleaving.Enabled)
        {
            // Interleaving point: the new table is linked (the parent's reservation is now its entry); it holds no
            // entry and no reservation yet, and the mapper has not walked into it.
            Interleaving.Reach("PageTable.TableInstalled");
        }

        return MapStatus.Success;
    }

    /// <summary>True when the <paramref name="n"/> entries are all invalid (zero).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool AllZero(ref ulong first, int n)
    {
        if (n == 1)
        {
            return Volatile.Read(ref first) == 0;
        }

        // Plain (vector) loads: the path was read with acquire loads, and a stale answer is re-checked by the
        // reservation and validation that follow, or by the caller contract (the range is this call's).
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            Vector256<ulong> any = Vector256<ulong>.Zero;
            for (; i + 4 <= n; i += 4)
            {
                any |= Vector256.LoadUnsafe(ref first, (nuint)i);
            }

            if (any != Vector256<ulong>.Zero)
            {
                return false;
            }
        }

        for (; i < n; i++)
        {
            if (Volatile.Read(ref Unsafe.Add(ref first, i)) != 0)
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>Writes <paramref name="n"/> leaves of <paramref name="level"/> mapping pa onward into checked, reserved entries.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void WriteLeaves(ref ulong first, int n, ulong pa, ulong leafBits, int level)
    {
        ulong pte = leafBits | (pa >> 12 << Pte.PpnShift);
        ulong step = PagingMode<TMode>.PageSize(level) >> 12 << Pte.PpnShift;
        if (n >= 8 && Vector256.IsHardwareAccelerated)
        {
            SetLeafRun(ref first, n, pte, step);
            return;
        }

        for (int i = 0; i < n; i++)
        {
            SetLeaf(ref Unsafe.Add(ref first, i), pte);
            pte += step;
        }
    }

    /// <summary>Level-0 leaves with Svnapot: every aligned group of 16 wholly inside the run with a 64 KiB-aligned
    /// PA becomes 16 equal PTEs with N=1 and PPN[3:0]=1000b (privileged spec, Svnapot).</summary>
    private static void WriteLeaves0(ref ulong first, int n, ulong iova, ulong pa, ulong leafBits)
    {
        int i = 0;
        while (i < n)
        {
            ulong a = iova + ((ulong)i << 12);
            ulong p = pa + ((ulong)i << 12);
            if (((a | p) & (NapotSize - 1)) == 0 && n - i >= 16)
            {
                ulong pte = leafBits | Pte.N | (((p >> 12) | NapotPpnLow) << Pte.PpnShift);
                for (int j = 0; j < 16; j++, i++)
                {
                    SetLeaf(ref Unsafe.Add(ref first, i), pte);
                }
            }
            else
            {
                SetLeaf(ref Unsafe.Add(ref first, i), leafBits | (p >> 12 << Pte.PpnShift));
                i++;
            }
        }

    }

    /// <summary>Counts the tables [iova, iova + size) needs and checks that none of it is mapped. Changes nothing.
    /// Stops once the count passes <paramref name="tablesFree"/> (the map is then out of memory, whatever the rest of
    /// the range holds), so its cost is bounded by the allocator's size, not by the range's.</summary>
    private MapStatus Preflight(ulong iova, ulong pa, ulong size, long tablesFree, out long tablesNeeded)
    {
        Unsafe.SkipInit(out Path path);
        Span<ulong> lastCounted = stackalloc ulong[5];
        lastCounted.Fill(ulong.MaxValue);
        tablesNeeded = 0;
        ulong cur = iova;
        ulong curPa = pa;
        ulong remaining = size;
        int retries = 0;
        while (remaining != 0)
        {
            int level = ChooseLevel(cur, curPa, remaining);
            int stop = Descend(cur, level, ref path, out ulong entry);
            if (stop < 0)
            {
                Backoff(stop, ref retries, cur);
                continue;
            }

            int n = RunLength(cur, remaining, level);
            if (stop > level || entry != 0 || !AllZero(ref EntryRef(path.Table[level], PagingMode<TMode>.Index(cur, level)), n))
            {
                if (!Validate(ref path, stop))
                {
                    continue;
                }

                if (entry != 0)
                {
                    return MapStatus.Overlap;
                }

                if (stop == level)
                {
                    return MapStatus.Overlap; // some entry of the run is occupied
                }

                // Tables missing for levels stop-1 .. level; count each distinct one once.
                for (int j = stop - 1; j >= level; j--)
                {
                    ulong key = cur >> PagingMode<TMode>.LevelShift(j + 1);
                    if (key != lastCounted[j])
                    {
                        lastCounted[j] = key;
                        tablesNeeded++;
                    }
                }

                // More tables than the allocator has: stop counting. Without this a map of a huge range over a small
                // window walked the whole range first (a 2^51-byte Sv57x4 map of 4 KiB leaves: over a minute).
                if (tablesNeeded > tablesFree)
                {
                    return MapStatus.Success;
                }
            }

            ulong bytes = (ulong)n << PagingMode<TMode>.LevelShift(level);
            cur += bytes;
            curPa += bytes;
            remaining -= bytes;
        }

        return MapStatus.Success;
    }

    /// <summary>Undoes a Map of [iova, iova + size) that failed half-way, as an Unmap would: clears its leaves
    /// (recording them in <paramref name="gather"/>: hardware may have cached them), and tables left empty die.</summary>
    private void Rollback(ulong iova, ulong size, InvalidationGather? gather) => ClearRange(iova, size, gather);
}
