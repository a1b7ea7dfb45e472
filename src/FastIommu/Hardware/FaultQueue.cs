using System.Buffers.Binary;
using FastIommu.Formats.RiscV;

namespace FastIommu.Hardware;

/// <summary>What happened to a fault record handed to the fault queue.</summary>
public enum FaultReportOutcome : byte
{
    /// <summary>Written at the old fqt; fqt advanced past it.</summary>
    Written,

    /// <summary>fqcsr.fqon is 0: nothing is recorded.</summary>
    QueueOff,

    /// <summary>The queue was full (fqt == fqh - 1): fqof is now set and the record discarded.</summary>
    Overflow,

    /// <summary>Storing the record faulted: fqmf is now set and the record discarded.</summary>
    MemoryFault,

    /// <summary>fqof or fqmf was already set (or set by an earlier record while this one was in flight): discarded.</summary>
    Discarded,

    /// <summary>The device context's tc.DTF suppressed the report (only for the causes the spec lets DTF suppress).</summary>
    Suppressed,
}

/// <summary>
/// The fault queue (spec "Fault/Event-Queue (FQ)"): <c>fqb</c>, <c>fqh</c>, <c>fqt</c>, <c>fqcsr</c> and the
/// record writer. Register writes run under the device lock; <see cref="Report"/> runs lock-free on the
/// translation threads.
/// </summary>
/// <remarks>
/// <code>
/// fqcsr: 31 28 27    18  17   16  15  10   9      8     7  2   1     0
///       +-----+--------+----+----+------+------+------+-----+-----+------+
///       |cust.|  rsvd  |busy|fqon| rsvd | fqof | fqmf | rsvd| fie | fqen |
///       +-----+--------+----+----+------+------+------+-----+-----+------+
/// </code>
/// Concurrent writers reserve slots with a compare-and-swap on one 64-bit state word that holds the reservation
/// index, the number of writers in flight and the fqon/fqof/fqmf bits, so a full queue or an error bit stops new
/// reservations atomically. Each writer stores its record into its own slot and then publishes fqt in slot order
/// (waiting for the writer before it), so software that sees fqt move also sees every record before it, whole
/// (spec: "the consumer that observes an update to the tail register must also observe all data produced").
/// A writer whose store faults (or whose memory throws: the exception then goes on to the caller) sets fqmf at its
/// turn and rewinds the reservation to its slot; the writers after it see fqmf and discard. Turning the queue off
/// or clearing fqof/fqmf waits until no writer is in flight.
/// </remarks>
internal sealed class FaultQueue
{
    public const uint Fqen = FqCsr.FqenMask;
    public const uint Fie = FqCsr.FieMask;
    public const uint Fqmf = FqCsr.FqmfMask;
    public const uint Fqof = FqCsr.FqofMask;
    public const uint Fqon = FqCsr.FqonMask;
    public const uint Busy = FqCsr.BusyMask;
    public const int RecordSize = QueueBase.FaultRecordEntrySize;

    // The state word: reservation index 31:0, fqon 32, fqof 33, fqmf 34, writers in flight 63:35. The count is
    // last so that it cannot carry into the flags: 29 bits, more than the threads a process can have (a 16-bit
    // count below the flags overflowed into fqon at 65536 writers).
    internal const long ReserveMask = 0xFFFF_FFFFL;
    internal const long StateOn = 1L << 32;
    internal const long StateOf = 1L << 33;
    internal const long StateMf = 1L << 34;
    internal const long InflightOne = 1L << 35;
    internal const long InflightMask = -InflightOne;

    private readonly RegisterFile _registers;
    private readonly IMemoryAccess _memory;
    private long _state;
    private ulong _fqb;
    private uint _fqh;
    private uint _fqt;
    private uint _control; // fqen, fie as written
    private long _written;
    private long _dropped;

    public FaultQueue(RegisterFile registers, IMemoryAccess memory)
    {
        _registers = registers;
        _memory = memory;
    }

