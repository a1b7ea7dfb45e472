using FastIommu.Formats.RiscV;

namespace FastIommu.Tests.Formats;

/// <summary>Paging-mode facts from the privileged spec (Sv39/48/57 and the hypervisor's x4 G-stage modes).</summary>
public class PagingModeTests
{
    private static (string Name, int Levels, int Bits, bool G, byte Mode, int RootEntries, int RootPages) Facts<T>()
        where T : struct, IPagingMode =>
        (T.Name, T.Levels, T.AddressBits, T.IsGStage, T.ModeEncoding, PagingMode<T>.RootEntries, PagingMode<T>.RootPages);

    [Test]
    public void Static_facts_match_the_spec_table()
    {
        Assert.Multiple(() =>
        {
            Assert.That(Facts<Sv39>(), Is.EqualTo(("Sv39", 3, 39, false, (byte)8, 512, 1)), "Sv39");
            Assert.That(Facts<Sv48>(), Is.EqualTo(("Sv48", 4, 48, false, (byte)9, 512, 1)), "Sv48");
            Assert.That(Facts<Sv57>(), Is.EqualTo(("Sv57", 5, 57, false, (byte)10, 512, 1)), "Sv57");
            Assert.That(Facts<Sv39x4>(), Is.EqualTo(("Sv39x4", 3, 41, true, (byte)8, 2048, 4)), "Sv39x4: 16 KiB root");
            Assert.That(Facts<Sv48x4>(), Is.EqualTo(("Sv48x4", 4, 50, true, (byte)9, 2048, 4)), "Sv48x4");
            Assert.That(Facts<Sv57x4>(), Is.EqualTo(("Sv57x4", 5, 59, true, (byte)10, 2048, 4)), "Sv57x4");
        });
    }

    [TestCase(PagingModeKind.Sv39, 3, 39, false, 8)]
    [TestCase(PagingModeKind.Sv48, 4, 48, false, 9)]
    [TestCase(PagingModeKind.Sv57, 5, 57, false, 10)]
    [TestCase(PagingModeKind.Sv39x4, 3, 41, true, 8)]
    [TestCase(PagingModeKind.Sv48x4, 4, 50, true, 9)]
    [TestCase(PagingModeKind.Sv57x4, 5, 59, true, 10)]
    public void Run_time_facts_match(PagingModeKind kind, int levels, int bits, bool g, int mode)
    {
        Assert.That((PagingModes.Levels(kind), PagingModes.AddressBits(kind), PagingModes.IsGStage(kind), (int)PagingModes.ModeEncoding(kind)),
            Is.EqualTo((levels, bits, g, mode)), kind.ToString());
    }

    [TestCase(0u, null)]
    [TestCase(1u, null)]
    [TestCase(7u, null)]
    [TestCase(8u, PagingModeKind.Sv39)]
    [TestCase(9u, PagingModeKind.Sv48)]
    [TestCase(10u, PagingModeKind.Sv57)]
    [TestCase(11u, null)]
    [TestCase(15u, null)]
    public void Iosatp_mode_decoding(uint mode, PagingModeKind? expected) =>
        Assert.That(PagingModes.FromIosatpMode(mode), Is.EqualTo(expected), "IOSATP_MODE_ENC, SXL=0");

    [TestCase(0u, null)]
    [TestCase(8u, PagingModeKind.Sv39x4)]
    [TestCase(9u, PagingModeKind.Sv48x4)]
    [TestCase(10u, PagingModeKind.Sv57x4)]
    [TestCase(11u, null)]
    public void Iohgatp_mode_decoding(uint mode, PagingModeKind? expected) =>
        Assert.That(PagingModes.FromIohgatpMode(mode), Is.EqualTo(expected), "IOHGATP_MODE_ENC, GXL=0");

    [TestCase(0, 0x1000UL)]
    [TestCase(1, 0x20_0000UL)]
    [TestCase(2, 0x4000_0000UL)]
    [TestCase(3, 0x80_0000_0000UL)]
    [TestCase(4, 0x1_0000_0000_0000UL)]
    public void Page_sizes_per_level(int level, ulong size)
    {
        Assert.That(PagingMode<Sv57>.PageSize(level), Is.EqualTo(size), "4K, 2M, 1G, 512G, 256T");
        Assert.That(PagingMode<Sv57>.LevelShift(level), Is.EqualTo(12 + (9 * level)), "VPN[i] starts at 12 + 9i");
    }

    [Test]
    public void Largest_page_is_a_root_leaf()
    {
        Assert.That(PagingMode<Sv39>.LargestPageSize, Is.EqualTo(0x4000_0000UL), "Sv39 gigapage");
        Assert.That(PagingMode<Sv48x4>.LargestPageSize, Is.EqualTo(0x80_0000_0000UL), "Sv48x4 512 GiB");
        Assert.That(PagingMode<Sv57>.LargestPageSize, Is.EqualTo(0x1_0000_0000_0000UL), "Sv57 256 TiB");
    }

