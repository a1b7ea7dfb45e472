using FastIommu.Formats.RiscV;

namespace FastIommu.Images;

/// <summary>
/// What <see cref="IommuDecoder"/> read from memory: the device directory's valid device contexts, their process
/// contexts and page tables, and every entry the hardware would refuse, with the fault cause it would report.
/// Built from bytes alone; the dumps (<see cref="TextDump"/>, <see cref="DotDump"/>, <see cref="JsonDump"/>) render it.
/// </summary>
/// <remarks>Fault causes are those of a read (13 page fault, 21 guest page fault, 5 access fault); an execute or a write
/// reports the matching 12/15, 20/23, 1/7.</remarks>
public sealed class DecodedIommu
{
    internal DecodedIommu(Ddtp ddtp, Capabilities capabilities, Fctl fctl, List<DecodedDevice> devices,
        List<DecodeFinding> findings, ulong[] structurePages)
    {
        Ddtp = ddtp;
        Capabilities = capabilities;
        Fctl = fctl;
        Devices = devices;
        Findings = findings;
        StructurePages = structurePages;
    }

    public Ddtp Ddtp { get; }
    public Capabilities Capabilities { get; }
    public Fctl Fctl { get; }

    /// <summary>Devices whose DC has tc.V = 1, by ascending device_id.</summary>
    public IReadOnlyList<DecodedDevice> Devices { get; }

    /// <summary>Problems of the directory itself (ddtp, non-leaf DDT entries).</summary>
    public IReadOnlyList<DecodeFinding> Findings { get; }

    /// <summary>Physical addresses of the pages the structures occupy and that memory holds, ascending.</summary>
    public IReadOnlyList<ulong> StructurePages { get; }

    /// <summary>Every finding: directory, devices, process contexts and tables.</summary>
    public IEnumerable<DecodeFinding> AllFindings()
    {
        foreach (var f in Findings)
        {
            yield return f;
        }

        foreach (var d in Devices)
        {
            foreach (var f in d.AllFindings())
            {
                yield return f;
            }
        }
    }
}

/// <summary>A valid device context and what hangs below it.</summary>
public sealed class DecodedDevice
{
    internal DecodedDevice(uint deviceId, ulong address, bool extended, in ExtendedDeviceContext context)
    {
        DeviceId = deviceId;
        Address = address;
        Extended = extended;
        Context = context;
    }

    public uint DeviceId { get; }

    /// <summary>Physical address of the DC.</summary>
    public ulong Address { get; }

    /// <summary>The DC is in the extended (64-byte) format (capabilities.MSI_FLAT).</summary>
    public bool Extended { get; }

    /// <summary>The DC's doublewords (for a base-format DC the MSI fields are zero).</summary>
    public ExtendedDeviceContext Context { get; }

    /// <summary>Why the DC is misconfigured (then every transaction of the device faults with cause 259).</summary>
    public ContextMisconfiguration Misconfiguration { get; internal set; }

    /// <summary>The G-stage (iohgatp not Bare).</summary>
    public DecodedTable? GStage { get; internal set; }

    /// <summary>The first stage of DC.fsc when tc.PDTV = 0 and iosatp is not Bare.</summary>
    public DecodedTable? FirstStage { get; internal set; }

    /// <summary>For an extended DC with msiptp.MODE = Flat: the MSI page table's entries (2^popcount(msi_addr_mask)) and how
    /// many of them are valid; null otherwise.</summary>
    public (ulong Entries, ulong Valid)? MsiPageTable { get; internal set; }

    /// <summary>Valid process contexts when tc.PDTV = 1, by ascending process_id.</summary>
    public IReadOnlyList<DecodedProcess> Processes { get; internal set; } = [];

    /// <summary>Problems of the DC and of its process directory's non-leaf entries.</summary>
    public List<DecodeFinding> Findings { get; } = [];

    internal IEnumerable<DecodeFinding> AllFindings()
    {
        foreach (var f in Findings)
        {
            yield return f;
        }

        foreach (var table in new[] { GStage, FirstStage })
        {
            if (table is not null)
            {
                foreach (var f in table.Findings)
                {
                    yield return f;
                }
            }
        }

        foreach (var p in Processes)
        {
            foreach (var f in p.Findings)
            {
                yield return f;
            }

            if (p.FirstStage is not null)
            {
                foreach (var f in p.FirstStage.Findings)
                {
                    yield return f;
                }
            }
        }
    }
}

