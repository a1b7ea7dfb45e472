namespace FastIommu.Hardware;

/// <summary>What the command queue and the register file drive in the translator: the live ddtp/fctl values and
/// the IOATC / directory-cache invalidations (spec "IOMMU Page-Table cache invalidation commands" and
/// "IOMMU directory cache invalidation commands"). A seam so tests can record the decoded operands.</summary>
internal interface ITranslationBackend
{
    void SetDdtp(ulong ddtp);

    void SetFctl(uint fctl);

    void InvalidateVma(bool gv, ushort gscid, bool pscv, uint pscid, bool av, ulong address);

    void InvalidateGvma(bool gv, ushort gscid, bool av, ulong address);

    void InvalidateDdt(bool dv, uint deviceId);

    void InvalidatePdt(uint deviceId, uint processId);

    /// <summary>IOFENCE.C: returns once every translation walking memory when it was called has finished. A full
    /// fence: the command queue's write-back after it (AV) is ordered after every effect before it.</summary>
    void Fence();
}

/// <summary>The backend of a real device: the <see cref="IommuTranslator"/> itself.</summary>
internal sealed class TranslatorBackend(IommuTranslator translator) : ITranslationBackend
{
    public void SetDdtp(ulong ddtp) => translator.Ddtp = new Formats.RiscV.Ddtp(ddtp);

    public void SetFctl(uint fctl) => translator.Fctl = new Formats.RiscV.Fctl(fctl);

    public void InvalidateVma(bool gv, ushort gscid, bool pscv, uint pscid, bool av, ulong address) =>
        translator.InvalidateVma(gv, gscid, pscv, pscid, av, address);

    public void InvalidateGvma(bool gv, ushort gscid, bool av, ulong address) => translator.InvalidateGvma(gv, gscid, av, address);

    public void InvalidateDdt(bool dv, uint deviceId) => translator.InvalidateDdt(dv, deviceId);

    public void InvalidatePdt(uint deviceId, uint processId) => translator.InvalidatePdt(deviceId, processId);

    public void Fence() => translator.Fence();
}
