using FastIommu.Driver;
using FastIommu.Formats.RiscV;
using FastIommu.Hardware;

namespace FastIommu.Cli.Replay;

// A parsed trace (format: docs/trace-format.md): setup declarations, and operations with every name resolved to an
// index, so the replay loop does no lookups by name.

/// <summary>What a trace line does.</summary>
internal enum TraceOpKind : byte
{
    Domain,
    Device,
    Attach,
    AttachPasid,
    Map,
    Unmap,
    Sync,
    Dma,
}

/// <summary>One trace line. Fields by kind: Domain (Index = domain, Mode); Device (Index = device); Attach (Index =
/// group, Target = domain); AttachPasid (Index = device, Target = domain, Pasid); Map (Index = domain, Iova, Pa,
/// Size, Protection); Unmap (Index = domain, Iova, Size); Sync (Index = domain); Dma (Index = device, Pasid or
/// HasPasid false, Iova, Access).</summary>
internal readonly record struct TraceOp(
    TraceOpKind Kind,
    int Line,
    int Index,
    int Target = 0,
    ulong Iova = 0,
    ulong Pa = 0,
    ulong Size = 0,
    uint Pasid = 0,
    bool HasPasid = false,
    DmaProtection Protection = 0,
    AccessType Access = AccessType.Read,
    PagingModeKind Mode = PagingModeKind.Sv39);

/// <summary>A device the trace declares: its device_id, instance, group and PASID width.</summary>
internal sealed record TraceDevice(uint Id, int Instance, int Group, int PasidBits);

/// <summary>A whole trace: RAM, the instances, domain names, groups, devices, and the operations in order.</summary>
internal sealed record Trace(
    ulong MemoryBase,
    ulong MemorySize,
    IReadOnlyList<string> Instances,
    IReadOnlyList<string> Domains,
    IReadOnlyList<string> Groups,
    IReadOnlyList<TraceDevice> Devices,
    TraceOp[] Ops);

/// <summary>A malformed trace line, or an operation the driver refused: the message starts with "line N:".</summary>
internal sealed class TraceException(int line, string message) : Exception($"line {line}: {message}")
{
    public int Line { get; } = line;
}
