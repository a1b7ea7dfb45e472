using FastIommu.Formats.RiscV;
using FastIommu.Hardware;

namespace FastIommu.Tests.Hardware.Translation;

/// <summary>
/// Every fault cause of "Process to translate an IOVA" from hand-written tables (see <see cref="TranslationBed"/>):
/// the spec's CAUSE, iotval (the IOVA) and iotval2 (GPA[63:2] | implicit | write for guest-page faults, else 0).
/// Uncached translators, so each request walks memory.
/// </summary>
public class TranslationFaultTests
{
    private static TranslationBed Bed(ulong caps = TranslationBed.AllCaps) => new(caps, TranslatorCacheOptions.Uncached);

    private static void AssertFault(TranslationResult r, ushort cause, ulong iotval, ulong iotval2, string reason)
    {
        Assert.Multiple(() =>
        {
            Assert.That(r.Success, Is.False, $"{reason}: the request faults");
            Assert.That((ushort)r.Cause, Is.EqualTo(cause), $"{reason}: CAUSE");
            Assert.That(r.Iotval, Is.EqualTo(iotval), $"{reason}: iotval is the IOVA");
            Assert.That(r.Iotval2, Is.EqualTo(iotval2), $"{reason}: iotval2");
        });
    }

    private static void AssertPa(TranslationResult r, ulong pa, string reason)
    {
        Assert.That(r.Success, Is.True, $"{reason}: succeeds ({r})");
        Assert.That(r.PhysicalAddress, Is.EqualTo(pa), $"{reason}: PA");
    }

    [Test]
    public void The_hand_built_scenarios_translate()
    {
        using var bed = Bed().SingleStage();
        var r = bed.Translate(1, TranslationBed.Iova, AccessType.Write);
        AssertPa(r, TranslationBed.ExpectedPa, "single stage Sv39");
        Assert.Multiple(() =>
        {
            Assert.That(r.PageSize, Is.EqualTo(0x1000UL), "4 KiB leaf");
            Assert.That((r.Readable, r.Writable, r.Executable), Is.EqualTo((true, true, false)), "leaf R W, no X");
            Assert.That(r.Ttyp, Is.EqualTo(TransactionType.UntranslatedWrite), "TTYP 3");
        });

        using var bed2 = Bed().TwoStage();
        AssertPa(bed2.Translate(2, TranslationBed.Iova), TranslationBed.ExpectedPa, "Sv39 over Sv39x4");
    }

    [Test]
    public void Ddtp_off_disallows_everything_cause_256()
    {
        using var bed = Bed().SingleStage();
        bed.Translator.Ddtp = new Ddtp(0);
        AssertFault(bed.Translate(1, 0x1234), 256, 0x1234, 0, "iommu_mode Off");
        Assert.That(bed.Translate(1, 0x1234).ShouldReport, Is.True, "256 is reported");
    }

    [Test]
    public void Ddtp_bare_passes_untranslated_requests_through_and_disallows_ats_cause_260()
    {
        using var bed = Bed();
        bed.Translator.Ddtp = new Ddtp(1);
        AssertPa(bed.Translate(123, 0xdead_b000), 0xdead_b000, "Bare: PA = IOVA");
        var ats = new TranslationRequest(123, 0xdead_b000, AccessType.Read) { AtsTranslationRequest = true };
        AssertFault(bed.Translate(in ats), 260, 0xdead_b000, 0, "Bare: ATS translation request");
        var translated = new TranslationRequest(123, 0xdead_b000, AccessType.Write) { Translated = true };
        AssertFault(bed.Translate(in translated), 260, 0xdead_b000, 0, "Bare: translated request");
    }

    [TestCase(2UL, 0x80u, Description = "1LVL base: DDI[1] = device_id[15:7] = 1")]
    [TestCase(3UL, 0x1_0000u, Description = "2LVL base: DDI[2] = device_id[23:16] = 1")]
    public void Device_id_wider_than_the_ddt_mode_is_cause_260(ulong mode, uint deviceId)
    {
        using var bed = Bed();
        bed.Translator.Ddtp = new Ddtp((0x80000UL << 10) | mode);
        AssertFault(bed.Translate(deviceId, 0x5000), 260, 0x5000, 0, $"device_id 0x{deviceId:x}");
    }

    [Test]
    public void Extended_format_splits_device_id_6_9_9()
    {
        // MSI_FLAT (bit 22): DDI[0] = device_id[5:0], 64-byte DCs. Device 0x40 has DDI[1] = 1: too wide for 1LVL,
        // device 0x3F is the last of the leaf page (DC at 0x8000_0000 + 0x3F x 64 = 0x8000_0FC0).
        using var bed = Bed(TranslationBed.AllCaps | (1UL << 22));
        AssertFault(bed.Translate(0x40, 0x7000), 260, 0x7000, 0, "DDI[1] != 0 under 1LVL");
        bed.Q(0x8000_0FC0, 0x1);                      // tc V, everything else Bare / 0
        AssertPa(bed.Translate(0x3F, 0x7000), 0x7000, "64-byte DC found at DDI[0] x 64; both stages Bare");
        bed.Q(0x8000_0FC0 + 56, 1);                   // the reserved doubleword
        bed.Translator.InvalidateDdt(false, 0);
        AssertFault(bed.Translate(0x3F, 0x7000), 259, 0x7000, 0, "extended DC reserved doubleword");
        bed.Q(0x8000_0FC0 + 56, 0);
        bed.Q(0x8000_0FC0 + 32, 2UL << 60);          // msiptp.MODE 2: reserved
        AssertFault(bed.Translate(0x3F, 0x7000), 259, 0x7000, 0, "msiptp.MODE not Off/Flat");
    }

