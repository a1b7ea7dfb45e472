using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using FastIommu.Formats.RiscV;
using FastIommu.Memory;

namespace FastIommu.Hardware;

/// <summary>Interrupt sources of the IOMMU, numbered as their <c>ipsr</c> bits.</summary>
public enum IommuInterruptSource
{
    /// <summary>cip: command queue (error bit or fence_w_ip, with cqcsr.cie).</summary>
    CommandQueue = 0,

    /// <summary>fip: fault queue (new record, fqof or fqmf, with fqcsr.fie).</summary>
    FaultQueue = 1,

    /// <summary>pmip: performance monitor (never raised: no HPM).</summary>
    PerformanceMonitor = 2,

    /// <summary>pip: page-request queue (pqof or pqmf, with pqcsr.pie).</summary>
    PageRequestQueue = 3,
}

/// <summary>
/// The device side of a RISC-V IOMMU v1.0 as an emulator embeds it: the memory-mapped registers
/// (<see cref="Read32"/>, <see cref="Read64"/>, <see cref="Write32"/>, <see cref="Write64"/> at the spec's offsets),
/// the command queue, the fault queue, the page-request queue registers and the debug translation interface,
/// in front of the translator.
/// </summary>
/// <remarks>
/// Threads: register accesses and command processing may come from any thread; writes and
/// <see cref="ProcessCommands"/> serialise on one device lock (one at a time, as a bus delivers them). Register
/// reads take no lock and see each register whole. Translations run on any number of threads at once, never
/// take the device lock, and queue fault records lock-free (slots reserved by compare-and-swap on the tail).
/// <see cref="InterruptRequested"/> is called on the thread that caused the ipsr bit to rise: a register write,
/// command processing, or a translation that wrote a fault record. It may write registers (the lock is
/// re-entrant); an edge raised from inside it is delivered after it returns, never nested.
/// </remarks>
public sealed partial class RiscVIommu
{
    private readonly Lock _gate = new();
    private readonly RegisterFile _registers;
    private readonly CommandQueue _commandQueue;
    private readonly FaultQueue _faultQueue;
    private readonly PageRequestQueue _pageRequestQueue;
    private readonly DebugTranslation _debug = new();
    private readonly MsiConfigTable _msi = new();
    private readonly IMemoryAccess _memory;
    private readonly ITranslationBackend _backend;
    private readonly bool _processOnTailWrite;
    private readonly IommuTranslator? _translator;

    /// <summary>An IOMMU over FastIommu's own physical memory (the translator's fast path).</summary>
    /// <param name="memory">Where the DDT, PDT, page tables and the queues live.</param>
    /// <param name="capabilities">The capabilities register: what the IOMMU implements. HPM and QOSID are not
    /// modelled and are refused; PAS must be 12..56.</param>
    /// <param name="options">Implementation choices (synchronous command processing, DDT depths, reset mode).</param>
    /// <param name="cacheOptions">Sizes of the translator's IOTLB and directory caches.</param>
    /// <exception cref="ArgumentException">The capabilities ask for something the model cannot be.</exception>
    public RiscVIommu(PhysicalMemory memory, Capabilities capabilities, IommuOptions? options = null, TranslatorCacheOptions? cacheOptions = null)
        : this(new PhysicalMemoryAccess(memory), new IommuTranslator(memory, capabilities, cacheOptions), capabilities, options)
    {
    }

    /// <summary>An IOMMU over any memory, e.g. an emulator's bus; see the other constructor for the parameters.</summary>
    public RiscVIommu(IMemoryAccess memory, Capabilities capabilities, IommuOptions? options = null, TranslatorCacheOptions? cacheOptions = null)
        : this(memory, new IommuTranslator(memory, capabilities, cacheOptions), capabilities, options)
    {
    }

    private RiscVIommu(IMemoryAccess memory, IommuTranslator translator, Capabilities capabilities, IommuOptions? options)
        : this(memory, new TranslatorBackend(translator), capabilities.Value, options) => _translator = translator;

