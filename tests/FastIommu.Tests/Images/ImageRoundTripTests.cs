using FastIommu.Formats.RiscV;
using FastIommu.Hardware;
using FastIommu.Images;
using FastIommu.PageTables;

namespace FastIommu.Tests.Images;

/// <summary>
/// Seeded random scenarios: build -> image -> load, then the dump decoded from the loaded bytes and the hardware model
/// translating from them must agree with the engine that built them (PageTable.IovaToPhys and the translator on the
/// original memory), mapping for mapping.
/// </summary>
public class ImageRoundTripTests
{
    private const ulong GuestRam = 0x4000_0000;       // GPA of the nested devices' guest RAM
    private const ulong GuestRamSpa = 0x10_0000_0000; // where the G-stage puts it
    private const ulong GuestRamSize = 0x400_0000;

    private sealed record Device(uint Id, int Kind, ulong[] Roots, uint[] ProcessIds);

    [TestCase(1), TestCase(2), TestCase(3), TestCase(4), TestCase(5), TestCase(6), TestCase(7), TestCase(8), TestCase(9), TestCase(10), TestCase(11), TestCase(12)]
    [TestCase(21, 1), TestCase(22, 2), TestCase(23, 3), TestCase(24, 4)]
    public void Dump_and_translation_from_the_image_agree_with_the_engine_that_built_it(int seed, int onlyKind = -1)
    {
        var random = new Random(seed);
        var mode = (DdtpMode)random.Next((int)DdtpMode.OneLevel, (int)DdtpMode.ThreeLevel + 1);
        var caps = random.Next(2) == 0 ? ImageScenario.FullCaps : ImageScenario.ExtendedCaps;
        using var s = new ImageScenario(mode, caps, 16 << 20, guestSize: 4 << 20);
        var devices = Build(s, random, onlyKind);

        byte[] bytes = s.Capture().ToArray();
        var image = TableImage.Read(bytes);
        Assert.That(image.ToArray(), Is.EqualTo(bytes), "the loaded image writes back byte for byte");

        var fromImage = IommuDecoder.Decode(image);
        var fromMemory = IommuDecoder.Decode(new PhysicalMemoryAccess(s.Memory), s.Ddtp, s.Caps);
        Assert.That(TextDump.ToText(fromImage), Is.EqualTo(TextDump.ToText(fromMemory)),
            "the image holds every page the structures occupy: decoding it equals decoding the live memory");
        Assert.That(fromImage.AllFindings(), Is.Empty,
            "a driver-built scenario has nothing the hardware would refuse");
        Assert.That(fromImage.Devices.Select(d => d.DeviceId), Is.EqualTo(devices.Select(d => d.Id).Order()),
            "every device built, and only those, is decoded");

        // Every mapping the builder made is in the decoded ranges of its table, and nothing else is.
        var tables = AllTables(fromImage).ToLookup(t => t.Root);
        foreach (var group in s.Mappings.GroupBy(m => m.Root))
        {
            var table = tables[group.Key].First();
            ulong total = 0;
            foreach (var (_, input, output, size) in group)
            {
                total += size;
                foreach (ulong offset in new[] { 0UL, (size / 2) & ~0xFFFUL, size - 0x1000 })
                {
                    int k = IommuDecoder.FindRange(table.Ranges, input + offset);
                    Assert.That(k, Is.GreaterThanOrEqualTo(0), $"0x{input + offset:x} of table 0x{group.Key:x} must be decoded");
                    var r = table.Ranges[k];
                    Assert.That(r.Output + (input + offset - r.Input), Is.EqualTo(output + offset), $"decoded output of 0x{input + offset:x}");
                }
            }

            Assert.That(table.Ranges.Sum(r => (decimal)r.Size), Is.EqualTo((decimal)total),
                $"table 0x{group.Key:x} decodes exactly the bytes mapped into it");
        }

        // The hardware model on the image's bytes and on the original memory give the same translations, equal to the dump's.
        var onImage = image.CreateTranslator();
        var onMemory = s.Translator();
        int checkedCount = 0;
        foreach (var device in fromImage.Devices)
        {
            var built = devices.Single(d => d.Id == device.DeviceId);
            if (device.FirstStage is { } fs)
            {
                checkedCount += Check(onImage, onMemory, device.DeviceId, null, fs.Effective ?? fs.Ranges);
            }
            else if (device.GStage is { } g && !device.Context.Tc.Pdtv)
            {
                checkedCount += Check(onImage, onMemory, device.DeviceId, null, g.Ranges);
            }

            foreach (var process in device.Processes)
            {
                checkedCount += Check(onImage, onMemory, device.DeviceId, process.ProcessId,
                    process.FirstStage!.Effective ?? process.FirstStage.Ranges);
            }

            Assert.That(device.Processes.Select(p => p.ProcessId), Is.EqualTo(built.ProcessIds.Order()), "every process context is decoded");
        }

        Assert.That(checkedCount, Is.GreaterThan(0), "the scenario translated something");
    }

