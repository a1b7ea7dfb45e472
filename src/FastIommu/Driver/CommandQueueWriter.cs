using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;
using FastIommu.Formats.RiscV;
using FastIommu.Memory;

namespace FastIommu.Driver;

/// <summary>
/// The driver's side of the command queue (spec "Command-Queue (CQ)"): 16-byte commands written byte-exactly at
/// <c>cqb + tail × 16</c>, wrapping, the doorbell (<c>cqt</c>) rung once per batch; when the ring is full it rings,
/// then waits for <c>cqh</c> to move (bounded by the timeout). Completion is observed through IOFENCE.C's AV
/// write-back: the fence writes a sequence number into a word of driver memory, and commands complete in order, so
/// the word reaching a fence's number means that fence and everything before it completed.
/// </summary>
/// <remarks>Writers serialise on one lock while they fill the ring; waiting for a fence takes no lock, so several
/// threads may wait on their own fences at once. Nothing here allocates.</remarks>
internal sealed class CommandQueueWriter
{
    private readonly IIommuMmio _mmio;
    private readonly PhysicalMemory _memory;
    private readonly IommuCounters _counters;
    private readonly ulong _base;
    private readonly uint _mask;
    private readonly ulong _fenceWord;
    private readonly TimeSpan _timeout;
    private readonly Lock _lock = new();
    private uint _tail;
    private uint _head;      // last cqh read: the hardware is at least this far
    private uint _fenceSeq;  // last sequence number handed to a fence
    private bool _closed;    // the instance shut down: the ring's pages may be reused

    public CommandQueueWriter(IIommuMmio mmio, PhysicalMemory memory, IommuCounters counters, ulong ringBase, int log2Entries,
        ulong fenceWord, TimeSpan timeout)
    {
        _mmio = mmio;
        _memory = memory;
        _counters = counters;
        _base = ringBase;
        _mask = (1u << log2Entries) - 1;
        _fenceWord = fenceWord;
        _timeout = timeout;
    }

    /// <summary>Refuses every later command (the instance is shutting down and will free the ring).</summary>
    public void Close()
    {
        lock (_lock)
        {
            _closed = true;
        }
    }

    /// <summary>Queues <paramref name="command"/> and rings the doorbell.</summary>
    public void Submit(Command command) => Submit(new ReadOnlySpan<Command>(in command));

    /// <summary>Queues <paramref name="commands"/> in order and rings the doorbell once (more often only when the
    /// ring fills).</summary>
    /// <exception cref="CommandQueueTimeoutException">The hardware did not free a slot in time.</exception>
    /// <exception cref="CommandQueueException">The hardware stopped on an earlier command.</exception>
    public void Submit(ReadOnlySpan<Command> commands)
    {
        lock (_lock)
        {
            for (int i = 0; i < commands.Length; i++)
            {
                Write(commands[i]);
            }

            RingDoorbell();
        }
    }

    /// <summary>Queues an IOFENCE.C (AV = 1, PR = PW = 1) whose write-back is the returned sequence number, and rings.</summary>
    public uint SubmitFence()
    {
        lock (_lock)
        {
            uint seq = ++_fenceSeq;
            Write(FenceCommand(seq));
            RingDoorbell();
            return seq;
        }
    }

    /// <summary>Queues <paramref name="commands"/> then a fence, rings once, and returns the fence's number; counts a
    /// gather sync when <paramref name="sync"/> is set.</summary>
    public uint SubmitWithFence(ReadOnlySpan<Command> commands, bool sync = false)
    {
        lock (_lock)
        {
            for (int i = 0; i < commands.Length; i++)
            {
                Write(commands[i]);
            }

            if (sync)
            {
                _counters.CountSync();
            }

            uint seq = ++_fenceSeq;
            Write(FenceCommand(seq));
            RingDoorbell();
            return seq;
        }
    }

    /// <summary>Waits until the fence <paramref name="seq"/> has written back (so every command queued before it
    /// completed).</summary>
    /// <exception cref="CommandQueueTimeoutException">It did not complete within the timeout.</exception>
    /// <exception cref="CommandQueueException">The queue stopped on a command before it.</exception>
    public void WaitFence(uint seq)
    {
        if (FenceDone(seq))
        {
            _counters.CountFence();
            return;
        }

        long deadline = Stopwatch.GetTimestamp() + (long)(_timeout.TotalSeconds * Stopwatch.Frequency);
        var spin = default(SpinWait);
        while (!FenceDone(seq))
        {
            ObjectDisposedException.ThrowIf(Volatile.Read(ref _closed), this);
            CheckErrors();
            if (Stopwatch.GetTimestamp() > deadline)
            {
                ThrowTimeout(FenceCommand(seq), "complete IOFENCE.C");
            }

            spin.SpinOnce();
        }

        _counters.CountFence();
    }

