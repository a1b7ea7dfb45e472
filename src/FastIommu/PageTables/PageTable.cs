using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
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
/// unlinked (CAS parent table → 0; a failed CAS is a corrupted table and throws), the death counter moves (after the
/// unlink: see <see cref="TryIovaToPhys"/>), its parent's count is decremented (which may cascade) and the page goes to the
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
/// last pages) does a half-done Map roll back, as an Unmap would: its leaves go to the caller's gather (when the
/// gather overload is used) and tables left empty die (into that gather, or parked until Dispose without one).</para>
/// </remarks>
[SkipLocalsInit] // the walk path is written before it is read; zeroing it costs more than the walk
public sealed unsafe partial class PageTable<TMode> : IDisposable, IPhysicalMemoryUser where TMode : struct, IPagingMode
{
    private const ulong CountMask = 0xFFFF_FFFF;
    private const ulong DeadBit = 1UL << 32;
    private const int GenShift = 33;
    private const ulong GenUnit = 1UL << GenShift;
    private const ulong GenMask = ~(GenUnit - 1);
    private const ulong NapotSize = 64 * 1024;
    private const ulong NapotPpnLow = 0b1000; // PPN[3:0] of a 64 KiB Svnapot leaf
    private const ulong MaxPhysicalAddress = 1UL << 56; // 44-bit PPN
    private const int Live = 0;
    private const int Disposed = 1;
    private const int MemoryGone = 2;

    private readonly PageAllocator _allocator;
    private readonly PhysicalMemory _memory;
    private readonly byte* _host;      // host address of _tableStart: table pages all come from the allocator's range
    private readonly ulong _tableStart;
    private readonly ulong _tableBytes;
    private readonly ulong[] _side;
    private readonly ulong _sideLane; // side words per lane: ceil(pages / 8)
    private readonly ulong _root;
    private readonly bool _svnapot;
    private readonly Lock _parkGate = new();
    private List<ulong>? _parked; // dead tables of rollbacks without a gather: freed by Dispose
    private int _state; // Live, Disposed, or MemoryGone: every public member checks it (one load, no interlocked)
    private PaddedCounter _deaths; // tables unlinked so far (moved after each unlink): lets walks skip per-level validation

    private static int Top
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => TMode.Levels - 1;
    }

    /// <summary>A table of mode <typeparamref name="TMode"/> whose pages come from <paramref name="allocator"/>.
    /// The root is allocated now (a 16 KiB block for an x4 mode), so mapping before attaching works.</summary>
    /// <remarks>The table registers as a user of the allocator's <see cref="PhysicalMemory"/>: if the memory is
    /// disposed first, every later call throws <see cref="ObjectDisposedException"/> and the memory's block is freed
    /// only when this table is disposed (see <see cref="PhysicalMemory"/>).</remarks>
    /// <exception cref="OutOfPhysicalMemoryException">No page (block) is left for the root.</exception>
    /// <exception cref="ObjectDisposedException">The allocator's memory is disposed.</exception>
    public PageTable(PageAllocator allocator, PageTableOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(allocator);
        _allocator = allocator;
        _memory = allocator.Memory;
        _tableStart = allocator.Start;
        _tableBytes = (ulong)allocator.TotalPages * PhysicalMemory.PageSize;
        // One bounds check for the whole table area; later accesses check a table address against it.
        _ = _memory.GetSpan(_tableStart, PhysicalMemory.PageSize);
        // A user from here on: the block cannot be freed while this table may still read it through _host.
        _memory.AddUser(this);
        _host = _memory.UncheckedPointer(_tableStart);
        _sideLane = ((ulong)allocator.TotalPages + 7) / 8;
        _side = new ulong[_sideLane * 8];
        _svnapot = (options ?? PageTableOptions.Default).Svnapot;
        try
        {
            _root = TMode.IsGStage ? allocator.AllocateBlock() : allocator.AllocatePage();
        }
        catch
        {
            _memory.RemoveUser(this);
            throw;
        }
    }

    /// <summary>Physical address of the root table (iosatp/iohgatp PPN = RootAddress &gt;&gt; 12).</summary>
    public ulong RootAddress
    {
        get
        {
            ThrowIfUnusable();
            return _root;
        }
    }

    /// <summary>The memory the tables live in.</summary>
    public PhysicalMemory Memory
    {
        get
        {
            ThrowIfUnusable();
            return _memory;
        }
    }

    /// <summary>The allocator the table pages come from.</summary>
    public PageAllocator Allocator
    {
        get
        {
            ThrowIfUnusable();
            return _allocator;
        }
    }

    /// <summary>True when 64 KiB Svnapot leaves are used.</summary>
    public bool Svnapot
    {
        get
        {
            ThrowIfUnusable();
            return _svnapot;
        }
    }

    /// <summary>Throws when this table or its memory is disposed: the first statement of every public member.
    /// One plain load of a field and a branch predicted not taken; no interlocked.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void ThrowIfUnusable()
    {
        if (_state != Live)
        {
            ThrowUnusable();
        }
    }

    [DoesNotReturn]
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void ThrowUnusable() =>
        throw (Volatile.Read(ref _state) == Disposed
            ? new ObjectDisposedException($"PageTable<{TMode.Name}>", $"This {TMode.Name} page table (root 0x{_root:x}) is disposed.")
            : new ObjectDisposedException(nameof(PhysicalMemory),
                $"The PhysicalMemory of this {TMode.Name} page table (root 0x{_root:x}) was disposed: dispose the table first."));

    /// <summary>The memory was disposed: every later call throws. The block stays allocated until Dispose.</summary>
    void IPhysicalMemoryUser.OnMemoryDisposed() => Interlocked.CompareExchange(ref _state, MemoryGone, Live);

    // ------------------------------------------------------------------------------------------------ Dispose

    /// <summary>Returns every table page (root included) to the allocator and stops using the memory. Idempotent;
    /// not concurrent with other calls. Pages already handed to a gather are not part of the table any more and are
    /// freed by its Complete. After the memory was disposed the pages are not returned (they go with the memory).</summary>
    public void Dispose()
    {
        int was = Interlocked.Exchange(ref _state, Disposed);
        if (was == Disposed)
        {
            return;
        }

        try
        {
            if (was == Live)
            {
                FreePages();
            }
        }
        catch (ObjectDisposedException)
        {
            // The memory was disposed while this ran: its pages go with it.
        }
        finally
        {
            _memory.RemoveUser(this);
        }
    }

    private void FreePages()
    {
        FreeSubtree(_root, Top);
        foreach (ulong parked in _parked ?? [])
        {
            _allocator.FreePage(parked);
        }

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
            $"{TMode.Name}: cannot map IOVA 0x{iova:x} -> PA 0x{pa:x} size 0x{size:x}: {status}. Nothing of it is mapped.");

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
