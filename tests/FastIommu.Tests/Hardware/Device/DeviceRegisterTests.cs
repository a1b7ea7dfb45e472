using FastIommu.Hardware;

namespace FastIommu.Tests.Hardware.Device;

/// <summary>Access rules of each register (spec "Memory-mapped register interface").</summary>
public class DeviceRegisterTests
{
    [Test]
    public void Capabilities_is_read_only_and_readable_as_two_halves()
    {
        using var h = new DeviceHarness();
        h.Device.Write64(0x00, ~0UL);
        h.Device.Write32(0x04, 0);
        Assert.Multiple(() =>
        {
            Assert.That(h.Device.Read64(0x00), Is.EqualTo(DeviceHarness.Capabilities), "RO: writes ignored");
            Assert.That(h.Device.Read32(0x00), Is.EqualTo(0xA306_0610u), "low half");
            Assert.That(h.Device.Read32(0x04), Is.EqualTo(0x0000_01F8u), "high half");
        });
    }

    [TestCase(0x058u, Description = "iocountovf (no HPM)")]
    [TestCase(0x060u, Description = "iohpmcycles (no HPM)")]
    [TestCase(0x270u, Description = "iommu_qosid (no QOSID)")]
    [TestCase(0x278u, Description = "reserved")]
    [TestCase(0x400u, Description = "reserved for standard use")]
    [TestCase(0xFF8u, Description = "last qword of the page")]
    public void Reserved_offsets_read_zero_and_ignore_writes(uint offset)
    {
        using var h = new DeviceHarness();
        h.Device.Write64(offset, 0xFFFF_FFFF_FFFF_FFFF);
        h.Device.Write32(offset + 4, 0xFFFF_FFFF);
        Assert.Multiple(() =>
        {
            Assert.That(h.Device.Read64(offset), Is.Zero, "8-byte read of a reserved offset");
            Assert.That(h.Device.Read32(offset), Is.Zero, "4-byte read of a reserved offset");
        });
    }

    [Test]
    public void The_custom_word_after_fctl_reads_zero_and_ignores_writes()
    {
        using var h = new DeviceHarness();
        h.Device.Write32(0x0C, 0xFFFF_FFFF);
        Assert.Multiple(() =>
        {
            Assert.That(h.Device.Read32(0x0C), Is.Zero, "custom word at 0x0C not implemented");
            Assert.That(h.Device.Read64(0x08), Is.Zero, "fctl (0) and the custom word (0) read together");
        });
    }

    [Test]
    public void Optional_registers_are_absent_without_their_capability()
    {
        // Capabilities without ATS (bit 25) and DBG (bit 31): 0xA3060610 - 0x02000000 - 0x80000000 = 0x21060610.
        using var h = new DeviceHarness(0x0000_01F8_2106_0610);
        h.Device.Write64(0x38, 0x0000_0000_0002_0401); // pqb
        h.Device.Write32(0x50, 1);                     // pqcsr.pqen
        h.Device.Write64(0x258, 0x1000);               // tr_req_iova
        Assert.Multiple(() =>
        {
            Assert.That(h.Device.Read64(0x38), Is.Zero, "pqb absent when ATS = 0");
            Assert.That(h.Device.Read32(0x50), Is.Zero, "pqcsr absent when ATS = 0");
            Assert.That(h.Device.Read64(0x258), Is.Zero, "tr_req_iova absent when DBG = 0");
        });
    }

    [Test]
    public void Fctl_is_warl_wsi_writable_only_with_igs_both_be_only_with_end()
    {
        using var both = new DeviceHarness();
        both.Device.Write32(0x08, 0xFFFF_FFFF);
        Assert.That(both.Device.Read32(0x08), Is.EqualTo(0x2u), "IGS=BOTH: WSI sticks; END=0: BE stays 0; no Sv32x4: GXL 0; rest reserved");
        Assert.That(both.Backend.Fctl, Is.EqualTo(0x2u), "the translator sees the new fctl");

        // IGS=WSI (1 << 28): 0xA3060610 - 0x20000000 + 0x10000000 = 0x93060610; END (bit 27) set: 0x9B060610.
        using var wsiOnly = new DeviceHarness(0x0000_01F8_9B06_0610);
        Assert.That(wsiOnly.Device.Read32(0x08), Is.EqualTo(0x2u), "WSI-only IOMMU: fctl.WSI hard-wired to 1 from reset");
        wsiOnly.Device.Write32(0x08, 0x1);
        Assert.That(wsiOnly.Device.Read32(0x08), Is.EqualTo(0x3u), "END=1: BE writable, WSI still 1");

        // IGS=MSI: 0xA3060610 - 0x20000000 = 0x83060610.
        using var msiOnly = new DeviceHarness(0x0000_01F8_8306_0610);
        msiOnly.Device.Write32(0x08, 0x2);
        Assert.That(msiOnly.Device.Read32(0x08), Is.Zero, "MSI-only IOMMU: WSI hard-wired to 0");
    }

