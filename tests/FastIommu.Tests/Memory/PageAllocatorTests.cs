using System.Collections.Concurrent;
using FastIommu.Memory;

namespace FastIommu.Tests.Memory;

public class PageAllocatorTests
{
    private static List<ulong> Script(PageAllocator allocator)
    {
        // A fixed mix of pages, blocks and frees; the addresses it yields must not depend on anything else.
        var seen = new List<ulong>();
        var live = new List<ulong>();
        var random = new Random(1234);
        for (int i = 0; i < 400; i++)
        {
            int op = random.Next(10);
            if (op < 5)
            {
                live.Add(allocator.AllocatePage());
                seen.Add(live[^1]);
            }
            else if (op < 6)
            {
                ulong block = allocator.AllocateBlock();
                seen.Add(block);
                allocator.FreeBlock(block);
            }
            else if (live.Count > 0)
            {
                int k = random.Next(live.Count);
                allocator.FreePage(live[k]);
                live.RemoveAt(k);
            }
        }

        return seen;
    }

    [Test]
    public void Same_calls_on_fresh_memory_give_the_same_addresses()
    {
        using var a = PhysicalMemory.Allocate(4 << 20, 0x8000_0000);
        using var b = PhysicalMemory.Allocate(4 << 20, 0x8000_0000);
        Assert.That(Script(new PageAllocator(b)), Is.EqualTo(Script(new PageAllocator(a))), "deterministic allocation order");
    }

    [Test]
    public void First_pages_come_from_the_start_in_order_and_blocks_are_16KiB_aligned()
    {
        using var memory = PhysicalMemory.Allocate(1 << 20, 0x8000_0000);
        var allocator = new PageAllocator(memory);
        Assert.Multiple(() =>
        {
            Assert.That(allocator.AllocatePage(), Is.EqualTo(0x8000_0000UL), "first page at the base");
            Assert.That(allocator.AllocatePage(), Is.EqualTo(0x8000_1000UL), "then the next");
            Assert.That(allocator.AllocateBlock(), Is.EqualTo(0x8000_4000UL), "block skips to the 16 KiB boundary");
            Assert.That(allocator.AllocatePage(), Is.EqualTo(0x8000_3000UL), "skipped pages are used before fresh ones");
            Assert.That(allocator.AllocatePage(), Is.EqualTo(0x8000_2000UL), "both of them");
            Assert.That(allocator.AllocatePage(), Is.EqualTo(0x8000_8000UL), "then fresh pages after the block");
            Assert.That(allocator.PagesInUse, Is.EqualTo(9), "5 pages + a 4-page block");
        });
    }

    [Test]
    public void Freed_pages_are_reused_and_come_back_zeroed()
    {
        using var memory = PhysicalMemory.Allocate(1 << 20);
        var allocator = new PageAllocator(memory);
        ulong page = allocator.AllocatePage();
        allocator.AllocatePage();
        memory.GetPage(page).Fill(0xffff_ffff_ffff_ffff);
        allocator.FreePage(page);
        Assert.That(allocator.PagesInUse, Is.EqualTo(1), "counter drops on free");

        ulong again = allocator.AllocatePage();
        Assert.Multiple(() =>
        {
            Assert.That(again, Is.EqualTo(page), "last freed is first reused");
            Assert.That(memory.GetPage(again).ToArray(), Is.All.Zero, "reused page is zeroed");
        });

        ulong block = allocator.AllocateBlock();
        memory.GetSpan(block, 0x4000).Fill(0xaa);
        allocator.FreeBlock(block);
        Assert.Multiple(() =>
        {
            Assert.That(allocator.AllocateBlock(), Is.EqualTo(block), "blocks are reused too");
            Assert.That(memory.GetSpan(block, 0x4000).ToArray(), Is.All.Zero, "and zeroed");
        });
    }

