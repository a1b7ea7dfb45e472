using FastIommu.Formats.RiscV;
using FastIommu.PageTables;

namespace FastIommu.Tests.Images;

/// <summary>The hand-built scenarios whose images and text dumps are checked in under Images/Golden.</summary>
internal static class GoldenScenarios
{
    public static readonly string[] Names = ["one-level-base", "three-level-extended", "process-directory", "two-stage"];

    public static ImageScenario Build(string name) => name switch
    {
        "one-level-base" => OneLevelBase(),
        "three-level-extended" => ThreeLevelExtended(),
        "process-directory" => ProcessDirectory(),
        "two-stage" => TwoStage(),
        _ => throw new ArgumentOutOfRangeException(nameof(name), name, "no such scenario"),
    };

    /// <summary>1LVL DDT, base DCs: device 3 with an Sv39 table (coalesced 4 KiB run, 2 MiB, read-only execute, IO
    /// PBMT); device 5 with both stages Bare; device 7 misconfigured (a reserved tc bit); device 9 with a table whose
    /// entries the hardware refuses (written by hand).</summary>
    private static ImageScenario OneLevelBase()
    {
        var s = new ImageScenario(DdtpMode.OneLevel, ImageScenario.FullCaps);
        var table = s.NewTable<Sv39>();
        s.Map(table, 0x1000_0000, 0x1_0000_0000, 0x4000);
        s.Map(table, 0x1000_4000, 0x1_0000_8000, 0x1000);
        s.Map(table, 0x2000_0000, 0x1_4000_0000, 0x20_0000);
        s.Map(table, 0x3000_0000, 0x1_8000_0000, 0x2000, PageProtection.Read | PageProtection.Execute | PageProtection.User);
        s.Map(table, 0x4000_0000, 0x3000_0000, 0x1000, PageProtection.Read | PageProtection.Write, PageBasedMemoryType.Io);
        s.Map(table, 0xFFFF_FFFF_FFE0_0000, 0x1_9000_0000, 0x1000, PageProtection.Read | PageProtection.Global);
        s.SetDc(3, ImageScenario.Dc(Iosatp.Create<Sv39>(table.RootAddress).Value, pscid: 1));
        s.SetDc(5, ImageScenario.Dc(0));
        s.SetDc(7, ImageScenario.Dc(0).WithTc(new DeviceContextTc(1UL | (1UL << 40))));

        // Device 9: a table written by hand with entries the hardware refuses.
        ulong root = s.Allocator.AllocatePage();
        ulong l1 = s.Allocator.AllocatePage();
        ulong l0 = s.Allocator.AllocatePage();
        s.Memory.Qword(root) = Pte.Table(l1).Value;
        s.Memory.Qword(l1) = Pte.Table(l0).Value;
        s.Memory.Qword(l1 + 8) = Pte.Leaf(0x1_0010_0000, Pte.R | Pte.U | Pte.A).Value;         // misaligned 2 MiB leaf
        s.Memory.Qword(l0) = Pte.Leaf(0x1_0000_0000, Pte.W | Pte.U | Pte.A).Value;             // W without R
        s.Memory.Qword(l0 + 8) = Pte.Leaf(0x1_0000_1000, Pte.R | Pte.U).Value;                 // A = 0, no SADE
        s.Memory.Qword(l0 + 16) = Pte.Leaf(0x1_0000_2000, Pte.R | Pte.U | Pte.A).WithReserved(1).Value; // bits 60:54
        s.Memory.Qword(l0 + 24) = Pte.Leaf(0x1_0000_3000, Pte.R | Pte.U | Pte.A).Value;        // a good one
        s.SetDc(9, ImageScenario.Dc(Iosatp.Create<Sv39>(root).Value, pscid: 2));
        return s;
    }

