using System.Diagnostics;
using FastIommu.Hardware;

namespace FastIommu.Tests.Hardware.Translation;

/// <summary>Translate allocates nothing; translations racing invalidations never return what a completed
/// invalidation removed.</summary>
public class TranslationConcurrencyTests
{
    /// <summary>Memory that runs an action right after one chosen read: it stands for software changing a table
    /// and invalidating while the IOMMU is in the middle of a walk, deterministically.</summary>
    private sealed class HookedMemory(PhysicalMemoryAccess inner) : IMemoryAccess
    {
        public ulong HookAddress { get; set; } = ulong.MaxValue;
        public Action? Hook { get; set; }

        public bool TryRead64(ulong pa, out ulong value)
        {
            bool ok = inner.TryRead64(pa, out value);
            if (pa == HookAddress && Hook is { } hook)
            {
                Hook = null;
                hook();
            }

            return ok;
        }

        public bool TryWrite64(ulong pa, ulong value) => inner.TryWrite64(pa, value);
        public bool TryCompareExchange64(ulong pa, ulong expected, ulong desired, out ulong observed) =>
            inner.TryCompareExchange64(pa, expected, desired, out observed);
        public bool TryRead(ulong pa, Span<byte> destination) => inner.TryRead(pa, destination);
        public bool TryWrite(ulong pa, ReadOnlySpan<byte> source) => inner.TryWrite(pa, source);
    }

    private static (TranslationBed Bed, HookedMemory Memory, IommuTranslator Translator) Hooked(bool twoStage = false)
    {
        var bed = new TranslationBed();
        _ = twoStage ? bed.TwoStage() : bed.SingleStage();
        var memory = new HookedMemory(new PhysicalMemoryAccess(bed.Memory));
        var translator = new IommuTranslator(memory, bed.Translator.Capabilities) { Ddtp = bed.Translator.Ddtp };
        return (bed, memory, translator);
    }

    [TestCase(0, Description = "IOTINVAL.VMA PSCID + ADDR")]
    [TestCase(1, Description = "IOTINVAL.VMA PSCID")]
    [TestCase(2, Description = "IOTINVAL.VMA ADDR, all host spaces")]
    [TestCase(3, Description = "IOTINVAL.VMA all host spaces")]
    public void An_invalidation_during_a_walk_is_not_undone_by_that_walks_fill(int form)
    {
        var (bed, memory, translator) = Hooked();
        using (bed)
        {
            var request = new TranslationRequest(1, TranslationBed.Iova, AccessType.Read);
            // The walk reads the old leaf; right after, software changes it and invalidates.
            memory.HookAddress = TranslationBed.L0Entry;
            memory.Hook = () =>
            {
                bed.Q(TranslationBed.L0Entry, 0x2400_40D7);                 // PA 0x9001_0000
                switch (form)
                {
                    case 0: translator.InvalidateVma(false, 0, true, 5, true, TranslationBed.Iova); break;
                    case 1: translator.InvalidateVma(false, 0, true, 5, false, 0); break;
                    case 2: translator.InvalidateVma(false, 0, false, 0, true, TranslationBed.Iova); break;
                    default: translator.InvalidateVma(false, 0, false, 0, false, 0); break;
                }
            };
            var during = translator.Translate(in request);
            Assert.That(during.PhysicalAddress, Is.EqualTo(TranslationBed.ExpectedPa), "the walk in flight may return the old PA");
            var after = translator.Translate(in request);
            Assert.That(after.PhysicalAddress, Is.EqualTo(0x9001_0678UL), "but must not have cached it past the invalidation");
        }
    }

    [Test]
    public void A_gvma_during_a_two_stage_walk_is_not_undone()
    {
        var (bed, memory, translator) = Hooked(twoStage: true);
        using (bed)
        {
            var request = new TranslationRequest(2, TranslationBed.Iova, AccessType.Read);
            memory.HookAddress = 0x8001_4400;                                   // the G-stage 2 MiB leaf
            memory.Hook = () =>
            {
                bed.Q(0x8001_4400, 0x2408_00DF);                                // now SPA 0x9020_0000
                translator.InvalidateGvma(true, 7, false, 0);
            };
            Assert.That(translator.Translate(in request).PhysicalAddress, Is.EqualTo(TranslationBed.ExpectedPa), "in flight: old");
            Assert.That(translator.Translate(in request).PhysicalAddress, Is.EqualTo(0x9020_0678UL), "after: new");
        }
    }

