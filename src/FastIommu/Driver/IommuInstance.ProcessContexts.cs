using FastIommu.Formats.RiscV;

namespace FastIommu.Driver;

// Process-context updates (spec "Changing process directory table entry"), in the same shape as device contexts:
// clear ta.V -> IODIR.INVAL_PDT (+ IOTINVAL.VMA of the old PSCID) -> IOFENCE.C -> fsc -> ta with V last ->
// IODIR.INVAL_PDT -> IOFENCE.C.
public sealed partial class IommuInstance
{
    private readonly List<ProcessDirectory> _pdts = [];

    /// <summary>Records a PDT now linked from a device context (freed at shutdown).</summary>
    internal void AddPdt(ProcessDirectory pdt)
    {
        lock (_pdts)
        {
            _pdts.Add(pdt);
        }
    }

    /// <summary>Forgets a removed device's PDT (its pages are freed by the caller, not again at shutdown).</summary>
    internal void RemovePdt(ProcessDirectory pdt)
    {
        lock (_pdts)
        {
            _pdts.Remove(pdt);
        }
    }

    /// <summary>The process context at <paramref name="pc"/> as it is in memory.</summary>
    internal ProcessContext ReadProcessContext(ulong pc) => new(
        new ProcessContextTa(Volatile.Read(ref _memory.Qword(pc + ProcessContext.TaOffset))),
        new Iosatp(Volatile.Read(ref _memory.Qword(pc + ProcessContext.FscOffset))));

    internal void WriteProcessContext(uint deviceId, uint pasid, ulong pc, in ProcessContext image)
    {
        ProcessContext old = ReadProcessContext(pc);
        Span<Command> commands = stackalloc Command[2];
        if (old.Valid)
        {
            Volatile.Write(ref _memory.Qword(pc + ProcessContext.TaOffset), old.Ta.WithV(false).Value);
            Interlocked.MemoryBarrier();
            commands[0] = Command.IodirInvalPdt(deviceId, pasid);
            // Spec: IOTINVAL.VMA GV = 0, AV = 0, PSCV = 1, PSCID = PC.PSCID (G-stage Bare here).
            commands[1] = Command.IotinvalVma(gv: false, 0, pscv: true, old.Ta.Pscid, av: false, 0);
            _commands.WaitFence(_commands.SubmitWithFence(commands));
        }

        Volatile.Write(ref _memory.Qword(pc + ProcessContext.FscOffset), image.Fsc.Value);
        if (!image.Valid)
        {
            Volatile.Write(ref _memory.Qword(pc + ProcessContext.TaOffset), image.Ta.Value);
            return;
        }

        Interlocked.MemoryBarrier(); // fsc before V
        Volatile.Write(ref _memory.Qword(pc + ProcessContext.TaOffset), image.Ta.Value);
        Interlocked.MemoryBarrier();
        commands[0] = Command.IodirInvalPdt(deviceId, pasid);
        _commands.WaitFence(_commands.SubmitWithFence(commands[..1]));
    }

    private void FreePdtPages()
    {
        lock (_pdts)
        {
            foreach (ProcessDirectory pdt in _pdts)
            {
                pdt.FreeAll();
            }

            _pdts.Clear();
        }
    }
}
