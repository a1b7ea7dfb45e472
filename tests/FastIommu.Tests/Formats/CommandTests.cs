using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using FastIommu.Formats.RiscV;

namespace FastIommu.Tests.Formats;

/// <summary>Command-queue entries: IOMMU spec "Command-Queue (CQ)", every command's figure.</summary>
public class CommandTests
{
    [Test]
    public void Layout()
    {
        Assert.That(Unsafe.SizeOf<Command>(), Is.EqualTo(16), "commands are 16 bytes");
        Assert.That((Marshal.OffsetOf<Command>(nameof(Command.Dword0)).ToInt32(), Marshal.OffsetOf<Command>(nameof(Command.Dword1)).ToInt32()),
            Is.EqualTo((0, 8)), "two doublewords");
    }

    [TestCase(CommandOpcode.Iotinval, 1)]
    [TestCase(CommandOpcode.Iofence, 2)]
    [TestCase(CommandOpcode.Iodir, 3)]
    [TestCase(CommandOpcode.Ats, 4)]
    public void Opcodes(CommandOpcode opcode, int encoding) => Assert.That((int)opcode, Is.EqualTo(encoding), "IOMMU command opcodes table");

    // ----------------------------------------------------------- spec vectors, worked out by hand

    [Test]
    public void IotinvalVma_vector()
    {
        var c = Command.IotinvalVma(gv: true, gscid: 0xABCD, pscv: true, pscid: 0x12345, av: true, address: 0x0000_1234_5678_9000);
        // opcode 1 | AV (bit 10) | PSCID << 12 | PSCV (32) | GV (33) | GSCID << 44
        Assert.That(c.Dword0, Is.EqualTo(0x0ABC_D003_1234_5401UL), "dword0");
        // ADDR[63:12] in 61:10, i.e. address >> 2 for a page-aligned address
        Assert.That(c.Dword1, Is.EqualTo(0x0000_048D_159E_2400UL), "dword1");
        Assert.That((c.Kind, c.Gv, c.Gscid, c.Pscv, c.Pscid, c.Av, c.Address, c.IsIllegal),
            Is.EqualTo((CommandKind.IotinvalVma, true, 0xABCDu, true, 0x12345u, true, 0x0000_1234_5678_9000UL, false)), "decoded");
    }

    [Test]
    public void IotinvalGvma_vector()
    {
        var c = Command.IotinvalGvma(gv: true, gscid: 0xFFFF, av: false, address: 0xDEAD_B000);
        Assert.That((c.Dword0, c.Dword1), Is.EqualTo((0x0FFF_F002_0000_0081UL, 0UL)), "opcode 1, func3 1, GV, GSCID 0xFFFF; ADDR ignored without AV");
        Assert.That(c.Kind, Is.EqualTo(CommandKind.IotinvalGvma), "kind");
    }

    [Test]
    public void IofenceC_vector()
    {
        var c = Command.IofenceC(av: true, wsi: false, pr: true, pw: true, address: 0x8000_1004, data: 0xDEAD_BEEF);
        Assert.That((c.Dword0, c.Dword1), Is.EqualTo((0xDEAD_BEEF_0000_3402UL, 0x0000_0000_2000_0401UL)), "DATA 63:32, PW 13, PR 12, AV 10; ADDR[63:2]");
        Assert.That((c.Kind, c.Av, c.Wsi, c.Pr, c.Pw, c.Data, c.FenceAddress), Is.EqualTo((CommandKind.IofenceC, true, false, true, true, 0xDEAD_BEEFu, 0x8000_1004UL)), "decoded");
        Assert.That(Command.IofenceC(false, true, false, false).Dword0, Is.EqualTo(0x0000_0000_0000_0802UL), "WSI is bit 11");
    }

    [Test]
    public void Iodir_vectors()
    {
        var ddt = Command.IodirInvalDdt(dv: true, deviceId: 0xABCDEF);
        Assert.That((ddt.Dword0, ddt.Dword1), Is.EqualTo((0xABCD_EF02_0000_0003UL, 0UL)), "opcode 3, DV 33, DID 63:40");
        var pdt = Command.IodirInvalPdt(deviceId: 0x000123, processId: 0xF_FFFF);
        Assert.That((pdt.Dword0, pdt.Dword1), Is.EqualTo((0x0001_2302_FFFF_F083UL, 0UL)), "func3 1, PID 31:12, DV, DID");
        Assert.That((pdt.Kind, pdt.Did, pdt.Pid, pdt.Dv), Is.EqualTo((CommandKind.IodirInvalPdt, 0x123u, 0xF_FFFFu, true)), "decoded");
    }

