using FastIommu.Formats.RiscV;
using FastIommu.Hardware;

namespace FastIommu.Tests.Hardware.Translation;

/// <summary>
/// The leaf rules of both stages against a reference written here from the privileged spec ("Virtual Address
/// Translation Process" and "Guest Physical Address Translation", with Svpbmt and Svnapot) for a level-0 leaf, a
/// user-level access and no SADE / GADE: thousands of random leaf words, biased towards the valid ones, each
/// translated for a read, a write and an execute and compared field by field. The walks take the common leaf in one
/// test and every other one step by step (<c>WalkFirstStageInline</c>, <c>GStage</c>); both must give the spec's
/// outcome: the first stage through the full process (no caches) and through the shortcut (a cached DC, no IOTLB),
/// the G-stage for the final GPA (an explicit access) and for a first-stage table (an implicit read).
/// </summary>
public class TranslationLeafRulesTests
{
    private const ulong SvpbmtCap = 1UL << 15;

    // PTE bits as the privileged spec numbers them (the Sv39/Sv39x4 PTE: V R W X U G A D in bits 0 to 7; Svnapot's N
    // in bit 63; Svpbmt's PBMT in 62:61 and the reserved 60:54 are read by shift below), so that the reference does not
    // lean on the code's own constants.
    private const ulong V = 0x01, R = 0x02, W = 0x04, X = 0x08, U = 0x10, G = 0x20, A = 0x40, D = 0x80;
    private const ulong N = 0x8000_0000_0000_0000;

    private static IEnumerable<TestCaseData> Configurations()
    {
        var shortcut = new TranslatorCacheOptions { IotlbEntries = 0, MicroTlbEntries = 0 };
        yield return new TestCaseData(TranslationBed.AllCaps, TranslatorCacheOptions.Uncached).SetName("Full process, Svpbmt");
        yield return new TestCaseData(TranslationBed.AllCaps & ~SvpbmtCap, TranslatorCacheOptions.Uncached).SetName("Full process, no Svpbmt");
        yield return new TestCaseData(TranslationBed.AllCaps, shortcut).SetName("Shortcut, Svpbmt");
        yield return new TestCaseData(TranslationBed.AllCaps & ~SvpbmtCap, shortcut).SetName("Shortcut, no Svpbmt");
    }

    [TestCaseSource(nameof(Configurations))]
    public void Random_level_0_leaves_follow_the_spec(ulong caps, TranslatorCacheOptions options)
    {
        using var bed = new TranslationBed(caps, options).SingleStage();
        bool svpbmt = (caps & SvpbmtCap) != 0;
        var rng = new Random(20261205);
        int successes = 0;
        for (int n = 0; n < 4000; n++)
        {
            ulong leaf = RandomLeaf(rng);
            bed.Q(TranslationBed.L0Entry, leaf);
            foreach (AccessType access in new[] { AccessType.Read, AccessType.Write, AccessType.Execute })
            {
                TranslationResult r = bed.Translate(1, TranslationBed.Iova, access);
                string what = $"leaf 0x{leaf:x}, {access}";
                Assert.That(bed.Read(TranslationBed.L0Entry), Is.EqualTo(leaf), $"{what}: the PTE is never written without SADE");
                if (Expected(leaf, access, svpbmt) is not { } pa)
                {
                    Assert.That(r.Success, Is.False, what);
                    Assert.That(r.Cause, Is.EqualTo(access switch
                    {
                        AccessType.Read => FaultCause.ReadPageFault,
                        AccessType.Write => FaultCause.WritePageFault,
                        _ => FaultCause.InstructionPageFault,
                    }), what);
                    Assert.That((r.Iotval, r.Iotval2), Is.EqualTo((TranslationBed.Iova, 0UL)), what);
                    continue;
                }

                successes++;
                bool napot = (leaf & N) != 0;
                Assert.That(r.Success, Is.True, what);
                Assert.That(r.PhysicalAddress, Is.EqualTo(pa), what);
                Assert.That(r.PageSize, Is.EqualTo(napot ? 0x1_0000UL : 0x1000UL), what);
                Assert.That(r.MemoryType, Is.EqualTo((PageBasedMemoryType)((leaf >> 61) & 3)), what);
                Assert.That((r.Readable, r.Writable, r.Executable), Is.EqualTo(((leaf & R) != 0, (leaf & W) != 0, (leaf & X) != 0)), what);
            }
        }

        Assert.That(successes, Is.GreaterThan(1000), "the stream reaches the translations, not only the faults");
    }

