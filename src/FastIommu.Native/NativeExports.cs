using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

// No zeroing of locals in the exports' frames: the translate export's frame (request and result copies) was zeroed
// in its prologue on every call, 192 bytes, for locals that are always written before they are read.
[module: SkipLocalsInit]

namespace FastIommu.Native;

/// <summary>
/// The C ABI (native-layout/include/fastiommu.h). Every export returns a <see cref="NativeStatus"/> and catches every
/// exception: one crossing into C would end the host process. Failures record a per-thread message (fastiommu_last_error).
/// Handles are looked up in <see cref="HandleTable"/>; a stale, destroyed or wrong-kind handle is
/// <see cref="NativeStatus.InvalidHandle"/>.
/// </summary>
internal static unsafe partial class NativeExports
{
    // fastiommu_mode: the iosatp/iohgatp MODE encoding, G-stage modes offset by 16 so each value names one mode.
    public const uint ModeSv39 = 8, ModeSv48 = 9, ModeSv57 = 10;
    public const uint ModeSv39x4 = 16 + 8, ModeSv48x4 = 16 + 9, ModeSv57x4 = 16 + 10;

    /// <summary>FASTIOMMU_ABI_VERSION: bumped when a signature or a struct of the header changes incompatibly.</summary>
    public const uint AbiVersion = 1;

    [UnmanagedCallersOnly(EntryPoint = "fastiommu_abi_version")]
    public static uint GetAbiVersion() => AbiVersion;

    [UnmanagedCallersOnly(EntryPoint = "fastiommu_last_error")]
    public static byte* GetLastError() => LastError.Pointer();

    [UnmanagedCallersOnly(EntryPoint = "fastiommu_status_name")]
    public static byte* GetStatusName(NativeStatus status) => status switch
    {
        NativeStatus.Ok => P("FASTIOMMU_OK"u8),
        NativeStatus.InvalidHandle => P("FASTIOMMU_ERR_INVALID_HANDLE"u8),
        NativeStatus.InvalidArgument => P("FASTIOMMU_ERR_INVALID_ARGUMENT"u8),
        NativeStatus.OutOfMemory => P("FASTIOMMU_ERR_OUT_OF_MEMORY"u8),
        NativeStatus.InUse => P("FASTIOMMU_ERR_IN_USE"u8),
        NativeStatus.HandleTableFull => P("FASTIOMMU_ERR_HANDLE_TABLE_FULL"u8),
        NativeStatus.AccessFault => P("FASTIOMMU_ERR_ACCESS_FAULT"u8),
        NativeStatus.Unsupported => P("FASTIOMMU_ERR_UNSUPPORTED"u8),
        NativeStatus.Misaligned => P("FASTIOMMU_ERR_MISALIGNED"u8),
        NativeStatus.IovaOutOfRange => P("FASTIOMMU_ERR_IOVA_OUT_OF_RANGE"u8),
        NativeStatus.PaOutOfRange => P("FASTIOMMU_ERR_PA_OUT_OF_RANGE"u8),
        NativeStatus.InvalidProtection => P("FASTIOMMU_ERR_INVALID_PROTECTION"u8),
        NativeStatus.Overlap => P("FASTIOMMU_ERR_OVERLAP"u8),
        NativeStatus.PartialSuperpage => P("FASTIOMMU_ERR_PARTIAL_SUPERPAGE"u8),
        NativeStatus.NotMapped => P("FASTIOMMU_ERR_NOT_MAPPED"u8),
        NativeStatus.ForeignGather => P("FASTIOMMU_ERR_FOREIGN_GATHER"u8),
        NativeStatus.Internal => P("FASTIOMMU_ERR_INTERNAL"u8),
        NativeStatus.ImageFormat => P("FASTIOMMU_ERR_IMAGE_FORMAT"u8),
        NativeStatus.Timeout => P("FASTIOMMU_ERR_TIMEOUT"u8),
        NativeStatus.CommandQueue => P("FASTIOMMU_ERR_COMMAND_QUEUE"u8),
        NativeStatus.IdsExhausted => P("FASTIOMMU_ERR_IDS_EXHAUSTED"u8),
        NativeStatus.BufferTooSmall => P("FASTIOMMU_ERR_BUFFER_TOO_SMALL"u8),
        NativeStatus.Io => P("FASTIOMMU_ERR_IO"u8),
        _ => P("FASTIOMMU_ERR_UNKNOWN"u8),
    };

    // u8 literals live in the image's read-only data: the pointer stays valid for the life of the process.
    private static byte* P(ReadOnlySpan<byte> literal) => (byte*)Unsafe.AsPointer(ref MemoryMarshal.GetReference(literal));

    private static NativeStatus Fail(NativeStatus status, string message) => LastError.Set(status, message);

    private static NativeStatus Fail(Exception exception) => LastError.Set(exception);

    private static NativeStatus NullArgument(string name) => Fail(NativeStatus.InvalidArgument, $"{name} is NULL.");

    private static NativeStatus BadHandle(string kind, ulong handle) =>
        Fail(NativeStatus.InvalidHandle, $"0x{handle:x} is not a live {kind} handle (destroyed, stale, of another kind, or never made).");

    /// <summary>Enters a new object and writes its handle; the object is released if the table is full.</summary>
    private static NativeStatus Publish(NativeObject target, ulong* handle)
    {
        try
        {
            *handle = HandleTable.Add(target);
            return NativeStatus.Ok;
        }
        catch (HandleTableFullException e)
        {
            target.Dispose();
            return Fail(e);
        }
    }
}