    [Test]
    public void Ats_vectors()
    {
        var inval = Command.AtsInval(rid: 0x1234, pv: true, pid: 0xABCDE, dsv: true, dseg: 0x56, global: true, s: true, untranslatedAddress: 0x0000_00FF_FFFF_F000);
        Assert.That((inval.Dword0, inval.Dword1), Is.EqualTo((0x5612_3403_ABCD_E004UL, 0x0000_00FF_FFFF_F801UL)),
            "DSEG 63:56, RID 55:40, DSV 33, PV 32, PID 31:12, opcode 4; payload G 0, S 11, address 63:12");
        Assert.That((inval.Kind, inval.Rid, inval.Dseg, inval.Pid, inval.Pv, inval.Dsv, inval.AtsGlobal, inval.AtsS, inval.AtsAddress),
            Is.EqualTo((CommandKind.AtsInval, (ushort)0x1234, (byte)0x56, 0xABCDEu, true, true, true, true, 0x0000_00FF_FFFF_F000UL)), "decoded");

        var prgr = Command.AtsPrgr(rid: 0xFFFF, pv: false, pid: 0, dsv: false, dseg: 0, prgIndex: 0x1FF, responseCode: 0xF);
        Assert.That((prgr.Dword0, prgr.Dword1), Is.EqualTo((0x00FF_FF00_0000_0084UL, 0x0000_F1FF_0000_0000UL)), "func3 1; PRG index 40:32, response code 47:44");
        Assert.That((prgr.Kind, prgr.PrgIndex, prgr.ResponseCode, prgr.IsIllegal), Is.EqualTo((CommandKind.AtsPrgr, 0x1FFu, 0xFu, false)), "decoded");
    }

    // ----------------------------------------------------------- each field's lowest/highest bit and masking

    [TestCase("PSCID", 1UL, 0x0000_0000_0000_1401UL)]
    [TestCase("PSCID", 0xF_FFFFUL, 0x0000_0000_FFFF_F401UL)]
    [TestCase("PSCID", 0x10_0000UL, 0x0000_0000_0000_0401UL)]
    [TestCase("GSCID", 1UL, 0x0000_1000_0000_0401UL)]
    [TestCase("GSCID", 0xFFFFUL, 0x0FFF_F000_0000_0401UL)]
    [TestCase("GSCID", 0x1_0000UL, 0x0000_0000_0000_0401UL)]
    public void Iotinval_dword0_fields(string field, ulong input, ulong expected)
    {
        var c = field == "PSCID"
            ? Command.IotinvalVma(false, 0, false, (uint)input, true, 0)
            : Command.IotinvalVma(false, (uint)input, false, 0, true, 0);
        Assert.That(c.Dword0, Is.EqualTo(expected), $"IOTINVAL.VMA {field}");
    }

    [TestCase(0x1000UL, 0x0000_0000_0000_0400UL)]
    [TestCase(0xFFFF_FFFF_FFFF_F000UL, 0x3FFF_FFFF_FFFF_FC00UL)]
    [TestCase(0xFFFUL, 0x0UL)]
    public void Iotinval_address(ulong address, ulong dword1)
    {
        Assert.That(Command.IotinvalVma(false, 0, false, 0, true, address).Dword1, Is.EqualTo(dword1), "VMA ADDR[63:12] at 61:10");
        Assert.That(Command.IotinvalGvma(false, 0, true, address).Dword1, Is.EqualTo(dword1), "GVMA ADDR[63:12] at 61:10");
        Assert.That(new Command(0x401, dword1).Address, Is.EqualTo(address & ~0xFFFUL), "decoded page address");
    }

    [TestCase("DATA", 1UL, 0x0000_0001_0000_0002UL, 0UL)]
    [TestCase("DATA", 0xFFFF_FFFFUL, 0xFFFF_FFFF_0000_0002UL, 0UL)]
    [TestCase("ADDR", 4UL, 0x2UL, 0x1UL)]
    [TestCase("ADDR", 0xFFFF_FFFF_FFFF_FFFFUL, 0x2UL, 0x3FFF_FFFF_FFFF_FFFFUL)]
    [TestCase("ADDR", 3UL, 0x2UL, 0x0UL)]
    public void Iofence_fields(string field, ulong input, ulong dword0, ulong dword1)
    {
        var c = field == "DATA" ? Command.IofenceC(false, false, false, false, 0, (uint)input) : Command.IofenceC(false, false, false, false, input, 0);
        Assert.That((c.Dword0, c.Dword1), Is.EqualTo((dword0, dword1)), $"IOFENCE.C {field}");
    }

