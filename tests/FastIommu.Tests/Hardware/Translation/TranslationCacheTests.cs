using FastIommu.Hardware;

namespace FastIommu.Tests.Hardware.Translation;

/// <summary>
/// The caches hold stale entries until the right command removes them (spec: "an implementation may use any
/// translation for an address that was valid at any time since the most recent IOTINVAL that subsumes that
/// address"), and the wrong command (other PSCID, GSCID, address, device, process) leaves them alone.
/// </summary>
public class TranslationCacheTests
{
    private const ulong NewLeaf = 0x2400_40D7;     // PPN 0x90010: PA 0x9001_0000
    private const ulong NewPa = 0x9001_0678;

    private static TranslationBed Cached() => new(TranslationBed.AllCaps, TranslatorCacheOptions.Default);

    /// <summary>Three translations that must all give <paramref name="pa"/>: the first may walk and fill the IOTLB,
    /// the second then hits the IOTLB and copies the hit into the micro-TLB, the third hits the micro-TLB. So every
    /// check below holds for each cache level that may serve it.</summary>
    private static void AssertPa(TranslationBed bed, uint deviceId, ulong pa, string reason) =>
        AssertPa(bed, new TranslationRequest(deviceId, TranslationBed.Iova, AccessType.Read), pa, reason);

    private static void AssertPa(TranslationBed bed, TranslationRequest request, ulong pa, string reason)
    {
        for (int pass = 0; pass < 3; pass++)
        {
            var r = bed.Translate(in request);
            Assert.That(r.Success, Is.True, $"{reason}, pass {pass}: succeeds ({r})");
            Assert.That(r.PhysicalAddress, Is.EqualTo(pa), $"{reason}, pass {pass}");
        }
    }

    [Test]
    public void Changed_pte_keeps_translating_the_old_way_until_the_matching_iotinval_vma()
    {
        using var bed = Cached().SingleStage();
        AssertPa(bed, 1, TranslationBed.ExpectedPa, "first translation fills the IOTLB");
        bed.Q(TranslationBed.L0Entry, NewLeaf);
        AssertPa(bed, 1, TranslationBed.ExpectedPa, "stale: the IOTLB does not snoop memory");

        bed.Translator.InvalidateVma(gv: false, 0, pscv: true, pscid: 6, av: false, 0);
        AssertPa(bed, 1, TranslationBed.ExpectedPa, "VMA for PSCID 6 leaves PSCID 5 alone");
        bed.Translator.InvalidateVma(gv: false, 0, pscv: true, pscid: 5, av: true, TranslationBed.Iova + 0x1000);
        AssertPa(bed, 1, TranslationBed.ExpectedPa, "VMA for the next page leaves this one");
        bed.Translator.InvalidateVma(gv: true, 0, pscv: true, pscid: 5, av: false, 0);
        AssertPa(bed, 1, TranslationBed.ExpectedPa, "VMA for GSCID 0's PSCID 5 is not the host's PSCID 5");
        bed.Translator.InvalidateGvma(gv: false, 0, av: false, 0);
        AssertPa(bed, 1, TranslationBed.ExpectedPa, "GVMA touches VM spaces only");
        bed.Translator.InvalidateDdt(false, 0);
        AssertPa(bed, 1, TranslationBed.ExpectedPa, "IODIR does not flush the IOTLB");

        bed.Translator.InvalidateVma(gv: false, 0, pscv: true, pscid: 5, av: true, TranslationBed.Iova & ~0xFFFUL);
        AssertPa(bed, 1, NewPa, "VMA PSCID 5 + ADDR flushes it");
    }

    [TestCase(false, false, Description = "GV=0 AV=0 PSCV=0: every host space")]
    [TestCase(true, false, Description = "GV=0 AV=1 PSCV=0: ADDR in every host space")]
    [TestCase(false, true, Description = "GV=0 AV=0 PSCV=1: the whole PSCID")]
    public void Every_host_vma_form_that_covers_the_entry_flushes_it(bool av, bool pscv)
    {
        using var bed = Cached().SingleStage();
        AssertPa(bed, 1, TranslationBed.ExpectedPa, "fill");
        bed.Q(TranslationBed.L0Entry, NewLeaf);
        bed.Translator.InvalidateVma(false, 0, pscv, 5, av, 0x4020_3000);
        AssertPa(bed, 1, NewPa, "flushed");
    }

