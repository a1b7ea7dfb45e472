using FastIommu.Formats.RiscV;
using FastIommu.Memory;
using FastIommu.PageTables;

namespace FastIommu.Tests.PageTables;

[TestFixture(typeof(Sv39))]
[TestFixture(typeof(Sv48))]
[TestFixture(typeof(Sv57))]
[TestFixture(typeof(Sv39x4))]
[TestFixture(typeof(Sv48x4))]
[TestFixture(typeof(Sv57x4))]
public sealed class PageTableBasicTests<TMode> where TMode : struct, IPagingMode
{
    private PhysicalMemory _memory = null!;
    private PageAllocator _allocator = null!;

    [SetUp]
    public void SetUp()
    {
        _memory = PhysicalMemory.Allocate(4 << 20, 0x8000_0000);
        _allocator = new PageAllocator(_memory);
    }

    [TearDown]
    public void TearDown() => _memory.Dispose();

    private static int RootPages => TMode.IsGStage ? 4 : 1;

    [Test]
    public void A_new_table_holds_only_its_zeroed_root()
    {
        using var table = new PageTable<TMode>(_allocator);
        Assert.Multiple(() =>
        {
            Assert.That(_allocator.PagesInUse, Is.EqualTo(RootPages), "root allocated at creation: 16 KiB for x4");
            Assert.That(table.RootAddress % (TMode.IsGStage ? 0x4000UL : 0x1000UL), Is.Zero, "root aligned to its size");
            Assert.That(_memory.GetSpan(table.RootAddress, RootPages * 4096).ToArray(), Is.All.EqualTo((byte)0), "empty root");
        });
    }

    [Test]
    public void A_4K_mapping_writes_a_leaf_with_A_and_D_preset_and_translates()
    {
        using var table = new PageTable<TMode>(_allocator);
        table.Map(0x1234_5000, 0x9_8765_4000, 0x1000, PageProtection.Read | PageProtection.Write);
        WalkResult walk = table.Walk(0x1234_5abc);
        // V|R|W|A|D = 0x01|0x02|0x04|0x40|0x80 = 0xC7, plus U (0x10) in a G-stage; PPN 0x987654 << 10.
        ulong expected = (0x98765UL << 14 | 0x4UL << 10) | 0xC7 | (TMode.IsGStage ? 0x10UL : 0);
        Assert.Multiple(() =>
        {
            Assert.That(walk.Found, Is.True, "mapped");
            Assert.That(walk.Level, Is.Zero, "a 4 KiB leaf is at level 0");
            Assert.That(walk.PageSize, Is.EqualTo(0x1000UL), "4 KiB");
            Assert.That(walk.Pte.Value, Is.EqualTo(expected), "leaf bits as the spec lays them out");
            Assert.That(walk.PhysicalAddress, Is.EqualTo(0x9_8765_4abcUL), "page offset kept");
            Assert.That(table.IovaToPhys(0x1234_5000), Is.EqualTo(0x9_8765_4000UL), "IovaToPhys agrees");
            Assert.That(table.TryIovaToPhys(0x1234_6000, out _), Is.False, "next page unmapped");
            Assert.That(_allocator.PagesInUse, Is.EqualTo(RootPages + TMode.Levels - 1), "one table per level below the root");
        });
    }

    [Test]
    public void A_2M_aligned_mapping_uses_one_2M_leaf_and_unmap_frees_every_table()
    {
        using var table = new PageTable<TMode>(_allocator);
        table.Map(0x4020_0000, 0x8_0040_0000, 0x20_0000, PageProtection.Read);
        WalkResult walk = table.Walk(0x4030_0000);
        Assert.Multiple(() =>
        {
            Assert.That(walk.Level, Is.EqualTo(1), "2 MiB leaf at level 1");
            Assert.That(walk.PhysicalAddress, Is.EqualTo(0x8_0050_0000UL), "offset 0x10_0000 into the superpage");
            Assert.That(_allocator.PagesInUse, Is.EqualTo(RootPages + TMode.Levels - 2), "no level-0 table");
        });

        var gather = new InvalidationGather();
        Assert.That(table.TryUnmap(0x4020_0000, 0x1000, gather, out _), Is.EqualTo(MapStatus.PartialSuperpage), "cannot cut a 2 MiB leaf");
        Assert.That(table.Unmap(0x4020_0000, 0x20_0000, gather), Is.EqualTo(0x20_0000UL), "whole leaf unmapped");
        Assert.Multiple(() =>
        {
            Assert.That(table.Walk(0x4030_0000).Found, Is.False, "gone");
            Assert.That(gather.Ranges.ToArray(), Is.EqualTo(new[] { new IovaRange(0x4020_0000, 0x20_0000) }), "range gathered");
            Assert.That(gather.FreedTables.Length, Is.EqualTo(TMode.Levels - 2), "every emptied table handed to the gather");
            Assert.That(_allocator.PagesInUse, Is.EqualTo(RootPages + TMode.Levels - 2), "not freed before Complete");
        });
        gather.Complete();
        Assert.That(_allocator.PagesInUse, Is.EqualTo(RootPages), "freed by Complete");
    }

