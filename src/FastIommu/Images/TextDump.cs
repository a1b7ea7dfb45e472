using FastIommu.Formats.RiscV;
using static FastIommu.Images.DumpNames;

namespace FastIommu.Images;

/// <summary>
/// The readable dump: ddtp, then each valid device context with its fields by spec name, its process contexts, and
/// for each page table the mapped ranges coalesced (input range -> output range, page size, R W X U G A D, PBMT).
/// A nested first stage is followed by its ranges through both stages. Entries the hardware would refuse are flagged
/// "!!" with the cause it would report (for a read).
/// </summary>
public static class TextDump
{
    /// <summary>Writes the dump of <paramref name="iommu"/> to <paramref name="writer"/>.</summary>
    public static void Write(DecodedIommu iommu, TextWriter writer)
    {
        ArgumentNullException.ThrowIfNull(iommu);
        ArgumentNullException.ThrowIfNull(writer);
        var ddtp = iommu.Ddtp;
        writer.Write($"ddtp {Hex16(ddtp.Value)}  iommu_mode={DdtMode(ddtp)} PPN={Hex(ddtp.Ppn)}");
        writer.Write(ddtp.Levels > 0 ? $" (root {Hex(ddtp.RootAddress)})\n" : "\n");
        writer.Write($"capabilities {Hex16(iommu.Capabilities.Value)}\n");
        writer.Write($"fctl {Hex(iommu.Fctl.Value)}\n");
        writer.Write($"structure pages {iommu.StructurePages.Count}, valid device contexts {iommu.Devices.Count}\n");
        WriteFindings(writer, iommu.Findings, "");
        foreach (var device in iommu.Devices)
        {
            writer.Write('\n');
            WriteDevice(writer, device);
        }
    }

    /// <summary>The dump as a string.</summary>
    public static string ToText(DecodedIommu iommu)
    {
        using var writer = new StringWriter(System.Globalization.CultureInfo.InvariantCulture);
        Write(iommu, writer);
        return writer.ToString();
    }

    private static void WriteDevice(TextWriter w, DecodedDevice device)
    {
        var dc = device.Context;
        w.Write($"device_id {Hex(device.DeviceId)}  DC @ {Hex(device.Address)} ({(device.Extended ? "extended" : "base")} format)\n");
        if (!dc.Valid)
        {
            WriteFindings(w, device.Findings, "  ");
            return;
        }

        w.Write($"  tc        {Hex16(dc.Tc.Value)}  {TcFlags(dc.Tc)}\n");
        w.Write($"  iohgatp   {Hex16(dc.Iohgatp.Value)}  MODE={AtpMode(dc.Iohgatp.Mode, true)} GSCID={Hex(dc.Iohgatp.Gscid)} PPN={Hex(dc.Iohgatp.Ppn)}\n");
        w.Write($"  ta        {Hex16(dc.Ta.Value)}  PSCID={Hex(dc.Ta.Pscid)}\n");
        if (dc.Tc.Pdtv)
        {
            var pdtp = dc.FscAsPdtp;
            w.Write($"  fsc       {Hex16(dc.Fsc)}  pdtp MODE={PdtMode(pdtp.Mode)} PPN={Hex(pdtp.Ppn)}\n");
        }
        else
        {
            var iosatp = dc.FscAsIosatp;
            w.Write($"  fsc       {Hex16(dc.Fsc)}  iosatp MODE={AtpMode(iosatp.Mode, false)} PPN={Hex(iosatp.Ppn)}\n");
        }

        if (device.Extended)
        {
            w.Write($"  msiptp    {Hex16(dc.Msiptp.Value)}  MODE={(dc.Msiptp.Mode == MsiptpMode.Flat ? "Flat" : dc.Msiptp.Mode == MsiptpMode.Off ? "Off" : $"reserved({(byte)dc.Msiptp.Mode})")} PPN={Hex(dc.Msiptp.Ppn)}\n");
            w.Write($"  msi_addr_mask {Hex(dc.MsiAddrMask)}  msi_addr_pattern {Hex(dc.MsiAddrPattern)}\n");
            if (device.MsiPageTable is { } msi)
            {
                w.Write($"  MSI page table (flat) at {Hex(dc.Msiptp.RootAddress)}: {msi.Entries} entries, {msi.Valid} valid\n");
            }
        }

        WriteFindings(w, device.Findings, "  ");
        bool firstStageAny = device.FirstStage is not null || device.Processes.Count > 0;
        if (device.GStage is null && !firstStageAny && !dc.Tc.Pdtv)
        {
            w.Write("  no translation: iova = spa (both stages Bare)\n");
        }

        if (device.GStage is not null)
        {
            WriteTable(w, "G-stage", device.GStage, "  ");
            if (!dc.Tc.Pdtv && device.FirstStage is null)
            {
                w.Write("  (first stage Bare: iova = gpa)\n");
            }
        }

        if (device.FirstStage is not null)
        {
            WriteTable(w, "first stage", device.FirstStage, "  ");
        }

        foreach (var process in device.Processes)
        {
            var pc = process.Context;
            w.Write($"  process_id {Hex(process.ProcessId)}  PC @ {Hex(process.PhysicalAddress)}"
                + (process.Address != process.PhysicalAddress ? $" (gpa {Hex(process.Address)})\n" : "\n"));
            w.Write($"    ta      {Hex16(pc.Ta.Value)}  V{(pc.Ta.Ens ? " ENS" : "")}{(pc.Ta.Sum ? " SUM" : "")} PSCID={Hex(pc.Ta.Pscid)}\n");
            w.Write($"    fsc     {Hex16(pc.Fsc.Value)}  iosatp MODE={AtpMode(pc.Fsc.Mode, false)} PPN={Hex(pc.Fsc.Ppn)}\n");
            WriteFindings(w, process.Findings, "    ");
            if (process.FirstStage is not null)
            {
                WriteTable(w, "first stage", process.FirstStage, "    ");
            }
        }
    }

