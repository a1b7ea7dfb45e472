using FastIommu.Formats.RiscV;

namespace FastIommu.Driver;

/// <summary>A pooled buffer of commands for one instance, submitted with one doorbell (and one fence).</summary>
internal sealed class CommandBatch
{
    public const int Capacity = 64;

    private readonly Command[] _items = new Command[Capacity];

    public int Count { get; private set; }

    public bool IsFull => Count == Capacity;

    public ReadOnlySpan<Command> Commands => _items.AsSpan(0, Count);

    public void Add(in Command command) => _items[Count++] = command;

    public void Clear() => Count = 0;
}
