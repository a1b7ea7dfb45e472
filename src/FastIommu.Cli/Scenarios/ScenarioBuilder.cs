using FastIommu.Driver;
using FastIommu.Formats.RiscV;
using FastIommu.Hardware;
using FastIommu.Images;
using FastIommu.Memory;
using FastIommu.PageTables;

namespace FastIommu.Cli.Scenarios;

/// <summary>
/// Builds a parsed <see cref="Scenario"/> through the driver layer, in file order: guest RAM, the driver, each instance
/// (a <see cref="RiscVIommu"/> behind <see cref="InProcessMmio"/>), each domain with its mappings (nested guests write
/// their PDT and tables in guest-physical memory), then each device: added, its group attached, its PASIDs attached, its
/// SVA binds made. A refusal of the driver (an overlapping mapping, a mode the IOMMU lacks, memory exhausted) becomes a
/// <see cref="ScenarioException"/> naming the element that caused it.
/// </summary>
internal sealed class ScenarioBuilder : IDisposable
{
    private readonly List<PhysicalMemory> _guestViews = [];
    private readonly Dictionary<string, IommuDomain> _domains = new(StringComparer.Ordinal);
    private readonly Dictionary<string, DeviceGroup> _groups = new(StringComparer.Ordinal);
    private readonly Dictionary<string, IommuInstance> _instances = new(StringComparer.Ordinal);

    private ScenarioBuilder(Scenario scenario)
    {
        Scenario = scenario;
        Ram = PhysicalMemory.Allocate(scenario.MemorySize, basePa: scenario.MemoryBase);
        try
        {
            Driver = new IommuDriver(Allocator(scenario.DriverPages));
        }
        catch
        {
            Ram.Dispose();
            throw;
        }
    }

    public Scenario Scenario { get; }

    public PhysicalMemory Ram { get; }

    public IommuDriver Driver { get; }

    /// <summary>Each instance's hardware model, in file order.</summary>
    public List<(string Name, RiscVIommu Hardware)> Hardware { get; } = [];

    /// <summary>Builds <paramref name="scenario"/>; on a refusal, everything built so far is released.</summary>
    public static ScenarioBuilder Build(Scenario scenario)
    {
        var builder = new ScenarioBuilder(scenario);
        try
        {
            builder.BuildAll();
            return builder;
        }
        catch
        {
            builder.Dispose();
            throw;
        }
    }

    /// <summary>The table image of each instance, in file order.</summary>
    public List<(string Name, TableImage Image)> Capture()
    {
        var images = new List<(string, TableImage)>(Hardware.Count);
        foreach (var (name, hardware) in Hardware)
        {
            images.Add((name, TableImage.Capture(hardware, new PhysicalMemoryAccess(Ram))));
        }

        return images;
    }

    public void Dispose()
    {
        Driver.Dispose();
        foreach (var view in _guestViews)
        {
            view.Dispose();
        }

        Ram.Dispose();
    }

    private void BuildAll()
    {
        foreach (var spec in Scenario.Instances)
        {
            Attempt(spec.Path, () =>
            {
                var hardware = new RiscVIommu(Ram, spec.Capabilities);
                var options = new IommuDriverOptions { MaxDdtLevels = spec.DdtLevels };
                var instance = Driver.AddInstance(new InProcessMmio(hardware), spec.Pages is { } w ? Allocator(w) : null, options);
                Hardware.Add((spec.Name, hardware));
                _instances.Add(spec.Name, instance);
            });
        }

        foreach (var spec in Scenario.Domains)
        {
            IommuDomain domain = spec.Kind switch
            {
                DomainSpecKind.Paging => Attempt(spec.Path, () => Driver.CreatePagingDomain(spec.Mode)),
                DomainSpecKind.Sva => Attempt(spec.Path, () => Driver.CreateAddressSpace(spec.Mode)),
                _ => BuildNested(spec),
            };
            _domains.Add(spec.Name, domain);
            if (domain is PagingDomain paging)
            {
                foreach (var m in spec.Mappings)
                {
                    Attempt(m.Path, () => paging.Map(m.Iova, m.Pa, m.Size, m.Protection));
                }
            }
        }

        foreach (var spec in Scenario.Devices)
        {
            BuildDevice(spec);
        }
    }

