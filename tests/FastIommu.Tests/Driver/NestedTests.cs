using FastIommu.Driver;
using FastIommu.Formats.RiscV;
using FastIommu.Hardware;
using FastIommu.Memory;
using FastIommu.PageTables;

namespace FastIommu.Tests.Driver;

[TestFixture]
public class NestedTests
{
    private const ulong GuestRam = 0x8080_0000; // host PA of GPA 0
    private const ulong GuestRamSize = 4UL << 20;
    private const ulong GuestIova = 0x1000_0000;
    private const ulong GuestData = 0x30_0000;   // GPA
    private const uint GuestPscid = 7;
    private const uint Pasid = 5;

    /// <summary>A guest over a host Sv39x4 G-stage mapping GPA [0, 4 MiB) to host GuestRam: its own PD8 PDT and Sv39
    /// table, built with guest-physical pointers through a guest-physical view of the same bytes.</summary>
    private sealed class Guest : IDisposable
    {
        public Guest(DriverBed bed)
        {
            Parent = bed.Driver.CreatePagingDomain(PagingModeKind.Sv39x4);
            Parent.Map(0, GuestRam, GuestRamSize, DmaProtection.ReadWrite);
            View = GuestPhysicalView.Create(bed.Memory, GuestRam, GuestRamSize, 0);
            var allocator = new PageAllocator(View, 0x10_0000, 1UL << 20);
            Pdt = allocator.AllocatePage();
            Table = new PageTable<Sv39>(allocator);
            Table.Map(GuestIova, GuestData, 4096, PageProtection.Read | PageProtection.Write | PageProtection.User);
            // The guest kernel writes its PC for PASID 5 (PD8: root + 5 × 16) with GPA pointers.
            View.Qword(Pdt + (Pasid * 16) + 8) = Iosatp.Default.WithMode(Iosatp.ModeSv39).WithPpn(Table.RootAddress >> 12).Value;
            View.Qword(Pdt + (Pasid * 16)) = ProcessContextTa.Default.WithV(true).WithPscid(GuestPscid).Value;
        }

        public PagingDomain Parent { get; }

        public PhysicalMemory View { get; }

        public ulong Pdt { get; }

        public PageTable<Sv39> Table { get; }

        public void Dispose() => View.Dispose();
    }

    [Test]
    public void ADeviceOnANestedDomainTranslatesThroughTheGuestsTablesAndTheHostsGStage()
    {
        using var bed = new DriverBed();
        using var guest = new Guest(bed);
        Assert.That(guest.Table.RootAddress, Is.LessThan(GuestRamSize), "the guest's table holds guest-physical pointers");
        NestedDomain nested = bed.Driver.CreateNestedDomain(guest.Parent, new GuestPasidTable(guest.Pdt, PdtpMode.PD8, PasidTableFormat.RiscV));
        IommuDevice device = bed.Instance().AddDevice(0x50, pasidBits: 8);
        bed.Driver.Attach(device.Group, nested);

        TranslationResult r = bed.Translate(0, 0x50, Pasid, GuestIova);
        Assert.That((r.Success, r.PhysicalAddress), Is.EqualTo((true, GuestRam + GuestData)), "guest IOVA -> GPA (guest table) -> host PA (G-stage)");
        DeviceContext dc = bed.Instance().ReadDeviceContext(device);
        Assert.That((dc.Tc.Pdtv, dc.FscAsPdtp.RootAddress, dc.Iohgatp.Ppn), Is.EqualTo((true, guest.Pdt, guest.Parent.RootAddress >> 12)),
            "DC: the guest's pdtp (a GPA), the host's iohgatp");

        // The guest unmaps in its own table and asks for the invalidation as it would on bare metal (GV = 0).
        guest.Table.Unmap(GuestIova, 4096, new InvalidationGather());
        Assert.That(bed.Translate(0, 0x50, Pasid, GuestIova).Success, Is.True, "still cached until the guest invalidates");
        int done = nested.InvalidateGuest([Command.IotinvalVma(false, 0, true, GuestPscid, true, GuestIova)]);
        Assert.That(done, Is.EqualTo(1), "all done");
        Assert.That(bed.Translate(0, 0x50, Pasid, GuestIova).Cause, Is.EqualTo(FaultCause.ReadPageFault), "the guest's own PSCID flushed in its GSCID");

        // The host unmaps guest RAM: a G-stage change reaches the nested device through the parent's bond.
        guest.Table.Map(GuestIova, GuestData, 4096, PageProtection.Read | PageProtection.User);
        Assert.That(bed.Translate(0, 0x50, Pasid, GuestIova).Success, Is.True, "mapped again");
        guest.Parent.UnmapAndSync(0x20_0000, 2UL << 20); // the 2 MiB leaf holding GuestData (the guest's tables are below it)
        Assert.That(bed.Translate(0, 0x50, Pasid, GuestIova).Cause, Is.EqualTo(FaultCause.ReadGuestPageFault), "the host's GVMA reached it");
    }

