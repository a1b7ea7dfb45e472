using System.Collections.Concurrent;
using System.Diagnostics;
using FastIommu.Formats.RiscV;
using FastIommu.Memory;
using FastIommu.PageTables;

namespace FastIommu.Tests.PageTables;

/// <summary>Threads map and unmap disjoint ranges that share every upper-level table (so tables are installed and
/// freed under each other), freeing gathered pages at once so they are reused, while a reader walks throughout.</summary>
[TestFixture(typeof(Sv48))]
[TestFixture(typeof(Sv39x4))]
[Category("Stress")]
public sealed class PageTableStressTests<TMode> where TMode : struct, IPagingMode
{
    private const int Workers = 3;
    private const int Regions = 32;
    private static readonly ulong[] Bases = [0, TMode.Levels >= 4 ? 1UL << 39 : 1UL << 30];

    private readonly record struct Slot(ulong Iova, ulong Size, int Owner);

    /// <summary>The PA a slot maps to: a function of the IOVA, so any other PA a walk returns is wrong.</summary>
    private static ulong PaOf(ulong iova) => ((iova * 0x9E37_79B9UL) & 0x3FF_FFE0_0000UL) | (iova & 0x1F_F000);

    private static List<Slot> MakeSlots()
    {
        var slots = new List<Slot>();
        foreach (ulong b in Bases)
        {
            for (int r = 0; r < Regions; r++)
            {
                for (int w = 0; w < Workers; w++)
                {
                    // Area A: each worker owns one 4 KiB page in each 2 MiB region: the level-0 table is shared.
                    slots.Add(new Slot(b + (ulong)r * 0x20_0000 + (ulong)w * 0x1000, 0x1000, w));
                }

                // Area B: 2 MiB leaves beside area A in the same level-1 table.
                slots.Add(new Slot(b + (ulong)(64 + r) * 0x20_0000, 0x20_0000, r % Workers));
            }
        }

        return slots;
    }

    [Test]
    public void Concurrent_map_unmap_on_disjoint_ranges_with_a_concurrent_reader()
    {
        using var memory = PhysicalMemory.Allocate(16 << 20, 0x8000_0000);
        var allocator = new PageAllocator(memory);
        var table = new PageTable<TMode>(allocator);
        List<Slot> slots = MakeSlots();
        // Stable pages, never unmapped, in the even regions of the first base: their tables must never go away.
        var stable = Enumerable.Range(0, Regions / 2).Select(r => (ulong)(2 * r) * 0x20_0000 + 0x8000).ToList();
        foreach (ulong iova in stable)
        {
            table.Map(iova, PaOf(iova), 0x1000, PageProtection.Read);
        }

        var failures = new ConcurrentQueue<string>();
        long operations = 0, freedTables = 0, reads = 0;
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(2));
        var threads = new List<Thread>();
        for (int w = 0; w < Workers; w++)
        {
            int worker = w;
            threads.Add(new Thread(() =>
            {
                var mine = slots.Where(s => s.Owner == worker).ToArray();
                var mapped = new bool[mine.Length];
                var random = new Random(worker + 1);
                var gather = new InvalidationGather();
                while (!stop.IsCancellationRequested && failures.IsEmpty)
                {
                    int i = random.Next(mine.Length);
                    Slot s = mine[i];
                    if (mapped[i])
                    {
                        ulong bytes = table.Unmap(s.Iova, s.Size, gather);
                        Interlocked.Add(ref freedTables, gather.FreedTables.Length);
                        gather.Complete(); // reuse the pages at once: stale walkers must cope
                        if (bytes != s.Size || table.TryIovaToPhys(s.Iova, out _))
                        {
                            failures.Enqueue($"unmap 0x{s.Iova:x}: {bytes:x} bytes, still mapped: {table.TryIovaToPhys(s.Iova, out _)}");
                        }
                    }
                    else
                    {
                        MapStatus status = table.TryMap(s.Iova, PaOf(s.Iova), s.Size, PageProtection.Read | PageProtection.Write);
                        ulong probe = s.Iova + s.Size - 0x1000;
                        if (status != MapStatus.Success || !table.TryIovaToPhys(probe, out ulong pa) || pa != PaOf(s.Iova) + (probe - s.Iova))
                        {
                            failures.Enqueue($"map 0x{s.Iova:x}: {status}");
                        }
                    }

                    mapped[i] = !mapped[i];
                    Interlocked.Increment(ref operations);
                }

                foreach (int i in Enumerable.Range(0, mine.Length).Where(i => mapped[i]))
                {
                    table.Unmap(mine[i].Iova, mine[i].Size, gather);
                    gather.Complete();
                }
            }));
        }

        threads.Add(new Thread(() =>
        {
            var random = new Random(99);
            while (!stop.IsCancellationRequested && failures.IsEmpty)
            {
                ulong s0 = stable[random.Next(stable.Count)];
                if (!table.TryIovaToPhys(s0 + 0x10, out ulong spa) || spa != PaOf(s0) + 0x10)
                {
                    failures.Enqueue($"stable page 0x{s0:x} lost");
                }

                Slot s = slots[random.Next(slots.Count)];
                ulong offset = (ulong)random.NextInt64((long)s.Size) & ~7UL;
                WalkResult walk = table.Walk(s.Iova + offset);
                if (walk.Found && (walk.PhysicalAddress != PaOf(s.Iova) + offset || walk.PageSize != s.Size))
                {
                    failures.Enqueue($"walk 0x{s.Iova + offset:x}: PA 0x{walk.PhysicalAddress:x} size 0x{walk.PageSize:x}, neither old nor new");
                }

                if (table.TryIovaToPhys(s.Iova + offset, out ulong fpa) && fpa != PaOf(s.Iova) + offset)
                {
                    failures.Enqueue($"IovaToPhys 0x{s.Iova + offset:x}: PA 0x{fpa:x}, neither old nor new");
                }

                reads++;
            }
        }));

        var clock = Stopwatch.StartNew();
        threads.ForEach(t => t.Start());
        threads.ForEach(t => t.Join());
        TestContext.Out.WriteLine($"{operations} map/unmap, {reads} reads, {freedTables}+ tables freed in {clock.ElapsedMilliseconds} ms");

        Assert.That(failures, Is.Empty, "every map, unmap and walk result was right");
        Assert.That(operations, Is.GreaterThan(1000), "the workers made progress");
        Assert.That(freedTables, Is.GreaterThan(0), "tables were freed under concurrent maps");
        // Only the stable pages remain: 16 level-0 tables, and one table per level above them.
        Assert.That(allocator.PagesInUse, Is.EqualTo((TMode.IsGStage ? 4 : 1) + Regions / 2 + (TMode.Levels - 2)), "no table lost or leaked");
        var gather = new InvalidationGather();
        foreach (ulong iova in stable)
        {
            Assert.That(table.Unmap(iova, 0x1000, gather), Is.EqualTo(0x1000UL), "stable page still there");
        }

        gather.Complete();
        table.Dispose();
        Assert.That(allocator.PagesInUse, Is.Zero, "every page returned");
    }
}
