using System.Text.Json;
using FastIommu.Formats.RiscV;
using static FastIommu.Images.DumpNames;

namespace FastIommu.Images;

/// <summary>The tree as JSON for scripts: one object per device, per process context, per table and per mapping range
/// (addresses as "0x..." strings, sizes as numbers). Written with <see cref="Utf8JsonWriter"/>: no reflection.</summary>
public static class JsonDump
{
    public static void Write(DecodedIommu iommu, Stream stream, bool indented = true)
    {
        ArgumentNullException.ThrowIfNull(iommu);
        using var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = indented });
        w.WriteStartObject();
        w.WriteString("ddtp", Hex(iommu.Ddtp.Value));
        w.WriteString("iommu_mode", DdtMode(iommu.Ddtp));
        w.WriteString("ddt_root", Hex(iommu.Ddtp.RootAddress));
        w.WriteString("capabilities", Hex(iommu.Capabilities.Value));
        w.WriteString("fctl", Hex(iommu.Fctl.Value));
        w.WriteNumber("structure_pages", iommu.StructurePages.Count);
        Findings(w, iommu.Findings);
        w.WriteStartArray("devices");
        foreach (var device in iommu.Devices)
        {
            Device(w, device);
        }

        w.WriteEndArray();
        w.WriteEndObject();
        w.Flush();
    }

    public static string ToJson(DecodedIommu iommu, bool indented = true)
    {
        using var stream = new MemoryStream();
        Write(iommu, stream, indented);
        return System.Text.Encoding.UTF8.GetString(stream.ToArray());
    }

    private static void Device(Utf8JsonWriter w, DecodedDevice device)
    {
        var dc = device.Context;
        w.WriteStartObject();
        w.WriteNumber("device_id", device.DeviceId);
        w.WriteString("dc_address", Hex(device.Address));
        w.WriteString("format", device.Extended ? "extended" : "base");
        w.WriteString("tc", Hex(dc.Tc.Value));
        w.WriteString("tc_flags", TcFlags(dc.Tc));
        w.WriteString("iohgatp", Hex(dc.Iohgatp.Value));
        w.WriteString("iohgatp_mode", AtpMode(dc.Iohgatp.Mode, true));
        w.WriteNumber("gscid", dc.Iohgatp.Gscid);
        w.WriteString("ta", Hex(dc.Ta.Value));
        w.WriteNumber("pscid", dc.Ta.Pscid);
        w.WriteString("fsc", Hex(dc.Fsc));
        w.WriteString("fsc_mode", dc.Tc.Pdtv ? PdtMode(dc.FscAsPdtp.Mode) : AtpMode(dc.FscAsIosatp.Mode, false));
        if (device.Extended)
        {
            w.WriteString("msiptp", Hex(dc.Msiptp.Value));
            w.WriteString("msi_addr_mask", Hex(dc.MsiAddrMask));
            w.WriteString("msi_addr_pattern", Hex(dc.MsiAddrPattern));
            if (device.MsiPageTable is { } msi)
            {
                w.WriteStartObject("msi_page_table");
                w.WriteString("root", Hex(dc.Msiptp.RootAddress));
                w.WriteNumber("entries", msi.Entries);
                w.WriteNumber("valid", msi.Valid);
                w.WriteEndObject();
            }
        }

        if (device.Misconfiguration == ContextMisconfiguration.None)
        {
            w.WriteNull("misconfiguration");
        }
        else
        {
            w.WriteString("misconfiguration", device.Misconfiguration.ToString());
        }

        Findings(w, device.Findings);
        Table(w, "g_stage", device.GStage);
        Table(w, "first_stage", device.FirstStage);
        w.WriteStartArray("processes");
        foreach (var process in device.Processes)
        {
            var pc = process.Context;
            w.WriteStartObject();
            w.WriteNumber("process_id", process.ProcessId);
            w.WriteString("pc_address", Hex(process.PhysicalAddress));
            w.WriteString("pc_gpa", process.Address == process.PhysicalAddress ? null : Hex(process.Address));
            w.WriteString("ta", Hex(pc.Ta.Value));
            w.WriteBoolean("ens", pc.Ta.Ens);
            w.WriteBoolean("sum", pc.Ta.Sum);
            w.WriteNumber("pscid", pc.Ta.Pscid);
            w.WriteString("fsc", Hex(pc.Fsc.Value));
            if (process.Misconfiguration == ContextMisconfiguration.None)
            {
                w.WriteNull("misconfiguration");
            }
            else
            {
                w.WriteString("misconfiguration", process.Misconfiguration.ToString());
            }

            Findings(w, process.Findings);
            Table(w, "first_stage", process.FirstStage);
            w.WriteEndObject();
        }

        w.WriteEndArray();
        w.WriteEndObject();
    }

    private static void Table(Utf8JsonWriter w, string name, DecodedTable? table)
    {
        if (table is null)
        {
            w.WriteNull(name);
            return;
        }

        w.WriteStartObject(name);
        w.WriteString("mode", table.Mode.ToString());
        w.WriteString("root", Hex(table.Root));
        w.WriteBoolean("nested", table.Nested);
        w.WriteString("direction", Direction(table));
        w.WriteNumber("table_pages", table.TablePages);
        Ranges(w, "ranges", table.Ranges);
        if (table.Effective is not null)
        {
            Ranges(w, "two_stage", table.Effective);
        }

        Findings(w, table.Findings);
        w.WriteNumber("findings_omitted", table.FindingsOmitted);
        w.WriteEndObject();
    }

    private static void Ranges(Utf8JsonWriter w, string name, List<MappingRange> ranges)
    {
        w.WriteStartArray(name);
        foreach (var r in ranges)
        {
            w.WriteStartObject();
            w.WriteString("input", Hex(r.Input));
            w.WriteString("output", Hex(r.Output));
            w.WriteNumber("size", r.Size);
            w.WriteNumber("page_size", r.PageSize);
            w.WriteString("flags", r.FlagString());
            w.WriteString("pbmt", Pbmt(r.Pbmt));
            w.WriteEndObject();
        }

        w.WriteEndArray();
    }

    private static void Findings(Utf8JsonWriter w, IReadOnlyList<DecodeFinding> findings)
    {
        w.WriteStartArray("findings");
        foreach (var f in findings)
        {
            w.WriteStartObject();
            w.WriteString("where", f.Where);
            w.WriteString("address", Hex(f.Address));
            w.WriteNumber("cause", (ushort)f.Cause);
            w.WriteString("cause_name", f.Cause.ToString());
            w.WriteString("reason", f.Reason);
            w.WriteEndObject();
        }

        w.WriteEndArray();
    }
}
