using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using FastIommu.Formats.RiscV;

namespace FastIommu.Tests.Formats;

/// <summary>Fault-queue record, CAUSE and TTYP encodings: IOMMU spec "Fault/Event-Queue (FQ)".</summary>
public class FaultRecordTests
{
    [Test]
    public void Layout()
    {
        Assert.That(Unsafe.SizeOf<FaultRecord>(), Is.EqualTo(32), "fault records are 32 bytes");
        string[] names = [nameof(FaultRecord.Dword0), nameof(FaultRecord.Dword1), nameof(FaultRecord.Iotval), nameof(FaultRecord.Iotval2)];
        Assert.That(names.Select(n => Marshal.OffsetOf<FaultRecord>(n).ToInt32()), Is.EqualTo(new[] { 0, 8, 16, 24 }), "four doublewords");
    }

    // Every row of the FAULT_CAUSE table: (cause, number, reported when DTF = 1).
    [TestCase(FaultCause.InstructionAccessFault, 1, false)]
    [TestCase(FaultCause.ReadAddressMisaligned, 4, false)]
    [TestCase(FaultCause.ReadAccessFault, 5, false)]
    [TestCase(FaultCause.WriteAddressMisaligned, 6, false)]
    [TestCase(FaultCause.WriteAccessFault, 7, false)]
    [TestCase(FaultCause.InstructionPageFault, 12, false)]
    [TestCase(FaultCause.ReadPageFault, 13, false)]
    [TestCase(FaultCause.WritePageFault, 15, false)]
    [TestCase(FaultCause.InstructionGuestPageFault, 20, false)]
    [TestCase(FaultCause.ReadGuestPageFault, 21, false)]
    [TestCase(FaultCause.WriteGuestPageFault, 23, false)]
    [TestCase(FaultCause.AllInboundTransactionsDisallowed, 256, true)]
    [TestCase(FaultCause.DdtEntryLoadAccessFault, 257, true)]
    [TestCase(FaultCause.DdtEntryNotValid, 258, true)]
    [TestCase(FaultCause.DdtEntryMisconfigured, 259, true)]
    [TestCase(FaultCause.TransactionTypeDisallowed, 260, false)]
    [TestCase(FaultCause.MsiPteLoadAccessFault, 261, false)]
    [TestCase(FaultCause.MsiPteNotValid, 262, false)]
    [TestCase(FaultCause.MsiPteMisconfigured, 263, false)]
    [TestCase(FaultCause.MrifAccessFault, 264, false)]
    [TestCase(FaultCause.PdtEntryLoadAccessFault, 265, false)]
    [TestCase(FaultCause.PdtEntryNotValid, 266, false)]
    [TestCase(FaultCause.PdtEntryMisconfigured, 267, false)]
    [TestCase(FaultCause.DdtDataCorruption, 268, true)]
    [TestCase(FaultCause.PdtDataCorruption, 269, false)]
    [TestCase(FaultCause.MsiPtDataCorruption, 270, false)]
    [TestCase(FaultCause.MsiMrifDataCorruption, 271, false)]
    [TestCase(FaultCause.InternalDataPathError, 272, true)]
    [TestCase(FaultCause.IommuMsiWriteAccessFault, 273, true)]
    [TestCase(FaultCause.PtDataCorruption, 274, false)]
    public void Cause_table(FaultCause cause, int number, bool reportedWhenDtf)
    {
        Assert.That((int)cause, Is.EqualTo(number), "CAUSE encoding");
        Assert.That(FaultCauses.ReportedWhenDtf(cause), Is.EqualTo(reportedWhenDtf), "'Reported if DTF is 1?' column");
        Assert.That(FaultCauses.IsDefined(cause), Is.True, "defined");
    }

