using FastIommu.Formats.RiscV;
using FastIommu.Hardware;
using FastIommu.Hardware.Caches;

namespace FastIommu.Tests.Hardware.Translation;

/// <summary>
/// The miss path's shortcut: an untranslated request without process_id whose cached DC translates by its first
/// stage alone (PDTV = 0, iohgatp Bare, no MSI page table, iosatp Sv39/48/57) skips steps 1 to 16 and walks at once
/// (TranslatorEngine.TranslateFirstStage). It must return exactly what the full process returns, leave the same
/// PTE behind (SADE) and fill the IOTLB with the same entry. The reference is the same memory translated with every
/// cache off, so that each of its translations runs the whole process from the DDT.
/// </summary>
/// <remarks>Sv48 and Sv57 through the shortcut are covered by <see cref="TranslationDifferentialTests"/>: its
/// translator caches the DC on the first request, so every later miss of a single-stage mode takes the shortcut and
/// must agree with the page-table engine.</remarks>
public class TranslationFirstStageShortcutTests
{
    private static readonly AccessType[] Accesses = [AccessType.Read, AccessType.Write, AccessType.Execute];

    private static IommuTranslator Reference(TranslationBed bed) =>
        new(bed.Memory, new Capabilities(TranslationBed.AllCaps), TranslatorCacheOptions.Uncached) { Ddtp = bed.Translator.Ddtp };

    /// <summary>Caches device 1's DC without touching the watched leaf: IOVA + 4 KiB uses L0[4], which is empty.</summary>
    private static void CacheDc(TranslationBed bed) =>
        Assert.That((ushort)bed.Translate(1, TranslationBed.Iova + 0x1000).Cause, Is.EqualTo(13), "L0[4] is not valid: a load page fault, and device 1's DC is cached");

    // Every leaf bit pattern R W X U G A D (bits 1..7) with V = 1, every access, with DTF and SADE on and off. With
    // SADE the walk may set A and D: each side starts from the same leaf and must leave the same leaf.
    [TestCase(false, false)]
    [TestCase(true, false)]
    [TestCase(false, true)]
    [TestCase(true, true)]
    public void Every_leaf_and_access_gives_the_full_process_result_and_pte(bool dtf, bool sade)
    {
        using var bed = new TranslationBed(TranslationBed.AllCaps, new TranslatorCacheOptions { IotlbEntries = 0 }).SingleStage();
        bed.Q(TranslationBed.DcAddr1, 0x1 | (dtf ? 1UL << 4 : 0) | (sade ? 1UL << 8 : 0));    // tc: V, DTF, SADE
        IommuTranslator reference = Reference(bed);
        CacheDc(bed);
        int successes = 0, written = 0;
        for (ulong bits = 0; bits < 128; bits++)
        {
            ulong leaf = (0x90000UL << 10) | (bits << 1) | 1;
            foreach (AccessType access in Accesses)
            {
                var request = new TranslationRequest(1, TranslationBed.Iova, access);
                bed.Q(TranslationBed.L0Entry, leaf);
                TranslationResult expected = reference.Translate(in request);
                ulong expectedPte = bed.Read(TranslationBed.L0Entry);
                bed.Q(TranslationBed.L0Entry, leaf);
                TranslationResult actual = bed.Translate(in request);
                Assert.That(actual, Is.EqualTo(expected), $"leaf 0x{leaf:x}, {access}: shortcut {actual}, full process {expected}");
                Assert.That(bed.Read(TranslationBed.L0Entry), Is.EqualTo(expectedPte), $"leaf 0x{leaf:x}, {access}: the PTE left behind");
                successes += expected.Success ? 1 : 0;
                written += expectedPte != leaf ? 1 : 0;
            }
        }

        // Without SADE a success needs U and A: read R (W X G D free: 16), write R W D (X G free: 4), execute X with R W
        // not W-only (3 x G D: 12): 32. With SADE, A and D are set on the way, so only U is needed: 32 + 16 + 24 = 72.
        // Only SADE writes the leaf.
        Assert.That((successes, written > 0), Is.EqualTo((sade ? 72 : 32, sade)), "successes and written PTEs among those compared");
        if (dtf)
        {
            Assert.That(bed.Translate(1, TranslationBed.Iova + 0x1000).FaultReportSuppressed, Is.True, "DTF = 1 through the shortcut: the page fault is not reported");
        }
    }

    // With the IOTLB on: a VMA invalidation keeps the DC, so the next request misses both TLB levels and the shortcut
    // walks and fills the IOTLB. That entry (a second-level hit, then a micro-TLB copy) must serve exactly what the
    // full process gives, for every leaf and access, in an order where later requests meet entries earlier ones made.
    // The shortcut reads a 4 KiB entry's flags straight off the leaf (FirstStageFlags): every R W X U G A D and
    // each PBMT (PMA, NC, IO) is compared.
    [TestCase(0UL)]
    [TestCase(1UL)]
    [TestCase(2UL)]
    public void The_iotlb_entry_the_shortcut_fills_serves_the_full_process_result(ulong pbmt)
    {
        using var bed = new TranslationBed().SingleStage();
        IommuTranslator reference = Reference(bed);
        CacheDc(bed);
        int successes = 0;
        for (ulong bits = 0; bits < 128; bits++)
        {
            ulong leaf = (pbmt << Pte.PbmtShift) | (0x90000UL << 10) | (bits << 1) | 1;
            bed.Q(TranslationBed.L0Entry, leaf);
            bed.Translator.InvalidateVma(false, 0, false, 0, false, 0);
            foreach (AccessType access in Accesses)
            {
                var request = new TranslationRequest(1, TranslationBed.Iova, access);
                TranslationResult expected = reference.Translate(in request);
                for (int pass = 0; pass < 3; pass++)
                {
                    TranslationResult actual = bed.Translate(in request);
                    Assert.That(actual, Is.EqualTo(expected), $"leaf 0x{leaf:x}, {access}, pass {pass}: cached {actual}, full process {expected}");
                }

                successes += expected.Success ? 1 : 0;
            }
        }

        Assert.That(successes, Is.EqualTo(32), "successful translations were compared");
    }

