using System.Runtime.InteropServices;

namespace FastIommu.Formats.RiscV;

/// <summary>
/// The IO supervisor address translation and protection field (<c>iosatp</c>): <c>DC.fsc</c> when
/// <c>DC.tc.PDTV</c> = 0, and <c>PC.fsc</c> always. IOMMU spec, "First-Stage context (fsc)", figure IOSATP_FORMAT.
/// </summary>
/// <remarks>
/// <code>
///  63    60 59                 44 43                                          0
/// +--------+---------------------+---------------------------------------------+
/// |  MODE  |      reserved       |                    PPN                      |
/// +--------+---------------------+---------------------------------------------+
///     4             16                                 44
/// </code>
/// MODE (DC.tc.SXL=0): 0 Bare, 8 Sv39, 9 Sv48, 10 Sv57, 1-7 and 11-13 reserved, 14-15 custom.
/// (SXL=1: 8 Sv32.) Under a G-stage the PPN is a guest PPN.
/// </remarks>
[StructLayout(LayoutKind.Sequential, Size = 8)]
public readonly struct Iosatp : IEquatable<Iosatp>
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

    public const uint ModeBare = 0;
    public const uint ModeSv39 = 8;
    public const uint ModeSv48 = 9;
    public const uint ModeSv57 = 10;

    /// <summary>The raw 64-bit field.</summary>
    public readonly ulong Value;

    public Iosatp(ulong value) => Value = value;

    /// <summary>All zeros: MODE Bare, PPN 0.</summary>
    public static Iosatp Default => default;

    /// <summary>An iosatp for the first stage <typeparamref name="TMode"/> rooted at <paramref name="rootPa"/>.</summary>
    public static Iosatp Create<TMode>(ulong rootPa) where TMode : struct, IPagingMode =>
        default(Iosatp).WithMode(TMode.ModeEncoding).WithPpn(rootPa >> 12);

    /// <summary>PPN, bits 43:0: page number of the first-stage root (a guest PPN under a G-stage).</summary>
    public ulong Ppn => (Value & PpnMask) >> PpnShift;

    /// <summary>MODE, bits 63:60 (raw encoding).</summary>
    public uint Mode => (uint)((Value & ModeMask) >> ModeShift);

    public ulong RootAddress => Ppn << 12;

    public bool IsBare => Mode == ModeBare;

    /// <summary>The first-stage mode (DC.tc.SXL = 0), or null for Bare, reserved and custom encodings.</summary>
    public PagingModeKind? PagingMode => PagingModes.FromIosatpMode(Mode);

    /// <summary>MODE is 1-7 or 11-13 (reserved for standard use, SXL = 0).</summary>
    public bool IsModeReserved => Mode != ModeBare && PagingMode is null && !IsModeCustom;

    /// <summary>MODE is 14-15 (designated for custom use).</summary>
    public bool IsModeCustom => Mode >= 14;

    public ulong Reserved => Value & ReservedMask;
    public bool HasReservedBitsSet => (Value & ReservedMask) != 0;

    public Iosatp WithPpn(ulong ppn) => new((Value & ~PpnMask) | ((ppn << PpnShift) & PpnMask));
    public Iosatp WithMode(uint mode) => new((Value & ~ModeMask) | (((ulong)mode << ModeShift) & ModeMask));

    public bool Equals(Iosatp other) => Value == other.Value;
    public override bool Equals(object? obj) => obj is Iosatp other && Equals(other);
    public override int GetHashCode() => Value.GetHashCode();
    public static bool operator ==(Iosatp left, Iosatp right) => left.Equals(right);
    public static bool operator !=(Iosatp left, Iosatp right) => !left.Equals(right);

    public override string ToString() =>
        $"iosatp 0x{Value:x16} mode={(IsBare ? "Bare" : PagingMode?.ToString() ?? $"reserved({Mode})")} ppn=0x{Ppn:x}{(HasReservedBitsSet ? $" RESERVED=0x{Reserved:x}" : "")}";
}
