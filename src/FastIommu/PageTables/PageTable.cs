using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using FastIommu.Formats.RiscV;
using FastIommu.Memory;

namespace FastIommu.PageTables;

/// <summary>
/// A RISC-V page table of paging mode <typeparamref name="TMode"/> (Sv39/48/57 first stage or Sv39x4/48x4/57x4
/// G-stage) living in <see cref="PhysicalMemory"/> in the spec's exact layout, updated lock-free.
/// </summary>
/// <remarks>
/// <para><b>Contract.</b> Like the Linux IOMMU API: Map/Unmap/ReadAndClearDirty on disjoint IOVA ranges may run
/// concurrently from any number of threads, with walkers (IovaToPhys/Walk, and the hardware) reading at any time.
/// Concurrent calls on overlapping ranges are a caller bug; they corrupt nothing but their own outcome.</para>
/// <para><b>Store ordering.</b> Every store to a live table goes through <see cref="TryInstallTable"/>,
/// <see cref="SetLeaf"/>, <see cref="SetLeafRun"/>, <see cref="ClearLeaf"/>, <see cref="ClearLeafRun"/> or
/// <see cref="ClearTableEntry"/>: Volatile.Read, check, Interlocked.CompareExchange (a full fence). A table page is
/// zeroed by the allocator (plain stores into a page no one can see) and published by the CAS of its parent entry, so
/// a walker that sees the pointer sees a zeroed table, never a half-initialised one. Leaves are set by release
/// stores (vector stores for runs of 8 or more) into entries the call checked invalid and reserved, and cleared by
/// release stores of zero: see <see cref="SetLeaf"/> and <see cref="ClearLeaf"/> for why no CAS is needed there.
/// Each aligned 8-byte entry (or vector lane) is single-copy atomic, so a walker sees the old or the new entry.</para>
/// <para><b>Freeing empty tables.</b> Each table page has a side word (in <c>_side</c>, indexed by page, not in the
/// table: the hardware format has no spare bits for it): <c>gen:31 | dead:1 | count:32</c>.
/// <c>count</c> = valid entries + reservations. A mapper first <i>reserves</i> the entries it will fill
/// (CAS count += n, refused when dead or the generation moved), then CASes them in; an unmapper clears its leaves and
/// then subtracts them. Whoever brings count to 0 tries CAS(count 0 → dead, gen + 1). If that succeeds, the table is
/// empty and no reservation can ever succeed on it again, so no mapping can be installed into it and lost; it is then
/// unlinked (CAS parent table → 0), its parent's count is decremented (which may cascade) and the page goes to the
/// caller's <see cref="InvalidationGather"/>, to be freed only by <see cref="InvalidationGather.Complete"/> after the
/// IOTLB invalidation (hardware may still walk it until then). A mapper that loses against a dying table sees the
/// reservation refused, walks again from the root and installs a fresh table.</para>
/// <para><b>Stale walks.</b> A software walker on another thread may hold a pointer to a table that dies, is freed by
/// Complete and reused. So walks are optimistic and validated like a seqlock: each table's generation is read when the
/// walk enters it; before acting (reserving, clearing, or returning a translation) the walk re-reads every entry of
/// its path top-down and then every generation. Unchanged generations mean no table on the path died meanwhile, and
/// the re-read entries show each table linked where the walk assumed, so the path was the real one at one instant.
/// After validation the bottom table stays put: a mapper holds a reservation on it, an unmapper a leaf of its own
/// range that nobody else may remove. A failed validation walks again.</para>
/// <para>Empty-table detection is the count reaching 0 (O(1)), not a scan of the 512 entries.</para>
/// <para>A failed call leaves nothing behind: arguments, overlap, partial superpages and the number of tables needed
/// are checked before the first store. Only if a concurrent caller breaks the contract (or takes the allocator's
/// last pages) does a half-done Map roll its leaves back; tables it created then stay, empty, until Dispose.</para>
/// </remarks>
[SkipLocalsInit] // the walk path is written before it is read; zeroing it costs more than the walk
public sealed unsafe class PageTable<TMode> : IDisposable where TMode : struct, IPagingMode
{
    private const ulong CountMask = 0xFFFF_FFFF;
    private const ulong DeadBit = 1UL << 32;
    private const int GenShift = 33;
    private const ulong GenUnit = 1UL << GenShift;
    private const ulong GenMask = ~(GenUnit - 1);
    private const ulong NapotSize = 64 * 1024;
    private const ulong NapotPpnLow = 0b1000; // PPN[3:0] of a 64 KiB Svnapot leaf
    private const ulong MaxPhysicalAddress = 1UL << 56; // 44-bit PPN

