using FastIommu.Formats.RiscV;
using FastIommu.Hardware;
using FastIommu.Memory;

namespace FastIommu.Tests.Reliability;

/// <summary>
/// The hardware model's bad-input matrix: ids at their maximum and one past it, a full command queue, a full fault
/// queue, register values the spec calls reserved or WARL. Each gets the spec's documented outcome (a result, a
/// fault cause, a WARL read-back, an ignored write) and changes nothing it should not: memory is compared byte for
/// byte before and after.
/// </summary>
public class HardwareBadInputTests
{
    private const ulong Base = 0x8000_0000;
    private const ulong Size = 0x10_0000;
    // version 1.0, Sv39, Sv39x4, AMO_HWAD, ATS, IGS MSI, PAS 40, PD8/17/20.
    private const ulong Caps = 0x10 | (1UL << 9) | (1UL << 17) | (1UL << 24) | (1UL << 25) | (40UL << 32) | (7UL << 38);

    private static byte[] Snapshot(PhysicalMemory memory) => memory.GetSpan(Base, (int)Size).ToArray();

    private static void AssertUnchanged(PhysicalMemory memory, byte[] before, string what) =>
        Assert.That(memory.GetSpan(Base, (int)Size).SequenceEqual(before), Is.True, $"{what}: memory changed");

    /// <summary>A DC for <paramref name="deviceId"/> in a DDT of <paramref name="levels"/> levels (base format), with
    /// the non-leaf pages at Base + 0x1000... Returns the DC's address.</summary>
    private static ulong PlaceDc(PhysicalMemory memory, int levels, uint deviceId)
    {
        ulong table = Base;
        ulong next = Base + 0x1000;
        for (int level = levels - 1; level > 0; level--)
        {
            int shift = 7 + ((level - 1) * 9);
            ulong entry = table + (((deviceId >> shift) & 0x1FF) * 8);
            memory.Qword(entry) = ((next >> 12) << 10) | 1;
            table = next;
            next += 0x1000;
        }

        return table + ((deviceId & 0x7F) * 32);
    }

    [TestCase(1, 0x7Fu, TestName = "1LVL: device_id 127 translates, 128 is cause 260")]
    [TestCase(2, 0xFFFFu, TestName = "2LVL: device_id 0xFFFF translates, 0x10000 is cause 260")]
    [TestCase(3, 0xFF_FFFFu, TestName = "3LVL: device_id 0xFFFFFF translates, 0x1000000 cannot be requested")]
    public void Device_id_at_its_maximum_translates_and_one_past_is_disallowed(int levels, uint maxId)
    {
        using var memory = PhysicalMemory.Allocate(Size, Base);
        ulong dc = PlaceDc(memory, levels, maxId);
        memory.Qword(dc) = 1; // tc.V; both stages Bare: identity
        var translator = new IommuTranslator(memory, new Capabilities(Caps)) { Ddtp = new Ddtp(((Base >> 12) << 10) | (ulong)(1 + levels)) };
        byte[] before = Snapshot(memory);
        TranslationResult max = translator.Translate(new TranslationRequest(maxId, 0x1234_5678, AccessType.Write));
        Assert.Multiple(() =>
        {
            Assert.That(max.Success && max.PhysicalAddress == 0x1234_5678, Is.True, $"the largest device_id the mode indexes: {max}");
            if (maxId < TranslationRequest.MaxDeviceId)
            {
                TranslationResult past = translator.Translate(new TranslationRequest(maxId + 1, 0x1234_5678, AccessType.Write));
                Assert.That(past.Cause, Is.EqualTo(FaultCause.TransactionTypeDisallowed), $"one past the mode's device_id width: {past}");
            }

            // device_id is 24 bits on the bus: a wider one is bad input to the model, refused before any translation.
            Assert.That(() => new TranslationRequest(TranslationRequest.MaxDeviceId + 1, 0x1234_5678, AccessType.Write),
                Throws.TypeOf<ArgumentOutOfRangeException>(), "device_id 2^24 cannot be requested");
            Assert.That(() => new TranslationRequest(uint.MaxValue, 0x1234_5678, AccessType.Write),
                Throws.TypeOf<ArgumentOutOfRangeException>(), "device_id 0xFFFFFFFF cannot be requested");
        });
        AssertUnchanged(memory, before, "translations");
    }

