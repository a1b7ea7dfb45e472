using System.Diagnostics;
using System.Globalization;
using FastIommu.Formats.RiscV;
using FastIommu.Hardware;
using FastIommu.Memory;
using FastIommu.PageTables;

namespace FastIommu.Tests.Reliability;

/// <summary>How a mapper thread orders its unmap: the driver's order, or a deliberately broken one (to show the test
/// catches what it is for).</summary>
public enum UnmapOrder
{
    /// <summary>Unmap, IOTINVAL.VMA (per page, or PSCID-wide when tables were unlinked), IOFENCE.C, then free.</summary>
    Driver,
    /// <summary>As the driver, without the fence: freed tables may be reused under a walk in flight.</summary>
    NoFence,
    /// <summary>Free the unlinked tables before the invalidation and fence.</summary>
    FreeBeforeInvalidation,
}

/// <summary>
/// Concurrency with live walkers: mapper threads map and unmap through a <see cref="PageTable{TMode}"/> (4 KiB pages
/// each in its own level-0 table, so almost every unmap frees a table that the next map reuses, and 2 MiB
/// superpages) and sync with explicit invalidation (IOTINVAL.VMA, IOFENCE.C = <see cref="IommuTranslator.Fence"/>,
/// then <see cref="InvalidationGather.Complete"/>), while reader threads translate through the translator with every
/// cache on. Each slot (one 2 MiB IOVA region, owned by one mapper) keeps a seqlock'ed history of its mappings: the
/// mapper publishes the next state, makes the sequence odd, changes the table and invalidates, and makes it even.
/// A reader reads the sequence before and after its translation; the result must be one of the states live in that
/// window (the PA that state maps the IOVA to, or a page fault where it maps nothing). Every PA ever mapped is unique,
/// so a PA read through a freed and reused table page, a torn entry, or a stale IOTLB entry is a violation.
/// The memory stretches one walk in 16 at its level-1 read (a yield) so walks are often in flight at a free.
/// </summary>
[Category("Stress")]
public class LiveWalkerTests
{
    private const ulong MemoryBase = 0x8000_0000;
    private const ulong Ddt = MemoryBase;
    private const uint DeviceId = 1;
    private const uint Pscid = 5;
    private const ulong SlotBase = 0x4000_0000;
    private const ulong SlotSize = 2UL << 20;
    private const int Slots = 64;
    private const PageProtection Rw = PageProtection.Read | PageProtection.Write | PageProtection.User;

    /// <summary>Memory that yields at one read in 16 of a level-1 entry: a walk stretched at the point where it holds
    /// a pointer to a level-0 table.</summary>
    internal sealed class StretchingAccess(PhysicalMemory memory, ulong tableStart, ulong tableEnd) : IMemoryAccess
    {
        private readonly PhysicalMemoryAccess _inner = new(memory);
        [ThreadStatic] private static int t_reads;

        public bool TryRead64(ulong pa, out ulong value)
        {
            bool ok = _inner.TryRead64(pa, out value);
            if (pa >= tableStart && pa < tableEnd && (value & 0xF) == 1 && (++t_reads & 15) == 0)
            {
                Thread.Yield();
            }

            return ok;
        }

        public bool TryWrite64(ulong pa, ulong value) => _inner.TryWrite64(pa, value);

        public bool TryCompareExchange64(ulong pa, ulong expected, ulong desired, out ulong observed) =>
            _inner.TryCompareExchange64(pa, expected, desired, out observed);

        public bool TryRead(ulong pa, Span<byte> destination) => _inner.TryRead(pa, destination);

        public bool TryWrite(ulong pa, ReadOnlySpan<byte> source) => _inner.TryWrite(pa, source);
    }

