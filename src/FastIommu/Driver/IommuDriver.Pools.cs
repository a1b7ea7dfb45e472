using Microsoft.Extensions.ObjectPool;

namespace FastIommu.Driver;

// The pool of gathers, which churn on the unmap/sync path, so a steady state allocates nothing (command batches live
// on the stack: CommandBatch).
public sealed partial class IommuDriver
{
    private readonly ObjectPool<UnmapGather> _gathers = new DefaultObjectPool<UnmapGather>(new GatherPolicy(), 64);

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

    private sealed class GatherPolicy : PooledObjectPolicy<UnmapGather>
    {
        public override UnmapGather Create() => new();

        public override bool Return(UnmapGather obj) => obj.IsEmpty;
    }
}
