using FastIommu.Formats.RiscV;
using FastIommu.Hardware;
using FastIommu.Memory;
using FastIommu.Tests.Support;

namespace FastIommu.Tests.Hardware.Device;

/// <summary>Memory that counts the writes at one address and can throw on the next write at another.</summary>
internal sealed class WatchedMemory(IMemoryAccess inner) : IMemoryAccess
{
    private int _writes;

    public ulong CountedAddress { get; set; } = ulong.MaxValue;

    public ulong ThrowAtAddress { get; set; } = ulong.MaxValue;

    public int Writes => Volatile.Read(ref _writes);

    public bool TryRead64(ulong pa, out ulong value) => inner.TryRead64(pa, out value);

    public bool TryWrite64(ulong pa, ulong value) => inner.TryWrite64(pa, value);

    public bool TryCompareExchange64(ulong pa, ulong expected, ulong desired, out ulong observed) =>
        inner.TryCompareExchange64(pa, expected, desired, out observed);

    public bool TryRead(ulong pa, Span<byte> destination) => inner.TryRead(pa, destination);

    public bool TryWrite(ulong pa, ReadOnlySpan<byte> source)
    {
        if (pa == ThrowAtAddress)
        {
            ThrowAtAddress = ulong.MaxValue;
            throw new InvalidOperationException($"the emulator's bus failed at 0x{pa:x}");
        }

        if (pa == CountedAddress)
        {
            Interlocked.Increment(ref _writes);
        }

        return inner.TryWrite(pa, source);
    }
}

