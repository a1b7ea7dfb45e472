using FastIommu.Formats.RiscV;
using FastIommu.Memory;
using FastIommu.PageTables;

namespace FastIommu.Driver;

/// <summary>
/// A domain whose page table the driver owns: first stage (Sv39/48/57; devices see it through iosatp and a PSCID)
/// or G-stage for a VM (Sv39x4/48x4/57x4; iohgatp and a GSCID). The root exists from creation, so mappings made
/// before any attach are there when a device arrives (Linux allocates the root at domain allocation).
/// </summary>
/// <remarks>Map, Unmap and Sync on disjoint ranges may run on any threads at once, beside attach and translation.
/// Unmap returns a pooled <see cref="UnmapGather"/>; <see cref="Sync"/> invalidates what it gathered on every instance
/// the domain is used on, fences, frees the table pages it unlinked, and returns it to the pool. None of these
/// allocate.</remarks>
public abstract partial class PagingDomain : IommuDomain
{
    private protected PagingDomain(IommuDriver driver, PagingModeKind mode, DomainKind kind = DomainKind.Paging) : base(driver, kind)
    {
        Mode = mode;
    }

    /// <summary>The paging mode.</summary>
    public PagingModeKind Mode { get; }

    /// <summary>True for Sv39x4/48x4/57x4 (a VM's G-stage).</summary>
    public bool IsGStage => PagingModes.IsGStage(Mode);

    /// <summary>Physical address of the root table.</summary>
    public abstract ulong RootAddress { get; }

    /// <summary>The allocator its table pages come from.</summary>
    public abstract PageAllocator Allocator { get; }

    /// <summary>For an address space (kind SVA): its PASID and binds, under the driver's SVA lock.</summary>
    internal SvaState? Sva { get; set; }

    /// <summary>The PASID of an address space while bound to at least one device.</summary>
    public uint? SvaPasid => Sva?.Pasid;

    internal override bool NeedsBond => true;

    internal override bool GStageBond => IsGStage;

    internal override void CheckUsableOn(IommuInstance instance)
    {
        if (!instance.Capabilities.Supports(Mode))
        {
            throw new NotSupportedException($"{instance.Name} does not implement {Mode} ({instance.Capabilities}); {this} cannot be used there.");
        }
    }

    internal override ContextImage DeviceImage(Bond? bond)
    {
        var tc = DeviceContextTc.Default.WithV(true);
        byte encoding = PagingModes.ModeEncoding(Mode);
        return IsGStage
            ? new ContextImage(tc, Iohgatp.Default.WithMode(encoding).WithGscid(bond!.Id).WithPpn(RootAddress >> 12), DeviceContextTa.Default, 0)
            : new ContextImage(tc, Iohgatp.Default, DeviceContextTa.Default.WithPscid(bond!.Id), Iosatp.Default.WithMode(encoding).WithPpn(RootAddress >> 12).Value);
    }

    internal override bool FitsProcessContext => !IsGStage;

    internal override ProcessContext ProcessImage(Bond? bond) => IsGStage
        ? base.ProcessImage(bond)
        : new ProcessContext(ProcessContextTa.Default.WithV(true).WithPscid(bond!.Id),
            Iosatp.Default.WithMode(PagingModes.ModeEncoding(Mode)).WithPpn(RootAddress >> 12));

    /// <summary>Maps [iova, iova + size) to [pa, pa + size) with the largest leaves alignment allows.</summary>
    /// <returns>Success, or why nothing was changed.</returns>
    public abstract MapStatus TryMap(ulong iova, ulong pa, ulong size, DmaProtection prot);

    /// <summary>Maps like <see cref="TryMap"/>.</summary>
    /// <exception cref="PageTableException">Refused (overlap, alignment, range, memory); nothing changed.</exception>
    public void Map(ulong iova, ulong pa, ulong size, DmaProtection prot)
    {
        MapStatus status = TryMap(iova, pa, size, prot);
        if (status != MapStatus.Success)
        {
            throw new PageTableException(status, iova, $"{this}: map of 0x{iova:x} + 0x{size:x} -> 0x{pa:x} refused: {status}.");
        }
    }

    /// <summary>Unmaps [iova, iova + size) into <paramref name="gather"/> (holes are skipped).</summary>
    /// <returns>Success, or why nothing was changed.</returns>
    public MapStatus TryUnmap(ulong iova, ulong size, UnmapGather gather, out ulong unmapped)
    {
        ArgumentNullException.ThrowIfNull(gather);
        gather.CheckBindable(this);
        MapStatus status = TryUnmapCore(iova, size, gather.Inner, out unmapped);
        if (status == MapStatus.Success)
        {
            // Bound only once something may be gathered: a refused unmap changes nothing, so the gather stays free
            // for another domain (it was bound before the unmap, and kept refusing other domains until a sync).
            gather.Bind(this);
            gather.Bytes += unmapped;
        }

        return status;
    }

