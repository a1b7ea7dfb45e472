using FastIommu.Formats.RiscV;
using FastIommu.Hardware;

namespace FastIommu.Tests.Hardware.Translation;

/// <summary>
/// The micro-TLB (the IOTLB's first level, by requester and page) is a cache of its own: it may keep a copy the
/// IOTLB has replaced, exactly as a hardware micro-TLB that is not inclusive may, and every command that covers the
/// translation (or the context it came through) removes that copy. Here the IOTLB is one set of 4 ways, so other
/// pages push the watched translation out of it and only the micro-TLB can still hold the old one.
/// </summary>
public class TranslationMicroTlbTests
{
    private const ulong NewLeaf = 0x2400_40D7;     // PPN 0x90010: PA 0x9001_0000
    private const ulong NewPa = 0x9001_0678;
    private const int OtherPages = 16;             // L0[4..19]: IOVA 0x4020_4000.. -> PA 0x9100_0000..

    private static TranslationBed OneSetIotlb(int microTlbEntries = 1024)
    {
        var bed = new TranslationBed(TranslationBed.AllCaps,
            new TranslatorCacheOptions { IotlbEntries = 4, MicroTlbEntries = microTlbEntries }).SingleStage();
        for (ulong i = 0; i < OtherPages; i++)
        {
            bed.Q(TranslationBed.L0Entry + 8 + i * 8, ((0x91000UL + i) << 10) | 0xD7);
        }

        return bed;
    }

    private static ulong Pa(TranslationBed bed, in TranslationRequest request)
    {
        var r = bed.Translate(in request);
        Assert.That(r.Success, Is.True, $"translates ({r})");
        return r.PhysicalAddress;
    }

    /// <summary>Translates the watched IOVA twice (a walk fills the IOTLB, the IOTLB hit fills the micro-TLB), then
    /// 16 other pages twice each through the one IOTLB set, then changes the watched leaf without invalidating.</summary>
    private static void FillThenEvictFromIotlb(TranslationBed bed, in TranslationRequest watched)
    {
        Assert.That(Pa(bed, in watched), Is.EqualTo(TranslationBed.ExpectedPa), "walk");
        Assert.That(Pa(bed, in watched), Is.EqualTo(TranslationBed.ExpectedPa), "IOTLB hit, copied into the micro-TLB");
        for (int round = 0; round < 2; round++)
        {
            for (ulong i = 0; i < OtherPages; i++)
            {
                var other = watched with { Iova = 0x4020_4010 + (i << 12) };
                Assert.That(Pa(bed, in other), Is.EqualTo(0x9100_0010 + (i << 12)), $"other page {i}");
            }
        }

        bed.Q(TranslationBed.L0Entry, NewLeaf);
    }

    [Test]
    public void A_copy_the_iotlb_replaced_serves_until_a_command_removes_it()
    {
        var request = new TranslationRequest(1, TranslationBed.Iova, AccessType.Read);
        using (var control = OneSetIotlb(microTlbEntries: 0))
        {
            FillThenEvictFromIotlb(control, in request);
            Assert.That(Pa(control, in request), Is.EqualTo(NewPa), "without a micro-TLB the IOTLB no longer holds it: a walk");
        }

        using var bed = OneSetIotlb();
        FillThenEvictFromIotlb(bed, in request);
        Assert.That(Pa(bed, in request), Is.EqualTo(TranslationBed.ExpectedPa), "the micro-TLB still holds the old translation");
        Assert.That(Pa(bed, in request), Is.EqualTo(TranslationBed.ExpectedPa), "and keeps it");
        bed.Translator.InvalidateVma(false, 0, true, 5, true, TranslationBed.Iova & ~0xFFFUL);
        Assert.That(Pa(bed, in request), Is.EqualTo(NewPa), "IOTINVAL.VMA PSCID 5 + ADDR removes it");
    }

