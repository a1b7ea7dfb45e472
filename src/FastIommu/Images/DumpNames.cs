using System.Globalization;
using FastIommu.Formats.RiscV;

namespace FastIommu.Images;

/// <summary>The spec's names and the number formats the dumps share.</summary>
internal static class DumpNames
{
    public static string Hex(ulong value) => "0x" + value.ToString("x", CultureInfo.InvariantCulture);

    public static string Hex16(ulong value) => "0x" + value.ToString("x16", CultureInfo.InvariantCulture);

    public static string DdtMode(Ddtp ddtp) => ddtp.IommuMode switch
    {
        DdtpMode.Off => "Off",
        DdtpMode.Bare => "Bare",
        DdtpMode.OneLevel => "1LVL",
        DdtpMode.TwoLevel => "2LVL",
        DdtpMode.ThreeLevel => "3LVL",
        _ => $"reserved({(byte)ddtp.IommuMode})",
    };

    public static string AtpMode(uint mode, bool gStage) =>
        mode == 0 ? "Bare" : (gStage ? PagingModes.FromIohgatpMode(mode) : PagingModes.FromIosatpMode(mode))?.ToString() ?? $"reserved({mode})";

    public static string PdtMode(PdtpMode mode) => mode switch
    {
        PdtpMode.Bare => "Bare",
        PdtpMode.PD8 => "PD8",
        PdtpMode.PD17 => "PD17",
        PdtpMode.PD20 => "PD20",
        _ => $"reserved({(byte)mode})",
    };

    public static string Pbmt(PageBasedMemoryType pbmt) => pbmt switch
    {
        PageBasedMemoryType.Pma => "PMA",
        PageBasedMemoryType.Nc => "NC",
        PageBasedMemoryType.Io => "IO",
        _ => "reserved",
    };

    /// <summary>4K, 64K, 2M, 1G, 512G, 256T.</summary>
    public static string PageSize(ulong size) => size switch
    {
        0x1000 => "4K",
        0x1_0000 => "64K",
        0x20_0000 => "2M",
        0x4000_0000 => "1G",
        >= 1UL << 40 => (size >> 40).ToString(CultureInfo.InvariantCulture) + "T",
        >= 1UL << 30 => (size >> 30).ToString(CultureInfo.InvariantCulture) + "G",
        >= 1UL << 20 => (size >> 20).ToString(CultureInfo.InvariantCulture) + "M",
        _ => (size >> 10).ToString(CultureInfo.InvariantCulture) + "K",
    };

    public static string TcFlags(DeviceContextTc tc)
    {
        string[] names = ["V", "EN_ATS", "EN_PRI", "T2GPA", "DTF", "PDTV", "PRPR", "GADE", "SADE", "DPE", "SBE", "SXL"];
        var parts = new List<string>();
        for (int i = 0; i < names.Length; i++)
        {
            if ((tc.Value & (1UL << i)) != 0)
            {
                parts.Add(names[i]);
            }
        }

        return string.Join(' ', parts);
    }

    /// <summary>What a table's addresses are: "iova -> spa", "iova -> gpa", "gpa -> spa".</summary>
    public static string Direction(DecodedTable table) =>
        table.IsGStage ? "gpa -> spa" : table.Nested ? "iova -> gpa" : "iova -> spa";
}
