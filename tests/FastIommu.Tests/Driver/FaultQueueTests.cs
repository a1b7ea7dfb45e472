using FastIommu.Formats.RiscV;
using FastIommu.Hardware;

namespace FastIommu.Tests.Driver;

[TestFixture]
public class FaultQueueTests
{
    [Test]
    public void FaultsAreReadBackDecoded()
    {
        using var bed = new DriverBed();
        // No device context: device 0x42 is not valid in the DDT (cause 258).
        TranslationResult r = bed.Translate(0, 0x42, 0x1000, AccessType.Write);
        Assert.That(r.Success, Is.False, "no DC");
        Assert.That(bed.Instance().TryReadFault(out FaultRecord record), Is.True, "one record");
        Assert.That((record.Cause, record.Did, record.Ttyp, record.Iotval),
            Is.EqualTo((FaultCause.DdtEntryNotValid, 0x42u, TransactionType.UntranslatedWrite, 0x1000UL)), "decoded");
        Assert.That(bed.Instance().TryReadFault(out _), Is.False, "consumed (fqh advanced)");
        Assert.That(bed.Hardware().Read32(RegisterOffsets.Fqh), Is.EqualTo(1u), "fqh");
    }
}
