namespace FastIommu.Hardware;

/// <summary>What the device side needs from memory: byte-range reads and writes that report an access fault
/// (false) instead of throwing. Temporary seam until the translation side's IMemoryAccess lands.</summary>
internal interface IDeviceMemory
{
    bool TryRead(ulong pa, Span<byte> destination);

    bool TryWrite(ulong pa, ReadOnlySpan<byte> source);
}

/// <summary>What the command queue and the register file drive in the translator: the live ddtp/fctl values and
/// the IOATC / directory-cache invalidations (spec "IOMMU Page-Table cache invalidation commands" and
/// "IOMMU directory cache invalidation commands").</summary>
internal interface ITranslationBackend
{
    void SetDdtp(ulong ddtp);

    void SetFctl(uint fctl);

    void InvalidateVma(bool gv, ushort gscid, bool pscv, uint pscid, bool av, ulong address);

    void InvalidateGvma(bool gv, ushort gscid, bool av, ulong address);

    void InvalidateDdt(bool dv, uint deviceId);

    void InvalidatePdt(uint deviceId, uint processId);
}
