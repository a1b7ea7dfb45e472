using System.Runtime.InteropServices;

namespace FastIommu.Formats.RiscV;

/// <summary>
/// The base-format device context (DC): 32 bytes, four 64-bit doublewords, used when
/// capabilities.MSI_FLAT = 0. IOMMU spec, "Leaf DDT entry", figure "Base-format device-context".
/// </summary>
/// <remarks>
/// <code>
/// byte  +-------------------------------------------------------------------+
///  0x00 | tc       Translation control                 (DeviceContextTc)   |
///  0x08 | iohgatp  IO hypervisor guest address transl. (Iohgatp)           |
///  0x10 | ta       Translation attributes              (DeviceContextTa)   |
///  0x18 | fsc      First-stage context: iosatp (PDTV=0) or pdtp (PDTV=1)   |
///       +-------------------------------------------------------------------+
/// </code>
/// </remarks>
[StructLayout(LayoutKind.Sequential, Size = 32)]
public readonly struct DeviceContext : IEquatable<DeviceContext>
{
    public const int Size = 32;
    public const int TcOffset = 0;
    public const int IohgatpOffset = TcOffset + 8;   // 8
    public const int TaOffset = IohgatpOffset + 8;   // 16
    public const int FscOffset = TaOffset + 8;       // 24

    /// <summary>Doubleword 0.</summary>
    public readonly DeviceContextTc Tc;
    /// <summary>Doubleword 1.</summary>
    public readonly Iohgatp Iohgatp;
    /// <summary>Doubleword 2.</summary>
    public readonly DeviceContextTa Ta;
    /// <summary>Doubleword 3, raw: read it through <see cref="FscAsIosatp"/> or <see cref="FscAsPdtp"/> per tc.PDTV.</summary>
    public readonly ulong Fsc;

    public DeviceContext(DeviceContextTc tc, Iohgatp iohgatp, DeviceContextTa ta, ulong fsc)
    {
        Tc = tc;
        Iohgatp = iohgatp;
        Ta = ta;
        Fsc = fsc;
    }

    public DeviceContext(DeviceContextTc tc, Iohgatp iohgatp, DeviceContextTa ta, Iosatp fsc)
        : this(tc, iohgatp, ta, fsc.Value)
    {
    }

    public DeviceContext(DeviceContextTc tc, Iohgatp iohgatp, DeviceContextTa ta, Pdtp fsc)
        : this(tc, iohgatp, ta, fsc.Value)
    {
    }

    public Iosatp FscAsIosatp => new(Fsc);
    public Pdtp FscAsPdtp => new(Fsc);

    public bool Valid => Tc.Valid;

    public DeviceContext WithTc(DeviceContextTc tc) => new(tc, Iohgatp, Ta, Fsc);
    public DeviceContext WithIohgatp(Iohgatp iohgatp) => new(Tc, iohgatp, Ta, Fsc);
    public DeviceContext WithTa(DeviceContextTa ta) => new(Tc, Iohgatp, ta, Fsc);
    public DeviceContext WithFsc(ulong fsc) => new(Tc, Iohgatp, Ta, fsc);
    public DeviceContext WithFsc(Iosatp fsc) => new(Tc, Iohgatp, Ta, fsc.Value);
    public DeviceContext WithFsc(Pdtp fsc) => new(Tc, Iohgatp, Ta, fsc.Value);

    /// <summary>
    /// Bits reserved by the layout are set: tc 23:12 and 63:32, tc.DPE while PDTV = 0 (reserved then),
    /// ta 11:0 and 39:32 (and RCID/MCID when <paramref name="qosid"/> is false), fsc 59:44.
    /// Reserved <em>encodings</em> (MODE values) and capability-dependent rules are checked by
    /// <see cref="IsModeEncodingReserved"/> and by the hardware model.
    /// </summary>
    public bool HasReservedBitsSet(bool qosid = false) =>
        Tc.HasReservedBitsSet
        || (!Tc.Pdtv && Tc.Dpe)
        || Ta.HasReservedBitsSet(qosid)
        || (Fsc & Iosatp.ReservedMask) != 0;

    /// <summary>iohgatp.MODE or fsc.MODE (read per PDTV) uses an encoding reserved for standard use
    /// (fctl.GXL = 0 and tc.SXL = 0 assumed).</summary>
    public bool IsModeEncodingReserved =>
        Iohgatp.IsModeReserved || (Tc.Pdtv ? FscAsPdtp.IsModeReserved : FscAsIosatp.IsModeReserved);

    public bool Equals(DeviceContext other) =>
        Tc == other.Tc && Iohgatp == other.Iohgatp && Ta == other.Ta && Fsc == other.Fsc;
    public override bool Equals(object? obj) => obj is DeviceContext other && Equals(other);
    public override int GetHashCode() => HashCode.Combine(Tc, Iohgatp, Ta, Fsc);
    public static bool operator ==(DeviceContext left, DeviceContext right) => left.Equals(right);
    public static bool operator !=(DeviceContext left, DeviceContext right) => !left.Equals(right);

    public override string ToString() =>
        $"DC {{ {Tc}; {Iohgatp}; {Ta}; fsc={(Tc.Pdtv ? FscAsPdtp.ToString() : FscAsIosatp.ToString())} }}";
}
