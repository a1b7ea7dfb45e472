using FastIommu.Formats.RiscV;
using FastIommu.Memory;
using FastIommu.PageTables;

namespace FastIommu.Tests.PageTables;

/// <summary>Page-size boundaries, the ends of each mode's address space, and every refused call leaving
/// tables and allocator byte-for-byte as they were.</summary>
[TestFixture(typeof(Sv39))]
[TestFixture(typeof(Sv48))]
[TestFixture(typeof(Sv57))]
[TestFixture(typeof(Sv39x4))]
[TestFixture(typeof(Sv48x4))]
[TestFixture(typeof(Sv57x4))]
public sealed class PageTableEdgeTests<TMode> where TMode : struct, IPagingMode
{
    private const PageProtection Rw = PageProtection.Read | PageProtection.Write;
    private PhysicalMemory _memory = null!;
    private PageAllocator _allocator = null!;

    [SetUp]
    public void SetUp()
    {
        _memory = PhysicalMemory.Allocate(1 << 20, 0x8000_0000);
        _allocator = new PageAllocator(_memory);
    }

    [TearDown]
    public void TearDown() => _memory.Dispose();

    private static int RootPages => TMode.IsGStage ? 4 : 1;

    /// <summary>Lowest and highest 4 KiB page of each stretch of legal addresses.</summary>
    private static IEnumerable<ulong> EndPages()
    {
        if (TMode.IsGStage)
        {
            yield return 0;
            yield return (1UL << TMode.AddressBits) - 0x1000; // Sv39x4: 0x1FF_FFFF_F000
        }
        else
        {
            yield return 0;
            yield return (1UL << (TMode.AddressBits - 1)) - 0x1000;  // Sv39: 0x3F_FFFF_F000
            yield return 0UL - (1UL << (TMode.AddressBits - 1));     // Sv39: 0xFFFF_FFC0_0000_0000
            yield return 0xFFFF_FFFF_FFFF_F000;
        }
    }

    [Test]
    public void The_lowest_and_highest_pages_map_translate_and_unmap()
    {
        using var table = new PageTable<TMode>(_allocator);
        var gather = new InvalidationGather();
        foreach (ulong iova in EndPages())
        {
            table.Map(iova, 0x7654_3000, 0x1000, PageProtection.Read);
            Assert.That(table.IovaToPhys(iova + 0x123), Is.EqualTo(0x7654_3123UL), $"0x{iova:x} translates");
        }

        // The root index of the highest page is the last root entry: 511, or 2047 in a 16 KiB x4 root.
        int lastRootIndex = TMode.IsGStage ? 2047 : 511;
        ulong lastRootEntry = _memory.Qword(table.RootAddress + (ulong)lastRootIndex * 8);
        Assert.Multiple(() =>
        {
            Assert.That(lastRootEntry & 0xF, Is.EqualTo(1UL), "highest page goes through the last root entry (V=1, RWX=0: a table)");
            Assert.That(_memory.Qword(table.RootAddress) & 0xF, Is.EqualTo(1UL), "lowest page through root entry 0");
        });

        foreach (ulong iova in EndPages())
        {
            Assert.That(table.Unmap(iova, 0x1000, gather), Is.EqualTo(0x1000UL), $"0x{iova:x} unmapped");
            Assert.That(table.TryIovaToPhys(iova, out _), Is.False, $"0x{iova:x} gone");
        }

        gather.Complete();
        Assert.That(_allocator.PagesInUse, Is.EqualTo(RootPages), "all tables freed");
    }

