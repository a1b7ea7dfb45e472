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
    /// <summary>device_id (24 bits used; wider values are "transaction type disallowed", cause 260).</summary>
    public uint DeviceId { get; set; }

    /// <summary>process_id (PASID), 20 bits; meaningful when <see cref="ProcessIdValid"/>.</summary>
    public uint ProcessId { get; set; }

    public bool ProcessIdValid { get; set; }

    /// <summary>The IOVA (for a translated request: the SPA, or the GPA when DC.tc.T2GPA = 1).</summary>
    public ulong Iova { get; set; }

    public AccessType Access { get; set; }

    /// <summary>Supervisor privilege requested. Only a request with a process_id (PASID) can carry it,
    /// so it is ignored when <see cref="ProcessIdValid"/> is false.</summary>
    public bool Privileged { get; set; }

    /// <summary>A PCIe ATS translation request (TTYP 8).</summary>
    public bool AtsTranslationRequest { get; set; }

    /// <summary>A translated request (TTYP 5/6/7).</summary>
    public bool Translated { get; set; }

    public TranslationRequest(uint deviceId, ulong iova, AccessType access)
    {
        DeviceId = deviceId;
        Iova = iova;
        Access = access;
    }

    /// <summary>A request with a process_id.</summary>
    public TranslationRequest(uint deviceId, uint processId, ulong iova, AccessType access, bool privileged = false)
    {
        DeviceId = deviceId;
        ProcessId = processId;
        ProcessIdValid = true;
        Iova = iova;
        Access = access;
        Privileged = privileged;
    }
}
