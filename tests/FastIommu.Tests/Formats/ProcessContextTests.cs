using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using FastIommu.Formats.RiscV;

namespace FastIommu.Tests.Formats;

/// <summary>Process context (16 B): IOMMU spec "Process-context fields".</summary>
public class ProcessContextTests
{
    [TestCase("V", 1UL, 0x1UL)]
    [TestCase("ENS", 1UL, 0x2UL)]
    [TestCase("SUM", 1UL, 0x4UL)]
    [TestCase("PSCID", 1UL, 0x1000UL)]
    [TestCase("PSCID", 0xF_FFFFUL, 0xFFFF_F000UL)]
    [TestCase("PSCID", 0x10_0000UL, 0x0UL)]
    [TestCase("PSCID", 0xFFFF_FFFFUL, 0xFFFF_F000UL)]
    public void Ta_fields(string field, ulong input, ulong expected)
    {
        var ta = field switch
        {
            "V" => ProcessContextTa.Default.WithV(input != 0),
            "ENS" => ProcessContextTa.Default.WithEns(input != 0),
            "SUM" => ProcessContextTa.Default.WithSum(input != 0),
            "PSCID" => ProcessContextTa.Default.WithPscid((uint)input),
            _ => throw new ArgumentException(field),
        };
        Assert.That(ta.Value, Is.EqualTo(expected), $"PC.ta.{field}");
    }

    [Test]
    public void Ta_decoding_and_reserved()
    {
        var ta = new ProcessContextTa(ulong.MaxValue);
        Assert.That((ta.Valid, ta.Ens, ta.Sum, ta.Pscid), Is.EqualTo((true, true, true, 0xF_FFFFu)), "V 0, ENS 1, SUM 2, PSCID 31:12");
        Assert.That(new ProcessContextTa(~0x7UL).Valid || new ProcessContextTa(~0x7UL).Ens || new ProcessContextTa(~0x7UL).Sum, Is.False, "flags read their bit only");
        Assert.That(ProcessContextTa.ReservedMask, Is.EqualTo(0xFFFF_FFFF_0000_0FF8UL), "11:3 and 63:32");
        ReservedBits.AssertExactly(v => new ProcessContextTa(v).HasReservedBitsSet, 64, "PC.ta", (11, 3), (63, 32));
    }

    [Test]
    public void Layout()
    {
        Assert.That(Unsafe.SizeOf<ProcessContext>(), Is.EqualTo(16), "PC is 16 bytes");
        Assert.That((Marshal.OffsetOf<ProcessContext>(nameof(ProcessContext.Ta)).ToInt32(), Marshal.OffsetOf<ProcessContext>(nameof(ProcessContext.Fsc)).ToInt32()),
            Is.EqualTo((0, 8)), "ta then fsc");
        Assert.That(Unsafe.SizeOf<ProcessContextTa>(), Is.EqualTo(8), "ta is a doubleword");
    }

    [Test]
    public void Pc_vector_and_reserved()
    {
        var pc = new ProcessContext(ProcessContextTa.Default.WithV(true).WithEns(true).WithPscid(0xABCDE), Iosatp.Create<Sv48>(0x1234_5000));
        Assert.That((pc.Ta.Value, pc.Fsc.Value), Is.EqualTo((0x0000_0000_ABCD_E003UL, 0x9000_0000_0001_2345UL)), "PSCID 0xABCDE, V, ENS; Sv48 root PPN 0x12345");
        Assert.That(pc.HasReservedBitsSet, Is.False, "clean");
        Assert.That(pc.WithFsc(new Iosatp(pc.Fsc.Value | (1UL << 50))).HasReservedBitsSet, Is.True, "fsc 59:44");
        Assert.That(pc.WithTa(new ProcessContextTa(pc.Ta.Value | (1UL << 3))).HasReservedBitsSet, Is.True, "ta bit 3");
        Assert.That(pc.ToString(), Does.Contain("ENS").And.Contain("Sv48"), "dump");
    }

    [Test]
    public void Random_round_trip()
    {
        var rng = new Random(3);
        for (int i = 0; i < 500; i++)
        {
            bool v = rng.Next(2) == 1, ens = rng.Next(2) == 1, sum = rng.Next(2) == 1;
            uint pscid = (uint)rng.Next(0x10_0000);
            var ta = ProcessContextTa.Default.WithPscid(pscid).WithSum(sum).WithV(v).WithEns(ens);
            Assert.That((ta.Valid, ta.Ens, ta.Sum, ta.Pscid, ta.HasReservedBitsSet), Is.EqualTo((v, ens, sum, pscid, false)), $"iteration {i}");
        }
    }
}