    private static int Check(IommuTranslator onImage, IommuTranslator onMemory, uint deviceId, uint? processId, List<MappingRange> ranges)
    {
        int n = 0;
        foreach (var r in ranges)
        {
            foreach (ulong offset in new[] { 0UL, (r.Size / 2) + 0x123, r.Size - 1 })
            {
                ulong iova = r.Input + offset;
                var request = processId is { } pid
                    ? new TranslationRequest(deviceId, pid, iova, AccessType.Read)
                    : new TranslationRequest(deviceId, iova, AccessType.Read);
                var a = onImage.Translate(in request);
                var b = onMemory.Translate(in request);
                Assert.That(a.Success, Is.True, $"device 0x{deviceId:x} pid {processId} iova 0x{iova:x} on the image: {a}");
                Assert.That(a.PhysicalAddress, Is.EqualTo(b.PhysicalAddress), $"image and memory agree on 0x{iova:x}");
                Assert.That(a.PhysicalAddress, Is.EqualTo(r.Output + offset), $"the dump's range gives the same PA for 0x{iova:x}");
                n++;
            }
        }

        return n;
    }

    private static IEnumerable<DecodedTable> AllTables(DecodedIommu iommu)
    {
        foreach (var d in iommu.Devices)
        {
            if (d.GStage is not null)
            {
                yield return d.GStage;
            }

            if (d.FirstStage is not null)
            {
                yield return d.FirstStage;
            }

            foreach (var p in d.Processes)
            {
                if (p.FirstStage is not null)
                {
                    yield return p.FirstStage;
                }
            }
        }
    }

