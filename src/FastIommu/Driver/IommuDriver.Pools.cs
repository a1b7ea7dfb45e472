using Microsoft.Extensions.ObjectPool;

namespace FastIommu.Driver;

// Pools for what churns on the unmap/sync path, so a steady state allocates nothing.
public sealed partial class IommuDriver
{
    private readonly ObjectPool<UnmapGather> _gathers = new DefaultObjectPool<UnmapGather>(new GatherPolicy(), 64);
    private readonly ObjectPool<CommandBatch> _batches = new DefaultObjectPool<CommandBatch>(new BatchPolicy(), 64);

    /// <summary>An empty gather from the pool (for several unmaps synced together).</summary>
    public UnmapGather RentGather() => _gathers.Get();

    /// <summary>Gives an empty (synced) gather back without a sync.</summary>
    /// <exception cref="InvalidOperationException">It still holds unmaps that were never synced.</exception>
    public void ReturnGather(UnmapGather gather)
    {
        ArgumentNullException.ThrowIfNull(gather);
        if (!gather.IsEmpty)
        {
            throw new InvalidOperationException("The gather holds unmaps that were not synced; pass it to PagingDomain.Sync.");
        }

        gather.Reset();
        _gathers.Return(gather);
    }

    internal CommandBatch RentBatch() => _batches.Get();

    internal void ReturnBatch(CommandBatch batch)
    {
        batch.Clear();
        _batches.Return(batch);
    }

    private sealed class GatherPolicy : PooledObjectPolicy<UnmapGather>
    {
        public override UnmapGather Create() => new();

        public override bool Return(UnmapGather obj) => obj.IsEmpty;
    }

    private sealed class BatchPolicy : PooledObjectPolicy<CommandBatch>
    {
        public override CommandBatch Create() => new();

        public override bool Return(CommandBatch obj) => obj.Count == 0;
    }
}
