using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using FastIommu.Formats.RiscV;

namespace FastIommu.Tests.Formats;

/// <summary>Device context (base 32 B, extended 64 B) and its fields: IOMMU spec "Device-context fields".</summary>
public class DeviceContextTests
{
    [TestCase("V", 0x001UL)]
    [TestCase("EN_ATS", 0x002UL)]
    [TestCase("EN_PRI", 0x004UL)]
    [TestCase("T2GPA", 0x008UL)]
    [TestCase("DTF", 0x010UL)]
    [TestCase("PDTV", 0x020UL)]
    [TestCase("PRPR", 0x040UL)]
    [TestCase("GADE", 0x080UL)]
    [TestCase("SADE", 0x100UL)]
    [TestCase("DPE", 0x200UL)]
    [TestCase("SBE", 0x400UL)]
    [TestCase("SXL", 0x800UL)]
    public void Tc_flag_bits(string field, ulong expected)
    {
        var tc = SetTc(default, field, true);
        Assert.That(tc.Value, Is.EqualTo(expected), $"tc.{field}");
        Assert.That(GetTc(tc, field), Is.True, $"tc.{field} reads back");
        Assert.That(GetTc(new DeviceContextTc(~expected), field), Is.False, $"tc.{field} reads only its own bit");
        Assert.That(SetTc(new DeviceContextTc(ulong.MaxValue), field, false).Value, Is.EqualTo(~expected), $"clearing tc.{field}");
    }

    private static DeviceContextTc SetTc(DeviceContextTc tc, string field, bool v) => field switch
    {
        "V" => tc.WithV(v),
        "EN_ATS" => tc.WithEnAts(v),
        "EN_PRI" => tc.WithEnPri(v),
        "T2GPA" => tc.WithT2gpa(v),
        "DTF" => tc.WithDtf(v),
        "PDTV" => tc.WithPdtv(v),
        "PRPR" => tc.WithPrpr(v),
        "GADE" => tc.WithGade(v),
        "SADE" => tc.WithSade(v),
        "DPE" => tc.WithDpe(v),
        "SBE" => tc.WithSbe(v),
        "SXL" => tc.WithSxl(v),
        _ => throw new ArgumentException(field),
    };

    private static bool GetTc(DeviceContextTc tc, string field) => field switch
    {
        "V" => tc.Valid,
        "EN_ATS" => tc.EnAts,
        "EN_PRI" => tc.EnPri,
        "T2GPA" => tc.T2gpa,
        "DTF" => tc.Dtf,
        "PDTV" => tc.Pdtv,
        "PRPR" => tc.Prpr,
        "GADE" => tc.Gade,
        "SADE" => tc.Sade,
        "DPE" => tc.Dpe,
        "SBE" => tc.Sbe,
        "SXL" => tc.Sxl,
        _ => throw new ArgumentException(field),
    };

    [TestCase(1u, 0x0000_0000_0100_0000UL)]
    [TestCase(0xFFu, 0x0000_0000_FF00_0000UL)]
    [TestCase(0x100u, 0x0UL)]
    public void Tc_custom_is_31_to_24(uint custom, ulong expected) =>
        Assert.That(default(DeviceContextTc).WithCustom(custom).Value, Is.EqualTo(expected), "tc custom 31:24");

    [Test]
    public void Tc_reserved_bits()
    {
        Assert.That(DeviceContextTc.ReservedMask, Is.EqualTo(0xFFFF_FFFF_00FF_F000UL), "23:12 and 63:32");
        ReservedBits.AssertExactly(v => new DeviceContextTc(v).HasReservedBitsSet, 64, "DC.tc", (23, 12), (63, 32));
    }

