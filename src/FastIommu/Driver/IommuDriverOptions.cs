namespace FastIommu.Driver;

/// <summary>Choices a driver makes for one IOMMU instance at bring-up.</summary>
public sealed record IommuDriverOptions
{
    /// <summary>log2 of the command-queue entries (16 B each): 1..10 (a ring fits in one 16 KiB block). Default 8 (one page).</summary>
    public int CommandQueueLog2Entries { get; init; } = 8;

    /// <summary>log2 of the fault-queue records (32 B each): 1..9. Default 7 (one page).</summary>
    public int FaultQueueLog2Entries { get; init; } = 7;

    /// <summary>Deepest DDT the driver asks for (1..3); it takes the deepest the device accepts up to this
    /// (spec "Guidelines for initialization": modes are found by writing ddtp and reading it back). Default 3.</summary>
    public int MaxDdtLevels { get; init; } = 3;

    /// <summary>How long the driver waits for the hardware (a free command slot, a fence) before it gives up with a
    /// <see cref="TimeoutException"/>. Default 2 s.</summary>
    public TimeSpan CommandTimeout { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>Above this many bytes a sync flushes the whole PSCID/GSCID with one command instead of one
    /// page-addressed IOTINVAL per 4 KiB page (Linux's riscv driver uses 2 MiB). Default 2 MiB.</summary>
    public ulong PageInvalidationLimit { get; init; } = 2UL << 20;

    /// <summary>PSCIDs this instance hands out: 1 .. PscidCount - 1 (0 stays unused, as in Linux). At most 2^20.</summary>
    public int PscidCount { get; init; } = 1 << 20;

    /// <summary>GSCIDs this instance hands out: 1 .. GscidCount - 1. At most 2^16.</summary>
    public int GscidCount { get; init; } = 1 << 16;

    /// <summary>The defaults.</summary>
    public static IommuDriverOptions Default { get; } = new();
}
