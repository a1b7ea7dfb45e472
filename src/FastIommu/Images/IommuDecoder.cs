using FastIommu.Formats.RiscV;
using FastIommu.Hardware;

namespace FastIommu.Images;

/// <summary>
/// Reads an IOMMU's structures from memory alone, the way the hardware would find them: from ddtp through the DDT
/// levels to each valid device context, its process directory and process contexts, and every first-stage and
/// G-stage table (first-stage tables and PDTs under a G-stage are found through it). Entries the hardware would refuse
/// are reported with the cause it would give. Nothing is written.
/// </summary>
public sealed partial class IommuDecoder
{
    /// <summary>Findings kept per table; the rest are counted in <see cref="DecodedTable.FindingsOmitted"/>.</summary>
    public const int FindingsPerTable = 64;

    private readonly IMemoryAccess _memory;
    private readonly Capabilities _caps;
    private readonly Fctl _fctl;
    private readonly HashSet<ulong> _pages = [];
    // Directory pages already walked, by level: a page linked twice (aliased, or a loop in damaged memory) is walked once,
    // so the work is bounded by the memory's size whatever the entries say.
    private readonly HashSet<(ulong Page, int Level)> _directoryVisited = [];
    // Tables already decoded, by what decides their decoding: contexts that point at one table share its result, so
    // the work is bounded by the memory's size, not by the number of contexts times the table's size.
    private readonly Dictionary<(PagingModeKind Mode, ulong Root, ulong? GStage, bool Ade, bool Gade), DecodedTable> _tables = [];
    private readonly ulong[] _buffer = new ulong[2048]; // one table (an x4 root is 2048 entries)

    private IommuDecoder(IMemoryAccess memory, Capabilities caps, Fctl fctl)
    {
        _memory = memory;
        _caps = caps;
        _fctl = fctl;
    }

    /// <summary>Decodes the structures <paramref name="ddtp"/> leads to in <paramref name="memory"/>.</summary>
    public static DecodedIommu Decode(IMemoryAccess memory, Ddtp ddtp, Capabilities capabilities, Fctl fctl = default)
    {
        ArgumentNullException.ThrowIfNull(memory);
        var decoder = new IommuDecoder(memory, capabilities, fctl);
        var devices = new List<DecodedDevice>();
        var findings = new List<DecodeFinding>();
        decoder.WalkDirectory(ddtp, devices, findings);
        var pages = new ulong[decoder._pages.Count];
        decoder._pages.CopyTo(pages);
        Array.Sort(pages);
        return new DecodedIommu(ddtp, capabilities, fctl, devices, findings, pages);
    }

    /// <summary>Decodes a loaded image.</summary>
    public static DecodedIommu Decode(TableImage image)
    {
        ArgumentNullException.ThrowIfNull(image);
        return Decode(image.Memory, image.Ddtp, image.Capabilities, image.Fctl);
    }

    // ------------------------------------------------------------------------------------------------ DDT

    private void WalkDirectory(Ddtp ddtp, List<DecodedDevice> devices, List<DecodeFinding> findings)
    {
        if (ddtp.HasReservedBitsSet)
        {
            findings.Add(new("ddtp", ddtp.Value, FaultCause.None, $"reserved bits 0x{ddtp.Reserved:x} are set"));
        }

        int levels = ddtp.Levels;
        if (levels == 0)
        {
            if (ddtp.IsModeReserved || ddtp.IsModeCustom)
            {
                findings.Add(new("ddtp", ddtp.Value, FaultCause.AllInboundTransactionsDisallowed,
                    $"iommu_mode {(byte)ddtp.IommuMode} is {(ddtp.IsModeCustom ? "custom" : "reserved")}; the register keeps the old value"));
            }

            return;
        }

        bool extended = _caps.MsiFlat;
        WalkDdtLevel(ddtp.RootAddress, levels - 1, 0, extended, devices, findings);
    }

    private void WalkDdtLevel(ulong table, int level, uint idBase, bool extended, List<DecodedDevice> devices, List<DecodeFinding> findings)
    {
        if (!_directoryVisited.Add((table, 16 + level)))
        {
            findings.Add(new($"DDT level {level} (device_id 0x{idBase:x} and up)", table, FaultCause.None,
                "this table is linked more than once; its entries are listed once"));
            return;
        }

        if (level == 0)
        {
            WalkDeviceContexts(table, idBase, extended, devices);
            return;
        }

        // DDI[2] is 8 bits (base) or 9 (extended); DDI[1] is 9.
        int bits = DirectoryIndex.DdiBits(level, extended);
        int shift = DirectoryIndex.DdiShift(level, extended);
        var entries = new ulong[1 << bits];
        if (!ReadTable(table, entries))
        {
            findings.Add(new($"DDT level {level}", table, FaultCause.DdtEntryLoadAccessFault, "the table is not in memory"));
            return;
        }

        for (int i = 0; i < entries.Length; i++)
        {
            var entry = new NonLeafEntry(entries[i]);
            if (!entry.Valid)
            {
                continue;
            }

            uint id = idBase | ((uint)i << shift);
            ulong at = table + ((ulong)i << 3);
            if (entry.HasReservedBitsSet)
            {
                findings.Add(new($"DDT level {level} entry {i} (device_id 0x{id:x} and up)", at, FaultCause.DdtEntryMisconfigured,
                    $"reserved bits 0x{entry.Reserved:x} are set"));
                continue;
            }

            WalkDdtLevel(entry.TableAddress, level - 1, id, extended, devices, findings);
        }
    }