    [TestCase("Ppn", 1UL, 0x0000_0000_0000_0001UL)]
    [TestCase("Ppn", 0xFFF_FFFF_FFFFUL, 0x0000_0FFF_FFFF_FFFFUL)]
    [TestCase("Ppn", ulong.MaxValue, 0x0000_0FFF_FFFF_FFFFUL)]
    [TestCase("Gscid", 1UL, 0x0000_1000_0000_0000UL)]
    [TestCase("Gscid", 0xFFFFUL, 0x0FFF_F000_0000_0000UL)]
    [TestCase("Gscid", 0x1_0000UL, 0x0UL)]
    [TestCase("Gscid", 0xFFFF_FFFFUL, 0x0FFF_F000_0000_0000UL)]
    [TestCase("Mode", 1UL, 0x1000_0000_0000_0000UL)]
    [TestCase("Mode", 0xFUL, 0xF000_0000_0000_0000UL)]
    [TestCase("Mode", 0x10UL, 0x0UL)]
    public void Iohgatp_fields(string field, ulong input, ulong expected)
    {
        Iohgatp g = field switch
        {
            "Ppn" => Iohgatp.Default.WithPpn(input),
            "Gscid" => Iohgatp.Default.WithGscid((uint)input),
            "Mode" => Iohgatp.Default.WithMode((uint)input),
            _ => throw new ArgumentException(field),
        };
        Assert.That(g.Value, Is.EqualTo(expected), $"iohgatp.{field} <- 0x{input:x}");
    }

    [Test]
    public void Iohgatp_decoding()
    {
        var g = new Iohgatp(ulong.MaxValue);
        Assert.That((g.Ppn, g.Gscid, g.Mode), Is.EqualTo((0xFFF_FFFF_FFFFUL, 0xFFFFu, 0xFu)), "PPN 43:0, GSCID 59:44, MODE 63:60");
        var sv48x4 = Iohgatp.Create<Sv48x4>(0x8_0000_4000, 0x42);
        Assert.That(sv48x4.Value, Is.EqualTo(0x9004_2000_0080_0004UL), "MODE 9, GSCID 0x42, PPN 0x800004");
        Assert.That((sv48x4.PagingMode, sv48x4.IsRootAligned, sv48x4.RootAddress), Is.EqualTo(((PagingModeKind?)PagingModeKind.Sv48x4, true, 0x8_0000_4000UL)), "decoded");
        Assert.That(Iohgatp.Default.WithPpn(0x80_0001).IsRootAligned, Is.False, "PPN[1:0] != 0: not 16 KiB aligned");
        Assert.That(Iohgatp.Default.IsBare, Is.True, "MODE 0 is Bare");
        Assert.That(Iohgatp.Default.WithMode(11).IsModeReserved, Is.True, "11 reserved");
        Assert.That(Iohgatp.Default.WithMode(1).IsModeReserved, Is.True, "1 reserved");
        Assert.That(Iohgatp.Default.WithMode(10).IsModeReserved, Is.False, "10 is Sv57x4");
        Assert.That(new Iohgatp(ulong.MaxValue).HasReservedBitsSet, Is.False, "iohgatp has no reserved bits");
    }

    [TestCase("Ppn", 1UL, 0x1UL)]
    [TestCase("Ppn", 0xFFF_FFFF_FFFFUL, 0x0000_0FFF_FFFF_FFFFUL)]
    [TestCase("Ppn", ulong.MaxValue, 0x0000_0FFF_FFFF_FFFFUL)]
    [TestCase("Mode", 1UL, 0x1000_0000_0000_0000UL)]
    [TestCase("Mode", 0xFUL, 0xF000_0000_0000_0000UL)]
    [TestCase("Mode", 0x1FUL, 0xF000_0000_0000_0000UL)]
    public void Iosatp_pdtp_msiptp_fields(string field, ulong input, ulong expected)
    {
        (ulong a, ulong b, ulong c) = field switch
        {
            "Ppn" => (Iosatp.Default.WithPpn(input).Value, Pdtp.Default.WithPpn(input).Value, default(Msiptp).WithPpn(input).Value),
            "Mode" => (Iosatp.Default.WithMode((uint)input).Value, Pdtp.Default.WithMode((PdtpMode)input).Value,
                default(Msiptp).WithMode((MsiptpMode)input).Value),
            _ => throw new ArgumentException(field),
        };
        Assert.That((a, b, c), Is.EqualTo((expected, expected, expected)), $"iosatp/pdtp/msiptp.{field}: PPN 43:0, MODE 63:60");
    }

