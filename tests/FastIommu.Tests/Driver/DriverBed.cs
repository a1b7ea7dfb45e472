using FastIommu.Driver;
using FastIommu.Formats.RiscV;
using FastIommu.Hardware;
using FastIommu.Memory;

namespace FastIommu.Tests.Driver;

/// <summary>
/// 32 MiB of memory at 0x8000_0000: the driver's page window is the upper 16 MiB (0x8100_0000..), data pages for
/// mappings are in the lower half. One or more in-process IOMMUs, each behind an <see cref="InProcessMmio"/>, with
/// their caches on (IOTLB, micro-TLB, directory caches).
/// </summary>
internal sealed class DriverBed : IDisposable
{
    public const ulong MemoryBase = 0x8000_0000;
    public const ulong MemorySize = 32UL << 20;
    public const ulong WindowBase = 0x8100_0000;
    public const ulong WindowSize = 16UL << 20;
    public const ulong DataBase = 0x8010_0000;

    private readonly List<InProcessMmio> _mmios = [];
    private readonly List<RecordingMmio> _recorders = [];

    public DriverBed(int instances = 1, Capabilities? capabilities = null, IommuDriverOptions? options = null,
        IommuOptions? deviceOptions = null, ulong windowSize = WindowSize)
    {
        Memory = PhysicalMemory.Allocate(MemorySize, MemoryBase);
        Allocator = new PageAllocator(Memory, WindowBase, windowSize);
        Driver = new IommuDriver(Allocator);
        for (int i = 0; i < instances; i++)
        {
            var device = new RiscVIommu(Memory, capabilities ?? Capabilities.FullRv64, deviceOptions, TranslatorCacheOptions.Default);
            var mmio = new InProcessMmio(device);
            _mmios.Add(mmio);
            var recorder = new RecordingMmio(mmio, Memory);
            _recorders.Add(recorder);
            Driver.AddInstance(recorder, options: options);
        }
    }

    public PhysicalMemory Memory { get; }

    public PageAllocator Allocator { get; }

    public IommuDriver Driver { get; }

    public IommuInstance Instance(int i = 0) => Driver.Instances[i];

    public InProcessMmio Mmio(int i = 0) => _mmios[i];

    public RiscVIommu Hardware(int i = 0) => _mmios[i].Device;

    /// <summary>What the driver sent to instance <paramref name="i"/>, doorbell by doorbell.</summary>
    public RecordingMmio Recorder(int i = 0) => _recorders[i];

    /// <summary>A 4 KiB data page of the lower half (index 0..255), for mappings.</summary>
    public static ulong Data(int page) => DataBase + ((ulong)page << 12);

    /// <summary>Translates through the hardware of instance <paramref name="i"/> as device traffic would.</summary>
    public TranslationResult Translate(int i, uint deviceId, ulong iova, AccessType access = AccessType.Read) =>
        Hardware(i).Translate(new TranslationRequest(deviceId, iova, access));

    public TranslationResult Translate(int i, uint deviceId, uint pasid, ulong iova, AccessType access = AccessType.Read) =>
        Hardware(i).Translate(new TranslationRequest(deviceId, pasid, iova, access));

    public void Dispose()
    {
        Driver.Dispose();
        Memory.Dispose();
    }
}
