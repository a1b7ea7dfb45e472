using System.Runtime.CompilerServices;
using FastIommu.Formats.RiscV;

namespace FastIommu.Tests.Formats;

/// <summary>ddtp, non-leaf DDT/PDT entries and the queue-base registers (cqb/fqb/pqb): IOMMU spec figures.</summary>
public class DirectoryPointerTests
{
    [TestCase("IommuMode", 1UL, 0x1UL)]
    [TestCase("IommuMode", 0xFUL, 0xFUL)]
    [TestCase("IommuMode", 0x10UL, 0x0UL)]
    [TestCase("Busy", 1UL, 0x10UL)]
    [TestCase("Ppn", 1UL, 0x400UL)]
    [TestCase("Ppn", 0xFFF_FFFF_FFFFUL, 0x003F_FFFF_FFFF_FC00UL)]
    [TestCase("Ppn", 0x1000_0000_0000UL, 0x0UL)]
    [TestCase("Ppn", ulong.MaxValue, 0x003F_FFFF_FFFF_FC00UL)]
    public void Ddtp_fields(string field, ulong input, ulong expected)
    {
        Ddtp d = field switch
        {
            "IommuMode" => default(Ddtp).WithIommuMode((DdtpMode)input),
            "Busy" => default(Ddtp).WithBusy(input != 0),
            "Ppn" => default(Ddtp).WithPpn(input),
            _ => throw new ArgumentException(field),
        };
        Assert.That(d.Value, Is.EqualTo(expected), $"ddtp.{field} <- 0x{input:x}");
    }

    [Test]
    public void Ddtp_getters_from_full_word()
    {
        var d = new Ddtp(ulong.MaxValue);
        Assert.That(((byte)d.IommuMode, d.Busy, d.Ppn, d.Reserved),
            Is.EqualTo(((byte)0xF, true, 0xFFF_FFFF_FFFFUL, 0xFFC0_0000_0000_03E0UL)), "iommu_mode 3:0, busy 4, PPN 53:10, reserved 9:5 and 63:54");
    }

    [TestCase(DdtpMode.Off, 0, 0)]
    [TestCase(DdtpMode.Bare, 1, 0)]
    [TestCase(DdtpMode.OneLevel, 2, 1)]
    [TestCase(DdtpMode.TwoLevel, 3, 2)]
    [TestCase(DdtpMode.ThreeLevel, 4, 3)]
    public void Ddtp_modes(DdtpMode mode, int encoding, int levels)
    {
        Assert.That((byte)mode, Is.EqualTo(encoding), "ddtp iommu_mode encoding");
        Assert.That(Ddtp.Create(mode, 0x8000_0000).Levels, Is.EqualTo(levels), "DDT levels");
    }

    [TestCase(5u, true, false)]
    [TestCase(13u, true, false)]
    [TestCase(14u, false, true)]
    [TestCase(15u, false, true)]
    [TestCase(4u, false, false)]
    public void Ddtp_reserved_and_custom_modes(uint mode, bool reserved, bool custom)
    {
        var d = new Ddtp(mode);
        Assert.That((d.IsModeReserved, d.IsModeCustom), Is.EqualTo((reserved, custom)), $"iommu_mode {mode}: 5-13 reserved, 14-15 custom");
    }

    [Test]
    public void Ddtp_create_and_reserved_bits()
    {
        Assert.That(Ddtp.Create(DdtpMode.ThreeLevel, 0x1_2345_6000).Value, Is.EqualTo(0x0000_0000_48D1_5804UL), "3LVL root 0x123456000");
        ReservedBits.AssertExactly(v => new Ddtp(v).HasReservedBitsSet, 64, "ddtp", (9, 5), (63, 54));
    }

    [TestCase("V", 1UL, 0x1UL)]
    [TestCase("Ppn", 1UL, 0x400UL)]
    [TestCase("Ppn", 0xFFF_FFFF_FFFFUL, 0x003F_FFFF_FFFF_FC00UL)]
    [TestCase("Ppn", ulong.MaxValue, 0x003F_FFFF_FFFF_FC00UL)]
    public void NonLeaf_fields(string field, ulong input, ulong expected)
    {
        NonLeafEntry e = field switch
        {
            "V" => default(NonLeafEntry).WithValid(input != 0),
            "Ppn" => default(NonLeafEntry).WithPpn(input),
            _ => throw new ArgumentException(field),
        };
        Assert.That(e.Value, Is.EqualTo(expected), $"non-leaf {field}");
    }

