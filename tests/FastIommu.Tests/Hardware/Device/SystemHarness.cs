using FastIommu.Formats.RiscV;
using FastIommu.Hardware;
using FastIommu.Memory;

namespace FastIommu.Tests.Hardware.Device;

/// <summary>
/// A whole IOMMU over 1 MiB of memory at 0x8000_0000, with tables written by hand from the spec's layouts
/// (independent of the library's own table builders):
/// <code>
/// 0x8000_1000 command queue (64 entries)      0x8001_0000 DDT, 1LVL, 32-byte DCs
/// 0x8000_2000 fault queue (64 records)        0x8002_0000 Sv39 root, 0x8002_1000 L1, 0x8002_2000 L0
/// 0x8000_3000 IOFENCE.C flag                  0x8003_0000 PDT (PD8) for device 7
/// 0x8004_0000, 0x8005_0000 data pages         0x8006_0000 Sv39x4 root (16 KiB), 0x8006_4000 L1, 0x8006_5000 L0
/// </code>
/// Device 5: first stage Sv39 with PSCID 0x77, G-stage Bare. Device 6: same tables, DC.tc.DTF = 1.
/// Device 7: PDT with process 3 (PSCID 0x99, ENS) on the same Sv39 tables. Device 8: G-stage only (Sv39x4, GSCID 0x55).
/// IOVA 0x4000_1000 (VPN 1/0/1) maps to 0x8004_0000 read/write.
/// </summary>
internal sealed class SystemHarness : IDisposable
{
    public const ulong Ddt = 0x8001_0000;
    public const ulong Root = 0x8002_0000;
    public const ulong L1 = 0x8002_1000;
    public const ulong L0 = 0x8002_2000;
    public const ulong Pdt = 0x8003_0000;
    public const ulong GRoot = 0x8006_0000;
    public const ulong GL1 = 0x8006_4000;
    public const ulong GL0 = 0x8006_5000;
    public const ulong PageA = 0x8004_0000;
    public const ulong PageB = 0x8005_0000;
    public const ulong Iova = 0x4000_1000;

    // PTE bits: V 0, R 1, W 2, X 3, U 4, G 5, A 6, D 7; PPN 53:10.
    public const ulong Pointer = 0x1;
    public const ulong LeafRw = 0x1 | 0x2 | 0x4 | 0x10 | 0x40 | 0x80;
    public const ulong LeafR = 0x1 | 0x2 | 0x10 | 0x40;

    public SystemHarness(TranslatorCacheOptions? cacheOptions = null, ulong capabilities = DeviceHarness.Capabilities)
    {
        Memory = PhysicalMemory.Allocate(0x10_0000, DeviceHarness.MemoryBase);
        Device = new RiscVIommu(Memory, new Capabilities(capabilities), cacheOptions: cacheOptions);

        // Sv39: root[1] -> L1, L1[0] -> L0, L0[1] -> PageA.
        Memory.Qword(Root + (1 * 8)) = Pte(L1, Pointer);
        Memory.Qword(L1) = Pte(L0, Pointer);
        Memory.Qword(L0 + (1 * 8)) = Pte(PageA, LeafRw);

        // DCs: tc, iohgatp, ta, fsc. iosatp MODE Sv39 = 8 in 63:60; PSCID in ta 31:12.
        WriteDc(5, tc: 0x1, iohgatp: 0, ta: 0x77UL << 12, fsc: (8UL << 60) | (Root >> 12));
        WriteDc(6, tc: 0x1 | 0x10, iohgatp: 0, ta: 0x77UL << 12, fsc: (8UL << 60) | (Root >> 12));
        // Device 7: tc.PDTV (bit 5); fsc = pdtp MODE PD8 (1) | PPN. PC for process 3: ta V | ENS | PSCID 0x99, fsc iosatp.
        WriteDc(7, tc: 0x1 | 0x20, iohgatp: 0, ta: 0, fsc: (1UL << 60) | (Pdt >> 12));
        Memory.Qword(Pdt + (3 * 16)) = 0x1 | 0x2 | (0x99UL << 12);
        Memory.Qword(Pdt + (3 * 16) + 8) = (8UL << 60) | (Root >> 12);
        // Device 8: iohgatp MODE Sv39x4 (8) | GSCID 0x55 in 59:44 | PPN; fsc Bare. GPA 0x4000_1000 -> PageA.
        WriteDc(8, tc: 0x1, iohgatp: (8UL << 60) | (0x55UL << 44) | (GRoot >> 12), ta: 0, fsc: 0);
        Memory.Qword(GRoot + (1 * 8)) = Pte(GL1, Pointer);
        Memory.Qword(GL1) = Pte(GL0, Pointer);
        Memory.Qword(GL0 + (1 * 8)) = Pte(PageA, LeafRw);

        Device.Write64(0x10, 0x2 | ((Ddt >> 12) << 10)); // ddtp 1LVL
        Device.Write64(0x18, ((DeviceHarness.CommandQueueBase >> 12) << 10) | 5);
        Device.Write32(0x48, 1);
        Device.Write64(0x28, ((DeviceHarness.FaultQueueBase >> 12) << 10) | 5);
        Device.Write32(0x4C, 1);
    }

    public PhysicalMemory Memory { get; }

    public RiscVIommu Device { get; }

    private int _tail;

    public static ulong Pte(ulong pa, ulong flags) => ((pa >> 12) << 10) | flags;

    public void WriteDc(uint deviceId, ulong tc, ulong iohgatp, ulong ta, ulong fsc)
    {
        ulong dc = Ddt + (deviceId * 32UL);
        Memory.Qword(dc) = tc;
        Memory.Qword(dc + 8) = iohgatp;
        Memory.Qword(dc + 16) = ta;
        Memory.Qword(dc + 24) = fsc;
    }

    /// <summary>Puts commands in the queue in memory and writes cqt, as a driver does.</summary>
    public void Submit(params (ulong Dword0, ulong Dword1)[] commands)
    {
        foreach (var (dword0, dword1) in commands)
        {
            ulong slot = DeviceHarness.CommandQueueBase + ((ulong)_tail * 16);
            Memory.Qword(slot) = dword0;
            Memory.Qword(slot + 8) = dword1;
            _tail = (_tail + 1) % 64;
        }

        Device.Write32(0x24, (uint)_tail);
        Assert.That(Device.Read32(0x48) & 0x700u, Is.Zero, "the commands were legal");
    }

    public TranslationResult Read(uint deviceId, ulong iova = Iova) =>
        Device.Translate(new TranslationRequest(deviceId, iova, AccessType.Read));

    public ulong PaOf(uint deviceId, ulong iova = Iova)
    {
        TranslationResult result = Read(deviceId, iova);
        Assert.That(result.Success, Is.True, $"device {deviceId} translates 0x{iova:x}: {result}");
        return result.PhysicalAddress;
    }

    public string FaultRecord(uint index) =>
        Convert.ToHexString(Memory.GetSpan(DeviceHarness.FaultQueueBase + (index * 32UL), 32));

    public void Dispose() => Memory.Dispose();
}
