using System.Runtime.CompilerServices;

namespace FastIommu.Hardware.Caches;

/// <summary>
/// A sequence lock over one cache entry: the sequence is even while the entry is stable and odd while a
/// writer owns it. Readers copy the entry between two reads of the sequence and retry nothing: a changed
/// sequence is a miss. Writers take the entry with a CAS (fillers give up on contention; invalidators spin).
/// </summary>
internal static class SeqLock
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int BeginRead(ref int seq) => Volatile.Read(ref seq);

    /// <summary>True when the copy made since <see cref="BeginRead"/> returned <paramref name="start"/> is consistent.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool Validate(ref int seq, int start)
    {
        // The loads of the copy must not move after the second read of the sequence.
        Volatile.ReadBarrier();
        return (start & 1) == 0 && Volatile.Read(ref seq) == start;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool TryEnter(ref int seq, out int start)
    {
        start = Volatile.Read(ref seq);
        return (start & 1) == 0 && Interlocked.CompareExchange(ref seq, start + 1, start) == start;
    }

    public static int Enter(ref int seq)
    {
        SpinWait spin = default;
        int start;
        while (!TryEnter(ref seq, out start))
        {
            spin.SpinOnce();
        }

        return start;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Exit(ref int seq, int start) => Volatile.Write(ref seq, start + 2);
}
