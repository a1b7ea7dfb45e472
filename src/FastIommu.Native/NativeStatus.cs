using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using FastIommu.Memory;
using FastIommu.PageTables;

namespace FastIommu.Native;

/// <summary>fastiommu_status in fastiommu.h: the value every export returns. Keep the two in step (the C tests
/// check each value through fastiommu_status_name).</summary>
internal enum NativeStatus
{
    Ok = 0,
    InvalidHandle = 1,
    InvalidArgument = 2,
    OutOfMemory = 3,
    InUse = 4,
    HandleTableFull = 5,
    AccessFault = 6,
    Unsupported = 7,
    Misaligned = 8,
    IovaOutOfRange = 9,
    PaOutOfRange = 10,
    InvalidProtection = 11,
    Overlap = 12,
    PartialSuperpage = 13,
    NotMapped = 14,
    ForeignGather = 15,
    Internal = 16,
    ImageFormat = 17,
    Timeout = 18,
    CommandQueue = 19,
    IdsExhausted = 20,
    BufferTooSmall = 21,
    Io = 22,
}

internal static class StatusMap
{
    /// <summary>The status of a page-table outcome.</summary>
    public static NativeStatus From(MapStatus status) => status switch
    {
        MapStatus.Success => NativeStatus.Ok,
        MapStatus.ZeroSize => NativeStatus.InvalidArgument,
        MapStatus.MisalignedIova or MapStatus.MisalignedPhysicalAddress or MapStatus.MisalignedSize => NativeStatus.Misaligned,
        MapStatus.IovaOutOfRange => NativeStatus.IovaOutOfRange,
        MapStatus.PhysicalAddressOutOfRange => NativeStatus.PaOutOfRange,
        MapStatus.InvalidProtection => NativeStatus.InvalidProtection,
        MapStatus.Overlap => NativeStatus.Overlap,
        MapStatus.OutOfMemory => NativeStatus.OutOfMemory,
        MapStatus.PartialSuperpage => NativeStatus.PartialSuperpage,
        MapStatus.NotMapped => NativeStatus.NotMapped,
        MapStatus.ForeignGather => NativeStatus.ForeignGather,
        _ => NativeStatus.Internal,
    };

    /// <summary>The status of an exception that reached an export (every export catches all of them: an exception
    /// crossing into C would end the host process).</summary>
    public static NativeStatus From(Exception exception) => exception switch
    {
        PageTableException e => From(e.Status),
        Images.ImageFormatException => NativeStatus.ImageFormat,
        Driver.CommandQueueTimeoutException => NativeStatus.Timeout,
        Driver.CommandQueueException => NativeStatus.CommandQueue,
        Driver.IdSpaceExhaustedException => NativeStatus.IdsExhausted,
        IOException or UnauthorizedAccessException => NativeStatus.Io,
        OutOfPhysicalMemoryException or OutOfMemoryException => NativeStatus.OutOfMemory,
        PhysicalAddressException => NativeStatus.AccessFault,
        ObjectDisposedException => NativeStatus.InvalidHandle,
        HandleTableFullException => NativeStatus.HandleTableFull,
        ArgumentException or OverflowException => NativeStatus.InvalidArgument,
        NotSupportedException => NativeStatus.Unsupported,
        // Lifetime refusals (an object still in use) are InvalidOperationException in the core.
        InvalidOperationException => NativeStatus.InUse,
        _ => NativeStatus.Internal,
    };

    public static string Name(NativeStatus status) => status switch
    {
        NativeStatus.Ok => "FASTIOMMU_OK",
        NativeStatus.InvalidHandle => "FASTIOMMU_ERR_INVALID_HANDLE",
        NativeStatus.InvalidArgument => "FASTIOMMU_ERR_INVALID_ARGUMENT",
        NativeStatus.OutOfMemory => "FASTIOMMU_ERR_OUT_OF_MEMORY",
        NativeStatus.InUse => "FASTIOMMU_ERR_IN_USE",
        NativeStatus.HandleTableFull => "FASTIOMMU_ERR_HANDLE_TABLE_FULL",
        NativeStatus.AccessFault => "FASTIOMMU_ERR_ACCESS_FAULT",
        NativeStatus.Unsupported => "FASTIOMMU_ERR_UNSUPPORTED",
        NativeStatus.Misaligned => "FASTIOMMU_ERR_MISALIGNED",
        NativeStatus.IovaOutOfRange => "FASTIOMMU_ERR_IOVA_OUT_OF_RANGE",
        NativeStatus.PaOutOfRange => "FASTIOMMU_ERR_PA_OUT_OF_RANGE",
        NativeStatus.InvalidProtection => "FASTIOMMU_ERR_INVALID_PROTECTION",
        NativeStatus.Overlap => "FASTIOMMU_ERR_OVERLAP",
        NativeStatus.PartialSuperpage => "FASTIOMMU_ERR_PARTIAL_SUPERPAGE",
        NativeStatus.NotMapped => "FASTIOMMU_ERR_NOT_MAPPED",
        NativeStatus.ForeignGather => "FASTIOMMU_ERR_FOREIGN_GATHER",
        NativeStatus.Internal => "FASTIOMMU_ERR_INTERNAL",
        NativeStatus.ImageFormat => "FASTIOMMU_ERR_IMAGE_FORMAT",
        NativeStatus.Timeout => "FASTIOMMU_ERR_TIMEOUT",
        NativeStatus.CommandQueue => "FASTIOMMU_ERR_COMMAND_QUEUE",
        NativeStatus.IdsExhausted => "FASTIOMMU_ERR_IDS_EXHAUSTED",
        NativeStatus.BufferTooSmall => "FASTIOMMU_ERR_BUFFER_TOO_SMALL",
        NativeStatus.Io => "FASTIOMMU_ERR_IO",
        _ => "FASTIOMMU_ERR_UNKNOWN",
    };
}

/// <summary>The per-thread message of the last failed call (fastiommu_last_error). Kept in a pinned managed buffer
/// per thread: the pointer handed to C stays valid until the next failure on that thread, and the buffer dies with
/// the thread, so nothing leaks. Successful calls leave it alone (no cost on the fast paths).</summary>
internal static unsafe class LastError
{
    private const int Capacity = 1024;

    [ThreadStatic]
    private static byte[]? t_buffer;

    // One NUL byte in the image's read-only data (a fixed over an empty span would give NULL).
    private static ReadOnlySpan<byte> Empty => "\0"u8;

    public static NativeStatus Set(NativeStatus status, string message)
    {
        byte[] buffer = t_buffer ??= GC.AllocateArray<byte>(Capacity, pinned: true);
        string text = $"{StatusMap.Name(status)}: {message}";
        // A UTF-16 unit is at most 3 UTF-8 bytes: 340 of them always fit with the terminating NUL.
        int written = System.Text.Encoding.UTF8.GetBytes(text.AsSpan(0, Math.Min(text.Length, (Capacity - 1) / 3)), buffer);
        buffer[written] = 0;
        return status;
    }

    public static NativeStatus Set(Exception exception)
    {
        NativeStatus status = StatusMap.From(exception);
        return Set(status, $"{exception.GetType().Name}: {exception.Message}");
    }

    /// <summary>The message as a NUL-terminated UTF-8 string ("" when no call on this thread failed yet).</summary>
    public static byte* Pointer()
    {
        byte[]? buffer = t_buffer;
        if (buffer is null)
        {
            return (byte*)Unsafe.AsPointer(ref MemoryMarshal.GetReference(Empty)); // never moves
        }

        return (byte*)Unsafe.AsPointer(ref buffer[0]); // pinned-heap array: never moves
    }
}
