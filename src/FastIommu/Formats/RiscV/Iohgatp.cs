using System.Runtime.InteropServices;

namespace FastIommu.Formats.RiscV;

/// <summary>
/// The IO hypervisor guest address translation and protection field (<c>DC.iohgatp</c>, device-context
/// doubleword 1): the G-stage root, its GSCID and the G-stage MODE. IOMMU spec, "IO hypervisor guest address
/// translation and protection (iohgatp)".
/// </summary>
/// <remarks>
/// <code>
///  63    60 59                 44 43                                          0
/// +--------+---------------------+---------------------------------------------+
/// |  MODE  |        GSCID        |                    PPN                      |
/// +--------+---------------------+---------------------------------------------+
///     4             16                                 44
/// </code>
/// MODE (fctl.GXL=0): 0 Bare, 8 Sv39x4, 9 Sv48x4, 10 Sv57x4, others reserved. (fctl.GXL=1: 8 Sv32x4.)
/// The root table is 16 KiB and must be 16 KiB aligned (PPN[1:0] = 0) when MODE is not Bare.
/// There are no reserved bits.
/// </remarks>
[StructLayout(LayoutKind.Sequential, Size = 8)]
public readonly struct Iohgatp : IEquatable<Iohgatp>
{
    public const int PpnShift = 0;
    public const int PpnBits = 44;
    public const int GscidShift = PpnShift + PpnBits;   // 44
    public const int GscidBits = 16;
    public const int ModeShift = GscidShift + GscidBits; // 60
    public const int ModeBits = 4;

    public const ulong PpnMask = ((1UL << PpnBits) - 1) << PpnShift;
    public const ulong GscidMask = ((1UL << GscidBits) - 1) << GscidShift;
    public const ulong ModeMask = ((1UL << ModeBits) - 1) << ModeShift;
    public const ulong ReservedMask = 0;

    public const uint ModeBare = 0;
    public const uint ModeSv39x4 = 8;
    public const uint ModeSv48x4 = 9;
    public const uint ModeSv57x4 = 10;

    /// <summary>The raw 64-bit field.</summary>
    public readonly ulong Value;

    public Iohgatp(ulong value) => Value = value;

    /// <summary>All zeros: MODE Bare, GSCID 0, PPN 0.</summary>
    public static Iohgatp Default => default;

    /// <summary>An iohgatp for the G-stage <typeparamref name="TMode"/> rooted at <paramref name="rootPa"/>.</summary>
    public static Iohgatp Create<TMode>(ulong rootPa, uint gscid) where TMode : struct, IPagingMode =>
        default(Iohgatp).WithMode(TMode.ModeEncoding).WithGscid(gscid).WithPpn(rootPa >> 12);

    /// <summary>PPN, bits 43:0: page number of the 16 KiB G-stage root.</summary>
    public ulong Ppn => (Value & PpnMask) >> PpnShift;

    /// <summary>GSCID, bits 59:44: guest soft-context ID.</summary>
    public uint Gscid => (uint)((Value & GscidMask) >> GscidShift);

    /// <summary>MODE, bits 63:60 (raw encoding).</summary>
    public uint Mode => (uint)((Value & ModeMask) >> ModeShift);

    public ulong RootAddress => Ppn << 12;

    /// <summary>MODE is Bare (0): no G-stage translation.</summary>
    public bool IsBare => Mode == ModeBare;

    /// <summary>The G-stage mode (fctl.GXL = 0), or null for Bare and reserved encodings.</summary>
    public PagingModeKind? PagingMode => PagingModes.FromIohgatpMode(Mode);

    /// <summary>MODE is neither Bare nor Sv39x4/48x4/57x4 (encodings reserved when fctl.GXL = 0).</summary>
    public bool IsModeReserved => Mode != ModeBare && PagingMode is null;

    /// <summary>PPN names a 16 KiB-aligned root (PPN[1:0] = 0), as a non-Bare iohgatp requires.</summary>
    public bool IsRootAligned => (Ppn & 3) == 0;

    public bool HasReservedBitsSet => (Value & ReservedMask) != 0;

    public Iohgatp WithPpn(ulong ppn) => new((Value & ~PpnMask) | ((ppn << PpnShift) & PpnMask));
    public Iohgatp WithGscid(uint gscid) => new((Value & ~GscidMask) | (((ulong)gscid << GscidShift) & GscidMask));
    public Iohgatp WithMode(uint mode) => new((Value & ~ModeMask) | (((ulong)mode << ModeShift) & ModeMask));

    public bool Equals(Iohgatp other) => Value == other.Value;
    public override bool Equals(object? obj) => obj is Iohgatp other && Equals(other);
    public override int GetHashCode() => Value.GetHashCode();
    public static bool operator ==(Iohgatp left, Iohgatp right) => left.Equals(right);
    public static bool operator !=(Iohgatp left, Iohgatp right) => !left.Equals(right);

    public override string ToString() =>
        $"iohgatp 0x{Value:x16} mode={(IsBare ? "Bare" : PagingMode?.ToString() ?? $"reserved({Mode})")} gscid=0x{Gscid:x} ppn=0x{Ppn:x}";
}
