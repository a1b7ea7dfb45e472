using System.Runtime.InteropServices;
using FastIommu.Formats.RiscV;

namespace FastIommu.PageTables;

/// <summary>What a software walk of one IOVA found: the leaf PTE, its level and the size it maps.</summary>
[StructLayout(LayoutKind.Auto)]
public readonly record struct WalkResult
{
    /// <summary>True when a valid leaf maps the IOVA.</summary>
    public bool Found { get; init; }

    /// <summary>The leaf (when found), or the invalid entry where the walk stopped.</summary>
    public Pte Pte { get; init; }

    /// <summary>Level of the entry: 0 for 4 KiB (and 64 KiB Svnapot) leaves, up to Levels - 1 at the root.</summary>
    public int Level { get; init; }

    /// <summary>Bytes the leaf maps: 4 KiB, 64 KiB (Svnapot), 2 MiB, 1 GiB, 512 GiB, 256 TiB; when not found, the
    /// size of the unmapped hole the walk stopped at.</summary>
    public ulong PageSize { get; init; }

    /// <summary>The physical address the IOVA translates to (0 when not found).</summary>
    public ulong PhysicalAddress { get; init; }
}
