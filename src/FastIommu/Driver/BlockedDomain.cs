using FastIommu.Formats.RiscV;

namespace FastIommu.Driver;

/// <summary>No DMA. As Linux's riscv blocking domain: the device context is written with tc.V = 0, so every request
/// of the device faults (cause 258, "DDT entry not valid"). Every group starts here.</summary>
public sealed class BlockedDomain : IommuDomain
{
    internal BlockedDomain(IommuDriver driver) : base(driver, DomainKind.Blocked)
    {
    }

    internal override ContextImage DeviceImage(Bond? bond) => ContextImage.Invalid;

    internal override bool FitsProcessContext => true;

    internal override ProcessContext ProcessImage(Bond? bond) => default; // ta.V = 0

}
