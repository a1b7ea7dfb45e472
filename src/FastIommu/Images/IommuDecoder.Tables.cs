using FastIommu.Formats.RiscV;

namespace FastIommu.Images;

/// <summary>The page-table walks: every valid entry of a first-stage or G-stage table, leaves coalesced into ranges,
/// with the privileged spec's checks as the hardware model applies them.</summary>
public sealed partial class IommuDecoder
{
    private const ulong NonLeafReservedPte = Pte.D | Pte.A | Pte.U | Pte.PbmtMask | Pte.N;

    private readonly struct TableWalk
    {
        public required DecodedTable Table { get; init; }
        public required Iohgatp? GStage { get; init; }   // a nested first stage's table addresses go through it
        public required bool Ade { get; init; }           // SADE for a first stage, GADE for a G-stage
        public required bool Gade { get; init; }
        public required ulong[][] Buffers { get; init; }
        public required int AddressBits { get; init; }
        public required HashSet<(ulong Page, int Level)> Visited { get; init; } // per table: a page linked twice is walked once
    }

    /// <summary>The decoded table at <paramref name="root"/>: walked the first time, then the same object for every
    /// context that points at it with the same mode, G-stage and A/D settings.</summary>
    private DecodedTable WalkTable(PagingModeKind mode, ulong root, Iohgatp? gStage, bool ade, bool gade = false)
    {
        var key = (mode, root, gStage?.Value, ade, gade);
        if (!_tables.TryGetValue(key, out DecodedTable? table))
        {
            table = WalkNewTable(mode, root, gStage, ade, gade);
            _tables.Add(key, table);
        }

        return table;
    }

    private DecodedTable WalkNewTable(PagingModeKind mode, ulong root, Iohgatp? gStage, bool ade, bool gade)
    {
        var table = new DecodedTable(mode, root, nested: gStage is not null);
        int levels = PagingModes.Levels(mode);
        var buffers = new ulong[levels][];
        for (int i = 0; i < levels; i++)
        {
            buffers[i] = new ulong[i == levels - 1 && table.IsGStage ? 2048 : 512];
        }

        var walk = new TableWalk
        {
            Table = table, GStage = gStage, Ade = ade, Gade = gade, Buffers = buffers, AddressBits = PagingModes.AddressBits(mode),
            Visited = [],
        };
        WalkLevel(in walk, levels - 1, root, 0);
        return table;
    }

    private void WalkLevel(in TableWalk walk, int level, ulong tableAddress, ulong inputBase)
    {
        var table = walk.Table;
        bool gs = table.IsGStage;
        int top = PagingModes.Levels(table.Mode) - 1;
        FaultCause pageFault = gs ? FaultCause.ReadGuestPageFault : FaultCause.ReadPageFault;
        if (!ResolveTable(tableAddress, walk.GStage, walk.Gade, out ulong spa, out FaultCause cause, out string why))
        {
            AddFinding(table, new($"{table.Mode} level {level} table", tableAddress, cause, why));
            return;
        }

        if (!walk.Visited.Add((spa, level)))
        {
            AddFinding(table, new($"{table.Mode} level {level} table", spa, FaultCause.None,
                "linked more than once; its mappings are listed once"));
            return;
        }

        ulong[] entries = walk.Buffers[level];
        int pages = entries.Length / 512;
        int missing = ReadTablePages(spa, entries);
        if (missing == pages)
        {
            AddFinding(table, new($"{table.Mode} level {level} table", spa, FaultCause.ReadAccessFault, "the table is not in memory"));
            return;
        }

        if (missing != 0)
        {
            // An x4 root (16 KiB) with pages missing: the hardware reads one entry, so the present pages still work.
            AddFinding(table, new($"{table.Mode} level {level} table", spa, FaultCause.ReadAccessFault,
                $"{missing} of its {pages} pages are not in memory; their entries are access faults"));
        }

        table.TablePages += pages - missing;
        int shift = 12 + (9 * level);
        for (int i = 0; i < entries.Length; i++)
        {
            ulong raw = entries[i];
            if ((raw & Pte.V) == 0)
            {
                continue;
            }

            ulong input = inputBase | ((ulong)i << shift);
            if (level == top && !gs)
            {
                // A first stage's upper half: bits above the VA width copy its top bit.
                int unused = 64 - walk.AddressBits;
                input = (ulong)((long)(input << unused) >> unused);
            }

            ulong at = spa + ((ulong)i << 3);
            string? bad = BadPteReason(raw);
            if (bad is not null)
            {
                AddFinding(table, new(Where(table, level, input), at, pageFault, bad));
                continue;
            }

            if ((raw & Pte.RwxMask) == 0)
            {
                if (level == 0)
                {
                    AddFinding(table, new(Where(table, level, input), at, pageFault, "a pointer at level 0"));
                }
                else if ((raw & NonLeafReservedPte) != 0)
                {
                    AddFinding(table, new(Where(table, level, input), at, pageFault, "a non-leaf entry with D, A, U, PBMT or N set"));
                }
                else
                {
                    WalkLevel(in walk, level - 1, (raw & Pte.PpnMask) << 2, input);
                    entries = walk.Buffers[level]; // unchanged: each level has its own buffer
                }

                continue;
            }

            string? leaf = BadLeafReason(raw, level, gs, walk.Ade);
            if (leaf is not null)
            {
                AddFinding(table, new(Where(table, level, input), at, pageFault, leaf));
                continue;
            }

            ulong size = 1UL << shift;
            ulong output = (raw & Pte.PpnMask) << 2;
            if ((raw & Pte.N) != 0)
            {
                size = Pte.Napot64KiBSize;
                output = (output & ~(size - 1)) | (input & (size - 1));
                Append(table.Ranges, new(input, output, 1UL << 12, size, (byte)raw, new Pte(raw).Pbmt));
            }
            else
            {
                Append(table.Ranges, new(input, output, size, size, (byte)raw, new Pte(raw).Pbmt));
            }

            if ((raw & (Pte.W | Pte.D)) == Pte.W && !walk.Ade)
            {
                AddFinding(table, new(Where(table, level, input), at, gs ? FaultCause.WriteGuestPageFault : FaultCause.WritePageFault,
                    $"writable with D = 0 and {(gs ? "GADE" : "SADE")} = 0: reads work, every write faults"));
            }
        }
    }

