namespace FastIommu.Driver;

/// <summary>
/// A domain's presence on one IOMMU instance: the PSCID (first stage) or GSCID (G-stage) it has there, refcounted by
/// the devices and PASIDs of that instance using it. A sync invalidates once per bond, not once per device.
/// </summary>
/// <remarks>Ordering (Linux riscv_iommu_bond_link and its review): a bond is linked into the domain's list, then a
/// full barrier, before the id is written into any device or process context; it is unlinked only after every
/// context stopped using it, then its id is flushed (IOTINVAL + IOFENCE.C) and only then freed for reuse.</remarks>
internal sealed class Bond
{
    public Bond(IommuInstance instance, uint id, bool gStage)
    {
        Instance = instance;
        Id = id;
        GStage = gStage;
    }

    public IommuInstance Instance { get; }

    /// <summary>The PSCID, or the GSCID for a G-stage bond.</summary>
    public uint Id { get; }

    /// <summary>True when <see cref="Id"/> is a GSCID.</summary>
    public bool GStage { get; }

    /// <summary>Users: device contexts and process contexts holding the id. Changed under the domain's gate.</summary>
    public int References { get; set; }

    public override string ToString() => $"{Instance.Name} {(GStage ? "GSCID" : "PSCID")} {Id} ({References} users)";
}
