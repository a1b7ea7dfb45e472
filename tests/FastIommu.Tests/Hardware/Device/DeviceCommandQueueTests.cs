using FastIommu.Hardware;

namespace FastIommu.Tests.Hardware.Device;

/// <summary>Command decoding and execution (spec "Command-Queue (CQ)"). Command words are worked out by hand from
/// the spec's field positions; the translator records what the device asked of it.</summary>
public class DeviceCommandQueueTests
{
    // IOFENCE.C, AV=0: opcode 2, func3 0.
    private const ulong Fence = 0x0000_0000_0000_0002;

    // IOTINVAL.VMA with GSCID 0x1234 (<< 44 = 0x0123_4000_0000_0000), PSCID 0xABCDE (<< 12 = 0xABCD_E000),
    // opcode 1; plus AV 0x400, PSCV 0x1_0000_0000, GV 0x2_0000_0000. ADDR 0x123_4567_8000: ADDR[63:12] =
    // 0x1234_5678 in dword1 bits 61:10 = 0x48_D159_E000.
    [TestCase(0x0123_4000_ABCD_E001UL, "VMA gv=False gscid=0x1234 pscv=False pscid=0xabcde av=False addr=0x12345678000")]
    [TestCase(0x0123_4001_ABCD_E001UL, "VMA gv=False gscid=0x1234 pscv=True pscid=0xabcde av=False addr=0x12345678000")]
    [TestCase(0x0123_4000_ABCD_E401UL, "VMA gv=False gscid=0x1234 pscv=False pscid=0xabcde av=True addr=0x12345678000")]
    [TestCase(0x0123_4001_ABCD_E401UL, "VMA gv=False gscid=0x1234 pscv=True pscid=0xabcde av=True addr=0x12345678000")]
    [TestCase(0x0123_4002_ABCD_E001UL, "VMA gv=True gscid=0x1234 pscv=False pscid=0xabcde av=False addr=0x12345678000")]
    [TestCase(0x0123_4003_ABCD_E001UL, "VMA gv=True gscid=0x1234 pscv=True pscid=0xabcde av=False addr=0x12345678000")]
    [TestCase(0x0123_4002_ABCD_E401UL, "VMA gv=True gscid=0x1234 pscv=False pscid=0xabcde av=True addr=0x12345678000")]
    [TestCase(0x0123_4003_ABCD_E401UL, "VMA gv=True gscid=0x1234 pscv=True pscid=0xabcde av=True addr=0x12345678000")]
    // IOTINVAL.GVMA: func3 1 -> low bits 0x081.
    [TestCase(0x0123_4000_0000_0081UL, "GVMA gv=False gscid=0x1234 av=False addr=0x12345678000")]
    [TestCase(0x0123_4002_0000_0081UL, "GVMA gv=True gscid=0x1234 av=False addr=0x12345678000")]
    [TestCase(0x0123_4002_0000_0481UL, "GVMA gv=True gscid=0x1234 av=True addr=0x12345678000")]
    public void Iotinval_passes_every_operand_combination_to_the_translator(ulong dword0, string expected)
    {
        using var h = new DeviceHarness();
        h.EnableCommandQueue();
        h.Submit((dword0, 0x0000_0048_D159_E000));
        Assert.Multiple(() =>
        {
            Assert.That(h.Backend.Calls, Is.EqualTo(new[] { expected }), "decoded operands");
            Assert.That(h.Cqh, Is.EqualTo(1u), "completed: cqh past it");
            Assert.That(h.CqCsr & 0x700u, Is.Zero, "no error bit");
        });
    }

    // IODIR: opcode 3; INVAL_PDT func3 1 (0x083). DV bit 33 (0x2_0000_0000), DID 0x42 << 40 = 0x4200_0000_0000,
    // PID 0x12345 << 12 = 0x1234_5000.
    [TestCase(0x0000_0000_0000_0003UL, "DDT dv=False did=0x0")]
    [TestCase(0x0000_4202_0000_0003UL, "DDT dv=True did=0x42")]
    [TestCase(0x0000_4202_1234_5083UL, "PDT did=0x42 pid=0x12345")]
    public void Iodir_invalidates_the_directory_caches(ulong dword0, string expected)
    {
        using var h = new DeviceHarness();
        h.EnableCommandQueue();
        h.Submit((dword0, 0));
        Assert.That(h.Backend.Calls, Is.EqualTo(new[] { expected }), "decoded operands");
    }

