using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace FastIommu.Hardware;

/// <summary>The kind of access an inbound transaction makes.</summary>
public enum AccessType : byte
{
    Read = 0,
    Write = 1,
    /// <summary>Read for execute.</summary>
    Execute = 2,
}

/// <summary>
/// One inbound transaction as the IO bridge presents it to the IOMMU: the hardware IDs, the address and the
/// transaction type (untranslated, translated, or a PCIe ATS translation request).
/// </summary>
/// <remarks>24 bytes laid out as the C API's <c>fastiommu_translate_request</c> (iova, device_id, process_id, the
/// flags PV 1, PRIV 2, ATS 4, TRANSLATED 8, access), so <c>libfastiommu</c> translates the caller's requests in
/// place, with no copy.</remarks>
[StructLayout(LayoutKind.Sequential)]
public struct TranslationRequest
{
    /// <summary>The widest device_id (24 bits).</summary>
    public const uint MaxDeviceId = 0xFF_FFFF;

    internal const uint ProcessIdValidFlag = 1, PrivilegedFlag = 2, AtsFlag = 4, TranslatedFlag = 8;

    private ulong _iova;
    private uint _deviceId;
    private uint _processId;
    private uint _flags;
    private uint _access;

    /// <summary>device_id, at most 24 bits (<see cref="MaxDeviceId"/>). One wider than the DDT mode supports is
    /// "transaction type disallowed" (cause 260).</summary>
    /// <exception cref="ArgumentOutOfRangeException">Wider than 24 bits: no bus carries it, and the fault record
    /// could not hold it.</exception>
    public uint DeviceId
    {
        readonly get => _deviceId;
        // Inlined: NativeAOT (no PGO) kept this setter a call with its own frame on the C API's translate path.
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        set => _deviceId = value <= MaxDeviceId ? value : ThrowDeviceId(value);
    }

    /// <summary>process_id (PASID), 20 bits; meaningful when <see cref="ProcessIdValid"/>.</summary>
    public uint ProcessId
    {
        readonly get => _processId;
        set => _processId = value;
    }

    public bool ProcessIdValid
    {
        readonly get => (_flags & ProcessIdValidFlag) != 0;
        set => SetFlag(ProcessIdValidFlag, value);
    }

    /// <summary>The IOVA (for a translated request: the SPA, or the GPA when DC.tc.T2GPA = 1).</summary>
    public ulong Iova
    {
        readonly get => _iova;
        set => _iova = value;
    }

    /// <exception cref="ArgumentOutOfRangeException">Not Read, Write or Execute.</exception>
    public AccessType Access
    {
        readonly get => (AccessType)_access;
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        set => _access = value <= AccessType.Execute ? (uint)value : (uint)ThrowAccess(value);
    }

    /// <summary>Supervisor privilege requested. Only a request with a process_id (PASID) can carry it,
    /// so it is ignored when <see cref="ProcessIdValid"/> is false.</summary>
    public bool Privileged
    {
        readonly get => (_flags & PrivilegedFlag) != 0;
        set => SetFlag(PrivilegedFlag, value);
    }

    /// <summary>A PCIe ATS translation request (TTYP 8).</summary>
    public bool AtsTranslationRequest
    {
        readonly get => (_flags & AtsFlag) != 0;
        set => SetFlag(AtsFlag, value);
    }

    /// <summary>A translated request (TTYP 5/6/7).</summary>
    public bool Translated
    {
        readonly get => (_flags & TranslatedFlag) != 0;
        set => SetFlag(TranslatedFlag, value);
    }


    /// <exception cref="ArgumentOutOfRangeException">device_id wider than 24 bits, or an undefined access type.</exception>
    public TranslationRequest(uint deviceId, ulong iova, AccessType access)
    {
        DeviceId = deviceId;
        Iova = iova;
        Access = access;
    }

    /// <summary>A request with a process_id.</summary>
    /// <exception cref="ArgumentOutOfRangeException">device_id wider than 24 bits, or an undefined access type.</exception>
    public TranslationRequest(uint deviceId, uint processId, ulong iova, AccessType access, bool privileged = false)
    {
        DeviceId = deviceId;
        ProcessId = processId;
        ProcessIdValid = true;
        Iova = iova;
        Access = access;
        Privileged = privileged;
    }

    private void SetFlag(uint flag, bool value) => _flags = value ? _flags | flag : _flags & ~flag;

    [DoesNotReturn]
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static uint ThrowDeviceId(uint value) =>
        throw new ArgumentOutOfRangeException(nameof(value), value,
            $"device_id 0x{value:x} is wider than 24 bits (at most 0x{MaxDeviceId:x}).");

    [DoesNotReturn]
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static AccessType ThrowAccess(AccessType value) =>
        throw new ArgumentOutOfRangeException(nameof(value), value,
            $"Access type {(byte)value} is not Read (0), Write (1) or Execute (2).");
}
