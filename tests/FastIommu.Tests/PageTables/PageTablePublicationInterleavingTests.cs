using FastIommu.Formats.RiscV;
using FastIommu.Memory;
using FastIommu.PageTables;
using FastIommu.Tests.Support;

namespace FastIommu.Tests.PageTables;

/// <summary>
/// The install and reserve publication points of the page-table engine, one exact interleaving each: a mapper is
/// held at a <c>PageTable.*</c> point while a competitor runs to completion (another mapper under the same table,
/// an unmapper that empties or frees the table, a walker), then the mapper goes on. Each test checks the mapping is
/// placed exactly once and reachable, a walker saw the old state or the new one (never a torn or foreign entry),
/// and every page is accounted for: in use while linked, all back after the last unmap's gather completes and the
/// table is disposed (so nothing leaked and nothing was freed twice). Death, unlink and free are in
/// <see cref="PageTableInterleavingTests"/>; running out of pages at these points in PageTableRollbackTests.
/// </summary>
public sealed class PageTablePublicationInterleavingTests
{
    private const PageProtection Rw = PageProtection.Read | PageProtection.Write;
    private const ulong Two = 0x20_0000;            // a 2 MiB leaf: one entry of a level-1 table
    private const ulong Region1 = 0x4000_0000;      // root[1]
    private const ulong Region2 = 0x8000_0000;      // root[2]
    private const string MapperName = "held mapper";
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

    /// <summary>Starts <paramref name="map"/> on its own thread, holds it at <paramref name="point"/> (the
    /// <paramref name="nth"/> time that thread reaches it), runs <paramref name="meanwhile"/>, releases it and returns
    /// its status.</summary>
    private static MapStatus HeldAt(string point, Func<MapStatus> map, Action meanwhile, int nth = 1)
    {
        int reached = 0;
        using var pause = PausePoint.Arm(point, () => Thread.CurrentThread.Name == MapperName && ++reached == nth);
        MapStatus status = MapStatus.ZeroSize;
        var mapper = new Thread(() => status = map()) { Name = MapperName, IsBackground = true };
        mapper.Start();
        pause.WaitUntilHeld();
        meanwhile();
        pause.Release();
        Assert.That(mapper.Join(Limit), Is.True, "the held mapper finishes");
        return status;
    }

    private static ulong Translate(PageTable<Sv39> table, ulong iova) => table.TryIovaToPhys(iova, out ulong pa) ? pa : 0;

    /// <summary>The level-<paramref name="level"/> table on <paramref name="iova"/>'s path (Sv39), read from memory, or 0.</summary>
    private ulong TableAt(PageTable<Sv39> table, ulong iova, int level)
    {
        ulong t = table.RootAddress;
        for (int l = 2; l > level; l--)
        {
            ulong e = _memory.Qword(t + (((iova >> (12 + (9 * l))) & 511) * 8));
            if ((e & Pte.V) == 0 || (e & Pte.RwxMask) != 0)
            {
                return 0;
            }

            t = (e >> 10) << 12;
        }

        return t;
    }

    /// <summary>Unmaps what the test mapped, completes the gather and disposes: every page must be back.</summary>
    private void UnmapAllAndCheckNothingLeaks(PageTable<Sv39> table, params (ulong Iova, ulong Size)[] mapped)
    {
        var gather = new InvalidationGather();
        foreach ((ulong iova, ulong size) in mapped)
        {
            Assert.That(table.Unmap(iova, size, gather), Is.EqualTo(size), $"0x{iova:x} is mapped exactly once, and unmaps");
        }

        gather.Complete();
        Assert.That(_allocator.PagesInUse, Is.EqualTo(1), "only the root is left: every table emptied by the unmaps was freed once");
        table.Dispose();
        Assert.That(_allocator.PagesInUse, Is.Zero, "no page leaked");
    }

    // ------------------------------------------------------------------------------------------------ install