    [TestCase(false, Description = "base: DDI[2] = did[23:16], DDI[1] = did[15:7], DDI[0] = did[6:0], 32-byte DC")]
    [TestCase(true, Description = "extended: DDI[2] = did[23:15], DDI[1] = did[14:6], DDI[0] = did[5:0], 64-byte DC")]
    public void Three_level_ddt_walk_uses_the_format_split(bool extended)
    {
        // device_id 0x01_8143: base DDI = (0x01, 0x102, 0x43); extended DDI = (0x03, 0x005, 0x03).
        using var bed = Bed(extended ? TranslationBed.AllCaps | (1UL << 22) : TranslationBed.AllCaps);
        bed.Translator.Ddtp = new Ddtp((0x80004UL << 10) | 4);              // 3LVL, root 0x8000_4000
        ulong root = 0x8000_4000, mid = 0x8000_5000, leaf = 0x8000_6000;
        ulong ddi2 = extended ? 0x03UL : 0x01UL, ddi1 = extended ? 0x005UL : 0x102UL, ddi0 = extended ? 0x03UL : 0x43UL;
        bed.Q(root + ddi2 * 8, (mid >> 12 << 10) | 1);
        bed.Q(mid + ddi1 * 8, (leaf >> 12 << 10) | 1);
        bed.Q(leaf + ddi0 * (extended ? 64UL : 32UL), 1);                    // DC: V, both stages Bare
        var r = bed.Translate(0x01_8143, 0x1234_5000);
        Assert.That((r.Success, r.PhysicalAddress), Is.EqualTo((true, 0x1234_5000UL)), $"DC found through the split ({r})");
    }

    // MSI translation (step 18), extended-format DC of device 0x3F at 0x8000_0FC0: G-stage as in the two-stage
    // scenario, first stage Bare, msiptp Flat at 0x8000_8000, msi_addr_mask 0x3 and pattern 0x2_8000: GPA pages
    // 0x28000..0x28003 (GPA 0x2800_0000..0x2800_3FFF) are interrupt files 0..3. File 2 (GPA 0x2800_2000 + offset) -> msipte at 0x8000_8020.
    private static TranslationBed MsiBed()
    {
        var bed = Bed(TranslationBed.AllCaps | (1UL << 22)).TwoStage();
        const ulong Dc = 0x8000_0FC0;
        bed.Q(Dc, 0x1);
        bed.Q(Dc + 8, (8UL << 60) | (7UL << 44) | 0x80010);
        bed.Q(Dc + 32, (1UL << 60) | 0x80008);                              // msiptp: Flat, PPN 0x80008
        bed.Q(Dc + 40, 0x3);                                                 // msi_addr_mask
        bed.Q(Dc + 48, 0x2_8000);                                            // msi_addr_pattern
        bed.Q(0x8000_8020, (0xA0002UL << 10) | (3UL << 1) | 1);              // file 2: basic mode (M = 3), PPN 0xA0002
        return bed;
    }

    [Test]
    public void Msi_addresses_translate_through_the_msi_page_table()
    {
        using var bed = MsiBed();
        var r = bed.Translate(0x3F, 0x2800_2040, AccessType.Write);
        Assert.That((r.Success, r.PhysicalAddress, r.Writable, r.Executable), Is.EqualTo((true, 0xA000_2040UL, true, false)),
            $"file 2 -> PPN 0xA0002 | A[11:0] ({r})");
        AssertPa(bed.Translate(0x3F, 0x1000_0040), 0x9000_0040, "a GPA outside the pattern takes the G-stage");
        AssertFault(bed.Translate(0x3F, 0x2800_2040, AccessType.Execute), 1, 0x2800_2040, 0, "execute of an MSI page");
        AssertFault(bed.Translate(0x3F, 0x2800_1040, AccessType.Write), 262, 0x2800_1040, 0, "file 1: msipte.V = 0");
        bed.Q(0x8000_8030, (0xA0003UL << 10) | (2UL << 1) | 1);              // file 3: M = 2
        AssertFault(bed.Translate(0x3F, 0x2800_3000, AccessType.Write), 263, 0x2800_3000, 0, "M = 2 is misconfigured");
        bed.Q(0x8000_8030, (0xA0003UL << 10) | (3UL << 1) | 1 | (1UL << 5)); // reserved bit 5
        AssertFault(bed.Translate(0x3F, 0x2800_3000, AccessType.Write), 263, 0x2800_3000, 0, "reserved bit in a basic-mode PTE");
        bed.Q(0x8000_0FC0 + 32, (1UL << 60) | 0x100000);                    // MSI page table outside memory
        bed.Translator.InvalidateDdt(false, 0);
        AssertFault(bed.Translate(0x3F, 0x2800_2040, AccessType.Write), 261, 0x2800_2040, 0, "MSI PTE load access fault");
    }

    [TestCase(0UL, Description = "first stage Bare: was the identity skipped, with a page size of 2^63")]
    [TestCase((8UL << 60) | 0x80001, Description = "first stage Sv39")]
    public void Msi_page_table_with_a_bare_g_stage_is_cause_259(ulong fsc)
    {
        // iohgatp.MODE = Bare with msiptp.MODE != Off is reserved; the spec recommends "DDT entry misconfigured".
        using var bed = Bed(TranslationBed.AllCaps | (1UL << 22)).SingleStage();
        const ulong Dc = 0x8000_0FC0;                                        // device 0x3F, extended format
        bed.Q(Dc, 0x1);
        bed.Q(Dc + 24, fsc);
        bed.Q(Dc + 32, (1UL << 60) | 0x80008);                              // msiptp: Flat
        bed.Q(Dc + 40, 0x3);
        bed.Q(Dc + 48, 0x2_8000);
        AssertFault(bed.Translate(0x3F, 0x4020_3678), 259, 0x4020_3678, 0, "msiptp Flat under iohgatp Bare");
        AssertFault(bed.Translate(0x3F, 0x2800_2040, AccessType.Write), 259, 0x2800_2040, 0, "an MSI address too");
        bed.Q(Dc + 32, 0);                                                   // msiptp Off: translates
        var r = bed.Translate(0x3F, 0x4020_3678);
        Assert.That((r.Success, r.PageSize), Is.EqualTo((true, 0x1000UL)), $"msiptp Off: 4 KiB, never more than the mode's largest leaf ({r})");
    }

