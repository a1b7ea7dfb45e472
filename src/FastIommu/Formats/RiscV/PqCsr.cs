using System.Runtime.InteropServices;
using System.Text;

namespace FastIommu.Formats.RiscV;

/// <summary>
/// The page-request-queue CSR (<c>pqcsr</c>, offset 0x50, 32 bits). IOMMU spec, "Page-request-queue CSR (pqcsr)".
/// </summary>
/// <remarks>
/// <code>
///  31    28 27      18  17    16  15      10    9      8   7      2   1     0
/// +--------+----------+----+----+----------+------+------+--------+-----+------+
/// | custom | reserved |busy|pqon| reserved | pqof | pqmf |reserved| pie | pqen |
/// +--------+----------+----+----+----------+------+------+--------+-----+------+
///     4        10       1    1       6        1      1       6       1     1
/// </code>
/// pqen, pie: RW. pqmf, pqof: RW1C. pqon, busy: RO.
/// </remarks>
[StructLayout(LayoutKind.Sequential, Size = 4)]
public readonly struct PqCsr : IEquatable<PqCsr>
{
    public const int PqenBit = 0;
    public const int PieBit = PqenBit + 1;              // 1
    public const int Reserved0Shift = PieBit + 1;       // 2
    public const int Reserved0Bits = 6;
    public const int PqmfBit = Reserved0Shift + Reserved0Bits; // 8
    public const int PqofBit = PqmfBit + 1;            // 9
    public const int Reserved1Shift = PqofBit + 1;     // 10
    public const int Reserved1Bits = 6;
    public const int PqonBit = Reserved1Shift + Reserved1Bits; // 16
    public const int BusyBit = PqonBit + 1;             // 17
    public const int Reserved2Shift = BusyBit + 1;      // 18
    public const int Reserved2Bits = 10;
    public const int CustomShift = Reserved2Shift + Reserved2Bits; // 28
    public const int CustomBits = 4;

    public const uint PqenMask = 1U << PqenBit;
    public const uint PieMask = 1U << PieBit;
    public const uint PqmfMask = 1U << PqmfBit;
    public const uint PqofMask = 1U << PqofBit;
    public const uint PqonMask = 1U << PqonBit;
    public const uint BusyMask = 1U << BusyBit;
    public const uint CustomMask = ((1U << CustomBits) - 1) << CustomShift;
    /// <summary>The write-1-to-clear bits (also the error bits that stop recording).</summary>
    public const uint Rw1cMask = PqmfMask | PqofMask;
    /// <summary>Bits 7:2, 15:10 and 27:18.</summary>
    public const uint ReservedMask = (((1U << Reserved0Bits) - 1) << Reserved0Shift) | (((1U << Reserved1Bits) - 1) << Reserved1Shift) | (((1U << Reserved2Bits) - 1) << Reserved2Shift);

    public readonly uint Value;

    public PqCsr(uint value) => Value = value;

    /// <summary>pqen: page-request-queue enabled.</summary>
    public bool Pqen => (Value & PqenMask) != 0;
    /// <summary>pie: page-request-queue interrupt enable.</summary>
    public bool Pie => (Value & PieMask) != 0;
    /// <summary>pqmf: memory fault while writing a record.</summary>
    public bool Pqmf => (Value & PqmfMask) != 0;
    /// <summary>pqof: the queue overflowed.</summary>
    public bool Pqof => (Value & PqofMask) != 0;
    /// <summary>pqon: the queue is active.</summary>
    public bool Pqon => (Value & PqonMask) != 0;
    public bool Busy => (Value & BusyMask) != 0;
    public uint Custom => (Value & CustomMask) >> CustomShift;

    public uint Reserved => Value & ReservedMask;
    public bool HasReservedBitsSet => (Value & ReservedMask) != 0;

    private PqCsr With(uint mask, bool on) => new(on ? Value | mask : Value & ~mask);
    public PqCsr WithPqen(bool v) => With(PqenMask, v);
    public PqCsr WithPie(bool v) => With(PieMask, v);
    public PqCsr WithPqmf(bool v) => With(PqmfMask, v);
    public PqCsr WithPqof(bool v) => With(PqofMask, v);
    public PqCsr WithPqon(bool v) => With(PqonMask, v);
    public PqCsr WithBusy(bool v) => With(BusyMask, v);
    public PqCsr WithCustom(uint custom) => new((Value & ~CustomMask) | ((custom << CustomShift) & CustomMask));

    public bool Equals(PqCsr other) => Value == other.Value;
    public override bool Equals(object? obj) => obj is PqCsr other && Equals(other);
    public override int GetHashCode() => Value.GetHashCode();
    public static bool operator ==(PqCsr left, PqCsr right) => left.Equals(right);
    public static bool operator !=(PqCsr left, PqCsr right) => !left.Equals(right);

    private static readonly (uint Mask, string Name)[] Flags =
    [
        (PqenMask, "pqen"), (PieMask, "pie"), (PqmfMask, "pqmf"), (PqofMask, "pqof"), (PqonMask, "pqon"), (BusyMask, "busy"),
    ];

    public override string ToString()
    {
        var sb = new StringBuilder($"pqcsr 0x{Value:x8}");
        foreach (var (mask, name) in Flags)
        {
            if ((Value & mask) != 0)
            {
                sb.Append(' ').Append(name);
            }
        }

        return HasReservedBitsSet ? sb.Append($" RESERVED=0x{Reserved:x}").ToString() : sb.ToString();
    }
}