    // Every command that covers (host, PSCID 5, the IOVA) or device 1's DC: the copy only the micro-TLB holds goes.
    [TestCase("vma-addr", Description = "IOTINVAL.VMA GV=0 AV=1 PSCV=1, the page")]
    [TestCase("vma-other-addr", Description = "IOTINVAL.VMA GV=0 AV=1 PSCV=1, another page of PSCID 5: the micro-TLB drops the whole space")]
    [TestCase("vma-addr-all", Description = "IOTINVAL.VMA GV=0 AV=1 PSCV=0")]
    [TestCase("vma-pscid", Description = "IOTINVAL.VMA GV=0 AV=0 PSCV=1")]
    [TestCase("vma-all", Description = "IOTINVAL.VMA GV=0 AV=0 PSCV=0")]
    [TestCase("ddt-device", Description = "IODIR.INVAL_DDT DV=1, device 1")]
    [TestCase("ddt-all", Description = "IODIR.INVAL_DDT DV=0")]
    [TestCase("pdt", Description = "IODIR.INVAL_PDT of another device: the micro-TLB drops every copy on any context invalidation")]
    [TestCase("all", Description = "InvalidateAll")]
    public void Every_command_covering_the_space_or_a_context_removes_the_copy(string form)
    {
        var request = new TranslationRequest(1, TranslationBed.Iova, AccessType.Read);
        using var bed = OneSetIotlb();
        FillThenEvictFromIotlb(bed, in request);
        Assert.That(Pa(bed, in request), Is.EqualTo(TranslationBed.ExpectedPa), "only the micro-TLB holds the old translation");
        ulong page = TranslationBed.Iova & ~0xFFFUL;
        switch (form)
        {
            case "vma-addr": bed.Translator.InvalidateVma(false, 0, true, 5, true, page); break;
            case "vma-other-addr": bed.Translator.InvalidateVma(false, 0, true, 5, true, page + 0x10_0000); break;
            case "vma-addr-all": bed.Translator.InvalidateVma(false, 0, false, 0, true, page); break;
            case "vma-pscid": bed.Translator.InvalidateVma(false, 0, true, 5, false, 0); break;
            case "vma-all": bed.Translator.InvalidateVma(false, 0, false, 0, false, 0); break;
            case "ddt-device": bed.Translator.InvalidateDdt(true, 1); break;
            case "ddt-all": bed.Translator.InvalidateDdt(false, 0); break;
            case "pdt": bed.Translator.InvalidatePdt(2, 0); break;
            default: bed.Translator.InvalidateAll(); break;
        }

        Assert.That(Pa(bed, in request), Is.EqualTo(NewPa), $"{form}: the copy is gone, the walk reads the new leaf");
    }

    // Commands for other spaces leave the copy (the micro-TLB's epochs are per space, not one for the whole cache).
    [TestCase("vma-other-pscid", Description = "IOTINVAL.VMA PSCID 6, whole")]
    [TestCase("vma-other-pscid-addr", Description = "IOTINVAL.VMA PSCID 6 + the same address")]
    [TestCase("vma-vm", Description = "IOTINVAL.VMA GV=1 GSCID 0, PSCID 5")]
    [TestCase("gvma-all", Description = "IOTINVAL.GVMA GV=0: VM spaces only")]
    public void Commands_for_other_spaces_leave_the_copy(string form)
    {
        var request = new TranslationRequest(1, TranslationBed.Iova, AccessType.Read);
        using var bed = OneSetIotlb();
        FillThenEvictFromIotlb(bed, in request);
        ulong page = TranslationBed.Iova & ~0xFFFUL;
        switch (form)
        {
            case "vma-other-pscid": bed.Translator.InvalidateVma(false, 0, true, 6, false, 0); break;
            case "vma-other-pscid-addr": bed.Translator.InvalidateVma(false, 0, true, 6, true, page); break;
            case "vma-vm": bed.Translator.InvalidateVma(true, 0, true, 5, false, 0); break;
            default: bed.Translator.InvalidateGvma(false, 0, false, 0); break;
        }

        Assert.That(Pa(bed, in request), Is.EqualTo(TranslationBed.ExpectedPa), $"{form}: the micro-TLB still holds the old translation");
    }