    private string? BadPteReason(ulong raw)
    {
        if ((raw & (Pte.R | Pte.W)) == Pte.W)
        {
            return "W without R (reserved encoding)";
        }

        if ((raw & Pte.ReservedMask) != 0)
        {
            return $"reserved bits 60:54 = 0x{(raw & Pte.ReservedMask) >> Pte.ReservedShift:x}";
        }

        return !_caps.Svpbmt && (raw & Pte.PbmtMask) != 0 ? "PBMT set without capabilities.Svpbmt" : null;
    }

    private static string? BadLeafReason(ulong raw, int level, bool gStage, bool ade)
    {
        if ((raw & Pte.PbmtMask) == Pte.PbmtMask)
        {
            return "PBMT = 3 (reserved)";
        }

        if ((raw & Pte.N) != 0 && (level != 0 || ((raw >> Pte.PpnShift) & 0xF) != 8))
        {
            return "N set outside a level-0 64 KiB NAPOT leaf";
        }

        if (level > 0 && ((raw >> Pte.PpnShift) & ((1UL << (9 * level)) - 1)) != 0)
        {
            return "misaligned superpage (PPN bits below the leaf's level are not zero)";
        }

        if (gStage && (raw & Pte.U) == 0)
        {
            return "a G-stage leaf with U = 0 grants nothing";
        }

        return (raw & Pte.A) == 0 && !ade
            ? $"A = 0 and {(gStage ? "GADE" : "SADE")} = 0: every access faults"
            : null;
    }

    /// <summary>Reads a table page by page (an x4 root is four): a page that is not in memory reads as invalid
    /// entries. Returns how many pages were missing.</summary>
    private int ReadTablePages(ulong pa, ulong[] entries)
    {
        if (ReadTable(pa, entries))
        {
            return 0;
        }

        int missing = 0;
        for (int page = 0; page < entries.Length / 512; page++)
        {
            var part = entries.AsSpan(page * 512, 512);
            if (!ReadTable(pa + ((ulong)page * ImageFormat.PageSize), part))
            {
                part.Clear();
                missing++;
            }
        }

        return missing;
    }

    private static string Where(DecodedTable table, int level, ulong input) =>
        $"{table.Mode} level {level} entry for {(table.IsGStage ? "gpa" : "iova")} 0x{input:x}";

    private static void AddFinding(DecodedTable table, DecodeFinding finding)
    {
        if (table.Findings.Count < FindingsPerTable)
        {
            table.Findings.Add(finding);
        }
        else
        {
            table.FindingsOmitted++;
        }
    }

    /// <summary>Appends a range, merging it with the last one when both are contiguous in input and output and
    /// alike in page size, flags and PBMT.</summary>
    internal static void Append(List<MappingRange> ranges, MappingRange range)
    {
        if (ranges.Count > 0)
        {
            var last = ranges[^1];
            if (last.Input + last.Size == range.Input && last.Output + last.Size == range.Output
                && last.PageSize == range.PageSize && last.Flags == range.Flags && last.Pbmt == range.Pbmt)
            {
                ranges[^1] = last with { Size = last.Size + range.Size };
                return;
            }
        }

        ranges.Add(range);
    }

