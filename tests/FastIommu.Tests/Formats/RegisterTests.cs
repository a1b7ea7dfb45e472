using System.Runtime.CompilerServices;
using FastIommu.Formats.RiscV;

namespace FastIommu.Tests.Formats;

/// <summary>capabilities, fctl, cqcsr/fqcsr/pqcsr and the register offsets: IOMMU spec "Memory-mapped register interface".</summary>
public class RegisterTests
{
    [TestCase("Sv32", 0x0000_0000_0000_0100UL)]
    [TestCase("Sv39", 0x0000_0000_0000_0200UL)]
    [TestCase("Sv48", 0x0000_0000_0000_0400UL)]
    [TestCase("Sv57", 0x0000_0000_0000_0800UL)]
    [TestCase("Svpbmt", 0x0000_0000_0000_8000UL)]
    [TestCase("Sv32x4", 0x0000_0000_0001_0000UL)]
    [TestCase("Sv39x4", 0x0000_0000_0002_0000UL)]
    [TestCase("Sv48x4", 0x0000_0000_0004_0000UL)]
    [TestCase("Sv57x4", 0x0000_0000_0008_0000UL)]
    [TestCase("AMO_MRIF", 0x0000_0000_0020_0000UL)]
    [TestCase("MSI_FLAT", 0x0000_0000_0040_0000UL)]
    [TestCase("MSI_MRIF", 0x0000_0000_0080_0000UL)]
    [TestCase("AMO_HWAD", 0x0000_0000_0100_0000UL)]
    [TestCase("ATS", 0x0000_0000_0200_0000UL)]
    [TestCase("T2GPA", 0x0000_0000_0400_0000UL)]
    [TestCase("END", 0x0000_0000_0800_0000UL)]
    [TestCase("HPM", 0x0000_0000_4000_0000UL)]
    [TestCase("DBG", 0x0000_0000_8000_0000UL)]
    [TestCase("PD8", 0x0000_0040_0000_0000UL)]
    [TestCase("PD17", 0x0000_0080_0000_0000UL)]
    [TestCase("PD20", 0x0000_0100_0000_0000UL)]
    [TestCase("QOSID", 0x0000_0200_0000_0000UL)]
    public void Capability_flag_bits(string field, ulong expected)
    {
        var caps = SetCap(default, field, true);
        Assert.That(caps.Value, Is.EqualTo(expected), $"capabilities.{field}");
        Assert.That(GetCap(caps, field), Is.True, "reads back");
        Assert.That(GetCap(new Capabilities(~expected), field), Is.False, "reads only its bit");
        Assert.That(SetCap(new Capabilities(ulong.MaxValue), field, false).Value, Is.EqualTo(~expected), "clears only its bit");
    }

    private static Capabilities SetCap(Capabilities c, string f, bool v) => f switch
    {
        "Sv32" => c.WithSv32(v), "Sv39" => c.WithSv39(v), "Sv48" => c.WithSv48(v), "Sv57" => c.WithSv57(v),
        "Svpbmt" => c.WithSvpbmt(v), "Sv32x4" => c.WithSv32x4(v), "Sv39x4" => c.WithSv39x4(v), "Sv48x4" => c.WithSv48x4(v),
        "Sv57x4" => c.WithSv57x4(v), "AMO_MRIF" => c.WithAmoMrif(v), "MSI_FLAT" => c.WithMsiFlat(v), "MSI_MRIF" => c.WithMsiMrif(v),
        "AMO_HWAD" => c.WithAmoHwad(v), "ATS" => c.WithAts(v), "T2GPA" => c.WithT2gpa(v), "END" => c.WithEnd(v),
        "HPM" => c.WithHpm(v), "DBG" => c.WithDbg(v), "PD8" => c.WithPd8(v), "PD17" => c.WithPd17(v), "PD20" => c.WithPd20(v),
        "QOSID" => c.WithQosid(v),
        _ => throw new ArgumentException(f),
    };

