using FastIommu.Formats.RiscV;

namespace FastIommu.Driver;

/// <summary>How a guest's PASID table is laid out (iommufd's data types name the vendor format of a nested
/// domain). Only a RISC-V PDT can be walked by a RISC-V IOMMU.</summary>
public enum PasidTableFormat
{
    /// <summary>A RISC-V IOMMU process-directory table (PD8/PD17/PD20).</summary>
    RiscV,

    /// <summary>An Arm SMMUv3 context-descriptor table.</summary>
    ArmSmmuV3,

    /// <summary>An Intel VT-d PASID table.</summary>
    IntelVtd,

    /// <summary>An AMD-Vi GCR3 table.</summary>
    AmdVi,
}

/// <summary>A guest's PASID table as the guest configured it: where it is (a guest-physical address), its mode, its
/// format.</summary>
public readonly record struct GuestPasidTable(ulong PdtGpa, PdtpMode Mode, PasidTableFormat Format);

/// <summary>
/// A nested domain (Linux's IOMMU_DOMAIN_NESTED for RISC-V): the guest owns the first stage (its PDT, process contexts
/// and page tables, all at guest-physical addresses), the host's G-stage <see cref="Parent"/> translates them.
/// A device attached to it gets a DC with PDTV = 1 and DPE = 1, fsc = the guest's pdtp, iohgatp = the parent's.
/// </summary>
/// <remarks>The domain uses its parent's GSCID on each instance (its bonds are the parent's), so the parent's syncs
/// (IOTINVAL.GVMA) reach devices attached here; the guest's own first-stage and PDT invalidations arrive through
/// <see cref="InvalidateGuest"/>, checked and tagged with that GSCID.</remarks>
public sealed partial class NestedDomain : IommuDomain
{
    internal NestedDomain(IommuDriver driver, PagingDomain parent, GuestPasidTable table) : base(driver, DomainKind.Nested)
    {
        Parent = parent;
        Table = table;
    }

    /// <summary>The host's G-stage domain of the VM.</summary>
    public PagingDomain Parent { get; }

    /// <summary>The guest's PDT.</summary>
    public GuestPasidTable Table { get; }

    internal override IommuDomain? LockParent => Parent;

    internal override bool NeedsBond => true;

    internal override bool GStageBond => true;

    internal override Bond AcquireBond(IommuInstance instance) => Parent.AcquireBond(instance);

    internal override void ReleaseBond(Bond bond) => Parent.ReleaseBond(bond);

    internal override void CheckUsableOn(IommuInstance instance)
    {
        Parent.CheckUsableOn(instance);
        if (!instance.Capabilities.Supports(Table.Mode))
        {
            throw new NotSupportedException($"{instance.Name} does not implement the guest's PDT mode {Table.Mode} ({instance.Capabilities}).");
        }
    }

    internal override ContextImage DeviceImage(Bond? bond) => new(
        DeviceContextTc.Default.WithV(true).WithPdtv(true).WithDpe(true),
        Iohgatp.Default.WithMode(PagingModes.ModeEncoding(Parent.Mode)).WithGscid(bond!.Id).WithPpn(Parent.RootAddress >> 12),
        DeviceContextTa.Default,
        Pdtp.Create(Table.Mode, Table.PdtGpa).Value);

    private protected override void Destroy() => Parent.AddUsers(-1);

    public override string ToString() => $"Nested domain #{Id} (guest {Table.Mode} PDT at GPA 0x{Table.PdtGpa:x} over {Parent})";
}