    [Test]
    public void Cause_enum_has_exactly_the_table_rows()
    {
        Assert.That(Enum.GetValues<FaultCause>().Count(c => c != FaultCause.None), Is.EqualTo(30), "30 rows in FAULT_CAUSE");
        Assert.That(FaultCauses.IsDefined((FaultCause)2), Is.False, "2 is reserved");
        Assert.That(FaultCauses.IsDefined(FaultCause.None), Is.False, "0 is not a cause");
        Assert.That((FaultCauses.IsCustom(2047), FaultCauses.IsCustom(2048), FaultCauses.IsCustom(4095)), Is.EqualTo((false, true, true)), "2048-4095 custom");
        Assert.That(FaultCauses.IsGuestPageFault(FaultCause.ReadGuestPageFault) && !FaultCauses.IsGuestPageFault(FaultCause.ReadPageFault), Is.True, "guest-page classes");
        Assert.That(FaultCauses.IsPageFault(FaultCause.WritePageFault) && !FaultCauses.IsPageFault(FaultCause.WriteGuestPageFault), Is.True, "page classes");
    }

    [TestCase(TransactionType.None, 0)]
    [TestCase(TransactionType.UntranslatedExecute, 1)]
    [TestCase(TransactionType.UntranslatedRead, 2)]
    [TestCase(TransactionType.UntranslatedWrite, 3)]
    [TestCase(TransactionType.TranslatedExecute, 5)]
    [TestCase(TransactionType.TranslatedRead, 6)]
    [TestCase(TransactionType.TranslatedWrite, 7)]
    [TestCase(TransactionType.AtsTranslationRequest, 8)]
    [TestCase(TransactionType.PcieMessageRequest, 9)]
    public void Ttyp_table(TransactionType ttyp, int number) => Assert.That((int)ttyp, Is.EqualTo(number), "TTYP encoding");

    [TestCase("CAUSE", 1UL, 0x0000_0000_0000_0001UL)]
    [TestCase("CAUSE", 0xFFFUL, 0x0000_0000_0000_0FFFUL)]
    [TestCase("CAUSE", 0x1000UL, 0x0UL)]
    [TestCase("PID", 1UL, 0x0000_0000_0000_1000UL)]
    [TestCase("PID", 0xF_FFFFUL, 0x0000_0000_FFFF_F000UL)]
    [TestCase("PID", 0x10_0000UL, 0x0UL)]
    [TestCase("PV", 1UL, 0x0000_0001_0000_0000UL)]
    [TestCase("PRIV", 1UL, 0x0000_0002_0000_0000UL)]
    [TestCase("TTYP", 1UL, 0x0000_0004_0000_0000UL)]
    [TestCase("TTYP", 0x3FUL, 0x0000_00FC_0000_0000UL)]
    [TestCase("TTYP", 0x40UL, 0x0UL)]
    [TestCase("DID", 1UL, 0x0000_0100_0000_0000UL)]
    [TestCase("DID", 0xFF_FFFFUL, 0xFFFF_FF00_0000_0000UL)]
    [TestCase("DID", 0x100_0000UL, 0x0UL)]
    public void Dword0_fields(string field, ulong input, ulong expected)
    {
        var r = default(FaultRecord);
        r = field switch
        {
            "CAUSE" => r.WithCause((FaultCause)input),
            "PID" => r.WithPid((uint)input),
            "PV" => r.WithPv(input != 0),
            "PRIV" => r.WithPriv(input != 0),
            "TTYP" => r.WithTtyp((TransactionType)input),
            "DID" => r.WithDid((uint)input),
            _ => throw new ArgumentException(field),
        };
        Assert.That(r.Dword0, Is.EqualTo(expected), $"fault record {field}");
    }

    [Test]
    public void Decoding_full_words_and_reserved()
    {
        var r = new FaultRecord(ulong.MaxValue, ulong.MaxValue, 1, 2);
        Assert.That(((int)r.Cause, r.Pid, r.Pv, r.Priv, (int)r.Ttyp, r.Did, r.Custom),
            Is.EqualTo((0xFFF, 0xF_FFFFu, true, true, 0x3F, 0xFF_FFFFu, 0xFFFF_FFFFu)), "CAUSE 11:0, PID 31:12, PV 32, PRIV 33, TTYP 39:34, DID 63:40, custom dword1 31:0");
        Assert.That(FaultRecord.ReservedMask, Is.EqualTo(0xFFFF_FFFF_0000_0000UL), "dword1 63:32");
        ReservedBits.AssertExactly(v => new FaultRecord(ulong.MaxValue, v, ulong.MaxValue, ulong.MaxValue).HasReservedBitsSet, 64, "fault record dword1", (63, 32));
        Assert.That(default(FaultRecord).WithCustom(0xFFFF_FFFF).Dword1, Is.EqualTo(0x0000_0000_FFFF_FFFFUL), "custom is dword1 31:0");
    }

