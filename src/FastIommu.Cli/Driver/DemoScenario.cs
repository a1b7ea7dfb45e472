using FastIommu.Driver;
using FastIommu.Formats.RiscV;
using FastIommu.Hardware;
using FastIommu.Memory;
using FastIommu.PageTables;

namespace FastIommu.Cli.Driver;

/// <summary>
/// The built-in scenario of <c>fastiommu demo</c>, built through the driver layer as docs/driver.md's bring-up
/// example does: two IOMMU instances, a group of devices behind both sharing a paging domain, a PASID domain and an SVA
/// bind on an accelerator, a nested guest over a G-stage; then device DMA through the hardware model and a strict
/// unmap. Single-threaded and seeded by nothing: the same memory bytes every run.
/// </summary>
internal sealed class DemoScenario : IDisposable
{
    public const ulong RamBase = 0x8000_0000;
    public const ulong RamSize = 64UL << 20;

    private readonly List<DemoStep> _steps = [];
    private readonly List<DemoTranslation> _translations = [];
    private readonly PhysicalMemory _guestRam;

    private DemoScenario()
    {
        Ram = PhysicalMemory.Allocate(RamSize, basePa: RamBase);
        Driver = new IommuDriver(new PageAllocator(Ram, 0x8200_0000, 32UL << 20));
        Hardware = [new RiscVIommu(Ram, Capabilities.FullRv64), new RiscVIommu(Ram, Capabilities.FullRv64)];

        var iommu0 = Step("bring up iommu0, iommu1", () =>
        {
            var first = Driver.AddInstance(new InProcessMmio(Hardware[0]));
            Driver.AddInstance(new InProcessMmio(Hardware[1]));
            return first;
        });
        var iommu1 = Driver.Instances[1];

        var dma = Step("attach group {0x100, 0x200} to Sv48", () =>
        {
            DeviceGroup group = Driver.CreateGroup("nic+dma");
            iommu0.AddDevice(0x0100, group);
            iommu1.AddDevice(0x0200, group);
            PagingDomain domain = Driver.CreatePagingDomain(PagingModeKind.Sv48);
            domain.Map(0x1000_0000, 0x8010_0000, 0x1_0000, DmaProtection.ReadWrite);
            Driver.Attach(group, domain);
            return domain;
        });

        var accel = Step("attach PASID 7 of 0x300 to Sv39", () =>
        {
            IommuDevice device = iommu0.AddDevice(0x0300, pasidBits: 16, features: DeviceFeatures.Sva);
            PagingDomain queue = Driver.CreatePagingDomain(PagingModeKind.Sv39);
            queue.Map(0x2000_0000, 0x8020_0000, 0x1000, DmaProtection.Read);
            Driver.AttachPasid(device, 7, queue);
            return device;
        });

        SvaPasid = Step("SVA bind of 0x300 to Sv48 space", () =>
        {
            PagingDomain process = Driver.CreateAddressSpace(PagingModeKind.Sv48);
            process.Map(0x7fff_0000, 0x8030_0000, 0x1000, DmaProtection.ReadWrite);
            return Driver.BindSva(accel, process).Pasid;
        });

        _guestRam = Step("attach 0x400: guest PDT on Sv39x4", () =>
        {
            PagingDomain vm = Driver.CreatePagingDomain(PagingModeKind.Sv39x4);
            vm.Map(0, 0x8100_0000, 16UL << 20, DmaProtection.ReadWrite);
            PhysicalMemory guestRam = GuestPhysicalView.Create(Ram, 0x8100_0000, 16UL << 20, gpaBase: 0);
            var guestPages = new PageAllocator(guestRam, 0x10_0000, 1UL << 20); // the guest kernel's allocator: GPAs
            ulong guestPdt = guestPages.AllocatePage();
            var guestTable = new PageTable<Sv39>(guestPages);
            guestTable.Map(0x4000_0000, 0x20_0000, 0x1000, PageProtection.Read | PageProtection.User);
            // The guest writes its own PC 1 into a page no IOMMU reads yet (the PDT is not attached).
            guestRam.GetRef<ProcessContext>(guestPdt + (1 * ProcessContext.Size)) = new ProcessContext(
                ProcessContextTa.Default.WithV(true).WithPscid(1), Iosatp.Create<Sv39>(guestTable.RootAddress));
            NestedDomain nested = Driver.CreateNestedDomain(vm, new GuestPasidTable(guestPdt, PdtpMode.PD8, PasidTableFormat.RiscV));
            IommuDevice vf = iommu1.AddDevice(0x0400, pasidBits: 8);
            Driver.Attach(vf.Group, nested);
            return guestRam;
        });

        Translate(0, "group device on iommu0", 0x0100, null, 0x1000_0000, AccessType.Read);
        Translate(1, "group device on iommu1", 0x0200, null, 0x1000_0ff8, AccessType.Write);
        Translate(0, "PASID 7 domain", 0x0300, 7, 0x2000_0010, AccessType.Read);
        Translate(0, "PASID 7 domain is read-only", 0x0300, 7, 0x2000_0010, AccessType.Write);
        Translate(0, "SVA process address space", 0x0300, SvaPasid, 0x7fff_0040, AccessType.Write);
        Translate(1, "nested guest (two stages)", 0x0400, 1, 0x4000_0000, AccessType.Read);
        Translate(0, "a device the driver never added", 0x0500, null, 0x1000_0000, AccessType.Read);

        Step("unmap 4 KiB of Sv48, strict sync", () => dma.UnmapAndSync(0x1000_0000, 0x1000));
        Translate(0, "after the unmap", 0x0100, null, 0x1000_0000, AccessType.Read);
    }

