namespace FastIommu.Driver;

/// <summary>
/// A bond of one device to one process address space (Linux's iommu_sva): the device's PASID
/// <see cref="Pasid"/> translates through the address space's table. Binding the same pair again returns the same
/// handle with one more reference; <see cref="IommuDriver.UnbindSva"/> drops one, the last detaches the PASID.
/// </summary>
public sealed class SvaHandle
{
    internal SvaHandle(IommuDevice device, PagingDomain addressSpace, uint pasid)
    {
        Device = device;
        AddressSpace = addressSpace;
        Pasid = pasid;
    }

    /// <summary>The device.</summary>
    public IommuDevice Device { get; }

    /// <summary>The address space (an SVA domain sharing the process's table).</summary>
    public PagingDomain AddressSpace { get; }

    /// <summary>The address space's PASID (the same for every device bound to it).</summary>
    public uint Pasid { get; }

    /// <summary>Binds not yet unbound.</summary>
    public int References { get; internal set; }

    /// <summary>False once the last unbind ran.</summary>
    public bool IsBound => References > 0;

    public override string ToString() => $"SVA bind of {Device} to {AddressSpace} at PASID 0x{Pasid:x} ({References} refs)";
}

/// <summary>The shared state of one address space bound with SVA: its PASID and its handles.</summary>
internal sealed class SvaState(uint pasid)
{
    public uint Pasid { get; } = pasid;

    public List<SvaHandle> Handles { get; } = [];
}
