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

    [Test]
    public void AnOverflowIsReportedOnceAndCleared()
    {
        using var bed = new DriverBed(options: new FastIommu.Driver.IommuDriverOptions { FaultQueueLog2Entries = 1 }); // 2 slots: 1 usable
        for (uint i = 0; i < 3; i++)
        {
            bed.Translate(0, 0x40 + i, 0x1000);
        }

        FqCsr status = bed.Instance().TakeFaultQueueStatus();
        Assert.That(status.Fqof, Is.True, "records were lost to a full queue");
        Assert.That(bed.Instance().TakeFaultQueueStatus().Fqof, Is.False, "cleared (RW1C)");
        Assert.That(bed.Instance().TryReadFault(out FaultRecord first) && first.Did == 0x40, Is.True, "the record that fit");
    }
}