    [Test]
    public void Ddt_entry_load_access_fault_cause_257()
    {
        using var bed = Bed();
        bed.Translator.Ddtp = new Ddtp((0x100000UL << 10) | 2); // root at 0x1_0000_0000: not memory
        AssertFault(bed.Translate(1, 0x3000), 257, 0x3000, 0, "DC read outside memory");
        bed.Translator.Ddtp = new Ddtp((0x80000UL << 10) | 3); // 2LVL root 0x8000_0000
        bed.Q(0x8000_0000, (0x100000UL << 10) | 1);            // DDI[1] = 0 -> leaf page 0x1_0000_0000
        AssertFault(bed.Translate(1, 0x3000), 257, 0x3000, 0, "non-leaf points outside memory");
    }

    [Test]
    public void Ddt_page_outside_memory_and_disposed_memory_are_load_access_faults_cause_257()
    {
        using var bed = Bed();
        bed.Translator.Ddtp = new Ddtp((0x80000UL << 10) | 3); // 2LVL root 0x8000_0000
        bed.Q(0x8000_0000, 0x1);                               // DDI[1] = 0 -> leaf page 0: not memory
        AssertFault(bed.Translate(1, 0x3000), 257, 0x3000, 0, "leaf DDT page at PA 0");
        bed.Translator.Ddtp = new Ddtp(TranslationBed.Ddtp1Lvl);
        bed.Memory.Dispose();
        AssertFault(bed.Translate(1, 0x3000), 257, 0x3000, 0, "memory disposed under the translator: reads fail, nothing throws");
    }

    [Test]
    public void Ddt_entry_not_valid_cause_258()
    {
        using var bed = Bed();
        AssertFault(bed.Translate(1, 0x3000), 258, 0x3000, 0, "DC.tc.V = 0");
        bed.Translator.Ddtp = new Ddtp((0x80000UL << 10) | 3);
        bed.Q(0x8000_0000, 0x2000_1000);                       // PPN 0x80004 but V = 0
        AssertFault(bed.Translate(1, 0x3000), 258, 0x3000, 0, "non-leaf DDT entry V = 0");
    }

    [TestCase(0UL, 1UL << 12, 0UL, 0UL, TranslationBed.AllCaps, Description = "tc reserved bit 12")]
    [TestCase(0UL, 1UL << 32, 0UL, 0UL, TranslationBed.AllCaps, Description = "tc reserved bit 32")]
    [TestCase(0UL, 1UL << 8, 0UL, 0UL, TranslationBed.AllCaps & ~(1UL << 24), Description = "SADE without AMO_HWAD")]
    [TestCase(0UL, 1UL << 7, 0UL, 0UL, TranslationBed.AllCaps & ~(1UL << 24), Description = "GADE without AMO_HWAD")]
    [TestCase(8UL, 0UL, (8UL << 60) | 0x80011, 0UL, TranslationBed.AllCaps, Description = "iohgatp root not 16 KiB aligned")]
    [TestCase(8UL, 0UL, 9UL << 60, 0UL, TranslationBed.AllCaps & ~(1UL << 18), Description = "Sv48x4 not in capabilities")]
    [TestCase(8UL, 0UL, 11UL << 60, 0UL, TranslationBed.AllCaps, Description = "iohgatp.MODE 11 reserved")]
    [TestCase(24UL, 0UL, 10UL << 60, 0UL, TranslationBed.AllCaps & ~(1UL << 11), Description = "Sv57 not in capabilities")]
    [TestCase(24UL, 0UL, 5UL << 60, 0UL, TranslationBed.AllCaps, Description = "iosatp.MODE 5 reserved")]
    [TestCase(24UL, 0UL, (8UL << 60) | (1UL << 44), 0UL, TranslationBed.AllCaps, Description = "iosatp bit 44 reserved")]
    [TestCase(16UL, 0UL, 1UL, 0UL, TranslationBed.AllCaps, Description = "ta reserved bit 0")]
    [TestCase(0UL, 1UL << 3, 0UL, 0UL, TranslationBed.AllCaps, Description = "T2GPA without EN_ATS")]
    [TestCase(0UL, 1UL << 2 | 1UL << 1, 0UL, 0UL, TranslationBed.AllCaps & ~(1UL << 25), Description = "EN_ATS/EN_PRI without ATS")]
    [TestCase(0UL, 1UL << 6 | 1UL << 1, 0UL, 0UL, TranslationBed.AllCaps, Description = "PRPR without EN_PRI")]
    [TestCase(0UL, 1UL << 3 | 1UL << 1, 0UL, 0UL, TranslationBed.AllCaps, Description = "T2GPA with iohgatp Bare")]
    [TestCase(24UL, 1UL << 5, 3UL << 60, 0UL, TranslationBed.AllCaps & ~(1UL << 40), Description = "PD20 not in capabilities")]
    [TestCase(24UL, 1UL << 5, 4UL << 60, 0UL, TranslationBed.AllCaps, Description = "pdtp.MODE 4 reserved")]
    [TestCase(0UL, 1UL << 9, 0UL, 0UL, TranslationBed.AllCaps, Description = "DPE with PDTV = 0")]
    [TestCase(0UL, 1UL << 10, 0UL, 0UL, TranslationBed.AllCaps, Description = "SBE != fctl.BE without END")]
    public void Misconfigured_device_context_is_cause_259(ulong offset, ulong tcBits, ulong value, ulong unused, ulong caps)
    {
        _ = unused;
        using var bed = Bed(caps);
        bed.Q(TranslationBed.DcAddr1, 0x1 | tcBits);
        if (offset != 0)
        {
            bed.Q(TranslationBed.DcAddr1 + offset, value);
        }

        AssertFault(bed.Translate(1, 0x3000), 259, 0x3000, 0, "DC misconfigured");
    }