    [Test]
    public void Create_vector()
    {
        var r = FaultRecord.Create(FaultCause.WriteGuestPageFault, TransactionType.UntranslatedWrite, did: 0x12, pv: true, pid: 0x5, priv: true,
            iotval: 0xFFFF_FFFF_FFFF_F123, iotval2: FaultRecord.GuestPageFaultIotval2(0x1_2345_6789, implicitFirstStage: true, implicitWrite: true));
        // CAUSE 23 | PID 5 << 12 | PV | PRIV | TTYP 3 << 34 | DID 0x12 << 40
        Assert.That(r.Dword0, Is.EqualTo(0x0000_120F_0000_5017UL), "dword0");
        Assert.That((r.Dword1, r.Iotval, r.Iotval2), Is.EqualTo((0UL, 0xFFFF_FFFF_FFFF_F123UL, 0x0000_0001_2345_678BUL)), "iotval, iotval2 = GPA[63:2] | write | implicit");
        Assert.That((r.Iotval2Gpa, r.Iotval2Implicit, r.Iotval2ImplicitWrite), Is.EqualTo((0x1_2345_6788UL, true, true)), "iotval2 decoded");
    }

    [TestCase(0x1_2345_6789UL, true, false, 0x1_2345_6789UL)]
    [TestCase(0x1_2345_6789UL, false, true, 0x1_2345_6788UL)]   // bit 1 only with bit 0
    [TestCase(0xFFFF_FFFF_FFFF_FFFFUL, false, false, 0xFFFF_FFFF_FFFF_FFFCUL)]
    public void Iotval2_encoding(ulong gpa, bool implicitAccess, bool write, ulong expected) =>
        Assert.That(FaultRecord.GuestPageFaultIotval2(gpa, implicitAccess, write), Is.EqualTo(expected), "iotval2 for guest-page faults");

    [Test]
    public void Create_zeroes_what_the_spec_zeroes()
    {
        var noPv = FaultRecord.Create(FaultCause.ReadPageFault, TransactionType.UntranslatedRead, 0xABC, pv: false, pid: 0x77, priv: true, 0, 0);
        Assert.That(noPv.Dword0, Is.EqualTo(0x000A_BC08_0000_000DUL), "PV = 0: PID and PRIV are 0 (TTYP 2 << 34 = 0x8_0000_0000)");
        var noTtyp = FaultRecord.Create(FaultCause.IommuMsiWriteAccessFault, TransactionType.None, 0xABC, pv: true, pid: 0x77, priv: true, 0x1000, 0);
        Assert.That(noTtyp.Dword0, Is.EqualTo(0x0000_0000_0000_0111UL), "TTYP = 0: DID, PV, PID, PRIV are 0; CAUSE 273");
    }

    [Test]
    public void Random_round_trip()
    {
        var rng = new Random(99);
        for (int i = 0; i < 500; i++)
        {
            var cause = (FaultCause)rng.Next(0x1000);
            var ttyp = (TransactionType)rng.Next(1, 64);
            uint did = (uint)rng.Next(0x100_0000), pid = (uint)rng.Next(0x10_0000);
            bool priv = rng.Next(2) == 1;
            ulong iotval = (ulong)rng.NextInt64(), iotval2 = (ulong)rng.NextInt64();
            var r = FaultRecord.Create(cause, ttyp, did, true, pid, priv, iotval, iotval2);
            Assert.That((r.Cause, r.Ttyp, r.Did, r.Pv, r.Pid, r.Priv, r.Iotval, r.Iotval2, r.HasReservedBitsSet),
                Is.EqualTo((cause, ttyp, did, true, pid, priv, iotval, iotval2, false)), $"iteration {i}");
        }
    }

    [Test]
    public void Dump()
    {
        var r = FaultRecord.Create(FaultCause.DdtEntryNotValid, TransactionType.UntranslatedRead, 0x42, false, 0, false, 0x1000, 0);
        Assert.That(r.ToString(), Does.Contain("258").And.Contain("DdtEntryNotValid").And.Contain("did=0x42"), "dump");
    }
}
