using FastIommu.Formats.RiscV;

namespace FastIommu.Driver;

// SVA binds and aux (sub-device) domains: both are PASID attachments whose PASID the driver chooses.
public sealed partial class IommuDriver
{
    private readonly Lock _svaLock = new();
    private IdAllocator? _pasids;

    /// <summary>The driver-wide PASID space (an address space keeps one PASID across every device it is bound to,
    /// as Linux's mm->pasid). 1 .. <see cref="PasidCount"/> - 1.</summary>
    internal IdAllocator Pasids => _pasids ??= new IdAllocator("PASID", 1, (uint)PasidCount);

    /// <summary>PASIDs the driver may hand out to SVA binds and sub-devices (1 .. PasidCount - 1); 2^20 by default.
    /// Set before the first bind.</summary>
    public int PasidCount { get; init; } = 1 << 20;

    /// <summary>PASIDs in use by SVA binds and sub-devices.</summary>
    public int PasidsInUse => Pasids.InUse;

    /// <summary>A process address space for SVA: a first-stage table (Sv39/48/57) the "CPU side" maps into; devices
    /// bound to it translate their PASID through it.</summary>
    public PagingDomain CreateAddressSpace(PagingModeKind mode)
    {
        if (PagingModes.IsGStage(mode))
        {
            throw new ArgumentException($"A process address space is a first stage, not {mode}.", nameof(mode));
        }

        PagingDomain domain = CreatePagingDomain(mode, kind: DomainKind.Sva);
        return domain;
    }

    /// <summary>
    /// Binds <paramref name="device"/> to <paramref name="addressSpace"/>: the address space's PASID (allocated at its
    /// first bind, below the first device's PASID width) is attached on the device to the address space's table.
    /// Binding the same pair again returns the same handle with one more reference.
    /// </summary>
    /// <exception cref="NotSupportedException">The device lacks <see cref="DeviceFeatures.Sva"/>.</exception>
    /// <exception cref="ArgumentOutOfRangeException">The address space's PASID is beyond this device's width.</exception>
    /// <exception cref="IdSpaceExhaustedException">No PASID (or PSCID) left; nothing changed.</exception>
    public SvaHandle BindSva(IommuDevice device, PagingDomain addressSpace)
    {
        ArgumentNullException.ThrowIfNull(device);
        ArgumentNullException.ThrowIfNull(addressSpace);
        if ((device.Features & DeviceFeatures.Sva) == 0)
        {
            throw new NotSupportedException($"{device} does not do SVA (DeviceFeatures.Sva).");
        }

        if (addressSpace.Kind != DomainKind.Sva)
        {
            throw new ArgumentException($"{addressSpace} is not an address space (CreateAddressSpace).", nameof(addressSpace));
        }

        lock (_svaLock)
        {
            addressSpace.ThrowIfDestroyed();
            SvaState? state = addressSpace.Sva;
            if (state is not null)
            {
                foreach (SvaHandle existing in state.Handles)
                {
                    if (existing.Device == device)
                    {
                        existing.References++;
                        return existing;
                    }
                }
            }

            bool fresh = state is null;
            if (fresh)
            {
                if (!Pasids.TryAllocate(1u << device.PasidBits, out uint pasid))
                {
                    throw new IdSpaceExhaustedException("PASID",
                        $"No PASID below 2^{device.PasidBits} is left for {addressSpace} ({Pasids.InUse} in use); nothing was changed.");
                }

                state = new SvaState(pasid);
            }

            try
            {
                AttachPasid(device, state!.Pasid, addressSpace);
            }
            catch
            {
                if (fresh)
                {
                    Pasids.Free(state!.Pasid);
                }

                throw;
            }

            var handle = new SvaHandle(device, addressSpace, state.Pasid) { References = 1 };
            state.Handles.Add(handle);
            addressSpace.Sva = state;
            return handle;
        }
    }

    /// <summary>Drops one reference of <paramref name="handle"/>; the last detaches the PASID from the device, and
    /// the address space's last handle frees its PASID.</summary>
    /// <exception cref="InvalidOperationException">The handle was already unbound (a double unbind); nothing changed.</exception>
    public void UnbindSva(SvaHandle handle)
    {
        ArgumentNullException.ThrowIfNull(handle);
        lock (_svaLock)
        {
            if (handle.References == 0)
            {
                throw new InvalidOperationException($"{handle} is not bound: unbound twice.");
            }

            if (--handle.References > 0)
            {
                return;
            }

            DetachPasid(handle.Device, handle.Pasid);
            SvaState state = handle.AddressSpace.Sva!;
            state.Handles.Remove(handle);
            if (state.Handles.Count == 0)
            {
                handle.AddressSpace.Sva = null;
                Pasids.Free(state.Pasid);
            }
        }
    }

    /// <summary>A sub-device of <paramref name="parent"/> (which needs PASIDs).</summary>
    public SubDevice CreateSubDevice(IommuDevice parent, string name)
    {
        ArgumentNullException.ThrowIfNull(parent);
        ThrowIfDisposed();
        if (parent.PasidBits == 0)
        {
            throw new ArgumentException($"{parent} has no PASIDs: it cannot carry sub-devices.", nameof(parent));
        }

        return new SubDevice(parent, name);
    }

    /// <summary>Attaches <paramref name="domain"/> to <paramref name="sub"/>: through a PASID the driver allocates on
    /// its parent (kept across re-attaches until <see cref="DetachAux"/>).</summary>
    public void AttachAux(SubDevice sub, IommuDomain domain)
    {
        ArgumentNullException.ThrowIfNull(sub);
        ArgumentNullException.ThrowIfNull(domain);
        lock (_svaLock)
        {
            bool fresh = sub.Pasid is null;
            uint pasid;
            if (fresh)
            {
                if (!Pasids.TryAllocate(1u << sub.Parent.PasidBits, out pasid))
                {
                    throw new IdSpaceExhaustedException("PASID", $"No PASID left for {sub}; nothing was changed.");
                }
            }
            else
            {
                pasid = sub.Pasid!.Value;
            }

            try
            {
                AttachPasid(sub.Parent, pasid, domain);
            }
            catch
            {
                if (fresh)
                {
                    Pasids.Free(pasid);
                }

                throw;
            }

            sub.Pasid = pasid;
            sub.Domain = domain;
        }
    }

    /// <summary>Detaches <paramref name="sub"/> and frees its PASID.</summary>
    public void DetachAux(SubDevice sub)
    {
        ArgumentNullException.ThrowIfNull(sub);
        lock (_svaLock)
        {
            if (sub.Pasid is not { } pasid)
            {
                return;
            }

            DetachPasid(sub.Parent, pasid);
            Pasids.Free(pasid);
            sub.Pasid = null;
            sub.Domain = null;
        }
    }

    /// <summary>The PASID <paramref name="domain"/> has on <paramref name="parent"/>, or null.</summary>
    public static uint? AuxPasid(IommuDomain domain, IommuDevice parent)
    {
        ArgumentNullException.ThrowIfNull(domain);
        ArgumentNullException.ThrowIfNull(parent);
        lock (parent.Group.Gate)
        {
            foreach (KeyValuePair<uint, PasidAttachment> entry in parent.Pasids)
            {
                if (entry.Value.Domain == domain)
                {
                    return entry.Key;
                }
            }

            return null;
        }
    }
}