    [Test]
    public void Misconfigured_non_leaf_ddt_entry_is_cause_259()
    {
        using var bed = Bed();
        bed.Translator.Ddtp = new Ddtp((0x80000UL << 10) | 3);
        bed.Q(0x8000_0000, (0x80004UL << 10) | 1 | (1UL << 54)); // reserved bit 54
        AssertFault(bed.Translate(1, 0x3000), 259, 0x3000, 0, "non-leaf bit 54");
        bed.Q(0x8000_0000, (0x80004UL << 10) | 1 | (1UL << 1));  // reserved bit 1
        AssertFault(bed.Translate(1, 0x3000), 259, 0x3000, 0, "non-leaf bit 1");
        bed.Q(0x8000_0000, (0x80004UL << 10) | 1);
        bed.Q(0x8000_4020, 1);                                   // DC of device 1 in the leaf page, both stages Bare
        AssertPa(bed.Translate(1, 0x3000), 0x3000, "a clean 2LVL walk reaches the DC");
    }

    // PDT scenarios: device 1, PDTV = 1, pdtp root 0x8000_6000; the PC's first stage is the standard Sv39 table.
    private static TranslationBed PdtBed(ulong pdtpMode, ulong tcExtra = 0, ulong caps = TranslationBed.AllCaps)
    {
        var bed = Bed(caps).SingleStage();
        bed.Q(TranslationBed.DcAddr1, 0x1 | (1UL << 5) | tcExtra);   // V, PDTV
        bed.Q(TranslationBed.DcAddr1 + 24, (pdtpMode << 60) | 0x80006);
        return bed;
    }

    [Test]
    public void Pd8_pd17_pd20_locate_the_process_context()
    {
        // PD8: PC of process 0x2A at 0x8000_6000 + 0x2A x 16 = 0x8000_62A0.
        using (var bed = PdtBed(1))
        {
            bed.Q(0x8000_62A0, 0x1 | (9UL << 12));                 // ta: V, PSCID 9
            bed.Q(0x8000_62A8, (8UL << 60) | 0x80001);             // fsc: Sv39 root 0x8000_1000
            AssertPa(bed.Translate(new TranslationRequest(1, 0x2A, TranslationBed.Iova, AccessType.Read)), TranslationBed.ExpectedPa, "PD8");
            AssertFault(bed.Translate(new TranslationRequest(1, 0x12A, TranslationBed.Iova, AccessType.Read)), 260, TranslationBed.Iova, 0,
                "process_id 0x12A is wider than PD8");
        }

        // PD17: process 0x1_2345: PDI[1] = 0x123 -> entry 0x8000_6918 -> leaf page 0x8000_7000; PDI[0] = 0x45 -> PC 0x8000_7450.
        using (var bed = PdtBed(2))
        {
            bed.Q(0x8000_6918, (0x80007UL << 10) | 1);
            bed.Q(0x8000_7450, 0x1 | (9UL << 12));
            bed.Q(0x8000_7458, (8UL << 60) | 0x80001);
            AssertPa(bed.Translate(new TranslationRequest(1, 0x1_2345, TranslationBed.Iova, AccessType.Read)), TranslationBed.ExpectedPa, "PD17");
            AssertFault(bed.Translate(new TranslationRequest(1, 0x2_0000, TranslationBed.Iova, AccessType.Read)), 260, TranslationBed.Iova, 0,
                "process_id bit 17 is wider than PD17");
        }

        // PD20: process 0xA_BCDE: PDI[2] = 5 -> 0x8000_6028 -> page 0x8000_7000; PDI[1] = 0x0BC -> 0x8000_75E0 -> page
        // 0x8000_8000; PDI[0] = 0xDE -> PC 0x8000_8DE0.
        using (var bed = PdtBed(3))
        {
            bed.Q(0x8000_6028, (0x80007UL << 10) | 1);
            bed.Q(0x8000_75E0, (0x80008UL << 10) | 1);
            bed.Q(0x8000_8DE0, 0x1 | (9UL << 12));
            bed.Q(0x8000_8DE8, (8UL << 60) | 0x80001);
            AssertPa(bed.Translate(new TranslationRequest(1, 0xA_BCDE, TranslationBed.Iova, AccessType.Read)), TranslationBed.ExpectedPa, "PD20");
        }
    }

    [Test]
    public void Pdt_entry_load_access_fault_cause_265()
    {
        using var bed = PdtBed(2);
        bed.Q(TranslationBed.DcAddr1 + 24, (2UL << 60) | 0x100000);   // PDT root 0x1_0000_0000: not memory
        AssertFault(bed.Translate(new TranslationRequest(1, 3, 0x5000, AccessType.Read)), 265, 0x5000, 0, "PDT root outside memory");
        using var bed2 = PdtBed(1);
        bed2.Q(TranslationBed.DcAddr1 + 24, (1UL << 60) | 0x100000);
        AssertFault(bed2.Translate(new TranslationRequest(1, 3, 0x5000, AccessType.Write)), 265, 0x5000, 0, "PC outside memory");
    }

    [Test]
    public void Pdt_entry_not_valid_cause_266()
    {
        using var bed = PdtBed(1);
        AssertFault(bed.Translate(new TranslationRequest(1, 3, 0x5000, AccessType.Read)), 266, 0x5000, 0, "PC.ta.V = 0");
        using var bed2 = PdtBed(2);
        bed2.Q(0x8000_6000, 0x2000_1C00);                              // non-leaf with V = 0
        AssertFault(bed2.Translate(new TranslationRequest(1, 3, 0x5000, AccessType.Read)), 266, 0x5000, 0, "non-leaf PDT entry V = 0");
    }

    [Test]
    public void Pdt_entry_misconfigured_cause_267()
    {
        using var bed = PdtBed(1);
        bed.Q(0x8000_6030, 0x1 | (1UL << 3));                          // PC of process 3: ta reserved bit 3
        AssertFault(bed.Translate(new TranslationRequest(1, 3, 0x5000, AccessType.Read)), 267, 0x5000, 0, "PC.ta reserved bit");
        bed.Q(0x8000_6030, 0x1);
        bed.Q(0x8000_6038, 10UL << 60);                                 // Sv57 without the capability
        bed.Recreate(TranslationBed.AllCaps & ~(1UL << 11), TranslatorCacheOptions.Uncached);
        AssertFault(bed.Translate(new TranslationRequest(1, 3, 0x5000, AccessType.Read)), 267, 0x5000, 0, "PC.fsc.MODE unsupported");
        bed.Q(0x8000_6038, 7UL << 60);
        AssertFault(bed.Translate(new TranslationRequest(1, 3, 0x5000, AccessType.Read)), 267, 0x5000, 0, "PC.fsc.MODE reserved");

        using var bed2 = PdtBed(2);
        bed2.Q(0x8000_6000, (0x80007UL << 10) | 1 | (1UL << 63));     // non-leaf reserved bit 63
        AssertFault(bed2.Translate(new TranslationRequest(1, 3, 0x5000, AccessType.Read)), 267, 0x5000, 0, "non-leaf PDT reserved bit");
    }

