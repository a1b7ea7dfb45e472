using FastIommu.Formats.RiscV;
using FastIommu.PageTables;

namespace FastIommu.Driver;

// Making groups and domains.
public sealed partial class IommuDriver
{
    private int _nextGroup;

    /// <summary>The blocked domain (no DMA); every group starts on it.</summary>
    public BlockedDomain Blocked { get; }

    /// <summary>The identity domain (DMA untranslated).</summary>
    public IdentityDomain Identity { get; }

    /// <summary>A new, empty group on the blocked domain.</summary>
    public DeviceGroup CreateGroup(string? name = null)
    {
        ThrowIfDisposed();
        return new DeviceGroup(this, name ?? $"group{Interlocked.Increment(ref _nextGroup)}");
    }

    /// <summary>A paging domain of <paramref name="mode"/>: first stage (Sv39/48/57) or G-stage (Sv39x4/48x4/57x4).
    /// Its root is allocated now, so mappings can be made before any device is attached.</summary>
    /// <exception cref="Memory.OutOfPhysicalMemoryException">No page (block) for the root.</exception>
    public PagingDomain CreatePagingDomain(PagingModeKind mode, PageTableOptions? options = null) =>
        CreatePagingDomain(mode, options, DomainKind.Paging);

    private PagingDomain CreatePagingDomain(PagingModeKind mode, PageTableOptions? options = null, DomainKind kind = DomainKind.Paging)
    {
        ThrowIfDisposed();
        return mode switch
        {
            PagingModeKind.Sv39 => new PagingDomain<Sv39>(this, mode, Allocator, options, kind),
            PagingModeKind.Sv48 => new PagingDomain<Sv48>(this, mode, Allocator, options, kind),
            PagingModeKind.Sv57 => new PagingDomain<Sv57>(this, mode, Allocator, options, kind),
            PagingModeKind.Sv39x4 => new PagingDomain<Sv39x4>(this, mode, Allocator, options, kind),
            PagingModeKind.Sv48x4 => new PagingDomain<Sv48x4>(this, mode, Allocator, options, kind),
            PagingModeKind.Sv57x4 => new PagingDomain<Sv57x4>(this, mode, Allocator, options, kind),
            _ => throw new ArgumentOutOfRangeException(nameof(mode), mode, "Not a paging mode."),
        };
    }
}
