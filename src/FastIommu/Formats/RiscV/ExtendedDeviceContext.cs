using System.Runtime.InteropServices;

namespace FastIommu.Formats.RiscV;

/// <summary>
/// The extended-format device context: 64 bytes, eight 64-bit doublewords, used when capabilities.MSI_FLAT = 1.
/// IOMMU spec, "Leaf DDT entry", figure "Extended-format device-context", and "MSI address mask (msi_addr_mask)
/// and pattern (msi_addr_pattern)".
/// </summary>
/// <remarks>
/// <code>
/// byte  +-------------------------------------------------------------------+
///  0x00 | tc                (DeviceContextTc)                                |
///  0x08 | iohgatp           (Iohgatp)                                        |
///  0x10 | ta                (DeviceContextTa)                                |
///  0x18 | fsc               iosatp (PDTV=0) or pdtp (PDTV=1)                 |
///  0x20 | msiptp            (Msiptp)                                         |
///  0x28 | msi_addr_mask     63:52 reserved | 51:0 mask                       |
///  0x30 | msi_addr_pattern  63:52 reserved | 51:0 pattern                    |
///  0x38 | reserved                                                          |
///       +-------------------------------------------------------------------+
/// </code>
/// A GPA A is an MSI to a virtual interrupt file when
/// <c>(A &gt;&gt; 12) &amp; ~msi_addr_mask == msi_addr_pattern &amp; ~msi_addr_mask</c>.
/// </remarks>
[StructLayout(LayoutKind.Sequential, Size = 64)]
public readonly struct ExtendedDeviceContext : IEquatable<ExtendedDeviceContext>
{
    public const int Size = 64;
    public const int TcOffset = 0;
    public const int IohgatpOffset = TcOffset + 8;              // 8
    public const int TaOffset = IohgatpOffset + 8;              // 16
    public const int FscOffset = TaOffset + 8;                  // 24
    public const int MsiptpOffset = FscOffset + 8;              // 32
    public const int MsiAddrMaskOffset = MsiptpOffset + 8;      // 40
    public const int MsiAddrPatternOffset = MsiAddrMaskOffset + 8; // 48
    public const int ReservedOffset = MsiAddrPatternOffset + 8; // 56

    /// <summary>Width of msi_addr_mask.mask and msi_addr_pattern.pattern (bits 51:0).</summary>
    public const int MsiAddrBits = 52;
    public const ulong MsiAddrFieldMask = (1UL << MsiAddrBits) - 1;
    /// <summary>Bits 63:52 of msi_addr_mask and msi_addr_pattern.</summary>
    public const ulong MsiAddrReservedMask = ~MsiAddrFieldMask;

    public readonly DeviceContextTc Tc;
    public readonly Iohgatp Iohgatp;
    public readonly DeviceContextTa Ta;
    /// <summary>Raw: read through <see cref="FscAsIosatp"/> or <see cref="FscAsPdtp"/> per tc.PDTV.</summary>
    public readonly ulong Fsc;
    public readonly Msiptp Msiptp;
    /// <summary>msi_addr_mask, raw doubleword (mask in bits 51:0).</summary>
    public readonly ulong MsiAddrMask;
    /// <summary>msi_addr_pattern, raw doubleword (pattern in bits 51:0).</summary>
    public readonly ulong MsiAddrPattern;
    /// <summary>Doubleword 7: reserved.</summary>
    public readonly ulong Reserved;

    public ExtendedDeviceContext(DeviceContextTc tc, Iohgatp iohgatp, DeviceContextTa ta, ulong fsc,
        Msiptp msiptp, ulong msiAddrMask, ulong msiAddrPattern, ulong reserved = 0)
    {
        Tc = tc;
        Iohgatp = iohgatp;
        Ta = ta;
        Fsc = fsc;
        Msiptp = msiptp;
        MsiAddrMask = msiAddrMask;
        MsiAddrPattern = msiAddrPattern;
        Reserved = reserved;
    }

    /// <summary>An extended DC with the base fields of <paramref name="baseContext"/> and MSI translation Off.</summary>
    public ExtendedDeviceContext(in DeviceContext baseContext)
        : this(baseContext.Tc, baseContext.Iohgatp, baseContext.Ta, baseContext.Fsc, default, 0, 0)
    {
    }

    /// <summary>The first four doublewords, which have the base format's layout.</summary>
    public DeviceContext Base => new(Tc, Iohgatp, Ta, Fsc);

    public Iosatp FscAsIosatp => new(Fsc);
    public Pdtp FscAsPdtp => new(Fsc);
    public bool Valid => Tc.Valid;

    /// <summary>msi_addr_mask.mask, bits 51:0.</summary>
    public ulong MsiMask => MsiAddrMask & MsiAddrFieldMask;
    /// <summary>msi_addr_pattern.pattern, bits 51:0.</summary>
    public ulong MsiPattern => MsiAddrPattern & MsiAddrFieldMask;

    /// <summary>The MSI-identification rule of the spec, applied to <paramref name="gpa"/>.</summary>
    public bool IsMsiAddress(ulong gpa) => ((gpa >> 12) & ~MsiMask) == (MsiPattern & ~MsiMask);

    public ExtendedDeviceContext WithTc(DeviceContextTc tc) => new(tc, Iohgatp, Ta, Fsc, Msiptp, MsiAddrMask, MsiAddrPattern, Reserved);
    public ExtendedDeviceContext WithIohgatp(Iohgatp v) => new(Tc, v, Ta, Fsc, Msiptp, MsiAddrMask, MsiAddrPattern, Reserved);
    public ExtendedDeviceContext WithTa(DeviceContextTa v) => new(Tc, Iohgatp, v, Fsc, Msiptp, MsiAddrMask, MsiAddrPattern, Reserved);
    public ExtendedDeviceContext WithFsc(ulong v) => new(Tc, Iohgatp, Ta, v, Msiptp, MsiAddrMask, MsiAddrPattern, Reserved);
    public ExtendedDeviceContext WithMsiptp(Msiptp v) => new(Tc, Iohgatp, Ta, Fsc, v, MsiAddrMask, MsiAddrPattern, Reserved);
    /// <summary>Sets msi_addr_mask.mask (masked to 52 bits).</summary>
    public ExtendedDeviceContext WithMsiAddrMask(ulong mask) => new(Tc, Iohgatp, Ta, Fsc, Msiptp, mask & MsiAddrFieldMask, MsiAddrPattern, Reserved);
    /// <summary>Sets msi_addr_pattern.pattern (masked to 52 bits).</summary>
    public ExtendedDeviceContext WithMsiAddrPattern(ulong pattern) => new(Tc, Iohgatp, Ta, Fsc, Msiptp, MsiAddrMask, pattern & MsiAddrFieldMask, Reserved);

    /// <summary>The base-format reserved bits (see <see cref="DeviceContext.HasReservedBitsSet"/>) plus
    /// msiptp 59:44, msi_addr_mask/pattern 63:52 and all of doubleword 7.</summary>
    public bool HasReservedBitsSet(bool qosid = false) =>
        Base.HasReservedBitsSet(qosid)
        || Msiptp.HasReservedBitsSet
        || (MsiAddrMask & MsiAddrReservedMask) != 0
        || (MsiAddrPattern & MsiAddrReservedMask) != 0
        || Reserved != 0;

    public bool Equals(ExtendedDeviceContext other) =>
        Base == other.Base && Msiptp == other.Msiptp && MsiAddrMask == other.MsiAddrMask
        && MsiAddrPattern == other.MsiAddrPattern && Reserved == other.Reserved;
    public override bool Equals(object? obj) => obj is ExtendedDeviceContext other && Equals(other);
    public override int GetHashCode() => HashCode.Combine(Base, Msiptp, MsiAddrMask, MsiAddrPattern, Reserved);
    public static bool operator ==(ExtendedDeviceContext left, ExtendedDeviceContext right) => left.Equals(right);
    public static bool operator !=(ExtendedDeviceContext left, ExtendedDeviceContext right) => !left.Equals(right);

    public override string ToString() =>
        $"{Base} + {{ {Msiptp}; msi_addr_mask=0x{MsiAddrMask:x}; msi_addr_pattern=0x{MsiAddrPattern:x}{(Reserved != 0 ? $"; RESERVED=0x{Reserved:x}" : "")} }}";
}