    private static bool GetCap(Capabilities c, string f) => f switch
    {
        "Sv32" => c.Sv32, "Sv39" => c.Sv39, "Sv48" => c.Sv48, "Sv57" => c.Sv57, "Svpbmt" => c.Svpbmt, "Sv32x4" => c.Sv32x4,
        "Sv39x4" => c.Sv39x4, "Sv48x4" => c.Sv48x4, "Sv57x4" => c.Sv57x4, "AMO_MRIF" => c.AmoMrif, "MSI_FLAT" => c.MsiFlat,
        "MSI_MRIF" => c.MsiMrif, "AMO_HWAD" => c.AmoHwad, "ATS" => c.Ats, "T2GPA" => c.T2gpa, "END" => c.End, "HPM" => c.Hpm,
        "DBG" => c.Dbg, "PD8" => c.Pd8, "PD17" => c.Pd17, "PD20" => c.Pd20, "QOSID" => c.Qosid,
        _ => throw new ArgumentException(f),
    };

    [TestCase("version", 0x10UL, 0x10UL)]
    [TestCase("version", 0xFFUL, 0xFFUL)]
    [TestCase("version", 0x100UL, 0x0UL)]
    [TestCase("IGS", 1UL, 0x1000_0000UL)]
    [TestCase("IGS", 3UL, 0x3000_0000UL)]
    [TestCase("IGS", 4UL, 0x0UL)]
    [TestCase("PAS", 1UL, 0x0000_0001_0000_0000UL)]
    [TestCase("PAS", 0x3FUL, 0x0000_003F_0000_0000UL)]
    [TestCase("PAS", 0x40UL, 0x0UL)]
    [TestCase("custom", 1UL, 0x0100_0000_0000_0000UL)]
    [TestCase("custom", 0xFFUL, 0xFF00_0000_0000_0000UL)]
    [TestCase("custom", 0x1FFUL, 0xFF00_0000_0000_0000UL)]
    public void Capability_multi_bit_fields(string field, ulong input, ulong expected)
    {
        var c = field switch
        {
            "version" => default(Capabilities).WithVersion((uint)input),
            "IGS" => default(Capabilities).WithIgs((InterruptGenerationSupport)input),
            "PAS" => default(Capabilities).WithPas((uint)input),
            "custom" => default(Capabilities).WithCustom((uint)input),
            _ => throw new ArgumentException(field),
        };
        Assert.That(c.Value, Is.EqualTo(expected), $"capabilities.{field} <- 0x{input:x}");
    }

    [Test]
    public void Capability_decoding_and_reserved()
    {
        var all = new Capabilities(ulong.MaxValue);
        Assert.That((all.Version, all.Igs, all.Pas, all.Custom), Is.EqualTo(((byte)0xFF, InterruptGenerationSupport.Reserved, 0x3F, 0xFFu)),
            "version 7:0, IGS 29:28, PAS 37:32, custom 63:56");
        Assert.That(Capabilities.ReservedMask, Is.EqualTo(0x00FF_FC00_0010_7000UL), "14:12, 20, 55:42");
        ReservedBits.AssertExactly(v => new Capabilities(v).HasReservedBitsSet, 64, "capabilities", (14, 12), (20, 20), (55, 42));
        Assert.That(((int)InterruptGenerationSupport.Msi, (int)InterruptGenerationSupport.Wsi, (int)InterruptGenerationSupport.Both), Is.EqualTo((0, 1, 2)), "IGS encodings");
    }

    [Test]
    public void Full_rv64_vector()
    {
        // version 0x10 | Sv39 Sv48 Sv57 (0xE00) | Svpbmt (0x8000) | Sv39x4..Sv57x4 (0xE_0000) | AMO_HWAD (0x100_0000)
        // | ATS (0x200_0000) | T2GPA (0x400_0000) | IGS=MSI (0) | DBG (0x8000_0000) | PAS 56 (0x38 << 32)
        // | PD8 PD17 PD20 (0x1C0 << 32)
        var c = Capabilities.FullRv64;
        Assert.That(c.Value, Is.EqualTo(0x0000_01F8_870E_8E10UL), "hand-assembled v1.0 capabilities word");
        Assert.That(c.DeviceContextSize, Is.EqualTo(32), "MSI_FLAT = 0: base format");
        Assert.That(c.WithMsiFlat(true).DeviceContextSize, Is.EqualTo(64), "MSI_FLAT = 1: extended format");
        Assert.That(c.Supports(PagingModeKind.Sv57x4) && c.Supports(PdtpMode.PD20) && c.Supports(PdtpMode.Bare), Is.True, "supports");
        Assert.That(c.WithSv48(false).Supports(PagingModeKind.Sv48), Is.False, "cleared mode");
        Assert.That(c.ToString(), Does.Contain("version=1.0").And.Contain("Sv57x4").And.Contain("PAS=56"), "dump");
    }

