using System.Runtime.InteropServices;
using FastIommu.Formats.RiscV;
using FastIommu.Memory;

namespace FastIommu.Driver;

/// <summary>The driver's side of the fault queue (spec "Fault/Event-Queue (FQ)"): records between <c>fqh</c> and
/// <c>fqt</c> are decoded (<see cref="FaultRecord"/>) and consumed by advancing <c>fqh</c>.</summary>
internal sealed class FaultQueueReader
{
    private readonly IIommuMmio _mmio;
    private readonly PhysicalMemory _memory;
    private readonly ulong _base;
    private readonly uint _mask;
    private readonly Lock _lock = new();

    public FaultQueueReader(IIommuMmio mmio, PhysicalMemory memory, ulong ringBase, int log2Entries)
    {
        _mmio = mmio;
        _memory = memory;
        _base = ringBase;
        _mask = (1u << log2Entries) - 1;
    }

    /// <summary>Takes the oldest record; false when the queue is empty.</summary>
    public bool TryRead(out FaultRecord record)
    {
        lock (_lock)
        {
            uint head = _mmio.Read32(RegisterOffsets.Fqh) & _mask;
            uint tail = _mmio.Read32(RegisterOffsets.Fqt) & _mask;
            if (head == tail)
            {
                record = default;
                return false;
            }

            // fqt covers only records completely written (the hardware publishes it after the record).
            Interlocked.MemoryBarrier();
            record = MemoryMarshal.Read<FaultRecord>(_memory.GetSpan(_base + ((ulong)head * FaultRecord.Size), FaultRecord.Size));
            _mmio.Write32(RegisterOffsets.Fqh, (head + 1) & _mask);
            return true;
        }
    }

    /// <summary>Takes up to <paramref name="records"/>.Length records, oldest first; returns how many.</summary>
    public int Read(Span<FaultRecord> records)
    {
        int n = 0;
        while (n < records.Length && TryRead(out records[n]))
        {
            n++;
        }

        return n;
    }

    /// <summary>fqof / fqmf as the hardware reports them; clears them (RW1C) when <paramref name="clear"/>.</summary>
    public FqCsr Status(bool clear)
    {
        var csr = new FqCsr(_mmio.Read32(RegisterOffsets.Fqcsr));
        if (clear && (csr.Value & FqCsr.Rw1cMask) != 0)
        {
            _mmio.Write32(RegisterOffsets.Fqcsr, (csr.Value & (FqCsr.FqenMask | FqCsr.FieMask)) | (csr.Value & FqCsr.Rw1cMask));
        }

        return csr;
    }
}
