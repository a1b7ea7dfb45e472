using System.Globalization;
using FastIommu.Driver;
using FastIommu.Formats.RiscV;
using FastIommu.Hardware;
using FastIommu.Memory;
using FastIommu.PageTables;

namespace FastIommu.Tests.Reliability;

/// <summary>How the mapper threads make their unmaps take effect: the driver's <see cref="PagingDomain.Sync"/>, or a
/// deliberately broken sync written here with the driver's internals (to show the checker catches what it is for).</summary>
public enum DriverSyncOrder
{
    /// <summary><see cref="PagingDomain.Sync"/>: IOTINVALs, IOFENCE.C per instance, then the freed table pages.</summary>
    Driver,
    /// <summary>The PSCID-wide IOTINVAL.VMA through the command queue, then the pages freed, with no IOFENCE.C: a walk
    /// in flight may read a freed and reused table page.</summary>
    NoFence,
    /// <summary>The table pages freed first, then the PSCID-wide IOTINVAL.VMA and IOFENCE.C.</summary>
    FreeBeforeFence,
}

/// <summary>
/// Concurrency with live walkers through the driver layer: mapper threads map, unmap and sync on a Sv39
/// <see cref="PagingDomain"/> through <see cref="IommuDriver"/> (the domain attached to a group holding device 1 of
/// two in-process <see cref="RiscVIommu"/> instances behind <see cref="InProcessMmio"/>; commands go through the real
/// command queues, IOFENCE.C included, one per instance and sync), unmaps either synced one by one or gathered by two
/// to four and synced at once, while one reader thread per IOMMU translates through it with every cache on (IOTLB,
/// micro-TLB, directory caches). The checker is
/// <see cref="LiveWalkerTests"/>': each slot (a 2 MiB IOVA region owned by one mapper) publishes a seqlock'ed history
/// of its states, every PA ever mapped is unique, and a translation must match a state live between the reader's two
/// reads of the slot's sequence. A slot's sequence stays odd from its unmap until the sync that covers it returns. The
/// memory yields at one level-1 read in 16, so walks are often in flight when a table page is freed.
/// </summary>
[Category("Stress")]
public class DriverLiveWalkerTests
{
    private const ulong MemoryBase = 0x8000_0000;
    private const ulong MemorySize = 32UL << 20;
    private const ulong WindowBase = 0x8100_0000;
    private const uint DeviceId = 1;
    private const ulong SlotBase = 0x4000_0000;
    private const ulong SlotSize = 2UL << 20;
    private const int Slots = 64;

    private sealed record Outcome(long Translations, long Successes, long Changes, long Syncs, long FreedTables, long Violations,
        long Skipped, long PagesLeaked, List<string> Examples)
    {
        public override string ToString() =>
            $"{Translations} translations ({Successes} successes), {Changes} table changes, {Syncs} syncs, {FreedTables} table pages freed, " +
            $"{Skipped} windows too long to check, {Violations} violations, {PagesLeaked} pages leaked" +
            $"{(Examples.Count > 0 ? ": " + string.Join("; ", Examples) : "")}";
    }

    [Test]
    public void Translations_racing_driver_map_unmap_and_sync_return_only_mappings_live_during_the_request()
    {
        Outcome outcome = Run(DriverSyncOrder.Driver, StressBudget.Duration(2.5));
        TestContext.Out.WriteLine(outcome);
        Assert.Multiple(() =>
        {
            Assert.That(outcome.Violations, Is.Zero, $"translations outside their window: {string.Join("; ", outcome.Examples)}");
            Assert.That(outcome.Changes, Is.GreaterThan(100), "the mappers changed the tables");
            Assert.That(outcome.FreedTables, Is.GreaterThan(10), "syncs freed table pages that maps reused");
            Assert.That(outcome.Successes, Is.GreaterThan(100), "readers translated mapped pages");
            Assert.That(outcome.PagesLeaked, Is.Zero, "every table page is back after the final unmaps");
        });
    }

    /// <summary>The same race with the readers translating in batches of 8 over flat memory
    /// (<see cref="RiscVIommu.Translate(ReadOnlySpan{TranslationRequest}, Span{TranslationResult})"/>): the batch
    /// prefetches each request's leaf PTE from table pages the mappers unlink and free meanwhile, and must still return
    /// only mappings live during the batch (each request is checked against its slot's window from before the batch to
    /// after it). Flat memory, because only it is prefetched: the walks are not stretched here.</summary>
    [Test]
    public void Batched_translations_racing_driver_map_unmap_and_sync_return_only_mappings_live_during_the_batch()
    {
        Outcome outcome = Run(DriverSyncOrder.Driver, StressBudget.Duration(2.5), batched: true);
        TestContext.Out.WriteLine(outcome);
        Assert.Multiple(() =>
        {
            Assert.That(outcome.Violations, Is.Zero, $"translations outside their window: {string.Join("; ", outcome.Examples)}");
            Assert.That(outcome.FreedTables, Is.GreaterThan(10), "syncs freed table pages that maps reused");
            Assert.That(outcome.Successes, Is.GreaterThan(100), "readers translated mapped pages");
            Assert.That(outcome.PagesLeaked, Is.Zero, "every table page is back after the final unmaps");
        });
    }

