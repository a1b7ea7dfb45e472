using System.Runtime.CompilerServices;
using FastIommu.Formats.RiscV;

namespace FastIommu.Hardware;

/// <summary>
/// The outcome of one translation: the physical address, the size of the translation and its permissions,
/// or the fault with the fields a fault record carries (CAUSE, TTYP, iotval, iotval2).
/// </summary>
/// <remarks>
/// For a PCIe ATS translation request (TTYP 8) a page fault, guest-page fault or "PDT entry not valid" is a
/// Success response with R = W = 0 (spec, "PCIe ATS translation request handling"): <see cref="Success"/> is true,
/// <see cref="Readable"/> and <see cref="Writable"/> are false and <see cref="Cause"/> says why; nothing is logged.
/// <para>The hot path builds and returns one per translation, so the struct is 40 bytes: the four 64-bit values,
/// CAUSE, TTYP, the memory type and one byte holding the five flags (bit 0 R, 1 W, 2 X, 3 success, 4 report suppressed; R, W, X
/// in the same bits as the IOTLB's flags).</para>
/// </remarks>
public struct TranslationResult
{
    internal const byte ReadableBit = 1, WritableBit = 2, ExecutableBit = 4, SuccessBit = 8, SuppressedBit = 16;

    /// <summary>The SPA (or for an ATS request with DC.tc.T2GPA = 1, the GPA).</summary>
    public ulong PhysicalAddress { get; set; }

    /// <summary>Bytes covered by the translation (4 KiB, 64 KiB NAPOT, 2 MiB, ...): the smaller of the two stages.</summary>
    public ulong PageSize { get; set; }

    /// <summary>iotval: the IOVA of the faulting transaction.</summary>
    public ulong Iotval { get; set; }

    /// <summary>iotval2: for a guest-page fault, GPA[63:2] in bits 63:2, bit 0 = implicit first-stage access,
    /// bit 1 = that implicit access was a write. 0 otherwise.</summary>
    public ulong Iotval2 { get; set; }

    /// <summary>The spec's CAUSE when the translation faulted (0 on success).</summary>
    public FaultCause Cause { get; set; }

    /// <summary>The spec's TTYP of the request.</summary>
    public TransactionType Ttyp { get; set; }

    /// <summary>The page-based memory type of a successful translation (Svpbmt): the first-stage leaf's PBMT unless
    /// it is PMA, else the G-stage leaf's (what tr_response.PBMT reports). PMA for Bare stages.</summary>
    public PageBasedMemoryType MemoryType { get; set; }

    // Declared after the 64-bit values, CAUSE, TTYP and the memory type: the struct stays 40 bytes.
    private byte _flags;

    /// <summary>The five flags as stored (bit 0 R, 1 W, 2 X, 3 success, 4 report suppressed).</summary>
    internal readonly byte FlagBits => _flags;

    /// <summary>A successful translation: every field set, so the hot path writes the result in place.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal TranslationResult(ulong physicalAddress, ulong pageSize, ulong iotval, TransactionType ttyp,
        PageBasedMemoryType memoryType, byte flags)
        : this(physicalAddress, pageSize, iotval, 0, FaultCause.None, ttyp, memoryType, flags)
    {
    }

    /// <summary>Every field. The translator builds each outcome where it returns it, with this constructor always
    /// inlined, so the fields go straight into the caller's return buffer instead of into a local that is then
    /// copied (which RyuJIT did in the large full-translation method).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal TranslationResult(ulong physicalAddress, ulong pageSize, ulong iotval, ulong iotval2, FaultCause cause,
        TransactionType ttyp, PageBasedMemoryType memoryType, byte flags)
    {
        PhysicalAddress = physicalAddress;
        PageSize = pageSize;
        Iotval = iotval;
        Iotval2 = iotval2;
        Cause = cause;
        Ttyp = ttyp;
        MemoryType = memoryType;
        _flags = flags;
    }

    /// <summary>Copies this result into <paramref name="destination"/> field by field, each as wide as the field.
    /// A struct copy moves a just-returned result with 16-byte loads across the 8-byte stores that wrote it, which
    /// the store buffer cannot forward: each such load waits for the stores to reach the cache (issue 13's C API,
    /// and the batch translate, measured it).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal readonly void CopyTo(ref TranslationResult destination)
    {
        destination.PhysicalAddress = PhysicalAddress;
        destination.PageSize = PageSize;
        destination.Iotval = Iotval;
        destination.Iotval2 = Iotval2;
        destination.Cause = Cause;
        destination.Ttyp = Ttyp;
        destination.MemoryType = MemoryType;
        destination._flags = _flags;
    }

    public bool Success { readonly get => (_flags & SuccessBit) != 0; set => SetFlag(SuccessBit, value); }

    public bool Readable { readonly get => (_flags & ReadableBit) != 0; set => SetFlag(ReadableBit, value); }
    public bool Writable { readonly get => (_flags & WritableBit) != 0; set => SetFlag(WritableBit, value); }
    public bool Executable { readonly get => (_flags & ExecutableBit) != 0; set => SetFlag(ExecutableBit, value); }

    /// <summary>DC.tc.DTF = 1 and the cause is one DTF suppresses: the IOMMU aborts the transaction but does
    /// not write a fault record.</summary>
    public bool FaultReportSuppressed { readonly get => (_flags & SuppressedBit) != 0; set => SetFlag(SuppressedBit, value); }

    /// <summary>True when the request was faulted and a fault record should be written to the fault queue.</summary>
    public readonly bool ShouldReport => !Success && !FaultReportSuppressed;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void SetFlag(byte bit, bool value) => _flags = value ? (byte)(_flags | bit) : (byte)(_flags & ~bit);

    public override readonly string ToString() => Success
        ? $"PA 0x{PhysicalAddress:x} size 0x{PageSize:x} {(Readable ? "R" : "-")}{(Writable ? "W" : "-")}{(Executable ? "X" : "-")}"
        : $"fault cause {(ushort)Cause} ttyp {(byte)Ttyp} iotval 0x{Iotval:x} iotval2 0x{Iotval2:x}{(FaultReportSuppressed ? " (DTF)" : "")}";
}