    [Test]
    public void A_copy_serves_neither_a_wider_device_id_nor_a_wider_process_id()
    {
        // One micro-TLB entry: every key meets the cached one there, so only the key compare tells them apart.
        using var bed = new TranslationBed(TranslationBed.AllCaps, new TranslatorCacheOptions { MicroTlbEntries = 1 }).SingleStage();
        bed.Q(0x8000_0080, 0x1 | (1UL << 5));                            // device 4: tc V, PDTV
        bed.Q(0x8000_0098, (1UL << 60) | 0x80006);                       // pdtp: PD8 at 0x8000_6000
        bed.Q(0x8000_6030, 0x1 | 0x4 | (5UL << 12));                     // process 3: SUM (no ENS), PSCID 5, the standard Sv39 root
        bed.Q(0x8000_6038, (8UL << 60) | 0x80001);
        bed.Q(0x8000_6000, 0x1 | (5UL << 12));                           // process 0: the same
        bed.Q(0x8000_6008, (8UL << 60) | 0x80001);
        var device = new TranslationRequest(1, TranslationBed.Iova, AccessType.Read);
        var process = new TranslationRequest(4, 3, TranslationBed.Iova, AccessType.Read);
        void Warm(in TranslationRequest request, string what)
        {
            // IODIR first: the entry's copy dies, so the next second-level hit always copies itself in (a live copy
            // of another translation gives way only one time in MicroTlb.ReplaceOneIn).
            bed.Translator.InvalidateDdt(false, 0);
            for (int pass = 0; pass < 3; pass++)
            {
                Assert.That(Pa(bed, in request), Is.EqualTo(TranslationBed.ExpectedPa), $"{what}, pass {pass}");
            }
        }

        // Keys that agree with the cached one in their low bits: a device_id too wide for 1LVL (a request cannot carry
        // more than 24 bits), a process_id wider than 20 bits.
        Warm(in device, "device 1");
        var wideDevice = device with { DeviceId = 1 | (1u << 23) };
        Assert.That((ushort)bed.Translate(in wideDevice).Cause, Is.EqualTo(260), "device_id 0x80_0001 is too wide for 1LVL");
        Warm(in process, "device 4 process 3");
        var wideProcess = process with { ProcessId = 3 | (1u << 20) };
        Assert.That((ushort)bed.Translate(in wideProcess).Cause, Is.EqualTo(260), "process_id 0x10_0003 is too wide for PD8");
        var supervisor = process with { Privileged = true };
        Assert.That((ushort)bed.Translate(in supervisor).Cause, Is.EqualTo(260),
            "a user-mode copy does not serve supervisor mode without PC.ta.ENS (SUM would let it read the U page)");
        var process0 = process with { ProcessId = 0 };
        Warm(in process0, "device 4 process 0");
        var noProcess = process0 with { ProcessIdValid = false };
        var r = bed.Translate(in noProcess);
        Assert.That((r.Success, r.PhysicalAddress), Is.EqualTo((true, TranslationBed.Iova)),
            "device 4 without a process_id is not process 0's copy: first stage Bare (DPE = 0), the IOVA is the SPA");
    }

    [Test]
    public void Ddtp_off_or_bare_is_not_served_from_a_copy()
    {
        using var bed = new TranslationBed().SingleStage();
        for (int pass = 0; pass < 3; pass++)
        {
            Assert.That(bed.Translate(1, TranslationBed.Iova).PhysicalAddress, Is.EqualTo(TranslationBed.ExpectedPa), $"pass {pass}");
        }

        bed.Translator.Ddtp = new Ddtp(0);
        Assert.That((ushort)bed.Translate(1, TranslationBed.Iova).Cause, Is.EqualTo(256), "ddtp Off: all inbound transactions disallowed");
        bed.Translator.Ddtp = new Ddtp(1);
        Assert.That(bed.Translate(1, TranslationBed.Iova).PhysicalAddress, Is.EqualTo(TranslationBed.Iova), "ddtp Bare: the IOVA is the SPA");
    }

    // One micro-TLB entry holding page A's copy (which the IOTLB no longer holds, and whose PTE changed), and page B
    // hitting the second level again and again: B's copy replaces A's live one only on its ReplaceOneIn-th (8th)
    // attempt, so traffic whose pages keep colliding pays the copy's CAS one time in eight.
    [TestCase(7, true, Description = "7 colliding hits: A's copy still serves")]
    [TestCase(8, false, Description = "the 8th replaces it: A walks and reads its new leaf")]
    public void A_live_copy_gives_way_to_a_colliding_translation_one_time_in_eight(int collidingHits, bool oldCopyServes)
    {
        foreach (int entries in new[] { 0, 1 })
        {
            using var bed = OneSetIotlb(microTlbEntries: entries);
            bed.Q(TranslationBed.L0Entry + 17 * 8, (0x92000UL << 10) | 0xD7);     // B: L0[20], IOVA 0x4021_4000 -> PA 0x9200_0000
            var a = new TranslationRequest(1, TranslationBed.Iova, AccessType.Read);
            var b = new TranslationRequest(1, 0x4021_4010, AccessType.Read);
            Assert.That(Pa(bed, in a), Is.EqualTo(TranslationBed.ExpectedPa), "walk A");
            Assert.That(Pa(bed, in a), Is.EqualTo(TranslationBed.ExpectedPa), "IOTLB hit A: copied into the empty entry");
            for (ulong i = 0; i < OtherPages; i++)
            {
                var other = a with { Iova = 0x4020_4010 + (i << 12) };
                Assert.That(Pa(bed, in other), Is.EqualTo(0x9100_0010 + (i << 12)), $"walk other page {i} (walks copy nothing)");
            }

            bed.Q(TranslationBed.L0Entry, NewLeaf);
            for (int hit = 0; hit <= collidingHits; hit++)
            {
                Assert.That(Pa(bed, in b), Is.EqualTo(0x9200_0010UL), hit == 0 ? "walk B" : $"IOTLB hit B {hit}");
            }

            ulong expected = entries == 1 && oldCopyServes ? TranslationBed.ExpectedPa : NewPa;
            Assert.That(Pa(bed, in a), Is.EqualTo(expected),
                entries == 0 ? "without a micro-TLB the IOTLB no longer holds A: a walk" : "A after B's colliding hits");
        }
    }

