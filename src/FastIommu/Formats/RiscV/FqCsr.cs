using System.Runtime.InteropServices;
using System.Text;

namespace FastIommu.Formats.RiscV;

/// <summary>
/// The fault-queue CSR (<c>fqcsr</c>, offset 0x4C, 32 bits). IOMMU spec, "Fault queue CSR (fqcsr)".
/// </summary>
/// <remarks>
/// <code>
///  31    28 27      18  17    16  15      10    9      8   7      2   1     0
/// +--------+----------+----+----+----------+------+------+--------+-----+------+
/// | custom | reserved |busy|fqon| reserved | fqof | fqmf |reserved| fie | fqen |
/// +--------+----------+----+----+----------+------+------+--------+-----+------+
///     4        10       1    1       6        1      1       6       1     1
/// </code>
/// fqen, fie: RW. fqmf, fqof: RW1C. fqon, busy: RO.
/// </remarks>
[StructLayout(LayoutKind.Sequential, Size = 4)]
public readonly struct FqCsr : IEquatable<FqCsr>
{
    public const int FqenBit = 0;
    public const int FieBit = FqenBit + 1;              // 1
    public const int Reserved0Shift = FieBit + 1;       // 2
    public const int Reserved0Bits = 6;
    public const int FqmfBit = Reserved0Shift + Reserved0Bits; // 8
    public const int FqofBit = FqmfBit + 1;            // 9
    public const int Reserved1Shift = FqofBit + 1;     // 10
    public const int Reserved1Bits = 6;
    public const int FqonBit = Reserved1Shift + Reserved1Bits; // 16
    public const int BusyBit = FqonBit + 1;             // 17
    public const int Reserved2Shift = BusyBit + 1;      // 18
    public const int Reserved2Bits = 10;
    public const int CustomShift = Reserved2Shift + Reserved2Bits; // 28
    public const int CustomBits = 4;

    public const uint FqenMask = 1U << FqenBit;
    public const uint FieMask = 1U << FieBit;
    public const uint FqmfMask = 1U << FqmfBit;
    public const uint FqofMask = 1U << FqofBit;
    public const uint FqonMask = 1U << FqonBit;
    public const uint BusyMask = 1U << BusyBit;
    public const uint CustomMask = ((1U << CustomBits) - 1) << CustomShift;
    /// <summary>The write-1-to-clear bits (also the error bits that stop recording).</summary>
    public const uint Rw1cMask = FqmfMask | FqofMask;
    /// <summary>Bits 7:2, 15:10 and 27:18.</summary>
    public const uint ReservedMask = (((1U << Reserved0Bits) - 1) << Reserved0Shift) | (((1U << Reserved1Bits) - 1) << Reserved1Shift) | (((1U << Reserved2Bits) - 1) << Reserved2Shift);

    public readonly uint Value;

    public FqCsr(uint value) => Value = value;

    /// <summary>fqen: fault-queue enabled.</summary>
    public bool Fqen => (Value & FqenMask) != 0;
    /// <summary>fie: fault-queue interrupt enable.</summary>
    public bool Fie => (Value & FieMask) != 0;
    /// <summary>fqmf: memory fault while writing a record.</summary>
    public bool Fqmf => (Value & FqmfMask) != 0;
    /// <summary>fqof: the queue overflowed.</summary>
    public bool Fqof => (Value & FqofMask) != 0;
    /// <summary>fqon: the queue is active.</summary>
    public bool Fqon => (Value & FqonMask) != 0;
    public bool Busy => (Value & BusyMask) != 0;
    public uint Custom => (Value & CustomMask) >> CustomShift;

    public uint Reserved => Value & ReservedMask;
    public bool HasReservedBitsSet => (Value & ReservedMask) != 0;

    private FqCsr With(uint mask, bool on) => new(on ? Value | mask : Value & ~mask);
    public FqCsr WithFqen(bool v) => With(FqenMask, v);
    public FqCsr WithFie(bool v) => With(FieMask, v);
    public FqCsr WithFqmf(bool v) => With(FqmfMask, v);
    public FqCsr WithFqof(bool v) => With(FqofMask, v);
    public FqCsr WithFqon(bool v) => With(FqonMask, v);
    public FqCsr WithBusy(bool v) => With(BusyMask, v);
    public FqCsr WithCustom(uint custom) => new((Value & ~CustomMask) | ((custom << CustomShift) & CustomMask));

    public bool Equals(FqCsr other) => Value == other.Value;
    public override bool Equals(object? obj) => obj is FqCsr other && Equals(other);
    public override int GetHashCode() => Value.GetHashCode();
    public static bool operator ==(FqCsr left, FqCsr right) => left.Equals(right);
    public static bool operator !=(FqCsr left, FqCsr right) => !left.Equals(right);

    private static readonly (uint Mask, string Name)[] Flags =
    [
        (FqenMask, "fqen"), (FieMask, "fie"), (FqmfMask, "fqmf"), (FqofMask, "fqof"), (FqonMask, "fqon"), (BusyMask, "busy"),
    ];

    public override string ToString()
    {
        var sb = new StringBuilder($"fqcsr 0x{Value:x8}");
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