    /// <summary>The SPA of a table named by <paramref name="address"/>: itself, or under a G-stage its translation
    /// as the hardware's implicit read would find it (a leaf with U and R, A set or GADE).</summary>
    private bool ResolveTable(ulong address, Iohgatp? g, bool gade, out ulong spa, out FaultCause cause, out string why)
    {
        spa = address;
        cause = FaultCause.None;
        why = "";
        if (g is not { } iohgatp || iohgatp.PagingMode is not { } mode)
        {
            return true;
        }

        int levels = PagingModes.Levels(mode);
        if (address >> PagingModes.AddressBits(mode) != 0)
        {
            return GuestFault(out cause, out why, "the GPA is wider than the G-stage");
        }

        ulong table = iohgatp.RootAddress;
        for (int level = levels - 1; level >= 0; level--)
        {
            int shift = 12 + (9 * level);
            ulong index = (address >> shift) & (level == levels - 1 ? 2047UL : 511UL);
            if (!_memory.TryRead64(table + (index << 3), out ulong raw))
            {
                cause = FaultCause.ReadAccessFault;
                why = $"the G-stage table at 0x{table:x} is not in memory";
                return false;
            }

            // A structure page even when the G-stage's own walk could not read its whole table (a 16 KiB root with a
            // page missing): the hardware's implicit read needs it, so a capture must keep it.
            _pages.Add((table + (index << 3)) & ~0xFFFUL);

            if ((raw & Pte.V) == 0 || BadPteReason(raw) is not null)
            {
                return GuestFault(out cause, out why, "the G-stage does not map the GPA");
            }

            if ((raw & Pte.RwxMask) == 0)
            {
                if (level == 0 || (raw & NonLeafReservedPte) != 0)
                {
                    return GuestFault(out cause, out why, "a bad G-stage non-leaf entry");
                }

                table = (raw & Pte.PpnMask) << 2;
                continue;
            }

            string? reason = BadLeafReason(raw, level, gStage: true, gade);
            if (reason is not null || (raw & Pte.R) == 0)
            {
                return GuestFault(out cause, out why, reason ?? "the G-stage leaf is not readable");
            }

            ulong mask = (raw & Pte.N) != 0 ? Pte.Napot64KiBSize - 1 : (1UL << shift) - 1;
            spa = (((raw & Pte.PpnMask) << 2) & ~mask) | (address & mask);
            return true;
        }

        return GuestFault(out cause, out why, "the G-stage does not map the GPA");
    }

    private static bool GuestFault(out FaultCause cause, out string why, string reason)
    {
        cause = FaultCause.ReadGuestPageFault;
        why = $"guest-physical table: {reason}";
        return false;
    }

    /// <summary>A nested first stage's mappings through the G-stage: IOVA -> SPA, in pieces where either stage changes.</summary>
    private static void Combine(DecodedTable firstStage, DecodedTable? gStage)
    {
        if (gStage is null || firstStage.Effective is not null)
        {
            return; // no G-stage, or a shared table already combined with it (the same G-stage: it is in the key)
        }

        var effective = new List<MappingRange>();
        var g = gStage.Ranges;
        foreach (var r in firstStage.Ranges)
        {
            ulong gpa = r.Output, iova = r.Input, left = r.Size;
            while (left > 0)
            {
                int k = FindRange(g, gpa);
                if (k < 0)
                {
                    // Not mapped by the G-stage: skip to the next G-stage range.
                    int next = ~k;
                    AddFinding(firstStage, new($"{firstStage.Mode} mapping of iova {DumpNames.Hex(iova)}", gpa, FaultCause.ReadGuestPageFault,
                        "its gpa is not mapped by the G-stage"));
                    if (next >= g.Count || g[next].Input - gpa >= left)
                    {
                        break;
                    }

                    ulong gap = g[next].Input - gpa;
                    gpa += gap;
                    iova += gap;
                    left -= gap;
                    continue;
                }

                var s = g[k];
                ulong len = Math.Min(left, s.Input + s.Size - gpa);
                const byte Rwx = (byte)(Pte.R | Pte.W | Pte.X);
                byte flags = (byte)((r.Flags & ~Rwx) | (r.Flags & s.Flags & Rwx));
                Append(effective, new(iova, s.Output + (gpa - s.Input), len, Math.Min(r.PageSize, s.PageSize), flags,
                    r.Pbmt != PageBasedMemoryType.Pma ? r.Pbmt : s.Pbmt));
                gpa += len;
                iova += len;
                left -= len;
            }
        }

        firstStage.Effective = effective;
    }

    /// <summary>Index of the range holding <paramref name="address"/>, or the complement of the first range above it.</summary>
    internal static int FindRange(List<MappingRange> ranges, ulong address)
    {
        int lo = 0, hi = ranges.Count - 1;
        while (lo <= hi)
        {
            int mid = (lo + hi) >>> 1;
            var r = ranges[mid];
            if (address < r.Input)
            {
                hi = mid - 1;
            }
            else if (address - r.Input >= r.Size)
            {
                lo = mid + 1;
            }
            else
            {
                return mid;
            }
        }

        return ~lo;
    }
}