    [Test]
    public void Translations_racing_map_unmap_and_invalidation_return_only_mappings_live_during_the_request()
    {
        Outcome outcome = Run(UnmapOrder.Driver, StressBudget.Duration(2.5));
        TestContext.Out.WriteLine(outcome);
        Assert.Multiple(() =>
        {
            Assert.That(outcome.Violations, Is.Zero, $"translations outside their window: {string.Join("; ", outcome.Examples)}");
            Assert.That(outcome.Changes, Is.GreaterThan(100), "the mappers changed the tables");
            Assert.That(outcome.FreedTables, Is.GreaterThan(10), "unmaps freed table pages that maps reused");
            Assert.That(outcome.Successes, Is.GreaterThan(100), "readers translated mapped pages");
            Assert.That(outcome.PagesLeaked, Is.Zero, "every table page is back after the final unmaps");
        });
    }

    /// <summary>The same run with the driver's order broken: it must report violations. Explicit: whether a stretched
    /// walk meets a reused page in a bounded run depends on the scheduler, so CI does not rely on it (see
    /// tests/README.md for the command and what it printed).</summary>
    [Explicit("shows the checker catches a missing fence or an early free; timing-dependent")]
    [TestCase(UnmapOrder.NoFence)]
    [TestCase(UnmapOrder.FreeBeforeInvalidation)]
    public void A_broken_unmap_order_is_reported_as_violations(UnmapOrder order)
    {
        Outcome outcome = Run(order, StressBudget.Duration(10));
        TestContext.Out.WriteLine(outcome);
        Assert.That(outcome.Violations, Is.GreaterThan(0), $"the checker saw no violation with {order}: {outcome}");
    }

    private sealed record Outcome(long Translations, long Successes, long Changes, long FreedTables, long Violations, long Skipped,
        long PagesLeaked, List<string> Examples)
    {
        public override string ToString() =>
            $"{Translations} translations ({Successes} successes), {Changes} table changes, {FreedTables} table pages freed, " +
            $"{Skipped} windows too long to check, {Violations} violations{(Examples.Count > 0 ? ": " + string.Join("; ", Examples) : "")}";
    }