    public ulong Fqb => Volatile.Read(ref _fqb);

    public uint Fqh => Volatile.Read(ref _fqh);

    public uint Fqt => Volatile.Read(ref _fqt);

    public uint Csr
    {
        get
        {
            long state = Volatile.Read(ref _state);
            uint csr = Volatile.Read(ref _control);
            csr |= (state & StateOn) != 0 ? Fqon : 0;
            csr |= (state & StateOf) != 0 ? Fqof : 0;
            csr |= (state & StateMf) != 0 ? Fqmf : 0;
            return csr;
        }
    }

    public bool Active => (Csr & (Fqen | Fqon)) != 0;

    /// <summary>The level part of ipsr.fip: fie and (fqof or fqmf). A new record is the edge part.</summary>
    public bool InterruptCondition => (Csr & Fie) != 0 && (Csr & (Fqof | Fqmf)) != 0;

    public bool InterruptEnabled => (Volatile.Read(ref _control) & Fie) != 0;

    public long RecordsWritten => Interlocked.Read(ref _written);

    public long RecordsDropped => Interlocked.Read(ref _dropped);

    private uint IndexMask => CommandQueue.QueueIndexMask(Fqb);

    /// <summary>fqb: LOG2SZ-1 4:0 and PPN 53:10 (WARL, limited by PAS). Ignored while the queue is enabled or on
    /// (UNSPECIFIED in the spec). Following the write, fqh bits 31:LOG2SZ are 0.</summary>
    public void WriteFqb(ulong value)
    {
        if (Active)
        {
            return;
        }

        ulong fqb = (value & 0x1F) | (value & _registers.PpnMask);
        Volatile.Write(ref _fqb, fqb);
        Volatile.Write(ref _fqh, Fqh & CommandQueue.QueueIndexMask(fqb));
    }

    /// <summary>fqh: only bits LOG2SZ-1:0 are writable.</summary>
    public void WriteFqh(uint value) => Volatile.Write(ref _fqh, value & IndexMask);

    /// <summary>fqcsr write: fqof/fqmf RW1C, fqen/fie RW. fqen 0→1 zeroes fqt, fqof, fqmf and turns the queue on;
    /// 1→0 turns it off once the records in flight are written (so fqon reading 0 means no writes in flight).</summary>
    public void WriteCsr(uint value)
    {
        uint control = Volatile.Read(ref _control);
        bool enable = (value & Fqen) != 0;
        long clear = ((value & Fqof) != 0 ? StateOf : 0) | ((value & Fqmf) != 0 ? StateMf : 0);
        if ((Volatile.Read(ref _state) & clear) != 0)
        {
            // While fqof or fqmf is set nobody can reserve; wait for the writers that reserved before it.
            WaitForWritersInFlight();
            Interlocked.And(ref _state, ~clear);
        }

        if (enable && (control & Fqen) == 0)
        {
            // Off before this write, and turning off waited for the writers: nobody is in flight.
            Volatile.Write(ref _fqt, 0);
            Volatile.Write(ref _state, StateOn);
        }
        else if (!enable && (control & Fqen) != 0)
        {
            // Stop new reservations, then let the ones in flight finish: fqon reads 0 only after that.
            Interlocked.And(ref _state, ~StateOn);
            WaitForWritersInFlight();
        }

        Volatile.Write(ref _control, (enable ? Fqen : 0) | (value & Fie));
    }

    private void WaitForWritersInFlight()
    {
        var spin = new SpinWait();
        while ((Volatile.Read(ref _state) & InflightMask) != 0)
        {
            spin.SpinOnce();
        }
    }

