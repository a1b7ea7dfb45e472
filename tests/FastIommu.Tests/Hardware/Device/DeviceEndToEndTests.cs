using FastIommu.Hardware;

namespace FastIommu.Tests.Hardware.Device;

/// <summary>The device in front of the real translator: commands sent through the queue in memory really flush
/// (and only flush) what they name; faults from translations land in the fault queue bit-exact; the debug
/// interface translates.</summary>
public class DeviceEndToEndTests
{
    private const ulong AddrDword1 = 0x1000_0400; // ADDR[63:12] of 0x4000_1000 = 0x40001, in bits 61:10

    // Change the leaf behind IOVA 0x4000_1000 from PageA to PageB; the cached translation stays PageA.
    private static void MakeStale(SystemHarness h, uint deviceId)
    {
        Assert.That(h.PaOf(deviceId), Is.EqualTo(SystemHarness.PageA), "translation cached");
        h.Memory.Qword(SystemHarness.L0 + 8) = SystemHarness.Pte(SystemHarness.PageB, SystemHarness.LeafRw);
        Assert.That(h.PaOf(deviceId), Is.EqualTo(SystemHarness.PageA), "stale until invalidated");
    }

    // IOTINVAL.VMA, GV=0: opcode 1, AV 0x400, PSCID << 12, PSCV bit 32.
    [TestCase(0x0000_0001_0007_7401UL, AddrDword1, Description = "AV=1 PSCV=1 PSCID 0x77 ADDR")]
    [TestCase(0x0000_0001_0007_7001UL, 0UL, Description = "AV=0 PSCV=1 PSCID 0x77")]
    [TestCase(0x0000_0000_0000_0401UL, AddrDword1, Description = "AV=1 PSCV=0 ADDR, all address spaces")]
    [TestCase(0x0000_0000_0000_0001UL, 0UL, Description = "AV=0 PSCV=0, everything")]
    public void Iotinval_vma_through_the_queue_flushes_the_stale_translation(ulong dword0, ulong dword1)
    {
        using var h = new SystemHarness();
        MakeStale(h, 5);
        h.Submit((dword0, dword1));
        Assert.That(h.PaOf(5), Is.EqualTo(SystemHarness.PageB), "fresh after the invalidation");
    }

    [Test]
    public void Iotinval_vma_for_another_pscid_flushes_nothing()
    {
        using var h = new SystemHarness();
        MakeStale(h, 5);
        h.Submit((0x0000_0001_0007_8401, AddrDword1), (0x0000_0001_0007_8001, 0)); // PSCID 0x78, with and without ADDR
        Assert.That(h.PaOf(5), Is.EqualTo(SystemHarness.PageA), "PSCID 0x77's entry survives");
        h.Submit((0x0000_0001_0007_7401, AddrDword1));
        Assert.That(h.PaOf(5), Is.EqualTo(SystemHarness.PageB), "the right PSCID flushes it");
    }

    [Test]
    public void Iotinval_vma_reaches_a_process_context_pscid()
    {
        using var h = new SystemHarness();
        Assert.That(h.Device.Translate(new TranslationRequest(7, 3, SystemHarness.Iova, AccessType.Read)).PhysicalAddress,
            Is.EqualTo(SystemHarness.PageA), "process 3 of device 7 cached");
        h.Memory.Qword(SystemHarness.L0 + 8) = SystemHarness.Pte(SystemHarness.PageB, SystemHarness.LeafRw);
        h.Submit((0x0000_0001_0007_7401, AddrDword1)); // PSCID 0x77 is device 5's, not process 3's (0x99)
        Assert.That(h.Device.Translate(new TranslationRequest(7, 3, SystemHarness.Iova, AccessType.Read)).PhysicalAddress,
            Is.EqualTo(SystemHarness.PageA), "PSCID 0x99 untouched");
        h.Submit((0x0000_0001_0009_9401, AddrDword1));
        Assert.That(h.Device.Translate(new TranslationRequest(7, 3, SystemHarness.Iova, AccessType.Read)).PhysicalAddress,
            Is.EqualTo(SystemHarness.PageB), "PSCID 0x99 flushed");
    }

