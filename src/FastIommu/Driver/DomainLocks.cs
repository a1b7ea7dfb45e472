using FastIommu.Diagnostics;

namespace FastIommu.Driver;

/// <summary>Holds the gates of up to four domains (the two of a replace and their parents), entered in one fixed
/// order, by <see cref="IommuDomain.Id"/>, so replaces in opposite directions (and through nested parents) cannot
/// deadlock. A struct: taking it allocates nothing.</summary>
internal ref struct DomainLocks
{
    private IommuDomain? _a;
    private IommuDomain? _b;
    private IommuDomain? _c;
    private IommuDomain? _d;

    public DomainLocks(IommuDomain first, IommuDomain second)
    {
        Span<IommuDomain?> set = [first, second, first.LockParent, second.LockParent];
        // Distinct, sorted by id (insertion sort of at most four).
        int n = 0;
        Span<IommuDomain?> sorted = [null, null, null, null];
        foreach (IommuDomain? domain in set)
        {
            if (domain is null || sorted[..n].Contains(domain))
            {
                continue;
            }

            int at = n++;
            while (at > 0 && sorted[at - 1]!.Id > domain.Id)
            {
                sorted[at] = sorted[at - 1];
                at--;
            }

            sorted[at] = domain;
        }

        (_a, _b, _c, _d) = (sorted[0], sorted[1], sorted[2], sorted[3]);
        _a?.Gate.Enter();
        if (Interleaving.Enabled)
        {
            Interleaving.Reach("Driver.FirstDomainLocked"); // the lowest-id gate is held, the others not yet
        }

        _b?.Gate.Enter();
        _c?.Gate.Enter();
        _d?.Gate.Enter();
    }

    public void Dispose()
    {
        _d?.Gate.Exit();
        _c?.Gate.Exit();
        _b?.Gate.Exit();
        _a?.Gate.Exit();
        _a = _b = _c = _d = null;
    }
}
