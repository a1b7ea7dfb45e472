using FastIommu.Hardware;

namespace FastIommu.Tests.Hardware.Device;

/// <summary>The thread model: translations on many threads while one thread drives registers and the command
/// queue. Bounded in time.</summary>
public class DeviceConcurrencyTests
{
    [Test]
    [Category("Stress")]
    public void Translations_run_beside_command_processing_and_see_each_invalidation_once_it_completes()
    {
        using var h = new SystemHarness();
        int stop = 0;
        long translations = 0;
        int unexpected = 0;
        var readers = new Thread[3];
        for (int t = 0; t < readers.Length; t++)
        {
            readers[t] = new Thread(() =>
            {
                var request = new TranslationRequest(5, SystemHarness.Iova, AccessType.Read);
                while (Volatile.Read(ref stop) == 0)
                {
                    TranslationResult result = h.Device.Translate(in request);
                    if (!result.Success || (result.PhysicalAddress != SystemHarness.PageA && result.PhysicalAddress != SystemHarness.PageB))
                    {
                        Interlocked.Increment(ref unexpected);
                    }

                    Interlocked.Increment(ref translations);
                }
            });
            readers[t].Start();
        }

        // The driver side: repoint the leaf, invalidate it, fence; after each fence a new translation on this
        // thread must see the new page.
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(1);
        int rounds = 0;
        int stale = 0;
        while (DateTime.UtcNow < deadline)
        {
            ulong page = (rounds & 1) == 0 ? SystemHarness.PageB : SystemHarness.PageA;
            h.Memory.Qword(SystemHarness.L0 + 8) = SystemHarness.Pte(page, SystemHarness.LeafRw);
            h.Submit((0x0000_0001_0007_7401, 0x1000_0400), (((ulong)(uint)rounds << 32) | 0x402, DeviceHarness.FenceFlag >> 2));
            stale += h.PaOf(5) == page ? 0 : 1;
            rounds++;
        }

        Volatile.Write(ref stop, 1);
        foreach (Thread reader in readers)
        {
            reader.Join();
        }

        Assert.Multiple(() =>
        {
            Assert.That(unexpected, Is.Zero, "every concurrent translation returned the old or the new page");
            Assert.That(stale, Is.Zero, "after IOTINVAL + IOFENCE.C completed, no stale translation");
            Assert.That(h.Memory.Qword(DeviceHarness.FenceFlag) & 0xFFFF_FFFF, Is.EqualTo((ulong)(uint)(rounds - 1)), "every fence completed");
            Assert.That(Interlocked.Read(ref translations), Is.GreaterThan(0), "the readers ran");
        });
    }

    [Test]
    [Category("Stress")]
    public void Faulting_translations_from_many_threads_fill_the_fault_queue_without_loss()
    {
        using var h = new SystemHarness();
        const int threads = 4;
        const int perThread = 15; // 60 faults: the 64-entry queue holds 63
        var workers = new Thread[threads];
        for (int t = 0; t < threads; t++)
        {
            int id = t;
            workers[t] = new Thread(() =>
            {
                for (int i = 0; i < perThread; i++)
                {
                    // Unmapped IOVAs 0x4000_2000.. (L0 entries 2..61), one per (thread, i).
                    h.Read(5, 0x4000_2000 + ((ulong)((id * perThread) + i) << 12));
                }
            });
            workers[t].Start();
        }

        foreach (Thread worker in workers)
        {
            worker.Join();
        }

        var iotvals = new HashSet<ulong>();
        for (uint slot = 0; slot < threads * perThread; slot++)
        {
            iotvals.Add(h.Memory.Qword(DeviceHarness.FaultQueueBase + (slot * 32UL) + 16));
        }

        Assert.Multiple(() =>
        {
            Assert.That(h.Device.Read32(0x34), Is.EqualTo((uint)(threads * perThread)), "one record per fault");
            Assert.That(iotvals, Has.Count.EqualTo(threads * perThread), "each faulting IOVA recorded once");
        });
    }
}