    [Test]
    public void Global_entries_survive_a_pscid_flush_but_not_an_all_spaces_flush()
    {
        using var bed = Cached().SingleStage();
        bed.Q(TranslationBed.L0Entry, TranslationBed.LeafRwu | 0x20);      // G
        AssertPa(bed, 1, TranslationBed.ExpectedPa, "fill a global entry");
        bed.Q(TranslationBed.L0Entry, NewLeaf | 0x20);
        bed.Translator.InvalidateVma(false, 0, pscv: true, 5, av: false, 0);
        AssertPa(bed, 1, TranslationBed.ExpectedPa, "PSCV=1 keeps global mappings");
        bed.Translator.InvalidateVma(false, 0, pscv: true, 5, av: true, 0x4020_3000);
        AssertPa(bed, 1, TranslationBed.ExpectedPa, "PSCV=1 AV=1 keeps global mappings too");
        bed.Translator.InvalidateVma(false, 0, pscv: false, 0, av: true, 0x4020_3000);
        AssertPa(bed, 1, NewPa, "PSCV=0 AV=1 includes global mappings");
    }

    // A global (G = 1) first-stage entry of the host survives only the PSCV = 1 forms; every command that covers
    // all spaces of the host removes it, whether by address or not.
    [TestCase("vma-all", Description = "GV=0 AV=0 PSCV=0: every host space, global entries included")]
    [TestCase("vma-addr", Description = "GV=0 AV=1 PSCV=0: ADDR in every host space, global entries included")]
    [TestCase("all", Description = "InvalidateAll")]
    public void Global_host_entries_go_with_every_flush_that_includes_them(string form)
    {
        using var bed = Cached().SingleStage();
        bed.Q(TranslationBed.L0Entry, TranslationBed.LeafRwu | 0x20);      // G
        AssertPa(bed, 1, TranslationBed.ExpectedPa, "fill a global entry");
        bed.Q(TranslationBed.L0Entry, NewLeaf | 0x20);
        bed.Translator.InvalidateVma(false, 0, pscv: true, 5, av: false, 0);
        bed.Translator.InvalidateGvma(gv: false, 0, av: false, 0);
        AssertPa(bed, 1, TranslationBed.ExpectedPa, "PSCV=1 and GVMA (VM spaces only) keep it");
        switch (form)
        {
            case "vma-all": bed.Translator.InvalidateVma(false, 0, pscv: false, 0, av: false, 0); break;
            case "vma-addr": bed.Translator.InvalidateVma(false, 0, pscv: false, 0, av: true, 0x4020_3000); break;
            default: bed.Translator.InvalidateAll(); break;
        }

        AssertPa(bed, 1, NewPa, $"{form} flushes global entries too");
    }

    // The same for a VM: a global first-stage entry of (GSCID 7, PSCID 5) survives VMA GV=1 PSCV=1 and every command
    // for GSCID 8, and goes with the GSCID-wide VMA and both GVMA forms.
    [TestCase("vma-gscid", Description = "GV=1 AV=0 PSCV=0: all spaces of GSCID 7")]
    [TestCase("gvma-gscid", Description = "GVMA GV=1: GSCID 7")]
    [TestCase("gvma-all", Description = "GVMA GV=0: every VM")]
    public void Global_vm_entries_go_with_every_gscid_wide_flush(string form)
    {
        using var bed = Cached().TwoStage();
        bed.Q(TranslationBed.L0Entry, 0x400_00F7);                         // leaf GPA 0x1000_0000, V R W U G A D
        AssertPa(bed, 2, TranslationBed.ExpectedPa, "fill a global entry");
        bed.Q(TranslationBed.L0Entry, 0x404_00F7);                         // first-stage leaf GPA 0x1010_0000, G
        bed.Translator.InvalidateVma(gv: true, 7, pscv: true, 5, av: false, 0);
        bed.Translator.InvalidateVma(gv: true, 8, pscv: false, 0, av: false, 0);
        bed.Translator.InvalidateGvma(gv: true, 8, av: false, 0);
        bed.Translator.InvalidateVma(gv: false, 0, pscv: false, 0, av: false, 0);
        AssertPa(bed, 2, TranslationBed.ExpectedPa, "PSCV=1, GSCID 8 and the host's VMA keep it");
        switch (form)
        {
            case "vma-gscid": bed.Translator.InvalidateVma(gv: true, 7, pscv: false, 0, av: false, 0); break;
            case "gvma-gscid": bed.Translator.InvalidateGvma(gv: true, 7, av: false, 0); break;
            default: bed.Translator.InvalidateGvma(gv: false, 0, av: false, 0); break;
        }

        AssertPa(bed, 2, 0x9010_0678, $"{form} flushes global entries too");
    }

