using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using FastIommu.Hardware;

namespace FastIommu.Native;

/// <summary>fastiommu_memory_callbacks in fastiommu.h: memory the emulator reaches through its own functions.
/// Each returns 0 on success and anything else for an access fault.</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct MemoryCallbacks
{
    public void* Context;
    public delegate* unmanaged<void*, ulong, void*, ulong, int> Read;
    public delegate* unmanaged<void*, ulong, void*, ulong, int> Write;
    public delegate* unmanaged<void*, ulong, ulong, ulong, ulong*, int> CompareExchange64;
}

/// <summary>The device model's <see cref="IMemoryAccess"/> over the emulator's callbacks. A struct, so the translator
/// specialised for it (<see cref="RiscVIommu.Create{TMemory}"/>) calls the function pointers directly.</summary>
internal readonly unsafe struct CallbackMemoryAccess : IMemoryAccess
{
    private readonly MemoryCallbacks _callbacks;

    public CallbackMemoryAccess(in MemoryCallbacks callbacks) => _callbacks = callbacks;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryRead64(ulong pa, out ulong value)
    {
        ulong v = 0;
        bool ok = (pa & 7) == 0 && _callbacks.Read(_callbacks.Context, pa, &v, 8) == 0;
        value = ok ? v : 0;
        return ok;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryWrite64(ulong pa, ulong value) => (pa & 7) == 0 && _callbacks.Write(_callbacks.Context, pa, &value, 8) == 0;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryCompareExchange64(ulong pa, ulong expected, ulong desired, out ulong observed)
    {
        ulong o = 0;
        bool ok = (pa & 7) == 0 && _callbacks.CompareExchange64(_callbacks.Context, pa, expected, desired, &o) == 0;
        observed = ok ? o : 0;
        return ok;
    }

    public bool TryRead(ulong pa, Span<byte> destination)
    {
        fixed (byte* p = destination)
        {
            return _callbacks.Read(_callbacks.Context, pa, p, (ulong)destination.Length) == 0;
        }
    }

    public bool TryWrite(ulong pa, ReadOnlySpan<byte> source)
    {
        fixed (byte* p = source)
        {
            return _callbacks.Write(_callbacks.Context, pa, p, (ulong)source.Length) == 0;
        }
    }
}
