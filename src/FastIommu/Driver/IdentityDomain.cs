using FastIommu.Formats.RiscV;

namespace FastIommu.Driver;

/// <summary>DMA untranslated: a valid device context with iohgatp and iosatp Bare (Linux's riscv identity domain).</summary>
public sealed class IdentityDomain : IommuDomain
{
    internal IdentityDomain(IommuDriver driver) : base(driver, DomainKind.Identity)
    {
    }

    internal override ContextImage DeviceImage(Bond? bond) =>
        new(DeviceContextTc.Default.WithV(true), Iohgatp.Default, DeviceContextTa.Default, Iosatp.Default.Value);

    internal override bool FitsProcessContext => true;

    internal override ProcessContext ProcessImage(Bond? bond) => new(ProcessContextTa.Default.WithV(true), Iosatp.Default);
}