    /// <summary>3LVL DDT, extended DCs (MSI_FLAT): devices 0x1, 0x12345 and 0xABCDEF over Sv48 and Sv57 tables.</summary>
    private static ImageScenario ThreeLevelExtended()
    {
        var s = new ImageScenario(DdtpMode.ThreeLevel, ImageScenario.ExtendedCaps);
        var sv48 = s.NewTable<Sv48>();
        s.Map(sv48, 0x7F_0000_0000, 0x2_0000_0000, 0x4000_0000);  // one 1 GiB leaf
        s.Map(sv48, 0x1000, 0x2_4000_1000, 0x3000);
        var sv57 = s.NewTable<Sv57>();
        s.Map(sv57, 0x80_0000_0000_0000, 0x3_0000_0000, 0x10_0000);
        s.SetDc(0x1, ImageScenario.Dc(Iosatp.Create<Sv48>(sv48.RootAddress).Value, pscid: 0x10));
        s.SetDc(0x12345, ImageScenario.Dc(Iosatp.Create<Sv48>(sv48.RootAddress).Value, pscid: 0x10));
        var ext = new ExtendedDeviceContext(ImageScenario.Dc(Iosatp.Create<Sv57>(sv57.RootAddress).Value, pscid: 0x20))
            .WithMsiAddrMask(0xF).WithMsiAddrPattern(0x2800_0);
        s.SetDc(0xABCDEF, ext);
        return s;
    }

    /// <summary>2LVL DDT, base DCs: device 0x42 with a PD17 process directory: process 1 (Sv39, user), process 0x10203
    /// (Sv48, ENS and SUM, supervisor pages), process 2 misconfigured (reserved ta bit); device 0x43 with DPE over PD8.</summary>
    private static ImageScenario ProcessDirectory()
    {
        var s = new ImageScenario(DdtpMode.TwoLevel, ImageScenario.FullCaps);
        ulong pdt = s.Allocator.AllocatePage();
        var user = s.NewTable<Sv39>();
        s.Map(user, 0x40_0000, 0x1_2000_0000, 0x10_0000);
        var kernel = s.NewTable<Sv48>();
        s.Map(kernel, 0xFFFF_8000_0000_0000, 0x1_3000_0000, 0x2000, PageProtection.Read | PageProtection.Write);
        s.SetPc(pdt, PdtpMode.PD17, 1, ImageScenario.Pc(Iosatp.Create<Sv39>(user.RootAddress).Value, pscid: 0x101));
        s.SetPc(pdt, PdtpMode.PD17, 0x10203, ImageScenario.Pc(Iosatp.Create<Sv48>(kernel.RootAddress).Value, pscid: 0x102, ens: true, sum: true));
        s.SetPc(pdt, PdtpMode.PD17, 2, new ProcessContext(new ProcessContextTa(1UL | (1UL << 40)), default));
        s.SetDc(0x42, ImageScenario.Dc(Pdtp.Create(PdtpMode.PD17, pdt).Value, pdtv: true));

        ulong pd8 = s.Allocator.AllocatePage();
        s.SetPc(pd8, PdtpMode.PD8, 0, ImageScenario.Pc(Iosatp.Create<Sv39>(user.RootAddress).Value, pscid: 0x101));
        s.SetDc(0x43, ImageScenario.Dc(Pdtp.Create(PdtpMode.PD8, pd8).Value, pdtv: true, dpe: true));
        return s;
    }

    /// <summary>1LVL DDT, base DCs: device 1 nested (Sv39 over Sv39x4, GSCID 7); device 2 G-stage only (Sv48x4).
    /// The G-stage maps the scenario's memory one to one, so the first stage's table pointers (which the page table
    /// writes as SPAs) are also the right GPAs, and maps guest RAM GPA 0x4000_0000 to SPA 0x1_0000_0000.</summary>
    private static ImageScenario TwoStage()
    {
        var s = new ImageScenario(DdtpMode.OneLevel, ImageScenario.FullCaps);
        var g = s.NewTable<Sv39x4>();
        s.Map(g, ImageScenario.Base, ImageScenario.Base, s.Memory.Size);
        s.Map(g, 0x4000_0000, 0x1_0000_0000, 0x40_0000);
        var fs = s.NewTable<Sv39>();
        s.Map(fs, 0x1000_0000, 0x4000_0000, 0x2000);
        s.Map(fs, 0x2000_0000, 0x4020_0000, 0x20_0000);
        s.Map(fs, 0x3000_0000, 0x5000_0000, 0x1000); // GPA the G-stage does not map
        s.SetDc(1, ImageScenario.Dc(Iosatp.Create<Sv39>(fs.RootAddress).Value, pscid: 3, iohgatp: Iohgatp.Create<Sv39x4>(g.RootAddress, 7)));

        var g2 = s.NewTable<Sv48x4>();
        s.Map(g2, 0x8000_0000_0000, 0x1_8000_0000, 0x20_0000);
        s.SetDc(2, ImageScenario.Dc(0, iohgatp: Iohgatp.Create<Sv48x4>(g2.RootAddress, 8)));
        return s;
    }
}
