using FastIommu.Formats.RiscV;
using FastIommu.Memory;
using FastIommu.PageTables;
using FastIommu.Tests.Support;

namespace FastIommu.Tests.PageTables;

/// <summary>
/// Table death against walks, one exact interleaving each (threads held at <c>PageTable.*</c> interleaving points):
/// an unmapper kills table X (Sv39 level-1 table under root[1]) and is held at one step of the death; a second caller
/// starts a walk under X and is held right after reading the root entry that points to X; the unmapper finishes, the
/// gather completes, and a Map elsewhere reuses X's page (LIFO) under root[2]; then the walk resumes. Whatever the
/// unmapper's step, the walk must act on the table that is really at its path, never on X's next life.
/// </summary>
public sealed class PageTableInterleavingTests
{
    private const PageProtection Rw = PageProtection.Read | PageProtection.Write;
    private const ulong Two = 0x20_0000;            // a 2 MiB leaf: one entry of a level-1 table
    private const ulong Region1 = 0x4000_0000;      // root[1]: X lives here first
    private const ulong Region2 = 0x8000_0000;      // root[2]: X's next life
    private const string WalkerName = "walker";
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

    /// <summary>The unmapper's death steps, in the order today's code passes them or not: the test holds the unmapper
    /// at each in turn, so whichever order the engine uses, the walk starts once with the table dead but linked.</summary>
    private static readonly string[] DeathSteps = ["PageTable.TableDied", "PageTable.DeathCounted", "PageTable.Unlinked"];

    [TestCaseSource(nameof(DeathSteps))]
    public void A_lookup_of_a_never_mapped_iova_never_returns_the_pa_of_the_dead_table_s_next_life(string unmapperAt)
    {
        using var table = new PageTable<Sv39>(_allocator);
        ulong never = Region1 + 5 * Two;
        ulong found = 0;
        bool mapped = false;
        RunInterleaving(table, unmapperAt, () => mapped = table.TryIovaToPhys(never, out found),
            reuse: () => table.Map(Region2 + 5 * Two, 0x2_0000_0000, Two, Rw));

        Assert.That(mapped, Is.False,
            $"0x{never:x} was never mapped, yet the lookup held at X while it died ({unmapperAt}) returned PA 0x{found:x}");
    }

    [TestCaseSource(nameof(DeathSteps))]
    public void A_map_that_walked_into_a_dying_table_lands_where_it_was_asked(string unmapperAt)
    {
        using var table = new PageTable<Sv39>(_allocator);
        ulong target = Region1 + 5 * Two;
        MapStatus status = MapStatus.ZeroSize;
        RunInterleaving(table, unmapperAt, () => status = table.TryMap(target, 0x3_0000_0000, Two, Rw),
            reuse: () => table.Map(Region2 + 3 * Two, 0x2_0000_0000, Two, Rw));

        Assert.Multiple(() =>
        {
            Assert.That(status, Is.EqualTo(MapStatus.Success), "the map succeeds");
            Assert.That(table.TryIovaToPhys(target, out ulong pa) ? pa : 0, Is.EqualTo(0x3_0000_0000UL),
                $"the IOVA mapped (0x{target:x}) translates to its PA (held while X died at {unmapperAt})");
            Assert.That(table.Walk(Region2 + 5 * Two).Found, Is.False,
                "no other IOVA gained the mapping (X's next life covers root[2])");
        });
    }

    [TestCaseSource(nameof(DeathSteps))]
    public void An_unmap_of_a_hole_under_a_dying_table_touches_nobody_else_s_leaf_and_frees_no_linked_table(string unmapperAt)
    {
        using (var table = new PageTable<Sv39>(_allocator))
        {
            ulong other = Region2 + 3 * Two;
            var holeGather = new InvalidationGather();
            ulong unmapped = ulong.MaxValue;
            RunInterleaving(table, unmapperAt, () => unmapped = table.Unmap(Region1 + 3 * Two, Two, holeGather),
                reuse: () => table.Map(other, 0x2_0000_0000, Two, Rw));

            Assert.Multiple(() =>
            {
                Assert.That(unmapped, Is.Zero, $"nothing was mapped in the hole (held while X died at {unmapperAt})");
                Assert.That(table.TryIovaToPhys(other, out ulong pa) ? pa : 0, Is.EqualTo(0x2_0000_0000UL),
                    $"another caller's leaf at 0x{other:x} survives the unmap of a hole");
                Assert.That(holeGather.FreedTables.Length, Is.Zero, "the unmap of a hole frees no table");
                holeGather.Complete();
                Assert.That(_allocator.PagesInUse, Is.EqualTo(2), "the root and X (linked under root[2]) are in use");
                Assert.That(table.Dispose, Throws.Nothing, "Dispose frees each linked table once");
            });
        }

        Assert.That(_allocator.PagesInUse, Is.Zero, "every page is back");
    }

