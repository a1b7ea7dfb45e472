using System.Globalization;
using FastIommu.Driver;
using FastIommu.Formats.RiscV;
using FastIommu.Hardware;

namespace FastIommu.Cli.Replay;

/// <summary>
/// Reads a trace (docs/trace-format.md), one line at a time: every field checked, every name resolved against the
/// declarations above it. The first malformed line is a <see cref="TraceException"/> naming its line number.
/// </summary>
internal sealed class TraceParser
{
    public const ulong DefaultMemoryBase = 0x8000_0000;
    public const ulong DefaultMemorySize = 256UL << 20;
    public const ulong MaxMemory = 1UL << 30;

    private readonly List<string> _instances = [];
    private readonly Dictionary<string, int> _domains = new(StringComparer.Ordinal);
    private readonly List<string> _domainNames = [];
    private readonly Dictionary<string, int> _groups = new(StringComparer.Ordinal);
    private readonly List<string> _groupNames = [];
    private readonly Dictionary<uint, int> _devices = [];
    private readonly List<TraceDevice> _deviceList = [];
    private readonly List<TraceOp> _ops = [];
    private ulong _memoryBase = DefaultMemoryBase;
    private ulong _memorySize = DefaultMemorySize;
    private int _line;

    public static Trace Parse(TextReader reader)
    {
        var parser = new TraceParser();
        while (reader.ReadLine() is { } text)
        {
            parser._line++;
            parser.ParseLine(text);
        }

        if (parser._instances.Count == 0)
        {
            parser._instances.Add("iommu0");
        }

        return new Trace(parser._memoryBase, parser._memorySize, parser._instances, parser._domainNames, parser._groupNames,
            parser._deviceList, [.. parser._ops]);
    }

    private void ParseLine(string text)
    {
        int hash = text.IndexOf('#', StringComparison.Ordinal);
        string[] f = (hash >= 0 ? text[..hash] : text).Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
        if (f.Length == 0)
        {
            return;
        }

        switch (f[0])
        {
            case "memory":
                Count(f, 3, "memory BASE SIZE");
                if (_ops.Count > 0 || _instances.Count > 0)
                {
                    throw Error("'memory' must come before every other line");
                }

                _memoryBase = Number(f[1], "BASE");
                _memorySize = Number(f[2], "SIZE");
                if (_memorySize == 0 || _memorySize > MaxMemory || _memorySize % 4096 != 0 || _memoryBase % 4096 != 0)
                {
                    throw Error("memory: BASE and SIZE must be multiples of 4096, SIZE at most 1 GiB");
                }

                break;
            case "iommu":
                Count(f, 2, "iommu NAME");
                if (_instances.Contains(f[1]))
                {
                    throw Error($"a second iommu named '{f[1]}'");
                }

                _instances.Add(f[1]);
                break;
            case "domain":
                Count(f, 3, "domain NAME MODE");
                if (_domains.ContainsKey(f[1]))
                {
                    throw Error($"a second domain named '{f[1]}'");
                }

                var mode = Mode(f[2]);
                _domains.Add(f[1], _domainNames.Count);
                _ops.Add(new TraceOp(TraceOpKind.Domain, _line, _domainNames.Count, Mode: mode));
                _domainNames.Add(f[1]);
                break;
            case "device":
                ParseDevice(f);
                break;
            case "attach":
                Count(f, 3, "attach GROUP DOMAIN");
                _ops.Add(new TraceOp(TraceOpKind.Attach, _line, Group(f[1]), Domain(f[2])));
                break;
            case "pasid":
                Count(f, 4, "pasid DEVICE PASID DOMAIN");
                int device = Device(f[1]);
                ulong pasid = Number(f[2], "PASID");
                if (pasid == 0 || pasid >= 1UL << _deviceList[device].PasidBits)
                {
                    throw Error($"PASID {pasid}: the device has {_deviceList[device].PasidBits} PASID bits (PASID 0 is not attachable)");
                }

                _ops.Add(new TraceOp(TraceOpKind.AttachPasid, _line, device, Domain(f[3]), Pasid: (uint)pasid));
                break;
            case "map":
                Count(f, 6, "map DOMAIN IOVA PA SIZE PERM");
                _ops.Add(new TraceOp(TraceOpKind.Map, _line, Domain(f[1]), Iova: Number(f[2], "IOVA"), Pa: Number(f[3], "PA"),
                    Size: Number(f[4], "SIZE"), Protection: Protection(f[5])));
                break;
            case "unmap":
                Count(f, 4, "unmap DOMAIN IOVA SIZE");
                _ops.Add(new TraceOp(TraceOpKind.Unmap, _line, Domain(f[1]), Iova: Number(f[2], "IOVA"), Size: Number(f[3], "SIZE")));
                break;
            case "sync":
                Count(f, 2, "sync DOMAIN");
                _ops.Add(new TraceOp(TraceOpKind.Sync, _line, Domain(f[1])));
                break;
            case "dma":
                ParseDma(f);
                break;
            default:
                throw Error($"unknown operation '{f[0]}' (memory, iommu, domain, device, attach, pasid, map, unmap, sync, dma)");
        }
    }