    [Test]
    public void Iofence_c_with_av_writes_data_as_a_four_byte_store()
    {
        using var h = new DeviceHarness();
        h.Memory.Qword(DeviceHarness.FenceFlag) = 0xFFFF_FFFF_FFFF_FFFF;
        h.Memory.Qword(DeviceHarness.FenceFlag + 8) = 0xFFFF_FFFF_FFFF_FFFF;
        h.EnableCommandQueue();
        // DATA 0xCAFEF00D in 63:32, AV 0x400, PR|PW 0x3000, opcode 2; ADDR[63:2] = 0x8000_3000 >> 2 = 0x2000_0C00.
        h.Submit((0xCAFE_F00D_0000_3402, 0x0000_0000_2000_0C00));
        // AV=0: DATA and ADDR ignored (ADDR names the second qword).
        h.Submit((0x1111_1111_0000_0002, 0x0000_0000_2000_0C02));
        Assert.Multiple(() =>
        {
            Assert.That(h.Memory.Qword(DeviceHarness.FenceFlag), Is.EqualTo(0xFFFF_FFFF_CAFE_F00DUL), "exactly 4 bytes, little-endian");
            Assert.That(h.Memory.Qword(DeviceHarness.FenceFlag + 8), Is.EqualTo(0xFFFF_FFFF_FFFF_FFFFUL), "AV=0 writes nothing");
            Assert.That(h.Cqh, Is.EqualTo(2u), "both completed");
            Assert.That(h.Backend.Fences, Is.EqualTo(2), "each IOFENCE.C waited for the translator's walks in flight");
        });
    }

    [Test]
    public void Iofence_c_wsi_sets_fence_w_ip_only_when_wired_interrupts_are_enabled()
    {
        using var h = new DeviceHarness();
        h.Device.Write32(0x08, 0x2); // fctl.WSI (IGS = BOTH)
        h.EnableCommandQueue();
        h.Device.Write32(0x48, 0x3); // cie
        h.Submit((0x0000_0000_0000_0802, 0)); // IOFENCE.C WSI=1
        Assert.Multiple(() =>
        {
            Assert.That(h.CqCsr, Is.EqualTo(0x0001_0803u), "fence_w_ip set, no error");
            Assert.That(h.Device.Read32(0x54) & 1, Is.EqualTo(1u), "cip");
        });
        h.Device.Write32(0x48, 0x3 | 0x800);
        Assert.That(h.CqCsr, Is.EqualTo(0x0001_0003u), "fence_w_ip is RW1C");

        using var msi = new DeviceHarness();
        msi.EnableCommandQueue();
        msi.Submit((0x0000_0000_0000_0802, 0));
        Assert.That(msi.CqCsr & 0xC00u, Is.EqualTo(0x400u), "with fctl.WSI = 0 the WSI bit is reserved: cmd_ill, no fence_w_ip");
        Assert.That(msi.Backend.Fences, Is.Zero, "an illegal IOFENCE.C does not run");
    }

    [Test]
    public void Ats_commands_are_recorded_as_messages_for_the_emulator()
    {
        using var h = new DeviceHarness();
        h.EnableCommandQueue();
        // ATS.INVAL: opcode 4; PID 0x12345 << 12, PV 1 << 32, DSV 1 << 33, RID 0xBEEF << 40, DSEG 7 << 56.
        // ATS.PRGR: func3 1 (0x084), RID 0x0001 << 40; payload PRG index 0x1FF << 32, response code 0xF << 44.
        h.Submit((0x07BE_EF03_1234_5004, 0x0000_1234_5678_0800), (0x0000_0100_0000_0084, 0x0000_F1FF_0000_0000));
        AtsMessage[] messages = h.Device.TakeAtsMessages();
        Assert.That(messages, Has.Length.EqualTo(2), "one message per command");
        Assert.Multiple(() =>
        {
            Assert.That(messages[0].Kind, Is.EqualTo(AtsMessageKind.Invalidate), "ATS.INVAL");
            Assert.That(messages[0].Rid, Is.EqualTo((ushort)0xBEEF), "RID 55:40");
            Assert.That(messages[0].Dseg, Is.EqualTo((byte)7), "DSEG 63:56");
            Assert.That(messages[0].Dsv && messages[0].Pv, Is.True, "DSV and PV");
            Assert.That(messages[0].Pid, Is.EqualTo(0x12345u), "PID 31:12");
            Assert.That(messages[0].Payload, Is.EqualTo(0x0000_1234_5678_0800UL), "payload as given");
            Assert.That(messages[1].Kind, Is.EqualTo(AtsMessageKind.PageRequestGroupResponse), "ATS.PRGR");
            Assert.That(messages[1].Rid, Is.EqualTo((ushort)1), "RID");
            Assert.That(h.Device.TakeAtsMessages(), Is.Empty, "taken once");
        });

        // Without capabilities.ATS (bit 25): 0xA3060610 - 0x02000000 = 0xA1060610.
        using var noAts = new DeviceHarness(0x0000_01F8_A106_0610);
        noAts.EnableCommandQueue();
        noAts.Submit((0x07BE_EF03_1234_5004, 0));
        Assert.That(noAts.CqCsr & 0x400u, Is.EqualTo(0x400u), "ATS commands are unsupported without capabilities.ATS: cmd_ill");
    }

