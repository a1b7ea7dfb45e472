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

    // Opcodes and functions (spec table "IOMMU command opcodes").
    public const uint OpIotinval = 1;
    public const uint OpIofence = 2;
    public const uint OpIodir = 3;
    public const uint OpAts = 4;

    // IOTINVAL.VMA/GVMA: AV 10, rsvd 11, PSCID 31:12, PSCV 32, GV 33, rsvd 43:34, GSCID 59:44, rsvd 63:60;
    // dword1: rsvd 9:0, ADDR[63:12] 61:10, rsvd 63:62.
    private const ulong IotinvalReserved0 = (1UL << 11) | (0x3FFUL << 34) | (0xFUL << 60);
    private const ulong IotinvalReserved1 = 0x3FFUL | (3UL << 62);
    // IOFENCE.C: AV 10, WSI 11, PR 12, PW 13, rsvd 31:14, DATA 63:32; dword1: ADDR[63:2] 61:0, rsvd 63:62.
    private const ulong IofenceReserved0 = 0x3FFFFUL << 14;
    private const ulong IofenceReserved1 = 3UL << 62;
    // IODIR: rsvd 11:10, PID 31:12, rsvd 32, DV 33, rsvd 39:34, DID 63:40; dword1 reserved.
    private const ulong IodirReserved0 = (3UL << 10) | (1UL << 32) | (0x3FUL << 34);
    // ATS: rsvd 11:10, PID 31:12, PV 32, DSV 33, rsvd 39:34, RID 55:40, DSEG 63:56; dword1 is the message payload.
    private const ulong AtsReserved0 = (3UL << 10) | (0x3FUL << 34);

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

    public static uint QueueIndexMask(ulong queueBase) => (uint)((1UL << ((int)(queueBase & 0x1F) + 1)) - 1);

    public static ulong QueueAddress(ulong queueBase) => ((queueBase >> RegisterFile.PpnShift) & ((1UL << 44) - 1)) << 12;

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
    /// Both set cmd_ill.</summary>
    private uint Execute(ulong dword0, ulong dword1)
    {
        uint opcode = (uint)dword0 & 0x7F;
        uint func3 = (uint)(dword0 >> 7) & 0x7;
        return opcode switch
        {
            OpIotinval => ExecuteIotinval(func3, dword0, dword1),
            OpIofence => ExecuteIofence(func3, dword0, dword1),
            OpIodir => ExecuteIodir(func3, dword0, dword1),
            OpAts => ExecuteAts(func3, dword0, dword1),
            _ => CmdIll,
        };
    }

    private uint ExecuteIotinval(uint func3, ulong dword0, ulong dword1)
    {
        if (func3 > 1 || (dword0 & IotinvalReserved0) != 0 || (dword1 & IotinvalReserved1) != 0)
        {
            return CmdIll;
        }

        bool av = (dword0 & (1UL << 10)) != 0;
        uint pscid = (uint)(dword0 >> 12) & 0xF_FFFF;
        bool pscv = (dword0 & (1UL << 32)) != 0;
        bool gv = (dword0 & (1UL << 33)) != 0;
        ushort gscid = (ushort)(dword0 >> 44);
        ulong address = (dword1 & 0x3FFF_FFFF_FFFF_FC00UL) << 2;
        if (func3 == 0)
        {
            _backend.InvalidateVma(gv, gscid, pscv, pscid, av, address);
            return 0;
        }

        // "Setting PSCV to 1 with IOTINVAL.GVMA is illegal."
        if (pscv)
        {
            return CmdIll;
        }

        _backend.InvalidateGvma(gv, gscid, av, address);
        return 0;
    }

    private uint ExecuteIofence(uint func3, ulong dword0, ulong dword1)
    {
        bool wsi = (dword0 & (1UL << 11)) != 0;
        // WSI "is reserved if the IOMMU does not support wired-interrupts or [they] have not been enabled".
        if (func3 != 0 || (dword0 & IofenceReserved0) != 0 || (dword1 & IofenceReserved1) != 0
            || (wsi && !_registers.WiredInterrupts))
        {
            return CmdIll;
        }

        // Every earlier command has completed (they run synchronously); PR/PW ask that device reads/writes already
        // processed be globally visible, which a full fence gives for the translations published so far.
        Interlocked.MemoryBarrier();
        bool av = (dword0 & (1UL << 10)) != 0;
        if (av)
        {
            uint data = (uint)(dword0 >> 32);
            ulong address = (dword1 & 0x3FFF_FFFF_FFFF_FFFFUL) << 2;
            Span<byte> bytes = stackalloc byte[4];
            if (_registers.BigEndian)
            {
                BinaryPrimitives.WriteUInt32BigEndian(bytes, data);
            }
            else
            {
                BinaryPrimitives.WriteUInt32LittleEndian(bytes, data);
            }

            // The spec names the bit "cmd_mf" here; the cqcsr bit for a memory fault made by a command is cqmf.
            if (!_memory.TryWrite(address, bytes))
            {
                return Cqmf;
            }
        }

        if (wsi)
        {
            Volatile.Write(ref _csr, Csr | FenceWIp);
        }

        return 0;
    }

    private uint ExecuteIodir(uint func3, ulong dword0, ulong dword1)
    {
        if (func3 > 1 || (dword0 & IodirReserved0) != 0 || dword1 != 0)
        {
            return CmdIll;
        }

        uint pid = (uint)(dword0 >> 12) & 0xF_FFFF;
        bool dv = (dword0 & (1UL << 33)) != 0;
        uint did = (uint)(dword0 >> 40);
        // "When DV operand is 1, the value of the DID operand must not be wider than that supported by the
        // ddtp.iommu_mode." A wider DID names no device this IOMMU can hold; treated as an illegal command.
        if (dv && (did >> DeviceIdBits()) != 0)
        {
            return CmdIll;
        }

        if (func3 == 0)
        {
            // "The PID operand is reserved for the IODIR.INVAL_DDT command."
            if (pid != 0)
            {
                return CmdIll;
            }

            _backend.InvalidateDdt(dv, did);
            return 0;
        }

        // "The DV operand must be 1 for IODIR.INVAL_PDT else the command is illegal." The PID must not be wider
        // than the process_id width the IOMMU supports (capabilities PD8/PD17/PD20).
        if (!dv || (pid >> ProcessIdBits()) != 0)
        {
            return CmdIll;
        }

        _backend.InvalidatePdt(did, pid);
        return 0;
    }

    private uint ExecuteAts(uint func3, ulong dword0, ulong dword1)
    {
        if (!_registers.HasAts || func3 > 1 || (dword0 & AtsReserved0) != 0)
        {
            return CmdIll;
        }

        _atsMessages.Add(new AtsMessage((AtsMessageKind)func3, dword0, dword1));
        return 0;
    }

    /// <summary>device_id width the current ddtp.iommu_mode can index: 1LVL 7 (6 with 64-byte DCs),
    /// 2LVL 16 (15), 3LVL 24 (spec "Device-context" DDI split). Off and Bare have no DDT: all 24 bits.</summary>
    private int DeviceIdBits()
    {
        bool extended = (_registers.CapabilitiesValue & (1UL << 22)) != 0; // MSI_FLAT: 64-byte device contexts
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
