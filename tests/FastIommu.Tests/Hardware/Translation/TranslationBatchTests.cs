using FastIommu.Formats.RiscV;
using FastIommu.Hardware;
using FastIommu.Memory;
using FastIommu.PageTables;

namespace FastIommu.Tests.Hardware.Translation;

/// <summary>
/// The batch translate (<see cref="IommuTranslator.Translate(ReadOnlySpan{TranslationRequest}, Span{TranslationResult})"/>),
/// which prefetches the leaf PTE of a request a few places ahead: every result, and every cache, exactly as single
/// calls in the same order give them, whatever the requests (hits, misses, faults, process_ids, ATS, devices without
/// a DC, a table that points outside memory, which the prefetch must not read).
/// </summary>
public class TranslationBatchTests
{
    private const ulong MemoryBase = 0x8000_0000;
    private const ulong Ddt = MemoryBase;
    private const ulong Iova = 0x4000_0000;
    private const ulong Pa = 0x40_0000_0000;
    private const int Pages = 2048;
    private const ulong Caps = 0x10UL | (1UL << 9) | (1UL << 10) | (1UL << 11) | (1UL << 15) | (1UL << 24);

    private sealed class Bed : IDisposable
    {
        public readonly PhysicalMemory Memory = PhysicalMemory.Allocate(16UL << 20, MemoryBase);
        public readonly PageTable<Sv39> Table;

        public Bed()
        {
            Table = new PageTable<Sv39>(new PageAllocator(Memory, MemoryBase + 0x10_0000, 8UL << 20));
            // Every other page of 2 x 2048 mapped R|W|U (the rest unmapped: page faults), one 2 MiB leaf beyond.
            for (ulong p = 0; p < 2 * Pages; p += 2)
            {
                Table.Map(Iova + (p << 12), Pa + (p << 12), 4096, PageProtection.Read | PageProtection.Write | PageProtection.User);
            }

            Table.Map(Iova + (1UL << 30), Pa + (1UL << 30), 2UL << 20, PageProtection.Read | PageProtection.User);

            // Devices 1 and 2 translate through the table (PSCIDs 1 and 2); device 3's iosatp points outside memory
            // (every walk an access fault, and the prefetch must stay inside); device 4 has no valid DC.
            Dc(1, Table.RootAddress);
            Dc(2, Table.RootAddress);
            Dc(3, 0x7_0000_0000);
        }

        private void Dc(uint device, ulong root)
        {
            ulong dc = Ddt + (device * 32);
            Memory.Qword(dc) = 1;
            Memory.Qword(dc + 16) = (ulong)device << 12;
            Memory.Qword(dc + 24) = (8UL << 60) | (root >> 12);
        }

        public IommuTranslator Translator(TranslatorCacheOptions options) =>
            new(Memory, new Capabilities(Caps), options) { Ddtp = new Ddtp((Ddt >> 12 << 10) | 2) };

        public void Dispose()
        {
            Table.Dispose();
            Memory.Dispose();
        }
    }

    /// <summary>Mostly device 1 over mapped and unmapped pages, some of them twice in a row (micro-TLB and IOTLB
    /// hits), with device 2, 3 and 4, process_id, ATS, writes and superpage requests mixed in.</summary>
    private static TranslationRequest[] Requests(int count, int seed)
    {
        var rng = new Random(seed);
        var requests = new TranslationRequest[count];
        for (int i = 0; i < count; i++)
        {
            ulong page = (ulong)rng.Next(2 * Pages + 8);
            var request = new TranslationRequest(1, Iova + (page << 12) + (ulong)rng.Next(4096), rng.Next(4) == 0 ? AccessType.Write : AccessType.Read);
            requests[i] = rng.Next(16) switch
            {
                0 => request with { DeviceId = 2 },
                1 => request with { DeviceId = 3 },
                2 => request with { DeviceId = 4 },
                3 => new TranslationRequest(1, 5, request.Iova, AccessType.Read),
                4 => request with { AtsTranslationRequest = true },
                5 => request with { Iova = Iova + (1UL << 30) + (ulong)rng.Next(2 << 20) },
                6 when i > 0 => requests[i - 1],
                _ => request,
            };
        }

        return requests;
    }

