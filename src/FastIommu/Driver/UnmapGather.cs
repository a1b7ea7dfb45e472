using FastIommu.PageTables;

namespace FastIommu.Driver;

/// <summary>
/// What unmaps of one paging domain left to invalidate (IOVA ranges, unlinked table pages), until
/// <see cref="PagingDomain.Sync"/> sends the invalidations, fences, frees the pages and returns the gather to its pool.
/// Pooled: get one from <see cref="PagingDomain.Unmap(ulong, ulong)"/> or <see cref="IommuDriver.RentGather"/>; one
/// thread at a time.
/// </summary>
public sealed class UnmapGather
{
    internal InvalidationGather Inner { get; } = new();

    internal PagingDomain? Domain { get; private set; }

    /// <summary>Bytes unmapped into it.</summary>
    public ulong Bytes { get; internal set; }

    /// <summary>The unmapped ranges, merged where adjacent.</summary>
    public ReadOnlySpan<IovaRange> Ranges => Inner.Ranges;

    /// <summary>True when table pages were unlinked: the sync flushes the whole PSCID/GSCID (v1.0 has no non-leaf
    /// invalidation) and frees them after its fence.</summary>
    public bool HasFreedTables => Inner.HasFreedTables;

    /// <summary>Table pages waiting for the sync.</summary>
    public int FreedTablePages => Inner.FreedTables.Length;

    /// <summary>Nothing gathered.</summary>
    public bool IsEmpty => Inner.IsEmpty;

    /// <summary>Throws when the gather holds unmaps of another domain (checked before an unmap, which then binds).</summary>
    internal void CheckBindable(PagingDomain domain)
    {
        if (Domain is not null && Domain != domain)
        {
            throw new ArgumentException($"This gather holds unmaps of {Domain}; sync it before unmapping {domain}.", nameof(domain));
        }
    }

    internal void Bind(PagingDomain domain)
    {
        if (Domain is null)
        {
            Domain = domain;
        }
        else if (Domain != domain)
        {
            throw new ArgumentException($"This gather holds unmaps of {Domain}; sync it before unmapping {domain}.", nameof(domain));
        }
    }

    internal void Reset()
    {
        Domain = null;
        Bytes = 0;
    }
}