    /// <summary>An IOMMU whose translator is specialised for the struct memory type <typeparamref name="TMemory"/>
    /// (the device's own, rare, queue accesses go through the interface).</summary>
    public static RiscVIommu Create<TMemory>(TMemory memory, Capabilities capabilities, IommuOptions? options = null, TranslatorCacheOptions? cacheOptions = null)
        where TMemory : struct, IMemoryAccess =>
        new(memory, IommuTranslator.Create(memory, capabilities, cacheOptions), capabilities, options);

    internal RiscVIommu(IMemoryAccess memory, ITranslationBackend backend, ulong capabilities, IommuOptions? options)
    {
        ArgumentNullException.ThrowIfNull(memory);
        ArgumentNullException.ThrowIfNull(backend);
        ValidateCapabilities(capabilities);
        options ??= new IommuOptions();
        _backend = backend;
        _memory = memory;
        _processOnTailWrite = options.ProcessCommandsOnTailWrite;
        _registers = new RegisterFile(capabilities, options);
        _commandQueue = new CommandQueue(_registers, memory, backend);
        _faultQueue = new FaultQueue(_registers, memory);
        _pageRequestQueue = new PageRequestQueue(_registers, memory);
        backend.SetDdtp(_registers.DdtpValue);
        backend.SetFctl(_registers.FctlValue);
    }

    /// <summary>Called with the source and its <c>icvec</c> vector each time an <c>ipsr</c> bit goes from 0 to 1
    /// (the MSI edge; with <c>fctl.WSI</c> the wire level is the ipsr bit itself, readable at any time).</summary>
    public Action<IommuInterruptSource, int>? InterruptRequested { get; set; }

    /// <summary>True when a write to <c>cqt</c> (or a <c>cqcsr</c> write that turns the queue on) runs the command
    /// queue before it returns (<see cref="IommuOptions.ProcessCommandsOnTailWrite"/>).</summary>
    public bool ProcessesCommandsOnTailWrite => _processOnTailWrite;

    /// <summary>The capabilities register value.</summary>
    public Capabilities Capabilities => new(_registers.CapabilitiesValue);