    [Test]
    public void An_iodir_during_a_ddt_walk_is_not_undone()
    {
        var (bed, memory, translator) = Hooked();
        using (bed)
        {
            var request = new TranslationRequest(1, TranslationBed.Iova, AccessType.Read);
            bed.Q(0x8000_9008, (0xC0000UL << 10) | 0xD7);                       // another root: 1 GiB leaf
            memory.HookAddress = TranslationBed.DcAddr1 + 24;                   // the DC's fsc
            memory.Hook = () =>
            {
                bed.Q(TranslationBed.DcAddr1 + 16, 6UL << 12);                 // PSCID 6, root 0x8000_9000
                bed.Q(TranslationBed.DcAddr1 + 24, (8UL << 60) | 0x80009);
                translator.InvalidateDdt(true, 1);
            };
            translator.Translate(in request);
            Assert.That(translator.Translate(in request).PhysicalAddress, Is.EqualTo(0xC020_3678UL), "the DC read before IODIR was not cached");
        }
    }

    [Test]
    public void Translate_allocates_nothing_on_hits_misses_and_faults()
    {
        using var bed = new TranslationBed().SingleStage();
        using var two = new TranslationBed().TwoStage();
        using var uncached = new TranslationBed(TranslationBed.AllCaps, TranslatorCacheOptions.Uncached).SingleStage();
        var hit = new TranslationRequest(1, TranslationBed.Iova, AccessType.Read);
        var fault = new TranslationRequest(1, 0x7000_0000, AccessType.Write);
        var twoStage = new TranslationRequest(2, TranslationBed.Iova, AccessType.Read);

        void Run()
        {
            for (int i = 0; i < 2000; i++)
            {
                bed.Translate(in hit);
                bed.Translate(in fault);
                two.Translate(in twoStage);
                uncached.Translate(in hit);
                bed.Translator.InvalidateVma(false, 0, true, 5, true, TranslationBed.Iova); // forces a miss next time
                two.Translator.InvalidateGvma(true, 7, false, 0);
            }
        }

        // Warm up: JIT tiers, first-time slot creation.
        Run();
        Run();
        // Tier-up happens on a timer and may charge a few hundred bytes of JIT bookkeeping to this thread in any
        // one round; an allocation in the translate path would show in every round (8000 calls a round).
        // So the smallest of several rounds must be zero.
        long allocated = long.MaxValue;
        for (int round = 0; round < 6 && allocated != 0; round++)
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            Run();
            allocated = Math.Min(allocated, GC.GetAllocatedBytesForCurrentThread() - before);
        }