    [TestCase(1, 0xFFu, TestName = "PD8: process_id 0xFF translates, 0x100 is cause 260")]
    [TestCase(2, 0x1_FFFFu, TestName = "PD17: process_id 0x1FFFF translates, 0x20000 is cause 260")]
    [TestCase(3, 0xF_FFFFu, TestName = "PD20: process_id 0xFFFFF translates, 0x100000 is cause 260")]
    public void Process_id_at_its_maximum_translates_and_one_past_is_disallowed(int pdMode, uint maxPid)
    {
        using var memory = PhysicalMemory.Allocate(Size, Base);
        ulong dc = PlaceDc(memory, 1, 1);
        ulong pdtRoot = Base + 0x1_0000;
        memory.Qword(dc) = 1 | (1UL << 5);                                    // tc: V, PDTV
        memory.Qword(dc + 24) = ((ulong)pdMode << 60) | (pdtRoot >> 12);      // fsc = pdtp
        ulong table = pdtRoot, next = pdtRoot + 0x1000;
        for (int level = pdMode - 1; level > 0; level--)
        {
            int shift = 8 + ((level - 1) * 9);
            memory.Qword(table + (((maxPid >> shift) & 0x1FF) * 8)) = ((next >> 12) << 10) | 1;
            table = next;
            next += 0x1000;
        }

        memory.Qword(table + ((maxPid & 0xFF) * 16)) = 1 | (7UL << 12);      // PC.ta: V, PSCID 7; fsc Bare
        var translator = new IommuTranslator(memory, new Capabilities(Caps)) { Ddtp = new Ddtp(((Base >> 12) << 10) | 2) };
        byte[] before = Snapshot(memory);
        TranslationResult max = translator.Translate(new TranslationRequest(1, maxPid, 0x5000, AccessType.Read));
        TranslationResult past = translator.Translate(new TranslationRequest(1, maxPid + 1, 0x5000, AccessType.Read));
        TranslationResult huge = translator.Translate(new TranslationRequest(1, uint.MaxValue, 0x5000, AccessType.Read));
        Assert.Multiple(() =>
        {
            Assert.That(max.Success && max.PhysicalAddress == 0x5000, Is.True, $"the largest process_id of the PDT mode: {max}");
            Assert.That(past.Cause, Is.EqualTo(FaultCause.TransactionTypeDisallowed), $"one past the PDT mode's width: {past}");
            Assert.That(huge.Cause, Is.EqualTo(FaultCause.TransactionTypeDisallowed), $"process_id 0xFFFFFFFF: {huge}");
        });
        AssertUnchanged(memory, before, "translations");
    }

