using FastIommu.Formats.RiscV;

namespace FastIommu.Tests.Formats;

/// <summary>One case per rule of DC_MISCONFIG and PC_MISCONFIG ("Device-context configuration checks",
/// "Process-context configuration checks").</summary>
public class ContextCheckTests
{
    private static readonly Capabilities Caps = Capabilities.FullRv64;
    private static readonly Fctl Le = new(0);

    // A clean DC: V, Sv39x4 G-stage at a 16 KiB-aligned root, Sv39 first stage.
    private static DeviceContext Clean => new(DeviceContextTc.Default.WithV(true), Iohgatp.Create<Sv39x4>(0x10_0000, 1),
        DeviceContextTa.Default.WithPscid(1), Iosatp.Create<Sv39>(0x20_0000));

    private static DeviceContext WithTc(Func<DeviceContextTc, DeviceContextTc> f) => Clean.WithTc(f(Clean.Tc));

    [Test]
    public void Clean_contexts_pass()
    {
        Assert.That(ContextChecks.Check(Clean, Caps, Le), Is.EqualTo(ContextMisconfiguration.None), "clean DC");
        var pdtv = WithTc(t => t.WithPdtv(true).WithDpe(true)).WithFsc(Pdtp.Create(PdtpMode.PD20, 0x3000));
        Assert.That(ContextChecks.Check(pdtv, Caps, Le), Is.EqualTo(ContextMisconfiguration.None), "PDTV with PD20 and DPE");
        var ats = WithTc(t => t.WithEnAts(true).WithEnPri(true).WithPrpr(true).WithT2gpa(true).WithSade(true).WithGade(true));
        Assert.That(ContextChecks.Check(ats, Caps, Le), Is.EqualTo(ContextMisconfiguration.None), "ATS, PRI, PRPR, T2GPA, A/D updates all supported");
    }

    [Test]
    public void Rule_1_reserved_bits_and_encodings()
    {
        Assert.That(ContextChecks.Check(Clean.WithTc(new DeviceContextTc(Clean.Tc.Value | (1UL << 63))), Caps, Le), Is.EqualTo(ContextMisconfiguration.ReservedBits), "tc bit 63");
        Assert.That(ContextChecks.Check(Clean.WithTa(Clean.Ta.WithMcid(1)), Caps, Le), Is.EqualTo(ContextMisconfiguration.ReservedBits), "MCID without QOSID");
        Assert.That(ContextChecks.Check(Clean.WithTa(Clean.Ta.WithMcid(1)), Caps.WithQosid(true), Le), Is.EqualTo(ContextMisconfiguration.None), "MCID with QOSID");
        Assert.That(ContextChecks.Check(Clean.WithFsc(Clean.Fsc | (1UL << 44)), Caps, Le), Is.EqualTo(ContextMisconfiguration.ReservedBits), "fsc bit 44");
        Assert.That(ContextChecks.Check(Clean.WithFsc(Clean.FscAsIosatp.WithMode(11)), Caps, Le), Is.EqualTo(ContextMisconfiguration.ReservedEncoding), "iosatp MODE 11");
        Assert.That(ContextChecks.Check(Clean.WithFsc(Clean.FscAsIosatp.WithMode(14)), Caps, Le), Is.EqualTo(ContextMisconfiguration.ReservedEncoding), "custom MODE 14 not implemented");
        Assert.That(ContextChecks.Check(Clean.WithIohgatp(Clean.Iohgatp.WithMode(5)), Caps, Le), Is.EqualTo(ContextMisconfiguration.ReservedEncoding), "iohgatp MODE 5");
        var pdtv = WithTc(t => t.WithPdtv(true)).WithFsc(Pdtp.Default.WithMode((PdtpMode)4));
        Assert.That(ContextChecks.Check(pdtv, Caps, Le), Is.EqualTo(ContextMisconfiguration.ReservedEncoding), "pdtp MODE 4");
    }

