using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using FastIommu.Diagnostics;

namespace FastIommu.Hardware;

/// <summary>
/// The walks a translator has in flight, so that IOFENCE.C can wait for them: a driver frees table pages once an
/// invalidation and its fence have completed, and a walk that began before them must not read a page after that.
/// </summary>
/// <remarks>
/// <para>Each thread that walks for this translator owns one <see cref="Mark"/>: a sequence it alone writes, odd
/// while a walk (any translation that reads table or directory memory and is not validated by the fence epoch) is in
/// flight. Entering a walk is a locked exchange, a full fence; leaving it is a release store. <see cref="WaitForWalks"/>
/// takes a full fence after the invalidations, then reads the marks: the store-load pattern of Dekker's algorithm,
/// with a fence on both sides. So for each walking thread either its odd mark is visible to the waiter, or the
/// thread's loads after its mark come after the waiter's fence and see everything the invalidations did before it
/// (the caches dropped, the tables unlinked), and it cannot reach what they removed. The waiter then waits, for each
/// mark it saw odd, until that mark changes: the walks that began before the fence have ended.</para>
/// <para>Why the walker pays and not the fence: the fence used to pay alone, with a process-wide barrier
/// (<see cref="Interlocked.MemoryBarrierProcessWide"/>, an IPI to every CPU of the process) and plain stores on the
/// walk's side. That made every IOFENCE.C cost microseconds, about half of a driver's strict map + unmap + sync,
/// while a marked walk is rare and long: the common first-stage miss is validated, not marked, and a hit takes no
/// part. A locked exchange adds a few nanoseconds to a walk that reads contexts and tables.</para>
/// <para>Cache hits read no table memory and take no part: what they return was mapped when it was cached, exactly
/// as a translation that completed just before the fence.</para>
/// <para>Marks are registered on a thread's first walk (under a lock, once per thread and translator) and taken
/// over from threads that have died. A thread that alternates between translators registers in each and switches
/// its current mark (a scan of the registry) on each change.</para>
/// </remarks>
internal sealed class WalksInFlight
{
    /// <summary>One thread's walk sequence, alone in its cache line (the owner writes it on every walk).</summary>
    [StructLayout(LayoutKind.Explicit, Size = 192)]
    internal sealed class Mark
    {
        /// <summary>The translator's registry this mark belongs to.</summary>
        [FieldOffset(0)]
        public WalksInFlight? Registry;

        /// <summary>Odd while the owner walks; written only by the owner.</summary>
        [FieldOffset(64)]
        public long Sequence;

        /// <summary>Sets the owner's sequence to <paramref name="odd"/> with a full fence (on the owner thread): no
        /// load of the walk that follows can be satisfied before the mark is visible to a fence.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Enter(long odd) => Interlocked.Exchange(ref Sequence, odd);

        /// <summary>Ends the walk <see cref="Begin"/> marked (on the owner thread).</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void End() => Volatile.Write(ref Sequence, Sequence + 1);
    }

    private readonly record struct Entry(Mark Mark, Thread Owner);

    [ThreadStatic]
    private static Mark? t_current;

    private readonly Lock _lock = new();
    private Entry[] _entries = [];

    /// <summary>Marks the calling thread as walking (a full fence: see the remarks) and returns its mark: the walk
    /// ends it with <see cref="Mark.End"/> on the same thread, so the thread-local mark is read once per walk.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Mark Begin()
    {
        Mark? mark = t_current;
        if (mark is null || mark.Registry != this)
        {
            mark = Register();
        }

        // Odd. A mark left odd by a walk an exception ended stays odd: the next walk's end moves it on.
        mark.Enter(mark.Sequence | 1);
        return mark;
    }

    /// <summary>The calling thread's mark in this registry (registering it if needed); for walks that manage the
    /// sequence themselves (nested or exception-guarded ones).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Mark Current()
    {
        Mark? mark = t_current;
        return mark is not null && mark.Registry == this ? mark : Register();
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private Mark Register()
    {
        Thread self = Thread.CurrentThread;
        lock (_lock)
        {
            Entry[] entries = _entries;
            int reusable = -1;
            for (int i = 0; i < entries.Length; i++)
            {
                if (entries[i].Owner == self)
                {
                    return t_current = entries[i].Mark;
                }

                if (reusable < 0 && !entries[i].Owner.IsAlive)
                {
                    reusable = i;
                }
            }

            Mark mark;
            if (reusable >= 0)
            {
                // A dead thread walks no more: its mark moves on to even (a fence waiting on it sees the change) and
                // becomes this thread's. The array is replaced, not written in place: a waiter reads it unlocked.
                mark = entries[reusable].Mark;
                Volatile.Write(ref mark.Sequence, (mark.Sequence | 1) + 1);
                var copy = (Entry[])entries.Clone();
                copy[reusable] = new Entry(mark, self);
                Volatile.Write(ref _entries, copy);
            }
            else
            {
                mark = new Mark { Registry = this };
                var grown = new Entry[entries.Length + 1];
                entries.CopyTo(grown, 0);
                grown[^1] = new Entry(mark, self);
                // Published before this thread's first walk marks it (a release store, then the mark's full
                // fence): a waiter that does not see the new array does not see the mark either, and then the
                // walk's loads see the invalidations (see the remarks).
                Volatile.Write(ref _entries, grown);
            }

            return t_current = mark;
        }
    }

    /// <summary>Returns once every walk that was in flight when it was called has ended, except the calling thread's
    /// own (a walk whose memory callback fences must not wait for itself). The caller has just taken a full fence (a
    /// locked instruction) after the invalidations: the fence's side of the store-load pattern (see the remarks), so
    /// a walk whose odd mark the loads below miss will see the invalidations.</summary>
    public void WaitForWalks()
    {
        Entry[] entries = Volatile.Read(ref _entries);
        Thread self = Thread.CurrentThread;
        foreach (Entry entry in entries)
        {
            long sequence = Volatile.Read(ref entry.Mark.Sequence);
            if ((sequence & 1) == 0 || entry.Owner == self)
            {
                continue;
            }

            // A fence is about to wait for a walk in flight (tests check it waits, then release the walk).
            if (Interleaving.Enabled)
            {
                Interleaving.Reach("Translator.FenceWaits");
            }

            var spin = new SpinWait();
            while (Volatile.Read(ref entry.Mark.Sequence) == sequence && entry.Owner.IsAlive)
            {
                spin.SpinOnce();
            }
        }
    }
}