    [Test]
    public void A_refreshed_translation_replaces_its_own_live_copy_at_once()
    {
        // A read copies a clean page (no D: a write cannot use it); a write then walks and sets D (SADE), and the next
        // write's second-level hit must replace that copy at once, not one time in ReplaceOneIn as for a collision.
        // Seen from outside: with the IOTLB losing the page and its PTE changed, a write is still served the old way.
        using var bed = OneSetIotlb();
        bed.Q(TranslationBed.DcAddr1, 0x1 | (1UL << 8));                   // tc: V, SADE
        bed.Q(TranslationBed.L0Entry, 0x2400_0057);                         // V R W U A, D clear
        var read = new TranslationRequest(1, TranslationBed.Iova, AccessType.Read);
        var write = read with { Access = AccessType.Write };
        Assert.That(Pa(bed, in read), Is.EqualTo(TranslationBed.ExpectedPa), "walk");
        Assert.That(Pa(bed, in read), Is.EqualTo(TranslationBed.ExpectedPa), "IOTLB hit: a clean copy");
        Assert.That(Pa(bed, in write), Is.EqualTo(TranslationBed.ExpectedPa), "write: walks and sets D");
        Assert.That(bed.Read(TranslationBed.L0Entry), Is.EqualTo(0x2400_00D7UL), "D set by the walk");
        Assert.That(Pa(bed, in write), Is.EqualTo(TranslationBed.ExpectedPa), "write: IOTLB hit, replaces the clean copy");
        for (ulong i = 0; i < OtherPages; i++)
        {
            var other = read with { Iova = 0x4020_4010 + (i << 12) };
            Assert.That(Pa(bed, in other), Is.EqualTo(0x9100_0010 + (i << 12)), $"walk other page {i}");
        }

        bed.Q(TranslationBed.L0Entry, NewLeaf);
        Assert.That(Pa(bed, in write), Is.EqualTo(TranslationBed.ExpectedPa), "the dirty copy serves the write");
    }

    [Test]
    public void Entries_and_address_space_slots_are_half_a_cache_line()
    {
        // Two to a 64-byte line, as the hit path's cost assumes (and as the C twin asserts for its copies).
        Assert.That(System.Runtime.CompilerServices.Unsafe.SizeOf<FastIommu.Hardware.Caches.MicroTlb.Entry>(), Is.EqualTo(32), "micro-TLB entry");
        Assert.That(System.Runtime.CompilerServices.Unsafe.SizeOf<FastIommu.Hardware.Caches.AddressSpaceTable.Slot>(), Is.EqualTo(32), "address-space slot");
    }

    [TestCase(3)]
    [TestCase(-1)]
    [TestCase(1 << 21)]
    public void Micro_tlb_sizes_that_are_not_a_power_of_two_up_to_2_pow_20_are_refused(int entries)
    {
        using var memory = FastIommu.Memory.PhysicalMemory.Allocate(0x1000, 0x8000_0000);
        var options = new TranslatorCacheOptions { MicroTlbEntries = entries };
        var error = Assert.Throws<ArgumentOutOfRangeException>(
            () => _ = new IommuTranslator(memory, new Capabilities(TranslationBed.AllCaps), options));
        Assert.That(error!.ParamName, Is.EqualTo(nameof(TranslatorCacheOptions.MicroTlbEntries)), "the message names the option");
    }
}
