// The emulator bring-up of docs/hardware-device.md as one program: guest RAM, the IOMMU device on it, a driver that
// sets up the device directory and the queues through MMIO registers, maps a buffer, a device's DMA, unmap and
// invalidation through the command queue, and the fault record of a DMA after the unmap.
// Run: dotnet run --project samples/EmulatorBringUp [-- IMAGE]  (IMAGE: where to save the table image it takes)
using FastIommu.Formats.RiscV;
using FastIommu.Hardware;
using FastIommu.Images;
using FastIommu.Memory;
using FastIommu.PageTables;

const ulong RamBase = 0x8000_0000;
const uint DeviceId = 5;
const uint Pscid = 1;
const ulong Iova = 0x1000_0000;
const ulong Buffer = 0x8100_0000; // 2 MiB of guest RAM the device may reach

// 1. The emulator: guest RAM (64 MiB at 0x8000_0000) and the IOMMU on it. An emulator with its own RAM would use
//    PhysicalMemory.Wrap(ramPointer, size, base) instead.
using var ram = PhysicalMemory.Allocate(64UL << 20, RamBase);
var iommu = new RiscVIommu(ram, Capabilities.FullRv64);

// 2. The driver: IOMMU structures come from a window of RAM it reserved (the last 16 MiB).
var allocator = new PageAllocator(ram, RamBase + (48UL << 20), 16UL << 20);
ulong ddt = allocator.AllocatePage();
ulong cq = allocator.AllocatePage();     // 256 commands x 16 B
ulong fq = allocator.AllocatePage();     // 128 fault records x 32 B

// Queues through the register page: base, then enable, then check the queue is on.
iommu.Write64(RegisterOffsets.Cqb, QueueBase.Create(cq, 8).Value);
iommu.Write32(RegisterOffsets.Cqcsr, 1);                                    // cqen
iommu.Write64(RegisterOffsets.Fqb, QueueBase.Create(fq, 7).Value);
iommu.Write32(RegisterOffsets.Fqcsr, 1);                                    // fqen
Check((iommu.Read32(RegisterOffsets.Cqcsr) & (1u << 16)) != 0, "cqon");
Check((iommu.Read32(RegisterOffsets.Fqcsr) & (1u << 16)) != 0, "fqon");
iommu.Write64(RegisterOffsets.Ddtp, Ddtp.Create(DdtpMode.OneLevel, ddt).Value);

// 3. A paging domain: an Sv39 table (root allocated now, so map-before-attach works) with the buffer mapped for a
//    user-mode device (requests without a process_id are U-mode: the leaves need U).
using var table = new PageTable<Sv39>(allocator);
table.Map(Iova, Buffer, 2UL << 20, PageProtection.Read | PageProtection.Write | PageProtection.User);

// 4. Attach device 5: write its DC (the DDT page is new, nothing caches it), then IODIR.INVAL_DDT and IOFENCE.C.
ram.GetRef<DeviceContext>(ddt + (DeviceId * DeviceContext.Size)) = new DeviceContext(
    new DeviceContextTc(0).WithV(true), Iohgatp.Default, new DeviceContextTa(0).WithPscid(Pscid), Iosatp.Create<Sv39>(table.RootAddress));
Send(Command.IodirInvalDdt(dv: true, DeviceId));
Send(Command.IofenceC(av: false, wsi: false, pr: false, pw: false));

Console.WriteLine("The IOMMU's structures, decoded from memory:");
Console.Write(TextDump.ToText(IommuDecoder.Decode(new PhysicalMemoryAccess(ram), iommu.Translator.Ddtp, iommu.Capabilities)));

// 5. The device's DMA: a write to IOVA 0x1000_1234.
var dma = new TranslationRequest(DeviceId, Iova + 0x1234, AccessType.Write);
var result = iommu.Translate(in dma);
Console.WriteLine($"\nDMA write 0x{dma.Iova:x} -> {result}");
Check(result.Success && result.PhysicalAddress == Buffer + 0x1234, "the DMA reaches the buffer");

// A byte-exact image of the IOMMU's structures and queues as they are now (docs/image-format.md). Given a path
// (dotnet run --project samples/EmulatorBringUp -- demo.img), it is saved for `fastiommu dump` and `translate`.
var image = TableImage.Capture(iommu, new PhysicalMemoryAccess(ram));
Console.WriteLine($"image: {image.Memory.PageCount} pages, {image.SizeInBytes} bytes");
Check(TableImage.Read(image.ToArray()).ToArray().AsSpan().SequenceEqual(image.ToArray()), "the image reads back byte for byte");
if (args.Length > 0)
{
    image.Save(args[0]);
    Console.WriteLine($"saved to {args[0]}");
}

// 6. Unmap: the table's pages go to the gather; IOTINVAL.VMA for the PSCID (tables were freed: flush the PSCID),
//    IOFENCE.C, and only then may the pages be reused.
var gather = new InvalidationGather();
table.Unmap(Iova, 2UL << 20, gather);
Send(gather.HasFreedTables
    ? Command.IotinvalVma(gv: false, gscid: 0, pscv: true, Pscid, av: false, address: 0)
    : Command.IotinvalVma(gv: false, gscid: 0, pscv: true, Pscid, av: true, address: Iova));
Send(Command.IofenceC(av: false, wsi: false, pr: false, pw: false));
gather.Complete();

// 7. The same DMA now faults; the device wrote a fault record at fqb + fqh x 32.
result = iommu.Translate(in dma);
Console.WriteLine($"DMA write after unmap -> {result}");
uint fqh = iommu.Read32(RegisterOffsets.Fqh), fqt = iommu.Read32(RegisterOffsets.Fqt);
Check(fqt == fqh + 1, "one fault record was written");
var record = ram.GetRef<FaultRecord>(fq + (fqh * FaultRecord.Size));
Console.WriteLine($"fault record: cause {(ushort)record.Cause} ({record.Cause}), ttyp {record.Ttyp}, device_id {record.Did}, iotval 0x{record.Iotval:x}");
Check(record.Cause == FaultCause.WritePageFault && record.Did == DeviceId && record.Iotval == dma.Iova, "the record names the fault");
iommu.Write32(RegisterOffsets.Fqh, fqh + 1);   // the driver consumed it
Console.WriteLine("bring-up complete");
return 0;

void Send(Command command)
{
    uint tail = iommu.Read32(RegisterOffsets.Cqt);
    ram.GetRef<Command>(cq + (tail * Command.Size)) = command;
    iommu.Write32(RegisterOffsets.Cqt, (tail + 1) & 0xFF);                  // runs the queue before it returns
    Check(iommu.Read32(RegisterOffsets.Cqh) == ((tail + 1) & 0xFF), $"command {command.Opcode} completed");
}

static void Check(bool condition, string what)
{
    if (!condition)
    {
        Console.Error.WriteLine($"FAILED: {what}");
        Environment.Exit(1);
    }
}