    [Test]
    public void Fctl_changes_only_while_the_iommu_is_off_and_the_queues_are_off()
    {
        using var h = new DeviceHarness();
        h.EnableCommandQueue();
        h.Device.Write32(0x08, 0x2);
        Assert.That(h.Device.Read32(0x08), Is.Zero, "ignored while cqon");
        h.Device.Write32(0x48, 0);
        h.Device.Write64(0x10, 0x1); // Bare
        h.Device.Write32(0x08, 0x2);
        Assert.That(h.Device.Read32(0x08), Is.Zero, "ignored while ddtp.iommu_mode != Off");
        h.Device.Write64(0x10, 0x0);
        h.Device.Write32(0x08, 0x2);
        Assert.That(h.Device.Read32(0x08), Is.EqualTo(0x2u), "accepted once Off with the queues off");
    }

    [Test]
    public void Ddtp_resets_to_off_and_its_busy_bit_reads_zero()
    {
        using var h = new DeviceHarness();
        Assert.That(h.Device.Read64(0x10), Is.Zero, "reset: Off, busy 0");
        h.Device.Write64(0x10, 0x0000_0000_0020_0012); // 1LVL (2) | busy (0x10) | PPN 0x800 << 10 = 0x200000
        Assert.Multiple(() =>
        {
            Assert.That(h.Device.Read64(0x10), Is.EqualTo(0x0000_0000_0020_0002UL), "busy is RO 0 (mode change is synchronous)");
            Assert.That(h.Backend.Ddtp, Is.EqualTo(0x0000_0000_0020_0002UL), "the translator sees the new ddtp");
        });

        using var bare = new DeviceHarness(options: new IommuOptions { ResetToBare = true });
        Assert.That(bare.Device.Read64(0x10), Is.EqualTo(1UL), "reset to Bare when so configured");
    }

    // Spec: any mode -> Off; Off -> Bare; Off/Bare -> 1LVL/2LVL/3LVL. The rest is UNSPECIFIED and ignored here.
    [TestCase(0UL, 1UL, 1UL, Description = "Off -> Bare")]
    [TestCase(0UL, 2UL, 2UL, Description = "Off -> 1LVL")]
    [TestCase(0UL, 4UL, 4UL, Description = "Off -> 3LVL")]
    [TestCase(1UL, 3UL, 3UL, Description = "Bare -> 2LVL")]
    [TestCase(1UL, 0UL, 0UL, Description = "Bare -> Off")]
    [TestCase(3UL, 0UL, 0UL, Description = "2LVL -> Off")]
    [TestCase(2UL, 3UL, 2UL, Description = "1LVL -> 2LVL: must pass through Off/Bare")]
    [TestCase(4UL, 1UL, 4UL, Description = "3LVL -> Bare: only from Off")]
    [TestCase(2UL, 2UL, 2UL, Description = "1LVL -> 1LVL with a new PPN: ignored")]
    [TestCase(0UL, 5UL, 0UL, Description = "reserved mode 5: WARL keeps Off")]
    [TestCase(0UL, 15UL, 0UL, Description = "custom mode 15: WARL keeps Off")]
    public void Ddtp_mode_transitions(ulong from, ulong to, ulong expectedMode)
    {
        using var h = new DeviceHarness();
        if (from is 2 or 3 or 4)
        {
            h.Device.Write64(0x10, 0x0000_0000_0004_0000 | from); // PPN 0x100
        }
        else
        {
            h.Device.Write64(0x10, from);
        }

        h.Device.Write64(0x10, 0x0000_0000_0008_0000 | to); // PPN 0x200
        Assert.That(h.Device.Read64(0x10) & 0xF, Is.EqualTo(expectedMode), $"mode after {from} -> {to}");
    }

    [Test]
    public void Ddtp_unimplemented_depth_keeps_the_old_value_and_ppn_is_limited_to_pas()
    {
        // PAS 40 (0x28): high word 0x1C0 | 0x28 = 0x1E8. PPN has 28 writable bits: 53:10 -> 37:10.
        using var h = new DeviceHarness(0x0000_01E8_A306_0610, new IommuOptions { DdtModes = SupportedDdtModes.OneLevel });
        h.Device.Write64(0x10, 0x0000_0000_0000_0003);
        Assert.That(h.Device.Read64(0x10), Is.Zero, "2LVL not implemented: ddtp keeps Off");
        h.Device.Write64(0x10, 0xFFFF_FFFF_FFFF_FC02);
        Assert.That(h.Device.Read64(0x10), Is.EqualTo(0x0000_003F_FFFF_FC02UL), "1LVL with PPN bits 37:10 only (PA below 2^40)");
    }

