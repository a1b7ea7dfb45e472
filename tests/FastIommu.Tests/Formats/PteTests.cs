using FastIommu.Formats.RiscV;

namespace FastIommu.Tests.Formats;

/// <summary>Privileged spec PTE (Sv39/48/57, x4) with Svnapot and Svpbmt: every field at its bits.</summary>
public class PteTests
{
    // (flag, expected raw value): V..D are bits 0..7.
    [TestCase(Pte.V, 0x01UL)]
    [TestCase(Pte.R, 0x02UL)]
    [TestCase(Pte.W, 0x04UL)]
    [TestCase(Pte.X, 0x08UL)]
    [TestCase(Pte.U, 0x10UL)]
    [TestCase(Pte.G, 0x20UL)]
    [TestCase(Pte.A, 0x40UL)]
    [TestCase(Pte.D, 0x80UL)]
    [TestCase(Pte.N, 0x8000_0000_0000_0000UL)]
    public void Flag_constants_sit_at_the_spec_bits(ulong flag, ulong expected) =>
        Assert.That(flag, Is.EqualTo(expected), "privileged spec Sv39 PTE figure");

    [Test]
    public void Flag_accessors_read_their_own_bit_only()
    {
        Assert.Multiple(() =>
        {
            Assert.That(new Pte(0x01).Valid, Is.True, "V bit 0");
            Assert.That(new Pte(0x02).Readable, Is.True, "R bit 1");
            Assert.That(new Pte(0x04).Writable, Is.True, "W bit 2");
            Assert.That(new Pte(0x08).Executable, Is.True, "X bit 3");
            Assert.That(new Pte(0x10).User, Is.True, "U bit 4");
            Assert.That(new Pte(0x20).Global, Is.True, "G bit 5");
            Assert.That(new Pte(0x40).Accessed, Is.True, "A bit 6");
            Assert.That(new Pte(0x80).Dirty, Is.True, "D bit 7");
            Assert.That(new Pte(0x8000_0000_0000_0000).Napot, Is.True, "N bit 63");
            var allButFlags = new Pte(~0xFFUL);
            Assert.That(allButFlags.Valid || allButFlags.Readable || allButFlags.Writable || allButFlags.Executable
                || allButFlags.User || allButFlags.Global || allButFlags.Accessed || allButFlags.Dirty, Is.False,
                "no flag reads a bit above 7");
        });
    }

    [TestCase("Rsw", 1UL, 0x0000_0000_0000_0100UL)]
    [TestCase("Rsw", 3UL, 0x0000_0000_0000_0300UL)]
    [TestCase("Rsw", 4UL, 0UL)]
    [TestCase("Rsw", 0xFFFF_FFFFUL, 0x0000_0000_0000_0300UL)]
    [TestCase("Ppn", 1UL, 0x0000_0000_0000_0400UL)]
    [TestCase("Ppn", 0xFFF_FFFF_FFFFUL, 0x003F_FFFF_FFFF_FC00UL)]
    [TestCase("Ppn", 0x1000_0000_0000UL, 0UL)]
    [TestCase("Ppn", ulong.MaxValue, 0x003F_FFFF_FFFF_FC00UL)]
    [TestCase("Reserved", 1UL, 0x0040_0000_0000_0000UL)]
    [TestCase("Reserved", 0x7FUL, 0x1FC0_0000_0000_0000UL)]
    [TestCase("Reserved", 0x80UL, 0UL)]
    [TestCase("Pbmt", 1UL, 0x2000_0000_0000_0000UL)]
    [TestCase("Pbmt", 2UL, 0x4000_0000_0000_0000UL)]
    [TestCase("Pbmt", 3UL, 0x6000_0000_0000_0000UL)]
    [TestCase("Pbmt", 7UL, 0x6000_0000_0000_0000UL)]
    [TestCase("Napot", 1UL, 0x8000_0000_0000_0000UL)]
    public void Setter_places_and_masks(string field, ulong input, ulong expected)
    {
        Pte pte = field switch
        {
            "Rsw" => default(Pte).WithRsw((uint)input),
            "Ppn" => default(Pte).WithPpn(input),
            "Reserved" => default(Pte).WithReserved((uint)input),
            "Pbmt" => default(Pte).WithPbmt((PageBasedMemoryType)input),
            "Napot" => default(Pte).WithNapot(input != 0),
            _ => throw new ArgumentException(field),
        };
        Assert.That(pte.Value, Is.EqualTo(expected), $"{field} <- 0x{input:x}");
    }