    [Test]
    public void Process_id_without_pdtv_and_supervisor_without_ens_are_cause_260()
    {
        using var bed = Bed().SingleStage();
        AssertFault(bed.Translate(new TranslationRequest(1, 3, TranslationBed.Iova, AccessType.Read)), 260, TranslationBed.Iova, 0,
            "process_id with DC.tc.PDTV = 0");
        using var pdt = PdtBed(1);
        pdt.Q(0x8000_6030, 0x1 | (9UL << 12));                         // V, ENS = 0
        pdt.Q(0x8000_6038, (8UL << 60) | 0x80001);
        AssertFault(pdt.Translate(new TranslationRequest(1, 3, TranslationBed.Iova, AccessType.Read, privileged: true)), 260,
            TranslationBed.Iova, 0, "supervisor request, PC.ta.ENS = 0");
    }

    [Test]
    public void Dpe_uses_process_id_0_for_requests_without_one()
    {
        using var bed = PdtBed(1, tcExtra: 1UL << 9);
        bed.Q(0x8000_6000, 0x1 | (9UL << 12));                         // PC of process 0
        bed.Q(0x8000_6008, (8UL << 60) | 0x80001);
        AssertPa(bed.Translate(1, TranslationBed.Iova), TranslationBed.ExpectedPa, "DPE: process_id 0");
        bed.Q(TranslationBed.DcAddr1, 0x1 | (1UL << 5));                // DPE = 0: first stage Bare
        AssertPa(bed.Translate(1, 0x4321_0000), 0x4321_0000, "no process_id, DPE = 0: first stage Bare");
    }

    [TestCase(AccessType.Read, (ushort)13)]
    [TestCase(AccessType.Write, (ushort)15)]
    [TestCase(AccessType.Execute, (ushort)12)]
    public void Invalid_leaf_is_a_page_fault_of_the_access_type(AccessType access, ushort cause)
    {
        using var bed = Bed().SingleStage();
        bed.Q(TranslationBed.L0Entry, TranslationBed.LeafRwu & ~1UL);
        AssertFault(bed.Translate(1, TranslationBed.Iova, access), cause, TranslationBed.Iova, 0, "leaf V = 0");
    }

    [TestCase(TranslationBed.LeafRwu | (1UL << 54), AccessType.Read, Description = "reserved bit 54")]
    [TestCase(TranslationBed.LeafRwu | (1UL << 60), AccessType.Read, Description = "reserved bit 60")]
    [TestCase(0x2400_00D5UL, AccessType.Read, Description = "W without R")]
    [TestCase(0x2400_00D4UL | 1, AccessType.Write, Description = "XWR = 010 write")]
    [TestCase(TranslationBed.LeafRwu | (3UL << 61), AccessType.Read, Description = "PBMT = 3")]
    [TestCase((0x90004UL << 10) | 0xD7 | (1UL << 63), AccessType.Read, Description = "N with PPN[3:0] = 0100")]
    [TestCase(0x2400_00C3UL, AccessType.Write, Description = "write to a read-only page")]
    [TestCase(0x2400_00C7UL, AccessType.Read, Description = "U = 0 page, user request")]
    [TestCase(0x2400_0097UL, AccessType.Read, Description = "A = 0 without SADE")]
    [TestCase(0x2400_0057UL, AccessType.Write, Description = "write with D = 0 without SADE")]
    [TestCase(0x2000_0C01UL, AccessType.Read, Description = "a pointer (V alone) at level 0")]
    public void Bad_or_forbidding_leaf_is_a_page_fault(ulong leaf, AccessType access)
    {
        using var bed = Bed().SingleStage();
        bed.Q(TranslationBed.L0Entry, leaf);
        ushort cause = access == AccessType.Write ? (ushort)15 : (ushort)13;
        AssertFault(bed.Translate(1, TranslationBed.Iova, access), cause, TranslationBed.Iova, 0, $"leaf 0x{leaf:x}");
    }

    [TestCase(0x2000_0C01UL | 0x40, Description = "non-leaf with A")]
    [TestCase(0x2000_0C01UL | 0x80, Description = "non-leaf with D")]
    [TestCase(0x2000_0C01UL | 0x10, Description = "non-leaf with U")]
    [TestCase(0x2000_0C01UL | (1UL << 61), Description = "non-leaf with PBMT")]
    [TestCase(0x2000_0C01UL | (1UL << 63), Description = "non-leaf with N")]
    [TestCase(0x2000_0C01UL | (1UL << 54), Description = "non-leaf with reserved bit 54")]
    [TestCase(0x2000_0C01UL | (1UL << 60), Description = "non-leaf with reserved bit 60")]
    [TestCase(0x2000_0C01UL | 0x4, Description = "non-leaf-looking entry with W alone: W without R")]
    [TestCase(0x2000_0C00UL, Description = "pointer with V = 0")]
    [TestCase((0x90001UL << 10) | 0xD7, Description = "2 MiB leaf with PPN[8:0] != 0: misaligned superpage")]
    [TestCase((0x90000UL << 10) | 0xD7 | (1UL << 63), Description = "N on a level-1 leaf")]
    public void Bad_level_1_entry_is_a_page_fault(ulong entry)
    {
        using var bed = Bed().SingleStage();
        bed.Q(TranslationBed.L1Entry, entry);
        AssertFault(bed.Translate(1, TranslationBed.Iova), 13, TranslationBed.Iova, 0, $"L1 entry 0x{entry:x}");
    }

