using System.Runtime.InteropServices;

namespace FastIommu.Benchmarks;

/// <summary>The C baseline engine (bench/c-baseline, libfib_cbaseline.so), built by CMake with this project.
/// Every benchmark entry point runs its loop inside C, so one P/Invoke is made per BenchmarkDotNet invocation.</summary>
/// <remarks>All parameters are blittable (integers, a pinned array), so no marshalling stub does work per call.</remarks>
internal static class CBaseline
{
    private const string Library = "fib_cbaseline";

    /// <summary>Returned by the benchmark loops when an operation failed.</summary>
    public const ulong Failed = ulong.MaxValue;

    /// <summary>PagingModeKind order: Sv39 = 0, Sv48 = 1, Sv57 = 2, Sv39x4 = 3, Sv48x4 = 4, Sv57x4 = 5.</summary>
    [DllImport(Library, EntryPoint = "cb_create")]
    public static extern nint Create(int mode, ulong arenaBytes, ulong basePa);

    [DllImport(Library, EntryPoint = "cb_destroy")]
    public static extern void Destroy(nint ctx);

    [DllImport(Library, EntryPoint = "cb_pages_in_use")]
    public static extern long PagesInUse(nint ctx);

    /// <summary>Status: 0 ok, 1 invalid argument, 2 overlap, 3 out of table pages.</summary>
    [DllImport(Library, EntryPoint = "cb_map")]
    public static extern int Map(nint ctx, ulong iova, ulong pa, ulong size, uint prot, uint pbmt);

    [DllImport(Library, EntryPoint = "cb_unmap")]
    public static extern ulong Unmap(nint ctx, ulong iova, ulong size);

    [DllImport(Library, EntryPoint = "cb_gather_complete")]
    public static extern void GatherComplete(nint ctx);

    [DllImport(Library, EntryPoint = "cb_iova_to_phys")]
    public static extern int IovaToPhys(nint ctx, ulong iova, out ulong pa);

    [DllImport(Library, EntryPoint = "cb_bench_map_unmap")]
    public static extern ulong BenchMapUnmap(nint ctx, ulong iova, ulong pa, ulong size, uint prot, ulong iterations);

    [DllImport(Library, EntryPoint = "cb_bench_map_each")]
    public static extern ulong BenchMapEach(nint ctx, ulong iova, ulong pa, ulong slots, ulong pagesPerSlot);

    [DllImport(Library, EntryPoint = "cb_bench_unmap_each")]
    public static extern ulong BenchUnmapEach(nint ctx, ulong iova, ulong slots, ulong pagesPerSlot);

    [DllImport(Library, EntryPoint = "cb_bench_populate_teardown")]
    public static extern ulong BenchPopulateTeardown(nint ctx, ulong iova, ulong pa, ulong bytes, ulong pageSize, ulong iterations);

    [DllImport(Library, EntryPoint = "cb_bench_translate_sequential")]
    public static extern ulong BenchTranslateSequential(nint ctx, ulong iova, ulong pages, ulong iterations);

    [DllImport(Library, EntryPoint = "cb_bench_translate_indexed")]
    public static extern ulong BenchTranslateIndexed(nint ctx, ulong iova, uint[] indices, ulong count, ulong iterations);

    /// <summary>The plain, unvalidated walk (indices null: sequential). Not the C# engine's semantics: prices the validation.</summary>
    [DllImport(Library, EntryPoint = "cb_bench_translate_plain")]
    public static extern ulong BenchTranslatePlain(nint ctx, ulong iova, uint[]? indices, ulong count, ulong iterations);

    /// <summary>C twin of the hardware model's IOTLB-hit path (hw_twin.c); returns the sum of the PAs.</summary>
    [DllImport(Library, EntryPoint = "cb_hw_create")]
    public static extern nint HwCreate(ulong iovaBase, ulong paBase, uint[] indices, ulong count);

    [DllImport(Library, EntryPoint = "cb_hw_destroy")]
    public static extern void HwDestroy(nint hw);

    [DllImport(Library, EntryPoint = "cb_bench_iotlb_hit")]
    public static extern ulong BenchIotlbHit(nint hw, ulong iterations);