    [Test]
    public void Addresses_just_outside_the_mode_are_refused()
    {
        using var table = new PageTable<TMode>(_allocator);
        var cases = new List<(ulong Iova, ulong Size, string Why)>();
        if (TMode.IsGStage)
        {
            ulong end = 1UL << TMode.AddressBits;
            cases.Add((end, 0x1000, "first address past the GPA space"));
            cases.Add((end - 0x1000, 0x2000, "range running past the GPA space"));
            cases.Add((1UL << 63, 0x1000, "bit 63 set in a G-stage address"));
        }
        else
        {
            ulong half = 1UL << (TMode.AddressBits - 1);
            cases.Add((half, 0x1000, "first non-canonical address"));
            cases.Add((half - 0x1000, 0x2000, "range crossing from the low half into the hole"));
            cases.Add((0UL - half - 0x1000, 0x2000, "range crossing from the hole into the high half"));
            cases.Add((0xFFFF_FFFF_FFFF_F000, 0x2000, "range wrapping past 2^64"));
        }

        foreach (var (iova, size, why) in cases)
        {
            Assert.That(table.TryMap(iova, 0x1000, size, PageProtection.Read), Is.EqualTo(MapStatus.IovaOutOfRange), why);
            Assert.That(table.TryUnmap(iova, size, new InvalidationGather(), out _), Is.EqualTo(MapStatus.IovaOutOfRange), why);
            Assert.That(table.Walk(iova).Found, Is.False, why);
        }

        Assert.That(_allocator.PagesInUse, Is.EqualTo(RootPages), "nothing allocated");
    }

    [TestCase(0x20_0000UL - 0x1000, 0, 511, 0)]
    [TestCase(0x20_0000UL, 1, 0, 1)]
    [TestCase(0x20_0000UL + 0x1000, 1, 1, 1)]
    [TestCase(0x40_0000UL, 2, 0, 1)]
    public void Leaf_sizes_follow_alignment_and_length(ulong size, int expectedSuperpages, int expectedSmall, int firstLevel)
    {
        using var table = new PageTable<TMode>(_allocator);
        table.Map(0x4000_0000, 0x1_0000_0000, size, PageProtection.Read);
        int superpages = 0, small = 0;
        for (ulong a = 0x4000_0000; a < 0x4000_0000 + size;)
        {
            WalkResult walk = table.Walk(a);
            Assert.That(walk.PhysicalAddress, Is.EqualTo(0x1_0000_0000 + (a - 0x4000_0000)), $"PA of 0x{a:x}");
            if (walk.Level == 1) { superpages++; } else { small++; }
            a += walk.PageSize;
        }

        Assert.Multiple(() =>
        {
            Assert.That(table.Walk(0x4000_0000).Level, Is.EqualTo(firstLevel), "first leaf level");
            Assert.That(superpages, Is.EqualTo(expectedSuperpages), "2 MiB leaves");
            Assert.That(small, Is.EqualTo(expectedSmall), "4 KiB leaves");
            Assert.That(table.TryIovaToPhys(0x4000_0000 + size, out _), Is.False, "nothing past the end");
        });
    }

    [Test]
    public void A_pa_aligned_only_to_4K_gives_4K_leaves_even_when_the_iova_is_2M_aligned()
    {
        using var table = new PageTable<TMode>(_allocator);
        table.Map(0x20_0000, 0x30_1000, 0x20_0000, PageProtection.Read);
        Assert.That(table.Walk(0x20_0000).PageSize, Is.EqualTo(0x1000UL), "4 KiB");
        Assert.That(table.Walk(0x3F_F000).PhysicalAddress, Is.EqualTo(0x50_0000UL), "last page maps 0x30_1000 + 0x1F_F000");
    }

    [Test]
    public void The_largest_leaf_of_the_mode_sits_in_the_root()
    {
        using var table = new PageTable<TMode>(_allocator);
        ulong size = PagingMode<TMode>.LargestPageSize; // 1 GiB for Sv39, 512 GiB Sv48, 256 TiB Sv57
        table.Map(size, size * 2, size, Rw);
        WalkResult walk = table.Walk(size + 0x5000);
        Assert.Multiple(() =>
        {
            Assert.That(walk.Level, Is.EqualTo(TMode.Levels - 1), "root-level leaf");
            Assert.That(walk.PageSize, Is.EqualTo(size), "its size");
            Assert.That(walk.PhysicalAddress, Is.EqualTo(size * 2 + 0x5000), "translation");
            Assert.That(_memory.Qword(table.RootAddress + 8) & 0xFF, Is.EqualTo(TMode.IsGStage ? 0xD7UL : 0xC7UL), "root entry 1 is the leaf: V R W A D (+U in a G-stage)");
            Assert.That(_allocator.PagesInUse, Is.EqualTo(RootPages), "no table below the root");
        });
    }