    public PhysicalMemory Ram { get; }

    public IommuDriver Driver { get; }

    /// <summary>The hardware model of each instance, in the driver's order.</summary>
    public RiscVIommu[] Hardware { get; }

    public uint SvaPasid { get; }

    /// <summary>Each step and the commands it sent to each instance.</summary>
    public IReadOnlyList<DemoStep> Steps => _steps;

    public IReadOnlyList<DemoTranslation> Translations => _translations;

    public static DemoScenario Build() => new();

    public void Dispose()
    {
        Driver.Dispose();
        _guestRam.Dispose();
        Ram.Dispose();
    }

    private T Step<T>(string name, Func<T> action)
    {
        var before = CommandTally.Snapshot(Driver.Instances);
        var tails = new uint[Hardware.Length];
        for (int i = 0; i < tails.Length; i++)
        {
            tails[i] = CommandRing.Tail(Hardware[i]);
        }

        T result = action();
        var ring = new List<string>[Hardware.Length];
        for (int i = 0; i < ring.Length; i++)
        {
            ring[i] = CommandRing.Read(Hardware[i], Ram, tails[i], CommandRing.Tail(Hardware[i]));
        }

        _steps.Add(new DemoStep(name, CommandTally.Snapshot(Driver.Instances).Since(before), ring));
        return result;
    }

    private void Translate(int instance, string what, uint device, uint? pasid, ulong iova, AccessType access)
    {
        var request = pasid is { } p ? new TranslationRequest(device, p, iova, access) : new TranslationRequest(device, iova, access);
        _translations.Add(new DemoTranslation(what, instance, device, pasid, iova, access, Hardware[instance].Translate(request)));
    }
}

/// <summary>One step of the demo: the driver's counters' difference, and the commands decoded from each instance's
/// command queue ring, in the order the hardware ran them.</summary>
internal sealed record DemoStep(string Name, CommandTally Counts, IReadOnlyList<string>[] Ring);

/// <summary>One DMA request of the demo and what the hardware model answered.</summary>
internal sealed record DemoTranslation(string What, int Instance, uint Device, uint? Pasid, ulong Iova, AccessType Access,
    TranslationResult Result);