    private static Outcome Run(UnmapOrder order, TimeSpan duration)
    {
        using var memory = PhysicalMemory.Allocate(16UL << 20, MemoryBase);
        var allocator = new PageAllocator(memory, MemoryBase + 0x10_0000, 15UL << 20);
        using var table = new PageTable<Sv39>(allocator);
        long baseline = allocator.PagesInUse;
        memory.Qword(Ddt + 0x20) = 0x1;                                    // device 1: tc V
        memory.Qword(Ddt + 0x30) = (ulong)Pscid << 12;                     // ta: PSCID
        memory.Qword(Ddt + 0x38) = (8UL << 60) | (table.RootAddress >> 12); // fsc: Sv39
        var access = new StretchingAccess(memory, allocator.Start, allocator.Start + ((ulong)allocator.TotalPages * 4096));
        var translator = new IommuTranslator(access, new Capabilities(0x10 | (1UL << 9) | (56UL << 32)))
        {
            Ddtp = new Ddtp(((Ddt >> 12) << 10) | 2),
        };
        var slots = new MappingHistory[Slots];
        for (int i = 0; i < Slots; i++)
        {
            slots[i] = new MappingHistory();
            var empty = new SlotState(0, false, 0, 0, 0);
            slots[i].History[0] = empty;
            slots[i].Current = empty;
        }

        long paCounter = 0, changes = 0, freed = 0;
        var tally = new ReaderTally();
        using var stop = new CancellationTokenSource(duration);
        const int Mappers = 2, Readers = 2;
        var threads = new List<Thread>();
        for (int m = 0; m < Mappers; m++)
        {
            int id = m;
            threads.Add(new Thread(() =>
            {
                var rng = new Random(1000 + id);
                var gather = new InvalidationGather();
                while (!stop.IsCancellationRequested)
                {
                    int s = (rng.Next(Slots / Mappers) * Mappers) + id;
                    Change(slots[s], s, rng, gather, ref paCounter, ref freed, unmapOnly: false);
                    Interlocked.Increment(ref changes);
                }

                // Leave every slot unmapped, so the table pages can be counted back.
                for (int s = id; s < Slots; s += Mappers)
                {
                    if (slots[s].Current.Mapped)
                    {
                        Change(slots[s], s, rng, gather, ref paCounter, ref freed, unmapOnly: true);
                    }
                }
            }));
        }

        for (int r = 0; r < Readers; r++)
        {
            int id = r;
            threads.Add(new Thread(() =>
            {
                var rng = new Random(2000 + id);
                while (!stop.IsCancellationRequested)
                {
                    int s = rng.Next(Slots);
                    MappingHistory slot = slots[s];
                    ulong iova = SlotIova(s) + (rng.Next(2) == 0 ? (ulong)rng.Next(4 * 4096) : (ulong)rng.Next((int)SlotSize));
                    var request = new TranslationRequest(DeviceId, iova, rng.Next(2) == 0 ? AccessType.Read : AccessType.Write);
                    long before = Volatile.Read(ref slot.Sequence);
                    TranslationResult result = translator.Translate(in request);
                    tally.Check(slot, s, before, Volatile.Read(ref slot.Sequence), in request, in result);
                }
            }));
        }

        foreach (Thread t in threads)
        {
            t.Start();
        }

        foreach (Thread t in threads)
        {
            Assert.That(t.Join(duration + TimeSpan.FromSeconds(60)), Is.True, "a worker hung");
        }

        // The root stays; everything else went back through the gathers.
        long leaked = allocator.PagesInUse - baseline;
        return new Outcome(tally.Translations, tally.Successes, changes, freed, tally.Violations, tally.Skipped, leaked, tally.Examples);

        void Change(MappingHistory slot, int s, Random rng, InvalidationGather gather, ref long pas, ref long freedPages, bool unmapOnly)
        {
            SlotState old = slot.Current;
            SlotState next;
            if (old.Mapped)
            {
                next = new SlotState(old.Number + 1, false, 0, 0, 0);
            }
            else
            {
                bool super = rng.Next(4) == 0;
                ulong unique = (ulong)Interlocked.Increment(ref pas);
                ulong size = super ? SlotSize : 4096;
                ulong iova = SlotIova(s) + (super ? 0 : (ulong)rng.Next(4) * 4096);
                next = new SlotState(old.Number + 1, true, iova, size, 0x10_0000_0000UL + (unique << 21));
            }

            if (unmapOnly && !old.Mapped)
            {
                return;
            }

            slot.Publish(next);
            Volatile.Write(ref slot.Sequence, (2 * old.Number) + 1);
            if (next.Mapped)
            {
                table.Map(next.Iova, next.Pa, next.Size, Rw);
            }
            else
            {
                table.Unmap(old.Iova, old.Size, gather);
                freedPages += gather.FreedTables.Length;
                if (order == UnmapOrder.FreeBeforeInvalidation)
                {
                    gather.Complete();
                }

                if (gather.HasFreedTables || order == UnmapOrder.FreeBeforeInvalidation)
                {
                    translator.InvalidateVma(false, 0, true, Pscid, false, 0);            // PSCID-wide: non-leaf entries went
                }
                else
                {
                    foreach (IovaRange range in gather.Ranges)
                    {
                        for (ulong a = range.Start; a < range.End; a += 4096)
                        {
                            translator.InvalidateVma(false, 0, true, Pscid, true, a);     // per page
                        }
                    }
                }

                if (order != UnmapOrder.NoFence)
                {
                    translator.Fence();
                }

                gather.Complete();
            }

            slot.Current = next;
            Volatile.Write(ref slot.Sequence, 2 * next.Number);
        }
    }

    private static ulong SlotIova(int s) => SlotBase + ((ulong)(s % 8) << 30) + ((ulong)(s / 8) * SlotSize);


}