    [Test]
    public void Svnapot_writes_16_equal_PTEs_with_N_and_PPN_low_bits_1000b()
    {
        using var table = new PageTable<TMode>(_allocator, new PageTableOptions { Svnapot = true });
        table.Map(0x10_0000, 0x2345_0000, 0x1_0000 + 0x3000, PageProtection.Read);
        WalkResult napot = table.Walk(0x10_4567);
        // PPN = 0x23450 | 0b1000 = 0x23458; PTE = N | PPN << 10 | A R V = 0x8000_0000_08D1_6043 (+ U 0x10 in a G-stage).
        ulong expected = 0x8000_0000_08D1_6043UL | (TMode.IsGStage ? 0x10UL : 0);
        Assert.Multiple(() =>
        {
            Assert.That(napot.PageSize, Is.EqualTo(0x1_0000UL), "64 KiB");
            Assert.That(napot.Pte.Value, Is.EqualTo(expected), "N=1, PPN[3:0]=1000b");
            Assert.That(napot.PhysicalAddress, Is.EqualTo(0x2345_4567UL), "offset within 64 KiB from the IOVA");
            Assert.That(table.Walk(0x11_0000).PageSize, Is.EqualTo(0x1000UL), "the 12 KiB tail is 4 KiB leaves");
        });

        ulong level0 = table.Walk(0x10_0000).Pte.Value;
        for (ulong a = 0x10_0000; a < 0x11_0000; a += 0x1000)
        {
            Assert.That(table.Walk(a).Pte.Value, Is.EqualTo(level0), $"PTE of 0x{a:x} equals the other 15");
        }

        var gather = new InvalidationGather();
        Assert.That(table.TryUnmap(0x10_8000, 0x1000, gather, out _), Is.EqualTo(MapStatus.PartialSuperpage), "cannot cut a NAPOT range");
        Assert.That(table.Unmap(0x10_0000, 0x1_0000, gather), Is.EqualTo(0x1_0000UL), "whole NAPOT range");
    }

    [Test]
    public void Without_Svnapot_64K_is_sixteen_4K_leaves()
    {
        using var table = new PageTable<TMode>(_allocator);
        table.Map(0x10_0000, 0x2345_0000, 0x1_0000, PageProtection.Read);
        Assert.That(table.Walk(0x10_4000).PageSize, Is.EqualTo(0x1000UL), "4 KiB");
        Assert.That(table.Walk(0x10_4000).Pte.Napot, Is.False, "no N bit");
    }

    private byte[] Snapshot() => _memory.GetSpan(_memory.BaseAddress, (int)_memory.Size).ToArray();

    private void AssertUnchanged(byte[] before, long pagesBefore, string why)
    {
        Assert.That(Snapshot().SequenceEqual(before), Is.True, $"{why}: no byte of any table changed");
        Assert.That(_allocator.PagesInUse, Is.EqualTo(pagesBefore), $"{why}: allocator unchanged");
    }

