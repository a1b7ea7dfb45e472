using FastIommu.Memory;

namespace FastIommu.Tests.Reliability;

/// <summary>One mapping the generator wrote into a first-stage or G-stage table: what a correct walk must find.</summary>
internal readonly record struct GeneratedMapping(ulong Va, ulong Size, ulong Pa, ulong Flags);

/// <summary>A leaf PTE the generator wrote for a device without PDT: where it is and what it maps.</summary>
internal readonly record struct GeneratedLeaf(ulong Entry, bool GStage, ulong Va, ulong Size, ulong Flags);

/// <summary>A device the generator configured: its DC's stages, as written (before any mutation).</summary>
internal sealed class GeneratedDevice
{
    public uint Id { get; init; }
    public bool Pdtv { get; init; }
    public int FsLevels { get; init; }               // 0 = Bare
    public int GsLevels { get; init; }               // 0 = Bare
    public List<GeneratedMapping> Fs { get; } = [];  // IOVA -> GPA (or SPA without a G-stage)
    public List<GeneratedMapping> Gs { get; } = [];  // GPA -> SPA
    public List<uint> ProcessIds { get; } = [];
    public List<GeneratedLeaf> Leaves { get; } = [];
    public ushort Gscid { get; set; }
    public ulong DcAddress { get; set; }
    public uint Pscid { get; set; }

    /// <summary>MSI address translation on (extended DC, msiptp Flat): the MSI window's page pattern and mask.</summary>
    public bool Msi { get; set; }
    public ulong MsiPattern { get; set; }
    public ulong MsiMask { get; set; }
}

/// <summary>What kind of input a case is.</summary>
internal enum ScenarioKind
{
    /// <summary>Every structure as the spec wants it.</summary>
    Valid,
    /// <summary>Valid, then one to three fields off: a reserved bit, a bad mode, a misaligned root, a pointer
    /// outside memory, a loop in the tables, a random bit.</summary>
    AlmostValid,
    /// <summary>Random qwords in the structure pages and a random ddtp.</summary>
    Garbage,
}

/// <summary>
/// Structure-aware random IOMMU inputs in a small physical memory (so random pointers often land in it): a device
/// directory of 1, 2 or 3 levels (base or extended DCs), device contexts with G-stage Sv39x4/48x4/57x4 or Bare, a
/// first stage Sv39/48/57 or a PDT (PD8/17/20) of process contexts, page tables with leaves of every level the
/// generator can place. Valid scenarios record every mapping they wrote (<see cref="GeneratedDevice"/>) for the
/// reference walk. Seeded: the same seed writes the same bytes.
/// </summary>
internal sealed class ScenarioGenerator
{
    public const ulong Base = 0x8000_0000;
    public const int Pages = 128;
    public const ulong Size = Pages * 4096UL;
    private const ulong LeafA = 1UL << 6, LeafD = 1UL << 7, LeafU = 1UL << 4, LeafG = 1UL << 5;
    private static readonly ulong[] LegalRwx = [0b0010, 0b0110, 0b1000, 0b1010, 0b1110]; // R, RW, X, RX, RWX (<< 0 after V)

    private readonly Random _rng;
    private readonly PhysicalMemory _memory;
    private readonly List<ulong> _structure = [];   // addresses of qwords the generator wrote (mutation targets)
    private readonly List<ulong> _pointers = [];    // addresses of non-leaf entries (loop targets)
    private int _nextPage;
    private readonly HashSet<ulong> _ids = []; // GSCIDs and PSCIDs in use: no two devices share an address space

    public ScenarioGenerator(PhysicalMemory memory, long seed)
    {
        _memory = memory;
        _rng = new Random(unchecked((int)seed ^ (int)(seed >> 32)));
    }

    public Random Rng => _rng;

