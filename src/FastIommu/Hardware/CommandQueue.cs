using System.Buffers.Binary;
using FastIommu.Formats.RiscV;

namespace FastIommu.Hardware;

/// <summary>
/// The command queue (spec "Command-Queue (CQ)"): <c>cqb</c>, <c>cqh</c>, <c>cqt</c>, <c>cqcsr</c> and the
/// fetch/decode/execute loop. Every method runs under the device lock; the fields are read lock-free by MMIO reads.
/// </summary>
/// <remarks>
/// <code>
/// cqcsr: 31 28 27    18  17   16  15 12   11        10      9      8     7  2   1    0
///       +-----+--------+----+----+-----+----------+-------+------+------+-----+-----+------+
///       |cust.|  rsvd  |busy|cqon| rsvd|fence_w_ip|cmd_ill|cmd_to| cqmf | rsvd| cie | cqen |
///       +-----+--------+----+----+-----+----------+-------+------+------+-----+-----+------+
/// command (16 B): dword0 opcode 6:0, func3 9:7, operands; dword1 operands
/// </code>
/// Commands complete synchronously, so <c>busy</c> is hard-wired to 0 and <c>cqh</c> advancing past a command means
/// it has completed. An illegal command, or a memory fault fetching a command or writing IOFENCE.C data, stops the
/// queue with <c>cqh</c> on that command until software clears the error bit.
/// </remarks>
internal sealed class CommandQueue
{
    public const uint Cqen = CqCsr.CqenMask;
    public const uint Cie = CqCsr.CieMask;
    public const uint Cqmf = CqCsr.CqmfMask;
    public const uint CmdTo = CqCsr.CmdToMask;
    public const uint CmdIll = CqCsr.CmdIllMask;
    public const uint FenceWIp = CqCsr.FenceWIpMask;
    public const uint Cqon = CqCsr.CqonMask;
    public const uint Busy = CqCsr.BusyMask;
    public const uint ErrorBits = Cqmf | CmdTo | CmdIll;
    public const uint InterruptSources = ErrorBits | FenceWIp;
    public const int EntrySize = QueueBase.CommandEntrySize;

    private readonly RegisterFile _registers;
    private readonly IMemoryAccess _memory;
    private readonly ITranslationBackend _backend;
    private readonly List<AtsMessage> _atsMessages = [];
    private ulong _cqb;
    private uint _cqh;
    private uint _cqt;
    private uint _csr;

    public CommandQueue(RegisterFile registers, IMemoryAccess memory, ITranslationBackend backend)
    {
        _registers = registers;
        _memory = memory;
        _backend = backend;
    }

    public ulong Cqb => Volatile.Read(ref _cqb);

    public uint Cqh => Volatile.Read(ref _cqh);

    public uint Cqt => Volatile.Read(ref _cqt);

    public uint Csr => Volatile.Read(ref _csr);

    /// <summary>True when cqen or cqon is set: the queue registers must not be reprogrammed and fctl must not change.</summary>
    public bool Active => (Csr & (Cqen | Cqon)) != 0;

    /// <summary>The condition that sets ipsr.cip (spec "ipsr": cie and any of fence_w_ip, cmd_ill, cmd_to, cqmf).</summary>
    public bool InterruptCondition => (Csr & Cie) != 0 && (Csr & InterruptSources) != 0;

    /// <summary>Entries in the queue, 2^LOG2SZ, as a mask for the head and tail (LOG2SZ = cqb[4:0] + 1).</summary>
    public uint IndexMask => QueueIndexMask(Cqb);

    public static uint QueueIndexMask(ulong queueBase) => new QueueBase(queueBase).IndexMask;

    public static ulong QueueAddress(ulong queueBase) => new QueueBase(queueBase).BaseAddress;

