using System.Runtime.InteropServices;

namespace FastIommu.Formats.RiscV;

/// <summary>
/// A non-leaf entry of the device directory table (DDT) or process directory table (PDT): one 64-bit word
/// holding the PPN of the next-level table. IOMMU spec, "Non-leaf DDT entry" and "Non-leaf PDT entry"
/// (the two figures are identical).
/// </summary>
/// <remarks>
/// <code>
///  63        54 53                                   10 9          1  0
/// +------------+---------------------------------------+------------+---+
/// |  reserved  |                 PPN                   |  reserved  | V |
/// +------------+---------------------------------------+------------+---+
///       10                       44                          9        1
/// </code>
/// A set reserved bit in a valid entry is "DDT entry misconfigured" (cause 259) or
/// "PDT entry misconfigured" (cause 267); <see cref="HasReservedBitsSet"/> reports it.
/// </remarks>
[StructLayout(LayoutKind.Sequential, Size = 8)]
public readonly struct NonLeafEntry : IEquatable<NonLeafEntry>
{
    public const int VBit = 0;
    public const int Reserved0Shift = VBit + 1;             // 1
    public const int Reserved0Bits = 9;
    public const int PpnShift = Reserved0Shift + Reserved0Bits; // 10
    public const int PpnBits = 44;
    public const int Reserved1Shift = PpnShift + PpnBits;   // 54
    public const int Reserved1Bits = 10;

    public const ulong V = 1UL << VBit;
    public const ulong PpnMask = ((1UL << PpnBits) - 1) << PpnShift;
    /// <summary>Bits 9:1 and 63:54.</summary>
    public const ulong ReservedMask = (((1UL << Reserved0Bits) - 1) << Reserved0Shift) | (((1UL << Reserved1Bits) - 1) << Reserved1Shift);

    /// <summary>The raw 64-bit entry as it lies in memory.</summary>
    public readonly ulong Value;

    public NonLeafEntry(ulong value) => Value = value;

    public static NonLeafEntry Invalid => default;

    /// <summary>A valid entry pointing to the 4 KiB-aligned table at <paramref name="tablePa"/>.</summary>
    public static NonLeafEntry Pointing(ulong tablePa) => new(V | ((tablePa >> 12 << PpnShift) & PpnMask));

    /// <summary>V, bit 0.</summary>
    public bool Valid => (Value & V) != 0;

    /// <summary>PPN, bits 53:10: page number of the next-level table.</summary>
    public ulong Ppn => (Value & PpnMask) >> PpnShift;

    /// <summary>Physical (or, under a G-stage, guest-physical for the PDT) address of the next-level table.</summary>
    public ulong TableAddress => Ppn << 12;

    public ulong Reserved => Value & ReservedMask;
    public bool HasReservedBitsSet => (Value & ReservedMask) != 0;

    public NonLeafEntry WithValid(bool v) => new(v ? Value | V : Value & ~V);
    public NonLeafEntry WithPpn(ulong ppn) => new((Value & ~PpnMask) | ((ppn << PpnShift) & PpnMask));

    public bool Equals(NonLeafEntry other) => Value == other.Value;
    public override bool Equals(object? obj) => obj is NonLeafEntry other && Equals(other);
    public override int GetHashCode() => Value.GetHashCode();
    public static bool operator ==(NonLeafEntry left, NonLeafEntry right) => left.Equals(right);
    public static bool operator !=(NonLeafEntry left, NonLeafEntry right) => !left.Equals(right);

    public override string ToString() =>
        $"0x{Value:x16} {(Valid ? "V" : "-")} ppn=0x{Ppn:x}{(HasReservedBitsSet ? $" RESERVED=0x{Reserved:x}" : "")}";
}
