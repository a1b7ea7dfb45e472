using System.Runtime.InteropServices;
using FastIommu.Memory;

namespace FastIommu.PageTables;

/// <summary>An IOVA range [Start, Start + Size).</summary>
[StructLayout(LayoutKind.Sequential)]
public readonly record struct IovaRange(ulong Start, ulong Size)
{
    public ulong End => Start + Size;
}

/// <summary>
/// What an unmap (or a map that failed half-way and rolled back) left to invalidate: the IOVA ranges whose leaves
/// were cleared, and the table pages that were unlinked because they became empty. The caller invalidates the IOTLB for <see cref="Ranges"/> (a full PSCID/GSCID
/// flush when <see cref="HasFreedTables"/>: IOMMU v1.0 has no non-leaf invalidation), fences, then calls
/// <see cref="Complete"/>, which returns the table pages to the allocator. Until then hardware may still walk them,
/// so they keep their (all-zero) contents.
/// </summary>
/// <remarks>Caller-owned and reusable: one gather per unmapping thread (not thread-safe). Its arrays grow to the
/// largest batch seen and are kept, so a steady state of Unmap + Complete allocates nothing.
/// Adjacent ranges are merged as they are added.</remarks>
public sealed class InvalidationGather
{
    private IovaRange[] _ranges;
    private int _rangeCount;
    private ulong[] _tables;
    private int _tableCount;
    private PageAllocator? _allocator;

    public InvalidationGather(int initialCapacity = 8)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(initialCapacity, 1);
        _ranges = new IovaRange[initialCapacity];
        _tables = new ulong[initialCapacity];
    }

    /// <summary>The ranges unmapped since the last <see cref="Complete"/>, merged where adjacent.</summary>
    public ReadOnlySpan<IovaRange> Ranges => _ranges.AsSpan(0, _rangeCount);

    /// <summary>Physical addresses of the table pages unlinked since the last <see cref="Complete"/>.</summary>
    public ReadOnlySpan<ulong> FreedTables => _tables.AsSpan(0, _tableCount);

    /// <summary>True when table pages were unlinked: the invalidation must cover non-leaf entries (whole PSCID/GSCID).</summary>
    public bool HasFreedTables => _tableCount != 0;

    /// <summary>True when nothing was gathered.</summary>
    public bool IsEmpty => _rangeCount == 0 && _tableCount == 0;

    /// <summary>Lowest IOVA gathered (0 when empty). The minimum over the ranges: unmaps of one gather need not go
    /// upwards (the first range's start, returned before, could be above a later unmap's range).</summary>
    public ulong Start
    {
        get
        {
            ulong start = _rangeCount == 0 ? 0 : ulong.MaxValue;
            for (int i = 0; i < _rangeCount; i++)
            {
                start = Math.Min(start, _ranges[i].Start);
            }

            return start;
        }
    }

    /// <summary>One past the highest IOVA gathered (0 when empty). Ranges are added in increasing order per unmap.</summary>
    public ulong End
    {
        get
        {
            ulong end = 0;
            for (int i = 0; i < _rangeCount; i++)
            {
                end = Math.Max(end, _ranges[i].End);
            }

            return end;
        }
    }

    /// <summary>The allocator the gathered table pages go back to (null while none was gathered).</summary>
    public PageAllocator? Allocator => _allocator;

    /// <summary>Frees the gathered table pages (call after the IOTLB invalidation and fence) and empties the gather.</summary>
    public void Complete()
    {
        for (int i = 0; i < _tableCount; i++)
        {
            _allocator!.FreePage(_tables[i]);
        }

        _tableCount = 0;
        _rangeCount = 0;
        _allocator = null;
    }

    internal bool Accepts(PageAllocator allocator) => _allocator is null || ReferenceEquals(_allocator, allocator);

    internal void AddRange(ulong start, ulong size)
    {
        if (_rangeCount > 0 && _ranges[_rangeCount - 1].End == start)
        {
            _ranges[_rangeCount - 1] = new IovaRange(_ranges[_rangeCount - 1].Start, _ranges[_rangeCount - 1].Size + size);
            return;
        }

        if (_rangeCount == _ranges.Length)
        {
            Array.Resize(ref _ranges, _ranges.Length * 2);
        }

        _ranges[_rangeCount++] = new IovaRange(start, size);
    }

    internal void AddFreedTable(PageAllocator allocator, ulong pa)
    {
        _allocator = allocator;
        if (_tableCount == _tables.Length)
        {
            Array.Resize(ref _tables, _tables.Length * 2);
        }

        _tables[_tableCount++] = pa;
    }
}
