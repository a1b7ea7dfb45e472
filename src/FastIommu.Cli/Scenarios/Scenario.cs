using FastIommu.Driver;
using FastIommu.Formats.RiscV;

namespace FastIommu.Cli.Scenarios;

// The scenario file's model (format: docs/scenario-format.md). Every element keeps its JSON path, so an error found
// while building names the place in the file it came from.

/// <summary>A whole scenario: guest RAM, the driver's page pool, IOMMU instances, domains and devices.</summary>
internal sealed record Scenario(
    ulong MemoryBase,
    ulong MemorySize,
    Window DriverPages,
    IReadOnlyList<InstanceSpec> Instances,
    IReadOnlyList<DomainSpec> Domains,
    IReadOnlyList<DeviceSpec> Devices);

/// <summary>A range of guest RAM [Base, Base + Size) given to a page allocator.</summary>
internal sealed record Window(ulong Base, ulong Size, string Path);

/// <summary>One IOMMU: its name, capabilities register (MSI_FLAT set when <c>dc_format</c> is extended), DDT depth
/// and optionally its own page window for its DDT and queues.</summary>
internal sealed record InstanceSpec(string Name, Capabilities Capabilities, int DdtLevels, Window? Pages, string Path);

/// <summary>What a domain is made of.</summary>
internal enum DomainSpecKind
{
    /// <summary>A paging domain: a first stage (Sv39/48/57) or a G-stage (Sv39x4/48x4/57x4).</summary>
    Paging,

    /// <summary>A process address space for SVA binds (first stage).</summary>
    Sva,

    /// <summary>A guest's PDT over a G-stage parent.</summary>
    Nested,
}

/// <summary>One domain by name.</summary>
internal sealed record DomainSpec(
    string Name,
    DomainSpecKind Kind,
    PagingModeKind Mode,
    IReadOnlyList<MappingSpec> Mappings,
    string? Parent,
    GuestSpec? Guest,
    string Path);

/// <summary>iova → pa for size bytes with R/W/X.</summary>
internal sealed record MappingSpec(ulong Iova, ulong Pa, ulong Size, DmaProtection Protection, string Path);

/// <summary>A nested domain's guest: its RAM (GPA range backed by host RAM at HostPa), the page pool its kernel
/// allocates from (GPAs), its PDT format and its processes.</summary>
internal sealed record GuestSpec(
    ulong GpaBase,
    ulong HostPa,
    ulong Size,
    Window Pages,
    PdtpMode PdtMode,
    IReadOnlyList<GuestProcessSpec> Processes,
    string Path);

/// <summary>One process context the guest writes: its PASID, PSCID and first-stage table with mappings (GPAs).</summary>
internal sealed record GuestProcessSpec(uint Pasid, uint Pscid, PagingModeKind Mode, IReadOnlyList<MappingSpec> Mappings, string Path);

/// <summary>One device: device_id, its instance, group, domain (null: blocked; "identity": bypass), PASID width,
/// features, PASID attachments and SVA binds.</summary>
internal sealed record DeviceSpec(
    uint Id,
    string Instance,
    string? Group,
    string? Domain,
    int PasidBits,
    DeviceFeatures Features,
    IReadOnlyList<PasidSpec> Pasids,
    IReadOnlyList<SvaSpec> SvaBinds,
    string Path);

/// <summary>A domain attached to one PASID of a device.</summary>
internal sealed record PasidSpec(uint Pasid, string Domain, string Path);

/// <summary>An SVA bind of a device to an address space (the driver picks the PASID).</summary>
internal sealed record SvaSpec(string Domain, string Path);

/// <summary>A scenario that cannot be built: <see cref="Exception.Message"/> starts with the JSON path.</summary>
internal sealed class ScenarioException(string path, string message) : Exception($"{path}: {message}")
{
    public string JsonPath { get; } = path;
}