    [Test]
    public void Invalidations_with_every_id_at_its_maximum_drop_exactly_their_entries()
    {
        // Device 1: Sv39x4 G-stage with GSCID 0xFFFF, first stage Sv39 with PSCID 0xFFFFF; device 2 the same tables
        // with GSCID 0xFFFE. IOTINVAL.VMA GV=1 GSCID 0xFFFF PSCV=1 PSCID 0xFFFFF must drop device 1's entry only.
        using var memory = PhysicalMemory.Allocate(Size, Base);
        var translator = new IommuTranslator(memory, new Capabilities(Caps)) { Ddtp = new Ddtp(((Base >> 12) << 10) | 2) };
        ulong gRoot = Base + 0x4000, fsRoot = Base + 0x8000;
        memory.Qword(gRoot + (2 * 8)) = ((Base >> 12) << 10) | 0xDF;          // G: GPA 2-3 GiB -> SPA, 1 GiB leaf RWXU AD
        memory.Qword(fsRoot) = ((0x8000_0000UL >> 12) << 10) | 0xD7;          // Sv39 L2[0]: 1 GiB leaf -> GPA 0x8000_0000
        foreach ((uint did, ulong gscid) in new[] { (1u, 0xFFFFUL), (2u, 0xFFFEUL) })
        {
            ulong dc = Base + (did * 32);
            memory.Qword(dc) = 1;
            memory.Qword(dc + 8) = (8UL << 60) | (gscid << 44) | (gRoot >> 12);
            memory.Qword(dc + 16) = 0xF_FFFFUL << 12;
            memory.Qword(dc + 24) = (8UL << 60) | (fsRoot >> 12);
        }

        Assert.That(translator.Translate(new TranslationRequest(1, 0x1000, AccessType.Read)).PhysicalAddress, Is.EqualTo(0x8000_1000UL), "device 1 translates");
        Assert.That(translator.Translate(new TranslationRequest(2, 0x1000, AccessType.Read)).PhysicalAddress, Is.EqualTo(0x8000_1000UL), "device 2 translates");
        // Change what device 1 and 2 would see by editing the G-stage leaf; only an invalidation makes it visible.
        memory.Qword(gRoot + (2 * 8)) = 0;
        byte[] before = Snapshot(memory);
        translator.InvalidateVma(true, 0xFFFF, true, 0xF_FFFF, false, 0);
        AssertUnchanged(memory, before, "IOTINVAL.VMA");
        Assert.Multiple(() =>
        {
            Assert.That(translator.Translate(new TranslationRequest(1, 0x1000, AccessType.Read)).Success, Is.False,
                "GSCID 0xFFFF / PSCID 0xFFFFF's entry was invalidated: device 1 walks again and meets the cleared G-stage leaf");
            Assert.That(translator.Translate(new TranslationRequest(2, 0x1000, AccessType.Read)).PhysicalAddress, Is.EqualTo(0x8000_1000UL),
                "GSCID 0xFFFE's entry was not touched");
        });
    }

    [Test]
    public void A_full_command_queue_is_run_to_the_end_and_a_tail_past_the_queue_is_masked()
    {
        using var memory = PhysicalMemory.Allocate(Size, Base);
        var device = new RiscVIommu(memory, new Capabilities(Caps), new IommuOptions { ProcessCommandsOnTailWrite = false });
        const ulong Queue = Base + 0x1_0000;
        device.Write64(RegisterOffsets.Cqb, ((Queue >> 12) << 10) | 5);       // 64 entries
        device.Write32(RegisterOffsets.Cqcsr, 1);
        Command inval = Command.IotinvalVma(false, 0, true, 3, false, 0);
        for (int i = 0; i < 64; i++)
        {
            memory.Qword(Queue + ((ulong)i * 16)) = inval.Dword0;
            memory.Qword(Queue + ((ulong)i * 16) + 8) = inval.Dword1;
        }

        device.Write32(RegisterOffsets.Cqt, 63);                               // full: cqt one behind cqh
        byte[] before = Snapshot(memory);
        Assert.Multiple(() =>
        {
            Assert.That(device.ProcessCommands(), Is.EqualTo(63), "every command of a full queue runs");
            Assert.That(device.Read32(RegisterOffsets.Cqh), Is.EqualTo(63u), "cqh caught up with cqt");
            Assert.That(device.Read32(RegisterOffsets.Cqcsr) & CqCsr.CmdIllMask, Is.Zero, "no error");
        });
        device.Write32(RegisterOffsets.Cqt, 64 + 5);                           // bits above LOG2SZ-1 are not writable
        Assert.Multiple(() =>
        {
            Assert.That(device.Read32(RegisterOffsets.Cqt), Is.EqualTo(5u), "cqt is WARL: only its LOG2SZ low bits");
            Assert.That(device.ProcessCommands(), Is.EqualTo(6), "the queue wraps: commands 63 and 0..4");
            Assert.That(device.Read32(RegisterOffsets.Cqh), Is.EqualTo(5u), "cqh wrapped to cqt");
        });
        AssertUnchanged(memory, before, "processing (commands without memory effects)");
    }

