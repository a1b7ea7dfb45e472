namespace FastIommu.PageTables;

/// <summary>One bit per 4 KiB page of an IOVA window, set by <see cref="PageTable{TMode}.ReadAndClearDirty"/>
/// for pages of leaves whose D bit was set (dirty tracking for live migration, as iommufd does).</summary>
public sealed class DirtyBitmap
{
    private readonly ulong[] _bits;

    /// <summary>A bitmap for [<paramref name="baseIova"/>, <paramref name="baseIova"/> + <paramref name="size"/>),
    /// both 4 KiB aligned.</summary>
    public DirtyBitmap(ulong baseIova, ulong size)
    {
        if ((baseIova | size) % 4096 != 0 || size == 0 || size / 4096 > int.MaxValue)
        {
            throw new ArgumentException($"Dirty bitmap window 0x{baseIova:x} + 0x{size:x} must be non-empty and 4 KiB aligned.", nameof(size));
        }

        BaseIova = baseIova;
        Size = size;
        _bits = new ulong[(size / 4096 + 63) / 64];
    }

    /// <summary>First IOVA of the window.</summary>
    public ulong BaseIova { get; }

    /// <summary>Bytes of the window.</summary>
    public ulong Size { get; }

    /// <summary>True when the 4 KiB page holding <paramref name="iova"/> was reported dirty.</summary>
    public bool IsDirty(ulong iova)
    {
        ulong offset = iova - BaseIova;
        if (offset >= Size)
        {
            return false;
        }

        ulong page = offset / 4096;
        return (_bits[page / 64] & (1UL << (int)(page % 64))) != 0;
    }

    /// <summary>Number of pages marked dirty.</summary>
    public long DirtyPages
    {
        get
        {
            long count = 0;
            foreach (ulong word in _bits)
            {
                count += System.Numerics.BitOperations.PopCount(word);
            }

            return count;
        }
    }

    /// <summary>Clears every bit.</summary>
    public void Clear() => Array.Clear(_bits);

    /// <summary>Marks the pages of [iova, iova + size) that lie in the window.</summary>
    internal void Mark(ulong iova, ulong size)
    {
        ulong start = Math.Max(iova, BaseIova);
        ulong end = Math.Min(iova + size, BaseIova + Size);
        for (ulong a = start; a < end; a += 4096)
        {
            ulong page = (a - BaseIova) / 4096;
            _bits[page / 64] |= 1UL << (int)(page % 64);
        }
    }
}
