using System.Runtime.InteropServices;
using FastIommu.Driver;
using FastIommu.Formats.RiscV;
using FastIommu.PageTables;

namespace FastIommu.Native;

// The driver layer: domains, attach, PASIDs, SVA, map/unmap/sync (fastiommu.h "domains").
internal static unsafe partial class NativeExports
{
    // fastiommu_domain_kind
    public const uint DomainBlocked = 0, DomainIdentity = 1, DomainPaging = 2, DomainSva = 3;

    [UnmanagedCallersOnly(EntryPoint = "fastiommu_domain_create")]
    public static NativeStatus DomainCreate(ulong driver, uint kind, uint mode, ulong* domain)
    {
        try
        {
            if (domain == null)
            {
                return NullArgument("domain");
            }

            DriverObject? d = HandleTable.Find<DriverObject>(driver);
            if (d is null)
            {
                return BadHandle("driver", driver);
            }

            IommuDomain created = kind switch
            {
                DomainBlocked => d.Driver.Blocked,
                DomainIdentity => d.Driver.Identity,
                DomainPaging => d.Driver.CreatePagingDomain(ModeKind(mode)),
                DomainSva => d.Driver.CreateAddressSpace(ModeKind(mode)),
                _ => throw new ArgumentException($"Domain kind {kind} is not one of FASTIOMMU_DOMAIN_BLOCKED..SVA (nested: fastiommu_domain_create_nested)."),
            };
            return PublishDomain(created, d, second: null, domain);
        }
        catch (Exception e)
        {
            return Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "fastiommu_domain_create_nested")]
    public static NativeStatus DomainCreateNested(ulong parent, ulong pdtGpa, uint pdtpMode, ulong* domain)
    {
        try
        {
            if (domain == null)
            {
                return NullArgument("domain");
            }

            DomainObject? p = HandleTable.Find<DomainObject>(parent);
            if (p is null)
            {
                return BadHandle("domain", parent);
            }

            if (p.Paging is null)
            {
                return Fail(NativeStatus.InvalidArgument, $"The parent {p.Domain} is not a paging domain (a G-stage one is needed).");
            }

            if (pdtpMode is < (uint)PdtpMode.PD8 or > (uint)PdtpMode.PD20)
            {
                return Fail(NativeStatus.InvalidArgument, $"pdtp_mode {pdtpMode} is not PD8 (1), PD17 (2) or PD20 (3).");
            }

            DriverObject d = (DriverObject)p.Lender!;
            NestedDomain created = d.Driver.CreateNestedDomain(p.Paging,
                new GuestPasidTable(pdtGpa, (PdtpMode)pdtpMode, PasidTableFormat.RiscV));
            return PublishDomain(created, d, p, domain);
        }
        catch (Exception e)
        {
            return Fail(e);
        }
    }

    private static NativeStatus PublishDomain(IommuDomain created, DriverObject driver, NativeObject? second, ulong* domain)
    {
        var o = new DomainObject(created) { Lender = driver, SecondLender = second };
        try
        {
            *domain = HandleTable.Add(o);
            return NativeStatus.Ok;
        }
        catch (HandleTableFullException e)
        {
            if (created.Kind is not (DomainKind.Blocked or DomainKind.Identity))
            {
                created.Dispose();
            }

            return Fail(e);
        }
    }

    private static PagingModeKind ModeKind(uint mode) => mode switch
    {
        ModeSv39 => PagingModeKind.Sv39,
        ModeSv48 => PagingModeKind.Sv48,
        ModeSv57 => PagingModeKind.Sv57,
        ModeSv39x4 => PagingModeKind.Sv39x4,
        ModeSv48x4 => PagingModeKind.Sv48x4,
        ModeSv57x4 => PagingModeKind.Sv57x4,
        _ => throw new ArgumentException($"Paging mode {mode} is not one of FASTIOMMU_MODE_SV39..SV57X4.", nameof(mode)),
    };

    [UnmanagedCallersOnly(EntryPoint = "fastiommu_domain_destroy")]
    public static NativeStatus DomainDestroy(ulong domain) => Destroy<DomainObject>(domain);

    /// <summary>Attach and replace are one operation (the group moves from its domain to the new one with no
    /// blocked image between); the C names both.</summary>
    [UnmanagedCallersOnly(EntryPoint = "fastiommu_attach")]
    public static NativeStatus Attach(ulong group, ulong domain) => Replace(group, domain);

    [UnmanagedCallersOnly(EntryPoint = "fastiommu_replace")]
    public static NativeStatus ReplaceExport(ulong group, ulong domain) => Replace(group, domain);