    /// <summary>A leaf word: usually the valid user page a driver writes (V R U A, W D X G at random), with one or
    /// two bits of the rest flipped at random (reserved bits, PBMT, N with or without its PPN pattern, V, U, A, D).</summary>
    private static ulong RandomLeaf(Random rng)
    {
        ulong ppn = (ulong)rng.NextInt64(1L << 30) & ~0xFUL;
        ulong leaf = (ppn << 10) | V | R | U | A;
        leaf |= rng.Next(2) == 0 ? W | D : 0;
        leaf |= rng.Next(3) == 0 ? X : 0;
        leaf |= rng.Next(4) == 0 ? G : 0;
        for (int flips = rng.Next(3); flips > 0; flips--)
        {
            int bit = rng.Next(6) switch
            {
                0 => rng.Next(8),               // V R W X U G A D
                1 => 54 + rng.Next(7),          // reserved
                2 => 61 + rng.Next(2),          // PBMT
                3 => 63,                        // N
                4 => 10 + rng.Next(4),          // PPN[3:0], NAPOT's pattern
                _ => rng.Next(8),
            };
            leaf ^= 1UL << bit;
        }

        if (rng.Next(8) == 0)
        {
            leaf = (leaf & ~(0xFUL << 10)) | (8UL << 10) | N; // a NAPOT 64 KiB leaf, the rest as drawn
        }

        return leaf;
    }

    /// <summary>The spec's outcome for a level-0 leaf, a user request (or any G-stage access: all are user-level) and
    /// no SADE / GADE: the PA of <paramref name="address"/>, or null for a (guest-)page fault.</summary>
    private static ulong? Expected(ulong leaf, AccessType access, bool svpbmt, ulong address = TranslationBed.Iova)
    {
        bool v = (leaf & V) != 0, r = (leaf & R) != 0, w = (leaf & W) != 0, x = (leaf & X) != 0;
        ulong pbmt = (leaf >> 61) & 3;
        // Step 3: V = 0, W without R, bits 60:54, PBMT without Svpbmt.
        if (!v || (w && !r) || ((leaf >> 54) & 0x7F) != 0 || (!svpbmt && pbmt != 0))
        {
            return null;
        }

        // Step 4: no R, W, X at level 0 is a pointer where there is no next level.
        if (!r && !w && !x)
        {
            return null;
        }

        // Svpbmt: PBMT = 3 is reserved. Svnapot: N only with PPN[3:0] = 1000 (64 KiB).
        bool napot = (leaf & N) != 0;
        if (pbmt == 3 || (napot && ((leaf >> 10) & 0xF) != 8))
        {
            return null;
        }

        // Step 5: a user-level access needs U = 1 and the access's permission.
        bool permitted = access switch { AccessType.Read => r, AccessType.Write => w, _ => x };
        if ((leaf & U) == 0 || !permitted)
        {
            return null;
        }

        // Step 7: A, and D for a write, must be set (no SADE / GADE).
        if ((leaf & A) == 0 || (access == AccessType.Write && (leaf & D) == 0))
        {
            return null;
        }

        // Step 8: the PA; a NAPOT page keeps the address's low 16 bits.
        ulong pageMask = napot ? 0xFFFFUL : 0xFFFUL;
        ulong ppnBase = ((leaf >> 10) & ((1UL << 44) - 1)) << 12;
        return (ppnBase & ~pageMask) | (address & pageMask);
    }

    private static FaultCause GuestPageFault(AccessType access) => access switch
    {
        AccessType.Read => FaultCause.ReadGuestPageFault,
        AccessType.Write => FaultCause.WriteGuestPageFault,
        _ => FaultCause.InstructionGuestPageFault,
    };

