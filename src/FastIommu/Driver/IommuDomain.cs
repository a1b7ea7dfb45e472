using FastIommu.Formats.RiscV;

namespace FastIommu.Driver;

/// <summary>
/// What a device (or a device's PASID) translates through. Created by the driver
/// (<see cref="IommuDriver.Blocked"/>, <see cref="IommuDriver.Identity"/>, <see cref="IommuDriver.CreatePagingDomain(FastIommu.Formats.RiscV.PagingModeKind, FastIommu.PageTables.PageTableOptions?)"/>,
/// ...), attached to device groups (<see cref="IommuDriver.Attach"/>) or PASIDs, destroyed with <see cref="Dispose"/>
/// once nothing uses it.
/// </summary>
/// <remarks>Domains are locked in one fixed order, by <see cref="Id"/>, so two replaces in opposite directions
/// cannot deadlock.</remarks>
public abstract partial class IommuDomain : IDisposable
{
    private static long s_nextId;
    private int _users;
    private int _destroyed;

    private protected IommuDomain(IommuDriver driver, DomainKind kind)
    {
        Driver = driver;
        Kind = kind;
        Id = Interlocked.Increment(ref s_nextId);
    }

    /// <summary>Unique, increasing: the lock order.</summary>
    public long Id { get; }

    /// <summary>The driver that made it.</summary>
    public IommuDriver Driver { get; }

    /// <summary>Its kind.</summary>
    public DomainKind Kind { get; }

    /// <summary>Devices and (device, PASID) pairs attached to it now.</summary>
    public int AttachedCount => Volatile.Read(ref _users);

    /// <summary>True once destroyed.</summary>
    public bool IsDestroyed => Volatile.Read(ref _destroyed) != 0;

    /// <summary>Serialises attach bookkeeping (bonds, users); taken after the group's gate, domains by <see cref="Id"/>.</summary>
    internal Lock Gate { get; } = new();

    /// <summary>True when the domain holds a PSCID/GSCID on each instance it is used on.</summary>
    internal virtual bool NeedsBond => false;

    /// <summary>True when its bonds are GSCIDs.</summary>
    internal virtual bool GStageBond => false;

    /// <summary>Throws when the domain cannot be used on <paramref name="instance"/> (a mode its capabilities lack).</summary>
    internal virtual void CheckUsableOn(IommuInstance instance)
    {
    }

    /// <summary>The device context for a device whose RID (requests without process_id) uses this domain.</summary>
    internal abstract ContextImage DeviceImage(Bond? bond);

    /// <summary>The process context for a (device, PASID) using this domain (PASID 0 carries the RID domain of a
    /// device with a PDT).</summary>
    /// <exception cref="NotSupportedException">The domain cannot sit in a process context (a G-stage).</exception>
    internal virtual ProcessContext ProcessImage(Bond? bond) =>
        throw new NotSupportedException($"{this} cannot be attached to a PASID (a process context holds a first stage only).");

    /// <summary>A domain whose gate must be held with this one's (a nested domain's parent, whose bonds it uses).</summary>
    internal virtual IommuDomain? LockParent => null;

    /// <summary>True when <see cref="ProcessImage"/> works.</summary>
    internal virtual bool FitsProcessContext => false;

    internal void AddUsers(int n) => Interlocked.Add(ref _users, n);

    /// <summary>Destroys the domain: its page table goes back to the allocator.</summary>
    /// <exception cref="InvalidOperationException">It is still attached (Linux refuses to free an attached domain);
    /// nothing changed. The blocked and identity domains are the driver's and cannot be destroyed.</exception>
    public void Dispose()
    {
        lock (Gate)
        {
            if (IsDestroyed)
            {
                return;
            }

            if (AttachedCount != 0)
            {
                throw new InvalidOperationException($"{this} is still attached to {AttachedCount} device(s)/PASID(s); detach them first.");
            }

            if (Kind is DomainKind.Blocked or DomainKind.Identity)
            {
                throw new InvalidOperationException($"{this} belongs to the driver and cannot be destroyed.");
            }

            Volatile.Write(ref _destroyed, 1);
            Destroy();
        }

        GC.SuppressFinalize(this);
    }

    /// <summary>Frees what the domain owns (called once, unattached, under its gate).</summary>
    private protected virtual void Destroy()
    {
    }

    internal void ThrowIfDestroyed() => ObjectDisposedException.ThrowIf(IsDestroyed, this);

    public override string ToString() => $"{Kind} domain #{Id}";
}