    [Test]
    public void Pbmt_needs_svpbmt_and_napot_64k_works()
    {
        using var bed = Bed(TranslationBed.AllCaps & ~(1UL << 15)).SingleStage();
        bed.Q(TranslationBed.L0Entry, TranslationBed.LeafRwu | (1UL << 61));
        AssertFault(bed.Translate(1, TranslationBed.Iova), 13, TranslationBed.Iova, 0, "PBMT = NC without Svpbmt is reserved");

        using var napot = Bed().SingleStage();
        // 64 KiB NAPOT at PA 0x9008_0000: PPN 0x90088 (PPN[3:0] = 1000b), N. IOVA 0x4020_3678 is page 3 of the
        // 16-page range 0x4020_0000: PA = 0x9008_0000 | 0x3678.
        napot.Q(TranslationBed.L0Entry, (0x90088UL << 10) | 0xD7 | (1UL << 63));
        var r = napot.Translate(1, TranslationBed.Iova);
        AssertPa(r, 0x9008_3678, "NAPOT 64 KiB");
        Assert.That(r.PageSize, Is.EqualTo(0x1_0000UL), "NAPOT size");
    }

    [Test]
    public void Superpages_translate_with_the_iova_low_bits()
    {
        using var bed = Bed().SingleStage();
        bed.Q(TranslationBed.L1Entry, (0x90200UL << 10) | 0xD7);        // 2 MiB leaf at PA 0x9020_0000
        var r = bed.Translate(1, TranslationBed.Iova);
        AssertPa(r, 0x9020_3678, "2 MiB superpage: PA = 0x9020_0000 | IOVA[20:0]");
        Assert.That(r.PageSize, Is.EqualTo(0x20_0000UL), "2 MiB");
        bed.Q(TranslationBed.L2Entry, (0xC0000UL << 10) | 0xD7);        // 1 GiB leaf at PA 0xC000_0000
        AssertPa(bed.Translate(1, TranslationBed.Iova), 0xC020_3678, "1 GiB superpage");
    }

    [TestCase(AccessType.Read, (ushort)5)]
    [TestCase(AccessType.Write, (ushort)7)]
    [TestCase(AccessType.Execute, (ushort)1)]
    public void Page_table_outside_memory_is_an_access_fault(AccessType access, ushort cause)
    {
        using var bed = Bed().SingleStage();
        bed.Q(TranslationBed.L1Entry, (0x100000UL << 10) | 1);          // L0 table at 0x1_0000_0000
        AssertFault(bed.Translate(1, TranslationBed.Iova, access), cause, TranslationBed.Iova, 0, "PTE read outside memory");
    }

    [Test]
    public void G_stage_table_outside_memory_is_an_access_fault_of_the_original_type()
    {
        using var bed = Bed().TwoStage();
        bed.Q(0x8001_4000, (0x100000UL << 10) | 1);                      // G L1[0] -> G L0 at 0x1_0000_0000
        AssertFault(bed.Translate(2, TranslationBed.Iova, AccessType.Write), 7, TranslationBed.Iova, 0,
            "the G-stage PTE for the first-stage root's GPA is not in memory");
    }

    [Test]
    public void Non_canonical_iova_is_a_page_fault()
    {
        using var bed = Bed().SingleStage();
        // Sv39: bits 63:39 must equal bit 38. 0x80_0000_0000 has bit 39 set and bit 38 clear.
        AssertFault(bed.Translate(1, 0x80_0000_0000, AccessType.Write), 15, 0x80_0000_0000, 0, "Sv39 IOVA not sign-extended");
        AssertFault(bed.Translate(1, 0xFFFF_FFC0_0000_0000 ^ (1UL << 63)), 13, 0x7FFF_FFC0_0000_0000, 0, "bit 63 differs from bit 38");
    }

    [Test]
    public void Supervisor_user_memory_rules()
    {
        // PD8, process 3: V, ENS, PSCID 9; the leaf is U = 1 (standard scenario).
        using var bed = PdtBed(1);
        bed.Q(0x8000_6030, 0x1 | 0x2 | (9UL << 12));
        bed.Q(0x8000_6038, (8UL << 60) | 0x80001);
        var supervisorRead = new TranslationRequest(1, 3, TranslationBed.Iova, AccessType.Read, privileged: true);
        AssertFault(bed.Translate(in supervisorRead), 13, TranslationBed.Iova, 0, "S access to a U page with SUM = 0");
        bed.Q(0x8000_6030, 0x1 | 0x2 | 0x4 | (9UL << 12));              // SUM
        AssertPa(bed.Translate(in supervisorRead), TranslationBed.ExpectedPa, "S access to a U page with SUM = 1");
        bed.Q(TranslationBed.L0Entry, TranslationBed.LeafRwu | 0x8);       // add X
        AssertFault(bed.Translate(new TranslationRequest(1, 3, TranslationBed.Iova, AccessType.Execute, privileged: true)), 12,
            TranslationBed.Iova, 0, "S execute of a U page, even with SUM");
        bed.Q(TranslationBed.L0Entry, 0x2400_00CF);                         // U = 0, R W X
        AssertPa(bed.Translate(new TranslationRequest(1, 3, TranslationBed.Iova, AccessType.Execute, privileged: true)), TranslationBed.ExpectedPa,
            "S execute of an S page");
        AssertFault(bed.Translate(new TranslationRequest(1, 3, TranslationBed.Iova, AccessType.Read)), 13, TranslationBed.Iova, 0,
            "U access to an S page");
    }

    [Test]
    public void Sade_sets_a_and_d_by_cas()
    {
        using var bed = Bed().SingleStage();
        bed.Q(TranslationBed.DcAddr1, 0x1 | (1UL << 8));                  // V, SADE
        bed.Q(TranslationBed.L0Entry, 0x2400_0017);                        // V R W U, A = D = 0
        AssertPa(bed.Translate(1, TranslationBed.Iova), TranslationBed.ExpectedPa, "read");
        Assert.That(bed.Read(TranslationBed.L0Entry), Is.EqualTo(0x2400_0057UL), "a read sets A only");
        AssertPa(bed.Translate(1, TranslationBed.Iova, AccessType.Write), TranslationBed.ExpectedPa, "write");
        Assert.That(bed.Read(TranslationBed.L0Entry), Is.EqualTo(0x2400_00D7UL), "a write sets D too");
        bed.Q(TranslationBed.L0Entry, 0x2400_0013);                        // read-only, A = 0
        AssertFault(bed.Translate(1, TranslationBed.Iova, AccessType.Write), 15, TranslationBed.Iova, 0, "no write permission");
        Assert.That(bed.Read(TranslationBed.L0Entry), Is.EqualTo(0x2400_0013UL), "a faulting access sets nothing");
    }