    [TestCase(0x0000_0000_0000_0000UL, 0UL, Description = "opcode 0 reserved")]
    [TestCase(0x0000_0000_0000_0005UL, 0UL, Description = "opcode 5 reserved")]
    [TestCase(0x0000_0000_0000_003FUL, 0UL, Description = "opcode 63 reserved")]
    [TestCase(0x0000_0000_0000_0040UL, 0UL, Description = "opcode 64 custom, not implemented")]
    [TestCase(0x0000_0000_0000_007FUL, 0UL, Description = "opcode 127 custom")]
    [TestCase(0x0000_0000_0000_0101UL, 0UL, Description = "IOTINVAL func3 2")]
    [TestCase(0x0000_0000_0000_0082UL, 0UL, Description = "IOFENCE func3 1")]
    [TestCase(0x0000_0000_0000_0103UL, 0UL, Description = "IODIR func3 2")]
    [TestCase(0x0000_0000_0000_0104UL, 0UL, Description = "ATS func3 2")]
    [TestCase(0x0000_0003_0000_0081UL, 0UL, Description = "IOTINVAL.GVMA with PSCV=1")]
    [TestCase(0x0000_0000_0000_0801UL, 0UL, Description = "IOTINVAL reserved bit 11")]
    [TestCase(0x0000_0004_0000_0001UL, 0UL, Description = "IOTINVAL reserved bit 34")]
    [TestCase(0x1000_0000_0000_0001UL, 0UL, Description = "IOTINVAL reserved bit 60")]
    [TestCase(0x0000_0000_0000_0001UL, 0x1UL, Description = "IOTINVAL dword1 reserved bit 0")]
    [TestCase(0x0000_0000_0000_0001UL, 0x8000_0000_0000_0000UL, Description = "IOTINVAL dword1 reserved bit 63")]
    [TestCase(0x0000_0000_0000_4002UL, 0UL, Description = "IOFENCE.C reserved bit 14")]
    [TestCase(0x0000_0000_0000_0002UL, 0x4000_0000_0000_0000UL, Description = "IOFENCE.C dword1 reserved bit 62")]
    [TestCase(0x0000_4200_1234_5083UL, 0UL, Description = "IODIR.INVAL_PDT with DV=0")]
    [TestCase(0x0000_4202_0001_2003UL, 0UL, Description = "IODIR.INVAL_DDT with PID (reserved) != 0")]
    [TestCase(0x0000_0001_0000_0003UL, 0UL, Description = "IODIR reserved bit 32")]
    [TestCase(0x0000_0000_0000_0403UL, 0UL, Description = "IODIR reserved bit 10")]
    [TestCase(0x0000_0000_0000_0003UL, 0x1UL, Description = "IODIR dword1 reserved")]
    [TestCase(0x0000_0004_0000_0004UL, 0UL, Description = "ATS reserved bit 34")]
    public void Illegal_command_sets_cmd_ill_and_stops_the_queue_on_it(ulong dword0, ulong dword1)
    {
        using var h = new DeviceHarness();
        h.EnableCommandQueue();
        // A good fence, the bad command, then a fence that would write the flag.
        h.Submit((Fence, 0), (dword0, dword1), (0x0000_0001_0000_0402, DeviceHarness.FenceFlag >> 2));
        Assert.Multiple(() =>
        {
            Assert.That(h.CqCsr, Is.EqualTo(0x0001_0401u), "cmd_ill with the queue still on");
            Assert.That(h.Cqh, Is.EqualTo(1u), "cqh references the illegal command");
            Assert.That(h.Backend.Calls, Is.Empty, "the illegal command did nothing");
            Assert.That(h.Memory.Qword(DeviceHarness.FenceFlag), Is.Zero, "later commands did not run");
        });

        h.Device.Write32(0x48, 0x1 | 0x400); // clear cmd_ill: the same command is fetched again
        Assert.That(h.Cqh, Is.EqualTo(1u), "still stuck on the illegal command");

        h.Memory.Qword(DeviceHarness.CommandQueueBase + 16) = Fence; // software repairs it
        h.Memory.Qword(DeviceHarness.CommandQueueBase + 24) = 0;
        h.Device.Write32(0x48, 0x1 | 0x400);
        Assert.Multiple(() =>
        {
            Assert.That(h.Cqh, Is.EqualTo(3u), "resumed to the tail");
            Assert.That(h.Memory.Qword(DeviceHarness.FenceFlag), Is.EqualTo(1UL), "the last fence wrote its data");
        });
    }

