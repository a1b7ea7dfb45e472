using FastIommu.Formats.RiscV;
using FastIommu.Memory;
using FastIommu.PageTables;
using FastIommu.Tests.Support;

namespace FastIommu.Tests.PageTables;

/// <summary>
/// A Map that fails after its first store (the allocator ran dry between the preflight and an install, because
/// another user of a shared allocator took its pages) rolls back to nothing: no leaf, no empty table left linked
/// (whether this call created it or not), and what hardware may have seen is reported for invalidation.
/// Failure is injected deterministically: the mapper is held at an interleaving point while the test takes every
/// page but the ones it leaves.
/// </summary>
public sealed class PageTableRollbackTests
{
    private const PageProtection Rw = PageProtection.Read | PageProtection.Write;
    private const ulong Two = 0x20_0000;
    private const ulong Region1 = 0x4000_0000; // root[1]
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(10);

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

    /// <summary>Takes pages until <paramref name="left"/> are free; returns them.</summary>
    private List<ulong> Drain(long left)
    {
        var taken = new List<ulong>();
        while (_allocator.PagesFree > left)
        {
            taken.Add(_allocator.AllocatePage());
        }

        return taken;
    }

    /// <summary>Runs <paramref name="map"/> on its own thread, holds it at <paramref name="point"/>, runs
    /// <paramref name="meanwhile"/>, then lets it finish.</summary>
    private static MapStatus HeldAt(string point, Func<MapStatus> map, Action meanwhile)
    {
        using var pause = PausePoint.Arm(point);
        var mapper = Task.Run(map);
        pause.WaitUntilHeld();
        meanwhile();
        pause.Release();
        Assert.That(mapper.Wait(Limit), Is.True, "the mapper finishes");
        return mapper.Result;
    }

    private ulong RootEntry(PageTable<Sv39> table, int index) => _memory.Qword(table.RootAddress + (ulong)index * 8);

    [Test]
    public void A_map_that_runs_out_after_creating_a_table_leaves_no_table_linked()
    {
        using var table = new PageTable<Sv39>(_allocator);
        long before = _allocator.PagesInUse;
        // A 4 KiB page in an empty 1 GiB region needs two tables (levels 1 and 0); only one page is left for them.
        List<ulong> taken = [];
        MapStatus status = HeldAt("PageTable.Preflighted",
            () => table.TryMap(Region1, 0x1_0000_0000, 0x1000, Rw),
            () => taken = Drain(1));

        Assert.Multiple(() =>
        {
            Assert.That(status, Is.EqualTo(MapStatus.OutOfMemory), "the second table could not be allocated");
            Assert.That(RootEntry(table, 1), Is.Zero, "the level-1 table the call created is not left linked, empty");
            Assert.That(table.Walk(Region1).Level, Is.EqualTo(2), "a walk stops at the root again");
        });
        taken.ForEach(_allocator.FreePage);
        table.Map(Region1, 0x1_0000_0000, 0x1000, Rw);
        Assert.That(table.IovaToPhys(Region1), Is.EqualTo(0x1_0000_0000UL), "with pages back, the map succeeds");
        Assert.That(_allocator.PagesInUse, Is.GreaterThan(before));
    }

    [Test]
    public void A_map_that_runs_out_kills_a_table_it_did_not_create_once_that_table_is_empty()
    {
        using var table = new PageTable<Sv39>(_allocator);
        // Another caller's 2 MiB leaf keeps table T (level 1, under root[1]) alive.
        table.Map(Region1, 0x1_0000_0000, Two, Rw);
        var other = new InvalidationGather();
        List<ulong> taken = [];
        // This call needs a level-0 table under T[1]: it reserves T's entry, then finds no page. Meanwhile the other
        // caller unmaps its leaf, so only this call's reservation keeps T alive.
        MapStatus status = HeldAt("PageTable.InstallReserved",
            () => table.TryMap(Region1 + Two, 0x2_0000_0000, 0x1000, Rw),
            () =>
            {
                taken = Drain(0);
                Assert.That(table.Unmap(Region1, Two, other), Is.EqualTo(Two), "the other caller unmaps its leaf");
            });

        Assert.Multiple(() =>
        {
            Assert.That(status, Is.EqualTo(MapStatus.OutOfMemory), "no page for the level-0 table");
            Assert.That(RootEntry(table, 1), Is.Zero, "T, empty once the reservation is given back, dies and is unlinked");
        });
        other.Complete();
        taken.ForEach(_allocator.FreePage);
    }

