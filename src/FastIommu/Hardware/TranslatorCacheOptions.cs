namespace FastIommu.Hardware;

/// <summary>Sizes of the translator's caches. Each size is a power of two (the IOTLB's at least 4, its
/// associativity); 0 disables that cache, which makes the translator walk memory on every request.</summary>
public sealed class TranslatorCacheOptions
{
    /// <summary>IOTLB entries (4-way set associative, 32 bytes each), at most 2^24. Default 4096.</summary>
    public int IotlbEntries { get; init; } = 4096;

    /// <summary>Micro-TLB entries: the IOTLB's first level, by requester (device_id, process_id) and 4 KiB page,
    /// direct mapped, 32 bytes each; it holds copies of IOTLB hits and is off when the IOTLB is. Default 1024.</summary>
    public int MicroTlbEntries { get; init; } = 1024;

    /// <summary>Device-context cache entries (direct mapped by device_id). Default 256.</summary>
    public int DeviceContextEntries { get; init; } = 256;

    /// <summary>Process-context cache entries (direct mapped by device_id and process_id). Default 256.</summary>
    public int ProcessContextEntries { get; init; } = 256;

    /// <summary>Address spaces (GSCID, PSCID pairs) the IOTLB tracks at once; the least recently created is
    /// recycled (its entries dropped) when a new one is needed. Default 1024.</summary>
    public int AddressSpaces { get; init; } = 1024;

    /// <summary>Count what each cache level serves (<see cref="IommuTranslator.CacheStatistics"/>). Off by default:
    /// then the hot paths test one field and count nothing. On, each request adds one to two plain increments in a
    /// per-thread block. Default false.</summary>
    public bool CountHits { get; init; }

    /// <summary>The defaults.</summary>
    public static TranslatorCacheOptions Default { get; } = new();

    /// <summary>No caching at all: every translation walks the tables (a reference model for tests).</summary>
    public static TranslatorCacheOptions Uncached { get; } = new()
    {
        IotlbEntries = 0,
        MicroTlbEntries = 0,
        DeviceContextEntries = 0,
        ProcessContextEntries = 0,
    };

    internal void Validate()
    {
        CheckPow2(IotlbEntries, nameof(IotlbEntries), 4);
        if (IotlbEntries > 1 << 24)
        {
            throw new ArgumentOutOfRangeException(nameof(IotlbEntries), IotlbEntries, "IotlbEntries must be at most 2^24 (512 MiB of entries).");
        }

        CheckPow2(MicroTlbEntries, nameof(MicroTlbEntries), 1);
        if (MicroTlbEntries > 1 << 20)
        {
            throw new ArgumentOutOfRangeException(nameof(MicroTlbEntries), MicroTlbEntries, "MicroTlbEntries must be at most 2^20 (32 MiB of entries).");
        }

        CheckPow2(DeviceContextEntries, nameof(DeviceContextEntries), 1);
        CheckPow2(ProcessContextEntries, nameof(ProcessContextEntries), 1);
        if (AddressSpaces < 1 || AddressSpaces > 1 << 20)
        {
            throw new ArgumentOutOfRangeException(nameof(AddressSpaces), AddressSpaces, "AddressSpaces must be in [1, 2^20].");
        }
    }

    private static void CheckPow2(int value, string name, int minimum)
    {
        if (value != 0 && (value < minimum || (value & (value - 1)) != 0 || value > 1 << 26))
        {
            throw new ArgumentOutOfRangeException(name, value, $"{name} must be 0 or a power of two in [{minimum}, 2^26].");
        }
    }
}
