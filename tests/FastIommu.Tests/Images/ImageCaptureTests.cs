using System.Text.Json;
using FastIommu.Formats.RiscV;
using FastIommu.Images;

namespace FastIommu.Tests.Images;

/// <summary>What an image holds, the other sources (a flat memory dump), and the DOT and JSON renderings.</summary>
public class ImageCaptureTests
{
    [Test]
    public void An_image_holds_the_structure_pages_and_the_queues_not_guest_data()
    {
        using var s = GoldenScenarios.Build("one-level-base");
        ulong data = s.Allocator.AllocatePage(); // a page no structure points at
        s.Memory.Qword(data) = 0xDA7A;
        ulong cq = s.Allocator.AllocateBlock();  // 16 KiB: 1024 commands
        ulong fq = s.Allocator.AllocatePage();
        var image = s.Capture(QueueBase.Create(cq, 10), QueueBase.Create(fq, 7));
        var pages = Enumerable.Range(0, image.Memory.PageCount).Select(image.Memory.PageAddress).ToList();

        Assert.That(pages, Does.Not.Contain(data), "guest data is not part of the image");
        Assert.That(pages, Does.Contain(s.DdtRoot), "the DDT root is");
        Assert.That(pages, Is.SupersetOf(new[] { cq, cq + 0x1000, cq + 0x2000, cq + 0x3000, fq }), "the queues given are");
        Assert.That(pages, Is.Ordered, "pages ascend");
        Assert.That(image.Memory.TryWrite64(s.DdtRoot, 1), Is.False, "a loaded image is read-only");
    }

    [Test]
    public void A_device_capture_takes_its_registers_and_queues()
    {
        using var s = GoldenScenarios.Build("one-level-base");
        var iommu = new FastIommu.Hardware.RiscVIommu(s.Memory, s.Caps);
        ulong cq = s.Allocator.AllocatePage(), fq = s.Allocator.AllocatePage(), pq = s.Allocator.AllocatePage();
        iommu.Write64(RegisterOffsets.Cqb, QueueBase.Create(cq, 8).Value);
        iommu.Write64(RegisterOffsets.Fqb, QueueBase.Create(fq, 7).Value);
        iommu.Write64(RegisterOffsets.Pqb, QueueBase.Create(pq, 8).Value);
        iommu.Write64(RegisterOffsets.Ddtp, s.Ddtp.Value);
        var image = TableImage.Capture(iommu, new FastIommu.Hardware.PhysicalMemoryAccess(s.Memory));
        var pages = Enumerable.Range(0, image.Memory.PageCount).Select(image.Memory.PageAddress).ToList();
        Assert.That(image.Ddtp, Is.EqualTo(s.Ddtp), "ddtp as the device holds it");
        Assert.That(pages, Is.SupersetOf(new[] { cq, fq, pq }), "the three queues");
        Assert.That(pages.Count, Is.EqualTo(s.Capture().Memory.PageCount + 3), "and the same structure pages");
    }

    [Test]
    public void A_flat_memory_dump_at_its_base_decodes_like_the_image()
    {
        using var s = GoldenScenarios.Build("two-stage");
        byte[] flat = s.Memory.GetSpan(ImageScenario.Base, (int)s.Memory.Size).ToArray();
        var raw = SparseMemory.FromFlat(flat, ImageScenario.Base);
        string fromRaw = TextDump.ToText(IommuDecoder.Decode(raw, s.Ddtp, s.Caps));
        string fromImage = TextDump.ToText(IommuDecoder.Decode(s.Capture()));
        Assert.That(fromRaw, Is.EqualTo(fromImage), "the same structures, whether from a raw guest dump or an image");
    }

    [Test]
    public void The_json_dump_has_one_object_per_device_and_per_range()
    {
        using var s = GoldenScenarios.Build("one-level-base");
        var decoded = IommuDecoder.Decode(s.Capture());
        using var json = JsonDocument.Parse(JsonDump.ToJson(decoded));
        var devices = json.RootElement.GetProperty("devices");
        Assert.That(devices.GetArrayLength(), Is.EqualTo(4), "devices 3, 5, 7, 9");
        var dev3 = devices[0];
        Assert.That(dev3.GetProperty("device_id").GetUInt32(), Is.EqualTo(3u));
        var ranges = dev3.GetProperty("first_stage").GetProperty("ranges");
        Assert.That(ranges.GetArrayLength(), Is.EqualTo(6), "the six coalesced ranges of the text dump");
        Assert.That(ranges[0].GetProperty("input").GetString(), Is.EqualTo("0x10000000"));
        Assert.That(ranges[0].GetProperty("size").GetUInt64(), Is.EqualTo(0x4000UL), "four 4 KiB pages coalesced");
        Assert.That(devices[2].GetProperty("misconfiguration").GetString(), Is.EqualTo("ReservedBits"), "device 7 is flagged");
        Assert.That(devices[3].GetProperty("first_stage").GetProperty("findings").GetArrayLength(), Is.EqualTo(4),
            "device 9's four refused entries");
    }

