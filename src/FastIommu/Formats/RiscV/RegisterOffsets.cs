namespace FastIommu.Formats.RiscV;

/// <summary>
/// Byte offsets of the IOMMU memory-mapped registers in their 4 KiB page, and their sizes.
/// IOMMU spec, "Register layout" (table "IOMMU Memory-mapped register layout"). Registers are little-endian.
/// </summary>
public static class RegisterOffsets
{
    /// <summary>The register file is one naturally aligned 4 KiB page.</summary>
    public const int RegisterFileSize = 4096;

    public const int Capabilities = 0;        // 8 B
    public const int Fctl = 8;                // 4 B
    /// <summary>4 bytes designated for custom use.</summary>
    public const int Custom0 = 12;
    public const int Ddtp = 16;               // 8 B
    public const int Cqb = 24;                // 8 B
    public const int Cqh = 32;                // 4 B
    public const int Cqt = 36;                // 4 B
    public const int Fqb = 40;                // 8 B
    public const int Fqh = 48;                // 4 B
    public const int Fqt = 52;                // 4 B
    public const int Pqb = 56;                // 8 B, optional (capabilities.ATS)
    public const int Pqh = 64;                // 4 B
    public const int Pqt = 68;                // 4 B
    public const int Cqcsr = 72;              // 4 B
    public const int Fqcsr = 76;              // 4 B
    public const int Pqcsr = 80;              // 4 B
    public const int Ipsr = 84;               // 4 B
    public const int Iocountovf = 88;         // 4 B, optional (capabilities.HPM)
    public const int Iocountinh = 92;         // 4 B
    public const int Iohpmcycles = 96;        // 8 B
    /// <summary>iohpmctr1; iohpmctrN is at <see cref="Iohpmctr(int)"/> (31 × 8 B = 248 B).</summary>
    public const int Iohpmctr1 = 104;
    /// <summary>iohpmevt1; iohpmevtN is at <see cref="Iohpmevt(int)"/> (31 × 8 B = 248 B).</summary>
    public const int Iohpmevt1 = 352;
    public const int TrReqIova = 600;         // 8 B, optional (capabilities.DBG)
    public const int TrReqCtl = 608;          // 8 B
    public const int TrResponse = 616;        // 8 B
    public const int IommuQosid = 624;        // 4 B, optional (capabilities.QOSID)
    /// <summary>60 bytes reserved for future use (WPRI).</summary>
    public const int Reserved0 = 628;
    /// <summary>72 bytes designated for custom use.</summary>
    public const int Custom1 = 688;
    public const int Icvec = 760;             // 8 B
    /// <summary>MSI configuration table: 16 entries × 16 B (msi_addr 8 B, msi_data 4 B, msi_vec_ctl 4 B).</summary>
    public const int MsiCfgTbl = 768;
    public const int MsiCfgTblEntrySize = 16;
    public const int MsiCfgTblEntries = 16;
    /// <summary>3072 bytes reserved for standard use, to the end of the page.</summary>
    public const int Reserved1 = 1024;

    /// <summary>Offset of iohpmctr<paramref name="n"/>, n = 1..31.</summary>
    public static int Iohpmctr(int n) => Iohpmctr1 + (8 * (n - 1));

    /// <summary>Offset of iohpmevt<paramref name="n"/>, n = 1..31.</summary>
    public static int Iohpmevt(int n) => Iohpmevt1 + (8 * (n - 1));

    /// <summary>Offset of msi_addr_<paramref name="x"/> (8 B).</summary>
    public static int MsiAddr(int x) => MsiCfgTbl + (MsiCfgTblEntrySize * x);

    /// <summary>Offset of msi_data_<paramref name="x"/> (4 B).</summary>
    public static int MsiData(int x) => MsiCfgTbl + (MsiCfgTblEntrySize * x) + 8;

    /// <summary>Offset of msi_vec_ctl_<paramref name="x"/> (4 B).</summary>
    public static int MsiVecCtl(int x) => MsiCfgTbl + (MsiCfgTblEntrySize * x) + 12;

    /// <summary>Size in bytes of the register at <paramref name="offset"/> (4 or 8), or 0 when no standard
    /// register starts there.</summary>
    public static int SizeOf(int offset) => offset switch
    {
        Capabilities or Ddtp or Cqb or Fqb or Pqb or Iohpmcycles or TrReqIova or TrReqCtl or TrResponse or Icvec => 8,
        Fctl or Cqh or Cqt or Fqh or Fqt or Pqh or Pqt or Cqcsr or Fqcsr or Pqcsr or Ipsr or Iocountovf or Iocountinh or IommuQosid => 4,
        >= Iohpmctr1 and < Iohpmevt1 when (offset - Iohpmctr1) % 8 == 0 => 8,
        >= Iohpmevt1 and < TrReqIova when (offset - Iohpmevt1) % 8 == 0 => 8,
        >= MsiCfgTbl and < Reserved1 => ((offset - MsiCfgTbl) % MsiCfgTblEntrySize) switch
        {
            0 => 8,
            8 or 12 => 4,
            _ => 0,
        },
        _ => 0,
    };
}
