using FastIommu.Hardware;
using FastIommu.Tests.Support;

namespace FastIommu.Tests.Hardware.Translation;

/// <summary>Races of the translator that need one exact preemption, forced with <see cref="PausePoint"/>.</summary>
public class TranslationInterleavingTests
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(10);

    [Test]
    public void An_address_invalidation_right_after_the_first_fill_at_a_level_removes_that_fill()
    {
        // Interleaving: the first walk ever to fill level 0 passes its invalidation-sequence check and writes its
        // entry (Iotlb.EntryWritten); held there, software changes the leaf and runs IOTINVAL.VMA AV=1 for the page
        // to completion; then the fill goes on. The invalidation must have removed the entry (or the fill given up).
        using var bed = new TranslationBed().SingleStage();
        using var pause = PausePoint.Arm("Iotlb.EntryWritten");
        var walker = Task.Run(() => bed.Translate(1, TranslationBed.Iova));
        pause.WaitUntilHeld();
        bed.Q(TranslationBed.L0Entry, 0x2400_40D7);                                   // now PA 0x9001_0000
        bed.Translator.InvalidateVma(false, 0, true, 5, true, TranslationBed.Iova);
        pause.Release();
        Assert.That(walker.Wait(Limit), Is.True, "the walk finishes");
        Assert.That(walker.Result.PhysicalAddress, Is.EqualTo(TranslationBed.ExpectedPa), "the walk in flight may return the old PA");
        var after = bed.Translate(1, TranslationBed.Iova);
        Assert.That(after.PhysicalAddress, Is.EqualTo(0x9001_0678UL),
            "after IOTINVAL.VMA AV=1 returned, no cache may still hold the entry filled by the walk it raced");
    }

    [TestCase("vma-addr")]
    [TestCase("vma-pscid")]
    [TestCase("all")]
    public void An_invalidation_between_an_iotlb_hit_and_its_micro_tlb_copy_leaves_the_copy_stale(string form)
    {
        // Interleaving: the second translation of the IOVA hits the IOTLB and is held just before copying the hit into
        // the micro-TLB (MicroTlb.FillReady), with the epochs read before the lookup. Software changes the leaf and
        // runs an invalidation covering it to completion; then the copy is made. The copy must not serve: the next
        // translation walks and returns the new PA.
        using var bed = new TranslationBed().SingleStage();
        Assert.That(bed.Translate(1, TranslationBed.Iova).PhysicalAddress, Is.EqualTo(TranslationBed.ExpectedPa), "the walk fills the IOTLB");
        using var pause = PausePoint.Arm("MicroTlb.FillReady");
        var hit = Task.Run(() => bed.Translate(1, TranslationBed.Iova));
        pause.WaitUntilHeld();
        bed.Q(TranslationBed.L0Entry, 0x2400_40D7);                                   // now PA 0x9001_0000
        switch (form)
        {
            case "vma-addr":
                bed.Translator.InvalidateVma(false, 0, true, 5, true, TranslationBed.Iova);
                break;
            case "vma-pscid":
                bed.Translator.InvalidateVma(false, 0, true, 5, false, 0);
                break;
            default:
                bed.Translator.InvalidateAll();
                break;
        }

        pause.Release();
        Assert.That(hit.Wait(Limit), Is.True, "the held hit finishes");
        Assert.That(hit.Result.PhysicalAddress, Is.EqualTo(TranslationBed.ExpectedPa), "the request in flight may return the old PA");
        Assert.That(bed.Translate(1, TranslationBed.Iova).PhysicalAddress, Is.EqualTo(0x9001_0678UL),
            $"after the invalidation ({form}) returned, the micro-TLB copy made from the hit it raced must not serve");
    }

    [TestCase(false, false, Description = "DC not cached: the full process")]
    [TestCase(true, true, Description = "DC cached, SADE: the first-stage shortcut that may write A/D")]
    public void Fence_waits_for_a_walk_that_began_before_it_so_the_walk_never_reads_a_reused_table(bool dcCached, bool sade)
    {
        // Interleaving: the walk of the standard IOVA reads the level-1 entry (pointing to L0 table X at 0x8000_3000)
        // and is held (second Translator.PteRead of its thread). Software unlinks X, runs IOTINVAL.VMA for PSCID 5 and
        // Fence; once Fence returns it reuses X for another mapping whose leaf sits in X's entry 3 (0xA000_0000). The
        // fence must wait for the walk, and the walk must never return 0xA000_0678.
        using var bed = new TranslationBed().SingleStage();
        if (sade)
        {
            bed.Q(TranslationBed.DcAddr1, 0x1 | (1UL << 8));   // tc: V, SADE (the capabilities have AMO_HWAD)
        }

        if (dcCached)
        {
            bed.Translate(1, 0x4020_4000);                      // caches the DC (L0[4] is empty: a page fault)
        }

        int reads = 0;
        TranslationResult during = default;
        var walker = new Thread(() => during = bed.Translate(1, TranslationBed.Iova));
        int walkerId = walker.ManagedThreadId;
        using var atLevel1 = PausePoint.Arm("Translator.PteRead", () => Environment.CurrentManagedThreadId == walkerId && ++reads == 2);
        using var fenceWaits = PausePoint.Arm("Translator.FenceWaits");
        walker.Start();
        atLevel1.WaitUntilHeld();
        var software = Task.Run(() =>
        {
            bed.Q(TranslationBed.L1Entry, 0);                                   // unlink X
            bed.Translator.InvalidateVma(false, 0, true, 5, false, 0);
            bed.Translator.Fence();
            bed.Q(TranslationBed.L0Entry, (0xA0000UL << 10) | 0xD7);           // X reused: entry 3 maps 0xA000_0000
        });
        var waits = Task.Run(fenceWaits.WaitUntilHeld);
        Task.WaitAny([software, waits], Limit);
        bool fenceReachedTheWalk = waits.IsCompletedSuccessfully;
        fenceWaits.Release();
        bool fenceReturnedWhileTheWalkWasHeld = software.IsCompleted;
        atLevel1.Release();
        Assert.That(walker.Join(Limit), Is.True, "the walk finishes");
        Assert.That(software.Wait(Limit), Is.True, "Fence returns once the walk has ended");
        Assert.Multiple(() =>
        {
            Assert.That(fenceReachedTheWalk, Is.True, "Fence found the walk in flight and waited for it");
            Assert.That(fenceReturnedWhileTheWalkWasHeld, Is.False, "Fence returned while a walk that began before it was reading tables");
            Assert.That(during.PhysicalAddress, Is.Not.EqualTo(0xA000_0678UL), $"the walk returned {during}: a PA never mapped for the IOVA");
            Assert.That(bed.Translate(1, TranslationBed.Iova).Success, Is.False, "after the unlink and the invalidation the IOVA is unmapped");
        });
    }

    [Test]
    public void A_read_only_shortcut_walk_that_a_fence_overtook_discards_what_it_read_and_walks_again()
    {
        // The first-stage shortcut without SADE writes nothing, so a fence does not wait for it: it is validated by
        // the fence epoch instead. Interleaving: the walk reads the level-1 entry (to L0 table X) and is held. Software
        // unlinks X, invalidates, fences (which returns at once) and reuses X: its entry 3 now maps 0xA000_0000. The
        // walk resumes, reads X's new entry, sees the epoch moved, and walks again, marked: the IOVA is unmapped.
        using var bed = new TranslationBed().SingleStage();
        bed.Translate(1, 0x4020_4000);                          // caches the DC (L0[4] is empty: a page fault)
        int reads = 0;
        TranslationResult during = default;
        var walker = new Thread(() => during = bed.Translate(1, TranslationBed.Iova));
        int walkerId = walker.ManagedThreadId;
        using var atLevel1 = PausePoint.Arm("Translator.PteRead", () => Environment.CurrentManagedThreadId == walkerId && ++reads == 2);
        walker.Start();
        atLevel1.WaitUntilHeld();
        var software = Task.Run(() =>
        {
            bed.Q(TranslationBed.L1Entry, 0);                                   // unlink X
            bed.Translator.InvalidateVma(false, 0, true, 5, false, 0);
            bed.Translator.Fence();
            bed.Q(TranslationBed.L0Entry, (0xA0000UL << 10) | 0xD7);           // X reused: entry 3 maps 0xA000_0000
        });
        bool fenceReturnedWhileTheWalkWasHeld = software.Wait(Limit);
        atLevel1.Release();
        Assert.That(walker.Join(Limit), Is.True, "the walk finishes");
        Assert.Multiple(() =>
        {
            Assert.That(fenceReturnedWhileTheWalkWasHeld, Is.True, "a fence does not wait for a walk that writes nothing");
            Assert.That(during.PhysicalAddress, Is.Not.EqualTo(0xA000_0678UL), $"the walk returned {during}: a PA never mapped for the IOVA");
            Assert.That(during.Success, Is.False, $"walked again after the fence, the IOVA is unmapped: {during}");
            Assert.That(bed.Translate(1, TranslationBed.Iova).Success, Is.False, "and nothing it read was cached");
        });
    }

    [Test]
    public void Fence_returns_at_once_with_no_walk_in_flight_and_after_a_walk_that_threw()
    {
        using var bed = new TranslationBed().SingleStage();
        bed.Translate(1, TranslationBed.Iova);
        var fence = Task.Run(bed.Translator.Fence);
        Assert.That(fence.Wait(Limit), Is.True, "no walk in flight: Fence returns");

        // A memory that throws in the middle of a walk: the walk ends (its exception reaches the caller) and no
        // fence may wait for it afterwards.
        var throwing = new ThrowingMemory(new PhysicalMemoryAccess(bed.Memory)) { ThrowAt = TranslationBed.L1Entry };
        var translator = new IommuTranslator(throwing, bed.Translator.Capabilities) { Ddtp = bed.Translator.Ddtp };
        Assert.That(() => translator.Translate(new TranslationRequest(1, TranslationBed.Iova, AccessType.Read)),
            Throws.InvalidOperationException, "the memory's exception reaches the caller");
        var after = Task.Run(translator.Fence);
        Assert.That(after.Wait(Limit), Is.True, "Fence does not wait for the walk the exception ended");
    }

    private sealed class ThrowingMemory(PhysicalMemoryAccess inner) : IMemoryAccess
    {
        public ulong ThrowAt { get; init; }

        public bool TryRead64(ulong pa, out ulong value) =>
            pa == ThrowAt ? throw new InvalidOperationException("bus error") : inner.TryRead64(pa, out value);

        public bool TryWrite64(ulong pa, ulong value) => inner.TryWrite64(pa, value);

        public bool TryCompareExchange64(ulong pa, ulong expected, ulong desired, out ulong observed) =>
            inner.TryCompareExchange64(pa, expected, desired, out observed);

        public bool TryRead(ulong pa, Span<byte> destination) => inner.TryRead(pa, destination);

        public bool TryWrite(ulong pa, ReadOnlySpan<byte> source) => inner.TryWrite(pa, source);
    }
}