    /// <summary>Queues one 32-byte fault record (spec "Fault-queue record", <see cref="FaultRecord"/>), each doubleword
    /// in the byte order fctl.BE selects. Thread-safe, lock-free.</summary>
    public FaultReportOutcome Report(in FaultRecord faultRecord)
    {
        long state;
        uint slot;
        while (true)
        {
            state = Volatile.Read(ref _state);
            if ((state & StateOn) == 0)
            {
                return FaultReportOutcome.QueueOff;
            }

            if ((state & (StateOf | StateMf)) != 0)
            {
                Interlocked.Increment(ref _dropped);
                return FaultReportOutcome.Discarded;
            }

            uint mask = IndexMask;
            slot = (uint)(state & ReserveMask);
            uint next = (slot + 1) & mask;
            if (next == (Fqh & mask))
            {
                // Full: "fqt == fqh - 1". Set fqof unless the state moved under us.
                if (Interlocked.CompareExchange(ref _state, state | StateOf, state) == state)
                {
                    Interlocked.Increment(ref _dropped);
                    return FaultReportOutcome.Overflow;
                }

                continue;
            }

            long reserved = (state & ~ReserveMask) + InflightOne | next;
            if (Interlocked.CompareExchange(ref _state, reserved, state) == state)
            {
                break;
            }
        }

        Span<byte> record = stackalloc byte[RecordSize];
        bool bigEndian = _registers.BigEndian;
        WriteDword(record, faultRecord.Dword0, bigEndian);
        WriteDword(record[FaultRecord.Dword1Offset..], faultRecord.Dword1, bigEndian);
        WriteDword(record[FaultRecord.IotvalOffset..], faultRecord.Iotval, bigEndian);
        WriteDword(record[FaultRecord.Iotval2Offset..], faultRecord.Iotval2, bigEndian);
        bool stored;
        try
        {
            stored = _memory.TryWrite(CommandQueue.QueueAddress(Fqb) + ((ulong)slot * RecordSize), record);
        }
        catch
        {
            // The memory threw (a bug or a bus error of the emulator's): the record is not stored. Leave the state
            // as a memory fault does, so the writers after this one and turning the queue off do not wait forever
            // for this slot, then let the exception go on.
            Publish(slot, stored: false);
            throw;
        }

        return Publish(slot, stored);
    }

    /// <summary>Publishes the record in <paramref name="slot"/> (or, when it was not stored, sets fqmf) at its turn,
    /// and leaves: the writer's part after the store.</summary>
    private FaultReportOutcome Publish(uint slot, bool stored)
    {
        // Publish in slot order: wait until every earlier record is published (or one of them faulted).
        var spin = new SpinWait();
        while (Volatile.Read(ref _fqt) != slot)
        {
            if ((Volatile.Read(ref _state) & StateMf) != 0)
            {
                Interlocked.Add(ref _state, -InflightOne);
                Interlocked.Increment(ref _dropped);
                return FaultReportOutcome.Discarded;
            }

            spin.SpinOnce();
        }

        if (stored)
        {
            // Release store: the record bytes are visible before the tail that covers them.
            Volatile.Write(ref _fqt, (slot + 1) & IndexMask);
            Interlocked.Add(ref _state, -InflightOne);
            Interlocked.Increment(ref _written);
            return FaultReportOutcome.Written;
        }

        // Our store faulted: set fqmf, leave, and rewind the reservation to our slot so fqt stays where it is.
        while (true)
        {
            long current = Volatile.Read(ref _state);
            long faulted = ((current & ~ReserveMask) - InflightOne) | StateMf | slot;
            if (Interlocked.CompareExchange(ref _state, faulted, current) == current)
            {
                Interlocked.Increment(ref _dropped);
                return FaultReportOutcome.MemoryFault;
            }
        }
    }

    private static void WriteDword(Span<byte> destination, ulong value, bool bigEndian)
    {
        if (bigEndian)
        {
            BinaryPrimitives.WriteUInt64BigEndian(destination, value);
        }
        else
        {
            BinaryPrimitives.WriteUInt64LittleEndian(destination, value);
        }
    }
}