    [Test]
    public void Superpage_is_one_entry_and_any_address_inside_flushes_it()
    {
        using var bed = Cached().SingleStage();
        bed.Q(TranslationBed.L1Entry, (0x90200UL << 10) | 0xD7);          // 2 MiB leaf at 0x9020_0000
        for (ulong offset = 0; offset < 0x20_0000; offset += 0x4_0000)
        {
            var r = bed.Translate(1, 0x4020_0000 + offset);
            Assert.That(r.PhysicalAddress, Is.EqualTo(0x9020_0000 + offset), "superpage translation");
        }

        Assert.That(bed.Translator.IotlbOccupancy, Is.EqualTo(1), "eight addresses in one 2 MiB page: one entry");
        bed.Q(TranslationBed.L1Entry, (0x90400UL << 10) | 0xD7);
        bed.Translator.InvalidateVma(false, 0, true, 5, true, 0x4033_3000); // an address deep inside the superpage
        Assert.That(bed.Translate(1, 0x4020_0010).PhysicalAddress, Is.EqualTo(0x9040_0010UL), "flushed by an inner address");
    }

    [Test]
    public void G_stage_change_needs_gvma_for_the_right_gscid()
    {
        using var bed = Cached().TwoStage();
        AssertPa(bed, 2, TranslationBed.ExpectedPa, "fill");
        bed.Q(0x8001_4400, 0x2408_00DF);                                   // G leaf now SPA 0x9020_0000
        AssertPa(bed, 2, TranslationBed.ExpectedPa, "stale");
        bed.Translator.InvalidateGvma(gv: true, 8, av: false, 0);
        AssertPa(bed, 2, TranslationBed.ExpectedPa, "GVMA GSCID 8 leaves GSCID 7");
        bed.Translator.InvalidateVma(gv: true, 8, pscv: false, 0, av: false, 0);
        AssertPa(bed, 2, TranslationBed.ExpectedPa, "VMA for GSCID 8 leaves GSCID 7");
        bed.Translator.InvalidateVma(gv: false, 0, pscv: false, 0, av: false, 0);
        AssertPa(bed, 2, TranslationBed.ExpectedPa, "a host-wide VMA leaves VM spaces");
        bed.Translator.InvalidateGvma(gv: true, 7, av: true, 0x1000_0000);
        AssertPa(bed, 2, 0x9020_0678, "GVMA GSCID 7 flushes it");
    }

    // A G-stage alone (DC.fsc Bare) is cached too: its entry carries no first-stage U bit, so it must say that no
    // first stage took part, or a user-mode request could never hit it (it would walk and see the change at once).
    [Test]
    public void G_stage_only_translation_is_cached_until_gvma()
    {
        using var bed = Cached().TwoStage();
        bed.Q(0x8000_0060, 0x1);                                            // device 3's DC: V
        bed.Q(0x8000_0068, (8UL << 60) | (7UL << 44) | 0x80010);            // iohgatp: Sv39x4, GSCID 7
        bed.Q(0x8000_0070, 0);
        bed.Q(0x8000_0078, 0);                                              // fsc: Bare
        var request = new TranslationRequest(3, 0x1000_0678, AccessType.Read);   // GPA in the 2 MiB G leaf
        AssertPa(bed, request, 0x9000_0678, "fill");
        bed.Q(0x8001_4400, 0x2408_00DF);                                   // G leaf now SPA 0x9020_0000
        AssertPa(bed, request, 0x9000_0678, "stale: served from the IOTLB");
        bed.Translator.InvalidateGvma(gv: true, 7, av: true, 0x1000_0000);
        AssertPa(bed, request, 0x9020_0678, "GVMA GSCID 7 flushes it");
    }