    // x4 roots index with 11 bits (VPN[top] is 2 bits wider); other levels with 9.
    [TestCase(0x1FF_FFFF_FFFFUL, 2, 0x7FF)]
    [TestCase(0x100_0000_0000UL, 2, 0x400)]
    [TestCase(0x000_4000_0000UL, 2, 0x001)]
    [TestCase(0x000_7FE0_0000UL, 1, 0x1FF)]
    [TestCase(0x000_0000_1000UL, 0, 0x001)]
    [TestCase(0x000_001F_F000UL, 0, 0x1FF)]
    public void Sv39x4_index(ulong gpa, int level, int index) =>
        Assert.That(PagingMode<Sv39x4>.Index(gpa, level), Is.EqualTo(index), $"level {level}");

    [TestCase(0x3_FFFF_FFFF_FFFFUL, 3, 0x7FF)]
    [TestCase(0x2_0000_0000_0000UL, 3, 0x400)]
    [TestCase(0x0_0080_0000_0000UL, 3, 0x001)]
    [TestCase(0x0_007F_C000_0000UL, 2, 0x1FF)]
    public void Sv48x4_index(ulong gpa, int level, int index) =>
        Assert.That(PagingMode<Sv48x4>.Index(gpa, level), Is.EqualTo(index), $"level {level}");

    [TestCase(0x07FF_FFFF_FFFF_FFFFUL, 4, 0x7FF)]
    [TestCase(0x0400_0000_0000_0000UL, 4, 0x400)]
    [TestCase(0x0001_0000_0000_0000UL, 4, 0x001)]
    [TestCase(0x0000_FF80_0000_0000UL, 3, 0x1FF)]
    public void Sv57x4_index(ulong gpa, int level, int index) =>
        Assert.That(PagingMode<Sv57x4>.Index(gpa, level), Is.EqualTo(index), $"level {level}");

    [TestCase(0xFFFF_FFC0_0000_0000UL, 2, 0x100)]
    [TestCase(0x0000_003F_FFFF_FFFFUL, 2, 0x0FF)]
    [TestCase(0x0000_0000_3FE0_0000UL, 1, 0x1FF)]
    public void Sv39_index_is_9_bits_at_the_root(ulong va, int level, int index) =>
        Assert.That(PagingMode<Sv39>.Index(va, level), Is.EqualTo(index), $"level {level}");

    [TestCase(0x0000_0000_0000_0000UL, true)]
    [TestCase(0x0000_003F_FFFF_FFFFUL, true)]   // highest low-half address
    [TestCase(0x0000_0040_0000_0000UL, false)]  // first illegal above it
    [TestCase(0xFFFF_FFBF_FFFF_FFFFUL, false)]  // last illegal below the high half
    [TestCase(0xFFFF_FFC0_0000_0000UL, true)]   // lowest high-half address
    [TestCase(0xFFFF_FFFF_FFFF_FFFFUL, true)]
    public void Sv39_canonical(ulong va, bool ok) => Assert.That(PagingMode<Sv39>.IsCanonical(va), Is.EqualTo(ok), $"0x{va:x}");

    [TestCase(0x0000_7FFF_FFFF_FFFFUL, true)]
    [TestCase(0x0000_8000_0000_0000UL, false)]
    [TestCase(0xFFFF_7FFF_FFFF_FFFFUL, false)]
    [TestCase(0xFFFF_8000_0000_0000UL, true)]
    public void Sv48_canonical(ulong va, bool ok) => Assert.That(PagingMode<Sv48>.IsCanonical(va), Is.EqualTo(ok), $"0x{va:x}");

    [TestCase(0x00FF_FFFF_FFFF_FFFFUL, true)]
    [TestCase(0x0100_0000_0000_0000UL, false)]
    [TestCase(0xFEFF_FFFF_FFFF_FFFFUL, false)]
    [TestCase(0xFF00_0000_0000_0000UL, true)]
    public void Sv57_canonical(ulong va, bool ok) => Assert.That(PagingMode<Sv57>.IsCanonical(va), Is.EqualTo(ok), $"0x{va:x}");

    [TestCase(0x0UL, true)]
    [TestCase(0x1FF_FFFF_FFFFUL, true)]
    [TestCase(0x200_0000_0000UL, false)]
    [TestCase(0xFFFF_FFFF_FFFF_FFFFUL, false)]  // no sign extension in a G-stage
    public void Sv39x4_gpa_legal(ulong gpa, bool ok) => Assert.That(PagingMode<Sv39x4>.IsCanonical(gpa), Is.EqualTo(ok), $"0x{gpa:x}");

    [TestCase(0x3_FFFF_FFFF_FFFFUL, true)]
    [TestCase(0x4_0000_0000_0000UL, false)]
    public void Sv48x4_gpa_legal(ulong gpa, bool ok) => Assert.That(PagingMode<Sv48x4>.IsCanonical(gpa), Is.EqualTo(ok), $"0x{gpa:x}");

    [TestCase(0x07FF_FFFF_FFFF_FFFFUL, true)]
    [TestCase(0x0800_0000_0000_0000UL, false)]
    public void Sv57x4_gpa_legal(ulong gpa, bool ok) => Assert.That(PagingMode<Sv57x4>.IsCanonical(gpa), Is.EqualTo(ok), $"0x{gpa:x}");

    [Test]
    public void Address_space_sizes()
    {
        Assert.That(PagingMode<Sv39>.AddressSpaceSize, Is.EqualTo(0x80_0000_0000UL), "2^39");
        Assert.That(PagingMode<Sv39x4>.AddressSpaceSize, Is.EqualTo(0x200_0000_0000UL), "2^41");
    }
}