    [TestCase("EN_ATS")]
    [TestCase("EN_PRI")]
    [TestCase("PRPR")]
    public void Rule_2_ats_not_supported(string bit)
    {
        var dc = bit switch
        {
            "EN_ATS" => WithTc(t => t.WithEnAts(true)),
            "EN_PRI" => WithTc(t => t.WithEnPri(true)),
            _ => WithTc(t => t.WithPrpr(true)),
        };
        Assert.That(ContextChecks.Check(dc, Caps.WithAts(false), Le), Is.EqualTo(ContextMisconfiguration.AtsNotSupported), bit);
    }

    [Test]
    public void Rules_3_to_7_ats_pri_t2gpa()
    {
        Assert.That(ContextChecks.Check(WithTc(t => t.WithT2gpa(true)), Caps, Le), Is.EqualTo(ContextMisconfiguration.T2gpaWithoutAts), "rule 3");
        Assert.That(ContextChecks.Check(WithTc(t => t.WithEnPri(true)), Caps, Le), Is.EqualTo(ContextMisconfiguration.PriWithoutAts), "rule 4");
        Assert.That(ContextChecks.Check(WithTc(t => t.WithEnAts(true).WithPrpr(true)), Caps, Le), Is.EqualTo(ContextMisconfiguration.PrprWithoutPri), "rule 5");
        Assert.That(ContextChecks.Check(WithTc(t => t.WithEnAts(true).WithT2gpa(true)), Caps.WithT2gpa(false), Le), Is.EqualTo(ContextMisconfiguration.T2gpaNotSupported), "rule 6");
        var bare = WithTc(t => t.WithEnAts(true).WithT2gpa(true)).WithIohgatp(Iohgatp.Default);
        Assert.That(ContextChecks.Check(bare, Caps, Le), Is.EqualTo(ContextMisconfiguration.T2gpaWithBareGStage), "rule 7");
    }

    [TestCase(PdtpMode.PD8)]
    [TestCase(PdtpMode.PD17)]
    [TestCase(PdtpMode.PD20)]
    public void Rule_8_pdtp_mode_support(PdtpMode mode)
    {
        var dc = WithTc(t => t.WithPdtv(true)).WithFsc(Pdtp.Create(mode, 0x3000));
        var caps = mode switch
        {
            PdtpMode.PD8 => Caps.WithPd8(false),
            PdtpMode.PD17 => Caps.WithPd17(false),
            _ => Caps.WithPd20(false),
        };
        Assert.That(ContextChecks.Check(dc, caps, Le), Is.EqualTo(ContextMisconfiguration.PdtpModeNotSupported), mode.ToString());
        Assert.That(ContextChecks.Check(dc, Caps, Le), Is.EqualTo(ContextMisconfiguration.None), "supported");
    }

    [Test]
    public void Rules_9_to_12_first_stage()
    {
        Assert.That(ContextChecks.Check(Clean, Caps.WithSv39(false), Le), Is.EqualTo(ContextMisconfiguration.IosatpModeNotSupported), "Sv39 missing");
        Assert.That(ContextChecks.Check(Clean.WithFsc(Iosatp.Create<Sv57>(0x1000)), Caps.WithSv57(false), Le), Is.EqualTo(ContextMisconfiguration.IosatpModeNotSupported), "Sv57 missing");
        Assert.That(ContextChecks.Check(Clean.WithFsc(Iosatp.Default), Caps.WithSv39(false).WithSv48(false).WithSv57(false), Le), Is.EqualTo(ContextMisconfiguration.None), "Bare always supported");
        var sxl = WithTc(t => t.WithSxl(true)).WithIohgatp(Iohgatp.Default);
        Assert.That(ContextChecks.Check(sxl, Caps, Le, gxlWritable: true), Is.EqualTo(ContextMisconfiguration.IosatpModeNotSupported), "SXL=1: MODE 8 is Sv32, missing");
        Assert.That(ContextChecks.Check(sxl.WithFsc(Clean.FscAsIosatp.WithMode(9)), Caps, Le, gxlWritable: true), Is.EqualTo(ContextMisconfiguration.ReservedEncoding), "SXL=1: MODE 9 reserved");
        Assert.That(ContextChecks.Check(WithTc(t => t.WithDpe(true)), Caps, Le), Is.EqualTo(ContextMisconfiguration.DpeWithoutPdtv), "rule 12");
    }