    [Test]
    public void The_shortcut_fills_the_iotlb_a_stale_entry_then_serves_until_invalidated()
    {
        using var bed = new TranslationBed().SingleStage();
        CacheDc(bed);
        bed.Translator.InvalidateVma(false, 0, false, 0, false, 0);
        Assert.That(bed.Translate(1, TranslationBed.Iova).PhysicalAddress, Is.EqualTo(TranslationBed.ExpectedPa), "the shortcut walks");
        bed.Q(TranslationBed.L0Entry, 0x2400_40D7);                    // PPN 0x90010, no invalidation
        Assert.That(bed.Translate(1, TranslationBed.Iova).PhysicalAddress, Is.EqualTo(TranslationBed.ExpectedPa), "the IOTLB entry it filled");
        bed.Translator.InvalidateVma(false, 0, true, 5, true, TranslationBed.Iova);
        Assert.That(bed.Translate(1, TranslationBed.Iova).PhysicalAddress, Is.EqualTo(0x9001_0678UL), "after IOTINVAL.VMA PSCID 5 + address");
    }

    private static DeviceContextInfo Dc(ulong tc, ulong iohgatp, ulong fsc, ulong msiptp = 0) =>
        new() { Tc = tc, Iohgatp = iohgatp, Ta = 5UL << 12, Fsc = fsc, Msiptp = msiptp, FsSlot = 3, FsIdentity = 9, GSlot = -1, Stamp = 1 };

    private const ulong Sv39Fsc = (8UL << 60) | 0x80001;

    // Which cached DCs the shortcut takes: only a first stage alone. A PDT (PDTV = 1: DC.fsc is pdtp), a G-stage, an
    // MSI page table (step 18) or a Bare iosatp (both stages Bare, or a G-stage alone) go to the full process.
    [TestCase(0x1UL, 0UL, Sv39Fsc, 0UL, true, Description = "Sv39")]
    [TestCase(0x1UL, 0UL, (9UL << 60) | 0x80001, 0UL, true, Description = "Sv48")]
    [TestCase(0x1UL, 0UL, (10UL << 60) | 0x80001, 0UL, true, Description = "Sv57")]
    [TestCase(0x1UL, 0UL, 0x80001UL, 0UL, false, Description = "iosatp Bare")]
    [TestCase(0x1UL | (1UL << 5), 0UL, (1UL << 60) | 0x80006, 0UL, false, Description = "PDTV = 1, PD8")]
    [TestCase(0x1UL, (8UL << 60) | (7UL << 44) | 0x80010, Sv39Fsc, 0UL, false, Description = "G-stage Sv39x4")]
    [TestCase(0x1UL, 0UL, Sv39Fsc, (1UL << 60) | 0x80020, false, Description = "msiptp Flat")]
    public void The_walk_plan_is_kept_only_for_a_first_stage_alone(ulong tc, ulong iohgatp, ulong fsc, ulong msiptp, bool taken)
    {
        var dir = new DirectoryCaches(16, 16);
        dir.PutDc(1, dir.DdtGeneration, dir.InvalidationSequence, Dc(tc, iohgatp, fsc, msiptp));
        Assert.That(dir.TryGetDcWalk(1, out ulong planFsc, out _, out int slot, out uint identity), Is.EqualTo(taken));
        Assert.That((planFsc, slot, identity), Is.EqualTo(taken ? (fsc, 3, 9u) : (0UL, -1, 0u)), "DC.fsc and the first stage's space when taken");
    }

    [Test]
    public void The_walk_plan_keeps_sade_and_dtf_and_goes_with_its_dc()
    {
        var dir = new DirectoryCaches(16, 16);
        ulong tc = 0x1 | (1UL << 1) | (1UL << 3) | (1UL << 4) | (1UL << 7) | (1UL << 8);     // V EN_ATS T2GPA DTF GADE SADE
        dir.PutDc(1, dir.DdtGeneration, dir.InvalidationSequence, Dc(tc, 0, Sv39Fsc));
        Assert.That(dir.TryGetDcWalk(1, out _, out uint planTc, out _, out _), Is.True);
        Assert.That(planTc, Is.EqualTo((1u << 4) | (1u << 8)), "DTF and SADE: all the shortcut reads of DC.tc");
        Assert.That(dir.TryGetDcWalk(2, out _, out _, out _, out _), Is.False, "another device_id");

        dir.InvalidateDevice(1);
        Assert.That(dir.TryGetDcWalk(1, out _, out _, out _, out _), Is.False, "IODIR.INVAL_DDT of the device");
        dir.PutDc(1, dir.DdtGeneration, dir.InvalidationSequence, Dc(tc, 0, Sv39Fsc));
        dir.InvalidateAllDevices();
        Assert.That(dir.TryGetDcWalk(1, out _, out _, out _, out _), Is.False, "IODIR.INVAL_DDT of all devices");
    }
}
