using System.Globalization;
using System.Text.Json;
using FastIommu.Driver;
using FastIommu.Formats.RiscV;

namespace FastIommu.Cli.Scenarios;

/// <summary>
/// Reads a scenario file (docs/scenario-format.md) with <see cref="JsonDocument"/> (no reflection, trim- and AOT-safe)
/// and checks it: every field typed, unknown fields refused, every name a device or domain refers to defined, a
/// group's devices on one domain. Errors are <see cref="ScenarioException"/>s naming the JSON path.
/// </summary>
internal static class ScenarioParser
{
    private static readonly JsonDocumentOptions Options = new()
    {
        CommentHandling = JsonCommentHandling.Skip,
        AllowTrailingCommas = true,
        MaxDepth = 16,
    };

    /// <summary>The largest guest RAM a scenario may ask for: it is allocated for real.</summary>
    public const ulong MaxMemory = 1UL << 30;

    public static Scenario Parse(ReadOnlyMemory<byte> json)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(json, Options);
        }
        catch (JsonException ex)
        {
            // LineNumber and BytePositionInLine count from 0.
            throw new ScenarioException("$", $"not valid JSON at line {(ex.LineNumber ?? 0) + 1}, "
                + $"byte {(ex.BytePositionInLine ?? 0) + 1}: {FirstSentence(ex.Message)}");
        }

        using (document)
        {
            return Read(new JsonObject(document.RootElement, "$"));
        }
    }

    private static Scenario Read(JsonObject root)
    {
        var memory = new JsonObject(root.Require("memory"), root.PathOf("memory"));
        ulong memoryBase = memory.RequireNumber("base");
        ulong memorySize = memory.RequireNumber("size");
        memory.RejectUnknownFields();
        if (memorySize == 0 || memorySize % 4096 != 0 || memoryBase % 4096 != 0 || memoryBase + memorySize < memoryBase)
        {
            throw new ScenarioException(memory.Path, "base and size must be multiples of 4096, size not 0, and not wrap");
        }

        if (memorySize > MaxMemory)
        {
            throw new ScenarioException(memory.PathOf("size"), $"0x{memorySize:x}: a scenario's RAM is at most 1 GiB (it is allocated)");
        }

        Window driverPages = root.Has("driver_pages")
            ? ReadWindow(root.Require("driver_pages"), root.PathOf("driver_pages"))
            : new Window(memoryBase + (memorySize / 2), memorySize / 2, root.PathOf("driver_pages"));
        root.Get("driver_pages");

        var instances = new List<InstanceSpec>();
        foreach (var (element, path) in root.Array("instances"))
        {
            var instance = ReadInstance(new JsonObject(element, path));
            if (instances.Exists(i => i.Name == instance.Name))
            {
                throw new ScenarioException(path + ".name", $"a second instance named \"{instance.Name}\"");
            }

            instances.Add(instance);
        }

        if (instances.Count == 0)
        {
            throw new ScenarioException(root.PathOf("instances"), "at least one IOMMU instance is needed");
        }

        var domains = new List<DomainSpec>();
        foreach (var (element, path) in root.Array("domains"))
        {
            var domain = ReadDomain(new JsonObject(element, path));
            if (domain.Name is "identity" or "blocked" || domains.Exists(d => d.Name == domain.Name))
            {
                throw new ScenarioException(path + ".name", $"the name \"{domain.Name}\" is taken (a second domain, or a built-in one)");
            }

            domains.Add(domain);
        }

        CheckParents(domains);

        var devices = new List<DeviceSpec>();
        foreach (var (element, path) in root.Array("devices"))
        {
            var device = ReadDevice(new JsonObject(element, path), instances);
            if (devices.Exists(d => d.Id == device.Id && d.Instance == device.Instance))
            {
                throw new ScenarioException(path + ".id", $"device 0x{device.Id:x} is already on instance \"{device.Instance}\"");
            }

            CheckDeviceReferences(device, domains, devices);
            devices.Add(device);
        }

        root.RejectUnknownFields();
        return new Scenario(memoryBase, memorySize, driverPages, instances, domains, devices);
    }

    private static Window ReadWindow(JsonElement element, string path)
    {
        var o = new JsonObject(element, path);
        var window = new Window(o.RequireNumber("base"), o.RequireNumber("size"), path);
        o.RejectUnknownFields();
        if (window.Size == 0 || window.Size % 4096 != 0 || window.Base % 4096 != 0)
        {
            throw new ScenarioException(path, "base and size must be multiples of 4096, size not 0");
        }

        return window;
    }

    private static InstanceSpec ReadInstance(JsonObject o)
    {
        string name = o.RequireString("name");
        if (name.Length == 0 || !name.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_'))
        {
            // It becomes part of file names (OUT.NAME.img).
            throw new ScenarioException(o.PathOf("name"), $"\"{name}\": an instance name is letters, digits, '-' and '_'");
        }

        var capabilities = o.Has("capabilities") ? new Capabilities(o.RequireNumber("capabilities")) : Capabilities.FullRv64;
        string format = o.OptionalString("dc_format") ?? "base";
        capabilities = format switch
        {
            "base" => capabilities.WithMsiFlat(false),
            "extended" => capabilities.WithMsiFlat(true),
            _ => throw new ScenarioException(o.PathOf("dc_format"), $"\"{format}\" is not a DC format (base or extended)"),
        };
        ulong levels = o.OptionalNumber("ddt_levels", 3);
        if (levels is < 1 or > 3)
        {
            throw new ScenarioException(o.PathOf("ddt_levels"), $"{levels} levels: a DDT has 1, 2 or 3");
        }

        Window? pages = o.Has("pages") ? ReadWindow(o.Require("pages"), o.PathOf("pages")) : null;
        o.Get("pages");
        o.RejectUnknownFields();
        return new InstanceSpec(name, capabilities, (int)levels, pages, o.Path);
    }

    private static DomainSpec ReadDomain(JsonObject o)
    {
        string name = o.RequireString("name");
        string kindText = o.RequireString("kind");
        var kind = kindText switch
        {
            "paging" => DomainSpecKind.Paging,
            "sva" => DomainSpecKind.Sva,
            "nested" => DomainSpecKind.Nested,
            _ => throw new ScenarioException(o.PathOf("kind"), $"\"{kindText}\" is not a domain kind (paging, sva or nested)"),
        };

        PagingModeKind mode = default;
        var mappings = new List<MappingSpec>();
        string? parent = null;
        GuestSpec? guest = null;
        if (kind == DomainSpecKind.Nested)
        {
            parent = o.RequireString("parent");
            guest = ReadGuest(new JsonObject(o.Require("guest"), o.PathOf("guest")));
        }
        else
        {
            mode = ReadMode(o.RequireString("mode"), o.PathOf("mode"));
            if (kind == DomainSpecKind.Sva && PagingModes.IsGStage(mode))
            {
                throw new ScenarioException(o.PathOf("mode"), "an SVA address space is a first stage (sv39, sv48 or sv57)");
            }

            mappings.AddRange(ReadMappings(o, "mappings"));
        }

        o.RejectUnknownFields();
        return new DomainSpec(name, kind, mode, mappings, parent, guest, o.Path);
    }

    private static GuestSpec ReadGuest(JsonObject o)
    {
        ulong gpaBase = o.OptionalNumber("gpa_base", 0);
        ulong hostPa = o.RequireNumber("host_pa");
        ulong size = o.RequireNumber("size");
        var pages = ReadWindow(o.Require("pages"), o.PathOf("pages"));
        string pdt = o.OptionalString("pdt_mode") ?? "pd8";
        var pdtMode = pdt switch
        {
            "pd8" => PdtpMode.PD8,
            "pd17" => PdtpMode.PD17,
            "pd20" => PdtpMode.PD20,
            _ => throw new ScenarioException(o.PathOf("pdt_mode"), $"\"{pdt}\" is not a PDT mode (pd8, pd17 or pd20)"),
        };
        if (pdtMode != PdtpMode.PD8)
        {
            // The guest writes its PCs into one PDT page: a one-level table.
            throw new ScenarioException(o.PathOf("pdt_mode"), "only pd8 (one PDT page) is supported for a scenario's guest");
        }

        var processes = new List<GuestProcessSpec>();
        foreach (var (element, path) in o.Array("processes"))
        {
            var p = new JsonObject(element, path);
            ulong pasid = p.RequireNumber("pasid");
            if (pasid is 0 or > 255)
            {
                throw new ScenarioException(p.PathOf("pasid"), $"{pasid}: a PD8 PDT holds process_id 1..255");
            }

            if (processes.Exists(x => x.Pasid == pasid))
            {
                throw new ScenarioException(p.PathOf("pasid"), $"process_id {pasid} appears twice");
            }

            ulong pscid = p.OptionalNumber("pscid", pasid);
            if (pscid >= 1UL << 20)
            {
                throw new ScenarioException(p.PathOf("pscid"), $"{pscid} does not fit PSCID's 20 bits");
            }

            var mode = ReadMode(p.OptionalString("mode") ?? "sv39", p.PathOf("mode"));
            if (PagingModes.IsGStage(mode))
            {
                throw new ScenarioException(p.PathOf("mode"), "a guest process's table is a first stage (sv39, sv48 or sv57)");
            }

            processes.Add(new GuestProcessSpec((uint)pasid, (uint)pscid, mode, [.. ReadMappings(p, "mappings")], p.Path));
            p.RejectUnknownFields();
        }

        o.RejectUnknownFields();
        return new GuestSpec(gpaBase, hostPa, size, pages, pdtMode, processes, o.Path);
    }

    private static IEnumerable<MappingSpec> ReadMappings(JsonObject o, string field)
    {
        foreach (var (element, path) in o.Array(field))
        {
            var m = new JsonObject(element, path);
            ulong iova = m.RequireNumber("iova"), pa = m.RequireNumber("pa"), size = m.RequireNumber("size");
            string prot = m.OptionalString("prot") ?? "rw";
            var protection = (DmaProtection)0;
            foreach (char c in prot)
            {
                protection |= c switch
                {
                    'r' => DmaProtection.Read,
                    'w' => DmaProtection.Write,
                    'x' => DmaProtection.Execute,
                    _ => throw new ScenarioException(m.PathOf("prot"), $"\"{prot}\": permissions are letters r, w, x"),
                };
            }

            if (protection == 0)
            {
                throw new ScenarioException(m.PathOf("prot"), "no permission: give at least one of r, w, x");
            }

            m.RejectUnknownFields();
            yield return new MappingSpec(iova, pa, size, protection, path);
        }
    }

    private static DeviceSpec ReadDevice(JsonObject o, List<InstanceSpec> instances)
    {
        ulong id = o.RequireNumber("id");
        if (id > 0xFF_FFFF)
        {
            throw new ScenarioException(o.PathOf("id"), $"0x{id:x} does not fit device_id's 24 bits");
        }

        string? instance = o.OptionalString("instance");
        if (instance is null)
        {
            instance = instances.Count == 1
                ? instances[0].Name
                : throw new ScenarioException(o.PathOf("instance"), "missing (required when there is more than one instance)");
        }
        else if (!instances.Exists(i => i.Name == instance))
        {
            throw new ScenarioException(o.PathOf("instance"), $"no instance named \"{instance}\"");
        }

        ulong pasidBits = o.OptionalNumber("pasid_bits", 0);
        if (pasidBits > 20)
        {
            throw new ScenarioException(o.PathOf("pasid_bits"), $"{pasidBits}: a PASID has at most 20 bits");
        }

        var features = DeviceFeatures.None;
        foreach (var (element, path) in o.Array("features"))
        {
            string f = JsonObject.AsString(element, path);
            features |= f switch
            {
                "sva" => DeviceFeatures.Sva,
                "ats" => DeviceFeatures.Ats,
                _ => throw new ScenarioException(path, $"\"{f}\" is not a device feature (sva or ats)"),
            };
        }

        var pasids = new List<PasidSpec>();
        foreach (var (element, path) in o.Array("pasids"))
        {
            var p = new JsonObject(element, path);
            ulong pasid = p.RequireNumber("pasid");
            if (pasid == 0 || pasid >= 1UL << 20)
            {
                throw new ScenarioException(p.PathOf("pasid"), $"{pasid}: a PASID attachment needs 1 .. 2^20 - 1");
            }

            pasids.Add(new PasidSpec((uint)pasid, p.RequireString("domain"), p.Path));
            p.RejectUnknownFields();
        }

        var sva = new List<SvaSpec>();
        foreach (var (element, path) in o.Array("sva"))
        {
            sva.Add(new SvaSpec(JsonObject.AsString(element, path), path));
        }

        var device = new DeviceSpec((uint)id, instance, o.OptionalString("group"), o.OptionalString("domain"), (int)pasidBits,
            features, pasids, sva, o.Path);
        o.RejectUnknownFields();
        return device;
    }

    private static void CheckParents(List<DomainSpec> domains)
    {
        foreach (var d in domains)
        {
            if (d.Parent is not { } parent)
            {
                continue;
            }

            var p = domains.Find(x => x.Name == parent)
                ?? throw new ScenarioException(d.Path + ".parent", $"no domain named \"{parent}\"");
            if (p.Kind != DomainSpecKind.Paging || !PagingModes.IsGStage(p.Mode))
            {
                throw new ScenarioException(d.Path + ".parent", $"\"{parent}\" is not a G-stage paging domain (sv39x4, sv48x4 or sv57x4)");
            }
        }
    }

    private static void CheckDeviceReferences(DeviceSpec device, List<DomainSpec> domains, List<DeviceSpec> earlier)
    {
        if (device.Domain is { } name && name is not ("identity" or "blocked"))
        {
            var domain = domains.Find(d => d.Name == name)
                ?? throw new ScenarioException(device.Path + ".domain", $"no domain named \"{name}\"");
            if (domain.Kind == DomainSpecKind.Sva)
            {
                throw new ScenarioException(device.Path + ".domain", $"\"{name}\" is an SVA address space: bind it with \"sva\"");
            }
        }

        if (device.Group is { } group && earlier.Find(d => d.Group == group) is { } first && first.Domain != device.Domain)
        {
            throw new ScenarioException(device.Path + ".domain",
                $"group \"{group}\" is attached to {Quote(first.Domain)} (by {first.Path}); every device of a group shares its domain");
        }

        foreach (var p in device.Pasids)
        {
            var domain = domains.Find(d => d.Name == p.Domain)
                ?? throw new ScenarioException(p.Path + ".domain", $"no domain named \"{p.Domain}\"");
            if (domain.Kind != DomainSpecKind.Paging)
            {
                throw new ScenarioException(p.Path + ".domain", $"\"{p.Domain}\" is not a paging domain");
            }
        }

        foreach (var s in device.SvaBinds)
        {
            var domain = domains.Find(d => d.Name == s.Domain)
                ?? throw new ScenarioException(s.Path, $"no domain named \"{s.Domain}\"");
            if (domain.Kind != DomainSpecKind.Sva)
            {
                throw new ScenarioException(s.Path, $"\"{s.Domain}\" is not an SVA address space (kind \"sva\")");
            }
        }
    }

    private static PagingModeKind ReadMode(string text, string path) => text switch
    {
        "sv39" => PagingModeKind.Sv39,
        "sv48" => PagingModeKind.Sv48,
        "sv57" => PagingModeKind.Sv57,
        "sv39x4" => PagingModeKind.Sv39x4,
        "sv48x4" => PagingModeKind.Sv48x4,
        "sv57x4" => PagingModeKind.Sv57x4,
        _ => throw new ScenarioException(path, $"\"{text}\" is not a paging mode (sv39, sv48, sv57, sv39x4, sv48x4, sv57x4)"),
    };

    private static string Quote(string? domain) => domain is null ? "no domain (blocked)" : $"\"{domain}\"";

    private static string FirstSentence(string message)
    {
        int end = message.IndexOf(" LineNumber", StringComparison.Ordinal);
        return (end > 0 ? message[..end] : message).TrimEnd();
    }

    internal static string Format(ulong value) => value.ToString(CultureInfo.InvariantCulture);
}