    /// <summary>cqb: LOG2SZ-1 4:0 and PPN 53:10 are WARL (PPN limited to capabilities.PAS), the rest reserved.
    /// Writing it while the queue is enabled or on is UNSPECIFIED; ignored here. Following the write, cqt bits
    /// 31:LOG2SZ are 0 (spec "Command-queue base").</summary>
    public void WriteCqb(ulong value)
    {
        if (Active)
        {
            return;
        }

        ulong cqb = (value & 0x1F) | (value & _registers.PpnMask);
        Volatile.Write(ref _cqb, cqb);
        Volatile.Write(ref _cqt, Cqt & QueueIndexMask(cqb));
    }

    /// <summary>cqt: only bits LOG2SZ-1:0 are writable.</summary>
    public void WriteCqt(uint value) => Volatile.Write(ref _cqt, value & IndexMask);

    /// <summary>cqcsr write: RW1C error bits, cqen/cie RW; cqen 0→1 zeroes cqh and the error bits and turns the
    /// queue on, 1→0 turns it off (at once: nothing is in flight between commands).</summary>
    public void WriteCsr(uint value)
    {
        uint csr = Csr;
        uint clear = value & (ErrorBits | FenceWIp);
        csr &= ~clear;
        bool enable = (value & Cqen) != 0;
        if (enable && (csr & Cqen) == 0)
        {
            Volatile.Write(ref _cqh, 0);
            csr = (csr & ~(ErrorBits | FenceWIp)) | Cqen | Cqon;
        }
        else if (!enable && (csr & Cqen) != 0)
        {
            csr &= ~(Cqen | Cqon);
        }

        csr = (value & Cie) != 0 ? csr | Cie : csr & ~Cie;
        Volatile.Write(ref _csr, csr);
    }

    /// <summary>Takes the ATS messages recorded since the last call.</summary>
    public AtsMessage[] TakeAtsMessages()
    {
        AtsMessage[] messages = [.. _atsMessages];
        _atsMessages.Clear();
        return messages;
    }

    /// <summary>Fetches and executes commands from cqh up to cqt while the queue is on and no error bit is set.
    /// Returns the number of commands completed.</summary>
    public int Process()
    {
        int completed = 0;
        Span<byte> entry = stackalloc byte[EntrySize];
        while ((Csr & (Cqon | ErrorBits)) == Cqon && Cqh != Cqt)
        {
            ulong address = QueueAddress(Cqb) + ((ulong)Cqh * EntrySize);
            if (!_memory.TryRead(address, entry))
            {
                SetError(Cqmf);
                break;
            }

            ulong dword0 = ReadDword(entry);
            ulong dword1 = ReadDword(entry[8..]);
            uint error = Execute(dword0, dword1);
            if (error != 0)
            {
                SetError(error);
                break;
            }

            Volatile.Write(ref _cqh, (Cqh + 1) & IndexMask);
            completed++;
        }

        return completed;
    }

    private ulong ReadDword(ReadOnlySpan<byte> bytes) =>
        _registers.BigEndian ? BinaryPrimitives.ReadUInt64BigEndian(bytes) : BinaryPrimitives.ReadUInt64LittleEndian(bytes);

    private void SetError(uint bit) => Volatile.Write(ref _csr, Csr | bit);