    // Two stages (device 2, Sv39 over Sv39x4, no GADE): the first-stage leaf maps the IOVA's page to GPA 0x5000, whose
    // G-stage leaf is G L0[5] (at 0x8001_5028); the first-stage L0 table is at GPA 0x3000, G L0[3] (at 0x8001_5018).
    private const ulong GLeaf5 = 0x8001_5028;
    private const ulong GLeaf3 = 0x8001_5018;
    private const ulong Gpa = 0x5000 | (TranslationBed.Iova & 0xFFF);

    private static IEnumerable<TestCaseData> GStageConfigurations()
    {
        yield return new TestCaseData(TranslationBed.AllCaps).SetName("G-stage, Svpbmt");
        yield return new TestCaseData(TranslationBed.AllCaps & ~SvpbmtCap).SetName("G-stage, no Svpbmt");
    }

    [TestCaseSource(nameof(GStageConfigurations))]
    public void Random_g_stage_level_0_leaves_follow_the_spec(ulong caps)
    {
        using var bed = new TranslationBed(caps, TranslatorCacheOptions.Uncached).TwoStage();
        bool svpbmt = (caps & SvpbmtCap) != 0;
        bed.Q(TranslationBed.L0Entry, (0x5UL << 10) | 0xDF);             // first-stage leaf: GPA 0x5000, V R W X U A D
        var rng = new Random(20261206);
        int successes = 0;
        for (int n = 0; n < 3000; n++)
        {
            // The final GPA's G-stage leaf (an explicit access of the request's type).
            ulong leaf = RandomLeaf(rng);
            bed.Q(GLeaf5, leaf);
            bed.Q(GLeaf3, (0x80003UL << 10) | 0xD7);
            foreach (AccessType access in new[] { AccessType.Read, AccessType.Write, AccessType.Execute })
            {
                TranslationResult r = bed.Translate(2, TranslationBed.Iova, access);
                string what = $"G leaf 0x{leaf:x}, {access}";
                if (Expected(leaf, access, svpbmt, Gpa) is not { } spa)
                {
                    Assert.That((r.Success, r.Cause, r.Iotval, r.Iotval2), Is.EqualTo((false, GuestPageFault(access), TranslationBed.Iova, Gpa & ~3UL)), what);
                    continue;
                }

                successes++;
                Assert.That((r.Success, r.PhysicalAddress, r.PageSize), Is.EqualTo((true, spa, 0x1000UL)), what);
                Assert.That(r.MemoryType, Is.EqualTo((PageBasedMemoryType)((leaf >> 61) & 3)), what + ": the first stage is PMA, so the G-stage's PBMT");
                Assert.That((r.Readable, r.Writable, r.Executable), Is.EqualTo(((leaf & R) != 0, (leaf & W) != 0, (leaf & X) != 0)), what);
            }

            // The G-stage leaf of the first-stage L0 table (an implicit read of the PTE at GPA 0x3018): its flags
            // drawn the same way, its PPN kept (a NAPOT pattern moves it within the same 64 KiB).
            ulong tableLeaf = (RandomLeaf(rng) & ~(((1UL << 44) - 1) << 10)) | (0x80003UL << 10);
            if ((tableLeaf & N) != 0 && rng.Next(2) == 0)
            {
                tableLeaf = (tableLeaf & ~(0xFUL << 10)) | (8UL << 10);
            }

            bed.Q(GLeaf5, (0x80005UL << 10) | 0xDF);
            bed.Q(GLeaf3, tableLeaf);
            foreach (AccessType access in new[] { AccessType.Read, AccessType.Write })
            {
                TranslationResult r = bed.Translate(2, TranslationBed.Iova, access);
                string what = $"G leaf of the L0 table 0x{tableLeaf:x}, {access}";
                if (Expected(tableLeaf, AccessType.Read, svpbmt, 0x3018) is null)
                {
                    Assert.That((r.Success, r.Cause, r.Iotval, r.Iotval2), Is.EqualTo((false, GuestPageFault(access), TranslationBed.Iova, 0x3019UL)), what);
                    continue;
                }

                successes++;
                Assert.That((r.Success, r.PhysicalAddress), Is.EqualTo((true, 0x8000_5000UL | (TranslationBed.Iova & 0xFFF))), what);
            }
        }

        Assert.That(successes, Is.GreaterThan(1000), "the stream reaches the translations, not only the faults");
    }
}