    [TestCaseSource(nameof(DeathSteps))]
    public void Dirty_tracking_under_a_dying_table_never_clears_the_D_bit_of_the_table_s_next_life(string unmapperAt)
    {
        using var table = new PageTable<Sv39>(_allocator);
        ulong range = Region1 + 5 * Two;
        ulong other = Region2 + 5 * Two;
        var bitmap = new DirtyBitmap(range, Two);
        ulong reported = ulong.MaxValue;
        RunInterleaving(table, unmapperAt, () => reported = table.ReadAndClearDirty(range, Two, bitmap),
            reuse: () => table.Map(other, 0x2_0000_0000, Two, Rw)); // writable: D preset

        Assert.Multiple(() =>
        {
            Assert.That(reported, Is.Zero, $"nothing is mapped in 0x{range:x} (held while X died at {unmapperAt})");
            Assert.That(table.Walk(other).Pte.Dirty, Is.True, $"the D bit of another caller's leaf at 0x{other:x} is kept");
        });
    }

    [Test]
    public void A_dying_table_whose_parent_entry_was_overwritten_is_a_hard_error_and_is_not_freed()
    {
        using var table = new PageTable<Sv39>(_allocator);
        table.Map(Region1, 0x1_0000_0000, Two, Rw);
        var gather = new InvalidationGather();
        Exception? thrown = null;
        using (var pause = PausePoint.Arm("PageTable.TableDied"))
        {
            var unmapper = Task.Run(() =>
            {
                try
                {
                    table.Unmap(Region1, Two, gather);
                }
                catch (InvalidOperationException e)
                {
                    thrown = e;
                }
            });
            pause.WaitUntilHeld();
            // Memory written outside the API: the entry the dying table's killer will unlink is gone.
            Volatile.Write(ref _memory.Qword(table.RootAddress + 8), 0);
            pause.Release();
            Assert.That(unmapper.Wait(Limit), Is.True, "the unmapper finishes");
        }

        Assert.That(thrown, Is.InstanceOf<InvalidOperationException>().With.Message.Contain("is corrupted"),
            "a failed unlink is reported, in every build");
        Assert.That(gather.FreedTables.Length, Is.Zero, "a table that could not be unlinked is not handed out to be freed");
        Assert.That(gather.Ranges.ToArray(), Is.EqualTo(new[] { new IovaRange(Region1, Two) }),
            "the leaf it cleared is still to be invalidated");
    }

    /// <summary>Maps a 2 MiB leaf at Region1 (creating X), then: the unmapper is held at <paramref name="unmapperAt"/>
    /// while unmapping it; <paramref name="walk"/> runs on its own thread and is held right after reading the parent
    /// entry of its first table (root[1] → X) if it gets there; the unmapper finishes, its gather completes (X freed),
    /// <paramref name="reuse"/> maps under root[2] and must take X's page; the walk resumes and finishes.</summary>
    private void RunInterleaving(PageTable<Sv39> table, string unmapperAt, Action walk, Action reuse)
    {
        table.Map(Region1, 0x1_0000_0000, Two, Rw);
        ulong x = Entry(table, 1);
        Assert.That(x, Is.Not.Zero, "root[1] points to X");

        var gather = new InvalidationGather();
        using var unmapperPause = PausePoint.Arm(unmapperAt);
        var unmapper = Task.Run(() => table.Unmap(Region1, Two, gather));
        unmapperPause.WaitUntilHeld();

        using var walkerPause = PausePoint.Arm("PageTable.TableEntryRead", () => Thread.CurrentThread.Name == WalkerName);
        Exception? failure = null;
        var walker = new Thread(() =>
        {
            try
            {
                walk();
            }
            catch (Exception e)
            {
                failure = e;
            }
        }) { Name = WalkerName };
        walker.Start();
        // The walker is held at X, or (when X is already unlinked) never reaches it and finishes on its own.
        Assert.That(SpinWait.SpinUntil(() => walkerPause.IsHeld || !walker.IsAlive, Limit), Is.True, "the walker is held or done");

        unmapperPause.Release();
        Assert.That(unmapper.Wait(Limit), Is.True, "the unmapper finishes");
        Assert.That(unmapper.Result, Is.EqualTo(Two), "the unmapper cleared its leaf");
        Assert.That(gather.FreedTables.ToArray(), Is.EqualTo(new[] { x }), "X died and went to the gather");
        gather.Complete();
        reuse();
        Assert.That(Entry(table, 2), Is.EqualTo(x), "the map under root[2] reused X's page");

        walkerPause.Release();
        Assert.That(walker.Join(Limit), Is.True, "the walker finishes");
        Assert.That(failure, Is.Null, "the walker did not throw");
    }

    /// <summary>The table address in root entry <paramref name="index"/> (0 when invalid).</summary>
    private ulong Entry(PageTable<Sv39> table, int index)
    {
        ulong e = _memory.Qword(table.RootAddress + (ulong)index * 8);
        return (e & Pte.V) == 0 ? 0 : (e & Pte.PpnMask) >> Pte.PpnShift << 12;
    }
}
