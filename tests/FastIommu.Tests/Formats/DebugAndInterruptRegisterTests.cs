using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using FastIommu.Formats.RiscV;

namespace FastIommu.Tests.Formats;

/// <summary>ipsr, icvec, iommu_qosid, tr_req_iova/tr_req_ctl/tr_response, msi_cfg_tbl entries and page-request records.</summary>
public class DebugAndInterruptRegisterTests
{
    [Test]
    public void Ipsr_bits()
    {
        Assert.That((default(Ipsr).WithCip(true).Value, default(Ipsr).WithFip(true).Value, default(Ipsr).WithPmip(true).Value, default(Ipsr).WithPip(true).Value),
            Is.EqualTo((0x1u, 0x2u, 0x4u, 0x8u)), "cip 0, fip 1, pmip 2, pip 3");
        var all = new Ipsr(uint.MaxValue);
        Assert.That((all.Cip, all.Fip, all.Pmip, all.Pip, all.Custom), Is.EqualTo((true, true, true, true, 0xFFu)), "custom 15:8");
        Assert.That(new Ipsr(~0xFu).Cip || new Ipsr(~0xFu).Fip || new Ipsr(~0xFu).Pmip || new Ipsr(~0xFu).Pip, Is.False, "own bits only");
        Assert.That(default(Ipsr).WithCustom(0x1FF).Value, Is.EqualTo(0x0000_FF00u), "custom masked");
        ReservedBits.AssertExactly(v => new Ipsr((uint)v).HasReservedBitsSet, 32, "ipsr", (7, 4), (31, 16));
    }

    [TestCase("civ", 0xFu, 0x0000_0000_0000_000FUL)]
    [TestCase("fiv", 0xFu, 0x0000_0000_0000_00F0UL)]
    [TestCase("pmiv", 0xFu, 0x0000_0000_0000_0F00UL)]
    [TestCase("piv", 0xFu, 0x0000_0000_0000_F000UL)]
    [TestCase("civ", 0x1Fu, 0x0000_0000_0000_000FUL)]
    [TestCase("piv", 1u, 0x0000_0000_0000_1000UL)]
    public void Icvec_fields(string field, uint input, ulong expected)
    {
        var i = field switch
        {
            "civ" => default(Icvec).WithCiv(input),
            "fiv" => default(Icvec).WithFiv(input),
            "pmiv" => default(Icvec).WithPmiv(input),
            "piv" => default(Icvec).WithPiv(input),
            _ => throw new ArgumentException(field),
        };
        Assert.That(i.Value, Is.EqualTo(expected), $"icvec.{field}");
    }

    [Test]
    public void Icvec_decoding_and_reserved()
    {
        var i = new Icvec(0xFFFF_FFFF_0000_4321);
        Assert.That((i.Civ, i.Fiv, i.Pmiv, i.Piv, i.Custom), Is.EqualTo((1u, 2u, 3u, 4u, 0xFFFF_FFFFu)), "vectors and custom 63:32");
        ReservedBits.AssertExactly(v => new Icvec(v).HasReservedBitsSet, 64, "icvec", (31, 16));
    }

    [Test]
    public void Iommu_qosid()
    {
        Assert.That((new IommuQosid(0).WithRcid(0xFFF).Value, new IommuQosid(0).WithMcid(0xFFF).Value, new IommuQosid(0).WithMcid(0x1001).Value),
            Is.EqualTo((0x0000_0FFFu, 0x0FFF_0000u, 0x0001_0000u)), "RCID 11:0, MCID 27:16, masked");
        ReservedBits.AssertExactly(v => new IommuQosid((uint)v).HasReservedBitsSet, 32, "iommu_qosid", (15, 12), (31, 28));
    }

    [Test]
    public void Tr_req_iova()
    {
        Assert.That(default(TrReqIova).WithVpn(1).Value, Is.EqualTo(0x1000UL), "vpn low bit 12");
        Assert.That(default(TrReqIova).WithVpn(0xF_FFFF_FFFF_FFFF).Value, Is.EqualTo(0xFFFF_FFFF_FFFF_F000UL), "vpn 63:12");
        Assert.That(new TrReqIova(0x1234_5678_9ABC_DEF0).Iova, Is.EqualTo(0x1234_5678_9ABC_D000UL), "IOVA");
        ReservedBits.AssertExactly(v => new TrReqIova(v).HasReservedBitsSet, 64, "tr_req_iova", (11, 0));
    }

