using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using FastIommu.Diagnostics;
using FastIommu.Formats.RiscV;
using FastIommu.Memory;

namespace FastIommu.PageTables;

// Reservations on the side words, table death, unlink and hand-over to the gather.
public sealed unsafe partial class PageTable<TMode> where TMode : struct, IPagingMode
{
    /// <summary>Subtracts <paramref name="n"/> cleared entries (or given-back reservations) from the table at
    /// <paramref name="level"/> of the path; a table left empty and unreserved dies, is unlinked and goes to the
    /// gather (parked until Dispose when there is none), and its parent loses an entry. The root never dies.</summary>
    private void ReleaseAndFreeEmpty(ref Path path, int level, uint n, InvalidationGather? gather)
    {
        for (int k = level; ; k++)
        {
            ulong table = path.Table[k];
            ref ulong side = ref Side(table);
            ulong after = Interlocked.Add(ref side, 0UL - n);
            Debug.Assert((after & CountMask) < 0x8000_0000, "table entry count underflow");
            if (k == Top || (after & CountMask) != 0)
            {
                return;
            }

            // Count 0: no entry and no reservation. Dead from here on: reservations are refused, so it stays empty.
            ulong dead = ((after & GenMask) + GenUnit) | DeadBit;
            if (Interlocked.CompareExchange(ref side, dead, after) != after)
            {
                return; // a mapper reserved it meanwhile: it lives on
            }

            // Interleaving point: the table is dead (no reservation can succeed on it) and still linked.
            if (Interleaving.Enabled)
            {
                Interleaving.Reach("PageTable.TableDied");
            }

            ref ulong parentSlot = ref EntryRef(path.Table[k + 1], PagingMode<TMode>.Index(path.Iova, k + 1));
            ulong unlinked = ClearTableEntry(ref parentSlot, path.Entry[k + 1]);
            if (unlinked != path.Entry[k + 1])
            {
                ThrowUnlinkFailed(table, k, path.Iova, path.Entry[k + 1], unlinked);
            }

            // Interleaving point: the dead table is unlinked from its parent; the death counter has not moved yet.
            if (Interleaving.Enabled)
            {
                Interleaving.Reach("PageTable.Unlinked");
            }

            // After the unlink, before this Unmap returns (so before Complete can free the page): a walk that read
            // the counter before this point and then found the table through its parent sees the counter move by
            // the time the page could be reused; a walk that read it after cannot find the table any more.
            Interlocked.Increment(ref _deaths.Value);
            // Interleaving point: the death counter has moved for this (already unlinked) table.
            if (Interleaving.Enabled)
            {
                Interleaving.Reach("PageTable.DeathCounted");
            }

            if (gather is null)
            {
                Park(table);
            }
            else
            {
                gather.AddFreedTable(_allocator, table);
            }

            n = 1;
        }
    }

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

    /// <summary>Keeps a dead, unlinked table that has no gather to go to (a rollback of a Map called without one):
    /// hardware may still walk it until an invalidation nobody was told about, so it is freed only by Dispose.</summary>
    private void Park(ulong table)
    {
        lock (_parkGate)
        {
            (_parked ??= []).Add(table);
        }
    }

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

    /// <summary>The parent entry of a table this call killed no longer pointed to it. Only the killer unlinks a table,
    /// mappers write only invalid entries, unmappers clear only leaves and the hardware never writes a non-leaf
    /// entry, so this is reachable only if the table memory was written outside this class (through
    /// <see cref="PhysicalMemory"/>) or by calls breaking the contract. The dead table is not freed: it may still be
    /// linked somewhere.</summary>
    [DoesNotReturn]
    private void ThrowUnlinkFailed(ulong table, int level, ulong iova, ulong expected, ulong found) =>
        throw new InvalidOperationException(
            $"{TMode.Name} table at 0x{_root:x} is corrupted: unlinking the empty level-{level} table 0x{table:x} (IOVA 0x{iova:x}) " +
            $"expected its parent entry to be 0x{expected:x} but found 0x{found:x}. The table page was not freed; " +
            "the leaves cleared so far are in the gather.");
}
