using FastIommu.Formats.RiscV;

namespace FastIommu.Driver;

// A device's PASIDs: its PDT (created at the first PASID attach) and what each PASID is attached to.
public sealed partial class IommuDevice
{
    /// <summary>PASID 0 carries the RID domain once the device has a PDT (DC.tc.DPE = 1: requests without a
    /// process_id use process_id 0), as Linux reserves IOMMU_NO_PASID = 0.</summary>
    public const uint RidPasid = 0;

    private readonly Dictionary<uint, PasidAttachment> _pasids = [];

    /// <summary>The PDT, once the device has one. Under the group's gate.</summary>
    internal ProcessDirectory? Pdt { get; private set; }

    /// <summary>PASIDs attached now, under the group's gate.</summary>
    internal Dictionary<uint, PasidAttachment> Pasids => _pasids;

    /// <summary>PASIDs with a domain (a snapshot).</summary>
    public IReadOnlyList<uint> AttachedPasids
    {
        get
        {
            lock (Group.Gate)
            {
                return [.. _pasids.Keys];
            }
        }
    }

    /// <summary>The domain attached at <paramref name="pasid"/>, or null.</summary>
    public IommuDomain? PasidDomain(uint pasid)
    {
        lock (Group.Gate)
        {
            return _pasids.TryGetValue(pasid, out PasidAttachment? a) ? a.Domain : null;
        }
    }

    /// <summary>The DC of a device with a PDT: PDTV, DPE (RID → PASID 0), fsc = pdtp; both stages otherwise Bare.</summary>
    private ContextImage PdtImage()
    {
        DeviceContextTc tc = DeviceContextTc.Default.WithV(true).WithPdtv(true).WithDpe(true);
        if ((Features & DeviceFeatures.Ats) != 0)
        {
            tc = tc.WithEnAts(true);
        }

        return new ContextImage(tc, Iohgatp.Default, DeviceContextTa.Default, Pdt!.Pointer.Value);
    }

    /// <summary>Points the device's RID at <paramref name="domain"/>: its DC, or PC 0 once it has a PDT.</summary>
    internal void ApplyRidDomain(IommuDomain domain, Bond? bond)
    {
        if (Pdt is null)
        {
            Instance.WriteContext(DeviceId, ContextAddress, Image(domain, bond));
        }
        else
        {
            Instance.WriteProcessContext(DeviceId, RidPasid, Pdt.GetOrCreateContext(RidPasid), domain.ProcessImage(bond));
        }
    }

    /// <summary>Throws when <paramref name="domain"/> cannot be this device's RID domain now (with a PDT, the RID
    /// domain lives in PC 0, which holds a first stage only).</summary>
    internal void CheckRidDomain(IommuDomain domain)
    {
        if (Pdt is not null && !domain.FitsProcessContext)
        {
            throw new NotSupportedException($"{this} has PASIDs: its RID domain sits in process context 0 and cannot be a G-stage ({domain}).");
        }
    }

    /// <summary>Makes sure the device has a PDT holding a PC slot for <paramref name="pasid"/>; on the first call the
    /// RID domain moves into PC 0 and the DC is rewritten to point at the PDT. Pages are allocated before anything
    /// is linked, so running out changes nothing.</summary>
    internal ulong EnsureProcessContext(uint pasid)
    {
        if (Pdt is not null)
        {
            return Pdt.GetOrCreateContext(pasid);
        }

        if (!Domain.FitsProcessContext)
        {
            // Its RID domain would have to move into PC 0, which holds a first stage only.
            throw new NotSupportedException($"{this} is on {Domain}, which cannot sit in process context 0; no PASID can be added beside it.");
        }

        var pdt = ProcessDirectory.Create(Instance.DirectoryAllocator, ProcessDirectory.ModeFor(PasidBits, Instance.Capabilities));
        ulong pc0;
        ulong pc;
        try
        {
            pc0 = pdt.GetOrCreateContext(RidPasid);
            pc = pdt.GetOrCreateContext(pasid);
        }
        catch
        {
            pdt.FreeAll(); // never linked
            throw;
        }

        // PC 0 is filled while the PDT is unseen (plain stores into a private table), then the DC moves to it.
        ProcessContext rid = Domain.ProcessImage(RidBond);
        Volatile.Write(ref Instance.Memory.Qword(pc0 + ProcessContext.FscOffset), rid.Fsc.Value);
        Volatile.Write(ref Instance.Memory.Qword(pc0 + ProcessContext.TaOffset), rid.Ta.Value);
        Pdt = pdt;
        Instance.AddPdt(pdt);
        Instance.WriteContext(DeviceId, ContextAddress, PdtImage());
        return pc;
    }
}

/// <summary>What a (device, PASID) is attached to.</summary>
internal sealed class PasidAttachment(IommuDomain domain, Bond? bond, ulong contextAddress)
{
    public IommuDomain Domain { get; set; } = domain;

    public Bond? Bond { get; set; } = bond;

    public ulong ContextAddress { get; } = contextAddress;
}