    // IOTINVAL.GVMA: func3 1 (0x081), GV bit 33, GSCID 0x55 << 44 = 0x0005_5000_0000_0000, AV 0x400.
    [TestCase(0x0005_5002_0000_0081UL, 0UL, Description = "GV=1 GSCID 0x55")]
    [TestCase(0x0005_5002_0000_0481UL, AddrDword1, Description = "GV=1 AV=1 GSCID 0x55 GPA")]
    [TestCase(0x0000_0000_0000_0081UL, 0UL, Description = "GV=0: all VM address spaces")]
    public void Iotinval_gvma_flushes_g_stage_translations_of_its_gscid(ulong dword0, ulong dword1)
    {
        using var h = new SystemHarness();
        Assert.That(h.PaOf(8), Is.EqualTo(SystemHarness.PageA), "G-stage translation cached");
        h.Memory.Qword(SystemHarness.GL0 + 8) = SystemHarness.Pte(SystemHarness.PageB, SystemHarness.LeafRw);
        Assert.That(h.PaOf(8), Is.EqualTo(SystemHarness.PageA), "stale");
        h.Submit((0x0005_6002_0000_0081, 0)); // GSCID 0x56
        Assert.That(h.PaOf(8), Is.EqualTo(SystemHarness.PageA), "another GSCID flushes nothing");
        h.Submit((dword0, dword1));
        Assert.That(h.PaOf(8), Is.EqualTo(SystemHarness.PageB), "fresh");
    }

    [Test]
    public void Iodir_inval_ddt_drops_the_cached_device_context_of_that_device_only()
    {
        using var h = new SystemHarness();
        Assert.That(h.PaOf(5), Is.EqualTo(SystemHarness.PageA), "DC 5 cached");
        h.Memory.Qword(SystemHarness.Ddt + (5 * 32)) = 0; // DC.tc.V = 0
        Assert.That(h.PaOf(5), Is.EqualTo(SystemHarness.PageA), "stale DC still used");
        h.Submit((0x0000_0602_0000_0003, 0)); // DID 6
        Assert.That(h.PaOf(5), Is.EqualTo(SystemHarness.PageA), "DID 6 does not touch DC 5");
        h.Submit((0x0000_0502_0000_0003, 0)); // DID 5
        var result = h.Read(5);
        Assert.Multiple(() =>
        {
            Assert.That(result.Success, Is.False, "DC 5 re-read: not valid");
            Assert.That(h.Device.Read32(0x34), Is.EqualTo(1u), "one fault record");
            // CAUSE 258 = 0x102, TTYP 2 << 34 = 0x8_0000_0000, DID 5 << 40: dword0 0x0000_0508_0000_0102.
            Assert.That(h.FaultRecord(0), Is.EqualTo("0201000008050000" + "0000000000000000" + "0010004000000000" + "0000000000000000"),
                "DDT entry not valid, untranslated read, iotval = IOVA");
        });
    }

    [Test]
    public void Iodir_inval_pdt_drops_the_cached_process_context_of_that_process_only()
    {
        using var h = new SystemHarness();
        var request = new TranslationRequest(7, 3, SystemHarness.Iova, AccessType.Read);
        Assert.That(h.Device.Translate(request).Success, Is.True, "PC 3 cached");
        h.Memory.Qword(SystemHarness.Pdt + (3 * 16)) = 0x99UL << 12; // PC.ta.V = 0
        h.Submit((0x0000_0702_0000_4083, 0)); // PID 4
        Assert.That(h.Device.Translate(request).Success, Is.True, "PID 4 does not touch PC 3");
        h.Submit((0x0000_0702_0000_3083, 0)); // PID 3
        var result = h.Device.Translate(request);
        Assert.Multiple(() =>
        {
            Assert.That(result.Success, Is.False, "PC 3 re-read: not valid");
            Assert.That((ushort)result.Cause, Is.EqualTo((ushort)266), "PDT entry not valid");
        });
    }

