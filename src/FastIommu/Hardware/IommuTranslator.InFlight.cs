using System.Runtime.CompilerServices;

namespace FastIommu.Hardware;

/// <summary>The in-flight marks of walks (<see cref="WalksInFlight"/>), which IOFENCE.C waits for: where a walk
/// begins and ends its mark.</summary>
internal sealed partial class TranslatorEngine<TMemory, TCount>
{
    /// <summary>Walks over PhysicalMemory end their own in-flight mark (<see cref="EndWalk"/>), with no exception
    /// handling on the miss path: that memory never throws.</summary>
    /// <remarks>Inlined by force: NativeAOT left it a call on the miss path (the JIT folds it after inlining).</remarks>
    private static bool WalksEndThemselves
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => typeof(TMemory) == typeof(PhysicalMemoryAccess);
    }

    /// <summary>Ends the in-flight mark of a walk that marks itself (a no-op for a validated walk, which has none, and
    /// a constant no-op for the other memories: <see cref="TranslateGuarded"/> ends theirs).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void EndWalk(WalksInFlight.Mark? mark)
    {
        if (WalksEndThemselves && mark is not null)
        {
            mark.End();
        }
    }

    /// <summary>How the first-stage shortcut keeps IOFENCE.C's guarantee: validated by the fence epoch, or marked in
    /// flight. A type parameter, so each is its own specialised body with no argument or branch for the other.</summary>
    internal interface IWalkCheck
    {
        static abstract bool Validated { get; }
    }

    /// <summary>A walk that writes nothing: the fence epoch before and after.</summary>
    internal readonly struct ValidatedWalk : IWalkCheck
    {
        public static bool Validated => true;
    }

    /// <summary>A walk marked in flight by its caller (<see cref="WalksInFlight.Begin"/>); it ends the mark.</summary>
    internal readonly struct MarkedWalk : IWalkCheck
    {
        public static bool Validated => false;
    }

    /// <summary>Ends the shortcut's in-flight mark when it has one (the marked shortcut, with SADE, is rare: it reads
    /// the thread's mark again rather than carry it as an argument of every shortcut walk).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void EndShortcutWalk<TCheck>()
        where TCheck : struct, IWalkCheck
    {
        if (WalksEndThemselves && !TCheck.Validated)
        {
            Walks.Current().End();
        }
    }

    /// <summary>The calling thread's mark, for a marked shortcut walk that hands over to the full process.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private WalksInFlight.Mark? CurrentMark() => WalksEndThemselves ? Walks.Current() : null;

    /// <summary>A validated walk saw the fence epoch move (or its space slot recycled): the request again, as a walk
    /// marked in flight, which a fence waits for.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private TranslationResult TranslateMarked(in TranslationRequest request)
    {
        WalksInFlight.Mark mark = Walks.Begin();
        return TranslateWalk(in request, mark);
    }

    /// <summary>A walk over a memory that may throw (or one nested in a walk of this translator, from a memory
    /// callback): marked in flight here, and ended by the finally whatever happens.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private TranslationResult TranslateGuarded(in TranslationRequest request)
    {
        WalksInFlight.Mark mark = Walks.Current();
        long sequence = mark.Sequence;
        bool outermost = (sequence & 1) == 0;
        if (outermost)
        {
            mark.Enter(sequence + 1);
        }

        try
        {
            return TranslateWalk(in request, mark: null);
        }
        finally
        {
            if (outermost)
            {
                Volatile.Write(ref mark.Sequence, sequence + 2);
            }
        }
    }

    /// <summary><see cref="TranslateFully"/>, then the end of the walk's in-flight mark.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private TranslationResult TranslateFullyThenEnd(in TranslationRequest request, WalksInFlight.Mark? mark)
    {
        if (!WalksEndThemselves)
        {
            return TranslateFully(in request);
        }

        TranslationResult result = TranslateFully(in request);
        EndWalk(mark);
        return result;
    }
}