    [Test]
    public void Rules_13_to_15_g_stage()
    {
        Assert.That(ContextChecks.Check(Clean, Caps.WithSv39x4(false), Le), Is.EqualTo(ContextMisconfiguration.IohgatpModeNotSupported), "Sv39x4 missing");
        Assert.That(ContextChecks.Check(Clean.WithIohgatp(Iohgatp.Create<Sv57x4>(0x10_0000, 1)), Caps.WithSv57x4(false), Le), Is.EqualTo(ContextMisconfiguration.IohgatpModeNotSupported), "Sv57x4 missing");
        var gxl = WithTc(t => t.WithSxl(true)).WithFsc(Iosatp.Default);
        Assert.That(ContextChecks.Check(gxl, Caps, new Fctl(0).WithGxl(true)), Is.EqualTo(ContextMisconfiguration.IohgatpModeNotSupported), "GXL=1: MODE 8 is Sv32x4, missing");
        Assert.That(ContextChecks.Check(gxl, Caps.WithSv32x4(true), new Fctl(0).WithGxl(true)), Is.EqualTo(ContextMisconfiguration.None), "Sv32x4 present");
        Assert.That(ContextChecks.Check(gxl.WithIohgatp(Clean.Iohgatp.WithMode(9)), Caps, new Fctl(0).WithGxl(true)), Is.EqualTo(ContextMisconfiguration.ReservedEncoding), "GXL=1: MODE 9 reserved");
    }

    [Test]
    public void Rule_16_msiptp_mode()
    {
        var ext = new ExtendedDeviceContext(Clean).WithMsiptp(default(Msiptp).WithMode((MsiptpMode)2));
        Assert.That(ContextChecks.Check(ext, Caps.WithMsiFlat(true), Le), Is.EqualTo(ContextMisconfiguration.MsiptpModeInvalid), "msiptp MODE 2");
        Assert.That(ContextChecks.Check(ext.WithMsiptp(default(Msiptp).WithMode(MsiptpMode.Flat)), Caps.WithMsiFlat(true), Le), Is.EqualTo(ContextMisconfiguration.None), "Flat");
        Assert.That(ContextChecks.Check(ext.WithMsiptp(new Msiptp(1UL << 45)), Caps.WithMsiFlat(true), Le), Is.EqualTo(ContextMisconfiguration.ReservedBits), "msiptp reserved bit");
        Assert.That(ContextChecks.Check(new ExtendedDeviceContext(Clean.Tc, Clean.Iohgatp, Clean.Ta, Clean.Fsc, default, 0, 0, 1), Caps.WithMsiFlat(true), Le),
            Is.EqualTo(ContextMisconfiguration.ReservedBits), "doubleword 7");
    }

    [Test]
    public void Msiptp_with_a_bare_g_stage_is_misconfigured()
    {
        var flat = new ExtendedDeviceContext(Clean).WithMsiptp(default(Msiptp).WithMode(MsiptpMode.Flat));
        var bare = new ExtendedDeviceContext(Clean.WithIohgatp(default)).WithMsiptp(default(Msiptp).WithMode(MsiptpMode.Flat));
        Assert.Multiple(() =>
        {
            Assert.That(ContextChecks.Check(flat, Caps.WithMsiFlat(true), Le), Is.EqualTo(ContextMisconfiguration.None), "Flat under a G-stage");
            Assert.That(ContextChecks.Check(bare, Caps.WithMsiFlat(true), Le), Is.EqualTo(ContextMisconfiguration.MsiptpWithBareGStage),
                "Flat under iohgatp Bare: reserved, the spec recommends cause 259");
            Assert.That(ContextChecks.Check(bare.WithMsiptp(default), Caps.WithMsiFlat(true), Le), Is.EqualTo(ContextMisconfiguration.None),
                "Off under iohgatp Bare");
        });
    }