    [Test]
    public void Iosatp_pdtp_msiptp_reserved_bits()
    {
        ReservedBits.AssertExactly(v => new Iosatp(v).HasReservedBitsSet, 64, "iosatp", (59, 44));
        ReservedBits.AssertExactly(v => new Pdtp(v).HasReservedBitsSet, 64, "pdtp", (59, 44));
        ReservedBits.AssertExactly(v => new Msiptp(v).HasReservedBitsSet, 64, "msiptp", (59, 44));
    }

    [TestCase(0u, false, false)]
    [TestCase(1u, true, false)]
    [TestCase(7u, true, false)]
    [TestCase(8u, false, false)]
    [TestCase(10u, false, false)]
    [TestCase(11u, true, false)]
    [TestCase(13u, true, false)]
    [TestCase(14u, false, true)]
    [TestCase(15u, false, true)]
    public void Iosatp_mode_classes(uint mode, bool reserved, bool custom)
    {
        var s = Iosatp.Default.WithMode(mode);
        Assert.That((s.IsModeReserved, s.IsModeCustom), Is.EqualTo((reserved, custom)), $"iosatp.MODE {mode}");
    }

    [Test]
    public void Iosatp_create()
    {
        var s = Iosatp.Create<Sv57>(0xFF_FFFF_FFFF_F000);
        Assert.That(s.Value, Is.EqualTo(0xA000_0FFF_FFFF_FFFFUL), "MODE 10 | PPN 44 ones");
        Assert.That(s.PagingMode, Is.EqualTo(PagingModeKind.Sv57), "decoded");
    }

    [TestCase(PdtpMode.Bare, 0, 0, 0)]
    [TestCase(PdtpMode.PD8, 1, 1, 8)]
    [TestCase(PdtpMode.PD17, 2, 2, 17)]
    [TestCase(PdtpMode.PD20, 3, 3, 20)]
    public void Pdtp_modes(PdtpMode mode, int encoding, int levels, int bits)
    {
        var p = Pdtp.Create(mode, 0x3000);
        Assert.That(((int)mode, p.Levels, p.ProcessIdBits, p.Ppn), Is.EqualTo((encoding, levels, bits, 3UL)), "PDTP_MODE_ENC");
    }

    [Test]
    public void Pdtp_and_msiptp_mode_classes()
    {
        Assert.That(Pdtp.Default.WithMode((PdtpMode)4).IsModeReserved, Is.True, "pdtp 4 reserved");
        Assert.That(Pdtp.Default.WithMode((PdtpMode)13).IsModeReserved, Is.True, "pdtp 13 reserved");
        Assert.That(Pdtp.Default.WithMode((PdtpMode)14).IsModeCustom, Is.True, "pdtp 14 custom");
        Assert.That(Pdtp.Default.WithMode(PdtpMode.PD20).IsModeReserved, Is.False, "PD20 defined");
        Assert.That(((int)MsiptpMode.Off, (int)MsiptpMode.Flat), Is.EqualTo((0, 1)), "msiptp modes");
        Assert.That(default(Msiptp).WithMode((MsiptpMode)2).IsModeReserved, Is.True, "msiptp 2 reserved");
        Assert.That(default(Msiptp).WithMode(MsiptpMode.Flat).IsModeReserved, Is.False, "Flat defined");
    }

