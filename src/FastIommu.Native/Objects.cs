using FastIommu.Formats.RiscV;
using FastIommu.Hardware;
using FastIommu.Memory;
using FastIommu.PageTables;

namespace FastIommu.Native;

/// <summary>A fastiommu_memory: FastIommu's own physical memory (owned or wrapping the caller's RAM), or the
/// caller's callbacks. Callback memory serves the device model only: page tables and allocators need a pointer.</summary>
internal sealed class MemoryObject : NativeObject
{
    public override HandleKind Kind => HandleKind.Memory;

    public PhysicalMemory? Physical { get; init; }

    public MemoryCallbacks Callbacks { get; init; }

    public override void Dispose() => Physical?.Dispose();
}

internal sealed class AllocatorObject(PageAllocator allocator) : NativeObject
{
    public override HandleKind Kind => HandleKind.Allocator;

    public PageAllocator Allocator { get; } = allocator;

    // The allocator has nothing to free today; if the core gives it a lifetime (IDisposable), it is ended here.
    public override void Dispose() => ((object)Allocator as IDisposable)?.Dispose();
}

internal sealed class GatherObject : NativeObject
{
    public override HandleKind Kind => HandleKind.Gather;

    public InvalidationGather Gather { get; } = new();

    public override void Dispose()
    {
    }
}

/// <summary>A page table of any mode behind one non-generic face (one virtual call per C call).</summary>
internal abstract class PageTableObject : NativeObject
{
    public override HandleKind Kind => HandleKind.PageTable;

    public abstract ulong RootAddress { get; }

    public abstract MapStatus TryMap(ulong iova, ulong pa, ulong size, PageProtection prot, PageBasedMemoryType pbmt);

    public abstract MapStatus TryUnmap(ulong iova, ulong size, InvalidationGather gather, out ulong unmapped);

    public abstract bool TryIovaToPhys(ulong iova, out ulong pa);

    public abstract WalkResult Walk(ulong iova);

    public abstract ulong ReadAndClearDirty(ulong iova, ulong size, DirtyBitmap bitmap);

    public static PageTableObject Create(uint mode, AllocatorObject allocator, PageTableOptions options) => mode switch
    {
        NativeExports.ModeSv39 => new PageTableObject<Sv39>(allocator, options),
        NativeExports.ModeSv48 => new PageTableObject<Sv48>(allocator, options),
        NativeExports.ModeSv57 => new PageTableObject<Sv57>(allocator, options),
        NativeExports.ModeSv39x4 => new PageTableObject<Sv39x4>(allocator, options),
        NativeExports.ModeSv48x4 => new PageTableObject<Sv48x4>(allocator, options),
        NativeExports.ModeSv57x4 => new PageTableObject<Sv57x4>(allocator, options),
        _ => throw new ArgumentException($"Paging mode {mode} is not one of FASTIOMMU_MODE_SV39..SV57X4.", nameof(mode)),
    };
}

internal sealed class PageTableObject<TMode>(AllocatorObject allocator, PageTableOptions options) : PageTableObject
    where TMode : struct, IPagingMode
{
    private readonly PageTable<TMode> _table = new(allocator.Allocator, options);

    public override ulong RootAddress => _table.RootAddress;

    public override MapStatus TryMap(ulong iova, ulong pa, ulong size, PageProtection prot, PageBasedMemoryType pbmt) =>
        _table.TryMap(iova, pa, size, prot, pbmt);

    public override MapStatus TryUnmap(ulong iova, ulong size, InvalidationGather gather, out ulong unmapped) =>
        _table.TryUnmap(iova, size, gather, out unmapped);

    public override bool TryIovaToPhys(ulong iova, out ulong pa) => _table.TryIovaToPhys(iova, out pa);

    public override WalkResult Walk(ulong iova) => _table.Walk(iova);

    public override ulong ReadAndClearDirty(ulong iova, ulong size, DirtyBitmap bitmap) => _table.ReadAndClearDirty(iova, size, bitmap);

    public override void Dispose() => _table.Dispose();
}

/// <summary>A fastiommu_iommu: the device model and the callbacks it was created with.</summary>
internal sealed unsafe class IommuObject(RiscVIommu device) : NativeObject
{
    public override HandleKind Kind => HandleKind.Iommu;

    public RiscVIommu Device { get; } = device;

    public delegate* unmanaged<void*, FaultRecord*, void> FaultCallback;
    public void* FaultContext;

    /// <summary>ATS messages taken from the device but not yet handed to C (its buffer was smaller); guarded by itself.</summary>
    public Queue<AtsMessage> PendingAts { get; } = new();

    public override void Dispose()
    {
        // Dropping the interrupt hook stops callbacks into C at once. The device holds no unmanaged resource today;
        // if the core gives it a lifetime (IDisposable), it is ended here.
        Device.InterruptRequested = null;
        ((object)Device as IDisposable)?.Dispose();
    }
}
