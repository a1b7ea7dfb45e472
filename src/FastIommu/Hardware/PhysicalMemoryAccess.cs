using System.Runtime.CompilerServices;
using FastIommu.Memory;

namespace FastIommu.Hardware;

/// <summary>
/// The fast <see cref="IMemoryAccess"/> over a <see cref="PhysicalMemory"/>: one bounds, alignment and disposal check
/// (<see cref="PhysicalMemory.QwordOrNull"/>), then a direct reference to the qword (<see cref="Volatile"/> for loads
/// and stores, <see cref="Interlocked"/> for the CAS). Addresses outside the memory, misaligned ones and a disposed
/// memory are access faults (false), never exceptions.
/// </summary>
public readonly struct PhysicalMemoryAccess : IMemoryAccess
{
    private readonly PhysicalMemory _memory;

    public PhysicalMemoryAccess(PhysicalMemory memory)
    {
        ArgumentNullException.ThrowIfNull(memory);
        _memory = memory;
    }

    /// <summary>The memory this accessor reads and writes.</summary>
    public PhysicalMemory Memory => _memory;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryRead64(ulong pa, out ulong value)
    {
        ref ulong q = ref _memory.QwordOrNull(pa);
        if (Unsafe.IsNullRef(ref q))
        {
            value = 0;
            return false;
        }

        value = Volatile.Read(ref q);
        return true;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryWrite64(ulong pa, ulong value)
    {
        ref ulong q = ref _memory.QwordOrNull(pa);
        if (Unsafe.IsNullRef(ref q))
        {
            return false;
        }

        Volatile.Write(ref q, value);
        return true;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryCompareExchange64(ulong pa, ulong expected, ulong desired, out ulong observed)
    {
        ref ulong q = ref _memory.QwordOrNull(pa);
        if (Unsafe.IsNullRef(ref q))
        {
            observed = 0;
            return false;
        }

        observed = Interlocked.CompareExchange(ref q, desired, expected);
        return true;
    }

    public bool TryRead(ulong pa, Span<byte> destination)
    {
        if (!_memory.TryGetSpan(pa, destination.Length, out Span<byte> span))
        {
            return false; // outside, or the memory is disposed
        }

        span.CopyTo(destination);
        return true;
    }

    public bool TryWrite(ulong pa, ReadOnlySpan<byte> source)
    {
        if (!_memory.TryGetSpan(pa, source.Length, out Span<byte> span))
        {
            return false;
        }

        source.CopyTo(span);
        return true;
    }
}

/// <summary>Adapts an <see cref="IMemoryAccess"/> object (an emulator's class) to the struct the walkers are
/// generic over. Each access is one interface call; implement <see cref="IMemoryAccess"/> on a struct to avoid it.</summary>
public readonly struct InterfaceMemoryAccess : IMemoryAccess
{
    private readonly IMemoryAccess _inner;

    public InterfaceMemoryAccess(IMemoryAccess inner)
    {
        ArgumentNullException.ThrowIfNull(inner);
        _inner = inner;
    }

    public bool TryRead64(ulong pa, out ulong value) => _inner.TryRead64(pa, out value);
    public bool TryWrite64(ulong pa, ulong value) => _inner.TryWrite64(pa, value);
    public bool TryCompareExchange64(ulong pa, ulong expected, ulong desired, out ulong observed) =>
        _inner.TryCompareExchange64(pa, expected, desired, out observed);
    public bool TryRead(ulong pa, Span<byte> destination) => _inner.TryRead(pa, destination);
    public bool TryWrite(ulong pa, ReadOnlySpan<byte> source) => _inner.TryWrite(pa, source);
}