    [TestCase("BE", 0x1u)]
    [TestCase("WSI", 0x2u)]
    [TestCase("GXL", 0x4u)]
    public void Fctl_bits(string field, uint expected)
    {
        Fctl f = field switch
        {
            "BE" => default(Fctl).WithBe(true),
            "WSI" => default(Fctl).WithWsi(true),
            "GXL" => default(Fctl).WithGxl(true),
            _ => throw new ArgumentException(field),
        };
        Assert.That(f.Value, Is.EqualTo(expected), $"fctl.{field}");
        var all = new Fctl(uint.MaxValue);
        Assert.That((all.Be, all.Wsi, all.Gxl, all.Custom), Is.EqualTo((true, true, true, 0xFFFFu)), "full word");
        Assert.That(new Fctl(~0x7u).Be || new Fctl(~0x7u).Wsi || new Fctl(~0x7u).Gxl, Is.False, "bits 2:0 only");
    }

    [Test]
    public void Fctl_custom_and_reserved()
    {
        Assert.That(default(Fctl).WithCustom(1).Value, Is.EqualTo(0x0001_0000u), "custom low bit 16");
        Assert.That(default(Fctl).WithCustom(0xFFFF).Value, Is.EqualTo(0xFFFF_0000u), "custom 31:16");
        Assert.That(default(Fctl).WithCustom(0x1_0000).Value, Is.EqualTo(0u), "custom masked");
        Assert.That(Fctl.ReservedMask, Is.EqualTo(0x0000_FFF8u), "15:3");
        ReservedBits.AssertExactly(v => new Fctl((uint)v).HasReservedBitsSet, 32, "fctl", (15, 3));
    }

    [TestCase("cqen", 0x0000_0001u)]
    [TestCase("cie", 0x0000_0002u)]
    [TestCase("cqmf", 0x0000_0100u)]
    [TestCase("cmd_to", 0x0000_0200u)]
    [TestCase("cmd_ill", 0x0000_0400u)]
    [TestCase("fence_w_ip", 0x0000_0800u)]
    [TestCase("cqon", 0x0001_0000u)]
    [TestCase("busy", 0x0002_0000u)]
    public void Cqcsr_bits(string field, uint expected)
    {
        (Func<CqCsr, bool, CqCsr> set, Func<CqCsr, bool> get) = field switch
        {
            "cqen" => ((Func<CqCsr, bool, CqCsr>)((c, v) => c.WithCqen(v)), (Func<CqCsr, bool>)(c => c.Cqen)),
            "cie" => ((c, v) => c.WithCie(v), c => c.Cie),
            "cqmf" => ((c, v) => c.WithCqmf(v), c => c.Cqmf),
            "cmd_to" => ((c, v) => c.WithCmdTo(v), c => c.CmdTo),
            "cmd_ill" => ((c, v) => c.WithCmdIll(v), c => c.CmdIll),
            "fence_w_ip" => ((c, v) => c.WithFenceWIp(v), c => c.FenceWIp),
            "cqon" => ((c, v) => c.WithCqon(v), c => c.Cqon),
            "busy" => ((c, v) => c.WithBusy(v), c => c.Busy),
            _ => throw new ArgumentException(field),
        };
        Assert.That(set(default, true).Value, Is.EqualTo(expected), $"cqcsr.{field}");
        Assert.That(get(new CqCsr(expected)), Is.True, "reads back");
        Assert.That(get(new CqCsr(~expected)), Is.False, "reads its bit only");
        Assert.That(set(new CqCsr(uint.MaxValue), false).Value, Is.EqualTo(~expected), "clears its bit only");
    }