    [Test]
    public void Iodir_with_a_device_id_wider_than_the_ddt_is_illegal_and_pid_wider_than_pd_support_too()
    {
        using var h = new DeviceHarness();
        h.Device.Write64(0x10, 0x2); // 1LVL, 32-byte DCs: 7-bit device_id
        h.EnableCommandQueue();
        h.Submit((0x0000_7F02_0000_0003, 0)); // DID 0x7F: fits
        h.Submit((0x0000_8002_0000_0003, 0)); // DID 0x80: does not
        Assert.Multiple(() =>
        {
            Assert.That(h.Backend.Calls, Is.EqualTo(new[] { "DDT dv=True did=0x7f" }), "DID 0x7f accepted");
            Assert.That(h.CqCsr & 0x400u, Is.EqualTo(0x400u), "DID 0x80 is wider than 1LVL allows: cmd_ill");
        });

        // PD8 only: high word 0x38 | 1 << 6 = 0x78. PID 0x100 needs 9 bits.
        using var pd8 = new DeviceHarness(0x0000_0078_A306_0610);
        pd8.EnableCommandQueue();
        pd8.Submit((0x0000_4202_000F_F083, 0), (0x0000_4202_0010_0083, 0));
        Assert.Multiple(() =>
        {
            Assert.That(pd8.Backend.Calls, Is.EqualTo(new[] { "PDT did=0x42 pid=0xff" }), "PID 0xff fits PD8");
            Assert.That(pd8.Cqh, Is.EqualTo(1u), "PID 0x100 is illegal with PD8 only");
        });
    }

    [Test]
    public void Memory_fault_fetching_a_command_or_writing_fence_data_sets_cqmf()
    {
        using var h = new DeviceHarness();
        h.EnableCommandQueue(queueBase: 0x1000_0000); // not memory
        h.Device.Write32(0x24, 1);
        Assert.Multiple(() =>
        {
            Assert.That(h.CqCsr, Is.EqualTo(0x0001_0101u), "cqmf on the fetch");
            Assert.That(h.Cqh, Is.Zero, "cqh on the command that could not be read");
        });

        using var fence = new DeviceHarness();
        fence.EnableCommandQueue();
        fence.Submit((Fence, 0), (0x0000_0001_0000_0402, 0x1000_0000 >> 2), (Fence, 0));
        Assert.Multiple(() =>
        {
            Assert.That(fence.CqCsr, Is.EqualTo(0x0001_0101u), "cqmf on the data write");
            Assert.That(fence.Cqh, Is.EqualTo(1u), "cqh holds the IOFENCE.C that did not complete");
        });
    }