    /// <summary>Decodes and runs one command; returns 0, or the cqcsr error bit it raises.
    /// "A command is determined to be illegal if it uses a reserved encoding or if a reserved bit is set to 1.
    /// A command is unsupported if it is defined but not implemented as determined by the capabilities register."
    /// Both set cmd_ill. <see cref="Command.IsIllegal"/> covers the encodings; the rest depends on this IOMMU.</summary>
    private uint Execute(ulong dword0, ulong dword1)
    {
        var command = new Command(dword0, dword1);
        if (command.IsIllegal)
        {
            return CmdIll;
        }

        switch (command.Kind)
        {
            case CommandKind.IotinvalVma:
                _backend.InvalidateVma(command.Gv, (ushort)command.Gscid, command.Pscv, command.Pscid, command.Av, command.Address);
                return 0;
            case CommandKind.IotinvalGvma:
                _backend.InvalidateGvma(command.Gv, (ushort)command.Gscid, command.Av, command.Address);
                return 0;
            case CommandKind.IofenceC:
                return ExecuteIofence(command);
            case CommandKind.IodirInvalDdt:
                // "When DV operand is 1, the value of the DID operand must not be wider than that supported by the
                // ddtp.iommu_mode." A wider DID names no device this IOMMU can hold: treated as illegal.
                if (command.Dv && (command.Did >> DeviceIdBits()) != 0)
                {
                    return CmdIll;
                }

                _backend.InvalidateDdt(command.Dv, command.Did);
                return 0;
            case CommandKind.IodirInvalPdt:
                // The PID "must not be wider than the width supported by the IOMMU" (capabilities PD8/PD17/PD20).
                if ((command.Did >> DeviceIdBits()) != 0 || (command.Pid >> ProcessIdBits()) != 0)
                {
                    return CmdIll;
                }

                _backend.InvalidatePdt(command.Did, command.Pid);
                return 0;
            default:
                // ATS.INVAL / ATS.PRGR: "supported if capabilities.ATS is set to 1". No device is attached, so the
                // message is recorded for the emulator and the command completes at once (no timeout).
                if (!_registers.HasAts)
                {
                    return CmdIll;
                }

                _atsMessages.Add(new AtsMessage(command.Kind == CommandKind.AtsInval ? AtsMessageKind.Invalidate : AtsMessageKind.PageRequestGroupResponse, dword0, dword1));
                return 0;
        }
    }

    private uint ExecuteIofence(Command command)
    {
        // WSI "is reserved if the IOMMU does not support wired-interrupts or [they] have not been enabled".
        if (command.Wsi && !_registers.WiredInterrupts)
        {
            return CmdIll;
        }

        // Every earlier command has completed (they run synchronously), and so has every walk that began before this
        // fence (the translator waits for them: a driver frees the table pages an invalidation unlinked once the
        // fence completes, and no walk may read them after). PR/PW ask that device reads/writes already processed
        // be globally visible, which the full fence of that wait gives for the translations published so far (every
        // backend's Fence is a full fence: the write-back below cannot pass it).
        _backend.Fence();
        if (command.Av)
        {
            Span<byte> bytes = stackalloc byte[4];
            if (_registers.BigEndian)
            {
                BinaryPrimitives.WriteUInt32BigEndian(bytes, command.Data);
            }
            else
            {
                BinaryPrimitives.WriteUInt32LittleEndian(bytes, command.Data);
            }

            // The spec names the bit "cmd_mf" here; the cqcsr bit for a memory fault made by a command is cqmf.
            if (!_memory.TryWrite(command.FenceAddress, bytes))
            {
                return Cqmf;
            }
        }

        if (command.Wsi)
        {
            Volatile.Write(ref _csr, Csr | FenceWIp);
        }

        return 0;
    }

    /// <summary>device_id width the current ddtp.iommu_mode can index: 1LVL 7 (6 with 64-byte DCs),
    /// 2LVL 16 (15), 3LVL 24 (spec "Device-context" DDI split). Off and Bare have no DDT: all 24 bits.</summary>
    private int DeviceIdBits()
    {
        bool extended = new Capabilities(_registers.CapabilitiesValue).MsiFlat; // 64-byte device contexts
        return (_registers.DdtpValue & RegisterFile.DdtpModeMask) switch
        {
            2 => extended ? 6 : 7,
            3 => extended ? 15 : 16,
            _ => 24,
        };
    }

    private int ProcessIdBits()
    {
        ulong caps = _registers.CapabilitiesValue;
        return (caps & (1UL << RegisterFile.CapPd20Bit)) != 0 ? 20
            : (caps & (1UL << RegisterFile.CapPd17Bit)) != 0 ? 17
            : (caps & (1UL << RegisterFile.CapPd8Bit)) != 0 ? 8
            : 0;
    }
}
