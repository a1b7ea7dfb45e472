using FastIommu.Hardware;
using FastIommu.Memory;

namespace FastIommu.Cli.Replay;

/// <summary>The hardware model's view of memory with its reads counted: the replay reports the reads per walk, which
/// the model's own cache counters (which level served a request) do not give.</summary>
internal sealed class CountingMemoryAccess(PhysicalMemory memory) : IMemoryAccess
{
    private readonly PhysicalMemoryAccess _inner = new(memory);

    /// <summary>Reads (8-byte or block) the model made.</summary>
    public long Reads;

    public bool TryRead64(ulong pa, out ulong value)
    {
        Reads++;
        return _inner.TryRead64(pa, out value);
    }

    public bool TryWrite64(ulong pa, ulong value) => _inner.TryWrite64(pa, value);

    public bool TryCompareExchange64(ulong pa, ulong expected, ulong desired, out ulong observed) =>
        _inner.TryCompareExchange64(pa, expected, desired, out observed);

    public bool TryRead(ulong pa, Span<byte> destination)
    {
        Reads++;
        return _inner.TryRead(pa, destination);
    }

    public bool TryWrite(ulong pa, ReadOnlySpan<byte> source) => _inner.TryWrite(pa, source);
}