    /// <summary>The same run with a broken sync: it must report violations. Explicit, as in <see cref="LiveWalkerTests"/>:
    /// whether a bounded run meets the race depends on the scheduler (tests/README.md has the command and its output).</summary>
    [Explicit("shows the checker catches a sync without its fence or with the pages freed early; timing-dependent")]
    [TestCase(DriverSyncOrder.NoFence)]
    [TestCase(DriverSyncOrder.FreeBeforeFence)]
    public void A_broken_sync_is_reported_as_violations(DriverSyncOrder order)
    {
        Outcome outcome = Run(order, StressBudget.Duration(10));
        TestContext.Out.WriteLine(outcome);
        Assert.That(outcome.Violations, Is.GreaterThan(0), $"the checker saw no violation with {order}: {outcome}");
    }

    private static Outcome Run(DriverSyncOrder order, TimeSpan duration, bool batched = false)
    {
        using var memory = PhysicalMemory.Allocate(MemorySize, MemoryBase);
        var allocator = new PageAllocator(memory, WindowBase, 16UL << 20);
        using var driver = new IommuDriver(allocator);
        var access = new LiveWalkerTests.StretchingAccess(memory, allocator.Start, allocator.Start + ((ulong)allocator.TotalPages * 4096));
        // Two IOMMUs, device 1 behind each, in one group: every sync invalidates and fences both.
        var devices = new RiscVIommu[2];
        var instances = new IommuInstance[2];
        DeviceGroup group = driver.CreateGroup();
        for (int i = 0; i < devices.Length; i++)
        {
            devices[i] = batched
                ? new RiscVIommu(memory, Capabilities.FullRv64, cacheOptions: TranslatorCacheOptions.Default)
                : new RiscVIommu(access, Capabilities.FullRv64, cacheOptions: TranslatorCacheOptions.Default);
            instances[i] = driver.AddInstance(new InProcessMmio(devices[i]));
            instances[i].AddDevice(DeviceId, group);
        }

        PagingDomain domain = driver.CreatePagingDomain(PagingModeKind.Sv39);
        driver.Attach(group, domain);
        long baseline = allocator.PagesInUse;

        var slots = new MappingHistory[Slots];
        for (int i = 0; i < Slots; i++)
        {
            slots[i] = new MappingHistory();
            var empty = new SlotState(0, false, 0, 0, 0);
            slots[i].History[0] = empty;
            slots[i].Current = empty;
        }

        long paCounter = 0, changes = 0, syncs = 0, freed = 0;
        var tally = new ReaderTally();
        using var stop = new CancellationTokenSource(duration);
        const int Mappers = 2, Readers = 2;
        var threads = new List<Thread>();
        for (int m = 0; m < Mappers; m++)
        {
            int id = m;
            threads.Add(new Thread(() =>
            {
                var rng = new Random(3000 + id);
                var pending = new List<(MappingHistory Slot, SlotState Next)>();
                UnmapGather? gather = null;
                int batch = 1;
                while (!stop.IsCancellationRequested)
                {
                    int s = (rng.Next(Slots / Mappers) * Mappers) + id;
                    if (pending.Exists(p => ReferenceEquals(p.Slot, slots[s])))
                    {
                        continue;
                    }

                    Change(slots[s], s, rng, pending, ref gather);
                    Interlocked.Increment(ref changes);
                    if (gather is not null && pending.Count >= batch)
                    {
                        Flush(pending, ref gather);
                        batch = 1 + rng.Next(4);
                    }
                }

                if (gather is not null)
                {
                    Flush(pending, ref gather);
                }

                // Leave every slot unmapped, so the table pages can be counted back.
                for (int s = id; s < Slots; s += Mappers)
                {
                    if (slots[s].Current.Mapped)
                    {
                        Change(slots[s], s, rng, pending, ref gather);
                        Flush(pending, ref gather!);
                    }
                }
            }) { Name = $"mapper {m}" });
        }

        for (int r = 0; r < Readers; r++)
        {
            int id = r;
            threads.Add(new Thread(() =>
            {
                var rng = new Random(4000 + id);
                if (batched)
                {
                    ReadInBatches(devices[id], rng);
                    return;
                }

                while (!stop.IsCancellationRequested)
                {
                    int s = rng.Next(Slots);
                    MappingHistory slot = slots[s];
                    ulong iova = SlotIova(s) + (rng.Next(2) == 0 ? (ulong)rng.Next(4 * 4096) : (ulong)rng.Next((int)SlotSize));
                    var request = new TranslationRequest(DeviceId, iova, rng.Next(2) == 0 ? AccessType.Read : AccessType.Write);
                    long before = Volatile.Read(ref slot.Sequence);
                    TranslationResult result = devices[id].Translate(in request); // one reader per IOMMU
                    tally.Check(slot, s, before, Volatile.Read(ref slot.Sequence), in request, in result);
                }
            }) { Name = $"reader {r}" });
        }

        // A reader's loop in batches: the slots' sequences before the batch, the batch, the sequences after.
        void ReadInBatches(RiscVIommu device, Random rng)
        {
            const int Batch = 8;
            var slotOf = new int[Batch];
            var before = new long[Batch];
            var requests = new TranslationRequest[Batch];
            var results = new TranslationResult[Batch];
            while (!stop.IsCancellationRequested)
            {
                for (int i = 0; i < Batch; i++)
                {
                    int s = slotOf[i] = rng.Next(Slots);
                    ulong iova = SlotIova(s) + (rng.Next(2) == 0 ? (ulong)rng.Next(4 * 4096) : (ulong)rng.Next((int)SlotSize));
                    requests[i] = new TranslationRequest(DeviceId, iova, rng.Next(2) == 0 ? AccessType.Read : AccessType.Write);
                    before[i] = Volatile.Read(ref slots[s].Sequence);
                }

                device.Translate(requests, results);
                for (int i = 0; i < Batch; i++)
                {
                    MappingHistory slot = slots[slotOf[i]];
                    tally.Check(slot, slotOf[i], before[i], Volatile.Read(ref slot.Sequence), in requests[i], in results[i]);
                }
            }
        }

        foreach (Thread t in threads)
        {
            t.Start();
        }

        foreach (Thread t in threads)
        {
            Assert.That(t.Join(duration + TimeSpan.FromSeconds(60)), Is.True, "a worker hung");
        }

        long leaked = allocator.PagesInUse - baseline;
        return new Outcome(tally.Translations, tally.Successes, changes, Interlocked.Read(ref syncs), freed, tally.Violations, tally.Skipped, leaked,
            tally.Examples);

        // A map is synchronous (the driver needs no invalidation for an invalid entry becoming valid); an unmap goes
        // into the gather and stays pending (its slot's sequence odd) until Flush syncs it.
        void Change(MappingHistory slot, int s, Random rng, List<(MappingHistory, SlotState)> pending, ref UnmapGather? gather)
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
                ulong unique = (ulong)Interlocked.Increment(ref paCounter);
                ulong size = super ? SlotSize : 4096;
                ulong iova = SlotIova(s) + (super ? 0 : (ulong)rng.Next(4) * 4096);
                next = new SlotState(old.Number + 1, true, iova, size, 0x10_0000_0000UL + (unique << 21));
            }

