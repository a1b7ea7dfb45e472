namespace FastIommu.PageTables;

/// <summary>Permissions of a mapping, as the leaf PTE's R, W, X, U, G bits (privileged spec, Sv39 PTE).</summary>
/// <remarks>W without R is reserved by the spec and refused; at least one of R, W, X is required
/// (R=W=X=0 would make the entry a pointer to the next level). G is meaningless in a G-stage and refused there.</remarks>
[Flags]
public enum PageProtection : byte
{
    None = 0,
    Read = 1,
    Write = 2,
    Execute = 4,
    User = 8,
    Global = 16,
}

/// <summary>Outcome of <see cref="PageTable{TMode}.TryMap(ulong, ulong, ulong, PageProtection, FastIommu.Formats.RiscV.PageBasedMemoryType)"/> and <see cref="PageTable{TMode}.TryUnmap"/>.
/// Every value but <see cref="Success"/> means the call changed nothing.</summary>
public enum MapStatus : byte
{
    Success = 0,
    /// <summary>Size is zero.</summary>
    ZeroSize,
    /// <summary>The IOVA is not 4 KiB aligned.</summary>
    MisalignedIova,
    /// <summary>The physical address is not 4 KiB aligned.</summary>
    MisalignedPhysicalAddress,
    /// <summary>The size is not a multiple of 4 KiB.</summary>
    MisalignedSize,
    /// <summary>Part of [iova, iova + size) is not a legal input address of the mode (sign extension for a first
    /// stage, zero high bits for a G-stage), or the range wraps.</summary>
    IovaOutOfRange,
    /// <summary>Part of [pa, pa + size) does not fit the 56-bit physical address of a PTE (44-bit PPN).</summary>
    PhysicalAddressOutOfRange,
    /// <summary>The protection is not a legal leaf: no R/W/X, W without R, G in a G-stage, or a reserved PBMT.</summary>
    InvalidProtection,
    /// <summary>Part of the range is already mapped (or covered by a table where a superpage would go).</summary>
    Overlap,
    /// <summary>The page allocator has too few pages for the tables the mapping needs.</summary>
    OutOfMemory,
    /// <summary>Unmap would cut a superpage (or a 64 KiB Svnapot range) in part.</summary>
    PartialSuperpage,
    /// <summary>The IOVA is not mapped (IovaToPhys).</summary>
    NotMapped,
    /// <summary>The invalidation gather already holds table pages of a different allocator.</summary>
    ForeignGather,
}

/// <summary>A page-table operation was refused; nothing was changed. Carries the IOVA and the status.</summary>
public sealed class PageTableException : InvalidOperationException
{
    /// <summary>The IOVA the call was made for.</summary>
    public ulong Iova { get; }

    /// <summary>Why it was refused.</summary>
    public MapStatus Status { get; }

    public PageTableException(MapStatus status, ulong iova, string message) : base(message)
    {
        Status = status;
        Iova = iova;
    }
}

/// <summary>Options of a <see cref="PageTable{TMode}"/>.</summary>
public sealed record PageTableOptions
{
    /// <summary>Use 64 KiB Svnapot leaves (16 equal level-0 PTEs with N=1, PPN[3:0]=1000b) where alignment allows.
    /// Only when the IOMMU implements Svnapot.</summary>
    public bool Svnapot { get; init; }

    /// <summary>The defaults: no Svnapot.</summary>
    public static PageTableOptions Default { get; } = new();
}
