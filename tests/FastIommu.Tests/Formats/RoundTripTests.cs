using FastIommu.Formats.RiscV;

namespace FastIommu.Tests.Formats;

/// <summary>Seeded random words decoded field by field and rebuilt through the setters: the rebuilt word equals
/// the original with its reserved bits cleared (so no field overlaps another or is lost).</summary>
public class RoundTripTests
{
    private const int Iterations = 2000;

    [Test]
    public void Capabilities_decode_encode()
    {
        var rng = new Random(11);
        for (int i = 0; i < Iterations; i++)
        {
            ulong v = (ulong)rng.NextInt64() ^ ((ulong)rng.Next() << 63);
            var c = new Capabilities(v);
            var r = default(Capabilities).WithVersion(c.Version).WithSv32(c.Sv32).WithSv39(c.Sv39).WithSv48(c.Sv48).WithSv57(c.Sv57)
                .WithSvpbmt(c.Svpbmt).WithSv32x4(c.Sv32x4).WithSv39x4(c.Sv39x4).WithSv48x4(c.Sv48x4).WithSv57x4(c.Sv57x4)
                .WithAmoMrif(c.AmoMrif).WithMsiFlat(c.MsiFlat).WithMsiMrif(c.MsiMrif).WithAmoHwad(c.AmoHwad).WithAts(c.Ats)
                .WithT2gpa(c.T2gpa).WithEnd(c.End).WithIgs(c.Igs).WithHpm(c.Hpm).WithDbg(c.Dbg).WithPas((uint)c.Pas)
                .WithPd8(c.Pd8).WithPd17(c.Pd17).WithPd20(c.Pd20).WithQosid(c.Qosid).WithCustom(c.Custom);
            Assert.That(r.Value, Is.EqualTo(v & ~0x00FF_FC00_0010_7000UL), $"0x{v:x16}");
        }
    }

    [Test]
    public void Dc_fields_decode_encode()
    {
        var rng = new Random(12);
        for (int i = 0; i < Iterations; i++)
        {
            ulong v = (ulong)rng.NextInt64() ^ ((ulong)rng.Next() << 63);
            var tc = new DeviceContextTc(v);
            var rtc = default(DeviceContextTc).WithV(tc.Valid).WithEnAts(tc.EnAts).WithEnPri(tc.EnPri).WithT2gpa(tc.T2gpa).WithDtf(tc.Dtf)
                .WithPdtv(tc.Pdtv).WithPrpr(tc.Prpr).WithGade(tc.Gade).WithSade(tc.Sade).WithDpe(tc.Dpe).WithSbe(tc.Sbe).WithSxl(tc.Sxl).WithCustom(tc.Custom);
            Assert.That(rtc.Value, Is.EqualTo(v & ~0xFFFF_FFFF_00FF_F000UL), "tc");

            var g = new Iohgatp(v);
            Assert.That(Iohgatp.Default.WithPpn(g.Ppn).WithGscid(g.Gscid).WithMode(g.Mode).Value, Is.EqualTo(v), "iohgatp has no reserved bits");

            var ta = new DeviceContextTa(v);
            Assert.That(DeviceContextTa.Default.WithPscid(ta.Pscid).WithRcid(ta.Rcid).WithMcid(ta.Mcid).Value, Is.EqualTo(v & ~0x0000_00FF_0000_0FFFUL), "DC.ta");

            var s = new Iosatp(v);
            Assert.That(Iosatp.Default.WithPpn(s.Ppn).WithMode(s.Mode).Value, Is.EqualTo(v & ~0x0FFF_F000_0000_0000UL), "iosatp");

            var pta = new ProcessContextTa(v);
            Assert.That(ProcessContextTa.Default.WithV(pta.Valid).WithEns(pta.Ens).WithSum(pta.Sum).WithPscid(pta.Pscid).Value,
                Is.EqualTo(v & ~0xFFFF_FFFF_0000_0FF8UL), "PC.ta");

            var d = new Ddtp(v);
            Assert.That(default(Ddtp).WithIommuMode(d.IommuMode).WithBusy(d.Busy).WithPpn(d.Ppn).Value, Is.EqualTo(v & ~0xFFC0_0000_0000_03E0UL), "ddtp");
        }
    }

    [Test]
    public void Csrs_decode_encode()
    {
        var rng = new Random(13);
        for (int i = 0; i < Iterations; i++)
        {
            uint v = (uint)rng.NextInt64();
            var c = new CqCsr(v);
            var rc = new CqCsr(0).WithCqen(c.Cqen).WithCie(c.Cie).WithCqmf(c.Cqmf).WithCmdTo(c.CmdTo).WithCmdIll(c.CmdIll)
                .WithFenceWIp(c.FenceWIp).WithCqon(c.Cqon).WithBusy(c.Busy).WithCustom(c.Custom);
            Assert.That(rc.Value, Is.EqualTo(v & ~0x0FFC_F0FCu), "cqcsr");
            var f = new FqCsr(v);
            var rf = new FqCsr(0).WithFqen(f.Fqen).WithFie(f.Fie).WithFqmf(f.Fqmf).WithFqof(f.Fqof).WithFqon(f.Fqon).WithBusy(f.Busy).WithCustom(f.Custom);
            Assert.That(rf.Value, Is.EqualTo(v & ~0x0FFC_FCFCu), "fqcsr");
            var p = new PqCsr(v);
            var rp = new PqCsr(0).WithPqen(p.Pqen).WithPie(p.Pie).WithPqmf(p.Pqmf).WithPqof(p.Pqof).WithPqon(p.Pqon).WithBusy(p.Busy).WithCustom(p.Custom);
            Assert.That(rp.Value, Is.EqualTo(v & ~0x0FFC_FCFCu), "pqcsr");
            var fc = new Fctl(v);
            Assert.That(new Fctl(0).WithBe(fc.Be).WithWsi(fc.Wsi).WithGxl(fc.Gxl).WithCustom(fc.Custom).Value, Is.EqualTo(v & ~0x0000_FFF8u), "fctl");
            var ip = new Ipsr(v);
            Assert.That(new Ipsr(0).WithCip(ip.Cip).WithFip(ip.Fip).WithPmip(ip.Pmip).WithPip(ip.Pip).WithCustom(ip.Custom).Value, Is.EqualTo(v & 0x0000_FF0Fu), "ipsr");
        }
    }

    [Test]
    public void Fault_record_dword0_decode_encode()
    {
        var rng = new Random(14);
        for (int i = 0; i < Iterations; i++)
        {
            ulong v = (ulong)rng.NextInt64() ^ ((ulong)rng.Next() << 63);
            var r = new FaultRecord(v, 0, 0, 0);
            var b = default(FaultRecord).WithCause(r.Cause).WithPid(r.Pid).WithPv(r.Pv).WithPriv(r.Priv).WithTtyp(r.Ttyp).WithDid(r.Did);
            Assert.That(b.Dword0, Is.EqualTo(v), "dword0 has no reserved bits");
        }
    }
}