            slot.Publish(next);
            Volatile.Write(ref slot.Sequence, (2 * old.Number) + 1);
            if (next.Mapped)
            {
                domain.Map(next.Iova, next.Pa, next.Size, DmaProtection.Read | DmaProtection.Write);
                slot.Current = next;
                Volatile.Write(ref slot.Sequence, 2 * next.Number);
                return;
            }

            gather ??= driver.RentGather();
            MapStatus status = domain.TryUnmap(old.Iova, old.Size, gather, out ulong unmapped);
            if (status != MapStatus.Success || unmapped != old.Size)
            {
                // Not an assertion: this runs on a worker thread. Counted and shown like a bad translation.
                tally.AddViolation($"unmap of slot {s} (0x{old.Iova:x} + 0x{old.Size:x}): {status}, {unmapped} bytes");
            }
            slot.Current = next;
            pending.Add((slot, next));
        }

        void Flush(List<(MappingHistory Slot, SlotState Next)> pending, ref UnmapGather gather)
        {
            Interlocked.Add(ref freed, gather.FreedTablePages);
            switch (order)
            {
                case DriverSyncOrder.Driver:
                    domain.Sync(gather);
                    break;
                case DriverSyncOrder.NoFence:
                    InvalidatePscid(domain);
                    gather.Inner.Complete();
                    break;
                default:
                    gather.Inner.Complete();
                    InvalidatePscid(domain);
                    foreach (IommuInstance instance in instances)
                    {
                        instance.Commands.Sync();
                    }

                    break;
            }

            gather = null!;
            Interlocked.Increment(ref syncs);
            foreach ((MappingHistory slot, SlotState next) in pending)
            {
                Volatile.Write(ref slot.Sequence, 2 * next.Number);
            }

            pending.Clear();
        }
    }

    /// <summary>IOTINVAL.VMA PSCV=1 for each of the domain's PSCIDs, through the command queue, without IOFENCE.C.</summary>
    private static void InvalidatePscid(PagingDomain domain)
    {
        foreach (Bond bond in domain.Bonds)
        {
            bond.Instance.Commands.Submit(Command.IotinvalVma(gv: false, 0, pscv: true, bond.Id, av: false, 0));
        }
    }

    private static ulong SlotIova(int s) => SlotBase + ((ulong)(s % 8) << 30) + ((ulong)(s / 8) * SlotSize);


}