    [Test]
    public void Dispose_returns_every_page()
    {
        var table = new PageTable<TMode>(_allocator);
        table.Map(0x1000, 0x1000, 0x40_0000, PageProtection.Read | PageProtection.Execute);
        table.Map(0x4000_0000, 0x4000_0000, 0x4000_0000, PageProtection.Read);
        table.Dispose();
        Assert.That(_allocator.PagesInUse, Is.Zero, "all pages back");
    }
}

public sealed class InvalidationGatherTests
{
    [Test]
    public void A_gather_holding_pages_of_one_allocator_is_refused_by_a_table_of_another()
    {
        using var memoryA = PhysicalMemory.Allocate(1 << 20, 0x8000_0000);
        using var memoryB = PhysicalMemory.Allocate(1 << 20, 0x9000_0000);
        using var a = new PageTable<Sv39>(new PageAllocator(memoryA));
        using var b = new PageTable<Sv39>(new PageAllocator(memoryB));
        a.Map(0x1000, 0x1000, 0x1000, PageProtection.Read);
        b.Map(0x1000, 0x1000, 0x1000, PageProtection.Read);
        var gather = new InvalidationGather();
        a.Unmap(0x1000, 0x1000, gather);
        Assert.That(gather.HasFreedTables, Is.True, "a's emptied tables are in the gather");
        Assert.That(b.TryUnmap(0x1000, 0x1000, gather, out _), Is.EqualTo(MapStatus.ForeignGather), "b's pages would go to a's allocator");
        Assert.That(b.IovaToPhys(0x1000), Is.EqualTo(0x1000UL), "b unchanged");
        gather.Complete();
        Assert.That(b.Unmap(0x1000, 0x1000, gather), Is.EqualTo(0x1000UL), "an empty gather takes any table");
    }

    [Test]
    public void Adjacent_ranges_merge_and_Complete_empties_the_gather()
    {
        using var memory = PhysicalMemory.Allocate(1 << 20, 0x8000_0000);
        using var table = new PageTable<Sv48>(new PageAllocator(memory));
        table.Map(0x10_0000, 0x10_0000, 0x3000, PageProtection.Read);
        table.Map(0x10_5000, 0x10_5000, 0x1000, PageProtection.Read);
        var gather = new InvalidationGather(1);
        Assert.That(table.Unmap(0x10_0000, 0x10_0000, gather), Is.EqualTo(0x4000UL), "4 pages");
        Assert.Multiple(() =>
        {
            Assert.That(gather.Ranges.ToArray(), Is.EqualTo(new[] { new IovaRange(0x10_0000, 0x3000), new IovaRange(0x10_5000, 0x1000) }), "the hole splits the ranges");
            Assert.That(gather.Start, Is.EqualTo(0x10_0000UL), "start");
            Assert.That(gather.End, Is.EqualTo(0x10_6000UL), "end");
        });
        gather.Complete();
        Assert.That(gather.IsEmpty, Is.True, "empty after Complete");
    }

    /// <summary>Found by the C page-table fuzzer (native-layout/fuzz): Start was the first range's start, above a range
    /// a later unmap added lower down, so fastiommu_gather_info's span did not cover every range.</summary>
    [Test]
    public void Start_is_the_lowest_range_whatever_the_unmap_order()
    {
        using var memory = PhysicalMemory.Allocate(1 << 20, 0x8000_0000);
        using var table = new PageTable<Sv48>(new PageAllocator(memory));
        table.Map(0x10_0000, 0x10_0000, 0x6000, PageProtection.Read);
        var gather = new InvalidationGather();
        table.Unmap(0x10_4000, 0x2000, gather);
        table.Unmap(0x10_0000, 0x1000, gather);
        Assert.Multiple(() =>
        {
            Assert.That(gather.Start, Is.EqualTo(0x10_0000UL), "the lowest IOVA gathered, from the second unmap");
            Assert.That(gather.End, Is.EqualTo(0x10_6000UL), "one past the highest, from the first");
        });
        gather.Complete();
    }
}