/// <summary>A valid process context.</summary>
public sealed class DecodedProcess
{
    internal DecodedProcess(uint processId, ulong address, ulong physicalAddress, in ProcessContext context)
    {
        ProcessId = processId;
        Address = address;
        PhysicalAddress = physicalAddress;
        Context = context;
    }

    public uint ProcessId { get; }

    /// <summary>Address of the PC as the PDT names it (a GPA under a G-stage).</summary>
    public ulong Address { get; }

    /// <summary>Physical address of the PC.</summary>
    public ulong PhysicalAddress { get; }

    public ProcessContext Context { get; }

    /// <summary>Why the PC is misconfigured (cause 267).</summary>
    public ContextMisconfiguration Misconfiguration { get; internal set; }

    /// <summary>The first stage of PC.fsc when not Bare.</summary>
    public DecodedTable? FirstStage { get; internal set; }

    public List<DecodeFinding> Findings { get; } = [];
}

/// <summary>A page table (first stage or G-stage) and its mappings, coalesced.</summary>
/// <remarks>Contexts that point at the same table with the same mode, G-stage and A/D settings share one instance:
/// it is decoded once, however many DCs and PCs use it.</remarks>
public sealed class DecodedTable
{
    internal DecodedTable(PagingModeKind mode, ulong root, bool nested)
    {
        Mode = mode;
        Root = root;
        Nested = nested;
    }

    public PagingModeKind Mode { get; }

    public bool IsGStage => PagingModes.IsGStage(Mode);

    /// <summary>Root address as the context names it (a GPA when <see cref="Nested"/>).</summary>
    public ulong Root { get; }

    /// <summary>A first stage under a G-stage: its table addresses and outputs are guest-physical.</summary>
    public bool Nested { get; }

    /// <summary>Mappings (input address -> output address), coalesced, ascending by input.</summary>
    public List<MappingRange> Ranges { get; } = [];

    /// <summary>For a nested first stage: the mappings through both stages (IOVA -> SPA), else null.</summary>
    public List<MappingRange>? Effective { get; internal set; }

    /// <summary>Table pages walked.</summary>
    public int TablePages { get; internal set; }

    public List<DecodeFinding> Findings { get; } = [];

    /// <summary>Findings not kept in <see cref="Findings"/> (more than a dump can usefully show).</summary>
    public int FindingsOmitted { get; internal set; }
}

/// <summary>
/// A run of leaves that map [Input, Input + Size) to [Output, Output + Size) with the same page size, flags and PBMT.
/// </summary>
/// <param name="Input">First input address (IOVA, or GPA for a G-stage).</param>
/// <param name="Output">Output address of <paramref name="Input"/> (SPA, or GPA for a nested first stage).</param>
/// <param name="Size">Bytes in the range.</param>
/// <param name="PageSize">Size of each leaf: 4 KiB, 64 KiB (NAPOT), 2 MiB...</param>
/// <param name="Flags">The leaf PTE's bits 7:0 (V R W X U G A D).</param>
/// <param name="Pbmt">The leaf's PBMT.</param>
public readonly record struct MappingRange(ulong Input, ulong Output, ulong Size, ulong PageSize, byte Flags, PageBasedMemoryType Pbmt)
{
    public bool Readable => (Flags & (byte)Pte.R) != 0;
    public bool Writable => (Flags & (byte)Pte.W) != 0;
    public bool Executable => (Flags & (byte)Pte.X) != 0;
    public bool User => (Flags & (byte)Pte.U) != 0;
    public bool Global => (Flags & (byte)Pte.G) != 0;

    /// <summary>R W X U G A D as letters, '-' for a clear bit.</summary>
    public string FlagString()
    {
        Span<char> s = stackalloc char[7];
        const string Names = "RWXUGAD";
        for (int i = 0; i < 7; i++)
        {
            s[i] = (Flags & (1 << (i + 1))) != 0 ? Names[i] : '-';
        }

        return new string(s);
    }
}

/// <summary>An entry the hardware would refuse: where, the fault cause it would report (for a read), and why.</summary>
public readonly record struct DecodeFinding(string Where, ulong Address, FaultCause Cause, string Reason)
{
    public override string ToString() => $"{Where} @ 0x{Address:x}: cause {(ushort)Cause} {Cause}: {Reason}";
}