    /// <summary>Addresses of the qwords the generator wrote: DDT/PDT entries, contexts, PTEs.</summary>
    public IReadOnlyList<ulong> StructureAddresses => _structure;
    public ulong Caps { get; private set; }
    public ulong Ddtp { get; private set; }
    public bool ExtendedDc { get; private set; }
    public ScenarioKind Kind { get; private set; }
    public List<GeneratedDevice> Devices { get; } = [];

    /// <summary>The generator ran out of pages and shared one: the scenario is not valid even if <see cref="Kind"/> says so.</summary>
    public bool Overflowed { get; private set; }

    /// <summary>Clears the memory and writes one scenario.</summary>
    public void Generate()
    {
        _memory.GetSpan(Base, (int)Size).Clear();
        _structure.Clear();
        _pointers.Clear();
        Devices.Clear();
        _ids.Clear();
        _nextPage = 0;
        Overflowed = false;
        Caps = RandomCaps();
        ExtendedDc = (Caps & (1UL << 22)) != 0;
        int roll = _rng.Next(10);
        Kind = roll < 5 ? ScenarioKind.Valid : roll < 9 ? ScenarioKind.AlmostValid : ScenarioKind.Garbage;
        if (Kind == ScenarioKind.Garbage)
        {
            WriteGarbage();
            return;
        }

        int ddtMode = 2 + _rng.Next(3);  // 1LVL, 2LVL, 3LVL
        ulong root = AllocPage();
        Ddtp = ((root >> 12) << 10) | (uint)ddtMode;
        int devices = 1 + _rng.Next(4);
        for (int i = 0; i < devices && _nextPage < Pages - 16; i++)
        {
            uint id = RandomDeviceId(ddtMode);
            if (Devices.Exists(d => d.Id == id))
            {
                continue;
            }

            ulong dc = LocateDc(root, ddtMode, id);
            Devices.Add(WriteDevice(id, dc));
        }

        if (Kind == ScenarioKind.AlmostValid)
        {
            int mutations = 1 + _rng.Next(3);
            for (int i = 0; i < mutations; i++)
            {
                Mutate();
            }
        }
    }

    // ------------------------------------------------------------------------------------------------ capabilities

    private ulong RandomCaps()
    {
        // version 1.0, PAS 56, IGS MSI; every optional translation feature on or off at random, Sv39 and Sv39x4
        // always (a DC needs some mode to be valid).
        ulong caps = 0x10 | (56UL << 32) | (1UL << 9) | (1UL << 17);
        int[] optional = [10, 11, 15, 18, 19, 22, 24, 25, 26, 38, 39, 40];
        foreach (int bit in optional)
        {
            if (_rng.Next(3) != 0)
            {
                caps |= 1UL << bit;
            }
        }

        if ((caps & (1UL << 25)) == 0)
        {
            caps &= ~(1UL << 26);  // T2GPA needs ATS
        }

        return caps;
    }

    private bool Cap(int bit) => (Caps & (1UL << bit)) != 0;

    // ------------------------------------------------------------------------------------------------ directory

    private uint RandomDeviceId(int ddtMode)
    {
        int bits = ExtendedDc ? ddtMode switch { 2 => 6, 3 => 15, _ => 24 } : ddtMode switch { 2 => 7, 3 => 16, _ => 24 };
        // Small ids collide in the same leaf page; large ones spread over the levels.
        return _rng.Next(2) == 0 ? (uint)_rng.Next(Math.Min(1 << bits, 200)) : (uint)_rng.NextInt64(1L << bits);
    }

    /// <summary>Walks (building) the DDT for <paramref name="id"/> and returns its DC's address.</summary>
    private ulong LocateDc(ulong root, int ddtMode, uint id)
    {
        int leafBits = ExtendedDc ? 6 : 7;
        ulong dcSize = ExtendedDc ? 64UL : 32UL;
        ulong table = root;
        for (int level = ddtMode - 2; level > 0; level--)
        {
            int shift = leafBits + ((level - 1) * 9);
            ulong index = (id >> shift) & 0x1FF;
            ulong entry = table + (index * 8);
            ulong value = _memory.Qword(entry);
            if ((value & 1) == 0)
            {
                ulong next = AllocPage();
                value = ((next >> 12) << 10) | 1;
                Write(entry, value);
                _pointers.Add(entry);
            }

            table = ((value >> 10) & ((1UL << 44) - 1)) << 12;
        }

        return table + ((id & ((1UL << leafBits) - 1)) * dcSize);
    }