    [Test]
    public void A_full_fault_queue_sets_fqof_drops_records_and_writes_nothing_more()
    {
        using var memory = PhysicalMemory.Allocate(Size, Base);
        var device = new RiscVIommu(memory, new Capabilities(Caps));
        const ulong Queue = Base + 0x2_0000;
        device.Write64(RegisterOffsets.Fqb, ((Queue >> 12) << 10) | 1);       // 4 entries: holds 3 records
        device.Write32(RegisterOffsets.Fqcsr, 1);
        device.Write64(RegisterOffsets.Ddtp, ((Base >> 12) << 10) | 2);      // 1LVL, no valid DC: cause 258
        for (int i = 0; i < 3; i++)
        {
            _ = device.Translate(new TranslationRequest(1, (ulong)i << 12, AccessType.Read));
        }

        byte[] before = Snapshot(memory);
        for (int i = 3; i < 6; i++)
        {
            _ = device.Translate(new TranslationRequest(1, (ulong)i << 12, AccessType.Read));
        }

        Assert.Multiple(() =>
        {
            Assert.That(device.Read32(RegisterOffsets.Fqt), Is.EqualTo(3u), "three records: the queue is full");
            Assert.That(device.Read32(RegisterOffsets.Fqcsr) & FqCsr.FqofMask, Is.Not.Zero, "fqof set by the fourth fault");
            Assert.That(device.FaultRecordsWritten, Is.EqualTo(3), "records written");
            Assert.That(device.FaultRecordsDropped, Is.EqualTo(3), "records dropped");
        });
        AssertUnchanged(memory, before, "faults on a full queue");
    }

    [Test]
    public void Reserved_and_warl_register_values_read_back_as_the_spec_says_and_change_nothing_else()
    {
        using var memory = PhysicalMemory.Allocate(Size, Base);
        var device = new RiscVIommu(memory, new Capabilities(Caps));
        byte[] before = Snapshot(memory);
        ulong ddtp = ((Base >> 12) << 10) | 2;
        device.Write64(RegisterOffsets.Ddtp, ddtp);
        for (uint mode = 5; mode < 16; mode++)
        {
            device.Write64(RegisterOffsets.Ddtp, ((Base >> 12) << 10) | mode);
            Assert.That(device.Read64(RegisterOffsets.Ddtp), Is.EqualTo(ddtp), $"ddtp.MODE {mode} is reserved: the write is ignored");
        }

        device.Write64(RegisterOffsets.Ddtp, 3);
        Assert.That(device.Read64(RegisterOffsets.Ddtp), Is.EqualTo(ddtp), "1LVL -> 2LVL is UNSPECIFIED: ignored");
        device.Write64(RegisterOffsets.Ddtp, 0);
        device.Write64(RegisterOffsets.Ddtp, ulong.MaxValue & ~0xFUL | 4);
        ulong ppnPas40 = ((1UL << 28) - 1) << 10;
        Assert.That(device.Read64(RegisterOffsets.Ddtp), Is.EqualTo(ppnPas40 | 4), "ddtp.PPN is WARL: bits past PAS 40 and reserved bits read 0");
        device.Write64(RegisterOffsets.Capabilities, 0);
        Assert.That(device.Read64(RegisterOffsets.Capabilities), Is.EqualTo(Caps), "capabilities is read-only");
        device.Write64(RegisterOffsets.Cqb, ulong.MaxValue);
        Assert.That(device.Read64(RegisterOffsets.Cqb), Is.EqualTo(ppnPas40 | 0x1F), "cqb: PPN limited by PAS, LOG2SZ-1 5 bits, the rest 0");
        device.Write32(0x400, 0xFFFF_FFFF);
        device.Write64(0xFF8, ulong.MaxValue);
        Assert.Multiple(() =>
        {
            Assert.That(device.Read32(0x400), Is.Zero, "reserved offsets read 0");
            Assert.That(device.Read64(0xFF8), Is.Zero, "the page's last qword is reserved");
            Assert.That(device.Read32(RegisterOffsets.Fctl), Is.Zero, "fctl: BE needs END, WSI needs IGS BOTH; a write while ddtp is not Off is ignored");
            Assert.Throws<ArgumentOutOfRangeException>(() => device.Write32(0x1000, 1), "past the 4 KiB page");
            Assert.Throws<ArgumentOutOfRangeException>(() => device.Write64(0x14, 1), "a 64-bit access not 8-byte aligned");
            Assert.Throws<ArgumentOutOfRangeException>(() => device.Read32(0x2), "a 32-bit access not 4-byte aligned");
        });
        AssertUnchanged(memory, before, "register writes");
    }
}
