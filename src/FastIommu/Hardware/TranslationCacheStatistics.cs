using System.Globalization;

namespace FastIommu.Hardware;

/// <summary>
/// What a translator's caches served, counted by the translator itself when
/// <see cref="TranslatorCacheOptions.CountHits"/> is set (<see cref="IommuTranslator.CacheStatistics"/>). Each
/// request counts once per level it reached: the micro-TLB (hit or miss), then, for a micro-TLB miss, an IOTLB hit
/// or a walk; a request served by the IOTLB or walked counts its device context (and process context, with a
/// process_id whose PDT the DC enables) as a cache hit or a miss (a DDT / PDT walk).
/// </summary>
/// <param name="MicroTlbHits">Requests the micro-TLB served.</param>
/// <param name="MicroTlbMisses">Requests it did not (every request when it is off; ATS translation requests and
/// translated requests, which it never serves, included).</param>
/// <param name="IotlbHits">Micro-TLB misses the IOTLB served.</param>
/// <param name="DeviceContextHits">Translations past the micro-TLB whose DC came from the DC cache.</param>
/// <param name="DeviceContextMisses">Translations that walked the DDT for their DC.</param>
/// <param name="ProcessContextHits">Translations whose PC came from the PC cache.</param>
/// <param name="ProcessContextMisses">Translations that walked the PDT for their PC.</param>
public readonly record struct TranslationCacheStatistics(
    long MicroTlbHits,
    long MicroTlbMisses,
    long IotlbHits,
    long DeviceContextHits,
    long DeviceContextMisses,
    long ProcessContextHits,
    long ProcessContextMisses)
{
    /// <summary>Every request translated.</summary>
    public long Requests => MicroTlbHits + MicroTlbMisses;

    /// <summary>Requests no TLB level served: each ran the translation process (the first-stage walk, or the full
    /// process with its directory and table walks; a request that faulted on the way included).</summary>
    public long Walks => MicroTlbMisses - IotlbHits;

    /// <summary>Micro-TLB hits per request (0 with none).</summary>
    public double MicroTlbHitRate => Rate(MicroTlbHits, Requests);

    /// <summary>IOTLB hits per micro-TLB miss: the second level's own hit rate.</summary>
    public double IotlbHitRate => Rate(IotlbHits, MicroTlbMisses);

    /// <summary>DC-cache hits per DC looked up.</summary>
    public double DeviceContextHitRate => Rate(DeviceContextHits, DeviceContextHits + DeviceContextMisses);

    /// <summary>PC-cache hits per PC looked up.</summary>
    public double ProcessContextHitRate => Rate(ProcessContextHits, ProcessContextHits + ProcessContextMisses);

    /// <summary>One line: each level's hits, misses and hit rate.</summary>
    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"requests {Requests}: micro-TLB {MicroTlbHits} hits ({MicroTlbHitRate:P1}), IOTLB {IotlbHits} hits of {MicroTlbMisses} ({IotlbHitRate:P1}), " +
        $"walks {Walks}, DC cache {DeviceContextHits}/{DeviceContextHits + DeviceContextMisses} ({DeviceContextHitRate:P1}), " +
        $"PC cache {ProcessContextHits}/{ProcessContextHits + ProcessContextMisses} ({ProcessContextHitRate:P1})");

    private static double Rate(long part, long whole) => whole == 0 ? 0 : (double)part / whole;
}
