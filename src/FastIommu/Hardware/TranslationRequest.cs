using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;

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
public struct TranslationRequest
{
    /// <summary>The widest device_id (24 bits).</summary>
    public const uint MaxDeviceId = 0xFF_FFFF;

    // The fields keep the order the auto-properties had (DeviceId first, Access after Iova): the same layout.
    private uint _deviceId;

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
    public uint ProcessId { get; set; }

    public bool ProcessIdValid { get; set; }

    /// <summary>The IOVA (for a translated request: the SPA, or the GPA when DC.tc.T2GPA = 1).</summary>
    public ulong Iova { get; set; }

    private AccessType _access;

    /// <exception cref="ArgumentOutOfRangeException">Not Read, Write or Execute.</exception>
    public AccessType Access
    {
        readonly get => _access;
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        set => _access = value <= AccessType.Execute ? value : ThrowAccess(value);
    }

    /// <summary>Supervisor privilege requested. Only a request with a process_id (PASID) can carry it,
    /// so it is ignored when <see cref="ProcessIdValid"/> is false.</summary>
    public bool Privileged { get; set; }

    /// <summary>A PCIe ATS translation request (TTYP 8).</summary>
    public bool AtsTranslationRequest { get; set; }

    /// <summary>A translated request (TTYP 5/6/7).</summary>
    public bool Translated { get; set; }

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
