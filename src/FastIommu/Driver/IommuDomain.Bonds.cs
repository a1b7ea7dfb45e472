using FastIommu.Diagnostics;
using FastIommu.Formats.RiscV;

namespace FastIommu.Driver;

// The domain's bonds: one per instance it is used on, refcounted, linked before use and unlinked after.
public abstract partial class IommuDomain
{
    private Bond[] _bonds = [];

    /// <summary>The bonds now (a snapshot, replaced copy-on-write; syncs read it without a lock).</summary>
    internal Bond[] Bonds => Volatile.Read(ref _bonds);

    /// <summary>The bond on <paramref name="instance"/> with one more user, created (with a fresh id) if the domain
    /// had none there. Under <see cref="Gate"/>.</summary>
    /// <exception cref="IdSpaceExhaustedException">The instance has no PSCID/GSCID left; nothing changed.</exception>
    internal virtual Bond AcquireBond(IommuInstance instance)
    {
        Bond[] bonds = _bonds;
        foreach (Bond existing in bonds)
        {
            if (existing.Instance == instance)
            {
                existing.References++;
                return existing;
            }
        }

        IdAllocator ids = GStageBond ? instance.Gscids : instance.Pscids;
        if (!ids.TryAllocate(out uint id))
        {
            throw new IdSpaceExhaustedException(ids.Name,
                $"{instance.Name} has no {ids.Name} left ({ids.InUse} of {ids.Capacity} in use) for {this}; nothing was changed.");
        }

        var bond = new Bond(instance, id, GStageBond) { References = 1 };
        Bond[] grown = new Bond[bonds.Length + 1];
        bonds.CopyTo(grown, 0);
        grown[^1] = bond;
        Volatile.Write(ref _bonds, grown);
        // Linux riscv_iommu_bond_link: "synchronize with riscv_iommu_iotlb_inval()" — the link must be visible to
        // every sync before the id goes live in a context, so no invalidation can miss the new user.
        Interlocked.MemoryBarrier();
        if (Interleaving.Enabled)
        {
            Interleaving.Reach("Driver.BondLinked"); // linked, not yet in any context
        }

        return bond;
    }

    /// <summary>One user less; the last one unlinks the bond (after its contexts stopped using it: the caller's
    /// job), flushes its id on the instance and frees the id. Under <see cref="Gate"/>.</summary>
    internal virtual void ReleaseBond(Bond bond)
    {
        if (--bond.References > 0)
        {
            return;
        }

        Bond[] bonds = _bonds;
        int at = Array.IndexOf(bonds, bond);
        Bond[] shrunk = new Bond[bonds.Length - 1];
        Array.Copy(bonds, 0, shrunk, 0, at);
        Array.Copy(bonds, at + 1, shrunk, at, bonds.Length - at - 1);
        Volatile.Write(ref _bonds, shrunk);

        // The id is reused later for another domain: nothing cached under it may survive (Linux flushes the PSCID
        // when the domain is freed; here ids are freed per instance, so per bond).
        IommuInstance instance = bond.Instance;
        if (!instance.IsDisposed)
        {
            Command flush = bond.GStage
                ? Command.IotinvalGvma(gv: true, bond.Id, av: false, 0)
                : Command.IotinvalVma(gv: false, 0, pscv: true, bond.Id, av: false, 0);
            instance.Commands.WaitFence(instance.Commands.SubmitWithFence(new ReadOnlySpan<Command>(in flush)));
            (bond.GStage ? instance.Gscids : instance.Pscids).Free(bond.Id);
        }
    }
}
