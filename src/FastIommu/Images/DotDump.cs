using System.Text;
using static FastIommu.Images.DumpNames;

namespace FastIommu.Images;

/// <summary>The same tree as <see cref="TextDump"/> as a Graphviz digraph: ddtp -> device contexts -> process contexts
/// -> tables, each table node listing its first ranges. Misconfigured nodes are red.</summary>
public static class DotDump
{
    /// <summary>Ranges listed in a table node; the rest are counted.</summary>
    public const int RangesPerNode = 16;

    public static void Write(DecodedIommu iommu, TextWriter writer)
    {
        ArgumentNullException.ThrowIfNull(iommu);
        ArgumentNullException.ThrowIfNull(writer);
        writer.Write("digraph iommu {\n  rankdir=LR;\n  node [shape=box, fontname=\"monospace\", fontsize=10];\n");
        var ddtp = iommu.Ddtp;
        Node(writer, "ddtp", $"ddtp {Hex16(ddtp.Value)}\\liommu_mode {DdtMode(ddtp)}\\lroot {Hex(ddtp.RootAddress)}\\l", iommu.Findings.Count > 0);
        foreach (var device in iommu.Devices)
        {
            string id = $"dc_{device.DeviceId:x}";
            var dc = device.Context;
            var label = new StringBuilder($"device_id {Hex(device.DeviceId)}\\lDC @ {Hex(device.Address)}\\ltc {TcFlags(dc.Tc)}\\l");
            label.Append($"iohgatp {AtpMode(dc.Iohgatp.Mode, true)} GSCID {Hex(dc.Iohgatp.Gscid)}\\lPSCID {Hex(dc.Ta.Pscid)}\\l");
            label.Append(dc.Tc.Pdtv ? $"pdtp {PdtMode(dc.FscAsPdtp.Mode)}\\l" : $"iosatp {AtpMode(dc.FscAsIosatp.Mode, false)}\\l");
            AppendFindings(label, device.Findings);
            Node(writer, id, label.ToString(), device.Findings.Count > 0);
            Edge(writer, "ddtp", id);
            if (device.GStage is not null)
            {
                Table(writer, id + "_g", "G-stage", device.GStage);
                Edge(writer, id, id + "_g");
            }

            if (device.FirstStage is not null)
            {
                Table(writer, id + "_fs", "first stage", device.FirstStage);
                Edge(writer, id, id + "_fs");
                if (device.GStage is not null)
                {
                    Edge(writer, id + "_fs", id + "_g", "nested");
                }
            }

            foreach (var process in device.Processes)
            {
                string pid = $"{id}_pc_{process.ProcessId:x}";
                var pc = process.Context;
                var pl = new StringBuilder($"process_id {Hex(process.ProcessId)}\\lPC @ {Hex(process.PhysicalAddress)}\\lPSCID {Hex(pc.Ta.Pscid)}{(pc.Ta.Ens ? " ENS" : "")}{(pc.Ta.Sum ? " SUM" : "")}\\l");
                AppendFindings(pl, process.Findings);
                Node(writer, pid, pl.ToString(), process.Findings.Count > 0);
                Edge(writer, id, pid);
                if (process.FirstStage is not null)
                {
                    Table(writer, pid + "_fs", "first stage", process.FirstStage);
                    Edge(writer, pid, pid + "_fs");
                    if (device.GStage is not null)
                    {
                        Edge(writer, pid + "_fs", id + "_g", "nested");
                    }
                }
            }
        }

        writer.Write("}\n");
    }

    public static string ToDot(DecodedIommu iommu)
    {
        using var writer = new StringWriter(System.Globalization.CultureInfo.InvariantCulture);
        Write(iommu, writer);
        return writer.ToString();
    }

    private static void Table(TextWriter w, string id, string kind, DecodedTable table)
    {
        var label = new StringBuilder($"{kind} {table.Mode}\\lroot {Hex(table.Root)}{(table.Nested ? " (gpa)" : "")}\\l{Direction(table)}\\l");
        for (int i = 0; i < table.Ranges.Count && i < RangesPerNode; i++)
        {
            var r = table.Ranges[i];
            label.Append($"{Hex(r.Input)} +{Hex(r.Size)} -> {Hex(r.Output)} {PageSize(r.PageSize)} {r.FlagString()} {Pbmt(r.Pbmt)}\\l");
        }

        if (table.Ranges.Count > RangesPerNode)
        {
            label.Append($"... {table.Ranges.Count - RangesPerNode} more ranges\\l");
        }

        AppendFindings(label, table.Findings);
        Node(w, id, label.ToString(), table.Findings.Count > 0);
    }

    private static void AppendFindings(StringBuilder label, IReadOnlyList<DecodeFinding> findings)
    {
        foreach (var f in findings)
        {
            label.Append($"!! cause {(ushort)f.Cause}: {Escape(f.Reason)}\\l");
        }
    }

    private static void Node(TextWriter w, string id, string label, bool bad) =>
        w.Write($"  \"{id}\" [label=\"{label}\"{(bad ? ", color=red, fontcolor=red" : "")}];\n");

    private static void Edge(TextWriter w, string from, string to, string? label = null) =>
        w.Write(label is null ? $"  \"{from}\" -> \"{to}\";\n" : $"  \"{from}\" -> \"{to}\" [style=dashed, label=\"{label}\"];\n");

    private static string Escape(string text) => text.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal);
}
