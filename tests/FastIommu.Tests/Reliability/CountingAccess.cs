using FastIommu.Hardware;
using FastIommu.Memory;

namespace FastIommu.Tests.Reliability;

/// <summary>
/// Memory for the fuzz targets: the plain <see cref="PhysicalMemoryAccess"/>, plus a count of the stores the model
/// made (A/D updates, fault records, queue heads), so a differential check knows when memory moved under a cached
/// translator, and a check that nothing outside the memory was ever reported as accessed.
/// </summary>
internal sealed class CountingAccess(PhysicalMemory memory) : IMemoryAccess
{
    private readonly PhysicalMemoryAccess _inner = new(memory);
    private long _writes;

    public long Writes => Volatile.Read(ref _writes);

    public bool TryRead64(ulong pa, out ulong value) => Inside(_inner.TryRead64(pa, out value), pa, 8);

    public bool TryWrite64(ulong pa, ulong value)
    {
        Interlocked.Increment(ref _writes);
        return Inside(_inner.TryWrite64(pa, value), pa, 8);
    }

    public bool TryCompareExchange64(ulong pa, ulong expected, ulong desired, out ulong observed)
    {
        Interlocked.Increment(ref _writes);
        return Inside(_inner.TryCompareExchange64(pa, expected, desired, out observed), pa, 8);
    }

    public bool TryRead(ulong pa, Span<byte> destination) => Inside(_inner.TryRead(pa, destination), pa, (ulong)destination.Length);

    public bool TryWrite(ulong pa, ReadOnlySpan<byte> source)
    {
        Interlocked.Increment(ref _writes);
        return Inside(_inner.TryWrite(pa, source), pa, (ulong)source.Length);
    }

    private bool Inside(bool ok, ulong pa, ulong length)
    {
        FuzzFailureException.Check(!ok || memory.Contains(pa, length), $"an access at 0x{pa:x} (+{length}) outside the memory succeeded");
        return ok;
    }
}