/// <summary>Device races that need one exact preemption, forced with <see cref="PausePoint"/>: the MSI mask against a
/// message raised by a translation thread, and a fault-queue writer whose memory throws.</summary>
public class DeviceInterleavingTests
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(10);
    private const ulong MsiAddress = 0x8000_3100;

    /// <summary>A device (ddtp Off after reset: every translation faults with cause 256) over watched memory, with
    /// the fault queue on and fie set, so a translation's fault raises fip and sends vector 0's message.</summary>
    private sealed class Bed : IDisposable
    {
        public Bed()
        {
            Memory = PhysicalMemory.Allocate(0x10_0000, DeviceHarness.MemoryBase);
            Watched = new WatchedMemory(new PhysicalMemoryAccess(Memory)) { CountedAddress = MsiAddress };
            Device = new RiscVIommu(Watched, new Capabilities(DeviceHarness.Capabilities));
            Device.Write64(0x28, ((DeviceHarness.FaultQueueBase >> 12) << 10) | 5);   // fqb: 64 records
            Device.Write32(0x4C, 0x3);                                                  // fqcsr: fqen, fie
            Device.Write64(0x300, MsiAddress);                                          // msi_addr_0 (fiv = 0)
            Device.Write32(0x308, 0x1234);                                              // msi_data_0
        }

        public PhysicalMemory Memory { get; }

        public WatchedMemory Watched { get; }

        public RiscVIommu Device { get; }

        public TranslationResult Fault() => Device.Translate(new TranslationRequest(1, 0x5000, AccessType.Read));

        public void Mask(bool masked) => Device.Write32(0x30C, masked ? 1u : 0u);

        public void Dispose() => Memory.Dispose();
    }

    private static Thread Start(Action action)
    {
        var thread = new Thread(() => action());
        return thread;
    }

    [Test]
    public void Msi_raised_while_an_unmask_write_runs_between_its_mask_read_and_pending_set_is_sent_once()
    {
        // Interleaving: the translation thread reads msi_vec_ctl_0.M = 1 (Msi.MaskSeen) and is held before it marks
        // the message pending; the unmask write runs to completion (nothing pending yet: it sends nothing); then the
        // translation thread goes on.
        using var bed = new Bed();
        bed.Mask(true);
        var translation = Start(() => bed.Fault());
        using var pause = PausePoint.ArmFor("Msi.MaskSeen", translation.ManagedThreadId);
        translation.Start();
        pause.WaitUntilHeld();
        bed.Mask(false);
        pause.Release();
        Assert.That(translation.Join(Limit), Is.True, "the translation finishes");
        Assert.That(bed.Watched.Writes, Is.EqualTo(1),
            "the vector ended unmasked with a message raised before the unmask: exactly one message must be sent");
    }

    [Test]
    public void Msi_pending_set_before_an_unmask_write_is_sent_once_by_the_unmask()
    {
        // Interleaving: the translation thread has marked the message pending (Msi.PendingSet) and is held; the unmask
        // write runs to completion and sends it; the translation thread must not send it again.
        using var bed = new Bed();
        bed.Mask(true);
        var translation = Start(() => bed.Fault());
        using var pause = PausePoint.ArmFor("Msi.PendingSet", translation.ManagedThreadId);
        translation.Start();
        pause.WaitUntilHeld();
        bed.Mask(false);
        Assert.That(bed.Watched.Writes, Is.EqualTo(1), "the unmask sent the pending message");
        pause.Release();
        Assert.That(translation.Join(Limit), Is.True, "the translation finishes");
        Assert.That(bed.Watched.Writes, Is.EqualTo(1), "and the translation thread did not send it a second time");
    }

    [Test]
    public void Msi_raised_while_an_unmask_write_is_between_its_control_write_and_pending_clear_is_sent_once()
    {
        // Interleaving: the translation thread reads M = 1 and is held (Msi.MaskSeen); the unmask write stores M = 0
        // and is held before it takes the pending bit (Msi.Unmasked); the translation thread goes on to the end,
        // then the unmask write does.
        using var bed = new Bed();
        bed.Mask(true);
        var translation = Start(() => bed.Fault());
        var unmask = Start(() => bed.Mask(false));
        using var seen = PausePoint.ArmFor("Msi.MaskSeen", translation.ManagedThreadId);
        using var unmasked = PausePoint.ArmFor("Msi.Unmasked", unmask.ManagedThreadId);
        translation.Start();
        seen.WaitUntilHeld();
        unmask.Start();
        unmasked.WaitUntilHeld();
        seen.Release();
        Assert.That(translation.Join(Limit), Is.True, "the translation finishes while the unmask write is held");
        unmasked.Release();
        Assert.That(unmask.Join(Limit), Is.True, "the unmask write finishes");
        Assert.That(bed.Watched.Writes, Is.EqualTo(1), "exactly one message, whichever side sends it");
    }

    [Test]
    public void A_fault_queue_write_that_throws_leaves_the_queue_usable()
    {
        using var bed = new Bed();
        bed.Watched.ThrowAtAddress = DeviceHarness.FaultQueueBase;     // slot 0
        Assert.That(() => bed.Fault(), Throws.InvalidOperationException, "the memory's own exception reaches the caller");
        Assert.That(bed.Device.Read32(0x4C) & 0x100u, Is.EqualTo(0x100u), "the record was not stored: fqmf, as for a memory fault");
        Assert.That(bed.Device.Read32(0x34), Is.Zero, "fqt did not move");

        // A later report must not wait forever for the lost writer's turn; neither may clearing fqmf or fqen.
        var later = Task.Run(() => bed.Fault());
        Assert.That(later.Wait(Limit), Is.True, "a later report returns (discarded while fqmf is set)");
        var clear = Task.Run(() => bed.Device.Write32(0x4C, 0x3 | 0x100));  // fqmf is RW1C
        Assert.That(clear.Wait(Limit), Is.True, "clearing fqmf returns: no writer is left in flight");
        bed.Fault();
        Assert.That(bed.Device.Read32(0x34), Is.EqualTo(1u), "after fqmf is cleared, the next record is written at slot 0");
        var off = Task.Run(() => bed.Device.Write32(0x4C, 0));
        Assert.That(off.Wait(Limit), Is.True, "turning the queue off returns");
        Assert.That(bed.Device.Read32(0x4C) & 0x1_0000u, Is.Zero, "fqon reads 0");
    }

    [Test]
    public void The_fault_queue_state_word_counts_any_number_of_writers_in_flight_without_touching_its_flags()
    {
        // Every thread of the process could be a writer in flight: the count must not carry into fqon/fqof/fqmf.
        long flags = FaultQueue.StateOn | FaultQueue.StateOf | FaultQueue.StateMf;
        Assert.Multiple(() =>
        {
            Assert.That(FaultQueue.InflightMask & flags, Is.Zero, "the count and the flags do not overlap");
            Assert.That(FaultQueue.InflightMask & FaultQueue.ReserveMask, Is.Zero, "nor the count and the reservation index");
            Assert.That(unchecked((ulong)FaultQueue.InflightMask) / FaultQueue.InflightOne, Is.GreaterThanOrEqualTo((1UL << 24) - 1),
                "room for at least 2^24 - 1 writers in flight (65536 overflowed a 16-bit count into fqon)");
        });
    }
}