    [TestCase(1u, 0x0000_0100_0000_0003UL)]
    [TestCase(0xFF_FFFFu, 0xFFFF_FF00_0000_0003UL)]
    [TestCase(0x100_0000u, 0x0000_0000_0000_0003UL)]
    public void Iodir_did(uint did, ulong dword0) =>
        Assert.That(Command.IodirInvalDdt(false, did).Dword0, Is.EqualTo(dword0), "DID 63:40");

    [TestCase(1u, 0x0000_0002_0000_1083UL)]
    [TestCase(0x10_0000u, 0x0000_0002_0000_0083UL)]
    public void Iodir_pid(uint pid, ulong dword0) =>
        Assert.That(Command.IodirInvalPdt(0, pid).Dword0, Is.EqualTo(dword0), "PID 31:12, DV always 1 for INVAL_PDT");

    [TestCase("RID", 1UL, 0x0000_0100_0000_0004UL)]
    [TestCase("RID", 0xFFFFUL, 0x00FF_FF00_0000_0004UL)]
    [TestCase("DSEG", 1UL, 0x0100_0000_0000_0004UL)]
    [TestCase("DSEG", 0xFFUL, 0xFF00_0000_0000_0004UL)]
    [TestCase("PID", 1UL, 0x0000_0000_0000_1004UL)]
    [TestCase("PID", 0xF_FFFFUL, 0x0000_0000_FFFF_F004UL)]
    [TestCase("PID", 0x10_0000UL, 0x0000_0000_0000_0004UL)]
    [TestCase("PV", 1UL, 0x0000_0001_0000_0004UL)]
    [TestCase("DSV", 1UL, 0x0000_0002_0000_0004UL)]
    public void Ats_dword0_fields(string field, ulong input, ulong dword0)
    {
        var c = field switch
        {
            "RID" => Command.AtsInval((ushort)input, false, 0, false, 0, false, false, 0),
            "DSEG" => Command.AtsInval(0, false, 0, false, (byte)input, false, false, 0),
            "PID" => Command.AtsInval(0, false, (uint)input, false, 0, false, false, 0),
            "PV" => Command.AtsInval(0, true, 0, false, 0, false, false, 0),
            "DSV" => Command.AtsInval(0, false, 0, true, 0, false, false, 0),
            _ => throw new ArgumentException(field),
        };
        Assert.That(c.Dword0, Is.EqualTo(dword0), $"ATS.INVAL {field}");
    }

    [TestCase("PRGI", 1u, 0x0000_0001_0000_0000UL)]
    [TestCase("PRGI", 0x1FFu, 0x0000_01FF_0000_0000UL)]
    [TestCase("PRGI", 0x200u, 0x0UL)]
    [TestCase("RC", 1u, 0x0000_1000_0000_0000UL)]
    [TestCase("RC", 0xFu, 0x0000_F000_0000_0000UL)]
    [TestCase("RC", 0x10u, 0x0UL)]
    public void Prgr_payload_fields(string field, uint input, ulong dword1)
    {
        var c = field == "PRGI" ? Command.AtsPrgr(0, false, 0, false, 0, input, 0) : Command.AtsPrgr(0, false, 0, false, 0, 0, input);
        Assert.That(c.Dword1, Is.EqualTo(dword1), $"ATS.PRGR {field}");
    }

    [Test]
    public void Ats_inval_payload_masks_low_address_bits()
    {
        var c = Command.AtsInval(0, false, 0, false, 0, false, false, 0xFFFF_FFFF_FFFF_FFFF);
        Assert.That(c.Dword1, Is.EqualTo(0xFFFF_FFFF_FFFF_F000UL), "only address bits 63:12 land in the payload");
    }

    // ----------------------------------------------------------- illegal commands

