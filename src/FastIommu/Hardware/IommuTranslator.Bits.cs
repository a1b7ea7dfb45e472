using FastIommu.Formats.RiscV;

namespace FastIommu.Hardware;

/// <summary>The register and context bits the translator reads, named once here from the format types
/// (<see cref="Capabilities"/>, <see cref="Fctl"/>, <see cref="DeviceContextTc"/>, <see cref="Iohgatp"/>, ...), so the
/// walkers work on raw doublewords as hardware does while the layouts have a single source.</summary>
internal static class SpecBits
{
    // capabilities
    public const int CapSv39 = Capabilities.Sv39Bit, CapSv48 = Capabilities.Sv48Bit, CapSv57 = Capabilities.Sv57Bit;
    public const int CapSvpbmt = Capabilities.SvpbmtBit;
    public const int CapSv39x4 = Capabilities.Sv39x4Bit, CapSv48x4 = Capabilities.Sv48x4Bit, CapSv57x4 = Capabilities.Sv57x4Bit;
    public const int CapMsiMrif = Capabilities.MsiMrifBit;
    public const int CapMsiFlat = Capabilities.MsiFlatBit, CapAmoHwad = Capabilities.AmoHwadBit, CapAts = Capabilities.AtsBit;
    public const int CapT2gpa = Capabilities.T2gpaBit, CapEnd = Capabilities.EndBit;
    public const int CapPd8 = Capabilities.Pd8Bit, CapPd17 = Capabilities.Pd17Bit, CapPd20 = Capabilities.Pd20Bit;

    // fctl
    public const uint FctlBe = Fctl.BeMask, FctlGxl = Fctl.GxlMask;

    // ddtp.iommu_mode
    public const uint DdtpOff = (uint)DdtpMode.Off, DdtpBare = (uint)DdtpMode.Bare;
    public const uint Ddtp1Lvl = (uint)DdtpMode.OneLevel, Ddtp2Lvl = (uint)DdtpMode.TwoLevel, Ddtp3Lvl = (uint)DdtpMode.ThreeLevel;
    public const ulong DdtpPpn = Ddtp.PpnMask;
    public const int DdtpPpnShift = Ddtp.PpnShift;

    // Physical page numbers: bits 43:0 of iosatp/iohgatp/pdtp/msiptp (PPN shift 0), bits 53:10 of non-leaf DDT/PDT
    // entries (and of an MSI PTE, which shares the PTE layout).
    public const ulong AtpPpn = Iosatp.PpnMask;
    public const ulong NonLeafPpn = NonLeafEntry.PpnMask;
    public const int NonLeafPpnShift = NonLeafEntry.PpnShift;

    // DC.tc
    public const ulong TcV = DeviceContextTc.V, TcEnAts = DeviceContextTc.EnAtsMask, TcEnPri = DeviceContextTc.EnPriMask;
    public const ulong TcT2gpa = DeviceContextTc.T2gpaMask, TcDtf = DeviceContextTc.DtfMask, TcPdtv = DeviceContextTc.PdtvMask;
    public const ulong TcPrpr = DeviceContextTc.PrprMask, TcGade = DeviceContextTc.GadeMask, TcSade = DeviceContextTc.SadeMask;
    public const ulong TcDpe = DeviceContextTc.DpeMask, TcSbe = DeviceContextTc.SbeMask, TcSxl = DeviceContextTc.SxlMask;
    /// <summary>tc bits 23:12 and 63:32 are reserved; 31:24 are designated for custom use.</summary>
    public const ulong TcReserved = DeviceContextTc.ReservedMask;

    // iohgatp / iosatp / pdtp / msiptp: PPN 43:0, GSCID 59:44 (iohgatp) or reserved, MODE 63:60
    public const int AtpModeShift = Iosatp.ModeShift;
    public const int GscidShift = Iohgatp.GscidShift;
    public const ulong AtpReserved5944 = Iosatp.ReservedMask;
    public const ulong MsiptpReserved = Msiptp.ReservedMask;

    // DC.ta: PSCID 31:12; RCID/MCID need capabilities.QOSID, not modelled, so they count as reserved.
    public const int PscidShift = DeviceContextTa.PscidShift;
    public const ulong PscidMask = DeviceContextTa.PscidMask;
    public const ulong DcTaReserved = DeviceContextTa.ReservedMask | DeviceContextTa.QosIdMask;

    // PC.ta: V 0, ENS 1, SUM 2, PSCID 31:12
    public const ulong PcV = ProcessContextTa.V, PcEns = ProcessContextTa.EnsMask, PcSum = ProcessContextTa.SumMask;
    public const ulong PcTaReserved = ProcessContextTa.ReservedMask;

    // Non-leaf DDT / PDT entry: V 0, PPN 53:10; bits 9:1 and 63:54 reserved
    public const ulong NonLeafReserved = NonLeafEntry.ReservedMask;

    // msi_addr_mask / msi_addr_pattern: bits 63:52 reserved
    public const ulong MsiAddrReserved = ExtendedDeviceContext.MsiAddrReservedMask;

    public static bool Has(ulong caps, int bit) => (caps & (1UL << bit)) != 0;
}
