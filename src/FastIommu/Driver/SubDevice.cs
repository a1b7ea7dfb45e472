namespace FastIommu.Driver;

/// <summary>
/// A sub-device of a PASID-capable device (an "aux domain" user, e.g. a mediated device or a queue of an SR-IOV-less
/// accelerator): it has no device_id of its own; its DMA is its parent's, tagged with a PASID the driver assigns when a
/// domain is attached (<see cref="IommuDriver.AttachAux"/>).
/// </summary>
public sealed class SubDevice
{
    internal SubDevice(IommuDevice parent, string name)
    {
        Parent = parent;
        Name = name;
    }

    /// <summary>The device whose PASID it uses.</summary>
    public IommuDevice Parent { get; }

    /// <summary>For messages.</summary>
    public string Name { get; }

    /// <summary>Its domain, or null when detached.</summary>
    public IommuDomain? Domain { get; internal set; }

    /// <summary>Its PASID on the parent while attached.</summary>
    public uint? Pasid { get; internal set; }

    public override string ToString() => $"sub-device {Name} of {Parent}";
}