    // Every IOTINVAL.VMA row with GV = 1, against a cached (GSCID 7, PSCID 5) translation whose first-stage leaf
    // changed: the matching command flushes it, the same command for GSCID 8 (or PSCID 6) does not.
    [TestCase(false, false, Description = "GV=1 AV=0 PSCV=0: all spaces of GSCID")]
    [TestCase(false, true, Description = "GV=1 AV=0 PSCV=1: (GSCID, PSCID)")]
    [TestCase(true, false, Description = "GV=1 AV=1 PSCV=0: ADDR in all spaces of GSCID")]
    [TestCase(true, true, Description = "GV=1 AV=1 PSCV=1: ADDR in (GSCID, PSCID)")]
    public void Every_vm_vma_form(bool av, bool pscv)
    {
        using var bed = Cached().TwoStage();
        AssertPa(bed, 2, TranslationBed.ExpectedPa, "fill");
        bed.Q(TranslationBed.L0Entry, 0x404_00D7);                         // first-stage leaf GPA 0x1010_0000
        bed.Translator.InvalidateVma(gv: true, 8, pscv, 5, av, 0x4020_3000);
        AssertPa(bed, 2, TranslationBed.ExpectedPa, "same form for GSCID 8");
        if (pscv)
        {
            bed.Translator.InvalidateVma(gv: true, 7, pscv, 6, av, 0x4020_3000);
            AssertPa(bed, 2, TranslationBed.ExpectedPa, "same form for PSCID 6");
        }

        if (av)
        {
            bed.Translator.InvalidateVma(gv: true, 7, pscv, 5, av, 0x4040_3000);
            AssertPa(bed, 2, TranslationBed.ExpectedPa, "same form for another address");
        }

        bed.Translator.InvalidateVma(gv: true, 7, pscv, 5, av, 0x4020_3000);
        AssertPa(bed, 2, 0x9010_0678, "the matching command");
    }

    [TestCase(false, Description = "GVMA GV=0: every VM")]
    [TestCase(true, Description = "GVMA GV=1 AV=0: GSCID 7")]
    public void Gvma_forms_flush_vm_entries(bool gv)
    {
        using var bed = Cached().TwoStage();
        AssertPa(bed, 2, TranslationBed.ExpectedPa, "fill");
        bed.Q(0x8001_4400, 0x2408_00DF);                                   // G leaf now SPA 0x9020_0000
        bed.Translator.InvalidateGvma(gv, 7, av: false, 0);
        AssertPa(bed, 2, 0x9020_0678, "flushed");
    }

    [Test]
    public void Vm_vma_by_pscid_and_address()
    {
        using var bed = Cached().TwoStage();
        AssertPa(bed, 2, TranslationBed.ExpectedPa, "fill");
        bed.Q(TranslationBed.L0Entry, 0x404_00D7);                         // first-stage leaf GPA 0x1010_0000
        bed.Translator.InvalidateVma(gv: true, 7, pscv: true, 6, av: true, 0x4020_3000);
        AssertPa(bed, 2, TranslationBed.ExpectedPa, "other PSCID in GSCID 7");
        bed.Translator.InvalidateVma(gv: true, 6, pscv: true, 5, av: true, 0x4020_3000);
        AssertPa(bed, 2, TranslationBed.ExpectedPa, "PSCID 5 in another GSCID");
        bed.Translator.InvalidateVma(gv: true, 7, pscv: true, 5, av: true, 0x4020_3000);
        AssertPa(bed, 2, 0x9010_0678, "GSCID 7 PSCID 5 ADDR");
    }