    [Test]
    public void Cqcsr_custom_reserved_rw1c()
    {
        Assert.That(new CqCsr(0).WithCustom(0xF).Value, Is.EqualTo(0xF000_0000u), "custom 31:28");
        Assert.That(new CqCsr(0).WithCustom(0x1F).Value, Is.EqualTo(0xF000_0000u), "custom masked");
        Assert.That(CqCsr.ReservedMask, Is.EqualTo(0x0FFC_F0FCu), "7:2, 15:12, 27:18");
        Assert.That(CqCsr.Rw1cMask, Is.EqualTo(0x0000_0F00u), "cqmf, cmd_to, cmd_ill, fence_w_ip");
        ReservedBits.AssertExactly(v => new CqCsr((uint)v).HasReservedBitsSet, 32, "cqcsr", (7, 2), (15, 12), (27, 18));
        Assert.That(new CqCsr(0x0001_0401).ToString(), Does.Contain("cqen").And.Contain("cmd_ill").And.Contain("cqon"), "dump");
    }

    [TestCase("en", 0x0000_0001u)]
    [TestCase("ie", 0x0000_0002u)]
    [TestCase("mf", 0x0000_0100u)]
    [TestCase("of", 0x0000_0200u)]
    [TestCase("on", 0x0001_0000u)]
    [TestCase("busy", 0x0002_0000u)]
    public void Fqcsr_and_pqcsr_bits(string field, uint expected)
    {
        (uint f, uint p, bool fr, bool pr) = field switch
        {
            "en" => (default(FqCsr).WithFqen(true).Value, default(PqCsr).WithPqen(true).Value, new FqCsr(expected).Fqen, new PqCsr(expected).Pqen),
            "ie" => (default(FqCsr).WithFie(true).Value, default(PqCsr).WithPie(true).Value, new FqCsr(expected).Fie, new PqCsr(expected).Pie),
            "mf" => (default(FqCsr).WithFqmf(true).Value, default(PqCsr).WithPqmf(true).Value, new FqCsr(expected).Fqmf, new PqCsr(expected).Pqmf),
            "of" => (default(FqCsr).WithFqof(true).Value, default(PqCsr).WithPqof(true).Value, new FqCsr(expected).Fqof, new PqCsr(expected).Pqof),
            "on" => (default(FqCsr).WithFqon(true).Value, default(PqCsr).WithPqon(true).Value, new FqCsr(expected).Fqon, new PqCsr(expected).Pqon),
            "busy" => (default(FqCsr).WithBusy(true).Value, default(PqCsr).WithBusy(true).Value, new FqCsr(expected).Busy, new PqCsr(expected).Busy),
            _ => throw new ArgumentException(field),
        };
        Assert.That((f, p, fr, pr), Is.EqualTo((expected, expected, true, true)), $"fqcsr/pqcsr {field}");
    }

    [Test]
    public void Fqcsr_pqcsr_reserved()
    {
        Assert.That((FqCsr.ReservedMask, PqCsr.ReservedMask), Is.EqualTo((0x0FFC_FCFCu, 0x0FFC_FCFCu)), "7:2, 15:10, 27:18");
        Assert.That((FqCsr.Rw1cMask, PqCsr.Rw1cMask), Is.EqualTo((0x300u, 0x300u)), "mf, of");
        ReservedBits.AssertExactly(v => new FqCsr((uint)v).HasReservedBitsSet, 32, "fqcsr", (7, 2), (15, 10), (27, 18));
        ReservedBits.AssertExactly(v => new PqCsr((uint)v).HasReservedBitsSet, 32, "pqcsr", (7, 2), (15, 10), (27, 18));
        Assert.That((new FqCsr(uint.MaxValue).Custom, new PqCsr(uint.MaxValue).Custom), Is.EqualTo((0xFu, 0xFu)), "custom 31:28");
        Assert.That(new FqCsr(0x0001_0201).ToString(), Does.Contain("fqen").And.Contain("fqof").And.Contain("fqon"), "dump");
    }