    [Test]
    public void Two_mappers_installing_the_same_table_end_with_one_table_and_both_mappings()
    {
        // Held at PageTable.InstallReserved: the mapper of Region1 + 4 KiB has reserved root[1] for a new level-1
        // table and allocated nothing. A competitor maps Region1 + 8 KiB, installing the level-1 and level-0 tables
        // itself. The held mapper then allocates a page, loses the install CAS, frees its never-published page and
        // walks on through the winner's tables.
        var table = new PageTable<Sv39>(_allocator);
        bool seenWhileHeld = true;
        MapStatus status = HeldAt("PageTable.InstallReserved",
            () => table.TryMap(Region1 + 0x1000, 0x1_0000_1000, 0x1000, Rw),
            () =>
            {
                table.Map(Region1 + 0x2000, 0x1_0000_2000, 0x1000, Rw);
                seenWhileHeld = table.TryIovaToPhys(Region1 + 0x1000, out _);
            });

        Assert.Multiple(() =>
        {
            Assert.That(status, Is.EqualTo(MapStatus.Success), "the held map succeeds");
            Assert.That(seenWhileHeld, Is.False, "while the mapper was held, a walker saw its IOVA unmapped (the old state)");
            Assert.That(Translate(table, Region1 + 0x1000), Is.EqualTo(0x1_0000_1000UL), "the held mapping is in place");
            Assert.That(Translate(table, Region1 + 0x2000), Is.EqualTo(0x1_0000_2000UL), "the competitor's mapping is in place");
            Assert.That(_allocator.PagesInUse, Is.EqualTo(3), "root, one level-1 and one level-0 table: the loser's page went back");
        });
        UnmapAllAndCheckNothingLeaks(table, (Region1 + 0x1000, 0x1000), (Region1 + 0x2000, 0x1000));
    }

    [Test]
    public void A_table_emptied_by_an_unmapper_while_a_mapper_holds_its_install_reservation_stays_linked()
    {
        // Level-1 table T under root[1] holds another caller's 2 MiB leaf (entry 0). The held mapper needs a level-0
        // table under T[1] and stands at PageTable.InstallReserved with T's entry reserved. The other caller unmaps
        // its leaf and completes its gather: T has no entry left, only the reservation, so it must not die.
        var table = new PageTable<Sv39>(_allocator);
        table.Map(Region1, 0x1_0000_0000, Two, Rw);
        var other = new InvalidationGather();
        bool leafSeen = true;
        MapStatus status = HeldAt("PageTable.InstallReserved",
            () => table.TryMap(Region1 + Two + 0x1000, 0x2_0000_1000, 0x1000, Rw),
            () =>
            {
                Assert.That(table.Unmap(Region1, Two, other), Is.EqualTo(Two), "the other caller unmaps its leaf");
                Assert.That(other.FreedTables.Length, Is.Zero, "T is reserved: the unmap frees no table");
                other.Complete();
                leafSeen = table.TryIovaToPhys(Region1, out _);
            });

        Assert.Multiple(() =>
        {
            Assert.That(status, Is.EqualTo(MapStatus.Success), "the held map succeeds");
            Assert.That(leafSeen, Is.False, "the unmapped leaf is gone for a walker");
            Assert.That(Translate(table, Region1 + Two + 0x1000), Is.EqualTo(0x2_0000_1000UL), "the held mapping is reachable from the root");
            Assert.That(_allocator.PagesInUse, Is.EqualTo(3), "root, T and the new level-0 table");
        });
        UnmapAllAndCheckNothingLeaks(table, (Region1 + Two + 0x1000, 0x1000));
    }

