// A device assigned to a guest: the hypervisor's G-stage (Sv39x4) maps guest-physical to system-physical memory, and
// the guest's own driver builds a first-stage table (Sv39) in guest memory, with guest-physical addresses only. The
// IOMMU translates the device's IOVAs through both stages; the hypervisor then moves a guest page and invalidates.
// Run: dotnet run --project samples/TwoStage
using FastIommu.Formats.RiscV;
using FastIommu.Hardware;
using FastIommu.Images;
using FastIommu.Memory;
using FastIommu.PageTables;

const ulong HostBase = 0x8000_0000;      // system RAM, 128 MiB
const ulong GuestSpa = 0x8400_0000;      // where the guest's 32 MiB of RAM live in it
const ulong GuestBase = 0x8000_0000;     // the same RAM as the guest sees it (GPA)
const ulong GuestSize = 32UL << 20;
const uint DeviceId = 3;
const ushort Gscid = 9;

using var host = PhysicalMemory.Allocate(128UL << 20, HostBase);
var iommu = new RiscVIommu(host, Capabilities.FullRv64);

// The hypervisor: its own structures in the first 16 MiB; the G-stage maps the guest's RAM.
var hostAllocator = new PageAllocator(host, HostBase, 16UL << 20);
ulong ddt = hostAllocator.AllocatePage();
using var gStage = new PageTable<Sv39x4>(hostAllocator);
const ulong GuestBuffer = GuestBase + (16UL << 20);     // GPA of the guest's DMA buffer
const ulong TwoMiB = 2UL << 20;
gStage.Map(GuestBase, GuestSpa, GuestBuffer - GuestBase, PageProtection.Read | PageProtection.Write);
gStage.Map(GuestBuffer + TwoMiB, GuestSpa + (GuestBuffer - GuestBase) + TwoMiB, GuestBase + GuestSize - GuestBuffer - TwoMiB,
    PageProtection.Read | PageProtection.Write);
for (ulong page = 0; page < TwoMiB; page += 0x1000)
{
    // The buffer's 2 MiB in 4 KiB leaves, so the hypervisor can move one page of it (a 2 MiB leaf cannot be cut).
    gStage.Map(GuestBuffer + page, GuestSpa + (GuestBuffer - GuestBase) + page, 0x1000, PageProtection.Read | PageProtection.Write);
}

// The guest sees its RAM at GPA 0x8000_0000: the same bytes, wrapped with the guest's addresses. Its driver allocates
// table pages there and every pointer it writes is a GPA, as a real guest kernel's would be.
using var guestRam = PhysicalMemory.Wrap(host.HostPointer + (nint)(GuestSpa - HostBase), GuestSize, GuestBase);
var guestAllocator = new PageAllocator(guestRam, GuestBase, 8UL << 20);
using var firstStage = new PageTable<Sv39>(guestAllocator);
const ulong Iova = 0x2000_0000;
firstStage.Map(Iova, GuestBuffer, 0x4000, PageProtection.Read | PageProtection.Write | PageProtection.User);

// The DC: iohgatp names the G-stage (SPA), iosatp the guest's table (a GPA the IOMMU walks through the G-stage).
host.GetRef<DeviceContext>(ddt + (DeviceId * DeviceContext.Size)) = new DeviceContext(
    new DeviceContextTc(0).WithV(true), Iohgatp.Create<Sv39x4>(gStage.RootAddress, Gscid),
    new DeviceContextTa(0).WithPscid(1), Iosatp.Create<Sv39>(firstStage.RootAddress));
iommu.Write64(RegisterOffsets.Ddtp, Ddtp.Create(DdtpMode.OneLevel, ddt).Value);

Console.Write(TextDump.ToText(IommuDecoder.Decode(new PhysicalMemoryAccess(host), iommu.Translator.Ddtp, iommu.Capabilities)));

var dma = new TranslationRequest(DeviceId, Iova + 0x1010, AccessType.Read);
var result = iommu.Translate(in dma);
ulong expected = GuestSpa + (GuestBuffer - GuestBase) + 0x1010;
Console.WriteLine($"\nDMA read 0x{dma.Iova:x} -> {result} (iova -> gpa 0x{GuestBuffer + 0x1010:x} -> spa 0x{expected:x})");
Check(result.Success && result.PhysicalAddress == expected, "two-stage translation");

// The hypervisor moves the guest page behind GPA GuestBuffer + 0x1000 elsewhere: unmap, map, IOTINVAL.GVMA. The
// translator's cached IOVA -> SPA entry must go (a register-level driver would send the command through the queue).
var gather = new InvalidationGather();
gStage.Unmap(GuestBuffer + 0x1000, 0x1000, gather);
ulong moved = HostBase + (100UL << 20);
gStage.Map(GuestBuffer + 0x1000, moved, 0x1000, PageProtection.Read | PageProtection.Write);
iommu.Translator.InvalidateGvma(gv: true, Gscid, av: true, GuestBuffer + 0x1000);
gather.Complete();
result = iommu.Translate(in dma);
Console.WriteLine($"after the move -> {result}");
Check(result.Success && result.PhysicalAddress == moved + 0x10, "the moved page is used after IOTINVAL.GVMA");

// A first-stage mapping to a GPA the hypervisor never mapped: a guest-page fault (cause 21 for a read).
firstStage.Map(0x3000_0000, GuestBase + GuestSize, 0x1000, PageProtection.Read | PageProtection.User);
var stray = new TranslationRequest(DeviceId, 0x3000_0000, AccessType.Read);
result = iommu.Translate(in stray);
Console.WriteLine($"DMA to a GPA outside the guest -> {result}");
Check(!result.Success && result.Cause == FaultCause.ReadGuestPageFault, "guest-page fault");
Console.WriteLine("two-stage sample complete");
return 0;

static void Check(bool condition, string what)
{
    if (!condition)
    {
        Console.Error.WriteLine($"FAILED: {what}");
        Environment.Exit(1);
    }
}
