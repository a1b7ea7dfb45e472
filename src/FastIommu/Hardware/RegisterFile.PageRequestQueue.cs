using System.Buffers.Binary;
using FastIommu.Formats.RiscV;

namespace FastIommu.Hardware;

/// <summary>
/// The page-request queue registers (spec "Page-Request-Queue (PQ)"): <c>pqb</c>, <c>pqh</c>, <c>pqt</c>,
/// <c>pqcsr</c>, present when capabilities.ATS is 1, and the record writer for the "Page Request" messages an
/// emulator hands in (<see cref="RiscVIommu.ReportPageRequest"/>). Everything runs under the device lock.
/// </summary>
/// <remarks>
/// <code>
/// pqcsr: 31 28 27    18  17   16  15  10   9      8     7  2   1     0
///       +-----+--------+----+----+------+------+------+-----+-----+------+
///       |cust.|  rsvd  |busy|pqon| rsvd | pqof | pqmf | rsvd| pie | pqen |
///       +-----+--------+----+----+------+------+------+-----+-----+------+
/// </code>
/// </remarks>
internal sealed class PageRequestQueue
{
    public const uint Pqen = PqCsr.PqenMask;
    public const uint Pie = PqCsr.PieMask;
    public const uint Pqmf = PqCsr.PqmfMask;
    public const uint Pqof = PqCsr.PqofMask;
    public const uint Pqon = PqCsr.PqonMask;
    public const uint Busy = PqCsr.BusyMask;

    private readonly RegisterFile _registers;
    private readonly IMemoryAccess _memory;
    private ulong _pqb;
    private uint _pqh;
    private uint _pqt;
    private uint _csr;

    public PageRequestQueue(RegisterFile registers, IMemoryAccess memory)
    {
        _registers = registers;
        _memory = memory;
    }

    public bool InterruptEnabled => (Csr & Pie) != 0;

    /// <summary>Writes a 16-byte record at pqb[pqt] and advances pqt. Off: nothing; pqof/pqmf set: discarded;
    /// full ("pqt == pqh - 1"): pqof; a faulting store: pqmf. (Spec "Page-Request-Queue (PQ)".)</summary>
    public FaultReportOutcome Report(in PageRequest message)
    {
        uint csr = Csr;
        if ((csr & Pqon) == 0)
        {
            return FaultReportOutcome.QueueOff;
        }

        if ((csr & (Pqof | Pqmf)) != 0)
        {
            return FaultReportOutcome.Discarded;
        }

        uint mask = CommandQueue.QueueIndexMask(Pqb);
        uint slot = Pqt;
        if (((slot + 1) & mask) == (Pqh & mask))
        {
            Volatile.Write(ref _csr, csr | Pqof);
            return FaultReportOutcome.Overflow;
        }

        Span<byte> record = stackalloc byte[PageRequest.Size];
        if (_registers.BigEndian)
        {
            BinaryPrimitives.WriteUInt64BigEndian(record, message.Dword0);
            BinaryPrimitives.WriteUInt64BigEndian(record[8..], message.Payload);
        }
        else
        {
            BinaryPrimitives.WriteUInt64LittleEndian(record, message.Dword0);
            BinaryPrimitives.WriteUInt64LittleEndian(record[8..], message.Payload);
        }

        if (!_memory.TryWrite(CommandQueue.QueueAddress(Pqb) + ((ulong)slot * PageRequest.Size), record))
        {
            Volatile.Write(ref _csr, csr | Pqmf);
            return FaultReportOutcome.MemoryFault;
        }

        Volatile.Write(ref _pqt, (slot + 1) & mask);
        return FaultReportOutcome.Written;
    }

    public ulong Pqb => Volatile.Read(ref _pqb);

    public uint Pqh => Volatile.Read(ref _pqh);

    public uint Pqt => Volatile.Read(ref _pqt);

    public uint Csr => Volatile.Read(ref _csr);

    public bool Active => (Csr & (Pqen | Pqon)) != 0;

    public bool InterruptCondition => (Csr & Pie) != 0 && (Csr & (Pqof | Pqmf)) != 0;

    /// <summary>pqb: as cqb (LOG2SZ-1 4:0, PPN 53:10); ignored while enabled or on; pqh bits 31:LOG2SZ become 0.</summary>
    public void WritePqb(ulong value)
    {
        if (Active)
        {
            return;
        }

        ulong pqb = (value & 0x1F) | (value & _registers.PpnMask);
        Volatile.Write(ref _pqb, pqb);
        Volatile.Write(ref _pqh, Pqh & CommandQueue.QueueIndexMask(pqb));
    }

    /// <summary>pqh: only bits LOG2SZ-1:0 are writable.</summary>
    public void WritePqh(uint value) => Volatile.Write(ref _pqh, value & CommandQueue.QueueIndexMask(Pqb));

    /// <summary>pqcsr: pqmf/pqof RW1C, pqen/pie RW; pqen 0→1 zeroes pqt, pqmf, pqof and turns the queue on.</summary>
    public void WriteCsr(uint value)
    {
        uint csr = Csr & ~(value & (Pqmf | Pqof));
        bool enable = (value & Pqen) != 0;
        if (enable && (csr & Pqen) == 0)
        {
            Volatile.Write(ref _pqt, 0);
            csr = (csr & ~(Pqmf | Pqof)) | Pqen | Pqon;
        }
        else if (!enable && (csr & Pqen) != 0)
        {
            csr &= ~(Pqen | Pqon);
        }

        csr = (value & Pie) != 0 ? csr | Pie : csr & ~Pie;
        Volatile.Write(ref _csr, csr);
    }
}
