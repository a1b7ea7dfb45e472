using System.Runtime.InteropServices;

namespace FastIommu.Formats.RiscV;

/// <summary>
/// The interrupt pending status register (<c>ipsr</c>, offset 0x54, 32 bits, RW1C). IOMMU spec,
/// "Interrupt pending status register (ipsr)".
/// </summary>
/// <remarks>
/// <code>
///  31              16 15       8 7        4   3     2      1     0
/// +------------------+----------+----------+-----+------+-----+-----+
/// |     reserved     |  custom  | reserved | pip | pmip | fip | cip |
/// +------------------+----------+----------+-----+------+-----+-----+
///          16             8          4        1     1      1     1
/// </code>
/// </remarks>
[StructLayout(LayoutKind.Sequential, Size = 4)]
public readonly struct Ipsr : IEquatable<Ipsr>
{
    public const int CipBit = 0;
    public const int FipBit = CipBit + 1;    // 1
    public const int PmipBit = FipBit + 1;   // 2
    public const int PipBit = PmipBit + 1;   // 3
    public const int Reserved0Shift = PipBit + 1; // 4
    public const int Reserved0Bits = 4;
    public const int CustomShift = Reserved0Shift + Reserved0Bits; // 8
    public const int CustomBits = 8;
    public const int Reserved1Shift = CustomShift + CustomBits;    // 16
    public const int Reserved1Bits = 16;

    public const uint CipMask = 1U << CipBit;
    public const uint FipMask = 1U << FipBit;
    public const uint PmipMask = 1U << PmipBit;
    public const uint PipMask = 1U << PipBit;
    public const uint CustomMask = ((1U << CustomBits) - 1) << CustomShift;
    /// <summary>Bits 7:4 and 31:16.</summary>
    public const uint ReservedMask = (((1U << Reserved0Bits) - 1) << Reserved0Shift) | (((1U << Reserved1Bits) - 1) << Reserved1Shift);

    public readonly uint Value;

    public Ipsr(uint value) => Value = value;

    /// <summary>cip: command-queue interrupt pending.</summary>
    public bool Cip => (Value & CipMask) != 0;
    /// <summary>fip: fault-queue interrupt pending.</summary>
    public bool Fip => (Value & FipMask) != 0;
    /// <summary>pmip: performance-monitoring interrupt pending.</summary>
    public bool Pmip => (Value & PmipMask) != 0;
    /// <summary>pip: page-request-queue interrupt pending.</summary>
    public bool Pip => (Value & PipMask) != 0;
    public uint Custom => (Value & CustomMask) >> CustomShift;
    public uint Reserved => Value & ReservedMask;
    public bool HasReservedBitsSet => (Value & ReservedMask) != 0;

    private Ipsr With(uint mask, bool on) => new(on ? Value | mask : Value & ~mask);
    public Ipsr WithCip(bool v) => With(CipMask, v);
    public Ipsr WithFip(bool v) => With(FipMask, v);
    public Ipsr WithPmip(bool v) => With(PmipMask, v);
    public Ipsr WithPip(bool v) => With(PipMask, v);
    public Ipsr WithCustom(uint custom) => new((Value & ~CustomMask) | ((custom << CustomShift) & CustomMask));

    public bool Equals(Ipsr other) => Value == other.Value;
    public override bool Equals(object? obj) => obj is Ipsr other && Equals(other);
    public override int GetHashCode() => Value.GetHashCode();
    public static bool operator ==(Ipsr left, Ipsr right) => left.Equals(right);
    public static bool operator !=(Ipsr left, Ipsr right) => !left.Equals(right);

    public override string ToString() =>
        $"ipsr 0x{Value:x8}{(Cip ? " cip" : "")}{(Fip ? " fip" : "")}{(Pmip ? " pmip" : "")}{(Pip ? " pip" : "")}{(HasReservedBitsSet ? $" RESERVED=0x{Reserved:x}" : "")}";
}