        Assert.That(allocated, Is.Zero, "no allocation in Translate (hits, misses, two-stage, faults) nor in these invalidations");
    }

    /// <summary>Two reader threads translate page i (IOVA 0x4020_0000 + i x 4 KiB, L0 0x8000_3000 + i x 8 of the standard
    /// scenario) through device 1 and through device 4 with process_id 3 (a PD8 PDT whose PC has PSCID 5 and the same
    /// table), so both hit paths race. For up to 2 s this thread picks a page, writes version v + 1 of its leaf, runs
    /// <paramref name="invalidate"/> (page, round), then publishes the version as committed (until the versions run out;
    /// the readers go on for the 2 s); a reader that saw version c committed before it started must get a version &gt;= c. Versions are PA bits 12 up, <paramref name="versionBits"/> wide.</summary>
    private static void Race(TranslationBed bed, int pages, int versionBits, Func<int, int, ulong> leaf, Action<int, int> invalidate, string what)
    {
        bed.Q(0x8000_0080, 0x1 | (1UL << 5));                        // device 4: tc V, PDTV
        bed.Q(0x8000_0098, (1UL << 60) | 0x80006);                   // pdtp PD8 at 0x8000_6000
        bed.Q(0x8000_6030, 0x1 | (5UL << 12));                       // PC of process 3: V, PSCID 5
        bed.Q(0x8000_6038, (8UL << 60) | 0x80001);                   // Sv39, the standard root
        for (int i = 0; i < pages; i++)
        {
            bed.Q(0x8000_3000 + (ulong)i * 8, leaf(i, 0));
        }

        int maxVersion = (1 << versionBits) - 1;
        var committed = new int[pages];
        var stop = new CancellationTokenSource(TimeSpan.FromSeconds(2));
        long checks = 0;
        string? failure = null;
        void Reader(int seed)
        {
            var rng = new Random(seed);
            while (!stop.IsCancellationRequested && failure is null)
            {
                int page = rng.Next(pages);
                int floor = Volatile.Read(ref committed[page]);
                ulong iova = 0x4020_0000 + ((ulong)page << 12);
                var request = rng.Next(2) == 0
                    ? new TranslationRequest(1, iova, AccessType.Read)
                    : new TranslationRequest(4, 3, iova, AccessType.Read);
                var r = bed.Translate(in request);
                int version = (int)((r.PhysicalAddress >> 12) & (uint)maxVersion);
                if (!r.Success || version < floor)
                {
                    failure = $"page {page}: got {r} (version {version}) after version {floor} was committed";
                }

                Interlocked.Increment(ref checks);
            }
        }

        var readers = new[] { new Thread(() => Reader(1)), new Thread(() => Reader(2)) };
        foreach (var t in readers)
        {
            t.Start();
        }

        var writerRng = new Random(3);
        int round = 0;
        var clock = Stopwatch.StartNew();
        while (!stop.IsCancellationRequested && failure is null)
        {
            int page = writerRng.Next(pages);
            int version = committed[page] + 1;
            if (version > maxVersion)
            {
                break;
            }

            bed.Q(0x8000_3000 + (ulong)page * 8, leaf(page, version));
            invalidate(page, round++);
            Volatile.Write(ref committed[page], version);
        }

        // Readers go on to the end: a copy a completed invalidation should have removed shows up in later reads too.
        stop.Token.WaitHandle.WaitOne();
        foreach (var t in readers)
        {
            t.Join();
        }

        Assert.That(failure, Is.Null, what);
        Assert.That((checks, round), Is.Not.EqualTo((0L, 0)), $"the race ran ({checks} translations, {round} updates in {clock.ElapsedMilliseconds} ms)");
    }

    [Test]
    [Category("Stress")]
    public void Completed_invalidations_are_never_undone_by_racing_translations()
    {
        // 2 pages, so updates and walks of one page collide often. Page i version v maps PA 0x1_0000_0000 + i << 24 +
        // v << 12; page 1 is global (G = 1). Each update is followed by a command that covers the page.
        using var bed = new TranslationBed().SingleStage();
        Race(bed, 2, 12,
            (page, version) => ((0x1_0000_0000UL + ((ulong)page << 24) + ((ulong)version << 12)) >> 12 << 10) | 0xD7
                | (page == 1 ? 0x20UL : 0),
            (page, round) =>
            {
                ulong iova = 0x4020_0000 + ((ulong)page << 12);
                // Page 1 is global: only the forms that include global entries (PSCV = 0, or everything) cover it.
                switch (page == 1 ? 2 + (round % 6) : round % 8)
                {
                    case 0: bed.Translator.InvalidateVma(false, 0, true, 5, true, iova); break;
                    case 1: bed.Translator.InvalidateVma(false, 0, true, 5, false, 0); break;
                    case 2: case 3: case 4: bed.Translator.InvalidateVma(false, 0, false, 0, true, iova); break;
                    case 5: case 6: bed.Translator.InvalidateVma(false, 0, false, 0, false, 0); break;
                    default: bed.Translator.InvalidateAll(); break;
                }
            },
            "a translation returned an entry a completed invalidation had removed");
    }

    [Test]
    [Category("Stress")]
    public void Completed_context_invalidations_are_never_undone_by_racing_translations()
    {
        // As above, but each update also moves device 1's DC.ta and process 3's PC.ta to a fresh PSCID and invalidates
        // with IODIR only: a space never used before has nothing cached, so a translation that starts after the IODIR
        // returned must read the new contexts and walk the new leaf. It must never use a context (or a micro-TLB copy
        // made through one) that the IODIR removed. Page i version v maps PA 0x1_0000_0000 + i << 28 + v << 12
        // (16-bit versions, so the race runs longer).
        using var bed = new TranslationBed().SingleStage();
        Race(bed, 2, 16,
            (page, version) => ((0x1_0000_0000UL + ((ulong)page << 28) + ((ulong)version << 12)) >> 12 << 10) | 0xD7,
            (page, round) =>
            {
                ulong pscid = 16 + (ulong)round;
                bed.Q(TranslationBed.DcAddr1 + 16, pscid << 12);     // device 1: DC.ta.PSCID
                bed.Q(0x8000_6030, 0x1 | (pscid << 12));             // process 3: PC.ta.PSCID
                switch (round % 3)
                {
                    case 0: bed.Translator.InvalidateDdt(true, 1); bed.Translator.InvalidatePdt(4, 3); break;
                    case 1: bed.Translator.InvalidateDdt(true, 1); bed.Translator.InvalidateDdt(true, 4); break;
                    default: bed.Translator.InvalidateDdt(false, 0); break;
                }
            },
            "a translation used a context a completed IODIR had removed");
    }
}
