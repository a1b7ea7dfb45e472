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

    private const ulong DcAddr4 = 0x8000_0080;         // device 4: PDTV = 1, PD8 PDT at 0x8000_6000, first stage in the PC
    private const ulong Pdt = 0x8000_6000;
    private const uint ProcessId = 3;                  // PC at 0x8000_6030

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
    private static int Compare(TranslationBed bed, ulong leafPa, IEnumerable<ulong> leaves, uint deviceId, ulong iova) =>
        Compare(bed, leafPa, leaves, [.. Accesses.Select(access => new TranslationRequest(deviceId, iova, access))]);

    /// <summary>For each leaf: flush, then every request in order (so a later request may hit an entry an earlier
    /// one filled), each against the uncached translator and then three times against the cached one.</summary>
    private static int Compare(TranslationBed bed, ulong leafPa, IEnumerable<ulong> leaves, TranslationRequest[] requests)
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
            foreach (TranslationRequest request in requests)
            {
                TranslationResult expected = uncached.Translate(in request);
                for (int pass = 0; pass < 3; pass++)
                {
                    TranslationResult actual = bed.Translator.Translate(in request);
                    Assert.That(actual, Is.EqualTo(expected),
                        $"leaf 0x{leaf:x}, {request.Access}{(request.Privileged ? " supervisor" : "")}, pass {pass}: cached {actual}, uncached {expected}");
                }

                Assert.That(bed.Read(leafPa), Is.EqualTo(leaf), "no SADE/GADE: the leaf is never written");
                successes += expected.Success ? 1 : 0;
            }
        }

        return successes;
    }

    [TestCase(false, Description = "DC.tc.DTF = 0: faults reported")]
    [TestCase(true, Description = "DC.tc.DTF = 1: page faults suppressed, the same from a cached DC as from a walk of the DDT")]
    public void First_stage_leaf_bits_give_the_same_result_from_a_hit_as_from_a_walk(bool dtf)
    {
        using var bed = new TranslationBed().SingleStage();
        bed.Q(TranslationBed.DcAddr1, 0x1 | (dtf ? 1UL << 4 : 0));     // tc: V, DTF
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
                $"pass {pass} (0 walks, 1 hits the IOTLB and fills the micro-TLB, 2 hits the micro-TLB)");
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

    // Requests with a process_id: the PC (PD8) gives the first stage. Every leaf pattern x access in user mode and
    // in supervisor mode, one mode after the other in both orders (so each finds entries the other filled), with
    // PC.ta.SUM and ENS on and off: user mode needs U = 1, supervisor U = 0 (or SUM, not for execute), and a
    // supervisor request without ENS is "transaction type disallowed", from a hit as from a walk.
    [TestCase(false, true, 32 + 32, Description = "no SUM: user mode U = 1 pages, supervisor U = 0 pages")]
    [TestCase(true, true, 32 + 52, Description = "SUM: supervisor also reads and writes U = 1 pages")]
    [TestCase(false, false, 32, Description = "no ENS: only user mode succeeds; supervisor is cause 260")]
    [TestCase(true, false, 32, Description = "no ENS, SUM: still cause 260, also on U = 1 pages user mode cached")]
    public void Process_id_requests_give_the_same_result_from_a_hit_as_from_a_walk(bool sum, bool ens, int successCount)
    {
        using var bed = new TranslationBed().SingleStage();
        bed.Q(DcAddr4 + 0, 0x1 | (1UL << 5));                            // tc: V, PDTV
        bed.Q(DcAddr4 + 8, 0);                                           // iohgatp: Bare
        bed.Q(DcAddr4 + 16, 0);
        bed.Q(DcAddr4 + 24, (1UL << 60) | (Pdt >> 12));                  // fsc = pdtp: MODE PD8
        bed.Q(Pdt + ProcessId * 16, 0x1 | (ens ? 2UL : 0) | (sum ? 4UL : 0) | (5UL << 12)); // PC.ta: V ENS SUM, PSCID 5
        bed.Q(Pdt + ProcessId * 16 + 8, (8UL << 60) | 0x80001);          // PC.fsc: Sv39, the single-stage root
        TranslationRequest[] Requests(bool supervisorFirst) =>
        [
            .. from privileged in new[] { supervisorFirst, !supervisorFirst }
               from access in Accesses
               select new TranslationRequest(4, ProcessId, TranslationBed.Iova, access, privileged),
        ];
        int userFirst = Compare(bed, TranslationBed.L0Entry, Leaves(0x90000), Requests(supervisorFirst: false));
        int supervisorFirst = Compare(bed, TranslationBed.L0Entry, Leaves(0x90000), Requests(supervisorFirst: true));
        Assert.That((userFirst, supervisorFirst), Is.EqualTo((successCount, successCount)), "successful translations among those compared");
    }

    [Test]
    public void Process_id_wider_than_the_pdt_mode_faults_from_a_warm_cache_too()
    {
        using var bed = new TranslationBed().SingleStage();
        bed.Q(DcAddr4 + 0, 0x1 | (1UL << 5));                            // tc: V, PDTV
        bed.Q(DcAddr4 + 24, (1UL << 60) | (Pdt >> 12));                  // PD8: process_id < 256
        bed.Q(Pdt + ProcessId * 16, 0x1 | (5UL << 12));
        bed.Q(Pdt + ProcessId * 16 + 8, (8UL << 60) | 0x80001);
        var good = new TranslationRequest(4, ProcessId, TranslationBed.Iova, AccessType.Read);
        Assert.That(bed.Translate(in good).PhysicalAddress, Is.EqualTo(TranslationBed.ExpectedPa), "fill DC, PC and IOTLB");
        Assert.That(bed.Translate(in good).PhysicalAddress, Is.EqualTo(TranslationBed.ExpectedPa), "hit");
        var wide = new TranslationRequest(4, ProcessId | 0x100, TranslationBed.Iova, AccessType.Read);
        Assert.That((ushort)bed.Translate(in wide).Cause, Is.EqualTo(260), "process_id 0x103 is too wide for PD8");
        var none = new TranslationRequest(4, TranslationBed.Iova, AccessType.Read);
        var r = bed.Translate(in none);
        Assert.That((r.Success, r.PhysicalAddress), Is.EqualTo((true, TranslationBed.Iova)),
            "step 12: PDTV = 1, DPE = 0 and no process_id: first stage Bare (and the G-stage Bare: the IOVA is the SPA)");
    }
}
