using FastIommu.Formats.RiscV;
using FastIommu.Hardware;

namespace FastIommu.Tests.Reliability;

/// <summary>One state of a live-walker slot: mapped (IOVA, size, PA) or not, numbered in the order the mapper made it.</summary>
internal sealed record SlotState(long Number, bool Mapped, ulong Iova, ulong Size, ulong Pa);

/// <summary>
/// A live-walker slot (<see cref="LiveWalkerTests"/>, <see cref="DriverLiveWalkerTests"/>): its mapper publishes each
/// state into a ring of the last <see cref="Depth"/> and moves <see cref="Sequence"/> (odd while it changes the slot);
/// a reader reads the sequence before and after a translation, and <see cref="Check"/> says whether some state live
/// in that window explains the result.
/// </summary>
internal sealed class MappingHistory
{
    public const int Depth = 64;

    /// <summary>Odd while the mapper changes this slot; 2 × the current state's number otherwise.</summary>
    public long Sequence;

    public readonly SlotState?[] History = new SlotState?[Depth];

    /// <summary>The mapper's own view.</summary>
    public SlotState Current = null!;

    public enum Verdict
    {
        Explained,
        /// <summary>The window is longer than the ring holds (or the mapper went round it while the check ran).</summary>
        NotCheckable,
        Violation,
    }

    /// <summary>Publishes <paramref name="next"/> into the ring (the mapper, before it moves the sequence on).</summary>
    public void Publish(SlotState next) => Volatile.Write(ref History[next.Number % Depth], next);

    /// <summary>Whether <paramref name="result"/> of <paramref name="request"/>, made between sequence reads
    /// <paramref name="before"/> and <paramref name="after"/>, is a state live in that window; the window's states
    /// are [<paramref name="first"/>, <paramref name="last"/>].</summary>
    public Verdict Check(long before, long after, in TranslationRequest request, in TranslationResult result, out long first, out long last)
    {
        first = before / 2;
        last = (after + 1) / 2;
        if (last - first >= Depth - 2)
        {
            return Verdict.NotCheckable;
        }

        if (Explains(first, last, in request, in result))
        {
            return Verdict.Explained;
        }

        // The history is a ring: if the mapper went round it while this thread was checking (a reader preempted for a
        // while), the states of the window may be overwritten. Not checkable.
        return (Volatile.Read(ref Sequence) + 1) / 2 - first >= Depth - 2 ? Verdict.NotCheckable : Verdict.Violation;
    }

    /// <summary>The window's states, for a violation's message.</summary>
    public IEnumerable<string> Window(long first, long last)
    {
        for (long n = first; n <= last; n++)
        {
            SlotState? state = History[n % Depth];
            yield return state is null || state.Number != n ? $"#{n} ?"
                : state.Mapped ? $"#{n} 0x{state.Iova:x}+0x{state.Size:x}->0x{state.Pa:x}" : $"#{n} unmapped";
        }
    }

    private bool Explains(long first, long last, in TranslationRequest request, in TranslationResult result)
    {
        for (long n = first; n <= last; n++)
        {
            SlotState? state = Volatile.Read(ref History[n % Depth]);
            if (state is null || state.Number != n)
            {
                continue; // not published yet (the mapper's next state) or already overwritten
            }

            bool covered = state.Mapped && request.Iova - state.Iova < state.Size;
            if (!covered)
            {
                if (!result.Success && result.Cause == (request.Access == AccessType.Read ? FaultCause.ReadPageFault : FaultCause.WritePageFault))
                {
                    return true;
                }
            }
            else if (result.Success && result.PhysicalAddress == state.Pa + (request.Iova - state.Iova))
            {
                return true;
            }
        }

        return false;
    }
}

/// <summary>What the live walkers' readers saw, counted across threads: each translation checked against its slot's
/// window (<see cref="MappingHistory.Check"/>), the first few violations kept as examples.</summary>
internal sealed class ReaderTally
{
    public long Translations, Successes, Skipped, Violations;
    public readonly List<string> Examples = [];

    /// <summary>Counts one translation of slot <paramref name="slotIndex"/>, made between the reader's reads
    /// <paramref name="before"/> and <paramref name="after"/> of the slot's sequence.</summary>
    public void Check(MappingHistory slot, int slotIndex, long before, long after, in TranslationRequest request, in TranslationResult result)
    {
        Interlocked.Increment(ref Translations);
        if (result.Success)
        {
            Interlocked.Increment(ref Successes);
        }

        MappingHistory.Verdict verdict = slot.Check(before, after, in request, in result, out long first, out long last);
        if (verdict == MappingHistory.Verdict.NotCheckable)
        {
            Interlocked.Increment(ref Skipped);
        }
        else if (verdict == MappingHistory.Verdict.Violation)
        {
            AddViolation($"slot {slotIndex} iova 0x{request.Iova:x} {request.Access}: got {result}; states {first}..{last}: " +
                string.Join(", ", slot.Window(first, last)));
        }
    }

    /// <summary>Counts a violation found elsewhere (a mapper's unmap), keeping the first few.</summary>
    public void AddViolation(string example)
    {
        Interlocked.Increment(ref Violations);
        lock (Examples)
        {
            if (Examples.Count < 5)
            {
                Examples.Add(example);
            }
        }
    }
}
