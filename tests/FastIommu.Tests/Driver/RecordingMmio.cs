using FastIommu.Driver;
using FastIommu.Formats.RiscV;
using FastIommu.Memory;

namespace FastIommu.Tests.Driver;

/// <summary>
/// An <see cref="IIommuMmio"/> that forwards to another and, at each doorbell, records the commands the driver
/// published (read back from the ring) together with the state of a watched memory word at that moment, so a test
/// can check the order of stores and commands. Optionally drops commands of a chosen kind (a mutation of the driver's
/// output, to prove a test needs them) by rewriting them into no-op fences before the hardware sees them.
/// </summary>
internal sealed class RecordingMmio(IIommuMmio inner, PhysicalMemory memory) : IIommuMmio
{
    private uint _tail;

    public List<(Command Command, ulong Watched)> Log { get; } = [];

    /// <summary>Physical address of the word sampled at each doorbell (0: none).</summary>
    public ulong Watch { get; set; }

    /// <summary>Commands matching this are replaced by IOFENCE.C (AV = 0) before the hardware runs them.</summary>
    public Func<Command, bool>? Drop { get; set; }

    public uint Read32(uint offset) => inner.Read32(offset);

    public ulong Read64(uint offset) => inner.Read64(offset);

    public void Write32(uint offset, uint value)
    {
        if (offset == RegisterOffsets.Cqt)
        {
            var cqb = new QueueBase(inner.Read64(RegisterOffsets.Cqb));
            for (uint i = _tail; i != value; i = (i + 1) & cqb.IndexMask)
            {
                ulong slot = cqb.BaseAddress + (i * 16UL);
                var command = new Command(memory.Qword(slot), memory.Qword(slot + 8));
                Log.Add((command, Watch == 0 ? 0 : memory.Qword(Watch)));
                if (Drop is not null && Drop(command))
                {
                    Command noop = Command.IofenceC(false, false, false, false);
                    memory.Qword(slot) = noop.Dword0;
                    memory.Qword(slot + 8) = noop.Dword1;
                }
            }

            _tail = value;
        }
        else if (offset == RegisterOffsets.Cqcsr && (value & CqCsr.CqenMask) != 0 && (inner.Read32(RegisterOffsets.Cqcsr) & CqCsr.CqenMask) == 0)
        {
            _tail = 0; // the queue is (re)enabled: cqh = 0, and the driver writes cqt = 0
        }

        inner.Write32(offset, value);
    }

    public void Write64(uint offset, ulong value) => inner.Write64(offset, value);

    public IEnumerable<Command> Commands => Log.Select(e => e.Command);

    public int Count(CommandKind kind) => Log.Count(e => e.Command.Kind == kind);

    public void Clear() => Log.Clear();
}
