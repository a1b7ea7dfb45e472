using FastIommu.Formats.RiscV;
using FastIommu.Hardware;

namespace FastIommu.Tests.Hardware.Device;

/// <summary>The fault queue (spec "Fault/Event-Queue (FQ)"): record layout, full queue, memory fault, interrupts,
/// and concurrent writers.</summary>
public class DeviceFaultQueueTests
{
    private static string RecordAt(DeviceHarness h, uint index) =>
        Convert.ToHexString(h.Memory.GetSpan(DeviceHarness.FaultQueueBase + (index * 32UL), 32));

    [Test]
    public void Fault_record_is_written_bit_exact()
    {
        using var h = new DeviceHarness();
        h.EnableFaultQueue();
        ulong header = FaultRecord.Create(FaultCause.ReadPageFault, TransactionType.UntranslatedRead, 0x123456, pv: true, 0xABCDE, priv: true, 0, 0).Dword0;
        // CAUSE 13 = 0x00D; PID 0xABCDE << 12 = 0xABCD_E000; PV bit 32 + PRIV bit 33 = 0x3_0000_0000;
        // TTYP 2 << 34 = 0x8_0000_0000; DID 0x123456 << 40 = 0x1234_5600_0000_0000.
        Assert.That(header, Is.EqualTo(0x1234_560B_ABCD_E00DUL), "dword0 by hand");
        Assert.That(h.Device.Report(header, 0x0000_7FFF_DEAD_B000, 0x0000_0001_8765_4321), Is.EqualTo(FaultReportOutcome.Written), "written");
        Assert.Multiple(() =>
        {
            Assert.That(RecordAt(h, 0), Is.EqualTo(
                "0DE0CDAB0B563412" + // dword0, little-endian
                "0000000000000000" + // dword1: custom 31:0 and reserved 63:32, zero
                "00B0ADDEFF7F0000" + // iotval
                "2143658701000000"), // iotval2
                "32 bytes as the spec lays them out");
            Assert.That(h.Device.Read32(0x34), Is.EqualTo(1u), "fqt advanced");
        });
    }

    [Test]
    public void Full_queue_sets_fqof_and_drops_records_until_software_clears_it()
    {
        using var h = new DeviceHarness();
        h.EnableFaultQueue(log2SizeMinus1: 0); // 2 entries: holds 1 record (full when fqt == fqh - 1)
        Assert.Multiple(() =>
        {
            Assert.That(h.Device.Report(0x101, 1, 0), Is.EqualTo(FaultReportOutcome.Written), "first record fits");
            Assert.That(h.Device.Report(0x102, 2, 0), Is.EqualTo(FaultReportOutcome.Overflow), "second: full");
            Assert.That(h.Device.Read32(0x4C), Is.EqualTo(0x0001_0201u), "fqof set, queue on");
            Assert.That(h.Device.Report(0x103, 3, 0), Is.EqualTo(FaultReportOutcome.Discarded), "dropped while fqof");
            Assert.That(h.Device.Read32(0x34), Is.EqualTo(1u), "fqt unchanged by dropped records");
        });

        h.Device.Write32(0x30, 1);           // software consumed record 0
        h.Device.Write32(0x4C, 0x1 | 0x200); // and clears fqof
        Assert.Multiple(() =>
        {
            Assert.That(h.Device.Read32(0x4C), Is.EqualTo(0x0001_0001u), "fqof cleared");
            Assert.That(h.Device.Report(0x104, 4, 0), Is.EqualTo(FaultReportOutcome.Written), "records flow again");
            Assert.That(h.Device.Read32(0x34), Is.Zero, "fqt wrapped to 0");
            Assert.That(h.Memory.Qword(DeviceHarness.FaultQueueBase + 32), Is.EqualTo(0x104UL), "written in slot 1");
            Assert.That(h.Device.FaultRecordsDropped, Is.EqualTo(2), "two lost");
        });
    }

    [Test]
    public void Memory_fault_storing_a_record_sets_fqmf()
    {
        using var h = new DeviceHarness();
        h.EnableFaultQueue(queueBase: 0x1000_0000); // not memory
        Assert.Multiple(() =>
        {
            Assert.That(h.Device.Report(0x101, 0, 0), Is.EqualTo(FaultReportOutcome.MemoryFault), "store faulted");
            Assert.That(h.Device.Read32(0x4C), Is.EqualTo(0x0001_0101u), "fqmf");
            Assert.That(h.Device.Read32(0x34), Is.Zero, "fqt unchanged");
            Assert.That(h.Device.Report(0x102, 0, 0), Is.EqualTo(FaultReportOutcome.Discarded), "no more records while fqmf");
        });
    }