    [TestCase("Pscid", 1UL, 0x0000_0000_0000_1000UL)]
    [TestCase("Pscid", 0xF_FFFFUL, 0x0000_0000_FFFF_F000UL)]
    [TestCase("Pscid", 0x10_0000UL, 0x0UL)]
    [TestCase("Rcid", 1UL, 0x0000_0100_0000_0000UL)]
    [TestCase("Rcid", 0xFFFUL, 0x000F_FF00_0000_0000UL)]
    [TestCase("Rcid", 0x1000UL, 0x0UL)]
    [TestCase("Mcid", 1UL, 0x0010_0000_0000_0000UL)]
    [TestCase("Mcid", 0xFFFUL, 0xFFF0_0000_0000_0000UL)]
    [TestCase("Mcid", 0xFFFF_FFFFUL, 0xFFF0_0000_0000_0000UL)]
    public void Ta_fields(string field, ulong input, ulong expected)
    {
        DeviceContextTa ta = field switch
        {
            "Pscid" => DeviceContextTa.Default.WithPscid((uint)input),
            "Rcid" => DeviceContextTa.Default.WithRcid((uint)input),
            "Mcid" => DeviceContextTa.Default.WithMcid((uint)input),
            _ => throw new ArgumentException(field),
        };
        Assert.That(ta.Value, Is.EqualTo(expected), $"DC.ta.{field}");
    }

    [Test]
    public void Ta_decoding_and_reserved()
    {
        var ta = new DeviceContextTa(ulong.MaxValue);
        Assert.That((ta.Pscid, ta.Rcid, ta.Mcid), Is.EqualTo((0xF_FFFFu, 0xFFFu, 0xFFFu)), "PSCID 31:12, RCID 51:40, MCID 63:52");
        ReservedBits.AssertExactly(v => new DeviceContextTa(v).HasReservedBitsSet(qosid: true), 64, "DC.ta with QOSID", (11, 0), (39, 32));
        ReservedBits.AssertExactly(v => new DeviceContextTa(v).HasReservedBitsSet(qosid: false), 64, "DC.ta without QOSID", (11, 0), (39, 32), (63, 40));
    }

    [Test]
    public void Base_layout()
    {
        Assert.That(Unsafe.SizeOf<DeviceContext>(), Is.EqualTo(32), "base DC is 32 bytes");
        Assert.That(Marshal.SizeOf<DeviceContext>(), Is.EqualTo(32), "marshalled size");
        Assert.That(new[]
        {
            Marshal.OffsetOf<DeviceContext>(nameof(DeviceContext.Tc)).ToInt32(),
            Marshal.OffsetOf<DeviceContext>(nameof(DeviceContext.Iohgatp)).ToInt32(),
            Marshal.OffsetOf<DeviceContext>(nameof(DeviceContext.Ta)).ToInt32(),
            Marshal.OffsetOf<DeviceContext>(nameof(DeviceContext.Fsc)).ToInt32(),
        }, Is.EqualTo(new[] { 0, 8, 16, 24 }), "tc, iohgatp, ta, fsc at doublewords 0..3");
        Assert.That((DeviceContext.TcOffset, DeviceContext.IohgatpOffset, DeviceContext.TaOffset, DeviceContext.FscOffset), Is.EqualTo((0, 8, 16, 24)), "offset constants");
        Assert.That((Unsafe.SizeOf<DeviceContextTc>(), Unsafe.SizeOf<Iohgatp>(), Unsafe.SizeOf<DeviceContextTa>(), Unsafe.SizeOf<Iosatp>(), Unsafe.SizeOf<Pdtp>(), Unsafe.SizeOf<Msiptp>()),
            Is.EqualTo((8, 8, 8, 8, 8, 8)), "each field is one doubleword");
    }

    [Test]
    public void Extended_layout()
    {
        Assert.That(Unsafe.SizeOf<ExtendedDeviceContext>(), Is.EqualTo(64), "extended DC is 64 bytes");
        string[] names =
        [
            nameof(ExtendedDeviceContext.Tc), nameof(ExtendedDeviceContext.Iohgatp), nameof(ExtendedDeviceContext.Ta),
            nameof(ExtendedDeviceContext.Fsc), nameof(ExtendedDeviceContext.Msiptp), nameof(ExtendedDeviceContext.MsiAddrMask),
            nameof(ExtendedDeviceContext.MsiAddrPattern), nameof(ExtendedDeviceContext.Reserved),
        ];
        Assert.That(names.Select(n => Marshal.OffsetOf<ExtendedDeviceContext>(n).ToInt32()), Is.EqualTo(new[] { 0, 8, 16, 24, 32, 40, 48, 56 }), "eight doublewords");
        Assert.That((ExtendedDeviceContext.MsiptpOffset, ExtendedDeviceContext.MsiAddrMaskOffset, ExtendedDeviceContext.MsiAddrPatternOffset, ExtendedDeviceContext.ReservedOffset),
            Is.EqualTo((32, 40, 48, 56)), "offset constants");
    }

