using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace FastIommu.Hardware.Caches;

/// <summary>
/// The translator's hit counters (<see cref="TranslatorCacheOptions.CountHits"/>): one block of plain 64-bit counters
/// per thread slot, so that translating threads do not share a cache line or need a locked increment.
/// </summary>
/// <remarks>A thread counts into the block of its managed thread id modulo <see cref="Blocks"/>; two threads whose
/// ids agree there and that translate at the same moment may lose an increment (plain read-modify-write), nothing
/// else. A snapshot sums the blocks; it is exact once the translating threads have stopped, and a moment's view
/// while they run.</remarks>
internal sealed class CacheCounters
{
    public const int MicroTlbHit = 0;
    public const int MicroTlbMiss = 1;
    public const int IotlbHit = 2;
    public const int DeviceContextHit = 3;
    public const int DeviceContextMiss = 4;
    public const int ProcessContextHit = 5;
    public const int ProcessContextMiss = 6;

    private const int Blocks = 64;
    private const int BlockLongs = 8;  // 64 bytes: one cache line per block (the array's start is 8-byte aligned)

    private readonly long[] _counts = new long[(Blocks + 1) * BlockLongs];

    /// <summary>One more event <paramref name="counter"/> (one of the constants above) on the calling thread.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Add(int counter)
    {
        // Block b starts at long (b + 1) x 8: the first line of the array (its length word shares it) stays unused.
        int block = (Environment.CurrentManagedThreadId & (Blocks - 1)) + 1;
        Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(_counts), (block * BlockLongs) + counter)++;
    }

    public TranslationCacheStatistics Snapshot() =>
        new(Sum(MicroTlbHit), Sum(MicroTlbMiss), Sum(IotlbHit), Sum(DeviceContextHit), Sum(DeviceContextMiss),
            Sum(ProcessContextHit), Sum(ProcessContextMiss));

    public void Reset()
    {
        for (int i = 0; i < _counts.Length; i++)
        {
            Volatile.Write(ref _counts[i], 0);
        }
    }

    private long Sum(int counter)
    {
        long sum = 0;
        for (int block = 1; block <= Blocks; block++)
        {
            sum += Volatile.Read(ref _counts[(block * BlockLongs) + counter]);
        }

        return sum;
    }
}

/// <summary>Whether an engine counts cache hits: a type parameter, so that the engine that does not has no test of
/// it on its hot paths.</summary>
internal interface ICountPolicy
{
    static abstract bool Enabled { get; }
}

/// <summary>The engine counts (<see cref="TranslatorCacheOptions.CountHits"/>).</summary>
internal readonly struct Counting : ICountPolicy
{
    public static bool Enabled => true;
}

/// <summary>The engine does not count.</summary>
internal readonly struct NotCounting : ICountPolicy
{
    public static bool Enabled => false;
}