    [Test]
    public void Nothing_is_recorded_while_the_queue_is_off()
    {
        using var h = new DeviceHarness();
        Assert.That(h.Device.Report(0x101, 0, 0), Is.EqualTo(FaultReportOutcome.QueueOff), "fqon = 0");
        Assert.That(h.Memory.Qword(DeviceHarness.FaultQueueBase), Is.Zero, "queue memory untouched");
    }

    [Test]
    public void A_new_record_raises_fip_when_fie_is_set()
    {
        using var h = new DeviceHarness();
        var raised = new List<(IommuInterruptSource, int)>();
        h.Device.InterruptRequested = (source, vector) => raised.Add((source, vector));
        h.Device.Write64(0x2F8, 0x0050); // fiv = 5
        h.EnableFaultQueue(interrupts: true);
        h.Device.Report(0x101, 0, 0);
        Assert.Multiple(() =>
        {
            Assert.That(h.Device.Read32(0x54), Is.EqualTo(0x2u), "ipsr.fip");
            Assert.That(raised, Is.EqualTo(new[] { (IommuInterruptSource.FaultQueue, 5) }), "one edge on vector fiv");
        });
        h.Device.Write32(0x54, 0x2);
        Assert.That(h.Device.Read32(0x54), Is.Zero, "fip is RW1C and no level condition holds");
    }

    [Test]
    [Category("Stress")]
    public void Concurrent_writers_lose_and_tear_no_record()
    {
        using var h = new DeviceHarness(slowWrites: true);
        h.EnableFaultQueue(log2SizeMinus1: 11); // 4096 entries, 128 KiB at 0x8000_2000 (inside the 1 MiB)
        const int threads = 4;
        const int perThread = 1000;
        var workers = new Thread[threads];
        for (int t = 0; t < threads; t++)
        {
            int id = t;
            workers[t] = new Thread(() =>
            {
                for (int i = 0; i < perThread; i++)
                {
                    ulong tag = ((ulong)id << 32) | (uint)i;
                    // DID carries the tag's low 24 bits; iotval the tag; iotval2 its complement.
                    ulong header = FaultRecord.Create(FaultCause.ReadAccessFault, TransactionType.UntranslatedRead, (uint)tag & 0xFF_FFFF, false, 0, false, 0, 0).Dword0;
                    if (h.Device.Report(header, tag, ~tag) != FaultReportOutcome.Written)
                    {
                        throw new InvalidOperationException("record not written");
                    }
                }
            });
        }

        foreach (Thread worker in workers)
        {
            worker.Start();
        }

        foreach (Thread worker in workers)
        {
            worker.Join();
        }

        var seen = new HashSet<ulong>();
        int torn = 0;
        for (uint slot = 0; slot < threads * perThread; slot++)
        {
            ulong baseAddress = DeviceHarness.FaultQueueBase + (slot * 32UL);
            ulong tag = h.Memory.Qword(baseAddress + 16);
            bool whole = h.Memory.Qword(baseAddress + 24) == ~tag && (h.Memory.Qword(baseAddress) >> 40) == (tag & 0xFF_FFFF);
            torn += whole ? 0 : 1;
            seen.Add(tag);
        }

        Assert.Multiple(() =>
        {
            Assert.That(h.Device.Read32(0x34), Is.EqualTo((uint)(threads * perThread)), "fqt counts every record");
            Assert.That(torn, Is.Zero, "every record whole");
            Assert.That(seen, Has.Count.EqualTo(threads * perThread), "every record present once");
        });
    }