    [Test]
    public void A_table_freed_and_reused_between_its_install_and_the_installer_s_walk_into_it_does_not_get_the_mapping()
    {
        // Held at PageTable.TableInstalled: the mapper of Region1 + 4 KiB has just linked a new level-1 table T under
        // root[1]; T holds nothing yet. A competitor maps a 2 MiB leaf in T, unmaps it (T dies, is unlinked and goes
        // to the gather), completes the gather (T's page is free) and maps a 2 MiB leaf under root[2], which takes T's
        // page as its level-1 table. The held mapper must walk again from the root and build new tables, never write
        // into T's next life.
        var table = new PageTable<Sv39>(_allocator);
        ulong reusedAt = Region2 + 5 * Two;
        ulong tPage = 0;
        MapStatus status = HeldAt("PageTable.TableInstalled",
            () => table.TryMap(Region1 + 0x1000, 0x1_0000_1000, 0x1000, Rw),
            () =>
            {
                tPage = TableAt(table, Region1, 1);
                table.Map(Region1 + 3 * Two, 0x2_0000_0000, Two, Rw);
                var gather = new InvalidationGather();
                table.Unmap(Region1 + 3 * Two, Two, gather);
                Assert.That(gather.FreedTables.ToArray(), Does.Contain(tPage), "T died with its only leaf");
                gather.Complete();
                table.Map(reusedAt, 0x3_0000_0000, Two, Rw);
                Assert.That(TableAt(table, reusedAt, 1), Is.EqualTo(tPage), "root[2]'s level-1 table is T's page (LIFO reuse)");
            });

        Assert.Multiple(() =>
        {
            Assert.That(status, Is.EqualTo(MapStatus.Success), "the held map succeeds");
            Assert.That(Translate(table, Region1 + 0x1000), Is.EqualTo(0x1_0000_1000UL), "the held mapping is reachable where it was asked");
            Assert.That(TableAt(table, Region1 + 0x1000, 1), Is.Not.EqualTo(tPage), "through a new table, not T's next life");
            Assert.That(table.TryIovaToPhys(Region2, out _) || table.TryIovaToPhys(Region2 + 0x1000, out _), Is.False,
                "nothing appeared under root[2] at the held mapper's indexes");
            Assert.That(Translate(table, reusedAt), Is.EqualTo(0x3_0000_0000UL), "the reusing mapping is intact");
            Assert.That(_allocator.PagesInUse, Is.EqualTo(4), "root, root[2]'s level-1 table and the held mapper's two tables");
        });
        UnmapAllAndCheckNothingLeaks(table, (Region1 + 0x1000, 0x1000), (reusedAt, Two));
    }

    [Test]
    public void A_walker_between_a_table_install_and_the_leaf_sees_an_empty_table_and_then_the_leaf()
    {
        // Held at PageTable.TableInstalled (the second time: the level-0 table under a new level-1 table). A walker
        // goes through both new tables and finds an invalid entry: not mapped, no fault, nothing torn.
        var table = new PageTable<Sv39>(_allocator);
        WalkResult whileHeld = default;
        bool mappedWhileHeld = true;
        MapStatus status = HeldAt("PageTable.TableInstalled",
            () => table.TryMap(Region1 + 0x1000, 0x1_0000_1000, 0x1000, Rw),
            () =>
            {
                whileHeld = table.Walk(Region1 + 0x1000);
                mappedWhileHeld = table.TryIovaToPhys(Region1 + 0x1000, out _);
            },
            nth: 2);

        Assert.Multiple(() =>
        {
            Assert.That(status, Is.EqualTo(MapStatus.Success), "the held map succeeds");
            Assert.That(whileHeld.Found || mappedWhileHeld, Is.False, "while held, the IOVA is not mapped");
            Assert.That(whileHeld.Level, Is.Zero, "the walker went down to the new (empty) level-0 table");
            Assert.That(Translate(table, Region1 + 0x1000), Is.EqualTo(0x1_0000_1000UL), "after it, the leaf");
        });
        UnmapAllAndCheckNothingLeaks(table, (Region1 + 0x1000, 0x1000));
    }

    // ------------------------------------------------------------------------------------------------ reserve