    private static NativeStatus Replace(ulong group, ulong domain)
    {
        try
        {
            GroupObject? g = HandleTable.Find<GroupObject>(group);
            if (g is null)
            {
                return BadHandle("group", group);
            }

            DomainObject? d = HandleTable.Find<DomainObject>(domain);
            if (d is null)
            {
                return BadHandle("domain", domain);
            }

            g.Group.Driver.Replace(g.Group, d.Domain);
            return NativeStatus.Ok;
        }
        catch (Exception e)
        {
            return Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "fastiommu_detach")]
    public static NativeStatus Detach(ulong group)
    {
        try
        {
            GroupObject? g = HandleTable.Find<GroupObject>(group);
            if (g is null)
            {
                return BadHandle("group", group);
            }

            g.Group.Driver.Detach(g.Group);
            return NativeStatus.Ok;
        }
        catch (Exception e)
        {
            return Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "fastiommu_pasid_attach")]
    public static NativeStatus PasidAttach(ulong device, uint pasid, ulong domain)
    {
        try
        {
            DeviceObject? v = HandleTable.Find<DeviceObject>(device);
            if (v is null)
            {
                return BadHandle("device", device);
            }

            DomainObject? d = HandleTable.Find<DomainObject>(domain);
            if (d is null)
            {
                return BadHandle("domain", domain);
            }

            v.Device.Instance.Driver.AttachPasid(v.Device, pasid, d.Domain);
            return NativeStatus.Ok;
        }
        catch (Exception e)
        {
            return Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "fastiommu_pasid_detach")]
    public static NativeStatus PasidDetach(ulong device, uint pasid)
    {
        try
        {
            DeviceObject? v = HandleTable.Find<DeviceObject>(device);
            if (v is null)
            {
                return BadHandle("device", device);
            }

            v.Device.Instance.Driver.DetachPasid(v.Device, pasid);
            return NativeStatus.Ok;
        }
        catch (Exception e)
        {
            return Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "fastiommu_sva_bind")]
    public static NativeStatus SvaBind(ulong device, ulong addressSpace, ulong* sva, uint* pasid)
    {
        try
        {
            if (sva == null)
            {
                return NullArgument("sva");
            }

            DeviceObject? v = HandleTable.Find<DeviceObject>(device);
            if (v is null)
            {
                return BadHandle("device", device);
            }

            DomainObject? d = HandleTable.Find<DomainObject>(addressSpace);
            if (d is null)
            {
                return BadHandle("domain", addressSpace);
            }

            if (d.Paging is null || d.Domain.Kind != DomainKind.Sva)
            {
                return Fail(NativeStatus.InvalidArgument, $"{d.Domain} is not an SVA address space (FASTIOMMU_DOMAIN_SVA).");
            }

            IommuDriver driver = v.Device.Instance.Driver;
            SvaHandle bound = driver.BindSva(v.Device, d.Paging);
            var o = new SvaObject(driver, bound) { Lender = v, SecondLender = d };
            try
            {
                *sva = HandleTable.Add(o);
            }
            catch (HandleTableFullException e)
            {
                driver.UnbindSva(bound);
                return Fail(e);
            }

            if (pasid != null)
            {
                *pasid = bound.Pasid;
            }

            return NativeStatus.Ok;
        }
        catch (Exception e)
        {
            return Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "fastiommu_sva_unbind")]
    public static NativeStatus SvaUnbind(ulong sva) => Destroy<SvaObject>(sva);

    [UnmanagedCallersOnly(EntryPoint = "fastiommu_unmap_gather_create")]
    public static NativeStatus UnmapGatherCreate(ulong driver, ulong* gather)
    {
        try
        {
            if (gather == null)
            {
                return NullArgument("gather");
            }

            DriverObject? d = HandleTable.Find<DriverObject>(driver);
            if (d is null)
            {
                return BadHandle("driver", driver);
            }

            return Publish(new UnmapGatherObject(d.Driver) { Lender = d }, gather);
        }
        catch (Exception e)
        {
            return Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "fastiommu_unmap_gather_destroy")]
    public static NativeStatus UnmapGatherDestroy(ulong gather) => Destroy<UnmapGatherObject>(gather);

    /// <summary>Map: one handle lookup and the table's map. Allocates nothing but table pages.</summary>
    [UnmanagedCallersOnly(EntryPoint = "fastiommu_domain_map")]
    public static NativeStatus DomainMap(ulong domain, ulong iova, ulong pa, ulong size, uint prot)
    {
        try
        {
            PagingDomain? p = FindPaging(domain, out NativeStatus refused);
            if (p is null)
            {
                return refused;
            }

            if ((prot & ~(uint)(DmaProtection.Read | DmaProtection.Write | DmaProtection.Execute)) != 0)
            {
                return Fail(NativeStatus.InvalidProtection, $"prot 0x{prot:x}: a domain mapping takes FASTIOMMU_PROT_READ, _WRITE and _EXEC only.");
            }

            MapStatus status = p.TryMap(iova, pa, size, (DmaProtection)prot);
            return status == MapStatus.Success ? NativeStatus.Ok : MapFailed(status, p, iova, size);
        }
        catch (Exception e)
        {
            return Fail(e);
        }
    }