    [Test]
    public void ABadGuestEntryReportsHowManyWereDone()
    {
        using var bed = new DriverBed();
        using var guest = new Guest(bed);
        NestedDomain nested = bed.Driver.CreateNestedDomain(guest.Parent, new GuestPasidTable(guest.Pdt, PdtpMode.PD8, PasidTableFormat.RiscV));
        IommuDevice device = bed.Instance().AddDevice(0x50, pasidBits: 8);
        bed.Driver.Attach(device.Group, nested);
        Assert.That(bed.Translate(0, 0x50, Pasid, GuestIova).Success, Is.True, "cached");
        guest.Table.Unmap(GuestIova, 4096, new InvalidationGather());
        uint gscid = bed.Instance().ReadDeviceContext(device).Iohgatp.Gscid;

        Command[] requests =
        [
            Command.IodirInvalPdt(0x50, Pasid),
            Command.IotinvalVma(true, gscid, true, GuestPscid, true, GuestIova), // its own GSCID: fine
            Command.IotinvalGvma(true, gscid, false, 0),                         // the G-stage is the host's
            Command.IotinvalVma(false, 0, false, 0, false, 0),
        ];
        var ex = Assert.Throws<GuestInvalidationException>(() => nested.InvalidateGuest(requests), "entry 2 is bad");
        Assert.That(ex!.Completed, Is.EqualTo(2), "two were done");
        Assert.That(ex.Message, Does.Contain("entry 2").And.Contain("host"), "clear");
        Assert.That(bed.Translate(0, 0x50, Pasid, GuestIova).Cause, Is.EqualTo(FaultCause.ReadPageFault), "the two before it took effect");

        var other = Assert.Throws<GuestInvalidationException>(() => nested.InvalidateGuest([Command.IotinvalVma(true, gscid + 1, false, 0, false, 0)]), "another GSCID");
        Assert.That(other!.Completed, Is.Zero, "nothing done");
        var foreign = Assert.Throws<GuestInvalidationException>(() => nested.InvalidateGuest([Command.IodirInvalPdt(0x51, 1)]), "a device not of this guest");
        Assert.That(foreign!.Completed, Is.Zero, "nothing done");
    }

    [Test]
    public void NonRiscVTablesUnsupportedModesAndWrongParentsAreRefused()
    {
        using var bed = new DriverBed(capabilities: Capabilities.FullRv64.WithPd20(false));
        PagingDomain parent = bed.Driver.CreatePagingDomain(PagingModeKind.Sv39x4);
        var arm = Assert.Throws<NotSupportedException>(() => bed.Driver.CreateNestedDomain(parent, new GuestPasidTable(0x1000, PdtpMode.PD8, PasidTableFormat.ArmSmmuV3)), "not a RISC-V PDT");
        Assert.That(arm!.Message, Does.Contain("ArmSmmuV3"), "names the format");
        Assert.Throws<NotSupportedException>(() => bed.Driver.CreateNestedDomain(parent, new GuestPasidTable(0x1000, PdtpMode.PD20, PasidTableFormat.RiscV)), "no PD20 here");
        Assert.Throws<NotSupportedException>(() => bed.Driver.CreateNestedDomain(parent, new GuestPasidTable(0x1000, PdtpMode.Bare, PasidTableFormat.RiscV)), "Bare is no PDT");
        Assert.Throws<ArgumentException>(() => bed.Driver.CreateNestedDomain(bed.Driver.CreatePagingDomain(PagingModeKind.Sv39), new GuestPasidTable(0x1000, PdtpMode.PD8, PasidTableFormat.RiscV)), "a first-stage parent");
        Assert.Throws<ArgumentException>(() => bed.Driver.CreateNestedDomain(parent, new GuestPasidTable(0x1008, PdtpMode.PD8, PasidTableFormat.RiscV)), "misaligned PDT");
        Assert.That(parent.AttachedCount, Is.Zero, "the parent holds nothing");

        NestedDomain nested = bed.Driver.CreateNestedDomain(parent, new GuestPasidTable(0x1000, PdtpMode.PD8, PasidTableFormat.RiscV));
        Assert.Throws<InvalidOperationException>(parent.Dispose, "a parent with a nested domain cannot go");
        nested.Dispose();
        Assert.DoesNotThrow(parent.Dispose, "once the nested domain is gone it can");
    }
}