    [TestCase("Go", 0x1UL)]
    [TestCase("Priv", 0x2UL)]
    [TestCase("Exe", 0x4UL)]
    [TestCase("NW", 0x8UL)]
    [TestCase("PV", 0x0000_0001_0000_0000UL)]
    [TestCase("PIDlow", 0x0000_0000_0000_1000UL)]
    [TestCase("PIDhigh", 0x0000_0000_FFFF_F000UL)]
    [TestCase("DIDlow", 0x0000_0100_0000_0000UL)]
    [TestCase("DIDhigh", 0xFFFF_FF00_0000_0000UL)]
    public void Tr_req_ctl_fields(string field, ulong expected)
    {
        var c = field switch
        {
            "Go" => default(TrReqCtl).WithGoBusy(true),
            "Priv" => default(TrReqCtl).WithPriv(true),
            "Exe" => default(TrReqCtl).WithExe(true),
            "NW" => default(TrReqCtl).WithNw(true),
            "PV" => default(TrReqCtl).WithPv(true),
            "PIDlow" => default(TrReqCtl).WithPid(1),
            "PIDhigh" => default(TrReqCtl).WithPid(0xFFFF_FFFF),
            "DIDlow" => default(TrReqCtl).WithDid(1),
            "DIDhigh" => default(TrReqCtl).WithDid(0xFFFF_FFFF),
            _ => throw new ArgumentException(field),
        };
        Assert.That(c.Value, Is.EqualTo(expected), $"tr_req_ctl {field}");
    }

    [Test]
    public void Tr_req_ctl_decoding_and_reserved()
    {
        var c = new TrReqCtl(ulong.MaxValue);
        Assert.That((c.GoBusy, c.Priv, c.Exe, c.Nw, c.Pid, c.Pv, c.Custom, c.Did), Is.EqualTo((true, true, true, true, 0xF_FFFFu, true, 0xFu, 0xFF_FFFFu)), "full word");
        ReservedBits.AssertExactly(v => new TrReqCtl(v).HasReservedBitsSet, 64, "tr_req_ctl", (11, 4), (35, 33));
    }

    [Test]
    public void Tr_response_fields_and_size_encoding()
    {
        Assert.That(TrResponse.Faulted.Value, Is.EqualTo(0x1UL), "fault bit 0");
        Assert.That(TrResponse.Success(0x8000_0000, 0x1000, PageBasedMemoryType.Io).Value, Is.EqualTo(0x0000_0000_2000_0100UL), "4 KiB: S=0, PPN 0x80000 << 10, PBMT 2 << 7");
        // 64 KiB: PPN ...yyy0111 and S (spec example)
        Assert.That(TrResponse.Success(0x8001_0000, 0x1_0000, PageBasedMemoryType.Pma).Value, Is.EqualTo(0x0000_0000_2000_5E00UL), "64 KiB: PPN 0x80017 (0x80010 | 0111b), S bit 9");
        // 2 MiB: PPN ...0 1111 1111
        Assert.That(TrResponse.Success(0x8020_0000, 0x20_0000, PageBasedMemoryType.Pma).Value, Is.EqualTo(0x0000_0000_200B_FE00UL), "2 MiB: PPN 0x802FF << 10 = 0x200BFC00, S");
        var r = new TrResponse(0x0000_0000_200B_FE00);
        Assert.That((r.S, r.PageSize, r.PhysicalAddress, r.Fault), Is.EqualTo((true, 0x20_0000UL, 0x8020_0000UL, false)), "decoded 2 MiB");
        var all = new TrResponse(ulong.MaxValue);
        Assert.That(((int)all.Pbmt, all.Custom, all.Ppn), Is.EqualTo((3, 0xFu, 0xFFF_FFFF_FFFFUL)), "PBMT 8:7, custom 63:60, PPN 53:10");
        ReservedBits.AssertExactly(v => new TrResponse(v).HasReservedBitsSet, 64, "tr_response", (6, 1), (59, 54));
        Assert.That(() => TrResponse.Success(0, 0x3000, PageBasedMemoryType.Pma), Throws.InstanceOf<ArgumentOutOfRangeException>(), "size must be a power of two");
    }

