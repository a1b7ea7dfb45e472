using FastIommu.Hardware;

namespace FastIommu.Tests.Hardware.Translation;

/// <summary>
/// The translator's own hit counters (<see cref="TranslatorCacheOptions.CountHits"/>): a scripted sequence whose every
/// request takes a known path, so each counter has one exact value and a counter wired to another level (or counted
/// twice on a path) shows as a wrong number.
/// </summary>
public class TranslationCacheStatisticsTests
{
    private const ulong SecondIova = TranslationBed.Iova + 0x1000;   // L0[4]: PA 0x9100_0678
    private const ulong SecondPa = 0x9100_0678;

    private static TranslationBed Bed(bool count)
    {
        var bed = new TranslationBed(TranslationBed.AllCaps, new TranslatorCacheOptions { CountHits = count }).SingleStage();
        bed.Q(TranslationBed.L0Entry + 8, (0x91000UL << 10) | 0xD7);
        bed.Q(0x8000_0080, 0x1 | (1UL << 5));               // device 4: tc V, PDTV
        bed.Q(0x8000_0098, (1UL << 60) | 0x80006);          // pdtp: PD8 at 0x8000_6000
        bed.Q(0x8000_6030, 0x1 | (6UL << 12));              // process 3: V, PSCID 6 (its own space), the bed's Sv39 root
        bed.Q(0x8000_6038, (8UL << 60) | 0x80001);
        return bed;
    }

    private static void Expect(TranslationBed bed, in TranslationRequest request, ulong pa, string step)
    {
        TranslationResult r = bed.Translate(in request);
        Assert.That((r.Success, r.PhysicalAddress), Is.EqualTo((true, pa)), step);
    }

    [Test]
    public void Each_level_counts_exactly_the_requests_it_served()
    {
        using TranslationBed bed = Bed(count: true);
        var device = new TranslationRequest(1, TranslationBed.Iova, AccessType.Read);
        var second = device with { Iova = SecondIova };
        var process = new TranslationRequest(4, 3, TranslationBed.Iova, AccessType.Read);

        Expect(bed, in device, TranslationBed.ExpectedPa, "1: nothing cached: the full process walks the DDT and the table");
        Expect(bed, in device, TranslationBed.ExpectedPa, "2: an IOTLB hit through the cached DC (copied into the micro-TLB)");
        Expect(bed, in device, TranslationBed.ExpectedPa, "3: a micro-TLB hit");
        Expect(bed, in second, SecondPa, "4: another page: the cached DC, an IOTLB miss, the first-stage walk");
        Expect(bed, in process, TranslationBed.ExpectedPa, "5: a process_id: the full process walks the DDT and the PDT");
        Expect(bed, in process, TranslationBed.ExpectedPa, "6: an IOTLB hit through the cached DC and PC");
        Expect(bed, in process, TranslationBed.ExpectedPa, "7: a micro-TLB hit");

        TranslationCacheStatistics s = bed.Translator.CacheStatistics;
        Assert.That(s, Is.EqualTo(new TranslationCacheStatistics(
            MicroTlbHits: 2, MicroTlbMisses: 5, IotlbHits: 2, DeviceContextHits: 3, DeviceContextMisses: 2,
            ProcessContextHits: 1, ProcessContextMisses: 1)), "micro-TLB hits 3, 7; IOTLB hits 2, 6; DC hits 2, 4, 6; DC misses 1, 5; PC hit 6, miss 5");
        Assert.That((s.Requests, s.Walks), Is.EqualTo((7L, 3L)), "requests, and walks: 1, 4, 5");
        Assert.That(s.MicroTlbHitRate, Is.EqualTo(2.0 / 7).Within(1e-12), "micro-TLB hit rate");
        Assert.That(s.IotlbHitRate, Is.EqualTo(2.0 / 5).Within(1e-12), "IOTLB hit rate of the micro-TLB's misses");

        bed.Translator.ResetCacheStatistics();
        Expect(bed, in second, SecondPa, "8: after the reset, an IOTLB hit");
        Assert.That(bed.Translator.CacheStatistics, Is.EqualTo(new TranslationCacheStatistics(0, 1, 1, 1, 0, 0, 0)),
            "the reset zeroed every counter; then one IOTLB hit through the cached DC");
    }

    [Test]
    public void With_the_iotlb_off_every_request_walks_and_counting_is_off_by_default()
    {
        using (TranslationBed bed = Bed(count: false))
        {
            var device = new TranslationRequest(1, TranslationBed.Iova, AccessType.Read);
            for (int i = 0; i < 3; i++)
            {
                Expect(bed, in device, TranslationBed.ExpectedPa, $"pass {i}");
            }

            Assert.That(bed.Translator.CacheStatistics, Is.EqualTo(default(TranslationCacheStatistics)), "CountHits is off by default");
        }

        using var off = new TranslationBed(TranslationBed.AllCaps, new TranslatorCacheOptions { IotlbEntries = 0, CountHits = true }).SingleStage();
        var request = new TranslationRequest(1, TranslationBed.Iova, AccessType.Read);
        for (int i = 0; i < 3; i++)
        {
            Expect(off, in request, TranslationBed.ExpectedPa, $"IOTLB off, pass {i}");
        }

        Assert.That(off.Translator.CacheStatistics, Is.EqualTo(new TranslationCacheStatistics(0, 3, 0, 2, 1, 0, 0)),
            "IOTLB off: every request walks; the DC is walked once, then cached");
    }
}