    [Test]
    public void Ddtp_can_be_written_as_two_halves_high_first()
    {
        using var h = new DeviceHarness();
        h.Device.Write32(0x14, 0x0000_0012);  // PPN bits 53:32 -> PPN[43:22] = 0x12
        h.Device.Write32(0x10, 0x0000_0403);  // PPN[21:0] = 1, mode 2LVL
        Assert.Multiple(() =>
        {
            Assert.That(h.Device.Read64(0x10), Is.EqualTo(0x0000_0012_0000_0403UL), "both halves land");
            Assert.That(h.Device.Read32(0x14), Is.EqualTo(0x12u), "high half reads back alone");
        });
    }

    [Test]
    public void Queue_base_keeps_log2sz_and_ppn_and_drops_reserved_bits()
    {
        using var h = new DeviceHarness();
        h.Device.Write64(0x18, 0xFFC0_0000_8000_07FF); // reserved 63:54 and 9:5 set
        h.Device.Write64(0x28, 0x0000_0000_0020_0803);
        Assert.Multiple(() =>
        {
            Assert.That(h.Device.Read64(0x18), Is.EqualTo(0x0000_0000_8000_041FUL), "cqb: LOG2SZ-1 4:0 and PPN 53:10 only");
            Assert.That(h.Device.Read64(0x28), Is.EqualTo(0x0000_0000_0020_0803UL), "fqb as written");
        });
    }

    [Test]
    public void Queue_base_is_frozen_while_the_queue_is_on()
    {
        using var h = new DeviceHarness();
        h.EnableCommandQueue();
        h.EnableFaultQueue();
        ulong cqb = h.Device.Read64(0x18);
        ulong fqb = h.Device.Read64(0x28);
        h.Device.Write64(0x18, 0x0000_0000_0020_0400);
        h.Device.Write64(0x28, 0x0000_0000_0020_0400);
        Assert.Multiple(() =>
        {
            Assert.That(h.Device.Read64(0x18), Is.EqualTo(cqb), "cqb ignored while cqon");
            Assert.That(h.Device.Read64(0x28), Is.EqualTo(fqb), "fqb ignored while fqon");
        });
    }

    [Test]
    public void Cqt_keeps_only_log2sz_bits_and_cqh_fqt_are_read_only()
    {
        using var h = new DeviceHarness();
        h.Device.Write64(0x18, ((DeviceHarness.CommandQueueBase >> 12) << 10) | 2); // 8 entries
        h.Device.Write32(0x24, 0xFFFF_FFF5);
        h.Device.Write32(0x20, 3);
        h.Device.Write32(0x34, 3);
        Assert.Multiple(() =>
        {
            Assert.That(h.Device.Read32(0x24), Is.EqualTo(5u), "cqt: only bits 2:0 writable");
            Assert.That(h.Device.Read32(0x20), Is.Zero, "cqh is RO");
            Assert.That(h.Device.Read32(0x34), Is.Zero, "fqt is RO");
        });
        h.Device.Write64(0x18, ((DeviceHarness.CommandQueueBase >> 12) << 10) | 1); // 4 entries
        Assert.That(h.Device.Read32(0x24), Is.EqualTo(1u), "writing cqb zeroes cqt bits 31:LOG2SZ");
    }

    [Test]
    public void Eight_byte_access_to_a_pair_of_four_byte_registers()
    {
        using var h = new DeviceHarness(options: new IommuOptions { ProcessCommandsOnTailWrite = false });
        h.Device.Write64(0x18, ((DeviceHarness.CommandQueueBase >> 12) << 10) | 5);
        h.Device.Write64(0x20, 0x0000_0007_0000_0009); // cqh (RO) and cqt = 7
        h.Device.Write32(0x48, 1);
        Assert.Multiple(() =>
        {
            Assert.That(h.Device.Read64(0x20), Is.EqualTo(0x0000_0007_0000_0000UL), "cqt took the high half; cqh stayed 0 (RO)");
            Assert.That(h.Device.Read64(0x48), Is.EqualTo(0x0000_0000_0001_0001UL), "cqcsr in the low half, fqcsr in the high half");
        });
    }

    [TestCase(0x002u, 4u)]
    [TestCase(0x004u, 8u)]
    [TestCase(0x1000u, 4u)]
    public void Misaligned_or_out_of_page_access_is_refused(uint offset, uint size)
    {
        using var h = new DeviceHarness();
        var error = Assert.Throws<ArgumentOutOfRangeException>(() =>
        {
            if (size == 4)
            {
                h.Device.Read32(offset);
            }
            else
            {
                h.Device.Read64(offset);
            }
        });
        Assert.That(error!.Message, Does.Contain($"0x{offset:x}"), "the message names the offset");
    }

