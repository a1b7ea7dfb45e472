using FastIommu.Hardware;

namespace FastIommu.Tests.Hardware.Device;

/// <summary>The device's batch translate (<see cref="RiscVIommu.Translate(ReadOnlySpan{TranslationRequest}, Span{TranslationResult})"/>):
/// the results of single calls, and the same fault records in the fault queue, in request order.</summary>
public class DeviceBatchTranslateTests
{
    /// <summary>Devices 5 (Sv39), 6 (Sv39 with DTF), 7 (a process_id through the PDT), 8 (G-stage) and 9 (no DC)
    /// over mapped and unmapped pages, reads and writes: successes and faults of several causes, one suppressed.</summary>
    private static TranslationRequest[] Requests()
    {
        var requests = new List<TranslationRequest>();
        foreach (uint device in new uint[] { 5, 6, 8, 9 })
        {
            foreach (ulong iova in new[] { SystemHarness.Iova, SystemHarness.Iova + 0x1000, SystemHarness.Iova + 0x40_0000 })
            {
                requests.Add(new TranslationRequest(device, iova + 0x10, AccessType.Read));
                requests.Add(new TranslationRequest(device, iova + 0x20, AccessType.Write));
            }
        }

        requests.Add(new TranslationRequest(7, 3, SystemHarness.Iova, AccessType.Read));
        requests.Add(new TranslationRequest(7, 4, SystemHarness.Iova, AccessType.Read));
        return [.. requests, .. requests];
    }

    [Test]
    public void A_batch_gives_single_calls_results_and_fault_records_in_order()
    {
        using var single = new SystemHarness();
        using var batched = new SystemHarness();
        TranslationRequest[] requests = Requests();
        var expected = requests.Select(r => single.Device.Translate(in r)).ToArray();
        var results = new TranslationResult[requests.Length];
        batched.Device.Translate(requests, results);

        Assert.That(results, Is.EqualTo(expected), "every result as a single call's");
        int faults = expected.Count(r => !r.Success);
        Assert.That(batched.Device.FaultRecordsWritten, Is.EqualTo(single.Device.FaultRecordsWritten), "as many fault records");
        Assert.That(single.Device.FaultRecordsWritten, Is.InRange(1, faults - 1), "faults written, and the DTF one suppressed");
        for (uint i = 0; i < single.Device.FaultRecordsWritten; i++)
        {
            Assert.That(batched.FaultRecord(i), Is.EqualTo(single.FaultRecord(i)), $"fault record {i}");
        }
    }

    [Test]
    public void Results_shorter_than_the_requests_are_refused_before_anything_is_translated()
    {
        using var h = new SystemHarness();
        TranslationRequest[] requests = Requests();
        Assert.Throws<ArgumentException>(() => h.Device.Translate(requests, new TranslationResult[requests.Length - 1]));
        Assert.That(h.Device.FaultRecordsWritten, Is.Zero, "no fault recorded");
    }
}
