namespace FastIommu.Driver;

// PASID attach through the device's PDT.
public sealed partial class IommuDriver
{
    /// <summary>
    /// Attaches <paramref name="domain"/> (a first-stage paging domain, identity, or blocked) to PASID
    /// <paramref name="pasid"/> of <paramref name="device"/>, replacing what was there. The first PASID gives the device
    /// a PDT (PD8/PD17/PD20, the smallest the IOMMU has for its PASID width); its RID domain moves into PC 0 (DPE).
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">PASID 0 (the RID's) or beyond the device's PASID width; nothing changed.</exception>
    /// <exception cref="NotSupportedException">A G-stage domain, or the RID is on a G-stage; nothing changed.</exception>
    /// <exception cref="IdSpaceExhaustedException">No PSCID left on the device's instance; nothing changed.</exception>
    /// <exception cref="Memory.OutOfPhysicalMemoryException">No page for the PDT; nothing changed.</exception>
    public void AttachPasid(IommuDevice device, uint pasid, IommuDomain domain)
    {
        ArgumentNullException.ThrowIfNull(device);
        ArgumentNullException.ThrowIfNull(domain);
        ThrowIfDisposed();
        CheckPasid(device, pasid);
        if (domain.Driver != this || device.Instance.Driver != this)
        {
            throw new ArgumentException($"{domain} and {device} must belong to this driver.", nameof(domain));
        }

        lock (device.Group.Gate)
        {
            device.ThrowIfRemoved();
            PasidAttachment? current = device.Pasids.GetValueOrDefault(pasid);
            IommuDomain old = current?.Domain ?? Blocked;
            if (old == domain)
            {
                return;
            }

            using var locks = new DomainLocks(old, domain);
            domain.ThrowIfDestroyed();
            domain.CheckUsableOn(device.Instance);
            if (!domain.FitsProcessContext)
            {
                throw new NotSupportedException($"{domain} cannot be attached to a PASID: a process context holds a first stage only.");
            }

            Bond? bond = domain.NeedsBond ? domain.AcquireBond(device.Instance) : null;
            ulong pc;
            try
            {
                pc = current?.ContextAddress ?? device.EnsureProcessContext(pasid);
            }
            catch
            {
                if (bond is not null)
                {
                    domain.ReleaseBond(bond);
                }

                throw;
            }

            device.Instance.WriteProcessContext(device.DeviceId, pasid, pc, domain.ProcessImage(bond));
            if (current?.Bond is { } oldBond)
            {
                old.ReleaseBond(oldBond);
            }

            if (current is not null)
            {
                old.AddUsers(-1);
            }

            if (domain is BlockedDomain)
            {
                device.Pasids.Remove(pasid);
            }
            else
            {
                domain.AddUsers(1);
                if (current is null)
                {
                    device.Pasids.Add(pasid, new PasidAttachment(domain, bond, pc));
                }
                else
                {
                    current.Domain = domain;
                    current.Bond = bond;
                }
            }
        }
    }

    /// <summary>Detaches whatever is at PASID <paramref name="pasid"/> of <paramref name="device"/> (its PC becomes
    /// not valid). Nothing attached there: nothing to do.</summary>
    public void DetachPasid(IommuDevice device, uint pasid) => AttachPasid(device, pasid, Blocked);

    /// <summary>The domain at (<paramref name="device"/>, <paramref name="pasid"/>) if it is of kind
    /// <paramref name="kind"/>; null otherwise (nothing attached, or another kind).</summary>
    public IommuDomain? GetDomainForDevicePasid(IommuDevice device, uint pasid, DomainKind kind)
    {
        ArgumentNullException.ThrowIfNull(device);
        ThrowIfDisposed();
        IommuDomain? domain = device.PasidDomain(pasid);
        return domain is not null && domain.Kind == kind ? domain : null;
    }

    private static void CheckPasid(IommuDevice device, uint pasid)
    {
        if (pasid == IommuDevice.RidPasid)
        {
            throw new ArgumentOutOfRangeException(nameof(pasid), pasid, "PASID 0 carries the device's RID domain (IOMMU_NO_PASID); attach the group instead.");
        }

        if (device.PasidBits == 0 || pasid >> device.PasidBits != 0)
        {
            throw new ArgumentOutOfRangeException(nameof(pasid), pasid,
                $"PASID 0x{pasid:x} is beyond {device}'s {device.PasidBits}-bit PASID width; nothing was changed.");
        }
    }
}