    /// <summary>Queues a fence and waits for it.</summary>
    public void Sync() => WaitFence(SubmitFence());

    private Command FenceCommand(uint seq) => Command.IofenceC(av: true, wsi: false, pr: true, pw: true, _fenceWord, seq);

    // Commands complete in order and the word only moves forward, so "reached" is a wrapping compare.
    private bool FenceDone(uint seq) => (int)(Volatile.Read(ref _memory.GetRef<uint>(_fenceWord)) - seq) >= 0;

    private void Write(in Command command)
    {
        ObjectDisposedException.ThrowIf(_closed, this);
        uint next = (_tail + 1) & _mask;
        if (next == _head)
        {
            WaitForSlot(command, next);
        }

        // The slot is the driver's until cqt covers it: plain stores, published by the doorbell's barrier.
        ulong slot = _base + ((ulong)_tail * Command.Size);
        _memory.Qword(slot) = command.Dword0;
        _memory.Qword(slot + 8) = command.Dword1;
        _tail = next;
        _counters.CountCommand(command.Kind);
    }

    private void WaitForSlot(in Command command, uint next)
    {
        _head = _mmio.Read32(RegisterOffsets.Cqh);
        if (next != _head)
        {
            return;
        }

        // Full: let the hardware see what is queued, then wait for cqh to move.
        RingDoorbell();
        long deadline = Stopwatch.GetTimestamp() + (long)(_timeout.TotalSeconds * Stopwatch.Frequency);
        var spin = default(SpinWait);
        while (true)
        {
            _head = _mmio.Read32(RegisterOffsets.Cqh);
            if (next != _head)
            {
                return;
            }

            CheckErrors();
            if (Stopwatch.GetTimestamp() > deadline)
            {
                ThrowTimeout(command, "free a command-queue slot (queue full)");
            }

            spin.SpinOnce();
        }
    }

    private void RingDoorbell()
    {
        // The ring entries must be visible before the hardware can see the new tail (spec: "Software must perform
        // the invalidation after the update is globally visible").
        Interlocked.MemoryBarrier();
        _mmio.Write32(RegisterOffsets.Cqt, _tail);
    }

    /// <summary>If the queue stopped on an error, replaces the failed entry with a no-op fence, clears the error bit
    /// (the queue restarts) and throws naming the failed command.</summary>
    private void CheckErrors()
    {
        var csr = new CqCsr(_mmio.Read32(RegisterOffsets.Cqcsr));
        if ((csr.Value & CqCsr.ErrorMask) == 0)
        {
            return;
        }

        Command failed;
        lock (_lock)
        {
            csr = new CqCsr(_mmio.Read32(RegisterOffsets.Cqcsr));
            if ((csr.Value & CqCsr.ErrorMask) == 0)
            {
                return; // another thread recovered it
            }

            uint head = _mmio.Read32(RegisterOffsets.Cqh) & _mask;
            ulong slot = _base + ((ulong)head * Command.Size);
            failed = new Command(_memory.Qword(slot), _memory.Qword(slot + 8));
            Command noop = Command.IofenceC(av: false, wsi: false, pr: false, pw: false);
            _memory.Qword(slot) = noop.Dword0;
            _memory.Qword(slot + 8) = noop.Dword1;
            Interlocked.MemoryBarrier();
            // RW1C: write back the error bits with cqen kept (and cie as it was).
            _mmio.Write32(RegisterOffsets.Cqcsr, (csr.Value & (CqCsr.CqenMask | CqCsr.CieMask)) | (csr.Value & CqCsr.ErrorMask));
        }

        CommandQueueError error = csr.CmdIll ? CommandQueueError.IllegalCommand
            : csr.Cqmf ? CommandQueueError.MemoryFault
            : CommandQueueError.CommandTimeout;
        throw new CommandQueueException(failed, error);
    }

    [DoesNotReturn]
    private void ThrowTimeout(Command command, string what) => throw new CommandQueueTimeoutException(command, what, _timeout);
}