    [Test]
    public void Refused_maps_change_nothing()
    {
        using var table = new PageTable<TMode>(_allocator);
        table.Map(0x40_0000, 0x40_0000, 0x20_0000, Rw); // a 2 MiB leaf
        table.Map(0x80_1000, 0x1000, 0x1000, Rw);       // a 4 KiB leaf
        var cases = new List<(ulong Iova, ulong Pa, ulong Size, PageProtection Prot, PageBasedMemoryType Pbmt, MapStatus Expected, string Why)>
        {
            (0x40_0000, 0, 0x1000, Rw, 0, MapStatus.Overlap, "4 KiB inside an existing 2 MiB leaf"),
            (0x20_0000, 0x20_0000, 0x40_0000, Rw, 0, MapStatus.Overlap, "a range whose second half overlaps"),
            (0x80_0000, 0x80_0000, 0x20_0000, Rw, 0, MapStatus.Overlap, "2 MiB over a table holding a 4 KiB leaf"),
            (0x80_1000, 0x9000, 0x1000, Rw, 0, MapStatus.Overlap, "the same page again"),
            (0x7F_F000, 0x9000, 0x3000, Rw, 0, MapStatus.Overlap, "a run whose middle page is mapped"),
            (0x10_0800, 0, 0x1000, Rw, 0, MapStatus.MisalignedIova, "IOVA not 4 KiB aligned"),
            (0x10_0000, 0x800, 0x1000, Rw, 0, MapStatus.MisalignedPhysicalAddress, "PA not 4 KiB aligned"),
            (0x10_0000, 0, 0x1800, Rw, 0, MapStatus.MisalignedSize, "size not a multiple of 4 KiB"),
            (0x10_0000, 0, 0, Rw, 0, MapStatus.ZeroSize, "zero size"),
            (0x10_0000, 1UL << 56, 0x1000, Rw, 0, MapStatus.PhysicalAddressOutOfRange, "PA past 56 bits"),
            (0x10_0000, (1UL << 56) - 0x1000, 0x2000, Rw, 0, MapStatus.PhysicalAddressOutOfRange, "PA range running past 56 bits"),
            (0x10_0000, 0, 0x1000, PageProtection.Write, 0, MapStatus.InvalidProtection, "W without R is reserved"),
            (0x10_0000, 0, 0x1000, PageProtection.User, 0, MapStatus.InvalidProtection, "no R, W or X"),
            (0x10_0000, 0, 0x1000, PageProtection.Read, PageBasedMemoryType.Reserved, MapStatus.InvalidProtection, "PBMT 3 is reserved"),
        };
        if (TMode.IsGStage)
        {
            cases.Add((0x10_0000, 0, 0x1000, PageProtection.Read | PageProtection.Global, 0, MapStatus.InvalidProtection, "G in a G-stage"));
        }

        foreach (var c in cases)
        {
            byte[] before = Snapshot();
            long pages = _allocator.PagesInUse;
            Assert.That(table.TryMap(c.Iova, c.Pa, c.Size, c.Prot, c.Pbmt), Is.EqualTo(c.Expected), c.Why);
            AssertUnchanged(before, pages, c.Why);
        }

        var error = Assert.Throws<PageTableException>(() => table.Map(0x40_1000, 0, 0x1000, Rw), "Map throws")!;
        Assert.Multiple(() =>
        {
            Assert.That(error.Status, Is.EqualTo(MapStatus.Overlap), "status carried");
            Assert.That(error.Iova, Is.EqualTo(0x40_1000UL), "IOVA carried");
            Assert.That(error.Message, Does.Contain("0x401000"), "IOVA in the message");
        });
    }

    [Test]
    public void Refused_unmaps_change_nothing()
    {
        using var table = new PageTable<TMode>(_allocator, new PageTableOptions { Svnapot = true });
        table.Map(0x40_0000, 0x40_0000, 0x20_0000, Rw);  // 2 MiB
        table.Map(0x80_0000, 0x80_0000, 0x1_0000, Rw);   // 64 KiB NAPOT
        var gather = new InvalidationGather();
        var cases = new (ulong Iova, ulong Size, MapStatus Expected, string Why)[]
        {
            (0x40_0000, 0x1000, MapStatus.PartialSuperpage, "head of a 2 MiB leaf"),
            (0x3F_F000, 0x2000, MapStatus.PartialSuperpage, "range ending inside a 2 MiB leaf"),
            (0x5F_F000, 0x2000, MapStatus.PartialSuperpage, "range starting inside a 2 MiB leaf"),
            (0x80_F000, 0x1000, MapStatus.PartialSuperpage, "tail of a NAPOT range"),
            (0x40_0800, 0x1000, MapStatus.MisalignedIova, "IOVA not aligned"),
            (0x40_0000, 0x1800, MapStatus.MisalignedSize, "size not aligned"),
            (0x40_0000, 0, MapStatus.ZeroSize, "zero size"),
        };
        foreach (var c in cases)
        {
            byte[] before = Snapshot();
            long pages = _allocator.PagesInUse;
            Assert.That(table.TryUnmap(c.Iova, c.Size, gather, out ulong bytes), Is.EqualTo(c.Expected), c.Why);
            Assert.That(bytes, Is.Zero, c.Why);
            Assert.That(gather.IsEmpty, Is.True, $"{c.Why}: nothing gathered");
            AssertUnchanged(before, pages, c.Why);
        }

        Assert.That(table.Unmap(0x100_0000, 0x1000, gather), Is.Zero, "unmapping a hole unmaps 0 bytes");
        Assert.That(table.Unmap(0, 0x100_0000, gather), Is.EqualTo(0x21_0000UL), "a range spanning holes unmaps what is there");
    }