    [Test]
    public void Tr_response_round_trip_all_sizes()
    {
        for (int log2 = 12; log2 <= 48; log2++)
        {
            ulong size = 1UL << log2;
            ulong pa = 0xAB_0000_0000_0000UL & ~(size - 1);
            var r = TrResponse.Success(pa, size, PageBasedMemoryType.Nc);
            Assert.That((r.PageSize, r.PhysicalAddress, r.Pbmt), Is.EqualTo((size, pa, PageBasedMemoryType.Nc)), $"2^{log2}");
        }
    }

    [Test]
    public void Msi_config_entry()
    {
        Assert.That(Unsafe.SizeOf<MsiConfigEntry>(), Is.EqualTo(16), "16-byte entries");
        Assert.That((Marshal.OffsetOf<MsiConfigEntry>(nameof(MsiConfigEntry.MsiAddr)).ToInt32(), Marshal.OffsetOf<MsiConfigEntry>(nameof(MsiConfigEntry.MsiData)).ToInt32(),
            Marshal.OffsetOf<MsiConfigEntry>(nameof(MsiConfigEntry.MsiVecCtl)).ToInt32()), Is.EqualTo((0, 8, 12)), "addr, data, vector control");
        Assert.That(default(MsiConfigEntry).WithAddress(ulong.MaxValue).MsiAddr, Is.EqualTo(0x00FF_FFFF_FFFF_FFFCUL), "ADDR 55:2");
        Assert.That(default(MsiConfigEntry).WithMasked(true).MsiVecCtl, Is.EqualTo(1u), "M bit 0");
        Assert.That(new MsiConfigEntry(1UL << 56, 0, 0).HasReservedBitsSet && new MsiConfigEntry(0, 0, 2).HasReservedBitsSet, Is.True, "reserved 63:56 and vec_ctl 31:1");
        Assert.That(new MsiConfigEntry(0x00FF_FFFF_FFFF_FFFC, uint.MaxValue, 1).HasReservedBitsSet, Is.False, "all legal bits");
    }

    [Test]
    public void Page_request_record()
    {
        Assert.That(Unsafe.SizeOf<PageRequest>(), Is.EqualTo(16), "16-byte records");
        Assert.That((Marshal.OffsetOf<PageRequest>(nameof(PageRequest.Dword0)).ToInt32(), Marshal.OffsetOf<PageRequest>(nameof(PageRequest.Payload)).ToInt32()),
            Is.EqualTo((0, 8)), "dword0 then payload");
        var pr = PageRequest.Create(did: 0xABCDEF, pv: true, pid: 0x12345, priv: true, exec: true, pageAddress: 0xFFFF_FFFF_FFFF_FFFF, prgIndex: 0x1FF, r: true, w: true, l: true);
        // DID << 40 | EXEC 34 | PRIV 33 | PV 32 | PID << 12
        Assert.That(pr.Dword0, Is.EqualTo(0xABCD_EF07_1234_5000UL), "dword0");
        Assert.That(pr.Payload, Is.EqualTo(0xFFFF_FFFF_FFFF_FFFFUL), "payload: address 63:12, PRGI 11:3, L 2, W 1, R 0");
        Assert.That((pr.Did, pr.Pid, pr.Pv, pr.Priv, pr.Exec, pr.PrgIndex, pr.R, pr.W, pr.L), Is.EqualTo((0xAB_CDEFu, 0x12345u, true, true, true, 0x1FFu, true, true, true)), "decoded");
        var stop = PageRequest.Create(1, true, 2, false, false, 0, 0, r: false, w: false, l: true);
        Assert.That((stop.Payload, stop.IsStopMarker), Is.EqualTo((0x4UL, true)), "stop marker: L only");
        var noPasid = PageRequest.Create(1, false, 0x77, true, true, 0x5000, 1, true, false, false);
        Assert.That(noPasid.Dword0, Is.EqualTo(0x0000_0100_0000_0000UL), "no PASID: PID, PRIV, EXEC are 0");
        Assert.That(noPasid.Payload, Is.EqualTo(0x0000_0000_0000_5009UL), "address 0x5000, PRGI 1 << 3, R");
        ReservedBits.AssertExactly(v => new PageRequest(v, 0).HasReservedBitsSet, 64, "page request dword0", (11, 0), (39, 35));
    }
}