    [Test]
    public void Bytes_in_memory_are_little_endian_doublewords()
    {
        var dc = new DeviceContext(new DeviceContextTc(0x0807_0605_0403_0201), new Iohgatp(0x100F_0E0D_0C0B_0A09),
            new DeviceContextTa(0x1817_1615_1413_1211), 0x201F_1E1D_1C1B_1A19);
        byte[] bytes = MemoryMarshal.AsBytes(new ReadOnlySpan<DeviceContext>(in dc)).ToArray();
        Assert.That(bytes, Is.EqualTo(Enumerable.Range(1, 32).Select(i => (byte)i).ToArray()), "byte i of the DC is byte i % 8 of doubleword i / 8");
    }

    [Test]
    public void Dc_reserved_bits()
    {
        var clean = new DeviceContext(DeviceContextTc.Default.WithV(true).WithPdtv(true).WithDpe(true), Iohgatp.Create<Sv39x4>(0x10000, 1),
            DeviceContextTa.Default.WithPscid(5), Pdtp.Create(PdtpMode.PD17, 0x2000));
        Assert.That(clean.HasReservedBitsSet(), Is.False, "a clean DC");
        Assert.That(clean.WithTc(clean.Tc.WithPdtv(false)).HasReservedBitsSet(), Is.True, "DPE is reserved when PDTV = 0");
        Assert.That(clean.WithTc(new DeviceContextTc(clean.Tc.Value | (1UL << 12))).HasReservedBitsSet(), Is.True, "tc bit 12");
        Assert.That(clean.WithTc(clean.Tc.WithCustom(0xFF)).HasReservedBitsSet(), Is.False, "custom bits are not reserved");
        Assert.That(clean.WithTa(clean.Ta.WithRcid(1)).HasReservedBitsSet(), Is.True, "RCID without QOSID");
        Assert.That(clean.WithTa(clean.Ta.WithRcid(1)).HasReservedBitsSet(qosid: true), Is.False, "RCID with QOSID");
        Assert.That(clean.WithFsc(clean.Fsc | (1UL << 44)).HasReservedBitsSet(), Is.True, "fsc bit 44");
        Assert.That(clean.WithFsc(clean.Fsc | (1UL << 59)).HasReservedBitsSet(), Is.True, "fsc bit 59");
        Assert.That(clean.IsModeEncodingReserved, Is.False, "Sv39x4 + PD17");
        Assert.That(clean.WithFsc(Pdtp.Default.WithMode((PdtpMode)5)).IsModeEncodingReserved, Is.True, "pdtp MODE 5");
        Assert.That(clean.WithIohgatp(clean.Iohgatp.WithMode(3)).IsModeEncodingReserved, Is.True, "iohgatp MODE 3");
    }

