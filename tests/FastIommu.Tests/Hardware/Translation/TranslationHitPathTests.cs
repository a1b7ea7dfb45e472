using FastIommu.Formats.RiscV;
using FastIommu.Hardware;

namespace FastIommu.Tests.Hardware.Translation;

/// <summary>
/// The IOTLB-hit path (a cached DC and IOTLB entry, no walk) must return exactly what the full translation process
/// returns, every field of <see cref="TranslationResult"/>: for every combination of leaf bits (V R W X U G A D) and
/// every access type, in a first stage, in a G-stage under a first stage, and in a G-stage alone. The reference is
/// the same memory translated with every cache off.
/// </summary>
public class TranslationHitPathTests
{
    private const ulong GLeaf2M = 0x8001_4400;         // the two-stage scenario's 2 MiB G-stage leaf (GPA 0x1000_0000)
    private const ulong DcAddr3 = 0x8000_0060;         // device 3: G-stage only (fsc Bare), GSCID 7
    private const ulong Gpa = 0x1000_0678;             // device 3's IOVA: a GPA inside the 2 MiB G-stage leaf

    private static readonly AccessType[] Accesses = [AccessType.Read, AccessType.Write, AccessType.Execute];

    /// <summary>Every leaf bit pattern with V = 1 over PPN <paramref name="ppn"/>: R W X U G A D in bits 1..7.</summary>
    private static IEnumerable<ulong> Leaves(ulong ppn)
    {
        for (ulong bits = 0; bits < 128; bits++)
        {
            yield return (ppn << 10) | (bits << 1) | 1;
        }
    }

    /// <summary>Writes each leaf at <paramref name="leafPa"/> and checks the cached translator (a fill, then two hits)
    /// against an uncached one for every access. Returns how many results were successful translations.</summary>
    private static int Compare(TranslationBed bed, ulong leafPa, IEnumerable<ulong> leaves, uint deviceId, ulong iova)
    {
        var uncached = new IommuTranslator(bed.Memory, new Capabilities(TranslationBed.AllCaps), TranslatorCacheOptions.Uncached)
        {
            Ddtp = bed.Translator.Ddtp,
        };
        int successes = 0;
        foreach (ulong leaf in leaves)
        {
            bed.Q(leafPa, leaf);
            bed.Translator.InvalidateAll();
            foreach (AccessType access in Accesses)
            {
                var request = new TranslationRequest(deviceId, iova, access);
                TranslationResult expected = uncached.Translate(in request);
                for (int pass = 0; pass < 3; pass++)
                {
                    TranslationResult actual = bed.Translator.Translate(in request);
                    Assert.That(actual, Is.EqualTo(expected),
                        $"leaf 0x{leaf:x}, {access}, pass {pass}: cached {actual}, uncached {expected}");
                }

                Assert.That(bed.Read(leafPa), Is.EqualTo(leaf), "no SADE/GADE: the leaf is never written");
                successes += expected.Success ? 1 : 0;
            }
        }

        return successes;
    }

    [Test]
    public void First_stage_leaf_bits_give_the_same_result_from_a_hit_as_from_a_walk()
    {
        using var bed = new TranslationBed().SingleStage();
        int successes = Compare(bed, TranslationBed.L0Entry, Leaves(0x90000), 1, TranslationBed.Iova);
        // Successes need U and A (no SADE); G is free (x 2). Of R W X D: read needs R (8 patterns), write R W D (2),
        // execute X with R W not the reserved W-without-R (6): 2 x (8 + 2 + 6) = 32.
        Assert.That(successes, Is.EqualTo(32), "the comparison covered successful translations, not only faults");
    }

    [Test]
    public void First_stage_leaf_bits_under_a_g_stage_give_the_same_result_from_a_hit_as_from_a_walk()
    {
        using var bed = new TranslationBed().TwoStage();
        int successes = Compare(bed, TranslationBed.L0Entry, Leaves(0x10000), 2, TranslationBed.Iova);
        Assert.That(successes, Is.EqualTo(32), "the G-stage leaf allows everything: the first stage decides, as above");
    }

