using System.Diagnostics;
using FastIommu.Formats.RiscV;
using FastIommu.Memory;

namespace FastIommu.Driver;

// Bring-up and shutdown, in the order of the spec's "Guidelines for initialization".
public sealed partial class IommuInstance
{
    internal IommuInstance(IommuDriver driver, string name, IIommuMmio mmio, PageAllocator allocator, IommuDriverOptions options)
    {
        ArgumentNullException.ThrowIfNull(mmio);
        ArgumentNullException.ThrowIfNull(allocator);
        ArgumentOutOfRangeException.ThrowIfLessThan(options.CommandQueueLog2Entries, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(options.CommandQueueLog2Entries, 10);
        ArgumentOutOfRangeException.ThrowIfLessThan(options.FaultQueueLog2Entries, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(options.FaultQueueLog2Entries, 9);
        ArgumentOutOfRangeException.ThrowIfLessThan(options.MaxDdtLevels, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(options.MaxDdtLevels, 3);
        ArgumentOutOfRangeException.ThrowIfLessThan(options.PscidCount, 2);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(options.PscidCount, 1 << 20);
        ArgumentOutOfRangeException.ThrowIfLessThan(options.GscidCount, 2);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(options.GscidCount, 1 << 16);

        Driver = driver;
        Name = name;
        Options = options;
        _mmio = mmio;
        _allocator = allocator;
        _memory = allocator.Memory;
        Pscids = new IdAllocator("PSCID", 1, (uint)options.PscidCount);
        Gscids = new IdAllocator("GSCID", 1, (uint)options.GscidCount);

        // 1-2. capabilities, version.
        Capabilities = new Capabilities(mmio.Read64(RegisterOffsets.Capabilities));
        if (Capabilities.Version >> 4 != 1)
        {
            throw new NotSupportedException($"{name}: {Capabilities} is not a v1.x IOMMU.");
        }

        // 3-5. fctl: little-endian, the driver polls (no interrupts needed), so fctl stays as reset.
        var fctl = new Fctl(mmio.Read32(RegisterOffsets.Fctl));
        if (fctl.Be)
        {
            throw new NotSupportedException($"{name}: fctl.BE is set; the driver writes little-endian structures.");
        }

        // Pages first, so a shortage fails before any register is written.
        int cqPages = Math.Max(1, (1 << options.CommandQueueLog2Entries) * Command.Size / PhysicalMemory.PageSize);
        int fqPages = Math.Max(1, (1 << options.FaultQueueLog2Entries) * FaultRecord.Size / PhysicalMemory.PageSize);
        var taken = new List<(ulong Pa, int Pages)>(4);
        try
        {
            _commandRing = TakeRing(allocator, cqPages, taken);
            _faultRing = TakeRing(allocator, fqPages, taken);
            _fencePage = TakeRing(allocator, 1, taken);
            ulong ddtRoot = TakeRing(allocator, 1, taken);

            // Devices stay blocked while the queues are set up.
            if (new Ddtp(mmio.Read64(RegisterOffsets.Ddtp)).Mode != DdtpMode.Off)
            {
                mmio.Write64(RegisterOffsets.Ddtp, Ddtp.Create(DdtpMode.Off, 0).Value);
            }

            // The command queue: cqb, cqt = 0, cqen = 1, poll cqon.
            mmio.Write32(RegisterOffsets.Cqcsr, 0);
            Poll(() => !new CqCsr(mmio.Read32(RegisterOffsets.Cqcsr)).Cqon, "turn the command queue off");
            mmio.Write64(RegisterOffsets.Cqb, QueueBase.Create(_commandRing, options.CommandQueueLog2Entries).Value);
            mmio.Write32(RegisterOffsets.Cqt, 0);
            mmio.Write32(RegisterOffsets.Cqcsr, CqCsr.CqenMask);
            Poll(() => new CqCsr(mmio.Read32(RegisterOffsets.Cqcsr)).Cqon, "turn the command queue on (cqon)");

            // The fault queue: fqb, fqh = 0, fqen = 1, poll fqon.
            mmio.Write32(RegisterOffsets.Fqcsr, 0);
            Poll(() => !new FqCsr(mmio.Read32(RegisterOffsets.Fqcsr)).Fqon, "turn the fault queue off");
            mmio.Write64(RegisterOffsets.Fqb, QueueBase.Create(_faultRing, options.FaultQueueLog2Entries).Value);
            mmio.Write32(RegisterOffsets.Fqh, 0);
            mmio.Write32(RegisterOffsets.Fqcsr, FqCsr.FqenMask);
            Poll(() => new FqCsr(mmio.Read32(RegisterOffsets.Fqcsr)).Fqon, "turn the fault queue on (fqon)");

            _commands = new CommandQueueWriter(mmio, _memory, Counters, _commandRing, options.CommandQueueLog2Entries, _fencePage, options.CommandTimeout);
            _faults = new FaultQueueReader(mmio, _memory, _faultRing, options.FaultQueueLog2Entries);

            // ddtp last: the deepest mode the device retains (spec: "Determine the values supported by
            // ddtp.iommu_mode by writing legal values and reading it to see if the value was retained").
            bool extended = Capabilities.MsiFlat;
            int levels = 0;
            for (int l = options.MaxDdtLevels; l >= 1 && levels == 0; l--)
            {
                var mode = (DdtpMode)((int)DdtpMode.OneLevel + l - 1);
                var ddtp = Ddtp.Create(mode, ddtRoot);
                mmio.Write64(RegisterOffsets.Ddtp, ddtp.Value);
                Poll(() => !new Ddtp(mmio.Read64(RegisterOffsets.Ddtp)).Busy, "finish a ddtp write (busy)");
                if (new Ddtp(mmio.Read64(RegisterOffsets.Ddtp)) == ddtp)
                {
                    levels = l;
                }
            }

            if (levels == 0)
            {
                throw new NotSupportedException($"{name}: the IOMMU retains no DDT mode of 1..{options.MaxDdtLevels} levels.");
            }

            _directory = new DeviceDirectory(allocator, ddtRoot, levels, extended);
        }
        catch
        {
            // Nothing of ours may stay live in the hardware: queues off, then the pages back.
            TryTurnOff(mmio);
            foreach (var (pa, pages) in taken)
            {
                FreeRing(allocator, pa, pages);
            }

            throw;
        }
    }

    private static ulong TakeRing(PageAllocator allocator, int pages, List<(ulong, int)> taken)
    {
        ulong pa = pages == 1 ? allocator.AllocatePage() : allocator.AllocateBlock();
        taken.Add((pa, pages));
        return pa;
    }

    private static void FreeRing(PageAllocator allocator, ulong pa, int pages)
    {
        if (pages == 1)
        {
            allocator.FreePage(pa);
        }
        else
        {
            allocator.FreeBlock(pa);
        }
    }

    private void Poll(Func<bool> done, string what)
    {
        long deadline = Stopwatch.GetTimestamp() + (long)(Options.CommandTimeout.TotalSeconds * Stopwatch.Frequency);
        var spin = default(SpinWait);
        while (!done())
        {
            if (Stopwatch.GetTimestamp() > deadline)
            {
                throw new TimeoutException($"{Name}: the IOMMU did not {what} within {Options.CommandTimeout.TotalMilliseconds:0} ms.");
            }

            spin.SpinOnce();
        }
    }

    private static void TryTurnOff(IIommuMmio mmio)
    {
        mmio.Write64(RegisterOffsets.Ddtp, Ddtp.Create(DdtpMode.Off, 0).Value);
        mmio.Write32(RegisterOffsets.Cqcsr, 0);
        mmio.Write32(RegisterOffsets.Fqcsr, 0);
    }

    /// <summary>Shuts the instance down: ddtp Off (every device blocked), the directory and IOTLB caches invalidated
    /// and fenced, both queues off, then every page of the DDT and the rings back to the allocator. Devices, bonds
    /// and ids of this instance are gone afterwards. Idempotent.</summary>
    /// <exception cref="TimeoutException">The hardware did not stop its queues; their pages are kept (leaked)
    /// rather than handed out while the device may still use them.</exception>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        Driver.Forget(this);
        ForgetDevices();
        _mmio.Write64(RegisterOffsets.Ddtp, Ddtp.Create(DdtpMode.Off, 0).Value);
        try
        {
            ReadOnlySpan<Command> flush =
            [
                Command.IodirInvalDdt(dv: false, 0),
                Command.IotinvalVma(gv: false, 0, pscv: false, 0, av: false, 0),
                Command.IotinvalGvma(gv: false, 0, av: false, 0),
            ];
            _commands.WaitFence(_commands.SubmitWithFence(flush));
        }
        catch (TimeoutException)
        {
            // A stopped IOMMU: ddtp is Off, so it walks nothing; turning the queues off below stops it for good.
        }

        _commands.Close();
        _mmio.Write32(RegisterOffsets.Cqcsr, 0);
        _mmio.Write32(RegisterOffsets.Fqcsr, 0);
        Poll(() => !new CqCsr(_mmio.Read32(RegisterOffsets.Cqcsr)).Cqon && !new FqCsr(_mmio.Read32(RegisterOffsets.Fqcsr)).Fqon,
            "turn its queues off");

        _directory.FreeAll();
        FreePdtPages();
        FreeRing(_allocator, _commandRing, Math.Max(1, (1 << Options.CommandQueueLog2Entries) * Command.Size / PhysicalMemory.PageSize));
        FreeRing(_allocator, _faultRing, Math.Max(1, (1 << Options.FaultQueueLog2Entries) * FaultRecord.Size / PhysicalMemory.PageSize));
        FreeRing(_allocator, _fencePage, 1);
    }
}