    private void BuildDevice(DeviceSpec spec)
    {
        var instance = _instances[spec.Instance];
        DeviceGroup? group = null;
        bool groupIsNew = false;
        if (spec.Group is { } name && !_groups.TryGetValue(name, out group))
        {
            group = Driver.CreateGroup(name);
            _groups.Add(name, group);
            groupIsNew = true;
        }

        var device = Attempt(spec.Path + ".id", () => instance.AddDevice(spec.Id, group, spec.PasidBits, spec.Features));
        if (group is null || groupIsNew)
        {
            // A group's domain is attached once, by its first device; later devices join it attached.
            IommuDomain? domain = spec.Domain switch
            {
                null or "blocked" => null,
                "identity" => Driver.Identity,
                { } d => _domains[d],
            };
            if (domain is not null)
            {
                Attempt(spec.Path + ".domain", () => Driver.Attach(device.Group, domain));
            }
        }

        foreach (var p in spec.Pasids)
        {
            Attempt(p.Path, () => Driver.AttachPasid(device, p.Pasid, _domains[p.Domain]));
        }

        foreach (var s in spec.SvaBinds)
        {
            Attempt(s.Path, () => Driver.BindSva(device, (PagingDomain)_domains[s.Domain]));
        }
    }

    private NestedDomain BuildNested(DomainSpec spec)
    {
        var guest = spec.Guest!;
        var parent = (PagingDomain)_domains[spec.Parent!];
        var view = Attempt(guest.Path, () => GuestPhysicalView.Create(Ram, guest.HostPa, guest.Size, guest.GpaBase));
        _guestViews.Add(view);
        var pages = Attempt(guest.Pages.Path, () => new PageAllocator(view, guest.Pages.Base, guest.Pages.Size));
        ulong pdt = Attempt(guest.Pages.Path, pages.AllocatePage);
        foreach (var process in guest.Processes)
        {
            // The guest kernel writes its PC into its PDT page, which no IOMMU reads until the nested domain is attached.
            Iosatp iosatp = process.Mode switch
            {
                PagingModeKind.Sv39 => GuestTable<Sv39>(pages, process),
                PagingModeKind.Sv48 => GuestTable<Sv48>(pages, process),
                _ => GuestTable<Sv57>(pages, process),
            };
            view.GetRef<ProcessContext>(pdt + (process.Pasid * (ulong)ProcessContext.Size)) =
                new ProcessContext(ProcessContextTa.Default.WithV(true).WithPscid(process.Pscid), iosatp);
        }

        return Attempt(spec.Path, () => Driver.CreateNestedDomain(parent, new GuestPasidTable(pdt, guest.PdtMode, PasidTableFormat.RiscV)));
    }

    private static Iosatp GuestTable<TMode>(PageAllocator pages, GuestProcessSpec process)
        where TMode : struct, IPagingMode
    {
        var table = Attempt(process.Path, () => new PageTable<TMode>(pages));
        foreach (var m in process.Mappings)
        {
            // As the driver's first-stage leaves: U (a request without privilege is a user access), W implies R.
            var prot = PageProtection.User;
            prot |= (m.Protection & (DmaProtection.Read | DmaProtection.Write)) != 0 ? PageProtection.Read : 0;
            prot |= (m.Protection & DmaProtection.Write) != 0 ? PageProtection.Write : 0;
            prot |= (m.Protection & DmaProtection.Execute) != 0 ? PageProtection.Execute : 0;
            Attempt(m.Path, () => table.Map(m.Iova, m.Pa, m.Size, prot));
        }

        return Iosatp.Create<TMode>(table.RootAddress);
    }

    private PageAllocator Allocator(Window window) =>
        Attempt(window.Path, () => new PageAllocator(Ram, window.Base, window.Size));

    private static void Attempt(string path, Action action) => Attempt(path, () =>
    {
        action();
        return true;
    });

    /// <summary>Runs one build action; a refusal (the library's typed errors) names <paramref name="path"/>.</summary>
    private static T Attempt<T>(string path, Func<T> action)
    {
        try
        {
            return action();
        }
        catch (Exception ex) when (ex is InvalidOperationException or ArgumentException or NotSupportedException or TimeoutException)
        {
            throw new ScenarioException(path, ex.Message);
        }
    }
}
