namespace FastIommu.Hardware;

/// <summary>The register and context bits the translator reads, as the spec numbers them
/// (iommu_registers.adoc "capabilities", "fctl", "ddtp"; iommu_data_structures.adoc DC / PC fields).</summary>
internal static class SpecBits
{
    // capabilities
    public const int CapSv39 = 9, CapSv48 = 10, CapSv57 = 11, CapSvpbmt = 15;
    public const int CapSv39x4 = 17, CapSv48x4 = 18, CapSv57x4 = 19;
    public const int CapMsiFlat = 22, CapAmoHwad = 24, CapAts = 25, CapT2gpa = 26, CapEnd = 27;
    public const int CapPd8 = 38, CapPd17 = 39, CapPd20 = 40;

    // fctl
    public const uint FctlBe = 1, FctlGxl = 4;

    // ddtp.iommu_mode
    public const uint DdtpOff = 0, DdtpBare = 1, Ddtp1Lvl = 2, Ddtp2Lvl = 3, Ddtp3Lvl = 4;
    public const ulong PpnMask44 = (1UL << 44) - 1;

    // DC.tc
    public const ulong TcV = 1 << 0, TcEnAts = 1 << 1, TcEnPri = 1 << 2, TcT2gpa = 1 << 3, TcDtf = 1 << 4, TcPdtv = 1 << 5;
    public const ulong TcPrpr = 1 << 6, TcGade = 1 << 7, TcSade = 1 << 8, TcDpe = 1 << 9, TcSbe = 1 << 10, TcSxl = 1 << 11;
    /// <summary>tc bits 23:12 and 63:32 are reserved; 31:24 are designated for custom use.</summary>
    public const ulong TcReserved = 0xFFFF_FFFF_00FF_F000UL;

    // iohgatp / iosatp / pdtp / msiptp: PPN 43:0, (GSCID 59:44 or reserved), MODE 63:60
    public const int AtpModeShift = 60;
    public const int GscidShift = 44;
    public const ulong AtpReserved5944 = 0xFFFFUL << 44;

    // DC.ta: PSCID 31:12, everything else reserved in v1.0 (RCID/MCID need capabilities.QOSID, not modelled)
    public const int PscidShift = 12;
    public const ulong PscidMask = 0xFFFFFUL << PscidShift;

    // PC.ta: V 0, ENS 1, SUM 2, PSCID 31:12
    public const ulong PcV = 1, PcEns = 2, PcSum = 4;
    public const ulong PcTaReserved = ~(PcV | PcEns | PcSum | PscidMask);

    // Non-leaf DDT / PDT entry: V 0, PPN 53:10; bits 9:1 and 63:54 reserved
    public const ulong NonLeafReserved = 0x3FEUL | (0x3FFUL << 54);

    // msi_addr_mask / msi_addr_pattern: bits 63:52 reserved
    public const ulong MsiAddrReserved = 0xFFFUL << 52;

    public static bool Has(ulong caps, int bit) => (caps & (1UL << bit)) != 0;
}