    [Test]
    public void Getters_read_back_from_a_full_word()
    {
        var pte = new Pte(ulong.MaxValue);
        Assert.Multiple(() =>
        {
            Assert.That(pte.Rsw, Is.EqualTo(3u), "RSW 9:8");
            Assert.That(pte.Ppn, Is.EqualTo(0xFFF_FFFF_FFFFUL), "PPN 53:10 is 44 bits");
            Assert.That(pte.Reserved, Is.EqualTo(0x7Fu), "reserved 60:54 is 7 bits");
            Assert.That(pte.Pbmt, Is.EqualTo(PageBasedMemoryType.Reserved), "PBMT 62:61");
            Assert.That(pte.PhysicalAddress, Is.EqualTo(0x00FF_FFFF_FFFF_F000UL), "PA = PPN << 12, 56 bits");
        });
    }

    [Test]
    public void Setters_leave_other_fields_untouched()
    {
        var all = new Pte(ulong.MaxValue);
        Assert.Multiple(() =>
        {
            Assert.That(all.WithPpn(0).Value, Is.EqualTo(0xFFC0_0000_0000_03FFUL), "clearing PPN clears 53:10 only");
            Assert.That(all.WithPbmt(PageBasedMemoryType.Pma).Value, Is.EqualTo(0x9FFF_FFFF_FFFF_FFFFUL), "clearing PBMT clears 62:61 only");
            Assert.That(all.WithNapot(false).Value, Is.EqualTo(0x7FFF_FFFF_FFFF_FFFFUL), "clearing N clears 63 only");
            Assert.That(all.WithRsw(0).Value, Is.EqualTo(0xFFFF_FFFF_FFFF_FCFFUL), "clearing RSW clears 9:8 only");
            Assert.That(all.WithoutFlags(Pte.A | Pte.D).Value, Is.EqualTo(0xFFFF_FFFF_FFFF_FF3FUL), "clearing A and D");
            Assert.That(default(Pte).WithFlags(ulong.MaxValue).Value, Is.EqualTo(0xFFUL), "WithFlags touches bits 7:0 only");
        });
    }

    [TestCase(PageBasedMemoryType.Pma, 0UL)]
    [TestCase(PageBasedMemoryType.Nc, 1UL)]
    [TestCase(PageBasedMemoryType.Io, 2UL)]
    [TestCase(PageBasedMemoryType.Reserved, 3UL)]
    public void Pbmt_encodings_are_svpbmt(PageBasedMemoryType type, ulong encoding) =>
        Assert.That((ulong)type, Is.EqualTo(encoding), "Svpbmt: 0 PMA, 1 NC, 2 IO, 3 reserved");

    [Test]
    public void Leaf_builds_the_expected_word()
    {
        // PA 0x8020_0000, R W A D, PBMT=IO: 0x4000_0000_0000_0000 | (0x80200 << 10 = 0x2008_0000) | 0xC7
        var leaf = Pte.Leaf(0x8020_0000, Pte.R | Pte.W | Pte.A | Pte.D, PageBasedMemoryType.Io);
        Assert.That(leaf.Value, Is.EqualTo(0x4000_0000_2008_00C7UL), "leaf with PBMT=IO");
        Assert.That(leaf.IsLeaf && !leaf.IsTable, Is.True, "R set: a leaf");
    }

    [Test]
    public void Table_builds_a_pointer_with_only_v()
    {
        var table = Pte.Table(0x1_2345_6000);
        Assert.That(table.Value, Is.EqualTo(0x0000_0000_48D1_5801UL), "PPN 0x123456 << 10 = 0x48D15800, V");
        Assert.That(table.IsTable && !table.IsLeaf, Is.True, "XWR = 000: pointer");
        Assert.That(table.HasNonLeafReservedBitsSet, Is.False, "fresh table pointer is clean");
    }