    private GeneratedDevice WriteDevice(uint id, ulong dc)
    {
        int gs = _rng.Next(3) == 0 ? 0 : RandomGMode();
        bool pdtv = _rng.Next(3) == 0 && (Cap(38) || Cap(39) || Cap(40));
        int fs = pdtv ? 0 : _rng.Next(4) == 0 ? 0 : RandomFsMode();
        var device = new GeneratedDevice { Id = id, Pdtv = pdtv, FsLevels = fs, GsLevels = gs, DcAddress = dc };
        ulong gRoot = 0;
        if (gs != 0)
        {
            gRoot = AllocBlock();
            // The structures live at GPA = SPA: one 1 GiB leaf covers the memory, so the first stage's tables and
            // the PDT resolve through the G-stage.
            MapLeaf(gRoot, gs, gStage: true, Base & ~((1UL << 30) - 1), Base & ~((1UL << 30) - 1), 2, 0xDF, device.Gs);
            int extra = _rng.Next(5);
            for (int i = 0; i < extra; i++)
            {
                int level = RandomLevel();
                ulong size = 1UL << (12 + (9 * level));
                ulong gpa = (ulong)_rng.NextInt64(1L << Math.Min(40, 39 + ((gs - 3) * 9))) & ~(size - 1);
                ulong spa = (ulong)_rng.NextInt64(1L << 50) & ~(size - 1);
                MapLeaf(gRoot, gs, gStage: true, gpa, spa, level, RandomLeafFlags(gStage: true), device.Gs, pdtv ? null : device);
            }
        }

        ulong tc = 1;
        if (_rng.Next(4) == 0)
        {
            tc |= 1UL << 4;    // DTF
        }

        if (Cap(24) && _rng.Next(2) == 0)
        {
            tc |= (1UL << 7) | (1UL << 8); // GADE, SADE
        }

        if (Cap(25) && _rng.Next(2) == 0)
        {
            tc |= 1UL << 1;    // EN_ATS
            if (Cap(26) && gs != 0 && _rng.Next(2) == 0)
            {
                tc |= 1UL << 3; // T2GPA
            }
        }

        ulong gscid = gs == 0 ? 0 : UniqueId(1UL << 40, 1 << 16);
        ulong iohgatp = gs == 0 ? 0 : ((ulong)(gs + 5) << 60) | (gscid << 44) | (gRoot >> 12);
        ulong pscid = UniqueId(0, 1 << 20);
        ulong ta = pscid << 12;
        device.Gscid = (ushort)gscid;
        device.Pscid = (uint)pscid;
        ulong fsc;
        if (pdtv)
        {
            if (_rng.Next(2) == 0)
            {
                tc |= 1UL << 9; // DPE
            }

            tc |= 1UL << 5;     // PDTV
            int pdMode = RandomPdMode();
            ulong pdtRoot = AllocPage();
            fsc = ((ulong)pdMode << 60) | (pdtRoot >> 12);
            int processes = 1 + _rng.Next(3);
            for (int i = 0; i < processes; i++)
            {
                uint pid = (uint)(_rng.Next(2) == 0 ? _rng.Next(4) : _rng.Next(1 << (pdMode == 1 ? 8 : pdMode == 2 ? 17 : 20)));
                if (device.ProcessIds.Contains(pid) || _nextPage > Pages - 12)
                {
                    continue;
                }

                ulong pc = LocatePc(pdtRoot, pdMode, pid);
                int pfs = RandomFsMode();
                ulong fsRoot = AllocPage();
                BuildFirstStage(fsRoot, pfs, gs, device, record: false);
                Write(pc, 1 | (_rng.Next(2) == 0 ? 2UL : 0) | (_rng.Next(2) == 0 ? 4UL : 0) | ((ulong)_rng.Next(1 << 20) << 12));
                Write(pc + 8, ((ulong)(pfs + 5) << 60) | (fsRoot >> 12));
                device.ProcessIds.Add(pid);
            }
        }
        else if (fs != 0)
        {
            ulong fsRoot = AllocPage();
            BuildFirstStage(fsRoot, fs, gs, device, record: true, gRoot);
            fsc = ((ulong)(fs + 5) << 60) | (fsRoot >> 12);
        }
        else
        {
            fsc = 0;
        }

        Write(dc, tc);
        Write(dc + 8, iohgatp);
        Write(dc + 16, ta);
        Write(dc + 24, fsc);
        if (ExtendedDc && gs != 0 && _rng.Next(3) == 0)
        {
            // MSI address translation: a flat MSI page table of 256 entries, basic-translate PTEs (M = 3) mostly,
            // some MRIF (M = 1, reported as misconfigured by the model) or invalid; a window of 2^k interrupt files.
            ulong msiPt = AllocPage();
            for (int i = 0; i < 256; i++)
            {
                ulong pte = _rng.Next(8) switch
                {
                    0 => 0,
                    1 => 1 | (1UL << 1) | ((ulong)_rng.NextInt64(1L << 44) << 10),
                    _ => 1 | (3UL << 1) | ((ulong)_rng.NextInt64(1L << 30) << 10),
                };
                _memory.Qword(msiPt + ((ulong)i * 16)) = pte;
            }

            device.Msi = true;
            device.MsiMask = (1UL << _rng.Next(9)) - 1;
            device.MsiPattern = ((ulong)_rng.NextInt64(1L << 28) << 0) & ~device.MsiMask;
            Write(dc + 32, (1UL << 60) | (msiPt >> 12)); // msiptp Flat
            Write(dc + 40, device.MsiMask);
            Write(dc + 48, device.MsiPattern);
        }
        else if (ExtendedDc)
        {
            Write(dc + 32, 0); // msiptp Off
            Write(dc + 40, 0);
            Write(dc + 48, 0);
        }

        return device;
    }

