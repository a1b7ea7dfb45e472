using FastIommu.Formats.RiscV;

namespace FastIommu.Driver;

// The devices behind this instance.
public sealed partial class IommuInstance
{
    private readonly Dictionary<uint, IommuDevice> _devices = [];

    /// <summary>process_id bits the IOMMU's PDT modes allow: 20 (PD20), 17 (PD17), 8 (PD8) or 0.</summary>
    public int MaxPasidBits => Capabilities.Pd20 ? 20 : Capabilities.Pd17 ? 17 : Capabilities.Pd8 ? 8 : 0;

    /// <summary>The devices added (a snapshot).</summary>
    public IReadOnlyList<IommuDevice> Devices
    {
        get
        {
            lock (_devices)
            {
                return [.. _devices.Values];
            }
        }
    }

    /// <summary>The device with <paramref name="deviceId"/>, or null.</summary>
    public IommuDevice? FindDevice(uint deviceId)
    {
        lock (_devices)
        {
            return _devices.GetValueOrDefault(deviceId);
        }
    }

    /// <summary>
    /// Adds a device: its device context is created in the DDT (not valid: blocked), and it joins
    /// <paramref name="group"/> (a new group of its own by default), taking the group's domain.
    /// </summary>
    /// <param name="deviceId">Its device_id; must fit the DDT mode (7/16/24 bits, 6/15/24 with 64-byte contexts).</param>
    /// <param name="group">The group it joins; null for a new one.</param>
    /// <param name="pasidBits">process_id bits it uses (0..20), at most <see cref="MaxPasidBits"/>.</param>
    /// <param name="features">SVA (needs PASIDs), ATS (needs capabilities.ATS).</param>
    /// <exception cref="InvalidOperationException">The id is taken on this instance; nothing changed.</exception>
    /// <exception cref="ArgumentOutOfRangeException">The id or PASID width does not fit; nothing changed.</exception>
    /// <exception cref="NotSupportedException">A feature the IOMMU lacks; nothing changed.</exception>
    public IommuDevice AddDevice(uint deviceId, DeviceGroup? group = null, int pasidBits = 0, DeviceFeatures features = DeviceFeatures.None)
    {
        ThrowIfDisposed();
        if (deviceId >> DeviceIdBits != 0)
        {
            throw new ArgumentOutOfRangeException(nameof(deviceId), deviceId,
                $"device_id 0x{deviceId:x} does not fit the {DeviceIdBits} bits {Name}'s {DdtMode} DDT indexes.");
        }

        if (pasidBits < 0 || pasidBits > MaxPasidBits)
        {
            throw new ArgumentOutOfRangeException(nameof(pasidBits), pasidBits,
                $"{Name} supports PASIDs of at most {MaxPasidBits} bits (capabilities PD8/PD17/PD20).");
        }

        if ((features & DeviceFeatures.Ats) != 0 && !Capabilities.Ats)
        {
            throw new NotSupportedException($"{Name} does not implement ATS (capabilities.ATS = 0).");
        }

        if ((features & DeviceFeatures.Sva) != 0 && pasidBits == 0)
        {
            throw new ArgumentException("An SVA device needs PASIDs (pasidBits > 0).", nameof(features));
        }

        if (group is not null && group.Driver != Driver)
        {
            throw new ArgumentException($"{group} belongs to another driver.", nameof(group));
        }

        lock (_devices)
        {
            if (_devices.ContainsKey(deviceId))
            {
                throw new InvalidOperationException($"device 0x{deviceId:x} already exists on {Name}; nothing was changed.");
            }

            group ??= Driver.CreateGroup($"{Name}:0x{deviceId:x}");
            lock (group.Gate)
            {
                IommuDomain domain = group.Domain;
                using var locks = new DomainLocks(domain, domain);
                domain.CheckUsableOn(this);
                Bond? bond = domain.NeedsBond ? domain.AcquireBond(this) : null;
                ulong dc;
                try
                {
                    dc = _directory.GetOrCreateContext(deviceId);
                }
                catch
                {
                    if (bond is not null)
                    {
                        domain.ReleaseBond(bond);
                    }

                    throw;
                }

                var device = new IommuDevice(this, deviceId, group, pasidBits, features, dc) { RidBond = bond };
                WriteContext(deviceId, dc, device.Image(domain, bond));
                domain.AddUsers(1);
                group.Members.Add(device);
                _devices.Add(deviceId, device);
                return device;
            }
        }
    }

