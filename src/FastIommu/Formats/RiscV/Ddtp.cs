using System.Runtime.InteropServices;

namespace FastIommu.Formats.RiscV;

/// <summary>
/// The device-directory-table pointer register (<c>ddtp</c>, offset 0x10). IOMMU spec, "Device-directory-table
/// pointer (ddtp)".
/// </summary>
/// <remarks>
/// <code>
///  63        54 53                                   10 9        5  4  3          0
/// +------------+---------------------------------------+----------+----+------------+
/// |  reserved  |                 PPN                   | reserved |busy| iommu_mode |
/// +------------+---------------------------------------+----------+----+------------+
///       10                       44                         5      1        4
/// </code>
/// iommu_mode: 0 Off, 1 Bare, 2 1LVL, 3 2LVL, 4 3LVL, 5-13 reserved, 14-15 custom.
/// </remarks>
[StructLayout(LayoutKind.Sequential, Size = 8)]
public readonly struct Ddtp : IEquatable<Ddtp>
{
    public const int IommuModeShift = 0;
    public const int IommuModeBits = 4;
    public const int BusyBit = IommuModeShift + IommuModeBits;      // 4
    public const int Reserved0Shift = BusyBit + 1;                 // 5
    public const int Reserved0Bits = 5;
    public const int PpnShift = Reserved0Shift + Reserved0Bits;    // 10
    public const int PpnBits = 44;
    public const int Reserved1Shift = PpnShift + PpnBits;          // 54
    public const int Reserved1Bits = 10;

    public const ulong IommuModeMask = ((1UL << IommuModeBits) - 1) << IommuModeShift;
    public const ulong BusyMask = 1UL << BusyBit;
    public const ulong PpnMask = ((1UL << PpnBits) - 1) << PpnShift;
    /// <summary>Bits 9:5 and 63:54 (WPRI).</summary>
    public const ulong ReservedMask = (((1UL << Reserved0Bits) - 1) << Reserved0Shift) | (((1UL << Reserved1Bits) - 1) << Reserved1Shift);

    /// <summary>The raw 64-bit register value.</summary>
    public readonly ulong Value;

    public Ddtp(ulong value) => Value = value;

    /// <summary>A ddtp in <paramref name="mode"/> whose root table is at <paramref name="rootPa"/> (4 KiB aligned).</summary>
    public static Ddtp Create(DdtpMode mode, ulong rootPa) => default(Ddtp).WithIommuMode(mode).WithPpn(rootPa >> 12);

    /// <summary>iommu_mode, bits 3:0 (the raw encoding, which may be reserved or custom).</summary>
    public DdtpMode IommuMode => (DdtpMode)((Value & IommuModeMask) >> IommuModeShift);

    /// <summary>Alias of <see cref="IommuMode"/>.</summary>
    public DdtpMode Mode => IommuMode;

    /// <summary>busy, bit 4 (RO): a previous write to iommu_mode is still being carried out.</summary>
    public bool Busy => (Value & BusyMask) != 0;

    /// <summary>PPN, bits 53:10: root page of the DDT.</summary>
    public ulong Ppn => (Value & PpnMask) >> PpnShift;

    public ulong RootAddress => Ppn << 12;

    /// <summary>DDT levels the mode walks: 1, 2 or 3; 0 for Off, Bare and reserved/custom modes.</summary>
    public int Levels => IommuMode switch
    {
        DdtpMode.OneLevel => 1,
        DdtpMode.TwoLevel => 2,
        DdtpMode.ThreeLevel => 3,
        _ => 0,
    };

    /// <summary>iommu_mode is 5-13 (reserved for standard use).</summary>
    public bool IsModeReserved => IommuMode > DdtpMode.ThreeLevel && (byte)IommuMode < 14;

    /// <summary>iommu_mode is 14-15 (designated for custom use).</summary>
    public bool IsModeCustom => (byte)IommuMode >= 14;

    public ulong Reserved => Value & ReservedMask;
    public bool HasReservedBitsSet => (Value & ReservedMask) != 0;

    public Ddtp WithIommuMode(DdtpMode mode) => new((Value & ~IommuModeMask) | (((ulong)mode << IommuModeShift) & IommuModeMask));
    public Ddtp WithBusy(bool busy) => new(busy ? Value | BusyMask : Value & ~BusyMask);
    public Ddtp WithPpn(ulong ppn) => new((Value & ~PpnMask) | ((ppn << PpnShift) & PpnMask));

    public bool Equals(Ddtp other) => Value == other.Value;
    public override bool Equals(object? obj) => obj is Ddtp other && Equals(other);
    public override int GetHashCode() => Value.GetHashCode();
    public static bool operator ==(Ddtp left, Ddtp right) => left.Equals(right);
    public static bool operator !=(Ddtp left, Ddtp right) => !left.Equals(right);

    public override string ToString() =>
        $"ddtp 0x{Value:x16} mode={IommuMode}{(Busy ? " busy" : "")} ppn=0x{Ppn:x}{(HasReservedBitsSet ? $" RESERVED=0x{Reserved:x}" : "")}";
}

/// <summary>ddtp.iommu_mode encodings (IOMMU spec, ddtp register table).</summary>
public enum DdtpMode : byte
{
    /// <summary>0: no inbound memory transactions are allowed.</summary>
    Off = 0,
    /// <summary>1: no translation or protection; all inbound memory accesses pass through.</summary>
    Bare = 1,
    /// <summary>2 (1LVL): one-level device directory table.</summary>
    OneLevel = 2,
    /// <summary>3 (2LVL): two-level device directory table.</summary>
    TwoLevel = 3,
    /// <summary>4 (3LVL): three-level device directory table.</summary>
    ThreeLevel = 4,
}