    [Test]
    [Category("Stress")]
    public void Concurrent_writers_and_a_consumer_through_a_small_wrapping_queue()
    {
        using var h = new DeviceHarness(slowWrites: true); // records land in two halves with a yield between
        h.EnableFaultQueue(log2SizeMinus1: 3); // 16 entries
        const int threads = 3;
        var produced = new int[threads];
        var consumed = new List<ulong>();
        int writersDone = 0;
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(1);
        var consumer = new Thread(() =>
        {
            uint head = 0;
            while (true)
            {
                bool done = Volatile.Read(ref writersDone) == threads;
                uint tail = h.Device.Read32(0x34);
                while (head != tail)
                {
                    ulong baseAddress = DeviceHarness.FaultQueueBase + (head * 32UL);
                    ulong tag = h.Memory.Qword(baseAddress + 16);
                    consumed.Add(h.Memory.Qword(baseAddress + 24) == ~tag ? tag : ulong.MaxValue);
                    head = (head + 1) & 15;
                }

                h.Device.Write32(0x30, head);
                if ((h.Device.Read32(0x4C) & 0x200) != 0)
                {
                    h.Device.Write32(0x4C, 0x1 | 0x200); // overflowed: clear fqof and go on
                }

                if (done && head == h.Device.Read32(0x34))
                {
                    return;
                }
            }
        });
        consumer.Start();
        var workers = new Thread[threads];
        for (int t = 0; t < threads; t++)
        {
            int id = t;
            workers[t] = new Thread(() =>
            {
                // Until the deadline (about a second): each writer's tags count up from 0; a record dropped
                // because the queue was full is offered again once the consumer has made room.
                int i = 0;
                for (; DateTime.UtcNow < deadline; i++)
                {
                    ulong tag = ((ulong)id << 32) | (uint)i;
                    while (h.Device.Report(0x105, tag, ~tag) != FaultReportOutcome.Written)
                    {
                        Thread.Yield();
                    }
                }

                produced[id] = i;
                Interlocked.Increment(ref writersDone);
            });
            workers[t].Start();
        }

        foreach (Thread worker in workers)
        {
            worker.Join();
        }

        Assert.That(consumer.Join(TimeSpan.FromSeconds(10)), Is.True, "consumer drained the queue");
        Assert.Multiple(() =>
        {
            Assert.That(consumed, Does.Not.Contain(ulong.MaxValue), "no torn record was ever visible below fqt");
            Assert.That(consumed, Is.Unique, "no record seen twice");
            Assert.That(consumed, Has.Count.EqualTo(produced.Sum()), "every record written was consumed");
            for (int t = 0; t < threads; t++)
            {
                var mine = consumed.Where(tag => (tag >> 32) == (ulong)t).ToList();
                Assert.That(mine, Is.Ordered, $"writer {t}'s records appear in the order it produced them");
            }
        });
    }
}

internal static class FaultReportExtensions
{
    /// <summary>Queues a record as a translation would (dword1, custom/reserved, is 0).</summary>
    public static FaultReportOutcome Report(this RiscVIommu device, ulong dword0, ulong iotval, ulong iotval2) =>
        device.ReportFault(new FaultRecord(dword0, 0, iotval, iotval2));
}

/// <summary>The page-request queue (spec "Page-Request-Queue (PQ)").</summary>
public class DevicePageRequestQueueTests
{
    private const ulong PageRequestQueueBase = 0x8000_4000;

    [Test]
    public void Page_requests_are_queued_bit_exact_and_overflow_sets_pqof()
    {
        using var h = new DeviceHarness();
        h.Device.Write64(0x38, ((PageRequestQueueBase >> 12) << 10) | 1); // 4 entries: 3 usable
        h.Device.Write32(0x50, 0x3);                                       // pqen, pie
        h.Device.Write32(0x08, 0x2);                                       // wired interrupts: no MSI
        // DID 0x123456, PV, PID 0xABCDE, PRIV, EXEC; page 0x7FFF_F000, PRG index 0x1A5, R, W, L.
        var message = PageRequest.Create(0x123456, true, 0xABCDE, true, true, 0x7FFF_F000, 0x1A5, r: true, w: true, l: true);
        Assert.That(h.Device.ReportPageRequest(message), Is.EqualTo(FaultReportOutcome.Written), "queued");
        Assert.Multiple(() =>
        {
            // dword0: PID << 12 = 0xABCD_E000, PV|PRIV|EXEC bits 32-34 = 0x7_0000_0000, DID << 40.
            // payload: 0x7FFF_F000 | 0x1A5 << 3 (0xD28) | L W R (0x7) = 0x7FFF_FD2F.
            Assert.That(Convert.ToHexString(h.Memory.GetSpan(PageRequestQueueBase, 16)),
                Is.EqualTo("00E0CDAB07563412" + "2FFDFF7F00000000"), "16-byte record");
            Assert.That(h.Device.Read32(0x44), Is.EqualTo(1u), "pqt advanced");
            Assert.That(h.Device.Read32(0x54) & 0x8, Is.EqualTo(0x8u), "ipsr.pip");
        });

        h.Device.ReportPageRequest(message);
        h.Device.ReportPageRequest(message);
        Assert.Multiple(() =>
        {
            Assert.That(h.Device.ReportPageRequest(message), Is.EqualTo(FaultReportOutcome.Overflow), "fourth: full");
            Assert.That(h.Device.Read32(0x50) & 0x200, Is.EqualTo(0x200u), "pqof");
            Assert.That(h.Device.ReportPageRequest(message), Is.EqualTo(FaultReportOutcome.Discarded), "discarded while pqof");
            Assert.That(h.Device.Read32(0x44), Is.EqualTo(3u), "pqt stopped at 3");
        });
    }
}
