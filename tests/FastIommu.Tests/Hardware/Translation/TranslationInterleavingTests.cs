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
}
