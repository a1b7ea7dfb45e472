namespace FastIommu.Formats.RiscV;

/// <summary>Why a valid device or process context is misconfigured (cause 259 for a DC, 267 for a PC).
/// One value per rule of the spec's lists DC_MISCONFIG and PC_MISCONFIG.</summary>
public enum ContextMisconfiguration : byte
{
    /// <summary>The context is well formed.</summary>
    None = 0,
    /// <summary>A bit reserved for future standard use is set.</summary>
    ReservedBits,
    /// <summary>An iosatp/pdtp/iohgatp/msiptp MODE uses an encoding reserved (or designated for custom use,
    /// which this model does not implement).</summary>
    ReservedEncoding,
    /// <summary>capabilities.ATS = 0 and tc.EN_ATS, tc.EN_PRI or tc.PRPR is 1.</summary>
    AtsNotSupported,
    /// <summary>tc.EN_ATS = 0 and tc.T2GPA = 1.</summary>
    T2gpaWithoutAts,
    /// <summary>tc.EN_ATS = 0 and tc.EN_PRI = 1.</summary>
    PriWithoutAts,
    /// <summary>tc.EN_PRI = 0 and tc.PRPR = 1.</summary>
    PrprWithoutPri,
    /// <summary>capabilities.T2GPA = 0 and tc.T2GPA = 1.</summary>
    T2gpaNotSupported,
    /// <summary>tc.T2GPA = 1 and iohgatp.MODE is Bare.</summary>
    T2gpaWithBareGStage,
    /// <summary>tc.PDTV = 1 and pdtp.MODE is PD8/17/20 without the matching capability.</summary>
    PdtpModeNotSupported,
    /// <summary>iosatp.MODE (DC.fsc with PDTV = 0, or PC.fsc) names a scheme the capabilities lack.</summary>
    IosatpModeNotSupported,
    /// <summary>tc.PDTV = 0 and tc.DPE = 1.</summary>
    DpeWithoutPdtv,
    /// <summary>iohgatp.MODE names a G-stage scheme the capabilities lack.</summary>
    IohgatpModeNotSupported,
    /// <summary>capabilities.MSI_FLAT = 1 and msiptp.MODE is neither Off nor Flat.</summary>
    MsiptpModeInvalid,
    /// <summary>iohgatp.MODE is not Bare and its root is not 16 KiB aligned.</summary>
    GStageRootMisaligned,
    /// <summary>capabilities.AMO_HWAD = 0 and tc.SADE or tc.GADE is 1.</summary>
    AdUpdateNotSupported,
    /// <summary>capabilities.END = 0 and fctl.BE != tc.SBE.</summary>
    EndiannessNotSupported,
    /// <summary>tc.SXL is not a legal value for fctl.GXL.</summary>
    SxlIllegal,
    /// <summary>tc.SBE is not a legal value (fctl.BE not writable and SBE differs).</summary>
    SbeIllegal,
    /// <summary>msiptp.MODE is not Off while iohgatp.MODE is Bare: a reserved setting (MSI address translation
    /// applies to guest physical addresses), for which the spec recommends "DDT entry misconfigured".</summary>
    MsiptpWithBareGStage,
}

/// <summary>
/// The configuration checks of a valid device context (IOMMU spec DC_MISCONFIG, "Device-context configuration
/// checks") and process context (PC_MISCONFIG). Each returns the first rule that fails, in the spec's order.
/// Implementation-defined limits (RCID/MCID widths under QOSID, address widths against PAS) are left to the caller.
/// </summary>
public static class ContextChecks
{
    /// <summary>Checks a base-format DC with tc.V = 1.</summary>
    /// <param name="gxlWritable">fctl.GXL is writable (then SXL may be 0 or 1 while GXL = 0).</param>
    /// <param name="beWritable">fctl.BE is writable (then SBE may be 0 or 1).</param>
    public static ContextMisconfiguration Check(in DeviceContext dc, Capabilities caps, Fctl fctl,
        bool gxlWritable = false, bool beWritable = false)
    {
        var tc = dc.Tc;

        // 1. Reserved bits and encodings.
        // (tc.DPE while PDTV = 0 is reserved too; rule 12 below names it.)
        if (tc.HasReservedBitsSet || dc.Ta.HasReservedBitsSet(caps.Qosid) || (dc.Fsc & Iosatp.ReservedMask) != 0)
        {
            return ContextMisconfiguration.ReservedBits;
        }

        if (IohgatpEncodingReserved(dc.Iohgatp.Mode, fctl.Gxl)
            || (tc.Pdtv ? PdtpEncodingReserved(dc.FscAsPdtp.Mode) : IosatpEncodingReserved(dc.FscAsIosatp.Mode, tc.Sxl)))
        {
            return ContextMisconfiguration.ReservedEncoding;
        }

        // 2-7. ATS, PRI, T2GPA.
        if (!caps.Ats && (tc.EnAts || tc.EnPri || tc.Prpr))
        {
            return ContextMisconfiguration.AtsNotSupported;
        }

        if (!tc.EnAts && tc.T2gpa)
        {
            return ContextMisconfiguration.T2gpaWithoutAts;
        }

        if (!tc.EnAts && tc.EnPri)
        {
            return ContextMisconfiguration.PriWithoutAts;
        }

        if (!tc.EnPri && tc.Prpr)
        {
            return ContextMisconfiguration.PrprWithoutPri;
        }

        if (!caps.T2gpa && tc.T2gpa)
        {
            return ContextMisconfiguration.T2gpaNotSupported;
        }

        if (tc.T2gpa && dc.Iohgatp.IsBare)
        {
            return ContextMisconfiguration.T2gpaWithBareGStage;
        }

        // 8-12. First-stage context.
        if (tc.Pdtv)
        {
            if (!caps.Supports(dc.FscAsPdtp.Mode))
            {
                return ContextMisconfiguration.PdtpModeNotSupported;
            }
        }
        else
        {
            if (!IosatpModeSupported(dc.FscAsIosatp.Mode, tc.Sxl, caps))
            {
                return ContextMisconfiguration.IosatpModeNotSupported;
            }

            if (tc.Dpe)
            {
                return ContextMisconfiguration.DpeWithoutPdtv;
            }
        }

        // 13-15. G-stage.
        if (!IohgatpModeSupported(dc.Iohgatp.Mode, fctl.Gxl, caps))
        {
            return ContextMisconfiguration.IohgatpModeNotSupported;
        }

        // 17-21.
        if (!dc.Iohgatp.IsBare && !dc.Iohgatp.IsRootAligned)
        {
            return ContextMisconfiguration.GStageRootMisaligned;
        }

        if (!caps.AmoHwad && (tc.Sade || tc.Gade))
        {
            return ContextMisconfiguration.AdUpdateNotSupported;
        }

        if (!caps.End && fctl.Be != tc.Sbe)
        {
            return ContextMisconfiguration.EndiannessNotSupported;
        }

        if (fctl.Gxl ? !tc.Sxl : (!gxlWritable && tc.Sxl))
        {
            return ContextMisconfiguration.SxlIllegal;
        }

        if (!beWritable && tc.Sbe != fctl.Be)
        {
            return ContextMisconfiguration.SbeIllegal;
        }

        return ContextMisconfiguration.None;
    }