    private ulong UniqueId(ulong space, int range)
    {
        while (true)
        {
            ulong id = (ulong)_rng.Next(range);
            if (_ids.Add(space | id))
            {
                return id;
            }
        }
    }

    private ulong LocatePc(ulong root, int pdMode, uint pid)
    {
        ulong table = root;
        for (int level = pdMode - 1; level > 0; level--)
        {
            int shift = 8 + ((level - 1) * 9);
            ulong index = (pid >> shift) & 0x1FF;
            ulong entry = table + (index * 8);
            ulong value = _memory.Qword(entry);
            if ((value & 1) == 0)
            {
                ulong next = AllocPage();
                value = ((next >> 12) << 10) | 1;
                Write(entry, value);
                _pointers.Add(entry);
            }

            table = ((value >> 10) & ((1UL << 44) - 1)) << 12;
        }

        return table + ((pid & 0xFF) * 16);
    }

    private int RandomGMode()
    {
        // levels: Sv39x4 3, Sv48x4 4, Sv57x4 5
        List<int> modes = [3];
        if (Cap(18)) { modes.Add(4); }
        if (Cap(19)) { modes.Add(5); }
        return modes[_rng.Next(modes.Count)];
    }

    private int RandomFsMode()
    {
        List<int> modes = [3];
        if (Cap(10)) { modes.Add(4); }
        if (Cap(11)) { modes.Add(5); }
        return modes[_rng.Next(modes.Count)];
    }

    private int RandomPdMode()
    {
        List<int> modes = [];
        if (Cap(38)) { modes.Add(1); }
        if (Cap(39)) { modes.Add(2); }
        if (Cap(40)) { modes.Add(3); }
        return modes[_rng.Next(modes.Count)];
    }