    [Test]
    public void Command_queue_enable_handshake_resets_cqh_and_error_bits()
    {
        using var h = new DeviceHarness();
        h.EnableCommandQueue();
        Assert.That(h.CqCsr, Is.EqualTo(0x0001_0001u), "cqen and cqon, busy 0");
        h.Submit((0x0000_0000_0000_0002, 0), (0x0000_0000_0000_0000, 0)); // IOFENCE.C, then opcode 0: illegal
        Assert.That(h.CqCsr, Is.EqualTo(0x0001_0401u), "cmd_ill set");
        Assert.That(h.Cqh, Is.EqualTo(1u), "cqh on the illegal command");
        h.Device.Write32(0x48, 0);
        Assert.That(h.CqCsr, Is.EqualTo(0x0000_0400u), "off: cqen and cqon clear, error bit stays");
        h.Device.Write32(0x24, 0); // software rewinds its tail while the queue is off
        h.Device.Write32(0x48, 0x2 | 0x1);
        Assert.Multiple(() =>
        {
            Assert.That(h.CqCsr, Is.EqualTo(0x0001_0003u), "cqen 0->1 clears cmd_ill; cie RW");
            Assert.That(h.Cqh, Is.Zero, "cqen 0->1 zeroes cqh");
        });
    }

    [Test]
    public void Fault_and_page_request_queue_enable_handshakes()
    {
        using var h = new DeviceHarness();
        // fie stays 0 here: with fctl.WSI = 0 a fip edge would send an MSI to msi_addr_0 (0, not memory).
        h.EnableFaultQueue();
        Assert.That(h.Device.Read32(0x4C), Is.EqualTo(0x0001_0001u), "fqen, fqon");
        h.Device.Report(0x0000_0000_0000_0105, 0, 0);
        Assert.That(h.Device.Read32(0x34), Is.EqualTo(1u), "one record: fqt 1");
        h.Device.Write32(0x4C, 0);
        Assert.That(h.Device.Read32(0x4C), Is.Zero, "off");
        Assert.That(h.Device.Read32(0x34), Is.EqualTo(1u), "fqt kept while off");
        h.Device.Write32(0x4C, 1);
        Assert.That(h.Device.Read32(0x34), Is.Zero, "fqen 0->1 zeroes fqt");

        h.Device.Write64(0x38, 0x0000_0000_0020_1001);
        h.Device.Write32(0x50, 0x3);
        Assert.That(h.Device.Read32(0x50), Is.EqualTo(0x0001_0003u), "pqen, pie, pqon");
        h.Device.Write32(0x50, 0);
        Assert.That(h.Device.Read32(0x50), Is.Zero, "pq off");
    }

    [Test]
    public void Ipsr_is_rw1c_and_rises_again_while_its_condition_holds()
    {
        using var h = new DeviceHarness();
        var raised = new List<(IommuInterruptSource Source, int Vector)>();
        h.Device.InterruptRequested = (source, vector) => raised.Add((source, vector));
        h.Device.Write64(0x2F8, 0xFFFF_FFFF_FFFF_4321); // icvec: civ 1, fiv 2, pmiv 3, piv 4; rest reserved
        Assert.That(h.Device.Read64(0x2F8), Is.EqualTo(0x4321UL), "icvec keeps bits 15:0");

        h.EnableCommandQueue();
        h.Device.Write32(0x48, 0x3); // cie
        h.Submit((0x0000_0000_0000_0005, 0)); // opcode 5: reserved -> cmd_ill
        Assert.Multiple(() =>
        {
            Assert.That(h.Device.Read32(0x54), Is.EqualTo(0x1u), "cip");
            Assert.That(raised, Is.EqualTo(new[] { (IommuInterruptSource.CommandQueue, 1) }), "one edge, vector civ = 1");
        });

        h.Device.Write32(0x54, 0xFFFF_FFFF);
        Assert.That(h.Device.Read32(0x54), Is.EqualTo(0x1u), "cleared, but cmd_ill still set with cie: cip rises again");
        h.Device.Write32(0x48, 0x3 | 0x400); // clear cmd_ill (the bad command is still at cqh, so it fails again)
        h.Device.Write32(0x48, 0x0);         // turn the queue off: cmd_ill stays but cie is 0
        h.Device.Write32(0x54, 0x1);
        Assert.Multiple(() =>
        {
            Assert.That(h.Device.Read32(0x54), Is.Zero, "no condition left: cip stays clear");
            Assert.That(raised, Has.Count.EqualTo(2), "edges: first cmd_ill, re-raise after RW1C (the retried command found cip still 1)");
        });
    }
}