    [Test]
    public void Changed_device_context_needs_iodir_inval_ddt_for_that_device()
    {
        using var bed = Cached().SingleStage();
        AssertPa(bed, 1, TranslationBed.ExpectedPa, "fill");
        // New DC: PSCID 6 and a 1 GiB leaf straight in a new root at 0x8000_9000.
        bed.Q(0x8000_9008, (0xC0000UL << 10) | 0xD7);
        bed.Q(TranslationBed.DcAddr1 + 16, 6UL << 12);
        bed.Q(TranslationBed.DcAddr1 + 24, (8UL << 60) | 0x80009);
        AssertPa(bed, 1, TranslationBed.ExpectedPa, "stale DC");
        bed.Translator.InvalidateDdt(true, 2);
        AssertPa(bed, 1, TranslationBed.ExpectedPa, "IODIR.INVAL_DDT for device 2");
        bed.Translator.InvalidateVma(false, 0, false, 0, false, 0);
        AssertPa(bed, 1, TranslationBed.ExpectedPa, "IOTINVAL does not flush the DC cache");
        bed.Translator.InvalidateDdt(true, 1);
        AssertPa(bed, 1, 0xC020_3678, "IODIR.INVAL_DDT for device 1");
    }

    [Test]
    public void Changed_process_context_needs_iodir_inval_pdt_or_ddt()
    {
        using var bed = Cached().SingleStage();
        bed.Q(TranslationBed.DcAddr1, 0x1 | (1UL << 5));                   // PDTV
        bed.Q(TranslationBed.DcAddr1 + 24, (1UL << 60) | 0x80006);          // PD8 at 0x8000_6000
        bed.Q(0x8000_6030, 0x1 | (9UL << 12));                              // process 3: PSCID 9, Sv39 root 0x8000_1000
        bed.Q(0x8000_6038, (8UL << 60) | 0x80001);
        bed.Q(0x8000_9008, (0xC0000UL << 10) | 0xD7);                       // another root: 1 GiB leaf
        var request = new TranslationRequest(1, 3, TranslationBed.Iova, AccessType.Read);
        AssertPa(bed, request, TranslationBed.ExpectedPa, "fill");

        bed.Q(0x8000_6030, 0x1 | (10UL << 12));                             // PSCID 10, new root
        bed.Q(0x8000_6038, (8UL << 60) | 0x80009);
        AssertPa(bed, request, TranslationBed.ExpectedPa, "stale PC");
        bed.Translator.InvalidatePdt(1, 4);
        AssertPa(bed, request, TranslationBed.ExpectedPa, "INVAL_PDT other process");
        bed.Translator.InvalidatePdt(2, 3);
        AssertPa(bed, request, TranslationBed.ExpectedPa, "INVAL_PDT other device");
        bed.Translator.InvalidatePdt(1, 3);
        AssertPa(bed, request, 0xC020_3678UL, "INVAL_PDT (1, 3)");

        bed.Q(0x8000_6030, 0x1 | (9UL << 12));                              // back to PSCID 9 (its entry is still cached)
        bed.Q(0x8000_6038, (8UL << 60) | 0x80001);
        AssertPa(bed, request, 0xC020_3678UL, "stale again");
        bed.Translator.InvalidateDdt(true, 1);
        AssertPa(bed, request, TranslationBed.ExpectedPa, "INVAL_DDT(1) drops its PCs too");
    }

    [Test]
    public void Write_after_a_cached_read_still_sets_d()
    {
        using var bed = Cached().SingleStage();
        bed.Q(TranslationBed.DcAddr1, 0x1 | (1UL << 8));                    // SADE
        bed.Q(TranslationBed.L0Entry, 0x2400_0017);
        AssertPa(bed, 1, TranslationBed.ExpectedPa, "read caches a clean entry");
        Assert.That(bed.Read(TranslationBed.L0Entry), Is.EqualTo(0x2400_0057UL), "A set");
        Assert.That(bed.Translate(1, TranslationBed.Iova, AccessType.Write).Success, Is.True, "write");
        Assert.That(bed.Read(TranslationBed.L0Entry), Is.EqualTo(0x2400_00D7UL), "the write walked again and set D");
    }

    [Test]
    public void Permission_miss_on_a_cached_entry_walks_and_faults()
    {
        using var bed = Cached().SingleStage();
        bed.Q(TranslationBed.L0Entry, 0x2400_00D3);                         // read-only
        AssertPa(bed, 1, TranslationBed.ExpectedPa, "read caches it");
        var r = bed.Translate(1, TranslationBed.Iova, AccessType.Write);
        Assert.That(((ushort)r.Cause, r.Success), Is.EqualTo(((ushort)15, false)), "write page fault");
    }

