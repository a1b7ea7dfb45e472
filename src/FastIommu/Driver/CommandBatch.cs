using FastIommu.Formats.RiscV;

namespace FastIommu.Driver;

/// <summary>A buffer of commands for one instance, on the caller's stack (<c>stackalloc Command[Capacity]</c>),
/// submitted with one doorbell (and one fence). A full buffer is submitted, without a fence, to make room.</summary>
/// <remarks>On the stack rather than pooled: renting from a lock-free pool and giving back cost two interlocked
/// operations per sync, which the strict unmap path pays on every call.</remarks>
internal ref struct CommandBatch(Span<Command> items)
{
    /// <summary>Commands a batch holds before it is submitted to make room (1 KiB of stack).</summary>
    public const int Capacity = 64;

    private readonly Span<Command> _items = items;
    private int _count;

    public readonly ReadOnlySpan<Command> Commands => _items[.._count];

    /// <summary>Adds <paramref name="command"/>, first submitting the batch to <paramref name="instance"/> when it is
    /// full.</summary>
    public void Add(IommuInstance instance, in Command command)
    {
        if (_count == _items.Length)
        {
            instance.Commands.Submit(Commands);
            _count = 0;
        }

        _items[_count++] = command;
    }

    public void Clear() => _count = 0;
}