    [Test]
    public void Guest_page_fault_on_the_final_gpa_reports_gpa_bits_63_2()
    {
        using var bed = Bed().TwoStage();
        bed.Q(TranslationBed.L0Entry, 0x408_00DF);                         // leaf GPA 0x1020_0000 R W X: G L1[0x81] is empty
        AssertFault(bed.Translate(2, 0x4020_367B), 21, 0x4020_367B, 0x1020_0678, "read: GPA 0x1020_067B, bits 1:0 cleared");
        AssertFault(bed.Translate(2, 0x4020_367B, AccessType.Write), 23, 0x4020_367B, 0x1020_0678, "write");
        AssertFault(bed.Translate(2, 0x4020_367B, AccessType.Execute), 20, 0x4020_367B, 0x1020_0678, "execute");
    }

    [Test]
    public void Guest_page_fault_on_an_implicit_pte_read_sets_iotval2_bit_0()
    {
        using var bed = Bed().TwoStage();
        bed.Q(0x8001_5010, 0);                                             // G L0[2]: GPA 0x2000 (first-stage L1) unmapped
        AssertFault(bed.Translate(2, TranslationBed.Iova, AccessType.Write), 23, TranslationBed.Iova, 0x2009,
            "PTE at GPA 0x2008, implicit read: iotval2 = 0x2008 | 1, cause of the original write");
    }

    [TestCase(0x40UL, Description = "A")]
    [TestCase(0x80UL, Description = "D")]
    [TestCase(0x10UL, Description = "U")]
    [TestCase(1UL << 61, Description = "PBMT")]
    [TestCase(1UL << 63, Description = "N")]
    [TestCase(1UL << 54, Description = "reserved bit 54")]
    [TestCase(1UL << 60, Description = "reserved bit 60")]
    [TestCase(0x4UL, Description = "W without R")]
    public void Bad_g_stage_pointer_is_a_guest_page_fault(ulong bits)
    {
        // G L1[0] points to G L0 (the first-stage tables' GPAs); with a bit that a non-leaf G-stage PTE must not have,
        // the G-stage walk of the first-stage root PTE's GPA (0x1008, an implicit read) faults.
        using var bed = Bed().TwoStage();
        bed.Q(0x8001_4000, 0x2000_5401UL | bits);
        AssertFault(bed.Translate(2, TranslationBed.Iova), 21, TranslationBed.Iova, 0x1009, $"G L1[0] with 0x{bits:x}");
    }

    [Test]
    public void Guest_page_fault_on_an_implicit_ad_write_sets_iotval2_bits_0_and_1()
    {
        using var bed = Bed().TwoStage();
        bed.Q(TranslationBed.DcAddr2, 0x1 | (1UL << 8));                  // V, SADE
        bed.Q(TranslationBed.L0Entry, 0x400_0017);                         // first-stage leaf A = 0
        bed.Q(0x8001_5018, (0x80003UL << 10) | 0xD3);                      // G L0[3] (GPA 0x3000): R U A D, no W
        AssertFault(bed.Translate(2, TranslationBed.Iova), 21, TranslationBed.Iova, 0x301B,
            "A update of the PTE at GPA 0x3018 needs G-stage write: iotval2 = 0x3018 | 3");
    }

    [Test]
    public void G_stage_leaf_needs_u_and_gpa_zero_high_bits()
    {
        using var bed = Bed().TwoStage();
        bed.Q(0x8001_4400, 0x2400_00CF);                                   // G 2 MiB leaf without U
        AssertFault(bed.Translate(2, TranslationBed.Iova), 21, TranslationBed.Iova, 0x1000_0678, "G-stage leaf U = 0");

        // First stage Bare under Sv39x4: the IOVA is the GPA; bits 63:41 must be zero.
        using var bare = Bed().TwoStage();
        bare.Q(TranslationBed.DcAddr2 + 24, 0);
        AssertPa(bare.Translate(2, 0x1000_1234), 0x9000_1234, "GPA 0x1000_1234 through the 2 MiB G leaf");
        AssertFault(bare.Translate(2, 0x200_0000_1234), 21, 0x200_0000_1234, 0x200_0000_1234, "GPA bit 41 set");
    }

    [Test]
    public void Gade_sets_g_stage_a_and_d()
    {
        using var bed = Bed().TwoStage();
        bed.Q(TranslationBed.DcAddr2, 0x1 | (1UL << 7));                   // V, GADE
        bed.Q(0x8001_4400, 0x2400_001F);                                    // G 2 MiB leaf, A = D = 0
        AssertPa(bed.Translate(2, TranslationBed.Iova, AccessType.Write), TranslationBed.ExpectedPa, "write");
        Assert.That(bed.Read(0x8001_4400), Is.EqualTo(0x2400_00DFUL), "G-stage A and D set");
        bed.Q(TranslationBed.DcAddr2, 0x1);
        bed.Q(0x8001_4400, 0x2400_001F);
        AssertFault(bed.Translate(2, TranslationBed.Iova), 21, TranslationBed.Iova, 0x1000_0678, "G-stage A = 0 without GADE");
    }