    [Test]
    public void Extended_reserved_bits_and_msi_match()
    {
        var baseDc = new DeviceContext(DeviceContextTc.Default.WithV(true), Iohgatp.Default, DeviceContextTa.Default, Iosatp.Default);
        var ext = new ExtendedDeviceContext(baseDc).WithMsiptp(default(Msiptp).WithMode(MsiptpMode.Flat).WithPpn(0x1234))
            .WithMsiAddrMask(0x7).WithMsiAddrPattern(0x2_8000_0000 >> 12);
        Assert.That(ext.HasReservedBitsSet(), Is.False, "clean");
        Assert.That(ext.Base, Is.EqualTo(baseDc), "base fields preserved");
        Assert.That(new ExtendedDeviceContext(baseDc.Tc, baseDc.Iohgatp, baseDc.Ta, baseDc.Fsc, default, 1UL << 52, 0).HasReservedBitsSet(), Is.True, "msi_addr_mask bit 52");
        Assert.That(new ExtendedDeviceContext(baseDc.Tc, baseDc.Iohgatp, baseDc.Ta, baseDc.Fsc, default, 0, 1UL << 63).HasReservedBitsSet(), Is.True, "msi_addr_pattern bit 63");
        Assert.That(new ExtendedDeviceContext(baseDc.Tc, baseDc.Iohgatp, baseDc.Ta, baseDc.Fsc, default, 0, 0, 1).HasReservedBitsSet(), Is.True, "doubleword 7");
        Assert.That(new ExtendedDeviceContext(baseDc.Tc, baseDc.Iohgatp, baseDc.Ta, baseDc.Fsc, new Msiptp(1UL << 50), 0, 0).HasReservedBitsSet(), Is.True, "msiptp 59:44");
        Assert.That(ext.WithMsiAddrMask(ulong.MaxValue).MsiAddrMask, Is.EqualTo(0x000F_FFFF_FFFF_FFFFUL), "mask is 52 bits");
        Assert.That(ext.WithMsiAddrPattern(ulong.MaxValue).MsiAddrPattern, Is.EqualTo(0x000F_FFFF_FFFF_FFFFUL), "pattern is 52 bits");
        Assert.That(ext.WithMsiAddrPattern(1).MsiAddrPattern, Is.EqualTo(0x1UL), "pattern lowest bit 0");
        // pattern page 0x28000, mask 0x7: pages 0x28000..0x28007 are interrupt files.
        Assert.That(ext.IsMsiAddress(0x2_8000_0000), Is.True, "first file");
        Assert.That(ext.IsMsiAddress(0x2_8000_7FFC), Is.True, "last file, any offset");
        Assert.That(ext.IsMsiAddress(0x2_8000_8000), Is.False, "page 0x28008 is outside");
        Assert.That(ext.IsMsiAddress(0x2_7FFF_F000), Is.False, "page below");
    }

    [Test]
    public void Random_round_trip()
    {
        var rng = new Random(42);
        for (int i = 0; i < 500; i++)
        {
            ulong ppn = (ulong)rng.NextInt64() & 0xFFF_FFFF_FFFF;
            uint gscid = (uint)rng.Next(0x1_0000);
            uint mode = (uint)rng.Next(16);
            uint pscid = (uint)rng.Next(0x10_0000);
            uint rcid = (uint)rng.Next(0x1000), mcid = (uint)rng.Next(0x1000);
            ulong flags = (ulong)rng.Next(0x1000);
            var g = Iohgatp.Default.WithMode(mode).WithPpn(ppn).WithGscid(gscid);
            var ta = DeviceContextTa.Default.WithMcid(mcid).WithPscid(pscid).WithRcid(rcid);
            var tc = new DeviceContextTc(flags);
            var dc = new DeviceContext(tc, g, ta, Iosatp.Default.WithPpn(ppn).WithMode(mode));
            Assert.That((dc.Iohgatp.Ppn, dc.Iohgatp.Gscid, dc.Iohgatp.Mode, dc.Ta.Pscid, dc.Ta.Rcid, dc.Ta.Mcid, dc.FscAsIosatp.Ppn, dc.FscAsIosatp.Mode),
                Is.EqualTo((ppn, gscid, mode, pscid, rcid, mcid, ppn, mode)), $"iteration {i}");
            Assert.That(dc.Tc.HasReservedBitsSet, Is.False, "flags 11:0 only");
        }
    }

    [Test]
    public void Dump_mentions_every_part()
    {
        var dc = new DeviceContext(DeviceContextTc.Default.WithV(true).WithEnAts(true), Iohgatp.Create<Sv39x4>(0x4000, 7),
            DeviceContextTa.Default.WithPscid(3), Iosatp.Create<Sv39>(0x5000));
        Assert.That(dc.ToString(), Does.Contain("EN_ATS").And.Contain("Sv39x4").And.Contain("gscid=0x7").And.Contain("pscid=0x3").And.Contain("Sv39 "),
            "DC dump");
    }
}