    private int RandomLevel() => _rng.Next(8) switch { < 5 => 0, < 7 => 1, _ => 2 };

    private ulong RandomLeafFlags(bool gStage)
    {
        ulong flags = 1 | (LegalRwx[_rng.Next(LegalRwx.Length)]) | LeafA | LeafD;
        if (gStage || _rng.Next(4) != 0)
        {
            flags |= LeafU;
        }

        if (!gStage && _rng.Next(4) == 0)
        {
            flags |= LeafG;
        }

        return flags;
    }

    // ------------------------------------------------------------------------------------------------ page tables

    private void BuildFirstStage(ulong root, int levels, int gsLevels, GeneratedDevice device, bool record, ulong gRoot = 0)
    {
        int maps = 1 + _rng.Next(6);
        var sink = record ? device.Fs : [];
        for (int i = 0; i < maps && _nextPage < Pages - 6; i++)
        {
            int level = RandomLevel();
            ulong size = 1UL << (12 + (9 * level));
            int vaBits = 12 + (9 * levels);
            ulong va = (ulong)_rng.NextInt64(1L << (vaBits - 1)) & ~(size - 1);
            ulong target;
            if (gsLevels != 0 && gRoot != 0 && level > 0 && _rng.Next(2) == 0)
            {
                // A first-stage superpage over 4 KiB G-stage pages (its first four): cached in pieces.
                target = ((ulong)_rng.NextInt64(1L << 39) & ~(size - 1)) | (1UL << 39);
                for (ulong p = 0; p < 4; p++)
                {
                    MapLeaf(gRoot, gsLevels, gStage: true, target + (p << 12), (ulong)_rng.NextInt64(1L << 40) & ~0xFFFUL, 0,
                        RandomLeafFlags(gStage: true), device.Gs, record ? device : null);
                }
            }
            else if (gsLevels != 0 && device.Gs.Count > 1 && _rng.Next(3) != 0)
            {
                // Into a G-stage mapping, so the two stages compose to a success.
                GeneratedMapping g = device.Gs[1 + _rng.Next(device.Gs.Count - 1)];
                target = (g.Va + ((ulong)_rng.NextInt64((long)Math.Max(g.Size / size, 1)) * size)) & ~(size - 1);
            }
            else
            {
                target = (ulong)_rng.NextInt64(1L << 40) & ~(size - 1);
            }

            MapLeaf(root, levels, gStage: false, va, target, level, RandomLeafFlags(gStage: false), sink, record ? device : null);
        }
    }

    /// <summary>Maps one leaf of <paramref name="level"/>; skipped (false) where a leaf or a table is in the way.</summary>
    private bool MapLeaf(ulong root, int levels, bool gStage, ulong va, ulong pa, int level, ulong flags, List<GeneratedMapping> record,
        GeneratedDevice? owner = null)
    {
        ulong table = root;
        for (int l = levels - 1; l >= level; l--)
        {
            ulong indexMask = gStage && l == levels - 1 ? 0x7FFUL : 0x1FFUL;
            ulong entry = table + (((va >> (12 + (9 * l))) & indexMask) * 8);
            ulong value = _memory.Qword(entry);
            if (l == level)
            {
                if (value != 0)
                {
                    return false;
                }

                Write(entry, ((pa >> 12) << 10) | flags);
                record.Add(new GeneratedMapping(va, 1UL << (12 + (9 * level)), pa, flags));
                owner?.Leaves.Add(new GeneratedLeaf(entry, gStage, va, 1UL << (12 + (9 * level)), flags));
                return true;
            }

            if (value == 0)
            {
                if (_nextPage >= Pages)
                {
                    return false;
                }

                ulong next = AllocPage();
                value = ((next >> 12) << 10) | 1;
                Write(entry, value);
                _pointers.Add(entry);
            }
            else if ((value & 0xE) != 0)
            {
                return false; // a leaf above
            }

            table = ((value >> 10) & ((1UL << 44) - 1)) << 12;
        }

        return false;
    }