    [Test]
    public void Pdt_read_through_the_g_stage_faults_with_iotval2_bit_0()
    {
        using var bed = Bed().TwoStage();
        bed.Q(TranslationBed.DcAddr2, 0x1 | (1UL << 5));                   // V, PDTV
        bed.Q(TranslationBed.DcAddr2 + 24, (1UL << 60) | 0x20);             // PD8 at GPA 0x2_0000: not mapped by the G-stage
        AssertFault(bed.Translate(new TranslationRequest(2, 1, 0x5000, AccessType.Execute)), 20, 0x5000, 0x2_0001,
            "PDT root GPA 0x2_0000, implicit: iotval2 = 0x2_0000 | 1");
        bed.Q(TranslationBed.DcAddr2 + 24, (1UL << 60) | 0x6);              // PD8 at GPA 0x6000 = SPA 0x8000_6000
        bed.Q(0x8000_6010, 0x1 | (9UL << 12));                              // PC of process 1
        bed.Q(0x8000_6018, (8UL << 60) | 0x1);                              // first stage root GPA 0x1000
        AssertPa(bed.Translate(new TranslationRequest(2, 1, TranslationBed.Iova, AccessType.Read)), TranslationBed.ExpectedPa,
            "PDT and first stage through the G-stage");
    }

    [TestCase(AccessType.Read)]
    [TestCase(AccessType.Write)]
    [TestCase(AccessType.Execute)]
    public void G_stage_access_fault_while_locating_the_process_context_is_cause_265(AccessType access)
    {
        // GET_PC: pdtp.PPN and pdte.PPN are GPAs read as implicit accesses; an access fault in their G-stage walk is
        // "PDT entry load access fault", not the request's own access fault. G L1[1] (GPA 0x20_0000..) points to a
        // G-stage table outside memory.
        using var bed = Bed().TwoStage();
        bed.Q(0x8001_4008, (0x100000UL << 10) | 1);                         // G L1[1] -> G L0 at 0x1_0000_0000
        bed.Q(TranslationBed.DcAddr2, 0x1 | (1UL << 5));                     // V, PDTV
        bed.Q(TranslationBed.DcAddr2 + 24, (1UL << 60) | 0x200);             // PD8 root at GPA 0x20_0000
        AssertFault(bed.Translate(new TranslationRequest(2, 3, 0x5000, access)), 265, 0x5000, 0, "PDT root's G-stage walk");
        bed.Q(TranslationBed.DcAddr2 + 24, (2UL << 60) | 0x6);               // PD17 root at GPA 0x6000 = SPA 0x8000_6000
        bed.Q(0x8000_6000, (0x200UL << 10) | 1);                             // PDI[1] = 0 -> leaf level at GPA 0x20_0000
        bed.Translator.InvalidateDdt(false, 0);
        AssertFault(bed.Translate(new TranslationRequest(2, 3, 0x5000, access)), 265, 0x5000, 0, "PDT level's G-stage walk");
    }

    [Test]
    public void Ats_translation_requests()
    {
        using var bed = Bed().SingleStage();
        var ats = new TranslationRequest(1, TranslationBed.Iova, AccessType.Write) { AtsTranslationRequest = true };
        AssertFault(bed.Translate(in ats), 260, TranslationBed.Iova, 0, "EN_ATS = 0");
        bed.Q(TranslationBed.DcAddr1, 0x1 | 0x2);                           // V, EN_ATS
        var r = bed.Translate(in ats);
        AssertPa(r, TranslationBed.ExpectedPa, "ATS completion");
        Assert.Multiple(() =>
        {
            Assert.That(r.Ttyp, Is.EqualTo(TransactionType.AtsTranslationRequest), "TTYP 8");
            Assert.That((r.Readable, r.Writable, r.Executable), Is.EqualTo((true, true, false)), "R W granted, X not requested");
        });
        bed.Q(TranslationBed.L0Entry, 0x2400_00D3);                         // read-only
        r = bed.Translate(in ats);
        Assert.That((r.Success, r.Readable, r.Writable), Is.EqualTo((true, true, false)), "write denied: success with W = 0");
        bed.Q(TranslationBed.L0Entry, 0);
        r = bed.Translate(in ats);
        Assert.Multiple(() =>
        {
            Assert.That((r.Success, r.Readable, r.Writable), Is.EqualTo((true, false, false)), "page fault: success, R = W = 0");
            Assert.That((ushort)r.Cause, Is.EqualTo((ushort)15), "the page fault behind it");
            Assert.That(r.ShouldReport, Is.False, "not logged");
        });
    }

    [Test]
    public void Translated_requests()
    {
        using var bed = Bed().TwoStage();
        var t = new TranslationRequest(2, 0x1000_0040, AccessType.Write) { Translated = true };
        AssertFault(bed.Translate(in t), 260, 0x1000_0040, 0, "translated with EN_ATS = 0");
        bed.Q(TranslationBed.DcAddr2, 0x1 | 0x2);                           // V, EN_ATS
        var r = bed.Translate(in t);
        AssertPa(r, 0x1000_0040, "T2GPA = 0: the address is an SPA");
        Assert.That(r.Ttyp, Is.EqualTo(TransactionType.TranslatedWrite), "TTYP 7");
        bed.Q(TranslationBed.DcAddr2, 0x1 | 0x2 | 0x8);                     // V, EN_ATS, T2GPA
        AssertPa(bed.Translate(in t), 0x9000_0040, "T2GPA = 1: G-stage translation of the GPA");
    }

    [Test]
    public void Dtf_suppresses_translation_fault_reports_only()
    {
        using var bed = Bed().SingleStage();
        bed.Q(TranslationBed.DcAddr1, 0x1 | 0x10);                          // V, DTF
        bed.Q(TranslationBed.L0Entry, 0);
        var r = bed.Translate(1, TranslationBed.Iova);
        Assert.That((r.Success, r.FaultReportSuppressed), Is.EqualTo((false, true)), "page fault aborted, not reported");
        r = bed.Translate(new TranslationRequest(1, 3, TranslationBed.Iova, AccessType.Read));
        Assert.That(((ushort)r.Cause, r.FaultReportSuppressed), Is.EqualTo(((ushort)260, true)), "260 is not reported under DTF");
        bed.Q(TranslationBed.DcAddr1, 0x10 | (1UL << 12));                  // V = 0: no DC, DTF assumed 0
        Assert.That(bed.Translate(1, TranslationBed.Iova).ShouldReport, Is.True, "258 is reported");
    }
}
