using FastIommu.Memory;

namespace FastIommu.Driver;

/// <summary>
/// The driver: the IOMMU instances it brought up, the device groups, and the domains, whose page tables come from
/// one page allocator (a window of guest RAM the caller reserves, not all of it). The entry point of the layer:
/// <code>
/// var driver = new IommuDriver(allocator);
/// IommuInstance iommu = driver.AddInstance(new InProcessMmio(device));
/// IommuDevice nic = iommu.AddDevice(0x10);
/// PagingDomain dma = driver.CreatePagingDomain(PagingModeKind.Sv39);
/// dma.Map(iova, pa, 4096, DmaProtection.ReadWrite);
/// driver.Attach(nic.Group, dma);
/// </code>
/// </summary>
public sealed partial class IommuDriver : IDisposable
{
    private readonly Lock _lock = new();
    private readonly List<IommuInstance> _instances = [];
    private int _nextInstance;
    private int _disposed;

    /// <summary>A driver whose domain page tables (and, unless an instance is given its own, DDT/PDT pages and
    /// queue rings) come from <paramref name="allocator"/>.</summary>
    public IommuDriver(PageAllocator allocator)
    {
        ArgumentNullException.ThrowIfNull(allocator);
        Allocator = allocator;
        Memory = allocator.Memory;
        Blocked = new BlockedDomain(this);
        Identity = new IdentityDomain(this);
    }

    /// <summary>Where domain page tables come from.</summary>
    public PageAllocator Allocator { get; }

    /// <summary>The memory everything lives in.</summary>
    public PhysicalMemory Memory { get; }

    /// <summary>The instances brought up and not yet shut down.</summary>
    public IReadOnlyList<IommuInstance> Instances
    {
        get
        {
            lock (_lock)
            {
                return [.. _instances];
            }
        }
    }

    /// <summary>Brings up the IOMMU behind <paramref name="mmio"/> (spec order: capabilities, command queue, fault
    /// queue, then ddtp) with rings and DDT pages from <paramref name="allocator"/> (the driver's by default).</summary>
    /// <exception cref="NotSupportedException">The hardware is not a v1 IOMMU or takes no DDT mode asked for.</exception>
    /// <exception cref="OutOfPhysicalMemoryException">No pages for the rings or the DDT root; nothing was changed.</exception>
    /// <exception cref="TimeoutException">The hardware did not turn a queue on.</exception>
    public IommuInstance AddInstance(IIommuMmio mmio, PageAllocator? allocator = null, IommuDriverOptions? options = null)
    {
        ThrowIfDisposed();
        allocator ??= Allocator;
        if (!ReferenceEquals(allocator.Memory, Memory))
        {
            throw new ArgumentException("An instance's pages must come from the driver's memory.", nameof(allocator));
        }

        string name;
        lock (_lock)
        {
            name = $"iommu{_nextInstance++}";
        }

        var instance = new IommuInstance(this, name, mmio, allocator, options ?? IommuDriverOptions.Default);
        lock (_lock)
        {
            _instances.Add(instance);
        }

        return instance;
    }

    internal void Forget(IommuInstance instance)
    {
        lock (_lock)
        {
            _instances.Remove(instance);
        }
    }

    internal void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);

    /// <summary>Shuts every instance down. Domains must be destroyed by their owners first (their page tables go
    /// back to the allocator then).</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        foreach (IommuInstance instance in Instances)
        {
            instance.Dispose();
        }
    }
}