    private void WalkDeviceContexts(ulong table, uint idBase, bool extended, List<DecodedDevice> devices)
    {
        int size = extended ? ExtendedDeviceContext.Size : DeviceContext.Size;
        int count = ImageFormat.PageSize / size;
        var words = new ulong[512];
        if (!ReadTable(table, words))
        {
            // The leaf level's absence is reported once, as the hardware would for any device below it.
            devices.Add(MissingLeaf(table, idBase));
            return;
        }

        int perDc = size / 8;
        for (int i = 0; i < count; i++)
        {
            int w = i * perDc;
            var tc = new DeviceContextTc(words[w]);
            if (!tc.Valid)
            {
                continue;
            }

            var dc = extended
                ? new ExtendedDeviceContext(tc, new Iohgatp(words[w + 1]), new DeviceContextTa(words[w + 2]), words[w + 3],
                    new Msiptp(words[w + 4]), words[w + 5], words[w + 6], words[w + 7])
                : new ExtendedDeviceContext(new DeviceContext(tc, new Iohgatp(words[w + 1]), new DeviceContextTa(words[w + 2]), words[w + 3]));
            var device = new DecodedDevice(idBase | (uint)i, table + (ulong)(i * size), extended, dc);
            DecodeDevice(device);
            devices.Add(device);
        }
    }

    private static DecodedDevice MissingLeaf(ulong table, uint idBase)
    {
        var device = new DecodedDevice(idBase, table, false, default);
        device.Findings.Add(new($"DC page for device_id 0x{idBase:x} and up", table, FaultCause.DdtEntryLoadAccessFault,
            "the leaf DDT page is not in memory"));
        return device;
    }

    private void DecodeDevice(DecodedDevice device)
    {
        var dc = device.Context;
        device.Misconfiguration = device.Extended
            ? ContextChecks.Check(dc, _caps, _fctl, gxlWritable: _caps.Sv32x4, beWritable: _caps.End)
            : ContextChecks.Check(dc.Base, _caps, _fctl, gxlWritable: _caps.Sv32x4, beWritable: _caps.End);
        if (device.Misconfiguration == ContextMisconfiguration.None && (dc.Tc.Sbe || dc.Tc.Sxl))
        {
            // This model reads little-endian RV64 tables only (see docs/hardware-model.md).
            device.Misconfiguration = dc.Tc.Sbe ? ContextMisconfiguration.SbeIllegal : ContextMisconfiguration.SxlIllegal;
        }

        if (device.Misconfiguration != ContextMisconfiguration.None)
        {
            device.Findings.Add(new($"DC of device_id 0x{device.DeviceId:x}", device.Address, FaultCause.DdtEntryMisconfigured,
                $"{device.Misconfiguration}: every transaction of the device faults"));
        }

        if (device.Extended && dc.Msiptp.Mode == MsiptpMode.Flat)
        {
            WalkMsiPageTable(device);
        }

        bool gade = dc.Tc.Gade;
        if (dc.Iohgatp.PagingMode is { } gMode)
        {
            device.GStage = WalkTable(gMode, dc.Iohgatp.RootAddress, gStage: null, ade: gade);
        }

        if (!dc.Tc.Pdtv)
        {
            if (dc.FscAsIosatp.PagingMode is { } fsMode)
            {
                device.FirstStage = WalkTable(fsMode, dc.FscAsIosatp.RootAddress, device.GStage is null ? null : dc.Iohgatp, dc.Tc.Sade, gade);
                Combine(device.FirstStage, device.GStage);
            }

            return;
        }

        var pdtp = dc.FscAsPdtp;
        if (pdtp.Levels == 0)
        {
            return;
        }

        var processes = new List<DecodedProcess>();
        WalkPdtLevel(device, pdtp.RootAddress, pdtp.Levels - 1, 0, processes);
        device.Processes = processes;
        foreach (var process in processes)
        {
            if (process.Context.Fsc.PagingMode is { } fsMode)
            {
                process.FirstStage = WalkTable(fsMode, process.Context.Fsc.RootAddress,
                    device.GStage is null ? null : dc.Iohgatp, dc.Tc.Sade, gade);
                Combine(process.FirstStage, device.GStage);
            }
        }
    }

    // ------------------------------------------------------------------------------------------------ PDT

