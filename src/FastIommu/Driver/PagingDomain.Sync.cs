using FastIommu.Formats.RiscV;
using FastIommu.PageTables;

namespace FastIommu.Driver;

// The invalidation batcher: one set of IOTINVALs per bond (instance, PSCID/GSCID), one IOFENCE.C per instance, then
// the freed table pages. Ten devices of one instance sharing the domain cost one invalidation, not ten.
public abstract partial class PagingDomain
{
    /// <summary>
    /// Makes the unmaps in <paramref name="gather"/> take effect in every IOMMU the domain is used on, then returns
    /// the gather to its pool. Per bond: one page-addressed IOTINVAL per 4 KiB page up to the instance's
    /// <see cref="IommuDriverOptions.PageInvalidationLimit"/>, one PSCID-wide (GSCID-wide) command above it or when
    /// table pages were unlinked (v1.0 has no non-leaf invalidation); .VMA for a first stage, .GVMA for a G-stage.
    /// Then exactly one IOFENCE.C per instance; only after every fence completed are the unlinked table pages freed.
    /// </summary>
    /// <exception cref="CommandQueueTimeoutException">An instance did not complete its fence: the gather is kept
    /// (pages not freed: the hardware may still walk them); call Sync again once it runs.</exception>
    public void Sync(UnmapGather gather)
    {
        ArgumentNullException.ThrowIfNull(gather);
        if (gather.Domain is not null && gather.Domain != this)
        {
            throw new ArgumentException($"The gather holds unmaps of {gather.Domain}, not of {this}.", nameof(gather));
        }

        SyncCore(gather);
        Driver.ReturnGather(gather);
    }

    /// <summary><see cref="Sync"/> without giving the gather back: its invalidations, fences and freed pages, and
    /// the gather left empty (unless a fence timed out).</summary>
    [System.Runtime.CompilerServices.SkipLocalsInit] // the command batch on the stack is written before it is read
    private void SyncCore(UnmapGather gather)
    {
        // Orders the PTE clears before the bond list is read; pairs with the barrier after a bond is linked, so a
        // context that went live after this read walks the cleared table.
        Interlocked.MemoryBarrier();
        Bond[] bonds = Bonds;
        if (!gather.IsEmpty && bonds.Length != 0)
        {
            Span<uint> fences = bonds.Length <= 16 ? stackalloc uint[16] : new uint[bonds.Length];
            var batch = new CommandBatch(stackalloc Command[CommandBatch.Capacity]);
            for (int i = 0; i < bonds.Length; i++)
            {
                IommuInstance instance = bonds[i].Instance;
                if (SeenBefore(bonds, i) || instance.IsDisposed)
                {
                    continue; // this instance's bonds went out with the first of them, or it is shut down
                }

                for (int j = i; j < bonds.Length; j++)
                {
                    if (bonds[j].Instance == instance)
                    {
                        AddInvalidations(bonds[j], gather, ref batch, instance);
                    }
                }

                fences[i] = instance.Commands.SubmitWithFence(batch.Commands, sync: true);
                batch.Clear();
            }

            // Every instance's fence before any page is reused.
            for (int i = 0; i < bonds.Length; i++)
            {
                if (!SeenBefore(bonds, i) && !bonds[i].Instance.IsDisposed)
                {
                    bonds[i].Instance.Commands.WaitFence(fences[i]);
                }
            }

            int freed = gather.FreedTablePages;
            for (int i = 0; i < bonds.Length; i++)
            {
                if (!SeenBefore(bonds, i) && freed != 0)
                {
                    bonds[i].Instance.Counters.CountPagesFreed(freed);
                }
            }
        }

        gather.Inner.Complete();
    }

    private static bool SeenBefore(Bond[] bonds, int i)
    {
        for (int k = 0; k < i; k++)
        {
            if (bonds[k].Instance == bonds[i].Instance)
            {
                return true;
            }
        }

        return false;
    }

    private static void AddInvalidations(Bond bond, UnmapGather gather, ref CommandBatch batch, IommuInstance instance)
    {
        // Linux riscv_iommu_iotlb_inval: page-addressed below the limit (2 MiB there), the whole PSCID above it;
        // and when tables were freed, the whole PSCID (spec: v1.0 has no non-leaf IOTINVAL).
        bool wide = gather.HasFreedTables || gather.Bytes > instance.Options.PageInvalidationLimit;
        if (wide)
        {
            batch.Add(instance, Invalidation(bond, av: false, 0));
            return;
        }

        ReadOnlySpan<IovaRange> ranges = gather.Ranges;
        for (int r = 0; r < ranges.Length; r++)
        {
            for (ulong page = ranges[r].Start; page < ranges[r].End; page += 4096)
            {
                batch.Add(instance, Invalidation(bond, av: true, page));
            }
        }
    }

    // First stage: IOTINVAL.VMA GV=0 PSCV=1 (spec "Changing first-stage page table entry", G-stage Bare).
    // G-stage: IOTINVAL.GVMA GV=1 (spec "Changing second-stage page table entry").
    private static Command Invalidation(Bond bond, bool av, ulong address) => bond.GStage
        ? Command.IotinvalGvma(gv: true, bond.Id, av, address)
        : Command.IotinvalVma(gv: false, 0, pscv: true, bond.Id, av, address);
}
