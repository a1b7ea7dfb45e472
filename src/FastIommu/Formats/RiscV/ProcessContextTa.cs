using System.Runtime.InteropServices;

namespace FastIommu.Formats.RiscV;

/// <summary>
/// Translation attributes of a process context (<c>PC.ta</c>, doubleword 0). IOMMU spec,
/// "Process-context fields", "Translation attributes (ta)".
/// </summary>
/// <remarks>
/// <code>
///  63                            32 31                     12 11        3   2     1    0
/// +--------------------------------+-------------------------+-----------+-----+-----+---+
/// |            reserved            |          PSCID          |  reserved | SUM | ENS | V |
/// +--------------------------------+-------------------------+-----------+-----+-----+---+
///                32                            20                  9        1     1    1
/// </code>
/// A set reserved bit in a valid PC is "PDT entry misconfigured" (cause 267).
/// </remarks>
[StructLayout(LayoutKind.Sequential, Size = 8)]
public readonly struct ProcessContextTa : IEquatable<ProcessContextTa>
{
    public const int VBit = 0;
    public const int EnsBit = VBit + 1;     // 1
    public const int SumBit = EnsBit + 1;   // 2
    public const int Reserved0Shift = SumBit + 1;                 // 3
    public const int Reserved0Bits = 9;
    public const int PscidShift = Reserved0Shift + Reserved0Bits; // 12
    public const int PscidBits = 20;
    public const int Reserved1Shift = PscidShift + PscidBits;     // 32
    public const int Reserved1Bits = 32;

    public const ulong V = 1UL << VBit;
    public const ulong EnsMask = 1UL << EnsBit;
    public const ulong SumMask = 1UL << SumBit;
    public const ulong PscidMask = ((1UL << PscidBits) - 1) << PscidShift;
    /// <summary>Bits 11:3 and 63:32.</summary>
    public const ulong ReservedMask = (((1UL << Reserved0Bits) - 1) << Reserved0Shift) | unchecked(((1UL << Reserved1Bits) - 1) << Reserved1Shift);

    /// <summary>The raw 64-bit field.</summary>
    public readonly ulong Value;

    public ProcessContextTa(ulong value) => Value = value;

    public static ProcessContextTa Default => default;

    /// <summary>V: the PC is valid.</summary>
    public bool Valid => (Value & V) != 0;
    /// <summary>ENS: supervisor-privilege transactions are allowed with this process_id.</summary>
    public bool Ens => (Value & EnsMask) != 0;
    /// <summary>SUM: supervisor transactions may access pages with U = 1.</summary>
    public bool Sum => (Value & SumMask) != 0;
    /// <summary>PSCID, bits 31:12: process soft-context ID.</summary>
    public uint Pscid => (uint)((Value & PscidMask) >> PscidShift);

    public ulong Reserved => Value & ReservedMask;
    public bool HasReservedBitsSet => (Value & ReservedMask) != 0;

    public ProcessContextTa WithV(bool v) => new(v ? Value | V : Value & ~V);
    public ProcessContextTa WithEns(bool v) => new(v ? Value | EnsMask : Value & ~EnsMask);
    public ProcessContextTa WithSum(bool v) => new(v ? Value | SumMask : Value & ~SumMask);
    public ProcessContextTa WithPscid(uint pscid) => new((Value & ~PscidMask) | (((ulong)pscid << PscidShift) & PscidMask));

    public bool Equals(ProcessContextTa other) => Value == other.Value;
    public override bool Equals(object? obj) => obj is ProcessContextTa other && Equals(other);
    public override int GetHashCode() => Value.GetHashCode();
    public static bool operator ==(ProcessContextTa left, ProcessContextTa right) => left.Equals(right);
    public static bool operator !=(ProcessContextTa left, ProcessContextTa right) => !left.Equals(right);

    public override string ToString() =>
        $"pc.ta 0x{Value:x16} {(Valid ? "V" : "-")}{(Ens ? " ENS" : "")}{(Sum ? " SUM" : "")} pscid=0x{Pscid:x}{(HasReservedBitsSet ? $" RESERVED=0x{Reserved:x}" : "")}";
}
