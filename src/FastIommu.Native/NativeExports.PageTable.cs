using System.Runtime.InteropServices;
using FastIommu.Formats.RiscV;
using FastIommu.PageTables;

namespace FastIommu.Native;

/// <summary>fastiommu_walk_result in fastiommu.h.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct WalkResultNative
{
    public ulong Pte;
    public ulong PageSize;
    public ulong PhysicalAddress;
    public uint Level;
    public uint Found;
}

/// <summary>fastiommu_gather_info in fastiommu.h.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct GatherInfoNative
{
    public ulong Start;
    public ulong End;
    public uint RangeCount;
    public uint FreedTableCount;
}

internal static unsafe partial class NativeExports
{
    /// <summary>FASTIOMMU_PT_SVNAPOT: use 64 KiB Svnapot leaves where alignment allows.</summary>
    public const uint PageTableSvnapot = 1;

    private const uint KnownProtection = (uint)(PageProtection.Read | PageProtection.Write | PageProtection.Execute
        | PageProtection.User | PageProtection.Global);

    [UnmanagedCallersOnly(EntryPoint = "fastiommu_page_table_create")]
    public static NativeStatus PageTableCreate(ulong allocator, uint mode, uint flags, ulong* table)
    {
        try
        {
            if (table == null)
            {
                return NullArgument("table");
            }

            AllocatorObject? a = HandleTable.Find<AllocatorObject>(allocator);
            if (a is null)
            {
                return BadHandle("allocator", allocator);
            }

            if ((flags & ~PageTableSvnapot) != 0)
            {
                return Fail(NativeStatus.InvalidArgument, $"Page-table flags 0x{flags:x} has unknown bits.");
            }

            var options = new PageTableOptions { Svnapot = (flags & PageTableSvnapot) != 0 };
            PageTableObject created = PageTableObject.Create(mode, a, options);
            created.Lender = a;
            return Publish(created, table);
        }
        catch (Exception e)
        {
            return Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "fastiommu_page_table_destroy")]
    public static NativeStatus PageTableDestroy(ulong table)
    {
        try
        {
            return HandleTable.Remove<PageTableObject>(table);
        }
        catch (Exception e)
        {
            return Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "fastiommu_page_table_root")]
    public static NativeStatus PageTableRoot(ulong table, ulong* rootPa)
    {
        try
        {
            PageTableObject? t = HandleTable.Find<PageTableObject>(table);
            if (t is null)
            {
                return BadHandle("page table", table);
            }

            if (rootPa == null)
            {
                return NullArgument("root_pa");
            }

            *rootPa = t.RootAddress;
            return NativeStatus.Ok;
        }
        catch (Exception e)
        {
            return Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "fastiommu_page_table_map")]
    public static NativeStatus PageTableMap(ulong table, ulong iova, ulong pa, ulong size, uint prot, uint pbmt)
    {
        try
        {
            PageTableObject? t = HandleTable.Find<PageTableObject>(table);
            if (t is null)
            {
                return BadHandle("page table", table);
            }

            if ((prot & ~KnownProtection) != 0 || pbmt > 3)
            {
                return Fail(NativeStatus.InvalidProtection, $"Protection 0x{prot:x} or PBMT {pbmt} is not a legal leaf.");
            }

            MapStatus status = t.TryMap(iova, pa, size, (PageProtection)prot, (PageBasedMemoryType)pbmt);
            return status == MapStatus.Success
                ? NativeStatus.Ok
                : Fail(StatusMap.From(status), $"Map of IOVA 0x{iova:x} -> PA 0x{pa:x} + 0x{size:x} refused: {status}; nothing changed.");
        }
        catch (Exception e)
        {
            return Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "fastiommu_page_table_unmap")]
    public static NativeStatus PageTableUnmap(ulong table, ulong iova, ulong size, ulong gather, ulong* unmapped)
    {
        try
        {
            PageTableObject? t = HandleTable.Find<PageTableObject>(table);
            if (t is null)
            {
                return BadHandle("page table", table);
            }

            GatherObject? g = HandleTable.Find<GatherObject>(gather);
            if (g is null)
            {
                return BadHandle("gather", gather);
            }

            MapStatus status = t.TryUnmap(iova, size, g.Gather, out ulong bytes);
            if (unmapped != null)
            {
                *unmapped = status == MapStatus.Success ? bytes : 0;
            }

            return status == MapStatus.Success
                ? NativeStatus.Ok
                : Fail(StatusMap.From(status), $"Unmap of IOVA 0x{iova:x} + 0x{size:x} refused: {status}; nothing changed.");
        }
        catch (Exception e)
        {
            return Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "fastiommu_page_table_iova_to_phys")]
    public static NativeStatus PageTableIovaToPhys(ulong table, ulong iova, ulong* pa)
    {
        try
        {
            PageTableObject? t = HandleTable.Find<PageTableObject>(table);
            if (t is null)
            {
                return BadHandle("page table", table);
            }

            if (pa == null)
            {
                return NullArgument("pa");
            }

            if (!t.TryIovaToPhys(iova, out ulong address))
            {
                *pa = 0;
                return Fail(NativeStatus.NotMapped, $"IOVA 0x{iova:x} is not mapped.");
            }

            *pa = address;
            return NativeStatus.Ok;
        }
        catch (Exception e)
        {
            return Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "fastiommu_page_table_walk")]
    public static NativeStatus PageTableWalk(ulong table, ulong iova, WalkResultNative* result)
    {
        try
        {
            PageTableObject? t = HandleTable.Find<PageTableObject>(table);
            if (t is null)
            {
                return BadHandle("page table", table);
            }

            if (result == null)
            {
                return NullArgument("result");
            }

            WalkResult walk = t.Walk(iova);
            *result = new WalkResultNative
            {
                Pte = walk.Pte.Value,
                PageSize = walk.PageSize,
                PhysicalAddress = walk.PhysicalAddress,
                Level = (uint)walk.Level,
                Found = walk.Found ? 1u : 0u,
            };
            return NativeStatus.Ok;
        }
        catch (Exception e)
        {
            return Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "fastiommu_page_table_read_and_clear_dirty")]
    public static NativeStatus PageTableReadAndClearDirty(ulong table, ulong iova, ulong size, ulong* bitmap, ulong bitmapWords,
        ulong* dirtyBytes)
    {
        try
        {
            PageTableObject? t = HandleTable.Find<PageTableObject>(table);
            if (t is null)
            {
                return BadHandle("page table", table);
            }

            ulong pages = size / 4096;
            if (bitmap == null || bitmapWords < (pages + 63) / 64)
            {
                return Fail(NativeStatus.InvalidArgument, $"bitmap needs {(pages + 63) / 64} words for 0x{size:x} bytes; got {bitmapWords}.");
            }

            var dirty = new DirtyBitmap(iova, size);
            ulong bytes = t.ReadAndClearDirty(iova, size, dirty);
            if (dirtyBytes != null)
            {
                *dirtyBytes = bytes;
            }

            // Set (never clear) the caller's bits: page i of the range is bit i % 64 of word i / 64.
            for (ulong page = 0; page < pages && bytes != 0; page++)
            {
                if (dirty.IsDirty(iova + page * 4096))
                {
                    bitmap[page / 64] |= 1UL << (int)(page % 64);
                }
            }

            return NativeStatus.Ok;
        }
        catch (Exception e)
        {
            return Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "fastiommu_gather_create")]
    public static NativeStatus GatherCreate(ulong* gather)
    {
        try
        {
            return gather == null ? NullArgument("gather") : Publish(new GatherObject(), gather);
        }
        catch (Exception e)
        {
            return Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "fastiommu_gather_destroy")]
    public static NativeStatus GatherDestroy(ulong gather)
    {
        try
        {
            GatherObject? g = HandleTable.Find<GatherObject>(gather);
            if (g is not null && !g.Gather.IsEmpty)
            {
                return Fail(NativeStatus.InUse, "The gather holds unmapped ranges or table pages: call fastiommu_gather_complete first.");
            }

            return HandleTable.Remove<GatherObject>(gather);
        }
        catch (Exception e)
        {
            return Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "fastiommu_gather_info_get")]
    public static NativeStatus GatherInfo(ulong gather, GatherInfoNative* info)
    {
        try
        {
            GatherObject? g = HandleTable.Find<GatherObject>(gather);
            if (g is null)
            {
                return BadHandle("gather", gather);
            }

            if (info == null)
            {
                return NullArgument("info");
            }

            *info = new GatherInfoNative
            {
                Start = g.Gather.Start,
                End = g.Gather.End,
                RangeCount = (uint)g.Gather.Ranges.Length,
                FreedTableCount = (uint)g.Gather.FreedTables.Length,
            };
            return NativeStatus.Ok;
        }
        catch (Exception e)
        {
            return Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "fastiommu_gather_range")]
    public static NativeStatus GatherRange(ulong gather, uint index, ulong* start, ulong* size)
    {
        try
        {
            GatherObject? g = HandleTable.Find<GatherObject>(gather);
            if (g is null)
            {
                return BadHandle("gather", gather);
            }

            ReadOnlySpan<IovaRange> ranges = g.Gather.Ranges;
            if (index >= (uint)ranges.Length || start == null || size == null)
            {
                return Fail(NativeStatus.InvalidArgument, $"Range {index} of {ranges.Length}, or a NULL output.");
            }

            *start = ranges[(int)index].Start;
            *size = ranges[(int)index].Size;
            return NativeStatus.Ok;
        }
        catch (Exception e)
        {
            return Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "fastiommu_gather_complete")]
    public static NativeStatus GatherComplete(ulong gather)
    {
        try
        {
            GatherObject? g = HandleTable.Find<GatherObject>(gather);
            if (g is null)
            {
                return BadHandle("gather", gather);
            }

            g.Gather.Complete();
            return NativeStatus.Ok;
        }
        catch (Exception e)
        {
            return Fail(e);
        }
    }
}
