using FastIommu.Formats.RiscV;
using FastIommu.Memory;

namespace FastIommu.Driver;

/// <summary>
/// One RISC-V IOMMU as its driver sees it: the register page (<see cref="IIommuMmio"/>), the command and fault
/// queues, the device directory, and this instance's own PSCID (20-bit) and GSCID (16-bit) spaces. Created by
/// <see cref="IommuDriver.AddInstance"/>, which brings the hardware up; <see cref="Dispose"/> shuts it down.
/// </summary>
/// <remarks>PSCIDs and GSCIDs are per instance (not global as in Linux): a domain shared by devices of two instances
/// has one id on each, and a sync invalidates each (instance, id) once.</remarks>
public sealed partial class IommuInstance : IDisposable
{
    private readonly IIommuMmio _mmio;
    private readonly PageAllocator _allocator;
    private readonly PhysicalMemory _memory;
    private readonly CommandQueueWriter _commands;
    private readonly FaultQueueReader _faults;
    private readonly DeviceDirectory _directory;
    private readonly ulong _commandRing;
    private readonly ulong _faultRing;
    private readonly ulong _fencePage;
    private int _disposed;

    /// <summary>The driver this instance belongs to.</summary>
    public IommuDriver Driver { get; }

    /// <summary>A name for messages ("iommu0", ...).</summary>
    public string Name { get; }

    /// <summary>The capabilities register read at bring-up.</summary>
    public Capabilities Capabilities { get; }

    /// <summary>The choices made at bring-up.</summary>
    public IommuDriverOptions Options { get; }

    /// <summary>What the driver sent to this instance.</summary>
    public IommuCounters Counters { get; } = new();

    /// <summary>ddtp.iommu_mode programmed (1LVL, 2LVL or 3LVL).</summary>
    public DdtpMode DdtMode => _directory.Mode;

    /// <summary>True with 64-byte (extended) device contexts, i.e. capabilities.MSI_FLAT.</summary>
    public bool ExtendedDeviceContexts => _directory.Extended;

    /// <summary>device_id bits the DDT indexes (7/16/24 with base contexts, 6/15/24 with extended).</summary>
    public int DeviceIdBits => _directory.DeviceIdBits;

    /// <summary>Physical address of the DDT root.</summary>
    public ulong DdtRoot => _directory.Root;

    /// <summary>Pages the DDT uses (root included).</summary>
    public int DdtPages => _directory.PageCount;

    /// <summary>Physical address of the command-queue ring.</summary>
    public ulong CommandQueueBase => _commandRing;

    /// <summary>Physical address of the fault-queue ring.</summary>
    public ulong FaultQueueBase => _faultRing;

    /// <summary>The memory the driver writes the DDT, PDTs and queues into.</summary>
    public PhysicalMemory Memory => _memory;

    /// <summary>PSCIDs handed out now.</summary>
    public int PscidsInUse => Pscids.InUse;

    /// <summary>GSCIDs handed out now.</summary>
    public int GscidsInUse => Gscids.InUse;

    internal IdAllocator Pscids { get; }

    internal IdAllocator Gscids { get; }

    internal CommandQueueWriter Commands => _commands;

    internal DeviceDirectory Directory => _directory;

    internal IIommuMmio Mmio => _mmio;

    /// <summary>Where DDT and PDT pages come from.</summary>
    internal PageAllocator DirectoryAllocator => _allocator;

    /// <summary>True once shut down.</summary>
    public bool IsDisposed => Volatile.Read(ref _disposed) != 0;

    /// <summary>Takes the oldest fault record from the fault queue; false when it is empty.</summary>
    public bool TryReadFault(out FaultRecord record)
    {
        ThrowIfDisposed();
        return _faults.TryRead(out record);
    }

    /// <summary>Takes up to <paramref name="records"/>.Length fault records, oldest first; returns how many.</summary>
    public int ReadFaults(Span<FaultRecord> records)
    {
        ThrowIfDisposed();
        return _faults.Read(records);
    }

    /// <summary>The fault-queue status (fqof: records were lost to a full queue; fqmf: a record store faulted), cleared.</summary>
    public FqCsr TakeFaultQueueStatus()
    {
        ThrowIfDisposed();
        return _faults.Status(clear: true);
    }

    /// <summary>Sends one IOFENCE.C and waits for its write-back: every command sent before it has completed.</summary>
    public void Sync()
    {
        ThrowIfDisposed();
        _commands.Sync();
    }

    internal void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(IsDisposed, this);

    public override string ToString() => $"{Name} ({DdtMode}, {(ExtendedDeviceContexts ? "64" : "32")}-byte DCs)";
}