    private readonly PageAllocator _allocator;
    private readonly PhysicalMemory _memory;
    private readonly byte* _host;      // host address of _tableStart: table pages all come from the allocator's range
    private readonly ulong _tableStart;
    private readonly ulong _tableBytes;
    private readonly ulong[] _side;
    private readonly ulong _sideLane; // side words per lane: ceil(pages / 8)
    private readonly ulong _root;
    private readonly bool _svnapot;
    private int _disposed;
    private PaddedCounter _deaths; // tables that died so far: lets walks skip per-level validation

    private static int Top
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => TMode.Levels - 1;
    }

    /// <summary>A table of mode <typeparamref name="TMode"/> whose pages come from <paramref name="allocator"/>.
    /// The root is allocated now (a 16 KiB block for an x4 mode), so mapping before attaching works.</summary>
    /// <remarks>The allocator's memory must outlive the table: walks use its host pointer without a disposal check.</remarks>
    /// <exception cref="OutOfPhysicalMemoryException">No page (block) is left for the root.</exception>
    public PageTable(PageAllocator allocator, PageTableOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(allocator);
        _allocator = allocator;
        _memory = allocator.Memory;
        _tableStart = allocator.Start;
        _tableBytes = (ulong)allocator.TotalPages * PhysicalMemory.PageSize;
        // One bounds check for the whole table area; later accesses check a table address against it.
        _ = _memory.GetSpan(_tableStart, PhysicalMemory.PageSize);
        _host = _memory.UncheckedPointer(_tableStart);
        _sideLane = ((ulong)allocator.TotalPages + 7) / 8;
        _side = new ulong[_sideLane * 8];
        _svnapot = (options ?? PageTableOptions.Default).Svnapot;
        _root = TMode.IsGStage ? allocator.AllocateBlock() : allocator.AllocatePage();
    }

    /// <summary>Physical address of the root table (iosatp/iohgatp PPN = RootAddress &gt;&gt; 12).</summary>
    public ulong RootAddress => _root;

    /// <summary>The memory the tables live in.</summary>
    public PhysicalMemory Memory => _memory;

    /// <summary>The allocator the table pages come from.</summary>
    public PageAllocator Allocator => _allocator;

    /// <summary>True when 64 KiB Svnapot leaves are used.</summary>
    public bool Svnapot => _svnapot;

    // ------------------------------------------------------------------------------------------------ Map

    /// <summary>Maps [iova, iova + size) to [pa, pa + size) with the largest leaves alignment allows.
    /// A is set, D too when writable (hardware A/D updating off, as the Linux driver does); G-stage leaves get U.</summary>
    /// <returns><see cref="MapStatus.Success"/>, or why nothing was changed.</returns>
    public MapStatus TryMap(ulong iova, ulong pa, ulong size, PageProtection prot, PageBasedMemoryType pbmt = PageBasedMemoryType.Pma)
    {
        MapStatus status = CheckMap(iova, pa, size, prot, pbmt);
        if (status != MapStatus.Success)
        {
            return status;
        }

        ulong leafBits = LeafBits(prot, pbmt);
        // First try without creating tables: if every table exists, nothing can fail after the first store except a
        // contract-breaking race (rolled back), so no preflight pass is needed.
        status = MapRange(iova, pa, size, leafBits, allowInstall: false, out ulong done);
        if (status == MapStatus.Success)
        {
            return status;
        }

        if (status == NeedTables)
        {
            status = Preflight(iova + done, pa + done, size - done, out long tablesNeeded);
            if (status == MapStatus.Success && tablesNeeded > _allocator.PagesFree)
            {
                status = MapStatus.OutOfMemory;
            }

            if (status == MapStatus.Success)
            {
                status = MapRange(iova + done, pa + done, size - done, leafBits, allowInstall: true, out ulong rest);
                done += rest;
                if (status == MapStatus.Success)
                {
                    return status;
                }
            }
        }

        if (done != 0)
        {
            Rollback(iova, done);
        }

        return status;
    }

    /// <summary>Maps like <see cref="TryMap"/>.</summary>
    /// <exception cref="PageTableException">The mapping was refused (overlap, misalignment, range, memory); nothing changed.</exception>
    public void Map(ulong iova, ulong pa, ulong size, PageProtection prot, PageBasedMemoryType pbmt = PageBasedMemoryType.Pma)
    {
        MapStatus status = TryMap(iova, pa, size, prot, pbmt);
        if (status != MapStatus.Success)
        {
            ThrowMap(status, iova, pa, size);
        }
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

    private MapStatus MapRange(ulong iova, ulong pa, ulong size, ulong leafBits, bool allowInstall, out ulong done)
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

                MapStatus installed = TryInstallTable(ref path, stop);
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
    private MapStatus TryInstallTable(ref Path path, int level)
    {
        ulong parent = path.Table[level];
        if (!Validate(ref path, level) || !TryReserve(parent, path.Gen[level], 1))
        {
            return MapStatus.Success; // stale path: the caller walks again
        }

        if (!_allocator.TryAllocatePage(out ulong page))
        {
            Release(parent, 1);
            return MapStatus.OutOfMemory;
        }

        ref ulong side = ref Side(page);
        // The page is unpublished: nobody can reserve it (its word is dead or was never ours), so a plain store.
        Volatile.Write(ref side, Volatile.Read(ref side) & GenMask);
        ref ulong slot = ref EntryRef(parent, PagingMode<TMode>.Index(path.Iova, level));
        if (Interlocked.CompareExchange(ref slot, Pte.Table(page).Value, 0) != 0)
        {
            // Lost the race: use the winner's table (the caller walks again); ours was never published.
            Release(parent, 1);
            Volatile.Write(ref side, ((side & GenMask) + GenUnit) | DeadBit);
            _allocator.FreePage(page);
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

    /// <summary>Counts the tables [iova, iova + size) needs and checks that none of it is mapped. Changes nothing.</summary>
    private MapStatus Preflight(ulong iova, ulong pa, ulong size, out long tablesNeeded)
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
            }

            ulong bytes = (ulong)n << PagingMode<TMode>.LevelShift(level);
            cur += bytes;
            curPa += bytes;
            remaining -= bytes;
        }

        return MapStatus.Success;
    }

    /// <summary>Undoes a Map of [iova, iova + size) that failed half-way: clears its leaves, releases the counts.
    /// Tables it created stay (empty); freeing them would need a gather and an invalidation.</summary>
    private void Rollback(ulong iova, ulong size) => ClearRange(iova, size, gather: null);

    // ------------------------------------------------------------------------------------------------ Unmap

    /// <summary>Unmaps every leaf in [iova, iova + size) (holes are skipped) and records what it cleared in
    /// <paramref name="gather"/>, with the table pages that became empty.</summary>
    /// <param name="unmapped">Bytes of leaves cleared.</param>
    /// <returns>Success, or why nothing was changed (a superpage cut in part, misalignment, range).</returns>
    public MapStatus TryUnmap(ulong iova, ulong size, InvalidationGather gather, out ulong unmapped)
    {
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

    /// <summary>Clears the leaves in [iova, iova + size). With a gather: records ranges and frees empty tables into it;
    /// without (a rollback): only releases counts.</summary>
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
                    ReleaseOrFree(ref path, run, gather);
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
                if (gather is null)
                {
                    Release(table, cleared);
                }
                else
                {
                    ReleaseAndFreeEmpty(ref path, stop, cleared, gather);
                }
            }
        }

        return total;
    }

    private void ReleaseOrFree(ref Path path, uint cleared, InvalidationGather? gather)
    {
        if (gather is null)
        {
            Release(path.Table[0], cleared);
        }
        else
        {
            ReleaseAndFreeEmpty(ref path, 0, cleared, gather);
        }
    }

    /// <summary>Subtracts <paramref name="n"/> cleared entries from the table at <paramref name="level"/> of the path;
    /// a table left empty and unreserved dies, is unlinked and goes to the gather, and its parent loses an entry.</summary>
    private void ReleaseAndFreeEmpty(ref Path path, int level, uint n, InvalidationGather gather)
    {
        for (int k = level; k < Top; k++)
        {
            ulong table = path.Table[k];
            ref ulong side = ref Side(table);
            ulong after = Interlocked.Add(ref side, 0UL - n);
            Debug.Assert((after & CountMask) < 0x8000_0000, "table entry count underflow");
            if ((after & CountMask) != 0)
            {
                return;
            }

            // Count 0: no entry and no reservation. Dead from here on: reservations are refused, so it stays empty.
            ulong dead = ((after & GenMask) + GenUnit) | DeadBit;
            if (Interlocked.CompareExchange(ref side, dead, after) != after)
            {
                return; // a mapper reserved it meanwhile: it lives on
            }

            Interlocked.Increment(ref _deaths.Value); // before this Unmap returns, so before Complete can free the page
            ClearTableEntry(ref EntryRef(path.Table[k + 1], PagingMode<TMode>.Index(path.Iova, k + 1)), path.Entry[k + 1]);
            gather.AddFreedTable(_allocator, table);
            n = 1;
        }
    }

    // ------------------------------------------------------------------------------------------------ Walks

    /// <summary>Walks the table for <paramref name="iova"/>: the leaf, its level and size, and the translation.</summary>
    public WalkResult Walk(ulong iova)
    {
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
        pa = 0;
        if (!PagingMode<TMode>.IsCanonical(iova))
        {
            return false;
        }

        // Fast path: a plain walk bracketed by two reads of the death counter. To read a freed and reused page, the
        // walk must reach a table that dies after the walk read its parent entry (it was linked then); that death
        // bumps the counter before its Unmap returns, so before any Complete can free the page. Counter unchanged:
        // every table read was genuine. A dead but not yet freed table reads as all zero: "not mapped", true at the
        // instant it died. So only a found leaf needs the check, and a moved counter falls back to the validated walk.
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

    // ------------------------------------------------------------------------------------------------ Dirty tracking

    /// <summary>Finds the leaves in [iova, iova + size) with D set, clears D (CAS, so a racing hardware update is
    /// either seen or lands after), and marks their pages (within the range) in <paramref name="bitmap"/>.</summary>
    /// <returns>Bytes reported dirty.</returns>
    public ulong ReadAndClearDirty(ulong iova, ulong size, DirtyBitmap bitmap)
    {
        ArgumentNullException.ThrowIfNull(bitmap);
        if (size == 0 || ((iova | size) & 0xFFF) != 0 || !IsLegalRange(iova, size))
        {
            throw new PageTableException(MapStatus.IovaOutOfRange, iova,
                $"Dirty range 0x{iova:x} + 0x{size:x} must be non-empty, 4 KiB aligned and legal for {TMode.Name}.");
        }

        Unsafe.SkipInit(out Path path);
        ulong cur = iova;
        ulong end = iova + size; // may wrap to 0 at the top of the high half; compare by remaining instead
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

            ulong pageSize = PagingMode<TMode>.PageSize(stop);
            ulong leafStart = cur & ~(pageSize - 1);
            if (entry != 0)
            {
                if (!Validate(ref path, stop))
                {
                    continue;
                }

                ref ulong slot = ref EntryRef(path.Table[stop], PagingMode<TMode>.Index(cur, stop));
                bool dirty;
                if (stop == 0 && (entry & Pte.N) != 0)
                {
                    // The 16 PTEs of a 64 KiB Svnapot range: hardware may set D in any of them.
                    pageSize = NapotSize;
                    leafStart = cur & ~(NapotSize - 1);
                    ref ulong group = ref EntryRef(path.Table[0], PagingMode<TMode>.Index(leafStart, 0));
                    dirty = false;
                    for (int i = 0; i < 16; i++)
                    {
                        dirty |= TestAndClearDirty(ref Unsafe.Add(ref group, i));
                    }
                }
                else
                {
                    dirty = TestAndClearDirty(ref slot);
                }

                if (dirty)
                {
                    ulong from = Math.Max(leafStart, iova);
                    ulong to = Math.Min(leafStart + pageSize - 1, end - 1) + 1;
                    bitmap.Mark(from, to - from);
                    total += to - from;
                }
            }

            ulong step = leafStart + pageSize - cur;
            if (step >= remaining)
            {
                break;
            }

            cur += step;
            remaining -= step;
        }

        return total;
    }

    private static bool TestAndClearDirty(ref ulong slot)
    {
        while (true)
        {
            ulong value = Volatile.Read(ref slot);
            if ((value & Pte.D) == 0 || (value & Pte.V) == 0)
            {
                return false;
            }

            if (Interlocked.CompareExchange(ref slot, value & ~Pte.D, value) == value)
            {
                return true;
            }
        }
    }

    // ------------------------------------------------------------------------------------------------ Store primitives

    /// <summary>Sets one leaf in an entry this call checked invalid and reserved: a release store, not a CAS.</summary>
    /// <remarks>Nobody else can write the entry: hardware never writes an invalid entry (A/D updates only touch valid
    /// leaves, re-checking them atomically), and another software writer would need an overlapping concurrent call,
    /// which the contract excludes. The reservation CAS before it (a full fence) orders it after the table is known
    /// alive. A CAS here would only catch that caller bug, at the price of an atomic per map (measured ~1/4 of a
    /// single-page map).</remarks>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void SetLeaf(ref ulong slot, ulong pte) => Volatile.Write(ref slot, pte);

    /// <summary>Clears a leaf of the caller's range: a release store. A racing hardware A/D update is a CAS against the
    /// old leaf: it lands first and is discarded with the leaf, or fails. The count decrement that follows (a full
    /// fence) orders the clear before any freeing of the table.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void ClearLeaf(ref ulong slot) => Volatile.Write(ref slot, 0);

    /// <summary>Stores a run of leaves <c>pte, pte + step, ...</c> into entries this call has checked invalid and
    /// reserved, with 256-bit vector stores instead of one CAS each (measured: the CAS costs ~20 cycles a PTE).</summary>
    /// <remarks>Why plain stores are enough here: the entries are invalid, so hardware never writes them (A/D
    /// updates only touch valid leaves, and re-check them atomically); other software writers would need an
    /// overlapping concurrent map, which the contract excludes; the reservation CAS before (a full fence) orders
    /// the stores after the table is known alive, and the caller's release of the call publishes them. Each 8-byte
    /// lane of an aligned vector store is single-copy atomic on x64 and Arm64, so a walker sees the old (invalid) or
    /// the new leaf, never a torn one.</remarks>
    private static void SetLeafRun(ref ulong first, int n, ulong pte, ulong step)
    {
        var ptes = Vector256.Create(pte, pte + step, pte + 2 * step, pte + 3 * step);
        var advance = Vector256.Create(4 * step);
        int i = 0;
        for (; i + 4 <= n; i += 4)
        {
            ptes.StoreUnsafe(ref first, (nuint)i);
            ptes += advance;
        }

        for (ulong tail = ptes.GetElement(0); i < n; i++, tail += step)
        {
            Volatile.Write(ref Unsafe.Add(ref first, i), tail);
        }
    }

    /// <summary>Clears the leaves among <paramref name="n"/> level-0 entries of this call's range, adds the cleared
    /// stretches to the gather and returns how many were valid. Vector stores of zero: the range is the caller's, and
    /// a racing hardware A/D update (a CAS against the old leaf) either lands first and is discarded with the leaf,
    /// or fails; the count decrement that follows (a full fence) orders the clears before any freeing.</summary>
    private static uint ClearLeafRun(ref ulong first, int n, ulong iova, InvalidationGather? gather)
    {
        uint cleared = 0;
        ulong runStart = 0;
        ulong runBytes = 0;
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            for (; i + 4 <= n; i += 4)
            {
                Vector256<ulong> v = Vector256.LoadUnsafe(ref first, (nuint)i);
                uint valid = (~Vector256.Equals(v, Vector256<ulong>.Zero)).ExtractMostSignificantBits();
                if (valid == 0b1111)
                {
                    Vector256<ulong>.Zero.StoreUnsafe(ref first, (nuint)i);
                    if (runBytes == 0)
                    {
                        runStart = iova + ((ulong)i << 12);
                    }

                    runBytes += 4 << 12;
                    cleared += 4;
                    continue;
                }

                for (int lane = 0; lane < 4; lane++)
                {
                    if ((valid & (1u << lane)) != 0)
                    {
                        ClearLeaf(ref Unsafe.Add(ref first, i + lane));
                        if (runBytes == 0)
                        {
                            runStart = iova + ((ulong)(i + lane) << 12);
                        }

                        runBytes += 1 << 12;
                        cleared++;
                    }
                    else if (runBytes != 0)
                    {
                        gather?.AddRange(runStart, runBytes);
                        runBytes = 0;
                    }
                }
            }
        }

        for (; i < n; i++)
        {
            ref ulong slot = ref Unsafe.Add(ref first, i);
            if (Volatile.Read(ref slot) != 0)
            {
                ClearLeaf(ref slot);
                if (runBytes == 0)
                {
                    runStart = iova + ((ulong)i << 12);
                }

                runBytes += 1 << 12;
                cleared++;
            }
            else if (runBytes != 0)
            {
                gather?.AddRange(runStart, runBytes);
                runBytes = 0;
            }
        }

        if (runBytes != 0)
        {
            gather?.AddRange(runStart, runBytes);
        }

        return cleared;
    }

    /// <summary>Unlinks a dead table: CAS from the pointer the walk saw (nobody else may change it: only mappers
    /// write, and only into invalid entries).</summary>
    private static void ClearTableEntry(ref ulong slot, ulong expected)
    {
        ulong old = Interlocked.CompareExchange(ref slot, 0, expected);
        Debug.Assert(old == expected, "a dying table's parent entry changed");
    }

    // ------------------------------------------------------------------------------------------------ Side words

    /// <summary>Reserves <paramref name="n"/> entries of a live table of generation <paramref name="gen"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool TryReserve(ulong table, ulong gen, uint n)
    {
        ref ulong side = ref Side(table);
        while (true)
        {
            ulong value = Volatile.Read(ref side);
            if ((value & (GenMask | DeadBit)) != gen)
            {
                return false;
            }

            if (Interlocked.CompareExchange(ref side, value + n, value) == value)
            {
                return true;
            }
        }
    }

    /// <summary>Gives back reservations (or entries) without freeing: used by Map, which has no gather.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void Release(ulong table, uint n) => Interlocked.Add(ref Side(table), 0UL - n);

    /// <summary>The side word of the table page at <paramref name="table"/> (an address already checked to lie in
    /// the allocator's range). Neighbouring pages get words on different cache lines: pages are spread over 8 lanes
    /// (index = (page % 8) × lane length + page / 8), so two threads filling tables allocated one after the other
    /// do not bounce one line between them with their reservation CASes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private ref ulong Side(ulong table)
    {
        ulong page = (table - _tableStart) >> PhysicalMemory.PageShift;
        ulong index = (page & 7) * _sideLane + (page >> 3);
        Debug.Assert(index < (ulong)_side.Length, "side index of a page outside the allocator");
        return ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(_side), (nint)index);
    }

    // ------------------------------------------------------------------------------------------------ Walk core

    /// <summary>The path of an optimistic walk: per level the table, the generation seen on entering it, and the
    /// entry read in it (for levels above where the walk stopped).</summary>
    private struct Path
    {
        public fixed ulong Table[5];
        public fixed ulong Gen[5];
        public fixed ulong Entry[5];
        public ulong Iova;
        public long Deaths; // the table-death counter when the walk started
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
        // No table died since the walk started: every table it read was linked and genuine when read (see
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

    // ------------------------------------------------------------------------------------------------ Dispose

    /// <summary>Returns every table page (root included) to the allocator. Not concurrent with other calls.
    /// Pages already handed to a gather are not part of the table any more and are freed by its Complete.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        FreeSubtree(_root, Top);
        if (TMode.IsGStage)
        {
            _allocator.FreeBlock(_root);
        }
        else
        {
            _allocator.FreePage(_root);
        }
    }

    private void FreeSubtree(ulong table, int level)
    {
        if (level == 0)
        {
            return;
        }

        int entries = EntriesAt(level);
        for (int i = 0; i < entries; i++)
        {
            ulong e = Volatile.Read(ref EntryRef(table, i));
            if (IsTablePointer(e))
            {
                ulong child = (e & Pte.PpnMask) >> Pte.PpnShift << 12;
                FreeSubtree(child, level - 1);
                _allocator.FreePage(child);
            }
        }
    }

    // ------------------------------------------------------------------------------------------------ Throw helpers

    [DoesNotReturn]
    private static void ThrowMap(MapStatus status, ulong iova, ulong pa, ulong size) =>
        throw new PageTableException(status, iova,
            $"{TMode.Name}: cannot map IOVA 0x{iova:x} -> PA 0x{pa:x} size 0x{size:x}: {status}. Nothing was changed.");

    [DoesNotReturn]
    private static void ThrowUnmap(MapStatus status, ulong iova, ulong size) =>
        throw new PageTableException(status, iova,
            $"{TMode.Name}: cannot unmap IOVA 0x{iova:x} size 0x{size:x}: {status}. Nothing was changed.");

    [DoesNotReturn]
    private static void ThrowNotMapped(ulong iova) =>
        throw new PageTableException(MapStatus.NotMapped, iova, $"{TMode.Name}: IOVA 0x{iova:x} is not mapped.");
}

/// <summary>A counter alone on its cache line, so its increments do not evict the page table's read-only fields
/// (root, memory pointer, side array) that every walk reads. Outside the generic class: the runtime refuses explicit
/// layout on generic types, and a struct nested in one is generic.</summary>
[StructLayout(LayoutKind.Explicit, Size = 128)]
internal struct PaddedCounter
{
    [FieldOffset(64)]
    public long Value;
}
