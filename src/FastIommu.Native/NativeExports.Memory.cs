using System.Runtime.InteropServices;
using FastIommu.Memory;

namespace FastIommu.Native;

internal static unsafe partial class NativeExports
{
    [UnmanagedCallersOnly(EntryPoint = "fastiommu_memory_create")]
    public static NativeStatus MemoryCreate(ulong size, ulong basePa, ulong* memory)
    {
        try
        {
            if (memory == null)
            {
                return NullArgument("memory");
            }

            return Publish(new MemoryObject { Physical = PhysicalMemory.Allocate(size, basePa) }, memory);
        }
        catch (Exception e)
        {
            return Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "fastiommu_memory_wrap")]
    public static NativeStatus MemoryWrap(void* host, ulong size, ulong basePa, ulong* memory)
    {
        try
        {
            if (memory == null)
            {
                return NullArgument("memory");
            }

            if (host == null)
            {
                return NullArgument("host");
            }

            return Publish(new MemoryObject { Physical = PhysicalMemory.Wrap((nint)host, size, basePa) }, memory);
        }
        catch (Exception e)
        {
            return Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "fastiommu_memory_create_callbacks")]
    public static NativeStatus MemoryCreateCallbacks(MemoryCallbacks* callbacks, ulong* memory)
    {
        try
        {
            if (memory == null || callbacks == null)
            {
                return NullArgument(memory == null ? "memory" : "callbacks");
            }

            if (callbacks->Read == null || callbacks->Write == null || callbacks->CompareExchange64 == null)
            {
                return Fail(NativeStatus.InvalidArgument, "callbacks: read, write and compare_exchange64 are all required.");
            }

            return Publish(new MemoryObject { Callbacks = *callbacks }, memory);
        }
        catch (Exception e)
        {
            return Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "fastiommu_memory_destroy")]
    public static NativeStatus MemoryDestroy(ulong memory)
    {
        try
        {
            return HandleTable.Remove<MemoryObject>(memory);
        }
        catch (Exception e)
        {
            return Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "fastiommu_memory_read")]
    public static NativeStatus MemoryRead(ulong memory, ulong pa, void* destination, ulong length)
    {
        try
        {
            MemoryObject? m = HandleTable.Find<MemoryObject>(memory);
            if (m is null)
            {
                return BadHandle("memory", memory);
            }

            if (destination == null && length != 0)
            {
                return NullArgument("destination");
            }

            bool ok = m.Physical is { } physical
                ? CopyOut(physical, pa, new Span<byte>(destination, checked((int)length)))
                : m.Callbacks.Read(m.Callbacks.Context, pa, destination, length) == 0;
            return ok ? NativeStatus.Ok : Fail(NativeStatus.AccessFault, $"Read of 0x{length:x} bytes at PA 0x{pa:x} is outside the memory.");
        }
        catch (Exception e)
        {
            return Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "fastiommu_memory_write")]
    public static NativeStatus MemoryWrite(ulong memory, ulong pa, void* source, ulong length)
    {
        try
        {
            MemoryObject? m = HandleTable.Find<MemoryObject>(memory);
            if (m is null)
            {
                return BadHandle("memory", memory);
            }

            if (source == null && length != 0)
            {
                return NullArgument("source");
            }

            bool ok = m.Physical is { } physical
                ? CopyIn(physical, pa, new ReadOnlySpan<byte>(source, checked((int)length)))
                : m.Callbacks.Write(m.Callbacks.Context, pa, source, length) == 0;
            return ok ? NativeStatus.Ok : Fail(NativeStatus.AccessFault, $"Write of 0x{length:x} bytes at PA 0x{pa:x} is outside the memory.");
        }
        catch (Exception e)
        {
            return Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "fastiommu_memory_host_pointer")]
    public static NativeStatus MemoryHostPointer(ulong memory, ulong pa, void** host)
    {
        try
        {
            MemoryObject? m = HandleTable.Find<MemoryObject>(memory);
            if (m is null)
            {
                return BadHandle("memory", memory);
            }

            if (host == null)
            {
                return NullArgument("host");
            }

            if (m.Physical is not { } physical)
            {
                return Fail(NativeStatus.Unsupported, "Callback memory has no host pointer.");
            }

            if (!physical.Contains(pa, 1))
            {
                return Fail(NativeStatus.AccessFault, $"PA 0x{pa:x} is outside [0x{physical.BaseAddress:x}, 0x{physical.EndAddress:x}).");
            }

            *host = (byte*)physical.HostPointer + (pa - physical.BaseAddress);
            return NativeStatus.Ok;
        }
        catch (Exception e)
        {
            return Fail(e);
        }
    }

    private static bool CopyOut(PhysicalMemory memory, ulong pa, Span<byte> destination)
    {
        if (!memory.Contains(pa, (ulong)destination.Length))
        {
            return false;
        }

        memory.GetSpan(pa, destination.Length).CopyTo(destination);
        return true;
    }

    private static bool CopyIn(PhysicalMemory memory, ulong pa, ReadOnlySpan<byte> source)
    {
        if (!memory.Contains(pa, (ulong)source.Length))
        {
            return false;
        }

        source.CopyTo(memory.GetSpan(pa, source.Length));
        return true;
    }
}