    private static List<Device> Build(ImageScenario s, Random random, int onlyKind)
    {
        int idBits = DirectoryIndex.DeviceIdWidth(s.Ddtp.Levels, s.Extended);
        var ids = new SortedSet<uint>();
        int count = random.Next(1, 6);
        while (ids.Count < count)
        {
            ids.Add((uint)random.NextInt64(1L << idBits));
        }

        var devices = new List<Device>();
        foreach (uint id in ids)
        {
            int kind = onlyKind >= 0 ? onlyKind : random.Next(5);
            switch (kind)
            {
                case 0:
                {
                    ulong root = FirstStage(s, random, random.Next(3), out ulong iosatp, guest: false);
                    s.SetDc(id, ImageScenario.Dc(iosatp, pscid: id & 0xFFFFF));
                    devices.Add(new(id, kind, [root], []));
                    break;
                }

                case 1:
                {
                    var pdtMode = random.Next(2) == 0 ? PdtpMode.PD8 : PdtpMode.PD17;
                    ulong pdt = s.Allocator.AllocatePage();
                    var pids = new SortedSet<uint>();
                    int processes = random.Next(1, 4);
                    while (pids.Count < processes)
                    {
                        pids.Add((uint)random.Next(pdtMode == PdtpMode.PD8 ? 256 : 1 << 17));
                    }

                    var roots = new List<ulong>();
                    foreach (uint pid in pids)
                    {
                        roots.Add(FirstStage(s, random, random.Next(3), out ulong iosatp, guest: false));
                        s.SetPc(pdt, pdtMode, pid, ImageScenario.Pc(iosatp, pscid: pid + 1));
                    }

                    s.SetDc(id, ImageScenario.Dc(Pdtp.Create(pdtMode, pdt).Value, pdtv: true));
                    devices.Add(new(id, kind, [.. roots], [.. pids]));
                    break;
                }

                case 4:
                {
                    // A process directory under a G-stage: PDT pages and first-stage tables are walked through it.
                    var g = GuestStage(s);
                    ulong pdt = s.GuestAllocator!.AllocatePage();
                    var pids = new SortedSet<uint>();
                    while (pids.Count < 2)
                    {
                        pids.Add((uint)random.Next(1 << 20));
                    }

                    var roots = new List<ulong> { g.RootAddress };
                    foreach (uint pid in pids)
                    {
                        roots.Add(FirstStage(s, random, 0, out ulong iosatp, guest: true));
                        s.SetPc(pdt, PdtpMode.PD20, pid, ImageScenario.Pc(iosatp, pscid: pid + 1), guest: true);
                    }

                    s.SetDc(id, ImageScenario.Dc(Pdtp.Create(PdtpMode.PD20, pdt).Value, pdtv: true,
                        iohgatp: Iohgatp.Create<Sv39x4>(g.RootAddress, id & 0xFFFF)));
                    devices.Add(new(id, kind, [.. roots], [.. pids]));
                    break;
                }

                default:
                {
                    // A G-stage over the guest's memory and RAM; kind 2 adds a nested first stage built by the guest.
                    var g = GuestStage(s);
                    ulong iosatp = 0;
                    var roots = new List<ulong> { g.RootAddress };
                    if (kind == 2)
                    {
                        roots.Add(FirstStage(s, random, 0, out iosatp, guest: true));
                    }

                    s.SetDc(id, ImageScenario.Dc(iosatp, pscid: 1, iohgatp: Iohgatp.Create<Sv39x4>(g.RootAddress, id & 0xFFFF)));
                    devices.Add(new(id, kind, [.. roots], []));
                    break;
                }
            }
        }

        return devices;
    }

    /// <summary>A G-stage that maps the guest's table memory (GPA <see cref="ImageScenario.GuestTablesGpa"/>, not its
    /// SPA, so a decoder that skipped the G-stage would read the wrong pages) and its RAM.</summary>
    private static PageTable<Sv39x4> GuestStage(ImageScenario s)
    {
        var g = s.NewTable<Sv39x4>();
        s.Map(g, ImageScenario.GuestTablesGpa, s.GuestSpa, s.GuestSize);
        s.Map(g, GuestRam, GuestRamSpa, GuestRamSize);
        return g;
    }

    /// <summary>A first-stage table of mode Sv39/48/57 with random non-overlapping mappings; outputs in guest RAM when
    /// <paramref name="guest"/>.</summary>
    private static ulong FirstStage(ImageScenario s, Random random, int mode, out ulong iosatp, bool guest) => mode switch
    {
        0 => Fill(s, s.NewTable<Sv39>(guest), random, out iosatp, guest),
        1 => Fill(s, s.NewTable<Sv48>(guest), random, out iosatp, guest),
        _ => Fill(s, s.NewTable<Sv57>(guest), random, out iosatp, guest),
    };

    private static ulong Fill<TMode>(ImageScenario s, PageTable<TMode> table, Random random, out ulong iosatp, bool guest)
        where TMode : struct, IPagingMode
    {
        ulong iova = (ulong)random.Next(1, 64) << 21;
        ulong output = guest ? GuestRam : 0x20_0000_0000UL + ((ulong)random.Next(1024) << 21);
        int mappings = random.Next(1, 12);
        for (int i = 0; i < mappings; i++)
        {
            ulong size = random.Next(4) == 0 ? 0x20_0000UL : (ulong)random.Next(1, 20) << 12;
            if (size == 0x20_0000)
            {
                iova = (iova + 0x1F_FFFF) & ~0x1F_FFFFUL;
                output = (output + 0x1F_FFFF) & ~0x1F_FFFFUL;
            }

            if (guest && output + size > GuestRam + GuestRamSize)
            {
                break;
            }

            s.Map(table, iova, output, size);
            iova += size + ((ulong)random.Next(0, 3) << 12);
            output += size + ((ulong)random.Next(0, 3) << 12);
        }

        iosatp = Iosatp.Create<TMode>(table.RootAddress).Value;
        return table.RootAddress;
    }
}