    private void ParseDevice(string[] f)
    {
        if (f.Length < 2)
        {
            throw Error("expected: device ID [iommu=NAME] [group=NAME] [pasid_bits=N]");
        }

        ulong id = Number(f[1], "ID");
        if (id > TranslationRequest.MaxDeviceId || _devices.ContainsKey((uint)id))
        {
            throw Error(id > TranslationRequest.MaxDeviceId ? $"device_id 0x{id:x} does not fit 24 bits" : $"device 0x{id:x} declared twice");
        }

        if (_instances.Count == 0)
        {
            _instances.Add("iommu0");
        }

        int instance = 0, pasidBits = 0;
        string group = "device:" + id.ToString(CultureInfo.InvariantCulture);
        for (int i = 2; i < f.Length; i++)
        {
            int eq = f[i].IndexOf('=', StringComparison.Ordinal);
            string key = eq > 0 ? f[i][..eq] : f[i], value = eq > 0 ? f[i][(eq + 1)..] : "";
            switch (key)
            {
                case "iommu":
                    instance = _instances.IndexOf(value);
                    if (instance < 0)
                    {
                        throw Error($"no iommu named '{value}'");
                    }

                    break;
                case "group":
                    group = value.Length > 0 ? value : throw Error("group= needs a name");
                    break;
                case "pasid_bits":
                    ulong bits = Number(value, "pasid_bits");
                    pasidBits = bits <= 20 ? (int)bits : throw Error($"pasid_bits {bits}: at most 20");
                    break;
                default:
                    throw Error($"unknown device option '{f[i]}' (iommu=, group=, pasid_bits=)");
            }
        }

        if (!_groups.TryGetValue(group, out int groupIndex))
        {
            groupIndex = _groupNames.Count;
            _groups.Add(group, groupIndex);
            _groupNames.Add(group);
        }

        _devices.Add((uint)id, _deviceList.Count);
        _ops.Add(new TraceOp(TraceOpKind.Device, _line, _deviceList.Count));
        _deviceList.Add(new TraceDevice((uint)id, instance, groupIndex, pasidBits));
    }

    private void ParseDma(string[] f)
    {
        Count(f, 5, "dma DEVICE PASID|- IOVA r|w");
        int device = Device(f[1]);
        bool hasPasid = f[2] != "-";
        ulong pasid = hasPasid ? Number(f[2], "PASID") : 0;
        if (pasid >= 1UL << 20)
        {
            throw Error($"PASID {pasid} does not fit 20 bits");
        }

        var access = f[4] switch
        {
            "r" => AccessType.Read,
            "w" => AccessType.Write,
            _ => throw Error($"access '{f[4]}': r or w"),
        };
        _ops.Add(new TraceOp(TraceOpKind.Dma, _line, device, Iova: Number(f[3], "IOVA"), Pasid: (uint)pasid, HasPasid: hasPasid, Access: access));
    }

    private void Count(string[] f, int expected, string usage)
    {
        if (f.Length != expected)
        {
            throw Error($"expected: {usage}");
        }
    }

    private ulong Number(string text, string what) =>
        Numbers.TryParse(text, out ulong value) ? value : throw Error($"{what} '{text}' is not a number (hex with 0x, or decimal)");

    private int Domain(string name) => _domains.TryGetValue(name, out int index) ? index : throw Error($"no domain named '{name}'");

    private int Device(string text) =>
        _devices.TryGetValue((uint)Math.Min(Number(text, "DEVICE"), uint.MaxValue), out int index)
            ? index
            : throw Error($"no device {text} (declare it with 'device {text}')");

    /// <summary>A group by name, or a device's own group by its id.</summary>
    private int Group(string text)
    {
        if (_groups.TryGetValue(text, out int index))
        {
            return index;
        }

        if (Numbers.TryParse(text, out ulong id) && _devices.TryGetValue((uint)Math.Min(id, uint.MaxValue), out int device))
        {
            return _deviceList[device].Group;
        }

        throw Error($"no group or device '{text}'");
    }

    private PagingModeKind Mode(string text) => text switch
    {
        "sv39" => PagingModeKind.Sv39,
        "sv48" => PagingModeKind.Sv48,
        "sv57" => PagingModeKind.Sv57,
        "sv39x4" => PagingModeKind.Sv39x4,
        "sv48x4" => PagingModeKind.Sv48x4,
        "sv57x4" => PagingModeKind.Sv57x4,
        _ => throw Error($"mode '{text}': sv39, sv48, sv57, sv39x4, sv48x4 or sv57x4"),
    };

    private DmaProtection Protection(string text)
    {
        var prot = (DmaProtection)0;
        foreach (char c in text)
        {
            prot |= c switch
            {
                'r' => DmaProtection.Read,
                'w' => DmaProtection.Write,
                'x' => DmaProtection.Execute,
                _ => throw Error($"permissions '{text}': letters r, w, x"),
            };
        }

        return prot;
    }

    private TraceException Error(string message) => new(_line, message);
}