    [TestCase(0x0UL, 0x0UL, true)]                                // opcode 0: reserved
    [TestCase(0x5UL, 0x0UL, true)]                                // opcode 5: reserved
    [TestCase(0x40UL, 0x0UL, true)]                               // opcode 64: custom, not implemented
    [TestCase(0x101UL, 0x0UL, true)]                              // IOTINVAL func3 2
    [TestCase(0x82UL, 0x0UL, true)]                               // IOFENCE func3 1
    [TestCase(0x0000_0001_0000_0081UL, 0x0UL, true)]              // IOTINVAL.GVMA with PSCV
    [TestCase(0x0000_0000_0000_0083UL, 0x0UL, true)]              // IODIR.INVAL_PDT with DV = 0
    [TestCase(0x0000_0000_0000_0801UL, 0x0UL, true)]              // IOTINVAL bit 11 reserved
    [TestCase(0x0000_0004_0000_0001UL, 0x0UL, true)]              // IOTINVAL bit 34 reserved
    [TestCase(0x1000_0000_0000_0001UL, 0x0UL, true)]              // IOTINVAL bit 60 reserved
    [TestCase(0x0000_0000_0000_0001UL, 0x1UL, true)]              // IOTINVAL dword1 bit 0 reserved
    [TestCase(0x0000_0000_0000_0001UL, 0x4000_0000_0000_0000UL, true)] // IOTINVAL dword1 bit 62 reserved
    [TestCase(0x0000_0000_0000_0001UL, 0x3FFF_FFFF_FFFF_FC00UL, false)] // full ADDR is fine
    [TestCase(0x0000_0000_0000_4002UL, 0x0UL, true)]              // IOFENCE bit 14 reserved
    [TestCase(0x0000_0000_0000_0002UL, 0x8000_0000_0000_0000UL, true)] // IOFENCE dword1 bit 63
    [TestCase(0x0000_0000_0000_1003UL, 0x0UL, true)]              // IODIR.INVAL_DDT: PID is reserved
    [TestCase(0x0000_0002_0000_1083UL, 0x0UL, false)]             // IODIR.INVAL_PDT: PID is an operand
    [TestCase(0x0000_0001_0000_0003UL, 0x0UL, true)]              // IODIR bit 32 reserved
    [TestCase(0x0000_0000_0000_0003UL, 0x1UL, true)]              // IODIR dword1 reserved
    [TestCase(0x0000_0000_0000_0404UL, 0x0UL, true)]              // ATS bit 10 reserved
    [TestCase(0x0000_0004_0000_0004UL, 0x0UL, true)]              // ATS bit 34 reserved
    [TestCase(0x0000_0000_0000_0004UL, 0x2UL, true)]              // ATS.INVAL payload bit 1 must be 0
    [TestCase(0x0000_0000_0000_0004UL, 0xFFFF_FFFF_FFFF_F801UL, false)] // ATS.INVAL G, S, address
    [TestCase(0x0000_0000_0000_0084UL, 0x1UL, true)]              // ATS.PRGR payload bit 0 must be 0
    [TestCase(0x0000_0000_0000_0084UL, 0x0000_0200_0000_0000UL, true)] // ATS.PRGR payload bit 41
    [TestCase(0x0000_0000_0000_0084UL, 0x0001_0000_0000_0000UL, true)] // ATS.PRGR payload bit 48
    [TestCase(0x0000_0000_0000_0084UL, 0x0000_F1FF_0000_0000UL, false)]
    public void Illegal_commands(ulong dword0, ulong dword1, bool illegal) =>
        Assert.That(new Command(dword0, dword1).IsIllegal, Is.EqualTo(illegal), $"[0x{dword0:x16} 0x{dword1:x16}]");

    [Test]
    public void Builders_produce_legal_commands()
    {
        Assert.Multiple(() =>
        {
            Assert.That(Command.IotinvalVma(true, 0xFFFF, true, 0xF_FFFF, true, ulong.MaxValue).IsIllegal, Is.False, "VMA all operands");
            Assert.That(Command.IotinvalGvma(true, 0xFFFF, true, ulong.MaxValue).IsIllegal, Is.False, "GVMA");
            Assert.That(Command.IofenceC(true, true, true, true, ulong.MaxValue, uint.MaxValue).IsIllegal, Is.False, "IOFENCE.C");
            Assert.That(Command.IodirInvalDdt(true, uint.MaxValue).IsIllegal, Is.False, "INVAL_DDT");
            Assert.That(Command.IodirInvalPdt(uint.MaxValue, uint.MaxValue).IsIllegal, Is.False, "INVAL_PDT");
            Assert.That(Command.AtsInval(0xFFFF, true, uint.MaxValue, true, 0xFF, true, true, ulong.MaxValue).IsIllegal, Is.False, "ATS.INVAL");
            Assert.That(Command.AtsPrgr(0xFFFF, true, uint.MaxValue, true, 0xFF, uint.MaxValue, uint.MaxValue).IsIllegal, Is.False, "ATS.PRGR");
        });
    }

