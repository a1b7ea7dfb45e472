using FastIommu.Hardware;
using FastIommu.Memory;

namespace FastIommu.Tests.Hardware.Device;

/// <summary>Records what the device asks of the translator, as text, so a test can compare it with the spec.</summary>
internal sealed class RecordingBackend : ITranslationBackend
{
    public List<string> Calls { get; } = [];

    public ulong Ddtp { get; private set; }

    public uint Fctl { get; private set; }

    public void SetDdtp(ulong ddtp) => Ddtp = ddtp;

    public void SetFctl(uint fctl) => Fctl = fctl;

    public void InvalidateVma(bool gv, ushort gscid, bool pscv, uint pscid, bool av, ulong address) =>
        Calls.Add($"VMA gv={gv} gscid=0x{gscid:x} pscv={pscv} pscid=0x{pscid:x} av={av} addr=0x{address:x}");

    public void InvalidateGvma(bool gv, ushort gscid, bool av, ulong address) =>
        Calls.Add($"GVMA gv={gv} gscid=0x{gscid:x} av={av} addr=0x{address:x}");

    public void InvalidateDdt(bool dv, uint deviceId) => Calls.Add($"DDT dv={dv} did=0x{deviceId:x}");

    public void InvalidatePdt(uint deviceId, uint processId) => Calls.Add($"PDT did=0x{deviceId:x} pid=0x{processId:x}");

    /// <summary>IOFENCE.C waits for the translations in flight; counted, not listed with the invalidations.</summary>
    public int Fences { get; private set; }

    public void Fence() => Fences++;
}

/// <summary>A device over 1 MiB of memory at PA 0x8000_0000 with a recording translator.</summary>
internal sealed class DeviceHarness : IDisposable
{
    // version 0x10, Sv39 9, Sv48 10, Sv39x4 17, Sv48x4 18, AMO_HWAD 24, ATS 25, IGS=BOTH (2) 29:28, DBG 31,
    // PAS 56 (0x38) 37:32, PD8 38, PD17 39, PD20 40:
    // low word 0x10+0x200+0x400+0x20000+0x40000+0x1000000+0x2000000+0x20000000+0x80000000 = 0xA3060610,
    // high word 0x38 | 7 << 6 = 0x1F8.
    public const ulong Capabilities = 0x0000_01F8_A306_0610;
    public const ulong MemoryBase = 0x8000_0000;
    public const ulong CommandQueueBase = 0x8000_1000;
    public const ulong FaultQueueBase = 0x8000_2000;
    public const ulong FenceFlag = 0x8000_3000;

    public DeviceHarness(ulong capabilities = Capabilities, IommuOptions? options = null, bool slowWrites = false)
    {
        Memory = PhysicalMemory.Allocate(0x10_0000, MemoryBase);
        Backend = new RecordingBackend();
        IMemoryAccess access = new PhysicalMemoryAccess(Memory);
        Device = new RiscVIommu(slowWrites ? new SlowWriteMemory(access) : access, Backend, capabilities, options);
    }

    public PhysicalMemory Memory { get; }

    public RecordingBackend Backend { get; }

    public RiscVIommu Device { get; }

    public int CommandTail { get; private set; }

    /// <summary>cqb = PPN(CommandQueueBase) | LOG2SZ-1, then cqen.</summary>
    public void EnableCommandQueue(uint log2SizeMinus1 = 5, ulong queueBase = CommandQueueBase)
    {
        Device.Write64(0x18, ((queueBase >> 12) << 10) | log2SizeMinus1);
        Device.Write32(0x48, 1);
        CommandTail = 0;
    }

    public void EnableFaultQueue(uint log2SizeMinus1 = 5, ulong queueBase = FaultQueueBase, bool interrupts = false)
    {
        Device.Write64(0x28, ((queueBase >> 12) << 10) | log2SizeMinus1);
        Device.Write32(0x4C, interrupts ? 3u : 1u);
    }

    /// <summary>Writes commands at cqt and advances cqt past them (one write of cqt).</summary>
    public void Submit(params (ulong Dword0, ulong Dword1)[] commands)
    {
        uint entries = (uint)(1UL << (int)((Device.Read64(0x18) & 0x1F) + 1));
        ulong queueBase = ((Device.Read64(0x18) >> 10) & ((1UL << 44) - 1)) << 12;
        foreach (var (dword0, dword1) in commands)
        {
            ulong slot = queueBase + ((ulong)CommandTail * 16);
            Memory.Qword(slot) = dword0;
            Memory.Qword(slot + 8) = dword1;
            CommandTail = (int)((CommandTail + 1) % entries);
        }

        Device.Write32(0x24, (uint)CommandTail);
    }

    public uint Cqh => Device.Read32(0x20);

    public uint CqCsr => Device.Read32(0x48);

    public void Dispose() => Memory.Dispose();
}

/// <summary>Memory whose multi-byte writes land in two halves with a yield between, so a reader can catch a
/// record half written: it widens the windows a concurrency bug needs.</summary>
internal sealed class SlowWriteMemory(IMemoryAccess inner) : IMemoryAccess
{
    public bool TryRead64(ulong pa, out ulong value) => inner.TryRead64(pa, out value);

    public bool TryWrite64(ulong pa, ulong value) => inner.TryWrite64(pa, value);

    public bool TryCompareExchange64(ulong pa, ulong expected, ulong desired, out ulong observed) =>
        inner.TryCompareExchange64(pa, expected, desired, out observed);

    public bool TryRead(ulong pa, Span<byte> destination) => inner.TryRead(pa, destination);

    public bool TryWrite(ulong pa, ReadOnlySpan<byte> source)
    {
        if (source.Length < 16)
        {
            return inner.TryWrite(pa, source);
        }

        int half = source.Length / 2;
        if (!inner.TryWrite(pa, source[..half]))
        {
            return false;
        }

        Thread.Yield();
        return inner.TryWrite(pa + (ulong)half, source[half..]);
    }
}
