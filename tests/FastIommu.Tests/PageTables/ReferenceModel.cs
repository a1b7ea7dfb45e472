using FastIommu.Formats.RiscV;
using FastIommu.PageTables;

namespace FastIommu.Tests.PageTables;

/// <summary>
/// A deliberately simple model of a page table: a sorted list of leaves (start, size, pa, expected PTE), and the set
/// of table pages those leaves need. Written from the spec's rules, sharing no code with the engine.
/// </summary>
internal sealed class ReferenceModel
{
    internal readonly record struct Leaf(ulong Start, ulong Size, ulong Pa, ulong Pte, int Level);

    private readonly SortedList<ulong, Leaf> _leaves = new();
    private readonly Dictionary<(int Level, ulong Key), int> _tables = new();

    public ReferenceModel(int levels, int addressBits, bool gStage, bool svnapot)
    {
        Levels = levels;
        AddressBits = addressBits;
        GStage = gStage;
        Svnapot = svnapot;
    }

    public int Levels { get; }
    public int AddressBits { get; }
    public bool GStage { get; }
    public bool Svnapot { get; }

    public IList<Leaf> Leaves => _leaves.Values;

    /// <summary>Table pages below the root that the leaves need.</summary>
    public int TablePages => _tables.Count;

    public static ulong LevelSize(int level) => 1UL << (12 + 9 * level);

    public bool IsLegal(ulong address)
    {
        if (GStage)
        {
            return address >> AddressBits == 0;
        }

        ulong high = address >> (AddressBits - 1);
        return high == 0 || high == (ulong.MaxValue >> (AddressBits - 1));
    }

    public bool IsLegalRange(ulong iova, ulong size)
    {
        ulong last = iova + size - 1;
        if (last < iova || !IsLegal(iova) || !IsLegal(last))
        {
            return false;
        }

        // First stage: both ends must be in the same half.
        return (iova >> 63) == (last >> 63);
    }

    public Leaf? Find(ulong address)
    {
        // Binary search for the last leaf starting at or below address.
        IList<ulong> keys = _leaves.Keys;
        int lo = 0, hi = keys.Count - 1, found = -1;
        while (lo <= hi)
        {
            int mid = (lo + hi) / 2;
            if (keys[mid] <= address)
            {
                found = mid;
                lo = mid + 1;
            }
            else
            {
                hi = mid - 1;
            }
        }

        if (found < 0)
        {
            return null;
        }

        Leaf leaf = _leaves.Values[found];
        return address - leaf.Start < leaf.Size ? leaf : null;
    }

    private bool AnyIn(ulong first, ulong last)
    {
        if (Find(first) is not null)
        {
            return true;
        }

        foreach (ulong start in _leaves.Keys)
        {
            if (start >= first && start <= last)
            {
                return true;
            }
        }

        return false;
    }

    public ulong ExpectedPte(ulong pa, ulong size, PageProtection prot, PageBasedMemoryType pbmt)
    {
        ulong pte = 1 | 0x40; // V, A
        if (prot.HasFlag(PageProtection.Read)) { pte |= 0x2; }
        if (prot.HasFlag(PageProtection.Write)) { pte |= 0x4 | 0x80; }
        if (prot.HasFlag(PageProtection.Execute)) { pte |= 0x8; }
        if (prot.HasFlag(PageProtection.User) || GStage) { pte |= 0x10; }
        if (prot.HasFlag(PageProtection.Global)) { pte |= 0x20; }
        pte |= (ulong)pbmt << 61;
        ulong ppn = pa >> 12;
        if (size == 0x10000)
        {
            pte |= 1UL << 63;
            ppn |= 0b1000;
        }

        return pte | ppn << 10;
    }

    /// <summary>Expected outcome of a Map; applies it when it succeeds.</summary>
    public MapStatus Map(ulong iova, ulong pa, ulong size, PageProtection prot, PageBasedMemoryType pbmt)
    {
        if (size == 0) { return MapStatus.ZeroSize; }
        if (iova % 4096 != 0) { return MapStatus.MisalignedIova; }
        if (pa % 4096 != 0) { return MapStatus.MisalignedPhysicalAddress; }
        if (size % 4096 != 0) { return MapStatus.MisalignedSize; }
        if (!IsLegalRange(iova, size)) { return MapStatus.IovaOutOfRange; }
        if (pa + size - 1 < pa || pa + size - 1 >= 1UL << 56) { return MapStatus.PhysicalAddressOutOfRange; }
        if (AnyIn(iova, iova + size - 1)) { return MapStatus.Overlap; }

        ulong cur = iova, p = pa, left = size;
        while (left != 0)
        {
            int level = 0;
            for (int l = Levels - 1; l > 0; l--)
            {
                ulong s = LevelSize(l);
                if (cur % s == 0 && p % s == 0 && left >= s)
                {
                    level = l;
                    break;
                }
            }

            ulong leafSize = level > 0 ? LevelSize(level)
                : Svnapot && cur % 0x10000 == 0 && p % 0x10000 == 0 && left >= 0x10000 ? 0x10000UL : 0x1000UL;
            Add(new Leaf(cur, leafSize, p, ExpectedPte(p, leafSize, prot, pbmt), level));
            cur += leafSize;
            p += leafSize;
            left -= leafSize;
        }

        return MapStatus.Success;
    }

    /// <summary>Expected outcome of an Unmap; applies it when it succeeds.</summary>
    public MapStatus Unmap(ulong iova, ulong size, out ulong bytes)
    {
        bytes = 0;
        if (size == 0) { return MapStatus.ZeroSize; }
        if (iova % 4096 != 0) { return MapStatus.MisalignedIova; }
        if (size % 4096 != 0) { return MapStatus.MisalignedSize; }
        if (!IsLegalRange(iova, size)) { return MapStatus.IovaOutOfRange; }
        ulong last = iova + size - 1;
        if (Find(iova) is Leaf head && head.Start != iova) { return MapStatus.PartialSuperpage; }
        if (Find(last) is Leaf tail && tail.Start + tail.Size - 1 != last) { return MapStatus.PartialSuperpage; }

        var doomed = _leaves.Values.Where(l => l.Start >= iova && l.Start <= last).ToList();
        foreach (Leaf leaf in doomed)
        {
            Remove(leaf);
            bytes += leaf.Size;
        }

        return MapStatus.Success;
    }

    private IEnumerable<(int, ulong)> TablesOf(Leaf leaf)
    {
        for (int level = leaf.Level; level < Levels - 1; level++)
        {
            yield return (level, leaf.Start >> (12 + 9 * (level + 1)));
        }
    }

    private void Add(Leaf leaf)
    {
        _leaves.Add(leaf.Start, leaf);
        foreach (var key in TablesOf(leaf))
        {
            _tables[key] = _tables.GetValueOrDefault(key) + 1;
        }
    }

    private void Remove(Leaf leaf)
    {
        _leaves.Remove(leaf.Start);
        foreach (var key in TablesOf(leaf))
        {
            if (--_tables[key] == 0)
            {
                _tables.Remove(key);
            }
        }
    }
}
