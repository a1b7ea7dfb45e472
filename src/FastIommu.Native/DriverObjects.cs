using System.Runtime.InteropServices;
using FastIommu.Driver;
using FastIommu.Images;

namespace FastIommu.Native;

/// <summary>fastiommu_mmio_callbacks in fastiommu.h: the register page of an IOMMU the emulator models itself (its bus).</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct MmioCallbacks
{
    public void* Context;
    public delegate* unmanaged<void*, uint, uint> Read32;
    public delegate* unmanaged<void*, uint, ulong> Read64;
    public delegate* unmanaged<void*, uint, uint, void> Write32;
    public delegate* unmanaged<void*, uint, ulong, void> Write64;
}

/// <summary>The driver's <see cref="IIommuMmio"/> over the emulator's callbacks.</summary>
internal sealed unsafe class CallbackMmio(in MmioCallbacks callbacks) : IIommuMmio
{
    private readonly MmioCallbacks _callbacks = callbacks;

    public uint Read32(uint offset) => _callbacks.Read32(_callbacks.Context, offset);

    public ulong Read64(uint offset) => _callbacks.Read64(_callbacks.Context, offset);

    public void Write32(uint offset, uint value) => _callbacks.Write32(_callbacks.Context, offset, value);

    public void Write64(uint offset, ulong value) => _callbacks.Write64(_callbacks.Context, offset, value);
}

/// <summary>A fastiommu_driver: borrows its allocator.</summary>
internal sealed class DriverObject(IommuDriver driver) : NativeObject
{
    public override HandleKind Kind => HandleKind.Driver;

    public IommuDriver Driver { get; } = driver;

    public override void Dispose() => Driver.Dispose();
}

/// <summary>A fastiommu_instance: borrows its driver (and the fastiommu_iommu it drives in process, if any).
/// Destroying it shuts the instance down.</summary>
internal sealed class InstanceObject(IommuInstance instance) : NativeObject
{
    public override HandleKind Kind => HandleKind.Instance;

    public IommuInstance Instance { get; } = instance;

    public override void Dispose() => Instance.Dispose();
}

/// <summary>A fastiommu_group. The core group has no lifetime of its own: destroying the handle is refused while the
/// group is attached to anything but the blocked domain (it could not be detached any more).</summary>
internal sealed class GroupObject(DeviceGroup group) : NativeObject
{
    public override HandleKind Kind => HandleKind.Group;

    public DeviceGroup Group { get; } = group;

    public override void Dispose()
    {
        if (Group.Domain.Kind != DomainKind.Blocked)
        {
            throw new InvalidOperationException($"{Group} is attached to {Group.Domain}; detach it first.");
        }
    }
}

/// <summary>A fastiommu_device: borrows its instance and its group. Releasing the handle leaves the device on its
/// instance (the core has no device removal; shutting the instance down takes it out).</summary>
internal sealed class DeviceObject(IommuDevice device) : NativeObject
{
    public override HandleKind Kind => HandleKind.Device;

    public IommuDevice Device { get; } = device;

    public override void Dispose()
    {
    }
}

/// <summary>A fastiommu_domain: borrows its driver (a nested domain also its parent). Destroying the blocked or identity
/// domain's handle only drops the handle (they belong to the driver).</summary>
internal sealed class DomainObject(IommuDomain domain) : NativeObject
{
    public override HandleKind Kind => HandleKind.Domain;

    public IommuDomain Domain { get; } = domain;

    /// <summary>The domain as a paging domain (paging or SVA address space), or null.</summary>
    public PagingDomain? Paging { get; } = domain as PagingDomain;

    public override void Dispose()
    {
        if (Domain.Kind is not (DomainKind.Blocked or DomainKind.Identity))
        {
            Domain.Dispose(); // refused (InvalidOperationException) while attached: the handle stays
        }
    }
}

/// <summary>A fastiommu_unmap_gather: the unmaps of one domain waiting for a sync. Holds a pooled
/// <see cref="UnmapGather"/> from the first unmap to the sync (which returns it to the driver's pool), so a steady
/// state of unmap + sync allocates nothing. Used by one thread at a time.</summary>
internal sealed class UnmapGatherObject(IommuDriver driver) : NativeObject
{
    public override HandleKind Kind => HandleKind.UnmapGather;

    public IommuDriver Driver { get; } = driver;

    public UnmapGather? Current;

    public override void Dispose()
    {
        if (Current is { IsEmpty: false })
        {
            throw new InvalidOperationException("The gather holds unmaps that were not synced; sync it first.");
        }

        if (Current is not null)
        {
            Driver.ReturnGather(Current);
            Current = null;
        }
    }
}

/// <summary>A fastiommu_sva: one SVA bind; borrows the device and the address space. Destroying it unbinds.</summary>
internal sealed class SvaObject(IommuDriver driver, SvaHandle handle) : NativeObject
{
    public override HandleKind Kind => HandleKind.Sva;

    public SvaHandle Handle { get; } = handle;

    public override void Dispose() => driver.UnbindSva(Handle);
}

/// <summary>A fastiommu_image: a table image in managed memory.</summary>
internal sealed class ImageObject(TableImage image) : NativeObject
{
    public override HandleKind Kind => HandleKind.Image;

    public TableImage Image { get; } = image;

    /// <summary>The text dump, made on the first dump call and kept (an image is immutable).</summary>
    public byte[]? Text;

    public override void Dispose()
    {
    }
}