    [Test]
    public void Iofence_c_after_invalidations_writes_its_completion_flag()
    {
        using var h = new SystemHarness();
        MakeStale(h, 5);
        h.Submit((0x0000_0001_0007_7401, AddrDword1), (0x0000_0001_0000_0402, DeviceHarness.FenceFlag >> 2));
        Assert.Multiple(() =>
        {
            Assert.That(h.Memory.Qword(DeviceHarness.FenceFlag), Is.EqualTo(1UL), "DATA written at completion");
            Assert.That(h.PaOf(5), Is.EqualTo(SystemHarness.PageB), "the invalidation before it has taken effect");
        });
    }

    [Test]
    public void Translation_faults_are_recorded_bit_exact()
    {
        using var h = new SystemHarness();
        Assert.That(h.Read(5, 0x4000_3000).Success, Is.False, "unmapped");
        var privileged = new TranslationRequest(7, 3, 0x4000_3000, AccessType.Write, privileged: true);
        Assert.That(h.Device.Translate(privileged).Success, Is.False, "unmapped for process 3 too");
        Assert.Multiple(() =>
        {
            // CAUSE 13, TTYP 2, DID 5: 0x0000_0508_0000_000D.
            Assert.That(h.FaultRecord(0), Is.EqualTo("0D00000008050000" + "0000000000000000" + "0030004000000000" + "0000000000000000"),
                "read page fault");
            // CAUSE 15, PID 3 << 12, PV, PRIV, TTYP 3 << 34, DID 7 << 40: 0x0000_070F_0000_300F.
            Assert.That(h.FaultRecord(1), Is.EqualTo("0F3000000F070000" + "0000000000000000" + "0030004000000000" + "0000000000000000"),
                "supervisor write page fault with process_id");
            Assert.That(h.Device.Read32(0x34), Is.EqualTo(2u), "fqt");
        });
    }

    [Test]
    public void Dtf_suppresses_page_fault_records_but_not_the_fault()
    {
        using var h = new SystemHarness();
        var result = h.Read(6, 0x4000_3000); // device 6 has DC.tc.DTF = 1
        Assert.Multiple(() =>
        {
            Assert.That(result.Success, Is.False, "the transaction still faults");
            Assert.That(h.Device.Read32(0x34), Is.Zero, "no record: page faults are not reported when DTF is 1");
        });
        h.Read(5, 0x4000_3000);
        Assert.That(h.Device.Read32(0x34), Is.EqualTo(1u), "the same fault on a DTF=0 device is recorded");
    }

    [Test]
    public void Debug_interface_round_trip()
    {
        using var h = new SystemHarness();
        h.Memory.Qword(SystemHarness.L1 + 8) = SystemHarness.Pte(0x8020_0000, SystemHarness.LeafRw); // 2 MiB at 0x4020_0000

        h.Device.Write64(0x258, 0x4000_1ABC);               // vpn 0x40001, low 12 bits reserved
        h.Device.Write64(0x260, 0x0000_0500_0000_0009);     // DID 5, NW (read only), Go
        Assert.Multiple(() =>
        {
            Assert.That(h.Device.Read64(0x258), Is.EqualTo(0x4000_1000UL), "tr_req_iova keeps vpn only");
            Assert.That(h.Device.Read64(0x260), Is.EqualTo(0x0000_0500_0000_0008UL), "Go/Busy back to 0, fields kept");
            // PPN 0x80040 << 10 = 0x2001_0000, S = 0, fault = 0.
            Assert.That(h.Device.Read64(0x268), Is.EqualTo(0x0000_0000_2001_0000UL), "4 KiB translation to 0x8004_0000");
        });

        h.Device.Write64(0x258, 0x4020_0000);
        h.Device.Write64(0x260, 0x0000_0500_0000_0001);     // read and write
        // Superpage 0x8020_0000, 2 MiB: PPN 0x80200 | 0xFF (first 0 at bit 8: 2^9 * 4 KiB) = 0x802FF;
        // 0x802FF << 10 = 0x200B_FC00, plus S (bit 9) = 0x200B_FE00.
        Assert.That(h.Device.Read64(0x268), Is.EqualTo(0x0000_0000_200B_FE00UL), "2 MiB encoded in the PPN with S");
        Assert.That(h.Device.Read32(0x34), Is.Zero, "no faults so far");

        h.Device.Write64(0x258, 0x4000_1000);
        h.Device.Write64(0x260, 0x0000_0500_0000_000D);     // NW, Exe, Go: the page is not executable
        Assert.Multiple(() =>
        {
            Assert.That(h.Device.Read64(0x268) & 1, Is.EqualTo(1UL), "fault");
            Assert.That(h.Device.Read32(0x34), Is.EqualTo(1u), "reported in the fault queue");
            // CAUSE 12 = 0x00C, TTYP 1 (untranslated execute) << 34 = 0x4_0000_0000, DID 5 << 40.
            Assert.That(h.FaultRecord(0)[..16], Is.EqualTo("0C00000004050000"), "instruction page fault, TTYP 1");
        });
    }