    /// <summary>The translator behind the device (for inspection: cache occupancy, direct invalidation in tests).</summary>
    /// <remarks>The throw lives in a helper so the getter inlines into <see cref="Translate(in TranslationRequest)"/>: with the throw in the
    /// getter, NativeAOT (no PGO) left it a call on every translation of the C API.</remarks>
    public IommuTranslator Translator
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => _translator ?? ThrowNoTranslator();
    }

    [DoesNotReturn]
    private static IommuTranslator ThrowNoTranslator() => throw new InvalidOperationException("This device was built without a translator.");

    /// <summary>Translates one inbound transaction and, when it faults, writes the fault record to the fault queue
    /// (unless DC.tc.DTF suppresses it, only for the causes the spec lets DTF suppress). Thread-safe, lock-free,
    /// allocation-free; may run on many threads at once, beside register writes and command processing.</summary>
    public TranslationResult Translate(in TranslationRequest request)
    {
        TranslationResult result = Translator.Translate(in request);
        if (!result.Success)
        {
            RecordFault(in request, in result);
        }

        return result;
    }

    /// <summary>Translates <paramref name="requests"/> in order into <paramref name="results"/> (as many) through the
    /// translator's batch (<see cref="IommuTranslator.Translate(ReadOnlySpan{TranslationRequest}, Span{TranslationResult})"/>:
    /// each result exactly as <see cref="Translate(in TranslationRequest)"/> gives it, faster at large working sets),
    /// then writes the fault record of each failed one, in request order. Thread-safe, allocation-free.</summary>
    /// <exception cref="ArgumentException"><paramref name="results"/> is shorter than <paramref name="requests"/>
    /// (nothing is translated).</exception>
    public void Translate(ReadOnlySpan<TranslationRequest> requests, Span<TranslationResult> results)
    {
        Translator.Translate(requests, results);
        for (int i = 0; i < requests.Length; i++)
        {
            if (!results[i].Success)
            {
                RecordFault(in requests[i], in results[i]);
            }
        }
    }

    /// <summary>Writes the fault record of a failed translation, as <see cref="Translate(in TranslationRequest)"/> does
    /// (for callers that translate through <see cref="Translator"/> and keep the result where they want it).</summary>
    internal void RecordFault(in TranslationRequest request, in TranslationResult result)
    {
        // Spec table "Fault record CAUSE field encodings", column "Reported if DTF is 1?": the translator says when
        // DTF applies; the causes that are always reported (256-259, 268, 272, 273) are reported regardless.
        if (result.FaultReportSuppressed && !FaultCauses.ReportedWhenDtf(result.Cause))
        {
            return;
        }

        var record = FaultRecord.Create(result.Cause, result.Ttyp, request.DeviceId, request.ProcessIdValid, request.ProcessId,
            request.Privileged, result.Iotval, result.Iotval2);
        ReportFault(in record);
    }

    /// <summary>Queues a "Page Request" message received from a device (ATS PRI) in the page-request queue and raises
    /// ipsr.pip when pqcsr.pie is set. The emulator decides beforehand whether the message is acceptable (DC.tc.EN_PRI
    /// and the rest of the spec's "ATS_PRI" rules) and, when the outcome is not <see cref="FaultReportOutcome.Written"/>
    /// for a message that needs a response (L = 1, not a Stop Marker), sends the automatic "Page Request Group
    /// Response" itself. Requires capabilities.ATS (else the queue is absent and the outcome is QueueOff).</summary>
    public FaultReportOutcome ReportPageRequest(in PageRequest message)
    {
        if (!_registers.HasAts)
        {
            return FaultReportOutcome.QueueOff;
        }

        lock (_gate)
        {
            FaultReportOutcome outcome = _pageRequestQueue.Report(in message);
            if ((outcome is FaultReportOutcome.Written or FaultReportOutcome.Overflow or FaultReportOutcome.MemoryFault)
                && _pageRequestQueue.InterruptEnabled)
            {
                Raise(RegisterFile.IpsrPip);
            }

            return outcome;
        }
    }

    /// <summary>Fault records written to the fault queue so far.</summary>
    public long FaultRecordsWritten => _faultQueue.RecordsWritten;

    /// <summary>Fault records lost to a full queue, a memory fault or a pending fqof/fqmf.</summary>
    public long FaultRecordsDropped => _faultQueue.RecordsDropped;

    private static void ValidateCapabilities(ulong capabilities)
    {
        int pas = (int)((capabilities >> RegisterFile.CapPasShift) & 0x3F);
        if (pas < 12 || pas > 56)
        {
            throw new ArgumentException($"capabilities 0x{capabilities:x}: PAS {pas} must be 12..56 bits.", nameof(capabilities));
        }

        if (((capabilities >> RegisterFile.CapIgsShift) & 3) == 3)
        {
            throw new ArgumentException($"capabilities 0x{capabilities:x}: IGS 3 is reserved.", nameof(capabilities));
        }

        if ((capabilities & ((1UL << RegisterFile.CapHpmBit) | (1UL << RegisterFile.CapQosidBit))) != 0)
        {
            throw new ArgumentException($"capabilities 0x{capabilities:x}: HPM and QOSID are not modelled.", nameof(capabilities));
        }
    }

    /// <summary>Reads the 8-byte-aligned 64-bit register at <paramref name="offset"/>; two 4-byte registers read
    /// together (low one in bits 31:0); reserved and absent optional registers read 0.</summary>
    /// <exception cref="ArgumentOutOfRangeException">offset is not 8-byte aligned or lies past the 4 KiB page
    /// (access the spec leaves UNSPECIFIED).</exception>
    public ulong Read64(uint offset)
    {
        CheckOffset(offset, 8);
        return IsWideRegister(offset) ? ReadWide(offset) : ReadNarrow(offset) | ((ulong)ReadNarrow(offset + 4) << 32);
    }

    /// <summary>Reads the 4-byte-aligned 32 bits at <paramref name="offset"/> (either half of a 64-bit register).</summary>
    /// <exception cref="ArgumentOutOfRangeException">offset is not 4-byte aligned or lies past the 4 KiB page.</exception>
    public uint Read32(uint offset)
    {
        CheckOffset(offset, 4);
        uint wide = offset & ~7u;
        return IsWideRegister(wide) ? (uint)(ReadWide(wide) >> (int)((offset & 4) * 8)) : ReadNarrow(offset);
    }

    /// <summary>Writes 64 bits at the 8-byte-aligned <paramref name="offset"/>. A pair of 4-byte registers is written
    /// as two 4-byte writes, high half first (the order the spec allows hardware to split an 8-byte access in).</summary>
    public void Write64(uint offset, ulong value)
    {
        CheckOffset(offset, 8);
        lock (_gate)
        {
            if (IsWideRegister(offset))
            {
                WriteWide(offset, value);
            }
            else
            {
                WriteNarrow(offset + 4, (uint)(value >> 32));
                WriteNarrow(offset, (uint)value);
            }

            RefreshInterrupts();
        }
    }

    /// <summary>Writes 32 bits at the 4-byte-aligned <paramref name="offset"/>. A write to half of a 64-bit
    /// register leaves the other half as it reads.</summary>
    public void Write32(uint offset, uint value)
    {
        CheckOffset(offset, 4);
        lock (_gate)
        {
            uint wide = offset & ~7u;
            if (IsWideRegister(wide))
            {
                ulong current = WritableView(wide);
                ulong merged = (offset & 4) != 0
                    ? (current & 0xFFFF_FFFFUL) | ((ulong)value << 32)
                    : (current & 0xFFFF_FFFF_0000_0000UL) | value;
                WriteWide(wide, merged);
            }
            else
            {
                WriteNarrow(offset, value);
            }

            RefreshInterrupts();
        }
    }

    /// <summary>Runs the command queue: fetches and executes commands from cqh to cqt (unless it is off or stopped
    /// on an error bit). Needed only with <see cref="IommuOptions.ProcessCommandsOnTailWrite"/> false.
    /// Returns the number of commands completed.</summary>
    public int ProcessCommands()
    {
        lock (_gate)
        {
            int completed = _commandQueue.Process();
            RefreshInterrupts();
            return completed;
        }
    }

    /// <summary>Takes (and forgets) the ATS.INVAL / ATS.PRGR messages the command queue produced, oldest first.</summary>
    public AtsMessage[] TakeAtsMessages()
    {
        lock (_gate)
        {
            return _commandQueue.TakeAtsMessages();
        }
    }

    private static void CheckOffset(uint offset, uint size)
    {
        if (offset >= RegisterFile.Size || (offset & (size - 1)) != 0)
        {
            throw new ArgumentOutOfRangeException(nameof(offset), offset,
                $"IOMMU register access of {size} bytes at offset 0x{offset:x} must be aligned and inside the 4 KiB register page.");
        }
    }

    private bool IsWideRegister(uint offset) => offset switch
    {
        RegisterFile.Capabilities or RegisterFile.Ddtp or RegisterFile.Cqb or RegisterFile.Fqb or RegisterFile.Icvec => true,
        RegisterFile.Pqb => _registers.HasAts,
        RegisterFile.TrReqIova or RegisterFile.TrReqCtl or RegisterFile.TrResponse => _registers.HasDbg,
        _ => HasMsiTable && MsiConfigTable.IsAddress(offset),
    };

    // msi_cfg_tbl is hard-wired to 0 when capabilities.IGS == WSI.
    private bool HasMsiTable => _registers.Igs != RegisterFile.IgsWsi;

    private ulong ReadWide(uint offset) => offset switch
    {
        RegisterFile.Capabilities => _registers.CapabilitiesValue,
        RegisterFile.Ddtp => _registers.DdtpValue,
        RegisterFile.Cqb => _commandQueue.Cqb,
        RegisterFile.Fqb => _faultQueue.Fqb,
        RegisterFile.Pqb => _pageRequestQueue.Pqb,
        RegisterFile.Icvec => _registers.IcvecValue,
        RegisterFile.TrReqIova => _debug.Iova,
        RegisterFile.TrReqCtl => _debug.Control,
        RegisterFile.TrResponse => _debug.Response,
        _ => _msi.ReadAddress(offset),
    };

    private uint ReadNarrow(uint offset) => offset switch
    {
        RegisterFile.Fctl => _registers.FctlValue,
        RegisterFile.Cqh => _commandQueue.Cqh,
        RegisterFile.Cqt => _commandQueue.Cqt,
        RegisterFile.Fqh => _faultQueue.Fqh,
        RegisterFile.Fqt => _faultQueue.Fqt,
        RegisterFile.Pqh when _registers.HasAts => _pageRequestQueue.Pqh,
        RegisterFile.Pqt when _registers.HasAts => _pageRequestQueue.Pqt,
        RegisterFile.CqCsr => _commandQueue.Csr,
        RegisterFile.FqCsr => _faultQueue.Csr,
        RegisterFile.PqCsr when _registers.HasAts => _pageRequestQueue.Csr,
        RegisterFile.Ipsr => _registers.IpsrValue,
        _ when HasMsiTable && MsiConfigTable.InTable(offset) => _msi.ReadNarrow(offset),
        _ => 0,
    };

    // The value a half-register write merges into: the register as it reads. tr_req_ctl.Go/Busy (RW1S) reads 0
    // here because requests complete within the write that starts them, so a high-half write never re-runs one.
    private ulong WritableView(uint offset) => ReadWide(offset);

    private void WriteWide(uint offset, ulong value)
    {
        switch (offset)
        {
            case RegisterFile.Ddtp:
                if (_registers.WriteDdtp(value))
                {
                    _backend.SetDdtp(_registers.DdtpValue);
                }

                break;
            case RegisterFile.Cqb:
                _commandQueue.WriteCqb(value);
                break;
            case RegisterFile.Fqb:
                _faultQueue.WriteFqb(value);
                break;
            case RegisterFile.Pqb:
                _pageRequestQueue.WritePqb(value);
                break;
            case RegisterFile.Icvec:
                _registers.WriteIcvec(value);
                break;
            case RegisterFile.TrReqIova:
                _debug.WriteIova(value);
                break;
            case RegisterFile.TrReqCtl:
                if (_debug.WriteControl(value))
                {
                    RunDebugRequest();
                }

                break;
            case RegisterFile.Capabilities:
            case RegisterFile.TrResponse:
                break; // read-only
            default:
                _msi.WriteAddress(offset, value);
                break;
        }
    }

    private void WriteNarrow(uint offset, uint value)
    {
        switch (offset)
        {
            case RegisterFile.Fctl:
                bool queuesIdle = !_commandQueue.Active && !_faultQueue.Active && !_pageRequestQueue.Active;
                if (_registers.WriteFctl(value, queuesIdle))
                {
                    _backend.SetFctl(_registers.FctlValue);
                }

                break;
            case RegisterFile.Cqt:
                _commandQueue.WriteCqt(value);
                if (_processOnTailWrite)
                {
                    _commandQueue.Process();
                }

                break;
            case RegisterFile.Fqh:
                _faultQueue.WriteFqh(value);
                break;
            case RegisterFile.Pqh when _registers.HasAts:
                _pageRequestQueue.WritePqh(value);
                break;
            case RegisterFile.CqCsr:
                _commandQueue.WriteCsr(value);
                if (_processOnTailWrite)
                {
                    // Enabling the queue or clearing an error bit restarts processing from cqh.
                    _commandQueue.Process();
                }

                break;
            case RegisterFile.FqCsr:
                _faultQueue.WriteCsr(value);
                break;
            case RegisterFile.PqCsr when _registers.HasAts:
                _pageRequestQueue.WriteCsr(value);
                break;
            case RegisterFile.Ipsr:
                _registers.ClearIpsr(value);
                break;
            case var msi when HasMsiTable && MsiConfigTable.InTable(msi):
                int unmasked = _msi.WriteNarrow(offset, value);
                if (unmasked >= 0)
                {
                    SendMsi(unmasked);
                }

                break;
            default:
                // cqh and fqt, pqt are read-only; everything else here is reserved, custom or absent.
                break;
        }
    }

    // ipsr bits are set while their condition holds (spec: "If the conditions to set that bit are still present
    // ... then that bit transitions again from 0->1"), so they are re-evaluated after every write.
    private void RefreshInterrupts()
    {
        uint bits = 0;
        bits |= _commandQueue.InterruptCondition ? RegisterFile.IpsrCip : 0;
        bits |= _faultQueue.InterruptCondition ? RegisterFile.IpsrFip : 0;
        bits |= _pageRequestQueue.InterruptCondition ? RegisterFile.IpsrPip : 0;
        Raise(bits);
    }

    private void Raise(uint bits)
    {
        if (bits == 0)
        {
            return;
        }

        uint edges = _registers.SetIpsr(bits);
        if (edges == 0)
        {
            return;
        }

        bool messages = !_registers.WiredInterrupts && HasMsiTable;
        for (int source = 0; source < 4; source++)
        {
            if (messages && (edges & (1u << source)) != 0)
            {
                SendMsi(VectorOf(source));
            }
        }

        Deliver(edges);
    }

    private int VectorOf(int source) => (int)(_registers.IcvecValue >> (source * 4)) & 0xF;

    // Edges raised while this thread is inside InterruptRequested (the handler wrote a register) are delivered
    // after the handler returns, not nested in it, as a CPU takes the next interrupt after the handler returns.
    [ThreadStatic]
    private static uint t_deferredEdges;

    [ThreadStatic]
    private static bool t_delivering;

    private void Deliver(uint edges)
    {
        Action<IommuInterruptSource, int>? handler = InterruptRequested;
        if (handler is null)
        {
            return;
        }

        if (t_delivering)
        {
            t_deferredEdges |= edges;
            return;
        }

        t_delivering = true;
        try
        {
            while (edges != 0)
            {
                for (int source = 0; source < 4; source++)
                {
                    if ((edges & (1u << source)) != 0)
                    {
                        handler((IommuInterruptSource)source, VectorOf(source));
                    }
                }

                edges = t_deferredEdges;
                t_deferredEdges = 0;
            }
        }
        finally
        {
            t_delivering = false;
            t_deferredEdges = 0;
        }
    }

    // "MSI have edge semantics and an interrupt message is generated when an interrupt-pending bit transitions
    // from 0 to 1." An access fault on the write is reported as cause 273 with TTYP 0 and iotval = msi_addr_x.
    private void SendMsi(int vector)
    {
        if (!_msi.TryTakeMessage(vector, out ulong address, out uint data))
        {
            return;
        }

        Span<byte> bytes = stackalloc byte[4];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(bytes, data);
        if (!_memory.TryWrite(address, bytes))
        {
            var record = FaultRecord.Create(FaultCause.IommuMsiWriteAccessFault, TransactionType.None, 0, false, 0, false, address, 0);
            ReportFault(in record);
        }
    }

    /// <summary>Queues a fault record (used by translations and by the debug interface) and raises fip.</summary>
    internal FaultReportOutcome ReportFault(in FaultRecord faultRecord)
    {
        FaultReportOutcome outcome = _faultQueue.Report(in faultRecord);
        if (outcome != FaultReportOutcome.QueueOff && outcome != FaultReportOutcome.Discarded && _faultQueue.InterruptEnabled)
        {
            Raise(RegisterFile.IpsrFip);
        }

        return outcome;
    }
}