    private void WalkPdtLevel(DecodedDevice device, ulong table, int level, uint idBase, List<DecodedProcess> processes)
    {
        var dc = device.Context;
        Iohgatp? g = dc.Iohgatp.PagingMode is null ? null : dc.Iohgatp;
        if (!ResolveTable(table, g, dc.Tc.Gade, out ulong spa, out FaultCause cause, out string why))
        {
            device.Findings.Add(new($"PDT level {level} of device_id 0x{device.DeviceId:x}", table,
                cause == FaultCause.ReadAccessFault ? FaultCause.PdtEntryLoadAccessFault : cause, why));
            return;
        }

        if (!_directoryVisited.Add((spa, level)))
        {
            device.Findings.Add(new($"PDT level {level} of device_id 0x{device.DeviceId:x} (process_id 0x{idBase:x} and up)", spa,
                FaultCause.None, "this table is linked more than once; its entries are listed once"));
            return;
        }

        if (level == 0)
        {
            var words = new ulong[512];
            if (!ReadTable(spa, words))
            {
                device.Findings.Add(new($"PC page of device_id 0x{device.DeviceId:x}", spa, FaultCause.PdtEntryLoadAccessFault,
                    "the leaf PDT page is not in memory"));
                return;
            }

            for (int i = 0; i < 256; i++)
            {
                var pc = new ProcessContext(new ProcessContextTa(words[2 * i]), new Iosatp(words[(2 * i) + 1]));
                if (!pc.Valid)
                {
                    continue;
                }

                var process = new DecodedProcess(idBase | (uint)i, table + (ulong)(i * 16), spa + (ulong)(i * 16), pc);
                process.Misconfiguration = ContextChecks.Check(pc, _caps, dc.Tc.Sxl);
                if (process.Misconfiguration != ContextMisconfiguration.None)
                {
                    process.Findings.Add(new($"PC of device_id 0x{device.DeviceId:x} process_id 0x{process.ProcessId:x}",
                        process.PhysicalAddress, FaultCause.PdtEntryMisconfigured, $"{process.Misconfiguration}"));
                }

                processes.Add(process);
            }

            return;
        }

        int bits = DirectoryIndex.PdiBits(level);
        int shift = DirectoryIndex.PdiShift(level);
        var entries = new ulong[1 << bits];
        if (!ReadTable(spa, entries))
        {
            device.Findings.Add(new($"PDT level {level} of device_id 0x{device.DeviceId:x}", spa, FaultCause.PdtEntryLoadAccessFault,
                "the table is not in memory"));
            return;
        }

        for (int i = 0; i < entries.Length; i++)
        {
            var entry = new NonLeafEntry(entries[i]);
            if (!entry.Valid)
            {
                continue;
            }

            uint id = idBase | ((uint)i << shift);
            if (entry.HasReservedBitsSet)
            {
                device.Findings.Add(new($"PDT level {level} entry {i} of device_id 0x{device.DeviceId:x} (process_id 0x{id:x} and up)",
                    spa + ((ulong)i << 3), FaultCause.PdtEntryMisconfigured, $"reserved bits 0x{entry.Reserved:x} are set"));
                continue;
            }

            WalkPdtLevel(device, entry.TableAddress, level - 1, id, processes);
        }
    }

    // ------------------------------------------------------------------------------------------------ memory

    /// <summary>Reads a table (its entries' count decides the size) and records its pages.</summary>
    private bool ReadTable(ulong pa, ulong[] entries) => ReadTable(pa, entries.AsSpan());

    private bool ReadTable(ulong pa, Span<ulong> entries)
    {
        if (!_memory.TryRead(pa, System.Runtime.InteropServices.MemoryMarshal.AsBytes(entries)))
        {
            return false;
        }

        ulong end = pa + (ulong)(entries.Length * 8);
        for (ulong page = pa & ~0xFFFUL; page < end; page += ImageFormat.PageSize)
        {
            _pages.Add(page);
        }

        return true;
    }

    /// <summary>A flat MSI page table: one 16-byte MSI PTE per interrupt file, 2^popcount(msi_addr_mask) of them (at most
    /// 2^16 are read: a wider mask names more files than any guest has).</summary>
    private void WalkMsiPageTable(DecodedDevice device)
    {
        var dc = device.Context;
        int bits = Math.Min(System.Numerics.BitOperations.PopCount(dc.MsiMask), 16);
        ulong entries = 1UL << bits;
        ulong valid = 0;
        var page = new ulong[512];
        ulong root = dc.Msiptp.RootAddress;
        for (ulong offset = 0; offset < entries * 16; offset += ImageFormat.PageSize)
        {
            int words = (int)Math.Min(512UL, (entries * 16 - offset) / 8);
            if (!ReadTable(root + offset, page.AsSpan(0, words)))
            {
                device.Findings.Add(new($"MSI page table of device_id 0x{device.DeviceId:x}", root + offset,
                    FaultCause.MsiPteLoadAccessFault, "the table is not in memory"));
                break;
            }

            for (int i = 0; i < words; i += 2)
            {
                valid += page[i] & 1;
            }
        }

        device.MsiPageTable = (entries, valid);
    }
}
