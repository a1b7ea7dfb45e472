namespace FastIommu.Driver;

/// <summary>
/// Devices that cannot be isolated from each other (Linux's iommu_group): they always share one domain. Attach,
/// detach and replace act on all of them at once. Created by <see cref="IommuDriver.CreateGroup"/>, or implicitly
/// (one group per device) by <see cref="IommuInstance.AddDevice"/>. A group starts on the blocked domain.
/// </summary>
public sealed class DeviceGroup
{
    private readonly List<IommuDevice> _devices = [];
    private IommuDomain _domain;

    internal DeviceGroup(IommuDriver driver, string name)
    {
        Driver = driver;
        Name = name;
        _domain = driver.Blocked;
    }

    /// <summary>The driver it belongs to.</summary>
    public IommuDriver Driver { get; }

    /// <summary>For messages.</summary>
    public string Name { get; }

    /// <summary>The domain every device of the group uses now.</summary>
    public IommuDomain Domain
    {
        get => Volatile.Read(ref _domain);
        internal set => Volatile.Write(ref _domain, value);
    }

    /// <summary>Its devices (a snapshot).</summary>
    public IReadOnlyList<IommuDevice> Devices
    {
        get
        {
            lock (Gate)
            {
                return [.. _devices];
            }
        }
    }

    /// <summary>Serialises attach/detach/replace of the group; taken before any domain's gate.</summary>
    internal Lock Gate { get; } = new();

    /// <summary>The devices, under <see cref="Gate"/>.</summary>
    internal List<IommuDevice> Members => _devices;

    public override string ToString() => $"group {Name} ({_devices.Count} devices, {Domain})";
}