    /// <summary>Unmap into a gather handle. The gather's pooled <see cref="UnmapGather"/> is taken on its first unmap
    /// after a sync; a steady state allocates nothing.</summary>
    [UnmanagedCallersOnly(EntryPoint = "fastiommu_domain_unmap")]
    public static NativeStatus DomainUnmap(ulong domain, ulong iova, ulong size, ulong gather, ulong* unmapped)
    {
        try
        {
            PagingDomain? p = FindPaging(domain, out NativeStatus refused);
            if (p is null)
            {
                return refused;
            }

            UnmapGatherObject? g = HandleTable.Find<UnmapGatherObject>(gather);
            if (g is null)
            {
                return BadHandle("unmap gather", gather);
            }

            if (g.Driver != p.Driver)
            {
                return Fail(NativeStatus.ForeignGather, $"The gather belongs to another driver than {p}.");
            }

            UnmapGather inner = g.Current ??= g.Driver.RentGather();
            MapStatus status = p.TryUnmap(iova, size, inner, out ulong bytes);
            if (status != MapStatus.Success)
            {
                if (unmapped != null)
                {
                    *unmapped = 0;
                }

                return MapFailed(status, p, iova, size);
            }

            if (unmapped != null)
            {
                *unmapped = bytes;
            }

            return NativeStatus.Ok;
        }
        catch (Exception e)
        {
            return Fail(e);
        }
    }

    /// <summary>Sync: the invalidations and fences of what the gather holds; the gather is empty afterwards.</summary>
    [UnmanagedCallersOnly(EntryPoint = "fastiommu_domain_sync")]
    public static NativeStatus DomainSync(ulong domain, ulong gather)
    {
        try
        {
            PagingDomain? p = FindPaging(domain, out NativeStatus refused);
            if (p is null)
            {
                return refused;
            }

            UnmapGatherObject? g = HandleTable.Find<UnmapGatherObject>(gather);
            if (g is null)
            {
                return BadHandle("unmap gather", gather);
            }

            if (g.Current is not { } inner)
            {
                return NativeStatus.Ok; // nothing unmapped since the last sync
            }

            p.Sync(inner); // returns inner to the pool, or throws and keeps it (the pages may still be walked)
            g.Current = null;
            return NativeStatus.Ok;
        }
        catch (Exception e)
        {
            return Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "fastiommu_domain_unmap_sync")]
    public static NativeStatus DomainUnmapSync(ulong domain, ulong iova, ulong size, ulong* unmapped)
    {
        try
        {
            PagingDomain? p = FindPaging(domain, out NativeStatus refused);
            if (p is null)
            {
                return refused;
            }

            UnmapGather inner = p.Driver.RentGather();
            MapStatus status = p.TryUnmap(iova, size, inner, out ulong bytes);
            if (status != MapStatus.Success)
            {
                p.Driver.ReturnGather(inner); // a refused unmap changed nothing: the gather is empty
                if (unmapped != null)
                {
                    *unmapped = 0;
                }

                return MapFailed(status, p, iova, size);
            }

            p.Sync(inner);
            if (unmapped != null)
            {
                *unmapped = bytes;
            }

            return NativeStatus.Ok;
        }
        catch (Exception e)
        {
            return Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "fastiommu_domain_iova_to_phys")]
    public static NativeStatus DomainIovaToPhys(ulong domain, ulong iova, ulong* pa)
    {
        try
        {
            PagingDomain? p = FindPaging(domain, out NativeStatus refused);
            if (p is null)
            {
                return refused;
            }

            if (pa == null)
            {
                return NullArgument("pa");
            }

            if (!p.TryIovaToPhys(iova, out ulong address))
            {
                *pa = 0;
                return Fail(NativeStatus.NotMapped, $"IOVA 0x{iova:x} is not mapped in {p}.");
            }

            *pa = address;
            return NativeStatus.Ok;
        }
        catch (Exception e)
        {
            return Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "fastiommu_domain_info")]
    public static NativeStatus DomainInfo(ulong domain, uint* kind, ulong* rootPa)
    {
        try
        {
            DomainObject? d = HandleTable.Find<DomainObject>(domain);
            if (d is null)
            {
                return BadHandle("domain", domain);
            }

            if (kind != null)
            {
                *kind = (uint)d.Domain.Kind;
            }

            if (rootPa != null)
            {
                *rootPa = d.Paging?.RootAddress ?? 0;
            }

            return NativeStatus.Ok;
        }
        catch (Exception e)
        {
            return Fail(e);
        }
    }

    private static PagingDomain? FindPaging(ulong domain, out NativeStatus refused)
    {
        DomainObject? d = HandleTable.Find<DomainObject>(domain);
        if (d is null)
        {
            refused = BadHandle("domain", domain);
            return null;
        }

        if (d.Paging is null)
        {
            refused = Fail(NativeStatus.Unsupported, $"{d.Domain} has no page table: map, unmap and sync need a paging or SVA domain.");
            return null;
        }

        refused = NativeStatus.Ok;
        return d.Paging;
    }

    private static NativeStatus MapFailed(MapStatus status, PagingDomain domain, ulong iova, ulong size) =>
        Fail(StatusMap.From(status), $"{domain}: 0x{iova:x} + 0x{size:x} refused: {status}.");
}