    [Test]
    public void Head_and_tail_wrap_at_two_to_the_log2sz()
    {
        using var h = new DeviceHarness();
        h.EnableCommandQueue(log2SizeMinus1: 1); // 4 entries
        for (uint round = 0; round < 3; round++)
        {
            // Three fences writing data (round * 3 + i + 1) to qword i of the flag page.
            var commands = new (ulong, ulong)[3];
            for (uint i = 0; i < 3; i++)
            {
                ulong data = (round * 3) + i + 1;
                commands[i] = ((data << 32) | 0x402, (DeviceHarness.FenceFlag + (i * 8)) >> 2);
            }

            h.Submit(commands);
            Assert.Multiple(() =>
            {
                Assert.That(h.Cqh, Is.EqualTo((round + 1) * 3 % 4), $"round {round}: cqh wrapped modulo 4");
                Assert.That(h.Device.Read32(0x24), Is.EqualTo((round + 1) * 3 % 4), "cqt as written");
                Assert.That(h.Memory.Qword(DeviceHarness.FenceFlag + 16), Is.EqualTo((ulong)((round * 3) + 3)), "every command of the round ran");
            });
        }
    }

    [Test]
    public void Nothing_runs_while_the_queue_is_off_and_deferred_processing_waits_for_process_commands()
    {
        using var h = new DeviceHarness();
        h.Device.Write64(0x18, ((DeviceHarness.CommandQueueBase >> 12) << 10) | 5);
        h.Memory.Qword(DeviceHarness.CommandQueueBase) = 0x0000_0005_0000_0402;
        h.Memory.Qword(DeviceHarness.CommandQueueBase + 8) = DeviceHarness.FenceFlag >> 2;
        h.Device.Write32(0x24, 1);
        Assert.That(h.Memory.Qword(DeviceHarness.FenceFlag), Is.Zero, "cqen = 0: not fetched");
        h.Device.Write32(0x48, 1);
        Assert.That(h.Memory.Qword(DeviceHarness.FenceFlag), Is.EqualTo(5UL), "enabling the queue runs what is queued");

        using var deferred = new DeviceHarness(options: new IommuOptions { ProcessCommandsOnTailWrite = false });
        deferred.EnableCommandQueue();
        deferred.Submit((0x0000_0007_0000_0402, DeviceHarness.FenceFlag >> 2), (Fence, 0));
        Assert.That(deferred.Cqh, Is.Zero, "not processed on the tail write");
        Assert.Multiple(() =>
        {
            Assert.That(deferred.Device.ProcessCommands(), Is.EqualTo(2), "two commands completed");
            Assert.That(deferred.Cqh, Is.EqualTo(2u), "cqh at the tail");
            Assert.That(deferred.Memory.Qword(DeviceHarness.FenceFlag), Is.EqualTo(7UL), "fence data written");
        });
    }
}

/// <summary>fctl.BE (with capabilities.END): queue entries and IOFENCE.C data are big-endian doublewords.</summary>
public class DeviceBigEndianQueueTests
{
    [Test]
    public void Big_endian_commands_fence_data_and_fault_records()
    {
        // capabilities.END (bit 27): 0xA3060610 + 0x08000000 = 0xAB060610.
        using var h = new DeviceHarness(0x0000_01F8_AB06_0610);
        h.Device.Write32(0x08, 0x1);
        Assert.That(h.Device.Read32(0x08), Is.EqualTo(0x1u), "fctl.BE set");
        h.EnableCommandQueue();
        h.EnableFaultQueue();
        // IOFENCE.C AV=1 DATA 0xCAFEF00D to the flag, each doubleword stored big-endian.
        h.Memory.Qword(DeviceHarness.CommandQueueBase) = System.Buffers.Binary.BinaryPrimitives.ReverseEndianness(0xCAFE_F00D_0000_0402UL);
        h.Memory.Qword(DeviceHarness.CommandQueueBase + 8) = System.Buffers.Binary.BinaryPrimitives.ReverseEndianness(DeviceHarness.FenceFlag >> 2);
        h.Device.Write32(0x24, 1);
        h.Device.Report(0x0000_0508_0000_000D, 0x4000_3000, 0);
        Assert.Multiple(() =>
        {
            Assert.That(h.Cqh, Is.EqualTo(1u), "the big-endian command decoded and completed");
            Assert.That(Convert.ToHexString(h.Memory.GetSpan(DeviceHarness.FenceFlag, 4)), Is.EqualTo("CAFEF00D"), "4-byte store, big-endian");
            Assert.That(Convert.ToHexString(h.Memory.GetSpan(DeviceHarness.FaultQueueBase, 32)),
                Is.EqualTo("000005080000000D" + "0000000000000000" + "0000000040003000" + "0000000000000000"), "record doublewords big-endian");
        });
    }
}