    [TestCase(1UL, 0x80UL, Description = "PBMT NC (1): tr_response bits 8:7 = 01")]
    [TestCase(2UL, 0x100UL, Description = "PBMT IO (2): tr_response bits 8:7 = 10")]
    public void Debug_interface_reports_the_leaf_pbmt(ulong pbmt, ulong responsePbmt)
    {
        using var h = new SystemHarness(capabilities: DeviceHarness.Capabilities | (1UL << 15)); // + Svpbmt
        h.Memory.Qword(SystemHarness.L0 + 8) |= pbmt << 61;  // the leaf of 0x4000_1000
        h.Device.Write64(0x258, 0x4000_1000);
        h.Device.Write64(0x260, 0x0000_0500_0000_0009);     // DID 5, NW, Go
        Assert.That(h.Device.Read64(0x268), Is.EqualTo(0x2001_0000UL | responsePbmt), "PPN 0x80040, S = 0, PBMT, no fault");
        h.Device.Write64(0x260, 0x0000_0500_0000_0009);     // again: now from the IOTLB
        Assert.That(h.Device.Read64(0x268), Is.EqualTo(0x2001_0000UL | responsePbmt), "a cached translation keeps its PBMT");
    }

    [Test]
    public void Debug_request_written_as_rv32_halves_runs_on_the_low_half_with_go()
    {
        using var h = new SystemHarness();
        h.Device.Write32(0x25C, 0);                 // tr_req_iova high
        h.Device.Write32(0x258, 0x4000_1000);       // tr_req_iova low
        h.Device.Write32(0x264, 0x0000_0500);       // tr_req_ctl high: DID 5 (bits 63:40 -> 31:8 of the high half)
        Assert.That(h.Device.Read64(0x268), Is.Zero, "nothing runs before Go");
        h.Device.Write32(0x260, 0x0000_0009);       // low half: NW, Go
        Assert.Multiple(() =>
        {
            Assert.That(h.Device.Read32(0x268), Is.EqualTo(0x2001_0000u), "tr_response low half: PPN 0x80040");
            Assert.That(h.Device.Read32(0x26C), Is.Zero, "tr_response high half");
            Assert.That(h.Device.Read64(0x260), Is.EqualTo(0x0000_0500_0000_0008UL), "Go/Busy cleared, the rest kept");
        });
        h.Device.Write64(0x268, ~0UL);
        Assert.That(h.Device.Read64(0x268), Is.EqualTo(0x2001_0000UL), "tr_response is RO");
    }

    [Test]
    public void Write64_of_go_with_the_translation_off_reports_all_inbound_disallowed()
    {
        using var h = new SystemHarness();
        h.Device.Write64(0x10, 0); // ddtp Off
        h.Device.Write64(0x258, 0x4000_1000);
        h.Device.Write64(0x260, 0x0000_0500_0000_0009);
        Assert.Multiple(() =>
        {
            Assert.That(h.Device.Read64(0x268), Is.EqualTo(1UL), "fault");
            // CAUSE 256 = 0x100, TTYP 2, DID 5.
            Assert.That(h.FaultRecord(0)[..16], Is.EqualTo("0001000008050000"), "all inbound transactions disallowed");
        });
    }
}