    [TestCase(0x1UL << 4, true)]                         // U
    [TestCase(0x1UL << 6, true)]                         // A
    [TestCase(0x1UL << 7, true)]                         // D
    [TestCase(0x2000_0000_0000_0000UL, true)]           // PBMT
    [TestCase(0x8000_0000_0000_0000UL, true)]           // N
    [TestCase(0x0040_0000_0000_0000UL, true)]           // reserved 54
    [TestCase(0x1000_0000_0000_0000UL, true)]           // reserved 60
    [TestCase(0x1UL << 5, false)]                        // G is allowed in a non-leaf
    [TestCase(0x3UL << 8, false)]                        // RSW
    [TestCase(0x003F_FFFF_FFFF_FC00UL, false)]           // PPN
    public void Non_leaf_reserved_bits(ulong extra, bool reserved) =>
        Assert.That(new Pte(0x1 | extra).HasNonLeafReservedBitsSet, Is.EqualTo(reserved),
            "non-leaf PTE: D, A, U, PBMT, N and 60:54 must be zero");

    [Test]
    public void Reserved_bits_are_60_to_54()
    {
        for (int bit = 0; bit < 64; bit++)
        {
            bool expected = bit is >= 54 and <= 60;
            Assert.That(new Pte(1UL << bit).HasReservedBitsSet, Is.EqualTo(expected), $"bit {bit}");
        }

        Assert.That(Pte.ReservedMask, Is.EqualTo(0x1FC0_0000_0000_0000UL), "mask 60:54");
    }

    [TestCase(0x8UL, true, true)]    // N, PPN[3:0] = 1000b
    [TestCase(0x18UL, true, true)]   // higher PPN bits do not matter
    [TestCase(0x0UL, true, false)]
    [TestCase(0x4UL, true, false)]
    [TestCase(0x9UL, true, false)]
    [TestCase(0x8UL, false, false)]  // no N
    public void Napot_64KiB_encoding(ulong ppn, bool n, bool expected)
    {
        var pte = Pte.Leaf(ppn << 12, Pte.R).WithNapot(n);
        Assert.That(pte.IsNapot64KiB, Is.EqualTo(expected), "Svnapot: N=1 and PPN[3:0]=1000b is the 64 KiB encoding");
    }

    [TestCase(0b000UL, false)]
    [TestCase(0b001UL, false)]
    [TestCase(0b010UL, true)]
    [TestCase(0b011UL, false)]
    [TestCase(0b100UL, false)]
    [TestCase(0b101UL, false)]
    [TestCase(0b110UL, true)]
    [TestCase(0b111UL, false)]
    public void W_without_r_is_reserved(ulong xwr, bool reserved) =>
        Assert.That(new Pte(1 | (xwr << 1)).IsReservedRwx, Is.EqualTo(reserved), $"XWR={Convert.ToString((long)xwr, 2)}");

    [Test]
    public void Random_round_trip()
    {
        var rng = new Random(20261122);
        for (int i = 0; i < 1000; i++)
        {
            ulong ppn = (ulong)rng.NextInt64() & 0xFFF_FFFF_FFFF;
            uint rsw = (uint)rng.Next(4);
            var pbmt = (PageBasedMemoryType)rng.Next(4);
            ulong flags = (ulong)rng.Next(256);
            bool n = rng.Next(2) == 1;
            var pte = default(Pte).WithFlags(flags).WithPpn(ppn).WithRsw(rsw).WithPbmt(pbmt).WithNapot(n);
            Assert.That((pte.Ppn, pte.Rsw, pte.Pbmt, pte.Value & 0xFF, pte.Napot, pte.Reserved),
                Is.EqualTo((ppn, rsw, pbmt, flags, n, 0u)), $"iteration {i}");
        }
    }

    [Test]
    public void ToString_names_flags_and_ppn()
    {
        string s = Pte.Leaf(0x5000, Pte.R | Pte.X, PageBasedMemoryType.Nc).ToString();
        Assert.That(s, Does.Contain("ppn=0x5").And.Contain("VR-X").And.Contain("Nc"), "dump shows fields");
    }
}
