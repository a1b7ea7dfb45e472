using System.Runtime.InteropServices;

namespace FastIommu.Formats.RiscV;

/// <summary>
/// A queue-base register: <c>cqb</c> (0x18), <c>fqb</c> (0x28) or <c>pqb</c> (0x38). IOMMU spec, "Command-queue base
/// (cqb)", "Fault queue base (fqb)", "Page-request-queue base (pqb)" (same layout).
/// </summary>
/// <remarks>
/// <code>
///  63        54 53                                   10 9        5 4          0
/// +------------+---------------------------------------+----------+------------+
/// |  reserved  |                 PPN                   | reserved |  LOG2SZ-1  |
/// +------------+---------------------------------------+----------+------------+
///       10                       44                         5          5
/// </code>
/// The queue has 2^(LOG2SZ-1 + 1) entries (0 means 2). Entries: command 16 B, fault record 32 B, page request 16 B.
/// A queue larger than a page must be naturally aligned to its size.
/// </remarks>
[StructLayout(LayoutKind.Sequential, Size = 8)]
public readonly struct QueueBase : IEquatable<QueueBase>
{
    public const int Log2SzMinus1Shift = 0;
    public const int Log2SzMinus1Bits = 5;
    public const int Reserved0Shift = Log2SzMinus1Shift + Log2SzMinus1Bits; // 5
    public const int Reserved0Bits = 5;
    public const int PpnShift = Reserved0Shift + Reserved0Bits;             // 10
    public const int PpnBits = 44;
    public const int Reserved1Shift = PpnShift + PpnBits;                   // 54
    public const int Reserved1Bits = 10;

    public const ulong Log2SzMinus1Mask = ((1UL << Log2SzMinus1Bits) - 1) << Log2SzMinus1Shift;
    public const ulong PpnMask = ((1UL << PpnBits) - 1) << PpnShift;
    /// <summary>Bits 9:5 and 63:54 (WPRI).</summary>
    public const ulong ReservedMask = (((1UL << Reserved0Bits) - 1) << Reserved0Shift) | (((1UL << Reserved1Bits) - 1) << Reserved1Shift);

    public const int CommandEntrySize = 16;
    public const int FaultRecordEntrySize = 32;
    public const int PageRequestEntrySize = 16;

    /// <summary>The raw 64-bit register value.</summary>
    public readonly ulong Value;

    public QueueBase(ulong value) => Value = value;

    /// <summary>A queue of 2^<paramref name="log2Size"/> entries (1..32) at <paramref name="baseAddress"/>.</summary>
    public static QueueBase Create(ulong baseAddress, int log2Size)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(log2Size, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(log2Size, 32);
        return default(QueueBase).WithLog2SzMinus1((uint)(log2Size - 1)).WithPpn(baseAddress >> 12);
    }

    /// <summary>LOG2SZ-1, bits 4:0.</summary>
    public uint Log2SzMinus1 => (uint)((Value & Log2SzMinus1Mask) >> Log2SzMinus1Shift);

    /// <summary>LOG2SZ: log2 of the number of entries.</summary>
    public int Log2Size => (int)Log2SzMinus1 + 1;

    /// <summary>Number of entries: 2^LOG2SZ (2 .. 2^32).</summary>
    public ulong Entries => 1UL << Log2Size;

    /// <summary>Mask applied to head/tail indexes: Entries - 1.</summary>
    public uint IndexMask => (uint)(Entries - 1);

    /// <summary>PPN, bits 53:10.</summary>
    public ulong Ppn => (Value & PpnMask) >> PpnShift;

    public ulong BaseAddress => Ppn << 12;

    public ulong Reserved => Value & ReservedMask;
    public bool HasReservedBitsSet => (Value & ReservedMask) != 0;

    /// <summary>The base address is aligned as the spec requires for a queue of <see cref="Entries"/> entries
    /// of <paramref name="entrySize"/> bytes: 4 KiB, or the queue size when that is larger.</summary>
    public bool IsAligned(int entrySize)
    {
        ulong size = Entries * (ulong)entrySize;
        ulong alignment = size > 4096 ? size : 4096;
        return (BaseAddress & (alignment - 1)) == 0;
    }

    public QueueBase WithLog2SzMinus1(uint value) => new((Value & ~Log2SzMinus1Mask) | (((ulong)value << Log2SzMinus1Shift) & Log2SzMinus1Mask));
    public QueueBase WithPpn(ulong ppn) => new((Value & ~PpnMask) | ((ppn << PpnShift) & PpnMask));

    public bool Equals(QueueBase other) => Value == other.Value;
    public override bool Equals(object? obj) => obj is QueueBase other && Equals(other);
    public override int GetHashCode() => Value.GetHashCode();
    public static bool operator ==(QueueBase left, QueueBase right) => left.Equals(right);
    public static bool operator !=(QueueBase left, QueueBase right) => !left.Equals(right);

    public override string ToString() =>
        $"qb 0x{Value:x16} entries={Entries} base=0x{BaseAddress:x}{(HasReservedBitsSet ? $" RESERVED=0x{Reserved:x}" : "")}";
}
