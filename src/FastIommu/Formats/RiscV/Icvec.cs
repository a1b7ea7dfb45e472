using System.Runtime.InteropServices;

namespace FastIommu.Formats.RiscV;

/// <summary>
/// The interrupt-cause-to-vector register (<c>icvec</c>, offset 0x2F8, 64 bits). IOMMU spec,
/// "Interrupt-cause-to-vector register (icvec)".
/// </summary>
/// <remarks>
/// <code>
///  63                        32 31            16 15   12 11    8 7     4 3     0
/// +----------------------------+----------------+-------+-------+-------+-------+
/// |           custom           |    reserved    |  piv  | pmiv  |  fiv  |  civ  |
/// +----------------------------+----------------+-------+-------+-------+-------+
///              32                     16           4       4       4       4
/// </code>
/// </remarks>
[StructLayout(LayoutKind.Sequential, Size = 8)]
public readonly struct Icvec : IEquatable<Icvec>
{
    public const int CivShift = 0;
    public const int VectorBits = 4;
    public const int FivShift = CivShift + VectorBits;   // 4
    public const int PmivShift = FivShift + VectorBits;  // 8
    public const int PivShift = PmivShift + VectorBits;  // 12
    public const int ReservedShift = PivShift + VectorBits; // 16
    public const int ReservedBits = 16;
    public const int CustomShift = ReservedShift + ReservedBits; // 32
    public const int CustomBits = 32;

    public const ulong CivMask = 0xFUL << CivShift;
    public const ulong FivMask = 0xFUL << FivShift;
    public const ulong PmivMask = 0xFUL << PmivShift;
    public const ulong PivMask = 0xFUL << PivShift;
    public const ulong ReservedMask = ((1UL << ReservedBits) - 1) << ReservedShift;
    public const ulong CustomMask = unchecked(((1UL << CustomBits) - 1) << CustomShift);

    public readonly ulong Value;

    public Icvec(ulong value) => Value = value;

    /// <summary>civ, bits 3:0: vector of the command-queue interrupt.</summary>
    public uint Civ => (uint)((Value & CivMask) >> CivShift);
    /// <summary>fiv, bits 7:4: vector of the fault-queue interrupt.</summary>
    public uint Fiv => (uint)((Value & FivMask) >> FivShift);
    /// <summary>pmiv, bits 11:8: vector of the performance-monitoring interrupt.</summary>
    public uint Pmiv => (uint)((Value & PmivMask) >> PmivShift);
    /// <summary>piv, bits 15:12: vector of the page-request-queue interrupt.</summary>
    public uint Piv => (uint)((Value & PivMask) >> PivShift);
    public uint Custom => (uint)((Value & CustomMask) >> CustomShift);
    public ulong Reserved => Value & ReservedMask;
    public bool HasReservedBitsSet => (Value & ReservedMask) != 0;

    public Icvec WithCiv(uint v) => new((Value & ~CivMask) | (((ulong)v << CivShift) & CivMask));
    public Icvec WithFiv(uint v) => new((Value & ~FivMask) | (((ulong)v << FivShift) & FivMask));
    public Icvec WithPmiv(uint v) => new((Value & ~PmivMask) | (((ulong)v << PmivShift) & PmivMask));
    public Icvec WithPiv(uint v) => new((Value & ~PivMask) | (((ulong)v << PivShift) & PivMask));

    public bool Equals(Icvec other) => Value == other.Value;
    public override bool Equals(object? obj) => obj is Icvec other && Equals(other);
    public override int GetHashCode() => Value.GetHashCode();
    public static bool operator ==(Icvec left, Icvec right) => left.Equals(right);
    public static bool operator !=(Icvec left, Icvec right) => !left.Equals(right);

    public override string ToString() => $"icvec 0x{Value:x16} civ={Civ} fiv={Fiv} pmiv={Pmiv} piv={Piv}";
}
