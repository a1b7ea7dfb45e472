using System.Runtime.InteropServices;

namespace FastIommu.Formats.RiscV;

/// <summary>
/// The MSI page table pointer (<c>DC.msiptp</c>, extended device-context doubleword 4). IOMMU spec,
/// "MSI page table pointer (msiptp)".
/// </summary>
/// <remarks>
/// <code>
///  63    60 59                 44 43                                          0
/// +--------+---------------------+---------------------------------------------+
/// |  MODE  |      reserved       |                    PPN                      |
/// +--------+---------------------+---------------------------------------------+
///     4             16                                 44
/// </code>
/// MODE: 0 Off, 1 Flat, 2-13 reserved, 14-15 custom.
/// </remarks>
[StructLayout(LayoutKind.Sequential, Size = 8)]
public readonly struct Msiptp : IEquatable<Msiptp>
{
    public const int PpnShift = 0;
    public const int PpnBits = 44;
    public const int ReservedShift = PpnShift + PpnBits;   // 44
    public const int ReservedBits = 16;
    public const int ModeShift = ReservedShift + ReservedBits; // 60
    public const int ModeBits = 4;

    public const ulong PpnMask = ((1UL << PpnBits) - 1) << PpnShift;
    public const ulong ReservedMask = ((1UL << ReservedBits) - 1) << ReservedShift;
    public const ulong ModeMask = ((1UL << ModeBits) - 1) << ModeShift;

    /// <summary>The raw 64-bit field.</summary>
    public readonly ulong Value;

    public Msiptp(ulong value) => Value = value;

    /// <summary>PPN, bits 43:0: root of the MSI page table (a supervisor PPN).</summary>
    public ulong Ppn => (Value & PpnMask) >> PpnShift;

    /// <summary>MODE, bits 63:60 (raw encoding).</summary>
    public MsiptpMode Mode => (MsiptpMode)((Value & ModeMask) >> ModeShift);

    public ulong RootAddress => Ppn << 12;

    /// <summary>MODE is 2-13 (reserved for standard use).</summary>
    public bool IsModeReserved => (byte)Mode is >= 2 and <= 13;

    public ulong Reserved => Value & ReservedMask;
    public bool HasReservedBitsSet => (Value & ReservedMask) != 0;

    public Msiptp WithPpn(ulong ppn) => new((Value & ~PpnMask) | ((ppn << PpnShift) & PpnMask));
    public Msiptp WithMode(MsiptpMode mode) => new((Value & ~ModeMask) | (((ulong)mode << ModeShift) & ModeMask));

    public bool Equals(Msiptp other) => Value == other.Value;
    public override bool Equals(object? obj) => obj is Msiptp other && Equals(other);
    public override int GetHashCode() => Value.GetHashCode();
    public static bool operator ==(Msiptp left, Msiptp right) => left.Equals(right);
    public static bool operator !=(Msiptp left, Msiptp right) => !left.Equals(right);

    public override string ToString() =>
        $"msiptp 0x{Value:x16} mode={Mode} ppn=0x{Ppn:x}{(HasReservedBitsSet ? $" RESERVED=0x{Reserved:x}" : "")}";
}

/// <summary>msiptp.MODE encodings.</summary>
public enum MsiptpMode : byte
{
    /// <summary>0: MSI address mask/pattern recognition is not performed.</summary>
    Off = 0,
    /// <summary>1: flat MSI page table.</summary>
    Flat = 1,
}