    [Test]
    public void Exhaustion_is_a_clear_error_that_changes_nothing()
    {
        using var memory = PhysicalMemory.Allocate(0x6000, 0x1000);
        var allocator = new PageAllocator(memory);
        // Range is pages 0x1000..0x6000: the only 16 KiB-aligned block would be 0x4000..0x8000, past the end.
        Assert.That(allocator.TryAllocateBlock(out _), Is.False, "no aligned block fits");
        Assert.That(allocator.PagesInUse, Is.Zero, "the failed block took nothing");

        var pages = new List<ulong>();
        for (int i = 0; i < 6; i++)
        {
            pages.Add(allocator.AllocatePage());
        }

        Assert.That(pages, Is.EqualTo(new ulong[] { 0x1000, 0x2000, 0x3000, 0x4000, 0x5000, 0x6000 }), "every page once, in order");
        var error = Assert.Throws<OutOfPhysicalMemoryException>(() => allocator.AllocatePage());
        Assert.Multiple(() =>
        {
            Assert.That(error!.Message, Does.Contain("6 of 6 pages in use"), "the message says why");
            Assert.That(allocator.TryAllocatePage(out _), Is.False, "Try form says no");
            Assert.That(allocator.PagesInUse, Is.EqualTo(6), "nothing changed");
        });

        allocator.FreePage(0x3000);
        Assert.That(allocator.AllocatePage(), Is.EqualTo(0x3000UL), "after a free there is a page again");
    }

    [Test]
    public void Double_free_and_foreign_pages_are_rejected_without_change()
    {
        using var memory = PhysicalMemory.Allocate(1 << 20);
        var allocator = new PageAllocator(memory, 0x10000, 0x10000);
        ulong page = allocator.AllocatePage();
        allocator.FreePage(page);
        Assert.Multiple(() =>
        {
            Assert.Throws<ArgumentException>(() => allocator.FreePage(page), "double free");
            Assert.Throws<ArgumentException>(() => allocator.FreePage(0x1000), "outside the allocator's window");
            Assert.Throws<ArgumentException>(() => allocator.FreePage(0x10800), "not page aligned");
            Assert.Throws<ArgumentException>(() => allocator.FreeBlock(0x11000), "not a block");
            Assert.That(allocator.PagesInUse, Is.Zero, "counter unchanged");
            Assert.That(allocator.AllocatePage(), Is.EqualTo(page), "free list intact after the bad calls");
        });
    }

    [Test]
    [CancelAfter(30_000)]
    public void Concurrent_allocation_returns_distinct_pages_and_frees_balance()
    {
        using var memory = PhysicalMemory.Allocate(64 << 20);
        var allocator = new PageAllocator(memory);
        const int Threads = 4;
        const int Rounds = 20_000;
        var live = new ConcurrentDictionary<ulong, int>();
        var failures = new ConcurrentQueue<string>();

        var workers = Enumerable.Range(0, Threads).Select(t => new Thread(() =>
        {
          try
          {
            var random = new Random(t);
            var mine = new List<(ulong Pa, bool Block)>();
            for (int i = 0; i < Rounds; i++)
            {
                // Each thread holds at most ~256 allocations, so 4 threads never exhaust the 16384 pages.
                if (mine.Count > 0 && (mine.Count >= 256 || random.Next(3) == 0))
                {
                    var (pa, block) = mine[^1];
                    mine.RemoveAt(mine.Count - 1);
                    live.TryRemove(pa, out _);
                    if (block) { allocator.FreeBlock(pa); } else { allocator.FreePage(pa); }
                    continue;
                }

                bool asBlock = random.Next(8) == 0;
                ulong got = asBlock ? allocator.AllocateBlock() : allocator.AllocatePage();
                if (!live.TryAdd(got, t))
                {
                    failures.Enqueue($"0x{got:x} handed out twice");
                }

                if (asBlock && got % PageAllocator.BlockSize != 0)
                {
                    failures.Enqueue($"block 0x{got:x} misaligned");
                }

                mine.Add((got, asBlock));
            }

            foreach (var (pa, block) in mine)
            {
                live.TryRemove(pa, out _);
                if (block) { allocator.FreeBlock(pa); } else { allocator.FreePage(pa); }
            }
          }
          catch (Exception e)
          {
              failures.Enqueue(e.ToString());
          }
        })).ToList();

        workers.ForEach(w => w.Start());
        workers.ForEach(w => w.Join());
        Assert.Multiple(() =>
        {
            Assert.That(failures, Is.Empty, "every live page is held by one owner");
            Assert.That(allocator.PagesInUse, Is.Zero, "every page came back");
        });
    }
}
