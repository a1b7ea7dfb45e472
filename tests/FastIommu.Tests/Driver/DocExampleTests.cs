using System.Runtime.CompilerServices;
using System.Text.RegularExpressions;
using FastIommu.Driver;
using FastIommu.Formats.RiscV;
using FastIommu.Hardware;
using FastIommu.Memory;
using FastIommu.PageTables;

namespace FastIommu.Tests.Driver;

/// <summary>The bring-up example of docs/driver.md, run; and a check that the document shows this very code.</summary>
[TestFixture]
public partial class DocExampleTests
{
    [Test]
    public void TheBringUpExampleRuns()
    {
        // <example>
        using var ram = PhysicalMemory.Allocate(64UL << 20, basePa: 0x8000_0000);
        var window = new PageAllocator(ram, 0x8200_0000, 32UL << 20); // the driver's pages: a window of guest RAM
        using var driver = new IommuDriver(window);

        // Two IOMMUs. An emulator passes its own IIommuMmio (its bus) instead of InProcessMmio.
        var hw0 = new RiscVIommu(ram, Capabilities.FullRv64);
        var hw1 = new RiscVIommu(ram, Capabilities.FullRv64);
        IommuInstance iommu0 = driver.AddInstance(new InProcessMmio(hw0));
        IommuInstance iommu1 = driver.AddInstance(new InProcessMmio(hw1));

        // A group of devices behind both IOMMUs sharing one paging domain (mapped before the attach).
        DeviceGroup group = driver.CreateGroup("nic+dma");
        iommu0.AddDevice(0x0100, group);
        iommu1.AddDevice(0x0200, group);
        PagingDomain dmaDomain = driver.CreatePagingDomain(PagingModeKind.Sv48);
        dmaDomain.Map(0x1000_0000, 0x8010_0000, 0x1_0000, DmaProtection.ReadWrite);
        driver.Attach(group, dmaDomain);

        // A PASID domain on an accelerator, and an SVA bind of a process address space.
        IommuDevice accel = iommu0.AddDevice(0x0300, pasidBits: 16, features: DeviceFeatures.Sva);
        PagingDomain queueDomain = driver.CreatePagingDomain(PagingModeKind.Sv39);
        queueDomain.Map(0x2000_0000, 0x8020_0000, 0x1000, DmaProtection.Read);
        driver.AttachPasid(accel, 7, queueDomain);
        PagingDomain process = driver.CreateAddressSpace(PagingModeKind.Sv48);
        process.Map(0x7fff_0000, 0x8030_0000, 0x1000, DmaProtection.ReadWrite);
        SvaHandle sva = driver.BindSva(accel, process);

        // A VM: a G-stage for its RAM (GPA 0..16 MiB at host 0x8100_0000), and the guest's own PDT nested over it.
        PagingDomain vm = driver.CreatePagingDomain(PagingModeKind.Sv39x4);
        vm.Map(0, 0x8100_0000, 16UL << 20, DmaProtection.ReadWrite);
        using PhysicalMemory guestRam = GuestPhysicalView.Create(ram, 0x8100_0000, 16UL << 20, gpaBase: 0);
        var guestPages = new PageAllocator(guestRam, 0x10_0000, 1UL << 20); // the guest kernel's allocator: GPAs
        ulong guestPdt = guestPages.AllocatePage();
        var guestTable = new PageTable<Sv39>(guestPages);
        guestTable.Map(0x4000_0000, 0x20_0000, 0x1000, PageProtection.Read | PageProtection.User);
        guestRam.GetRef<ProcessContext>(guestPdt + (1 * ProcessContext.Size)) = new ProcessContext(
            ProcessContextTa.Default.WithV(true).WithPscid(1), Iosatp.Create<Sv39>(guestTable.RootAddress));
        NestedDomain nested = driver.CreateNestedDomain(vm, new GuestPasidTable(guestPdt, PdtpMode.PD8, PasidTableFormat.RiscV));
        IommuDevice vf = iommu1.AddDevice(0x0400, pasidBits: 8);
        driver.Attach(vf.Group, nested);

        // Device traffic, as the emulator's bus delivers it.
        TranslationResult viaGroup = hw1.Translate(new TranslationRequest(0x0200, 0x1000_0000, AccessType.Write));
        TranslationResult viaPasid = hw0.Translate(new TranslationRequest(0x0300, 7, 0x2000_0000, AccessType.Read));
        TranslationResult viaSva = hw0.Translate(new TranslationRequest(0x0300, sva.Pasid, 0x7fff_0000, AccessType.Write));
        TranslationResult viaGuest = hw1.Translate(new TranslationRequest(0x0400, 1, 0x4000_0000, AccessType.Read));

        // Strict unmap: one IOTINVAL per (IOMMU, PSCID) and one IOFENCE.C per IOMMU, whatever the device count.
        dmaDomain.UnmapAndSync(0x1000_0000, 0x1000);
        TranslationResult afterUnmap = hw0.Translate(new TranslationRequest(0x0100, 0x1000_0000, AccessType.Read));
        // </example>

        Assert.That(viaGroup.PhysicalAddress, Is.EqualTo(0x8010_0000UL), "the group's domain");
        Assert.That(viaPasid.PhysicalAddress, Is.EqualTo(0x8020_0000UL), "the PASID domain");
        Assert.That(viaSva.PhysicalAddress, Is.EqualTo(0x8030_0000UL), "the process address space");
        Assert.That(viaGuest.PhysicalAddress, Is.EqualTo(0x8100_0000UL + 0x20_0000), "guest IOVA -> GPA -> host PA");
        Assert.That(afterUnmap.Cause, Is.EqualTo(FaultCause.ReadPageFault), "unmapped and invalidated");
        Assert.That((iommu0.Counters.Syncs, iommu1.Counters.Syncs), Is.EqualTo((1L, 1L)), "one sync per IOMMU");
    }

    [Test]
    public void TheDocumentShowsTheExampleAsItRuns()
    {
        string source = File.ReadAllText(ThisFile());
        string code = Between(source, "// <example>", "// </example>");
        string doc = File.ReadAllText(FastIommu.Tests.Support.RepoPaths.Of("docs", "driver.md"));
        string shown = Between(doc, "```csharp", "```");
        Assert.That(Normalize(shown), Is.EqualTo(Normalize(code)), "docs/driver.md shows the code this test runs");
    }

    private static string ThisFile() => FastIommu.Tests.Support.RepoPaths.Of("tests", "FastIommu.Tests", "Driver", "DocExampleTests.cs");

    private static string Between(string text, string start, string end)
    {
        int a = text.IndexOf(start, StringComparison.Ordinal);
        Assert.That(a, Is.GreaterThanOrEqualTo(0), $"marker {start}");
        a += start.Length;
        int b = text.IndexOf(end, a, StringComparison.Ordinal);
        return text[a..b];
    }

    private static string Normalize(string code) => string.Join('\n', code.Split('\n').Select(l => Spaces().Replace(l.Trim(), " ")).Where(l => l.Length > 0));

    [GeneratedRegex(@"\s+")]
    private static partial Regex Spaces();
}