    [TestCase(1024, 1)]
    [TestCase(3, 2)]      // shorter than the prefetch distance
    [TestCase(0, 3)]
    public void A_batch_gives_the_results_and_caches_of_single_calls(int count, int seed)
    {
        using var bed = new Bed();
        var options = new TranslatorCacheOptions { CountHits = true, IotlbEntries = 64, MicroTlbEntries = 16 };
        IommuTranslator single = bed.Translator(options), batched = bed.Translator(options);
        TranslationRequest[] requests = Requests(count, seed);

        // Two passes, so the second meets what the first cached.
        for (int pass = 0; pass < 2; pass++)
        {
            var results = new TranslationResult[count];
            batched.Translate(requests, results);
            for (int i = 0; i < count; i++)
            {
                TranslationResult expected = single.Translate(in requests[i]);
                Assert.That(results[i], Is.EqualTo(expected), $"pass {pass}, request {i} ({requests[i]})");
            }

            Assert.That(batched.CacheStatistics, Is.EqualTo(single.CacheStatistics), $"pass {pass}: every cache level served the same requests");
        }

        // And the caches hold the same: one more single pass over each gives the same hits again.
        batched.ResetCacheStatistics();
        single.ResetCacheStatistics();
        foreach (TranslationRequest request in requests)
        {
            Assert.That(batched.Translate(in request), Is.EqualTo(single.Translate(in request)), $"after the batches: {request}");
        }

        Assert.That(batched.CacheStatistics, Is.EqualTo(single.CacheStatistics), "after the batches, the caches served the same");
        if (count > 100)
        {
            TranslationCacheStatistics s = single.CacheStatistics;
            Assert.That(new[] { s.MicroTlbHits, s.IotlbHits, s.Walks }, Has.None.EqualTo(0L), "the requests reach every level");
        }
    }

    [Test]
    public void A_batch_with_the_iotlb_off_and_over_a_big_table_agrees_with_the_page_table()
    {
        using var bed = new Bed();
        IommuTranslator translator = bed.Translator(new TranslatorCacheOptions { IotlbEntries = 0 });
        var requests = new TranslationRequest[2 * Pages];
        for (int i = 0; i < requests.Length; i++)
        {
            requests[i] = new TranslationRequest(1, Iova + ((ulong)((i * 7919) % (2 * Pages)) << 12) + 0x40, AccessType.Read);
        }

        var results = new TranslationResult[requests.Length];
        translator.Translate(requests, results);
        for (int i = 0; i < requests.Length; i++)
        {
            bool mapped = bed.Table.TryIovaToPhys(requests[i].Iova, out ulong pa);
            Assert.That((results[i].Success, results[i].PhysicalAddress), Is.EqualTo((mapped, mapped ? pa : 0UL)), $"request {i}: 0x{requests[i].Iova:x}");
        }
    }

    [Test]
    public void Results_shorter_than_the_requests_are_refused_and_nothing_is_translated()
    {
        using var bed = new Bed();
        IommuTranslator translator = bed.Translator(new TranslatorCacheOptions { CountHits = true });
        TranslationRequest[] requests = Requests(8, 4);
        var results = new TranslationResult[7];

        ArgumentException? e = Assert.Throws<ArgumentException>(() => translator.Translate(requests, results));
        Assert.That(e!.Message, Does.Contain("results has 7 elements for 8 requests"));
        Assert.That((translator.CacheStatistics.Requests, results.All(r => r.Equals(default(TranslationResult)))), Is.EqualTo((0L, true)),
            "no request was translated, no result written");
    }
}
