using FastIommu.Formats.RiscV;

namespace FastIommu.Driver;

/// <summary>What the driver sent to one IOMMU instance: commands by kind, syncs, fences, and the page-table pages
/// returned to the allocator after a sync's fences completed. Counters only grow; read them any time.</summary>
public sealed class IommuCounters
{
    private readonly long[] _commands = new long[8];
    private long _syncs;
    private long _fences;
    private long _pagesFreedAfterSync;

    /// <summary>Commands of <paramref name="kind"/> written to the queue.</summary>
    public long Commands(CommandKind kind) => Volatile.Read(ref _commands[(int)kind & 7]);

    /// <summary>Commands of every kind written to the queue.</summary>
    public long TotalCommands
    {
        get
        {
            long total = 0;
            for (int i = 0; i < _commands.Length; i++)
            {
                total += Volatile.Read(ref _commands[i]);
            }

            return total;
        }
    }

    /// <summary>IOTINVAL.VMA and IOTINVAL.GVMA written.</summary>
    public long Invalidations => Commands(CommandKind.IotinvalVma) + Commands(CommandKind.IotinvalGvma);

    /// <summary>Gather syncs that involved this instance.</summary>
    public long Syncs => Volatile.Read(ref _syncs);

    /// <summary>IOFENCE.C commands whose completion the driver waited for.</summary>
    public long Fences => Volatile.Read(ref _fences);

    /// <summary>Page-table pages freed after a sync's fences completed.</summary>
    public long PagesFreedAfterSync => Volatile.Read(ref _pagesFreedAfterSync);

    // Commands and syncs are counted by the command-queue writer under its lock (one writer at a time): a plain
    // increment, published by a release store for the readers' acquire loads; a locked add per command would be
    // a quarter of the atomics of a strict unmap's sync.
    internal void CountCommand(CommandKind kind)
    {
        ref long counter = ref _commands[(int)kind & 7];
        Volatile.Write(ref counter, counter + 1);
    }

    internal void CountSync() => Volatile.Write(ref _syncs, _syncs + 1);

    internal void CountFence() => Interlocked.Increment(ref _fences);

    internal void CountPagesFreed(int pages) => Interlocked.Add(ref _pagesFreedAfterSync, pages);

    public override string ToString() =>
        $"commands {TotalCommands} (VMA {Commands(CommandKind.IotinvalVma)}, GVMA {Commands(CommandKind.IotinvalGvma)}, " +
        $"IOFENCE.C {Commands(CommandKind.IofenceC)}, INVAL_DDT {Commands(CommandKind.IodirInvalDdt)}, INVAL_PDT {Commands(CommandKind.IodirInvalPdt)}), " +
        $"syncs {Syncs}, fences {Fences}, pages freed after sync {PagesFreedAfterSync}";
}