    private static void WriteTable(TextWriter w, string kind, DecodedTable table, string indent)
    {
        string nested = table.Nested ? ", nested under the G-stage (root is a gpa)" : "";
        w.Write($"{indent}{kind} {table.Mode}, root {Hex(table.Root)}{nested}, {table.TablePages} table pages, {table.Ranges.Count} ranges ({Direction(table)})\n");
        WriteRanges(w, table.Ranges, indent + "  ");
        WriteFindings(w, table.Findings, indent + "  ");
        if (table.FindingsOmitted > 0)
        {
            w.Write($"{indent}  !! and {table.FindingsOmitted} more entries like these\n");
        }

        if (table.Effective is not null)
        {
            w.Write($"{indent}two-stage (iova -> spa), {table.Effective.Count} ranges\n");
            WriteRanges(w, table.Effective, indent + "  ");
        }
    }

    /// <summary>One line per range, formatted into one reused buffer: a dump of millions of ranges allocates nothing per line.</summary>
    private static void WriteRanges(TextWriter w, List<MappingRange> ranges, string indent)
    {
        Span<char> line = stackalloc char[256];
        foreach (var r in ranges)
        {
            int n = 0;
            Put(line, ref n, indent);
            PutHex(line, ref n, r.Input);
            line[n++] = '-';
            PutHex(line, ref n, r.Input + r.Size - 1);
            Put(line, ref n, " -> ");
            PutHex(line, ref n, r.Output);
            line[n++] = '-';
            PutHex(line, ref n, r.Output + r.Size - 1);
            Put(line, ref n, "  ");
            Put(line, ref n, PageSize(r.PageSize));
            Put(line, ref n, "  ");
            const string Names = "RWXUGAD";
            for (int i = 0; i < 7; i++)
            {
                line[n++] = (r.Flags & (1 << (i + 1))) != 0 ? Names[i] : '-';
            }

            Put(line, ref n, "  ");
            Put(line, ref n, Pbmt(r.Pbmt));
            line[n++] = '\n';
            w.Write(line[..n]);
        }
    }

    private static void Put(Span<char> line, ref int n, string text)
    {
        text.CopyTo(line[n..]);
        n += text.Length;
    }

    private static void PutHex(Span<char> line, ref int n, ulong value)
    {
        line[n++] = '0';
        line[n++] = 'x';
        value.TryFormat(line[n..], out int written, "x", System.Globalization.CultureInfo.InvariantCulture);
        n += written;
    }

    private static void WriteFindings(TextWriter w, IReadOnlyList<DecodeFinding> findings, string indent)
    {
        foreach (var f in findings)
        {
            string cause = f.Cause == FaultCause.None ? "note" : $"cause {(ushort)f.Cause} {f.Cause}";
            w.Write($"{indent}!! {cause}: {f.Where} @ {Hex(f.Address)}: {f.Reason}\n");
        }
    }
}