    // ----------------------------------------------------------- seeded round trips

    [Test]
    public void Random_round_trips()
    {
        var rng = new Random(1234);
        bool B() => rng.Next(2) == 1;
        for (int i = 0; i < 1000; i++)
        {
            uint gscid = (uint)rng.Next(0x1_0000), pscid = (uint)rng.Next(0x10_0000), did = (uint)rng.Next(0x100_0000);
            ulong page = (ulong)rng.NextInt64() << 12;
            bool gv = B(), pscv = B(), av = B();

            var vma = Command.IotinvalVma(gv, gscid, pscv, pscid, av, page);
            Assert.That((vma.Kind, vma.Gv, vma.Gscid, vma.Pscv, vma.Pscid, vma.Av, vma.Address),
                Is.EqualTo((CommandKind.IotinvalVma, gv, gscid, pscv, pscid, av, av ? page : 0UL)), $"VMA {i}");

            var gvma = Command.IotinvalGvma(gv, gscid, av, page);
            Assert.That((gvma.Kind, gvma.Gv, gvma.Gscid, gvma.Av, gvma.Address, gvma.Pscv), Is.EqualTo((CommandKind.IotinvalGvma, gv, gscid, av, av ? page : 0UL, false)), $"GVMA {i}");

            bool wsi = B(), pr = B(), pw = B();
            uint data = (uint)rng.NextInt64();
            ulong fenceAddr = (ulong)rng.NextInt64() & ~3UL;
            var fence = Command.IofenceC(av, wsi, pr, pw, fenceAddr, data);
            Assert.That((fence.Kind, fence.Av, fence.Wsi, fence.Pr, fence.Pw, fence.Data, fence.FenceAddress),
                Is.EqualTo((CommandKind.IofenceC, av, wsi, pr, pw, data, fenceAddr)), $"IOFENCE {i}");

            bool dv = B();
            var ddt = Command.IodirInvalDdt(dv, did);
            Assert.That((ddt.Kind, ddt.Dv, ddt.Did, ddt.Pid), Is.EqualTo((CommandKind.IodirInvalDdt, dv, did, 0u)), $"DDT {i}");
            var pdt = Command.IodirInvalPdt(did, pscid);
            Assert.That((pdt.Kind, pdt.Dv, pdt.Did, pdt.Pid), Is.EqualTo((CommandKind.IodirInvalPdt, true, did, pscid)), $"PDT {i}");

            ushort rid = (ushort)rng.Next(0x1_0000);
            byte dseg = (byte)rng.Next(256);
            bool pv = B(), dsv = B(), g = B(), s = B();
            var inval = Command.AtsInval(rid, pv, pscid, dsv, dseg, g, s, page);
            Assert.That((inval.Kind, inval.Rid, inval.Pv, inval.Pid, inval.Dsv, inval.Dseg, inval.AtsGlobal, inval.AtsS, inval.AtsAddress),
                Is.EqualTo((CommandKind.AtsInval, rid, pv, pscid, dsv, dseg, g, s, page)), $"ATS.INVAL {i}");
            uint prgi = (uint)rng.Next(0x200), rc = (uint)rng.Next(16);
            var prgr = Command.AtsPrgr(rid, pv, pscid, dsv, dseg, prgi, rc);
            Assert.That((prgr.Kind, prgr.Rid, prgr.PrgIndex, prgr.ResponseCode, prgr.IsIllegal), Is.EqualTo((CommandKind.AtsPrgr, rid, prgi, rc, false)), $"ATS.PRGR {i}");
        }
    }

    [Test]
    public void Dumps_name_the_command()
    {
        Assert.That(Command.IotinvalVma(false, 0, true, 5, false, 0).ToString(), Does.StartWith("IOTINVAL.VMA").And.Contain("pscid=0x5"), "VMA");
        Assert.That(Command.IodirInvalPdt(7, 9).ToString(), Does.StartWith("IODIR.INVAL_PDT").And.Contain("did=0x7"), "PDT");
        Assert.That(new Command(0x5, 0).ToString(), Does.Contain("unknown").And.Contain("ILLEGAL"), "unknown opcode");
    }
}