    [Test]
    public void G_stage_leaf_bits_give_the_same_result_from_a_hit_as_from_a_walk()
    {
        using var bed = new TranslationBed().TwoStage();
        bed.Q(TranslationBed.L0Entry, 0x400_00DF);                      // first-stage leaf V R W X U A D
        int successes = Compare(bed, GLeaf2M, Leaves(0x90000), 2, TranslationBed.Iova);
        // G-stage leaves need U (and A, no GADE); G is reserved for future use there (software should clear it,
        // hardware does not fault on it): the same 32 patterns as a first stage.
        Assert.That(successes, Is.EqualTo(32), "successful translations were compared");
    }

    [Test]
    public void G_stage_alone_gives_the_same_result_from_a_hit_as_from_a_walk()
    {
        using var bed = new TranslationBed().TwoStage();
        bed.Q(DcAddr3 + 0, 0x1);                                         // tc: V
        bed.Q(DcAddr3 + 8, (8UL << 60) | (7UL << 44) | 0x80010);         // iohgatp: Sv39x4, GSCID 7
        bed.Q(DcAddr3 + 16, 0);
        bed.Q(DcAddr3 + 24, 0);                                          // fsc: Bare
        int successes = Compare(bed, GLeaf2M, Leaves(0x90000), 3, Gpa);
        Assert.That(successes, Is.EqualTo(32), "successful G-stage-only translations were compared");
    }

    // Svpbmt with two stages (privileged spec): a G-stage PBMT other than PMA overrides the PMA, a first-stage PBMT
    // other than PMA overrides that. Expected = first-stage PBMT if not PMA, else the G-stage's; the same from a hit.
    [TestCase(0UL, 0UL, PageBasedMemoryType.Pma)]
    [TestCase(0UL, 1UL, PageBasedMemoryType.Nc)]
    [TestCase(0UL, 2UL, PageBasedMemoryType.Io)]
    [TestCase(1UL, 0UL, PageBasedMemoryType.Nc)]
    [TestCase(1UL, 2UL, PageBasedMemoryType.Nc)]
    [TestCase(2UL, 1UL, PageBasedMemoryType.Io)]
    [TestCase(2UL, 2UL, PageBasedMemoryType.Io)]
    public void Memory_type_is_the_first_stage_pbmt_unless_pma_then_the_g_stage_pbmt(ulong fsPbmt, ulong gsPbmt, PageBasedMemoryType expected)
    {
        using var bed = new TranslationBed().TwoStage();
        bed.Q(TranslationBed.L0Entry, 0x400_00D7 | (fsPbmt << 61));
        bed.Q(GLeaf2M, 0x2400_00DF | (gsPbmt << 61));
        for (int pass = 0; pass < 3; pass++)
        {
            var r = bed.Translate(2, TranslationBed.Iova);
            Assert.That((r.Success, r.PhysicalAddress, r.MemoryType), Is.EqualTo((true, TranslationBed.ExpectedPa, expected)),
                $"pass {pass} (0 walks, 1 and 2 hit the IOTLB)");
        }
    }

    [TestCase(0UL, PageBasedMemoryType.Pma)]
    [TestCase(1UL, PageBasedMemoryType.Nc)]
    [TestCase(2UL, PageBasedMemoryType.Io)]
    public void Memory_type_of_a_single_stage_is_its_leaf_pbmt(ulong pbmt, PageBasedMemoryType expected)
    {
        using var bed = new TranslationBed().SingleStage();
        bed.Q(TranslationBed.L0Entry, TranslationBed.LeafRwu | (pbmt << 61));
        for (int pass = 0; pass < 3; pass++)
        {
            Assert.That(bed.Translate(1, TranslationBed.Iova).MemoryType, Is.EqualTo(expected), $"pass {pass}");
        }
    }
}