    [Test]
    public void The_dot_dump_is_a_digraph_with_a_node_per_device_and_table()
    {
        using var s = GoldenScenarios.Build("two-stage");
        string dot = DotDump.ToDot(IommuDecoder.Decode(s.Capture()));
        Assert.That(dot, Does.StartWith("digraph iommu {"));
        Assert.That(dot, Does.Contain("\"dc_1\" -> \"dc_1_fs\"").And.Contain("\"dc_1_fs\" -> \"dc_1_g\" [style=dashed, label=\"nested\"]"),
            "the nested first stage points at its G-stage");
        Assert.That(dot.TrimEnd(), Does.EndWith("}"));
    }

    [Test]
    public void A_misconfigured_ddt_entry_is_flagged_with_cause_259()
    {
        using var s = new ImageScenario(DdtpMode.TwoLevel, ImageScenario.FullCaps);
        s.SetDc(0x80, ImageScenario.Dc(0));
        s.Memory.Qword(s.DdtRoot + 8) |= 1UL << 60; // DDI[1] = 1: a reserved bit of the non-leaf entry
        var decoded = IommuDecoder.Decode(s.Capture());
        Assert.That(decoded.Devices, Is.Empty, "the hardware never reaches the DC below a misconfigured entry");
        Assert.That(decoded.Findings.Select(f => f.Cause), Is.EqualTo(new[] { FaultCause.DdtEntryMisconfigured }));
    }

    [Test]
    public void A_flat_msi_page_table_is_part_of_the_image_and_the_dump()
    {
        using var s = new ImageScenario(DdtpMode.OneLevel, ImageScenario.ExtendedCaps);
        ulong msiPt = s.Allocator.AllocatePage();
        s.Memory.Qword(msiPt + 16) = 0x7 | (0x9000_0UL << 10); // entry 1: V, M = 3 (basic), PPN
        var dc = new ExtendedDeviceContext(ImageScenario.Dc(0))
            .WithMsiptp(new Msiptp(0).WithMode(MsiptpMode.Flat).WithPpn(msiPt >> 12)).WithMsiAddrMask(0x3).WithMsiAddrPattern(0x2_8000);
        s.SetDc(4, dc);
        var image = s.Capture();
        var pages = Enumerable.Range(0, image.Memory.PageCount).Select(image.Memory.PageAddress).ToList();
        Assert.That(pages, Does.Contain(msiPt), "the MSI page table is an IOMMU structure");
        string text = TextDump.ToText(IommuDecoder.Decode(image));
        Assert.That(text, Does.Contain($"MSI page table (flat) at 0x{msiPt:x}: 4 entries, 1 valid"), text);
    }
}

/// <summary>Untrusted memory (a raw guest dump) cannot make the decoder loop or blow up.</summary>
public class DecoderRobustnessTests
{
    [Test]
    public void A_table_whose_every_entry_points_at_one_table_is_walked_once()
    {
        using var s = new ImageScenario(DdtpMode.OneLevel, ImageScenario.FullCaps);
        ulong root = s.Allocator.AllocatePage();
        ulong mid = s.Allocator.AllocatePage();
        // Sv57: root -> 512 x mid, mid -> 512 x mid (itself) at every lower level: 512^4 paths if followed blindly.
        for (int i = 0; i < 512; i++)
        {
            s.Memory.Qword(root + ((ulong)i * 8)) = Pte.Table(mid).Value;
            s.Memory.Qword(mid + ((ulong)i * 8)) = Pte.Table(mid).Value;
        }

        s.SetDc(1, ImageScenario.Dc(new Iosatp(0).WithMode(Iosatp.ModeSv57).WithPpn(root >> 12).Value));
        var decoded = IommuDecoder.Decode(s.Capture());
        var table = decoded.Devices[0].FirstStage!;
        Assert.That(table.TablePages, Is.LessThanOrEqualTo(5), "each (page, level) is walked once");
        Assert.That(table.Findings.Count + table.FindingsOmitted, Is.GreaterThan(0), "the aliasing is reported");
    }

    [Test]
    public void A_ddt_whose_entries_all_point_at_one_leaf_is_walked_once()
    {
        using var s = new ImageScenario(DdtpMode.TwoLevel, ImageScenario.FullCaps);
        s.SetDc(0, ImageScenario.Dc(0));
        ulong leaf = new NonLeafEntry(s.Memory.Qword(s.DdtRoot)).TableAddress;
        for (int i = 1; i < 512; i++)
        {
            s.Memory.Qword(s.DdtRoot + ((ulong)i * 8)) = NonLeafEntry.Pointing(leaf).Value;
        }

        var decoded = IommuDecoder.Decode(s.Capture());
        Assert.That(decoded.Devices, Has.Count.EqualTo(1), "device 0 is listed once, not under each alias");
        Assert.That(decoded.Findings, Has.Count.EqualTo(511), "each extra link is reported");
    }
}