    /// <summary>
    /// Removes <paramref name="device"/> (hot unplug; Linux iommu_release_device, whose core first moves the device to
    /// the blocked domain): its device context is made invalid (V cleared → IODIR.INVAL_DDT with the IOTINVALs of the
    /// old context → IOFENCE.C), it leaves its group, its RID domain drops it (the bond released, with a flush of its
    /// id when it was the last user on this instance), and its PDT's pages go back to the allocator after that fence.
    /// The device_id may be added again; the removed object is refused by every later call.
    /// </summary>
    /// <exception cref="InvalidOperationException">It is not on this instance (or was removed already), or PASIDs
    /// are still attached (SVA binds, aux sub-devices, AttachPasid): detach them first. Nothing changed.</exception>
    /// <exception cref="CommandQueueTimeoutException">The hardware did not complete the fence: the device is removed
    /// (its context is invalid), but its PDT pages are kept, since the hardware may still read them.</exception>
    public void RemoveDevice(IommuDevice device)
    {
        ArgumentNullException.ThrowIfNull(device);
        ThrowIfDisposed();
        lock (_devices)
        {
            if (device.Instance != this || !_devices.TryGetValue(device.DeviceId, out IommuDevice? found) || found != device)
            {
                throw new InvalidOperationException($"{device} is not on {Name} (removed already?); nothing was changed.");
            }

            DeviceGroup group = device.Group;
            lock (group.Gate)
            {
                if (device.Pasids.Count != 0)
                {
                    throw new InvalidOperationException(
                        $"{device} still has PASID(s) {string.Join(", ", device.Pasids.Keys.Select(p => $"0x{p:x}"))} attached " +
                        "(SVA binds, aux sub-devices or AttachPasid): detach them first; nothing was changed.");
                }

                IommuDomain domain = group.Domain;
                using var locks = new DomainLocks(domain, domain);
                _devices.Remove(device.DeviceId);
                group.Members.Remove(device);
                device.Removed = true;
                domain.AddUsers(-1);
                Bond? bond = device.RidBond;
                device.RidBond = null;
                ProcessDirectory? pdt = device.Pdt;
                // Invalid, then invalidated and fenced: no cache holds the context or its process contexts
                // (IODIR.INVAL_DDT with DV = 1 covers the device's PDT entries), and no walk still reads them.
                WriteContext(device.DeviceId, device.ContextAddress, device.Image(Driver.Blocked, null));
                if (bond is not null)
                {
                    domain.ReleaseBond(bond); // no context uses it any more
                }

                if (pdt is not null)
                {
                    RemovePdt(pdt);
                    pdt.FreeAll();
                }
            }
        }
    }

    /// <summary>At shutdown: every device leaves its group, and the domains it used drop its users and bonds (no
    /// flush: the instance is going down and its ids with it), so no sync touches this instance's freed queue.</summary>
    private void ForgetDevices()
    {
        IommuDevice[] devices;
        lock (_devices)
        {
            devices = [.. _devices.Values];
            _devices.Clear();
        }

        foreach (IommuDevice device in devices)
        {
            lock (device.Group.Gate)
            {
                device.Group.Members.Remove(device);
                Forget(device.Group.Domain, device.RidBond);
                device.RidBond = null;
                foreach (PasidAttachment attachment in device.Pasids.Values)
                {
                    Forget(attachment.Domain, attachment.Bond);
                }

                device.Pasids.Clear();
            }
        }
    }

    private static void Forget(IommuDomain domain, Bond? bond)
    {
        using var locks = new DomainLocks(domain, domain);
        if (bond is not null)
        {
            domain.ReleaseBond(bond); // the instance is disposed: unlinked without a flush
        }

        domain.AddUsers(-1);
    }
}
