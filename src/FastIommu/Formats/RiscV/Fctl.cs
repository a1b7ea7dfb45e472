using System.Runtime.InteropServices;

namespace FastIommu.Formats.RiscV;

/// <summary>
/// The features-control register (<c>fctl</c>, offset 0x08, 32 bits). IOMMU spec, "Features-control register (fctl)".
/// </summary>
/// <remarks>
/// <code>
///  31                16 15               3   2     1    0
/// +--------------------+------------------+-----+-----+----+
/// |       custom       |     reserved     | GXL | WSI | BE |
/// +--------------------+------------------+-----+-----+----+
///          16                  13            1     1    1
/// </code>
/// </remarks>
[StructLayout(LayoutKind.Sequential, Size = 4)]
public readonly struct Fctl : IEquatable<Fctl>
{
    public const int BeBit = 0;
    public const int WsiBit = BeBit + 1;       // 1
    public const int GxlBit = WsiBit + 1;      // 2
    public const int ReservedShift = GxlBit + 1; // 3
    public const int ReservedBits = 13;
    public const int CustomShift = ReservedShift + ReservedBits; // 16
    public const int CustomBits = 16;

    public const uint BeMask = 1U << BeBit;
    public const uint WsiMask = 1U << WsiBit;
    public const uint GxlMask = 1U << GxlBit;
    public const uint ReservedMask = ((1U << ReservedBits) - 1) << ReservedShift;
    public const uint CustomMask = ((1U << CustomBits) - 1) << CustomShift;

    /// <summary>The raw 32-bit register value.</summary>
    public readonly uint Value;

    public Fctl(uint value) => Value = value;

    /// <summary>BE: memory-resident structures and queues are big-endian.</summary>
    public bool Be => (Value & BeMask) != 0;
    /// <summary>WSI: interrupts are wire-signaled (else MSI).</summary>
    public bool Wsi => (Value & WsiMask) != 0;
    /// <summary>GXL: G-stage uses the RV32 scheme (Sv32x4).</summary>
    public bool Gxl => (Value & GxlMask) != 0;
    /// <summary>custom, bits 31:16.</summary>
    public uint Custom => (Value & CustomMask) >> CustomShift;

    public uint Reserved => Value & ReservedMask;
    public bool HasReservedBitsSet => (Value & ReservedMask) != 0;

    public Fctl WithBe(bool v) => new(v ? Value | BeMask : Value & ~BeMask);
    public Fctl WithWsi(bool v) => new(v ? Value | WsiMask : Value & ~WsiMask);
    public Fctl WithGxl(bool v) => new(v ? Value | GxlMask : Value & ~GxlMask);
    public Fctl WithCustom(uint custom) => new((Value & ~CustomMask) | ((custom << CustomShift) & CustomMask));

    public bool Equals(Fctl other) => Value == other.Value;
    public override bool Equals(object? obj) => obj is Fctl other && Equals(other);
    public override int GetHashCode() => Value.GetHashCode();
    public static bool operator ==(Fctl left, Fctl right) => left.Equals(right);
    public static bool operator !=(Fctl left, Fctl right) => !left.Equals(right);

    public override string ToString() =>
        $"fctl 0x{Value:x8}{(Be ? " BE" : "")}{(Wsi ? " WSI" : "")}{(Gxl ? " GXL" : "")}{(Custom != 0 ? $" custom=0x{Custom:x}" : "")}{(HasReservedBitsSet ? $" RESERVED=0x{Reserved:x}" : "")}";
}