    /// <summary>Unmaps [iova, iova + size) and returns a pooled gather to pass to <see cref="Sync"/>.</summary>
    /// <exception cref="PageTableException">Refused (a superpage cut in part, alignment, range); nothing changed.</exception>
    public UnmapGather Unmap(ulong iova, ulong size)
    {
        UnmapGather gather = Driver.RentGather();
        MapStatus status = TryUnmap(iova, size, gather, out _);
        if (status != MapStatus.Success)
        {
            Driver.ReturnGather(gather);
            throw new PageTableException(status, iova, $"{this}: unmap of 0x{iova:x} + 0x{size:x} refused: {status}.");
        }

        return gather;
    }

    /// <summary>Unmaps and syncs at once (the strict mode of Linux's DMA API); returns the bytes unmapped.</summary>
    /// <exception cref="PageTableException">Refused (a superpage cut in part, alignment, range); nothing changed.</exception>
    /// <exception cref="CommandQueueTimeoutException">An instance did not complete its fence: the unlinked table
    /// pages are never freed (the hardware may still walk them).</exception>
    public ulong UnmapAndSync(ulong iova, ulong size)
    {
        // The domain's own gather, taken with one int compare-and-swap (Linux keeps the strict path's gather on the
        // stack); a call that finds it taken rents one from the pool, as Unmap does.
        if (Interlocked.CompareExchange(ref _strictGatherTaken, 1, 0) != 0)
        {
            UnmapGather rented = Unmap(iova, size);
            ulong rentedBytes = rented.Bytes;
            Sync(rented);
            return rentedBytes;
        }

        UnmapGather gather = _strictGather;
        try
        {
            MapStatus status = TryUnmap(iova, size, gather, out _);
            if (status != MapStatus.Success)
            {
                throw new PageTableException(status, iova, $"{this}: unmap of 0x{iova:x} + 0x{size:x} refused: {status}.");
            }

            ulong bytes = gather.Bytes;
            SyncCore(gather);
            return bytes;
        }
        finally
        {
            if (gather.IsEmpty)
            {
                gather.Reset();
            }
            else
            {
                _strictGather = new UnmapGather(); // a failed sync's gather keeps its pages, never freed
            }

            Volatile.Write(ref _strictGatherTaken, 0);
        }
    }

    private UnmapGather _strictGather = new();
    private int _strictGatherTaken;

    /// <summary>The physical address <paramref name="iova"/> maps to, per the table (not the IOMMU's caches).</summary>
    public abstract bool TryIovaToPhys(ulong iova, out ulong pa);

    /// <summary>Walks the table for <paramref name="iova"/>: the leaf PTE, its level and size.</summary>
    public abstract WalkResult Walk(ulong iova);

    private protected abstract MapStatus TryUnmapCore(ulong iova, ulong size, InvalidationGather gather, out ulong unmapped);

    public override string ToString() => $"{Kind} domain #{Id} ({Mode})";
}

/// <summary>The paging domain of mode <typeparamref name="TMode"/>: a <see cref="PageTable{TMode}"/>.</summary>
internal sealed class PagingDomain<TMode> : PagingDomain where TMode : struct, IPagingMode
{
    private readonly PageTable<TMode> _table;

    public PagingDomain(IommuDriver driver, PagingModeKind mode, PageAllocator allocator, PageTableOptions? options, DomainKind kind = DomainKind.Paging)
        : base(driver, mode, kind)
    {
        _table = new PageTable<TMode>(allocator, options);
    }

    public PageTable<TMode> Table => _table;

    public override ulong RootAddress => _table.RootAddress;

    public override PageAllocator Allocator => _table.Allocator;

    public override MapStatus TryMap(ulong iova, ulong pa, ulong size, DmaProtection prot)
    {
        ThrowIfDestroyed();
        return _table.TryMap(iova, pa, size, prot.ToLeaf(TMode.IsGStage));
    }

    public override bool TryIovaToPhys(ulong iova, out ulong pa)
    {
        ThrowIfDestroyed();
        return _table.TryIovaToPhys(iova, out pa);
    }

    public override WalkResult Walk(ulong iova)
    {
        ThrowIfDestroyed();
        return _table.Walk(iova);
    }

    private protected override MapStatus TryUnmapCore(ulong iova, ulong size, InvalidationGather gather, out ulong unmapped)
    {
        ThrowIfDestroyed();
        return _table.TryUnmap(iova, size, gather, out unmapped);
    }

    private protected override void Destroy() => _table.Dispose();
}