    /// <summary>Checks an extended-format DC with tc.V = 1: the base rules plus the MSI fields.</summary>
    public static ContextMisconfiguration Check(in ExtendedDeviceContext dc, Capabilities caps, Fctl fctl,
        bool gxlWritable = false, bool beWritable = false)
    {
        if (dc.Msiptp.HasReservedBitsSet || (dc.MsiAddrMask & ExtendedDeviceContext.MsiAddrReservedMask) != 0
            || (dc.MsiAddrPattern & ExtendedDeviceContext.MsiAddrReservedMask) != 0 || dc.Reserved != 0)
        {
            return ContextMisconfiguration.ReservedBits;
        }

        var result = Check(dc.Base, caps, fctl, gxlWritable, beWritable);
        if (result != ContextMisconfiguration.None)
        {
            return result;
        }

        if (caps.MsiFlat && dc.Msiptp.Mode is not (MsiptpMode.Off or MsiptpMode.Flat))
        {
            return ContextMisconfiguration.MsiptpModeInvalid;
        }

        // Recommended, not required, by the spec: the reserved msiptp-without-G-stage setting is rejected.
        return dc.Msiptp.Mode != MsiptpMode.Off && dc.Base.Iohgatp.IsBare
            ? ContextMisconfiguration.MsiptpWithBareGStage
            : ContextMisconfiguration.None;
    }

    /// <summary>Checks a PC with ta.V = 1 under a DC whose tc.SXL is <paramref name="sxl"/>.</summary>
    public static ContextMisconfiguration Check(in ProcessContext pc, Capabilities caps, bool sxl = false)
    {
        if (pc.HasReservedBitsSet)
        {
            return ContextMisconfiguration.ReservedBits;
        }

        if (IosatpEncodingReserved(pc.Fsc.Mode, sxl))
        {
            return ContextMisconfiguration.ReservedEncoding;
        }

        return IosatpModeSupported(pc.Fsc.Mode, sxl, caps)
            ? ContextMisconfiguration.None
            : ContextMisconfiguration.IosatpModeNotSupported;
    }

    /// <summary>iosatp.MODE encodings other than Bare, Sv39/48/57 (SXL = 0) or Bare, Sv32 (SXL = 1).</summary>
    public static bool IosatpEncodingReserved(uint mode, bool sxl) =>
        sxl ? mode is not (0 or 8) : mode is not (0 or 8 or 9 or 10);

    /// <summary>iohgatp.MODE encodings other than Bare, Sv39x4/48x4/57x4 (GXL = 0) or Bare, Sv32x4 (GXL = 1).</summary>
    public static bool IohgatpEncodingReserved(uint mode, bool gxl) =>
        gxl ? mode is not (0 or 8) : mode is not (0 or 8 or 9 or 10);

    /// <summary>pdtp.MODE encodings other than Bare, PD8, PD17, PD20.</summary>
    public static bool PdtpEncodingReserved(PdtpMode mode) => (byte)mode > (byte)PdtpMode.PD20;

    private static bool IosatpModeSupported(uint mode, bool sxl, Capabilities caps) => (mode, sxl) switch
    {
        (0, _) => true,
        (8, true) => caps.Sv32,
        (8, false) => caps.Sv39,
        (9, false) => caps.Sv48,
        (10, false) => caps.Sv57,
        _ => false,
    };

    private static bool IohgatpModeSupported(uint mode, bool gxl, Capabilities caps) => (mode, gxl) switch
    {
        (0, _) => true,
        (8, true) => caps.Sv32x4,
        (8, false) => caps.Sv39x4,
        (9, false) => caps.Sv48x4,
        (10, false) => caps.Sv57x4,
        _ => false,
    };
}