    [Test]
    public void Out_of_memory_changes_nothing_and_exactly_enough_memory_succeeds()
    {
        using var small = PhysicalMemory.Allocate((ulong)(RootPages + TMode.Levels - 2) * 4096, 0x8000_0000);
        var allocator = new PageAllocator(small);
        using var table = new PageTable<TMode>(allocator);
        // A 4 KiB leaf needs Levels - 1 tables below the root; there is room for Levels - 2.
        byte[] before = small.GetSpan(small.BaseAddress, (int)small.Size).ToArray();
        Assert.That(table.TryMap(0x1234_5000, 0, 0x1000, PageProtection.Read), Is.EqualTo(MapStatus.OutOfMemory), "one table short");
        Assert.That(small.GetSpan(small.BaseAddress, (int)small.Size).SequenceEqual(before), Is.True, "no byte changed");
        Assert.That(allocator.PagesInUse, Is.EqualTo(RootPages), "no page kept");
        Assert.That(table.TryMap(0x4000_0000, 0x4000_0000, 0x20_0000, PageProtection.Read), Is.EqualTo(MapStatus.Success), "a 2 MiB leaf needs one table fewer: fits");
        Assert.That(allocator.PagesFree, Is.Zero, "used every page");
    }

    [Test]
    public void Read_and_clear_dirty_reports_D_and_clears_it()
    {
        using var table = new PageTable<TMode>(_allocator, new PageTableOptions { Svnapot = true });
        table.Map(0x10_0000, 0x10_0000, 0x1000, Rw);             // D preset (writable)
        table.Map(0x10_1000, 0x10_1000, 0x1000, PageProtection.Read); // read-only: clean
        table.Map(0x20_0000, 0x20_0000, 0x20_0000, Rw);           // 2 MiB, dirty
        table.Map(0x41_0000, 0x41_0000, 0x1_0000, PageProtection.Read); // NAPOT, clean
        var bitmap = new DirtyBitmap(0, 0x100_0000);
        // Set D by hand in the 5th PTE of the NAPOT range, as hardware would (CAS on the live entry).
        WalkResult napot = table.Walk(0x41_4000);
        ref ulong pte5 = ref FindPte(table, 0x41_4000);
        pte5 |= 0x80;
        ulong bytes = table.ReadAndClearDirty(0x10_0000, 0x40_0000, bitmap);
        Assert.Multiple(() =>
        {
            Assert.That(bytes, Is.EqualTo(0x1000UL + 0x20_0000 + 0x1_0000), "4 KiB + 2 MiB + 64 KiB dirty");
            Assert.That(bitmap.IsDirty(0x10_0000), Is.True, "writable 4 KiB page");
            Assert.That(bitmap.IsDirty(0x10_1000), Is.False, "read-only page");
            Assert.That(bitmap.IsDirty(0x3F_F000), Is.True, "last page of the 2 MiB leaf");
            Assert.That(bitmap.IsDirty(0x41_F000), Is.True, "whole NAPOT range marked");
            Assert.That(bitmap.DirtyPages, Is.EqualTo(1 + 512 + 16), "page count");
            Assert.That(table.Walk(0x10_0000).Pte.Dirty, Is.False, "D cleared");
            Assert.That(table.Walk(0x41_4000).Pte.Dirty, Is.False, "D cleared in the NAPOT PTE");
            Assert.That(napot.Pte.Dirty, Is.False, "NAPOT range was mapped clean");
        });
        bitmap.Clear();
        Assert.That(table.ReadAndClearDirty(0x10_0000, 0x40_0000, bitmap), Is.Zero, "second read: clean");
    }

    /// <summary>The PTE for a level-0 IOVA found by walking memory as hardware does (independent of the engine).</summary>
    private ref ulong FindPte(PageTable<TMode> table, ulong iova)
    {
        ulong t = table.RootAddress;
        for (int level = TMode.Levels - 1; level > 0; level--)
        {
            int index = (int)(iova >> (12 + 9 * level)) & (level == TMode.Levels - 1 && TMode.IsGStage ? 2047 : 511);
            t = (_memory.Qword(t + (ulong)index * 8) >> 10) << 12;
        }

        return ref _memory.Qword(t + ((iova >> 12) & 511) * 8);
    }
}