    [Test]
    public void A_table_whose_last_leaf_is_unmapped_while_a_mapper_holds_a_reservation_in_it_keeps_the_new_leaf()
    {
        // Level-0 table L (under root[1], entry 0) holds another caller's page at Region1. The held mapper stands at
        // PageTable.LeavesReserved with L's entry 1 reserved, its leaf not written. The other caller unmaps its page
        // and completes its gather; a third maps Region1 + 8 KiB in L. L must live on (the reservation counts), the
        // held leaf must land in it, reachable, and a walker sees the held IOVA unmapped until then.
        var table = new PageTable<Sv39>(_allocator);
        table.Map(Region1, 0x1_0000_0000, 0x1000, Rw);
        ulong l = TableAt(table, Region1, 0);
        var other = new InvalidationGather();
        bool seenWhileHeld = true;
        MapStatus status = HeldAt("PageTable.LeavesReserved",
            () => table.TryMap(Region1 + 0x1000, 0x1_0000_1000, 0x1000, Rw),
            () =>
            {
                Assert.That(table.Unmap(Region1, 0x1000, other), Is.EqualTo(0x1000UL), "the other caller unmaps its page");
                Assert.That(other.FreedTables.Length, Is.Zero, "L holds a reservation: the unmap frees no table");
                other.Complete();
                table.Map(Region1 + 0x2000, 0x1_0000_2000, 0x1000, Rw);
                seenWhileHeld = table.TryIovaToPhys(Region1 + 0x1000, out _);
            });

        Assert.Multiple(() =>
        {
            Assert.That(status, Is.EqualTo(MapStatus.Success), "the held map succeeds");
            Assert.That(seenWhileHeld, Is.False, "a walker saw the reserved entry as unmapped (the old state)");
            Assert.That(Translate(table, Region1 + 0x1000), Is.EqualTo(0x1_0000_1000UL), "the held leaf is reachable");
            Assert.That(TableAt(table, Region1 + 0x1000, 0), Is.EqualTo(l), "in L, still linked");
            Assert.That(Translate(table, Region1 + 0x2000), Is.EqualTo(0x1_0000_2000UL), "the third caller's leaf too");
            Assert.That(table.TryIovaToPhys(Region1, out _), Is.False, "the unmapped page stays unmapped");
            Assert.That(_allocator.PagesInUse, Is.EqualTo(3), "root, level-1 and L");
        });
        UnmapAllAndCheckNothingLeaks(table, (Region1 + 0x1000, 0x1000), (Region1 + 0x2000, 0x1000));
    }

    [Test]
    public void A_superpage_run_reserved_in_a_level_1_table_lands_whole_while_the_table_s_other_leaves_come_and_go()
    {
        // The same at level 1 with a run: the held mapper has reserved entries 4..7 of level-1 table T for four 2 MiB
        // leaves. The competitor unmaps T's only other leaf (entry 0) and maps and unmaps entry 9. A walker sees
        // each reserved IOVA unmapped while held; afterwards all four map.
        var table = new PageTable<Sv39>(_allocator);
        table.Map(Region1, 0x1_0000_0000, Two, Rw);
        var gather = new InvalidationGather();
        int seenWhileHeld = 0;
        MapStatus status = HeldAt("PageTable.LeavesReserved",
            () => table.TryMap(Region1 + 4 * Two, 0x2_0000_0000, 4 * Two, Rw),
            () =>
            {
                table.Unmap(Region1, Two, gather);
                table.Map(Region1 + 9 * Two, 0x3_0000_0000, Two, Rw);
                table.Unmap(Region1 + 9 * Two, Two, gather);
                Assert.That(gather.FreedTables.Length, Is.Zero, "T holds the reservation: it never empties");
                gather.Complete();
                for (int i = 4; i < 8; i++)
                {
                    seenWhileHeld += table.TryIovaToPhys(Region1 + (ulong)i * Two, out _) ? 1 : 0;
                }
            });

        Assert.Multiple(() =>
        {
            Assert.That(status, Is.EqualTo(MapStatus.Success), "the held map succeeds");
            Assert.That(seenWhileHeld, Is.Zero, "no reserved entry was visible before its leaf was written");
            for (int i = 0; i < 4; i++)
            {
                Assert.That(Translate(table, Region1 + (ulong)(4 + i) * Two + 0x123), Is.EqualTo(0x2_0000_0123UL + (ulong)i * Two),
                    $"2 MiB leaf {i} of the run is in place");
            }

            Assert.That(_allocator.PagesInUse, Is.EqualTo(2), "root and T");
        });
        UnmapAllAndCheckNothingLeaks(table, (Region1 + 4 * Two, 4 * Two));
    }
}
