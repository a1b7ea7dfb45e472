namespace FastIommu.Driver;

/// <summary>
/// A device behind one IOMMU instance: its 24-bit device_id (the DDT index), its PASID width, its features, and its
/// group (whose domain it translates through). Created by <see cref="IommuInstance.AddDevice"/>.
/// </summary>
public sealed partial class IommuDevice
{
    internal IommuDevice(IommuInstance instance, uint deviceId, DeviceGroup group, int pasidBits, DeviceFeatures features, ulong contextAddress)
    {
        Instance = instance;
        DeviceId = deviceId;
        Group = group;
        PasidBits = pasidBits;
        Features = features;
        ContextAddress = contextAddress;
    }

    /// <summary>The IOMMU it sits behind.</summary>
    public IommuInstance Instance { get; }

    /// <summary>device_id (24 bits at most; fewer with a 1- or 2-level DDT).</summary>
    public uint DeviceId { get; }

    /// <summary>Its group: attach, detach and replace act on the whole group.</summary>
    public DeviceGroup Group { get; }

    /// <summary>process_id bits the device uses (0: no PASIDs); never more than the IOMMU's PDT allows.</summary>
    public int PasidBits { get; }

    /// <summary>SVA, ATS.</summary>
    public DeviceFeatures Features { get; }

    /// <summary>The domain its requests without a PASID use (its group's).</summary>
    public IommuDomain Domain => Group.Domain;

    /// <summary>Physical address of its device context in the DDT.</summary>
    public ulong ContextAddress { get; }

    /// <summary>The bond of its RID domain on its instance (null for blocked / identity). Under the group's gate.</summary>
    internal Bond? RidBond { get; set; }

    /// <summary>True once <see cref="IommuInstance.RemoveDevice"/> removed it: every later call refuses it.</summary>
    public bool Removed { get; internal set; }

    /// <exception cref="InvalidOperationException">The device was removed.</exception>
    internal void ThrowIfRemoved()
    {
        if (Removed)
        {
            throw new InvalidOperationException($"{this} was removed (IommuInstance.RemoveDevice); nothing was changed.");
        }
    }

    public override string ToString() => $"device 0x{DeviceId:x} on {Instance.Name}";
}
