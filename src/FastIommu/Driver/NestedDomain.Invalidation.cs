using FastIommu.Formats.RiscV;

namespace FastIommu.Driver;

/// <summary>A guest's invalidation array had a bad entry: the entries before it were carried out (and fenced),
/// that one and the rest were not.</summary>
public sealed class GuestInvalidationException : InvalidOperationException
{
    /// <summary>Entries carried out (the index of the bad one).</summary>
    public int Completed { get; }

    public GuestInvalidationException(int completed, Command entry, string reason)
        : base($"Guest invalidation entry {completed} ({entry}) refused: {reason}. The {completed} entries before it were carried out.")
    {
        Completed = completed;
    }
}

// Guest invalidation requests (iommufd's cache_invalidate_user for a nested domain): checked, tagged with the guest's
// GSCID, sent, fenced once per instance.
public sealed partial class NestedDomain
{
    /// <summary>
    /// Carries out the guest's invalidation commands, in order. Accepted: IOTINVAL.VMA (GV = 0 as the guest writes it,
    /// or GV = 1 naming this guest's own GSCID; the host sends it with GV = 1 and the guest's GSCID, so a guest touches
    /// only its own GSCID and the PSCIDs inside it), IODIR.INVAL_PDT of a device attached to this domain, IOFENCE.C
    /// without AV/WSI (the host fences anyway). Anything else (G-stage or DDT invalidations, which are the host's, ATS,
    /// illegal encodings) is a bad entry.
    /// </summary>
    /// <returns>The number of entries carried out: all of them.</returns>
    /// <exception cref="GuestInvalidationException">Entry <see cref="GuestInvalidationException.Completed"/> was bad;
    /// the ones before it were carried out and fenced.</exception>
    [System.Runtime.CompilerServices.SkipLocalsInit] // the command batch on the stack is written before it is read
    public int InvalidateGuest(ReadOnlySpan<Command> requests)
    {
        ThrowIfDestroyed();
        Bond[] bonds = Parent.Bonds;
        var batch = new CommandBatch(stackalloc Command[CommandBatch.Capacity]);
        for (int i = 0; i < requests.Length; i++)
        {
            string? reason = Check(requests[i], bonds);
            if (reason is not null)
            {
                Flush(requests[..i], bonds, ref batch);
                throw new GuestInvalidationException(i, requests[i], reason);
            }
        }

        Flush(requests, bonds, ref batch);
        return requests.Length;
    }

    private string? Check(in Command c, Bond[] bonds)
    {
        if (c.IsIllegal)
        {
            return "an illegal command";
        }

        switch (c.Kind)
        {
            case CommandKind.IotinvalVma:
                if (c.Gv)
                {
                    foreach (Bond bond in bonds)
                    {
                        if (bond.Id != c.Gscid)
                        {
                            return $"GSCID 0x{c.Gscid:x} is not this guest's";
                        }
                    }
                }

                return null;
            case CommandKind.IodirInvalPdt:
                return AttachedDevice(c.Did) is null ? $"device 0x{c.Did:x} is not attached to this guest" : null;
            case CommandKind.IofenceC:
                return c.Av || c.Wsi ? "a fence with a write-back or an interrupt" : null;
            default:
                return $"{c.Kind} belongs to the host";
        }
    }

    private IommuDevice? AttachedDevice(uint deviceId)
    {
        foreach (IommuInstance instance in Driver.Instances)
        {
            if (instance.FindDevice(deviceId) is { } device && device.Domain == this)
            {
                return device;
            }
        }

        return null;
    }

    private void Flush(ReadOnlySpan<Command> requests, Bond[] bonds, ref CommandBatch batch)
    {
        if (requests.IsEmpty)
        {
            return;
        }

        Span<uint> fences = bonds.Length <= 16 ? stackalloc uint[16] : new uint[bonds.Length];
        for (int b = 0; b < bonds.Length; b++)
        {
            IommuInstance instance = bonds[b].Instance;
            if (instance.IsDisposed)
            {
                continue;
            }

            foreach (Command c in requests)
            {
                if (c.Kind == CommandKind.IotinvalVma)
                {
                    batch.Add(instance, Command.IotinvalVma(gv: true, bonds[b].Id, c.Pscv, c.Pscid, c.Av, c.Address));
                }
                else if (c.Kind == CommandKind.IodirInvalPdt && AttachedDevice(c.Did) is { } device && device.Instance == instance)
                {
                    batch.Add(instance, c);
                }
            }

            fences[b] = instance.Commands.SubmitWithFence(batch.Commands);
            batch.Clear();
        }

        for (int b = 0; b < bonds.Length; b++)
        {
            if (!bonds[b].Instance.IsDisposed)
            {
                bonds[b].Instance.Commands.WaitFence(fences[b]);
            }
        }
    }
}
