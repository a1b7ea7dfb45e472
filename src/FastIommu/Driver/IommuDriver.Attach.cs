using FastIommu.Diagnostics;

namespace FastIommu.Driver;

// Attach, detach, replace: always the whole group (Linux: a group's devices share their domain).
public sealed partial class IommuDriver
{
    /// <summary>Attaches every device of <paramref name="group"/> to <paramref name="domain"/> (a replace of whatever
    /// it was on).</summary>
    public void Attach(DeviceGroup group, IommuDomain domain) => Replace(group, domain);

    /// <summary>Puts <paramref name="group"/> back on the blocked domain.</summary>
    public void Detach(DeviceGroup group) => Replace(group, Blocked);

    /// <summary>
    /// Moves every device of <paramref name="group"/> from its domain to <paramref name="domain"/> directly (no
    /// passage through the blocked domain: each context goes old → new).
    /// </summary>
    /// <remarks>
    /// <para>Two phases. Prepare: every check, and every bond (PSCID/GSCID) the new domain needs, taken before the
    /// first context is touched; any failure releases what was taken and leaves every device on its old domain with
    /// its bytes unchanged. Commit: each device context rewritten in the spec's order (see
    /// <see cref="IommuInstance.WriteContext"/>), then the old domain's bonds released (unlinked only after no context
    /// uses them).</para>
    /// <para>Locks: the group's gate, then both domains' gates (and a nested domain's parent) in <see cref="IommuDomain.Id"/> order, so replaces in
    /// opposite directions (A→B beside B→A) cannot deadlock.</para>
    /// </remarks>
    /// <exception cref="ArgumentException">The domain or group belongs to another driver.</exception>
    /// <exception cref="ObjectDisposedException">The domain was destroyed.</exception>
    /// <exception cref="NotSupportedException">A device's IOMMU lacks the domain's paging mode.</exception>
    /// <exception cref="IdSpaceExhaustedException">An instance has no PSCID/GSCID left.</exception>
    public void Replace(DeviceGroup group, IommuDomain domain)
    {
        ArgumentNullException.ThrowIfNull(group);
        ArgumentNullException.ThrowIfNull(domain);
        ThrowIfDisposed();
        if (group.Driver != this)
        {
            throw new ArgumentException($"{group} belongs to another driver.", nameof(group));
        }

        if (domain.Driver != this)
        {
            throw new ArgumentException($"{domain} belongs to another driver.", nameof(domain));
        }

        lock (group.Gate)
        {
            IommuDomain old = group.Domain;
            if (old == domain)
            {
                return;
            }

            using var locks = new DomainLocks(old, domain);
            ReplaceLocked(group, old, domain);
        }
    }

    private static void ReplaceLocked(DeviceGroup group, IommuDomain old, IommuDomain domain)
    {
        domain.ThrowIfDestroyed();
        List<IommuDevice> devices = group.Members;
        foreach (IommuDevice device in devices)
        {
            if (device.Instance.Driver != group.Driver || device.Instance.IsDisposed)
            {
                throw new ArgumentException($"{device} is not on a live instance of this driver.", nameof(group));
            }

            domain.CheckUsableOn(device.Instance);
            device.CheckRidDomain(domain);
        }

        // Prepare: bonds first (linked, then a barrier, before any context holds their ids).
        var bonds = new Bond?[devices.Count];
        int taken = 0;
        try
        {
            for (; taken < devices.Count; taken++)
            {
                bonds[taken] = domain.NeedsBond ? domain.AcquireBond(devices[taken].Instance) : null;
            }
        }
        catch
        {
            for (int i = 0; i < taken; i++)
            {
                if (bonds[i] is { } bond)
                {
                    domain.ReleaseBond(bond);
                }
            }

            throw;
        }

        if (Interleaving.Enabled)
        {
            Interleaving.Reach("Driver.ReplacePrepared"); // bonds linked, every context still on the old domain
        }

        // Commit.
        for (int i = 0; i < devices.Count; i++)
        {
            IommuDevice device = devices[i];
            device.ApplyRidDomain(domain, bonds[i]);
        }

        for (int i = 0; i < devices.Count; i++)
        {
            IommuDevice device = devices[i];
            if (device.RidBond is { } oldBond)
            {
                old.ReleaseBond(oldBond); // no context uses it any more
            }

            device.RidBond = bonds[i];
        }

        old.AddUsers(-devices.Count);
        domain.AddUsers(devices.Count);
        group.Domain = domain;
    }
}