    // ------------------------------------------------------------------------------------------------ mutation

    private void Mutate()
    {
        int kind = _rng.Next(8);
        if (kind == 7 || _structure.Count == 0)
        {
            // ddtp itself: a reserved mode, a pointer outside memory, a random bit.
            Ddtp = _rng.Next(3) switch
            {
                0 => (Ddtp & ~0xFUL) | (uint)_rng.Next(16),
                1 => (Ddtp & 0xF) | ((ulong)_rng.NextInt64(1L << 44) << 10),
                _ => Ddtp ^ (1UL << _rng.Next(64)),
            };
            return;
        }

        ulong at = kind == 5 && _pointers.Count > 0 ? _pointers[_rng.Next(_pointers.Count)] : _structure[_rng.Next(_structure.Count)];
        ulong value = _memory.Qword(at);
        value = kind switch
        {
            0 => value ^ (1UL << _rng.Next(64)),                                          // any one bit
            1 => value | (1UL << (54 + _rng.Next(10))),                                    // a reserved / PBMT / N bit
            2 => (value & ~(0xFUL << 60)) | ((ulong)_rng.Next(16) << 60),                  // a bad mode
            3 => value + ((ulong)(1 + _rng.Next(3)) << 10),                                // a misaligned root / pointer
            4 => (value & 0x3FF) | ((ulong)_rng.NextInt64(1L << 44) << 10),               // a pointer outside memory
            5 => (value & 0x3FF) | (((at & ~0xFFFUL) >> 12) << 10),                        // a loop: points at its own table
            _ => (ulong)_rng.NextInt64() ^ ((ulong)_rng.NextInt64() << 1),                 // a random qword
        };
        _memory.Qword(at) = value;
    }

    private void WriteGarbage()
    {
        int pages = 1 + _rng.Next(Pages);
        for (int p = 0; p < pages; p++)
        {
            ulong page = Base + ((ulong)_rng.Next(Pages) * 4096);
            int words = _rng.Next(2) == 0 ? 512 : _rng.Next(64);
            for (int w = 0; w < words; w++)
            {
                ulong v = (ulong)_rng.NextInt64() ^ ((ulong)_rng.NextInt64() << 1);
                // Half the words look like entries that point back into the memory, so garbage walks go deep.
                if (_rng.Next(2) == 0)
                {
                    v = (v & 0xFFC0_0000_0000_03FFUL) | ((Base + ((ulong)_rng.Next(Pages) * 4096)) >> 12 << 10);
                }

                _memory.Qword(page + ((ulong)_rng.Next(512) * 8)) = v;
            }
        }

        Ddtp = _rng.Next(4) == 0
            ? (ulong)_rng.NextInt64() ^ ((ulong)_rng.NextInt64() << 1)
            : ((Base + ((ulong)_rng.Next(Pages) * 4096)) >> 12 << 10) | (uint)_rng.Next(16);
    }

    // ------------------------------------------------------------------------------------------------ memory

    private ulong AllocPage()
    {
        if (_nextPage >= Pages)
        {
            Overflowed = true;
            return Base + ((ulong)(Pages - 1) * 4096); // out of pages: share the last one (an almost-valid overlap)
        }

        return Base + ((ulong)_nextPage++ * 4096);
    }

    /// <summary>A 16 KiB-aligned 16 KiB block (a G-stage root).</summary>
    private ulong AllocBlock()
    {
        _nextPage = (_nextPage + 3) & ~3;
        if (_nextPage + 4 > Pages)
        {
            Overflowed = true;
            return Base;
        }

        ulong block = Base + ((ulong)_nextPage * 4096);
        _nextPage += 4;
        return block;
    }

    private void Write(ulong pa, ulong value)
    {
        _memory.Qword(pa) = value;
        _structure.Add(pa);
    }
}