    /// <summary>The same twin, the same pages, through a device with a PDT and a request with a process_id.</summary>
    [DllImport(Library, EntryPoint = "cb_bench_iotlb_hit_process_id")]
    public static extern ulong BenchIotlbHitProcessId(nint hw, ulong iterations);

    /// <summary>The two above with the twin's micro-TLB in front: its hit path.</summary>
    [DllImport(Library, EntryPoint = "cb_bench_micro_hit")]
    public static extern ulong BenchMicroHit(nint hw, ulong iterations);

    [DllImport(Library, EntryPoint = "cb_bench_micro_hit_process_id")]
    public static extern ulong BenchMicroHitProcessId(nint hw, ulong iterations);

    /// <summary>C twin of the hardware model's IOTLB miss (hw_miss_twin.c) over the model's own physical memory
    /// (<paramref name="memory"/>: the host address of <paramref name="memoryPa"/>); null on bad arguments.</summary>
    [DllImport(Library, EntryPoint = "cb_hw_miss_create")]
    public static extern nint HwMissCreate(nint memory, ulong memoryPa, ulong memorySize, ulong ddtp, ulong caps, uint dcEntries);

    /// <summary>Turns the twin's caches on (hw_caches.h: the IOTLB, micro-TLB and address-space slots of the C# defaults,
    /// same layouts and rules), before any <see cref="HwMissPutDc"/>; 0 ok.</summary>
    [DllImport(Library, EntryPoint = "cb_hw_miss_enable_caches")]
    public static extern int HwMissEnableCaches(nint twin, uint iotlbEntries, uint microTlbEntries, uint spaces);

    [DllImport(Library, EntryPoint = "cb_hw_miss_destroy")]
    public static extern void HwMissDestroy(nint twin);

    /// <summary>Puts a base-format device context in the twin's DDT cache; 0 ok.</summary>
    [DllImport(Library, EntryPoint = "cb_hw_miss_put_dc")]
    public static extern int HwMissPutDc(nint twin, uint deviceId, ulong tc, ulong iohgatp, ulong ta, ulong fsc);

    /// <summary>Copies <paramref name="count"/> TranslationRequest images (their bytes) for the benchmark loop; 0 ok.</summary>
    [DllImport(Library, EntryPoint = "cb_hw_miss_set_requests")]
    public static extern int HwMissSetRequests(nint twin, byte[] requests, ulong count);

    /// <summary>sizeof in the twin: 0 TranslationRequest, 1 TranslationResult, 2 DeviceContextInfo.</summary>
    [DllImport(Library, EntryPoint = "cb_hw_miss_layout")]
    public static extern ulong HwMissLayout(int what);

    /// <summary>Translates the requests <paramref name="iterations"/> times; the sum of the PAs (0 for a fault).</summary>
    [DllImport(Library, EntryPoint = "cb_bench_hw_miss")]
    public static extern ulong BenchHwMiss(nint twin, ulong iterations);

    /// <summary>The bare Sv39 walk (plain_walk.c) over the model's memory for the IOVAs of <paramref name="count"/>
    /// pinned TranslationRequests at <paramref name="requests"/>: the sum of the PAs.</summary>
    [DllImport(Library, EntryPoint = "cb_bench_plain_walk_sv39")]
    public static extern ulong BenchPlainWalkSv39(nint memory, ulong memoryPa, ulong rootPa, nint requests, ulong count, ulong iterations);

    [DllImport(Library, EntryPoint = "cb_bench_populate_parallel")]
    public static extern ulong BenchPopulateParallel(nint ctx, ulong iova, ulong stride, ulong pa, ulong bytes, int ranges, int threads, ulong iterations);

    /// <summary>Callgrind: zero the counters (a no-op outside valgrind).</summary>
    [DllImport(Library, EntryPoint = "cb_callgrind_zero")]
    public static extern void CallgrindZero();

    /// <summary>Callgrind: dump the counters under <paramref name="nulTerminatedName"/> (UTF-8, NUL-terminated).</summary>
    [DllImport(Library, EntryPoint = "cb_callgrind_dump")]
    public static extern void CallgrindDump(byte[] nulTerminatedName);

    /// <summary>1 under valgrind (0 also when the library was built without valgrind's headers).</summary>
    [DllImport(Library, EntryPoint = "cb_running_on_valgrind")]
    public static extern int RunningOnValgrind();
}
