using FastIommu.Formats.RiscV;
using FastIommu.Hardware;

namespace FastIommu.Cli.Replay;

/// <summary>What a replay counted from outside the hardware model: results, and memory reads (a translation that made
/// none was served by the model's caches, one that read memory walked contexts and/or page tables). Which cache level
/// served a request comes from the model's own counters (<see cref="ReplayRunner.CacheStatistics"/>).</summary>
internal sealed class ReplayStats
{
    private readonly Dictionary<FaultCause, long> _faults = [];

    public long Operations { get; set; }

    public TimeSpan Elapsed { get; set; }

    public long Maps { get; set; }

    public long Unmaps { get; set; }

    /// <summary>Gather syncs the replay asked for (each sends its IOTINVALs and one IOFENCE.C per instance used).</summary>
    public long Syncs { get; set; }

    public long Dma { get; private set; }

    public long Translated { get; private set; }

    /// <summary>DMA requests the model answered without reading memory.</summary>
    public long Cached { get; private set; }

    /// <summary>DMA requests that read memory, and the reads they made.</summary>
    public long Walks { get; private set; }

    public long WalkReads { get; private set; }

    /// <summary>Successful translations whose address the page table no longer gives (unmapped or remapped, not yet
    /// invalidated): checked only while unmaps wait for a sync.</summary>
    public long Stale { get; set; }

    public IReadOnlyDictionary<FaultCause, long> Faults => _faults;

    public void CountDma(in TranslationResult result, long reads)
    {
        Dma++;
        if (result.Success)
        {
            Translated++;
        }
        else
        {
            _faults[result.Cause] = _faults.GetValueOrDefault(result.Cause) + 1;
        }

        if (reads == 0)
        {
            Cached++;
        }
        else
        {
            Walks++;
            WalkReads += reads;
        }
    }
}
