using FastIommu.Formats.RiscV;
using FastIommu.Hardware;
using FastIommu.Images;
using FastIommu.Memory;
using FastIommu.PageTables;

namespace FastIommu.Tests.Images;

/// <summary>
/// Builds IOMMU structures by hand in physical memory, the way a driver would: DDT and PDT levels from the page
/// allocator, device and process contexts written with the format structs, page tables through
/// <see cref="PageTable{TMode}"/>. Records every mapping it made so tests can compare what the dumps decode.
/// </summary>
internal sealed class ImageScenario : IDisposable
{
    public const ulong Base = 0x8000_0000;

    private readonly List<IDisposable> _tables = [];

    /// <summary>GPA at which a guest sees the top <c>guestSize</c> bytes of this memory (see <see cref="GuestMemory"/>).</summary>
    public const ulong GuestTablesGpa = 0x1_0000_0000;

    /// <param name="guestSize">When not zero, the top <paramref name="guestSize"/> bytes are a guest's RAM: seen at
    /// <see cref="GuestTablesGpa"/> through <see cref="GuestMemory"/>, with its own allocator, so tables built there
    /// hold guest-physical pointers (as a guest kernel's would) that differ from their system-physical addresses.</param>
    public ImageScenario(DdtpMode mode, Capabilities caps, ulong size = 8 << 20, ulong guestSize = 0)
    {
        Memory = PhysicalMemory.Allocate(size, Base);
        Allocator = new PageAllocator(Memory, Base, size - guestSize);
        GuestSpa = Base + size - guestSize;
        GuestSize = guestSize;
        if (guestSize != 0)
        {
            GuestMemory = PhysicalMemory.Wrap(Memory.HostPointer + (nint)(size - guestSize), guestSize, GuestTablesGpa);
            GuestAllocator = new PageAllocator(GuestMemory);
        }

        Caps = caps;
        DdtRoot = Allocator.AllocatePage();
        Ddtp = Ddtp.Create(mode, DdtRoot);
    }

    public PhysicalMemory Memory { get; }
    public PageAllocator Allocator { get; }
    public PhysicalMemory? GuestMemory { get; }
    public PageAllocator? GuestAllocator { get; }
    public ulong GuestSpa { get; }
    public ulong GuestSize { get; }
    public Capabilities Caps { get; }
    public ulong DdtRoot { get; }
    public Ddtp Ddtp { get; }
    public bool Extended => Caps.MsiFlat;

    /// <summary>(table root, input, output, size) of every Map call, in order.</summary>
    public List<(ulong Root, ulong Input, ulong Output, ulong Size)> Mappings { get; } = [];

    public static Capabilities FullCaps => Capabilities.FullRv64;

    public static Capabilities ExtendedCaps => Capabilities.FullRv64.WithMsiFlat(true);

    public PageTable<TMode> NewTable<TMode>(bool guest = false) where TMode : struct, IPagingMode
    {
        var table = new PageTable<TMode>(guest ? GuestAllocator! : Allocator);
        _tables.Add(table);
        return table;
    }

    public void Map<TMode>(PageTable<TMode> table, ulong input, ulong output, ulong size,
        PageProtection prot = PageProtection.Read | PageProtection.Write | PageProtection.User,
        PageBasedMemoryType pbmt = PageBasedMemoryType.Pma) where TMode : struct, IPagingMode
    {
        table.Map(input, output, size, prot, pbmt);
        Mappings.Add((table.RootAddress, input, output, size));
    }

    /// <summary>Address of device <paramref name="deviceId"/>'s DC, creating the DDT levels on the way.
    /// The pages are fresh from the allocator and not yet seen by any IOMMU: plain stores.</summary>
    public ulong DcAddress(uint deviceId)
    {
        ulong table = DdtRoot;
        for (int level = Ddtp.Levels - 1; level > 0; level--)
        {
            ulong entryPa = table + (DirectoryIndex.Ddi(deviceId, level, Extended) << 3);
            var entry = new NonLeafEntry(Memory.Qword(entryPa));
            if (!entry.Valid)
            {
                entry = NonLeafEntry.Pointing(Allocator.AllocatePage());
                Memory.Qword(entryPa) = entry.Value;
            }

            table = entry.TableAddress;
        }

        return table + ((ulong)DirectoryIndex.Ddi(deviceId, 0, Extended) * (ulong)Caps.DeviceContextSize);
    }

    public void SetDc(uint deviceId, in DeviceContext dc)
    {
        if (Extended)
        {
            SetDc(deviceId, new ExtendedDeviceContext(dc));
            return;
        }

        Memory.GetRef<DeviceContext>(DcAddress(deviceId)) = dc;
    }

    public void SetDc(uint deviceId, in ExtendedDeviceContext dc) => Memory.GetRef<ExtendedDeviceContext>(DcAddress(deviceId)) = dc;

    /// <summary>A DC with tc.V, the given iohgatp, PSCID and fsc (an iosatp, or a pdtp with PDTV).</summary>
    public static DeviceContext Dc(ulong fsc, uint pscid = 0, Iohgatp iohgatp = default, bool pdtv = false, bool dpe = false) =>
        new(new DeviceContextTc(0).WithV(true).WithPdtv(pdtv).WithDpe(dpe), iohgatp, new DeviceContextTa(0).WithPscid(pscid), fsc);

    /// <summary>Address of <paramref name="processId"/>'s PC in the PDT at <paramref name="root"/> (SPA), creating levels.</summary>
    public ulong PcAddress(ulong root, PdtpMode mode, uint processId) => PcAddress(Memory, Allocator, root, mode, processId);

    /// <summary>The same in <paramref name="memory"/> (a guest's view: the addresses are then GPAs).</summary>
    public static ulong PcAddress(PhysicalMemory memory, PageAllocator allocator, ulong root, PdtpMode mode, uint processId)
    {
        ulong table = root;
        int levels = mode switch { PdtpMode.PD8 => 1, PdtpMode.PD17 => 2, _ => 3 };
        for (int level = levels - 1; level > 0; level--)
        {
            ulong entryPa = table + (DirectoryIndex.Pdi(processId, level) << 3);
            var entry = new NonLeafEntry(memory.Qword(entryPa));
            if (!entry.Valid)
            {
                entry = NonLeafEntry.Pointing(allocator.AllocatePage());
                memory.Qword(entryPa) = entry.Value;
            }

            table = entry.TableAddress;
        }

        return table + ((ulong)DirectoryIndex.Pdi(processId, 0) * ProcessContext.Size);
    }

    public void SetPc(ulong pdtRoot, PdtpMode mode, uint processId, in ProcessContext pc, bool guest = false)
    {
        var memory = guest ? GuestMemory! : Memory;
        memory.GetRef<ProcessContext>(PcAddress(memory, guest ? GuestAllocator! : Allocator, pdtRoot, mode, processId)) = pc;
    }

    public static ProcessContext Pc(ulong fsc, uint pscid, bool ens = false, bool sum = false) =>
        new(new ProcessContextTa(0).WithV(true).WithEns(ens).WithSum(sum).WithPscid(pscid), new Iosatp(fsc));

    public TableImage Capture(QueueBase? cqb = null, QueueBase? fqb = null) =>
        TableImage.Capture(Memory, Ddtp, Caps, default, cqb, fqb);

    public IommuTranslator Translator()
    {
        var translator = new IommuTranslator(Memory, Caps);
        translator.Ddtp = Ddtp;
        return translator;
    }

    public void Dispose()
    {
        foreach (var table in _tables)
        {
            table.Dispose();
        }

        GuestMemory?.Dispose();
        Memory.Dispose();
    }
}