    [Test]
    public void Recycled_address_space_slots_drop_their_entries()
    {
        using var bed = new TranslationBed(TranslationBed.AllCaps, new TranslatorCacheOptions { AddressSpaces = 1 }).SingleStage();
        AssertPa(bed, 1, TranslationBed.ExpectedPa, "fill PSCID 5");
        bed.Q(TranslationBed.L0Entry, NewLeaf);
        // Device 3 uses PSCID 6: its space takes the only slot, so PSCID 5's entries go.
        bed.Q(0x8000_0060, 0x1);
        bed.Q(0x8000_0070, 6UL << 12);
        bed.Q(0x8000_0078, (8UL << 60) | 0x80001);
        AssertPa(bed, 3, NewPa, "device 3 (PSCID 6)");
        AssertPa(bed, 1, NewPa, "PSCID 5 re-resolved to a fresh slot: new walk");
    }

    [Test]
    public void Recycled_address_space_slots_drop_their_global_entries_too()
    {
        using var bed = new TranslationBed(TranslationBed.AllCaps, new TranslatorCacheOptions { AddressSpaces = 1 }).SingleStage();
        bed.Q(TranslationBed.L0Entry, TranslationBed.LeafRwu | 0x20);      // G
        AssertPa(bed, 1, TranslationBed.ExpectedPa, "fill a global entry of PSCID 5");
        bed.Q(TranslationBed.L0Entry, NewLeaf | 0x20);
        bed.Q(0x8000_0060, 0x1);                                           // device 3: PSCID 6 takes the only slot
        bed.Q(0x8000_0070, 6UL << 12);
        bed.Q(0x8000_0078, (8UL << 60) | 0x80001);
        AssertPa(bed, 3, NewPa, "device 3 (PSCID 6) walks into the recycled slot");
        bed.Q(TranslationBed.L0Entry, 0x2400_80F7);                         // PPN 0x90020, G
        AssertPa(bed, 3, NewPa, "device 3's own global entry is cached");
        AssertPa(bed, 1, 0x9002_0678, "PSCID 5 takes the slot back: neither its old entry nor PSCID 6's is live");
    }

    [TestCase(-4)]
    [TestCase(2)]
    [TestCase(12)]
    [TestCase((1 << 24) * 2)]
    public void Iotlb_sizes_that_are_not_a_power_of_two_from_4_to_2_pow_24_are_refused(int entries)
    {
        using var memory = FastIommu.Memory.PhysicalMemory.Allocate(0x1000, 0x8000_0000);
        var options = new TranslatorCacheOptions { IotlbEntries = entries };
        var error = Assert.Throws<ArgumentOutOfRangeException>(
            () => _ = new IommuTranslator(memory, new FastIommu.Formats.RiscV.Capabilities(TranslationBed.AllCaps), options));
        Assert.That(error!.ParamName, Is.EqualTo(nameof(TranslatorCacheOptions.IotlbEntries)), "the message names the option");
    }

    [Test]
    public void A_one_set_iotlb_replaces_entries_and_keeps_translating_correctly()
    {
        using var bed = new TranslationBed(TranslationBed.AllCaps, new TranslatorCacheOptions { IotlbEntries = 4 }).SingleStage();
        // L0[0..7] map IOVA 0x4020_0000 + i x 4 KiB to PA 0x9000_0000 + i x 4 KiB: 8 pages through 4 ways.
        for (ulong i = 0; i < 8; i++)
        {
            bed.Q(TranslationBed.L0Entry - 3 * 8 + i * 8, TranslationBed.LeafRwu + (i << 10));
        }

        for (int round = 0; round < 3; round++)
        {
            for (ulong i = 0; i < 8; i++)
            {
                var r = bed.Translate(1, 0x4020_0010 + (i << 12));
                Assert.That(r.PhysicalAddress, Is.EqualTo(0x9000_0010 + (i << 12)), $"page {i}, round {round}");
            }
        }

        Assert.That(bed.Translator.IotlbOccupancy, Is.EqualTo(4), "one full set");
    }
}