    [Test]
    public void Rules_17_to_21()
    {
        Assert.That(ContextChecks.Check(Clean.WithIohgatp(Iohgatp.Create<Sv39x4>(0x10_1000, 1)), Caps, Le), Is.EqualTo(ContextMisconfiguration.GStageRootMisaligned), "rule 17: root at 0x101000");
        Assert.That(ContextChecks.Check(WithTc(t => t.WithSade(true)), Caps.WithAmoHwad(false), Le), Is.EqualTo(ContextMisconfiguration.AdUpdateNotSupported), "rule 18 SADE");
        Assert.That(ContextChecks.Check(WithTc(t => t.WithGade(true)), Caps.WithAmoHwad(false), Le), Is.EqualTo(ContextMisconfiguration.AdUpdateNotSupported), "rule 18 GADE");
        Assert.That(ContextChecks.Check(WithTc(t => t.WithSbe(true)), Caps, Le), Is.EqualTo(ContextMisconfiguration.EndiannessNotSupported), "rule 19: END = 0, BE != SBE");
        Assert.That(ContextChecks.Check(WithTc(t => t.WithSbe(true)), Caps.WithEnd(true), Le), Is.EqualTo(ContextMisconfiguration.SbeIllegal), "rule 21: BE not writable");
        Assert.That(ContextChecks.Check(WithTc(t => t.WithSbe(true)), Caps.WithEnd(true), Le, beWritable: true), Is.EqualTo(ContextMisconfiguration.None), "BE writable: SBE free");
        var sxl = WithTc(t => t.WithSxl(true)).WithFsc(Iosatp.Default).WithIohgatp(Iohgatp.Default);
        Assert.That(ContextChecks.Check(sxl, Caps, Le), Is.EqualTo(ContextMisconfiguration.SxlIllegal), "rule 20: GXL = 0, not writable, SXL must be 0");
        Assert.That(ContextChecks.Check(sxl, Caps, Le, gxlWritable: true), Is.EqualTo(ContextMisconfiguration.None), "GXL writable: SXL free");
        Assert.That(ContextChecks.Check(Clean.WithIohgatp(Iohgatp.Default).WithFsc(Iosatp.Default), Caps, new Fctl(0).WithGxl(true)), Is.EqualTo(ContextMisconfiguration.SxlIllegal), "GXL = 1 needs SXL = 1");
    }

    [Test]
    public void Process_context_rules()
    {
        var pc = new ProcessContext(ProcessContextTa.Default.WithV(true).WithPscid(9), Iosatp.Create<Sv48>(0x5000));
        Assert.That(ContextChecks.Check(pc, Caps), Is.EqualTo(ContextMisconfiguration.None), "clean PC");
        Assert.That(ContextChecks.Check(pc.WithTa(new ProcessContextTa(pc.Ta.Value | (1UL << 40))), Caps), Is.EqualTo(ContextMisconfiguration.ReservedBits), "ta bit 40");
        Assert.That(ContextChecks.Check(pc.WithFsc(pc.Fsc.WithMode(3)), Caps), Is.EqualTo(ContextMisconfiguration.ReservedEncoding), "MODE 3");
        Assert.That(ContextChecks.Check(pc, Caps.WithSv48(false)), Is.EqualTo(ContextMisconfiguration.IosatpModeNotSupported), "Sv48 missing");
        Assert.That(ContextChecks.Check(pc.WithFsc(pc.Fsc.WithMode(8)), Caps, sxl: true), Is.EqualTo(ContextMisconfiguration.IosatpModeNotSupported), "SXL=1: Sv32 missing");
        Assert.That(ContextChecks.Check(pc.WithFsc(pc.Fsc.WithMode(8)), Caps.WithSv32(true), sxl: true), Is.EqualTo(ContextMisconfiguration.None), "Sv32 present");
    }
}
