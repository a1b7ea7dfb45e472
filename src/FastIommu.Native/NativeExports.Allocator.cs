using System.Runtime.InteropServices;
using FastIommu.Memory;

namespace FastIommu.Native;

internal static unsafe partial class NativeExports
{
    [UnmanagedCallersOnly(EntryPoint = "fastiommu_allocator_create")]
    public static NativeStatus AllocatorCreate(ulong memory, ulong start, ulong size, ulong* allocator)
    {
        try
        {
            if (allocator == null)
            {
                return NullArgument("allocator");
            }

            MemoryObject? m = HandleTable.Find<MemoryObject>(memory);
            if (m is null)
            {
                return BadHandle("memory", memory);
            }

            if (m.Physical is not { } physical)
            {
                return Fail(NativeStatus.Unsupported, "An allocator needs physical memory (create or wrap), not callback memory.");
            }

            return Publish(new AllocatorObject(new PageAllocator(physical, start, size)) { Lender = m }, allocator);
        }
        catch (Exception e)
        {
            return Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "fastiommu_allocator_destroy")]
    public static NativeStatus AllocatorDestroy(ulong allocator)
    {
        try
        {
            return HandleTable.Remove<AllocatorObject>(allocator);
        }
        catch (Exception e)
        {
            return Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "fastiommu_allocator_alloc_page")]
    public static NativeStatus AllocatorAllocPage(ulong allocator, ulong* pa) => Allocate(allocator, pa, block: false);

    [UnmanagedCallersOnly(EntryPoint = "fastiommu_allocator_alloc_block")]
    public static NativeStatus AllocatorAllocBlock(ulong allocator, ulong* pa) => Allocate(allocator, pa, block: true);

    [UnmanagedCallersOnly(EntryPoint = "fastiommu_allocator_free_page")]
    public static NativeStatus AllocatorFreePage(ulong allocator, ulong pa) => Free(allocator, pa, block: false);

    [UnmanagedCallersOnly(EntryPoint = "fastiommu_allocator_free_block")]
    public static NativeStatus AllocatorFreeBlock(ulong allocator, ulong pa) => Free(allocator, pa, block: true);

    [UnmanagedCallersOnly(EntryPoint = "fastiommu_allocator_stats")]
    public static NativeStatus AllocatorStats(ulong allocator, ulong* totalPages, ulong* pagesInUse)
    {
        try
        {
            AllocatorObject? a = HandleTable.Find<AllocatorObject>(allocator);
            if (a is null)
            {
                return BadHandle("allocator", allocator);
            }

            if (totalPages != null)
            {
                *totalPages = (ulong)a.Allocator.TotalPages;
            }

            if (pagesInUse != null)
            {
                *pagesInUse = (ulong)a.Allocator.PagesInUse;
            }

            return NativeStatus.Ok;
        }
        catch (Exception e)
        {
            return Fail(e);
        }
    }

    private static NativeStatus Allocate(ulong allocator, ulong* pa, bool block)
    {
        try
        {
            AllocatorObject? a = HandleTable.Find<AllocatorObject>(allocator);
            if (a is null)
            {
                return BadHandle("allocator", allocator);
            }

            if (pa == null)
            {
                return NullArgument("pa");
            }

            bool ok = block ? a.Allocator.TryAllocateBlock(out ulong address) : a.Allocator.TryAllocatePage(out address);
            if (!ok)
            {
                return Fail(NativeStatus.OutOfMemory,
                    $"No free {(block ? "16 KiB block" : "4 KiB page")}: {a.Allocator.PagesInUse} of {a.Allocator.TotalPages} pages in use.");
            }

            *pa = address;
            return NativeStatus.Ok;
        }
        catch (Exception e)
        {
            return Fail(e);
        }
    }

    private static NativeStatus Free(ulong allocator, ulong pa, bool block)
    {
        try
        {
            AllocatorObject? a = HandleTable.Find<AllocatorObject>(allocator);
            if (a is null)
            {
                return BadHandle("allocator", allocator);
            }

            if (block)
            {
                a.Allocator.FreeBlock(pa);
            }
            else
            {
                a.Allocator.FreePage(pa);
            }

            return NativeStatus.Ok;
        }
        catch (Exception e)
        {
            return Fail(e);
        }
    }
}