    [Test]
    public void NonLeaf_pointing_and_reserved()
    {
        var e = NonLeafEntry.Pointing(0xFF_FFFF_FFFF_F000);
        Assert.That(e.Value, Is.EqualTo(0x003F_FFFF_FFFF_FC01UL), "V | PPN of a 56-bit PA");
        Assert.That((e.Valid, e.TableAddress), Is.EqualTo((true, 0xFF_FFFF_FFFF_F000UL)), "read back");
        Assert.That(NonLeafEntry.ReservedMask, Is.EqualTo(0xFFC0_0000_0000_03FEUL), "reserved 9:1 and 63:54");
        ReservedBits.AssertExactly(v => new NonLeafEntry(v).HasReservedBitsSet, 64, "non-leaf DDT/PDT entry", (9, 1), (63, 54));
    }

    [TestCase("Log2SzMinus1", 1UL, 0x1UL)]
    [TestCase("Log2SzMinus1", 0x1FUL, 0x1FUL)]
    [TestCase("Log2SzMinus1", 0x20UL, 0x0UL)]
    [TestCase("Ppn", 1UL, 0x400UL)]
    [TestCase("Ppn", 0xFFF_FFFF_FFFFUL, 0x003F_FFFF_FFFF_FC00UL)]
    [TestCase("Ppn", ulong.MaxValue, 0x003F_FFFF_FFFF_FC00UL)]
    public void QueueBase_fields(string field, ulong input, ulong expected)
    {
        QueueBase q = field switch
        {
            "Log2SzMinus1" => default(QueueBase).WithLog2SzMinus1((uint)input),
            "Ppn" => default(QueueBase).WithPpn(input),
            _ => throw new ArgumentException(field),
        };
        Assert.That(q.Value, Is.EqualTo(expected), $"qb.{field}");
    }

    [Test]
    public void QueueBase_sizes_alignment_reserved()
    {
        Assert.That(new QueueBase(0).Entries, Is.EqualTo(2UL), "LOG2SZ-1 = 0 means 2 entries");
        Assert.That(new QueueBase(0x1F).Entries, Is.EqualTo(0x1_0000_0000UL), "LOG2SZ-1 = 31 means 2^32 entries");
        var q = QueueBase.Create(0x8000_0000, 10);
        Assert.That(q.Value, Is.EqualTo(0x0000_0000_2000_0009UL), "1024 entries at 0x80000000");
        Assert.That((q.Entries, q.IndexMask, q.BaseAddress), Is.EqualTo((1024UL, 0x3FFu, 0x8000_0000UL)), "decoded");
        Assert.That(QueueBase.Create(0x1000, 8).IsAligned(QueueBase.CommandEntrySize), Is.True, "256 × 16 B: 4 KiB alignment suffices");
        Assert.That(QueueBase.Create(0x1000, 9).IsAligned(QueueBase.CommandEntrySize), Is.False, "512 × 16 B = 8 KiB needs 8 KiB alignment");
        Assert.That(QueueBase.Create(0x2000, 9).IsAligned(QueueBase.CommandEntrySize), Is.True, "8 KiB aligned");
        Assert.That(QueueBase.Create(0x1000, 8).IsAligned(QueueBase.FaultRecordEntrySize), Is.False, "256 × 32 B = 8 KiB");
        Assert.That(() => QueueBase.Create(0, 0), Throws.InstanceOf<ArgumentOutOfRangeException>(), "LOG2SZ >= 1");
        ReservedBits.AssertExactly(v => new QueueBase(v).HasReservedBitsSet, 64, "cqb/fqb/pqb", (9, 5), (63, 54));
    }

    [Test]
    public void Sizes()
    {
        Assert.That((Unsafe.SizeOf<Ddtp>(), Unsafe.SizeOf<NonLeafEntry>(), Unsafe.SizeOf<QueueBase>()), Is.EqualTo((8, 8, 8)), "64-bit words");
    }

    [Test]
    public void Random_round_trips()
    {
        var rng = new Random(7);
        for (int i = 0; i < 500; i++)
        {
            ulong ppn = (ulong)rng.NextInt64() & 0xFFF_FFFF_FFFF;
            var mode = (DdtpMode)rng.Next(16);
            bool busy = rng.Next(2) == 1;
            var d = default(Ddtp).WithPpn(ppn).WithBusy(busy).WithIommuMode(mode);
            Assert.That((d.Ppn, d.Busy, d.IommuMode, d.HasReservedBitsSet), Is.EqualTo((ppn, busy, mode, false)), "ddtp");
            uint l = (uint)rng.Next(32);
            var q = default(QueueBase).WithLog2SzMinus1(l).WithPpn(ppn);
            Assert.That((q.Ppn, q.Log2SzMinus1), Is.EqualTo((ppn, l)), "qb");
        }
    }

    [Test]
    public void Dumps()
    {
        Assert.That(Ddtp.Create(DdtpMode.TwoLevel, 0x5000).ToString(), Does.Contain("TwoLevel").And.Contain("ppn=0x5"), "ddtp dump");
        Assert.That(new NonLeafEntry(0x401 | (1UL << 63)).ToString(), Does.Contain("RESERVED"), "reserved bits shown");
    }
}