    [Test]
    public void Sizes()
    {
        Assert.That((Unsafe.SizeOf<Capabilities>(), Unsafe.SizeOf<Fctl>(), Unsafe.SizeOf<CqCsr>(), Unsafe.SizeOf<FqCsr>(), Unsafe.SizeOf<PqCsr>()),
            Is.EqualTo((8, 4, 4, 4, 4)), "register widths");
    }

    [TestCase(RegisterOffsets.Capabilities, 0x000, 8)]
    [TestCase(RegisterOffsets.Fctl, 0x008, 4)]
    [TestCase(RegisterOffsets.Ddtp, 0x010, 8)]
    [TestCase(RegisterOffsets.Cqb, 0x018, 8)]
    [TestCase(RegisterOffsets.Cqh, 0x020, 4)]
    [TestCase(RegisterOffsets.Cqt, 0x024, 4)]
    [TestCase(RegisterOffsets.Fqb, 0x028, 8)]
    [TestCase(RegisterOffsets.Fqh, 0x030, 4)]
    [TestCase(RegisterOffsets.Fqt, 0x034, 4)]
    [TestCase(RegisterOffsets.Pqb, 0x038, 8)]
    [TestCase(RegisterOffsets.Pqh, 0x040, 4)]
    [TestCase(RegisterOffsets.Pqt, 0x044, 4)]
    [TestCase(RegisterOffsets.Cqcsr, 0x048, 4)]
    [TestCase(RegisterOffsets.Fqcsr, 0x04C, 4)]
    [TestCase(RegisterOffsets.Pqcsr, 0x050, 4)]
    [TestCase(RegisterOffsets.Ipsr, 0x054, 4)]
    [TestCase(RegisterOffsets.Iocountovf, 0x058, 4)]
    [TestCase(RegisterOffsets.Iocountinh, 0x05C, 4)]
    [TestCase(RegisterOffsets.Iohpmcycles, 0x060, 8)]
    [TestCase(RegisterOffsets.Iohpmctr1, 0x068, 8)]
    [TestCase(RegisterOffsets.Iohpmevt1, 0x160, 8)]
    [TestCase(RegisterOffsets.TrReqIova, 0x258, 8)]
    [TestCase(RegisterOffsets.TrReqCtl, 0x260, 8)]
    [TestCase(RegisterOffsets.TrResponse, 0x268, 8)]
    [TestCase(RegisterOffsets.IommuQosid, 0x270, 4)]
    [TestCase(RegisterOffsets.Icvec, 0x2F8, 8)]
    [TestCase(RegisterOffsets.MsiCfgTbl, 0x300, 8)]
    public void Register_offsets_and_sizes(int offset, int expectedOffset, int size)
    {
        Assert.That(offset, Is.EqualTo(expectedOffset), "register layout table");
        Assert.That(RegisterOffsets.SizeOf(offset), Is.EqualTo(size), "register size");
    }

    [Test]
    public void Indexed_register_offsets()
    {
        Assert.That((RegisterOffsets.Iohpmctr(31), RegisterOffsets.Iohpmevt(31)), Is.EqualTo((0x158, 0x250)), "last counter 104+240, last selector 352+240");
        Assert.That((RegisterOffsets.MsiAddr(15), RegisterOffsets.MsiData(15), RegisterOffsets.MsiVecCtl(15)), Is.EqualTo((0x3F0, 0x3F8, 0x3FC)), "msi_cfg_tbl entry 15");
        Assert.That((RegisterOffsets.SizeOf(0x3F8), RegisterOffsets.SizeOf(0x3FC), RegisterOffsets.SizeOf(0x0C), RegisterOffsets.SizeOf(0x274)), Is.EqualTo((4, 4, 0, 0)),
            "msi_data 4 B, msi_vec_ctl 4 B, custom and reserved are not registers");
        Assert.That(RegisterOffsets.Reserved1, Is.EqualTo(0x400), "standard registers end at 1 KiB");
    }
}