    [Test]
    public void A_rolled_back_map_reports_the_leaves_it_cleared_and_the_tables_that_died_in_its_gather()
    {
        using var table = new PageTable<Sv39>(_allocator);
        table.Map(Region1, 0x1_0000_0000, 0x1000, Rw); // tables T1 (level 1) and T0 (level 0) exist
        ulong t1 = RootEntry(table, 1) >> 10 << 12;
        var gather = new InvalidationGather();
        var other = new InvalidationGather();
        List<ulong> taken = [];
        // The first pass writes 511 leaves into T0 (hardware may cache them at once); the last page needs a new
        // level-0 table, and no page is left for it. Meanwhile the other caller unmaps its page of T0.
        MapStatus status = HeldAt("PageTable.Preflighted",
            () => table.TryMap(Region1 + 0x1000, 0x2_0000_0000, Two, Rw, gather),
            () =>
            {
                taken = Drain(0);
                table.Unmap(Region1, 0x1000, other);
            });

        Assert.Multiple(() =>
        {
            Assert.That(status, Is.EqualTo(MapStatus.OutOfMemory), "no page for the last table");
            Assert.That(gather.Ranges.ToArray(), Is.EqualTo(new[] { new IovaRange(Region1 + 0x1000, Two - 0x1000) }),
                "the 511 leaves the rollback cleared are to be invalidated");
            Assert.That(gather.FreedTables.Length, Is.EqualTo(2), "T0 and T1, left empty, died into the gather");
            Assert.That(gather.FreedTables.ToArray(), Does.Contain(t1), "T1 among them");
            Assert.That(RootEntry(table, 1), Is.Zero, "nothing is left linked under root[1]");
            Assert.That(table.Walk(Region1 + 0x1000).Found, Is.False, "nothing is mapped");
        });
        gather.Complete();
        other.Complete();
        taken.ForEach(_allocator.FreePage);
        Assert.That(_allocator.PagesInUse, Is.EqualTo(1), "only the root is in use");
    }

    [Test]
    public void Without_a_gather_a_rollback_parks_the_dead_tables_until_dispose()
    {
        List<ulong> taken = [];
        using (var table = new PageTable<Sv39>(_allocator))
        {
            HeldAt("PageTable.Preflighted", () => table.TryMap(Region1, 0x1_0000_0000, 0x1000, Rw), () => taken = Drain(1));
            Assert.That(RootEntry(table, 1), Is.Zero, "the table the call created is unlinked");
        }

        Assert.That(_allocator.PagesInUse, Is.EqualTo(taken.Count), "Dispose freed the root and the parked table");
        taken.ForEach(_allocator.FreePage);
    }

    [Test]
    public void A_gather_holding_another_allocator_s_tables_is_refused_before_any_change()
    {
        using var otherMemory = PhysicalMemory.Allocate(1 << 16);
        var otherAllocator = new PageAllocator(otherMemory);
        using var otherTable = new PageTable<Sv39>(otherAllocator);
        var gather = new InvalidationGather();
        otherTable.Map(Region1, 0, 0x1000, Rw);
        otherTable.Unmap(Region1, 0x1000, gather); // two tables die into the gather
        using var table = new PageTable<Sv39>(_allocator);
        Assert.That(table.TryMap(0, 0, 0x1000, Rw, gather), Is.EqualTo(MapStatus.ForeignGather), "refused");
        Assert.That(table.Walk(0).Found, Is.False, "nothing mapped");
        gather.Complete();
    }
}
