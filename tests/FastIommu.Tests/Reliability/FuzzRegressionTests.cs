using System.Globalization;
using System.Text;
using FastIommu.Cli.Translate;
using FastIommu.Formats.RiscV;
using FastIommu.Hardware;
using FastIommu.Images;
using FastIommu.Memory;
using FastIommu.Tests.Images;

namespace FastIommu.Tests.Reliability;

/// <summary>What the randomized targets found, each as the smallest hand-built case (the seed that found it in the
/// comment).</summary>
public class FuzzRegressionTests
{
    private const ulong Base = 0x8000_0000;
    private const ulong GRoot = Base + 0x4000;
    private const ulong MsiTable = Base + 0x8000;
    private const ulong MsiGpa = 0xBAD0_0000;          // the MSI window: one page inside the G-stage's 1 GiB leaf
    private const ulong MsiTarget = 0x1234_5000;      // what msipte[0] translates it to
    // version 1.0, Sv39, Sv39x4, MSI_FLAT (extended DCs), PAS 56.
    private const ulong Caps = 0x10 | (1UL << 9) | (1UL << 17) | (1UL << 22) | (56UL << 32);

    /// <summary>Device 1 (extended DC at Base + 64): first stage Bare, G-stage Sv39x4 with one 1 GiB leaf mapping
    /// GPA 0x8000_0000.. to itself, msiptp Flat with the window at GPA 0xBAD0_0000 (mask 0).</summary>
    private static PhysicalMemory MsiBed()
    {
        var memory = PhysicalMemory.Allocate(0x10_0000, Base);
        memory.Qword(Base + 64) = 1;                                              // tc: V
        memory.Qword(Base + 64 + 8) = (8UL << 60) | (1UL << 44) | (GRoot >> 12); // iohgatp: Sv39x4, GSCID 1
        memory.Qword(Base + 64 + 32) = (1UL << 60) | (MsiTable >> 12);           // msiptp: Flat
        memory.Qword(Base + 64 + 40) = 0;                                        // msi_addr_mask
        memory.Qword(Base + 64 + 48) = MsiGpa >> 12;                             // msi_addr_pattern
        memory.Qword(GRoot + (2 * 8)) = ((Base >> 12) << 10) | 0xDF;             // 1 GiB leaf, V R W X U A D
        memory.Qword(MsiTable) = 1 | (3UL << 1) | ((MsiTarget >> 12) << 10);     // msipte: V, M = 3 (basic)
        return memory;
    }

    [Test]
    public void A_superpage_that_holds_the_msi_window_is_not_cached_over_it()
    {
        // Found by TranslationFuzzTests, seed 1592594057: "cached PA 0xbad95c44 size 0x40000000 RWX, uncached fault
        // cause 1" (an execute to an MSI address, which is cause 1, served by the IOTLB entry of a 1 GiB G-stage leaf
        // that an earlier request to another page of that GiB had filled). Step 18 applies per 4 KiB GPA page, and
        // the IOTLB was looked up before it: any translation whose range held the window's pages bypassed the MSI
        // page table once cached.
        using PhysicalMemory memory = MsiBed();
        var cached = new IommuTranslator(memory, new Capabilities(Caps)) { Ddtp = new Ddtp(((Base >> 12) << 10) | 2) };
        var uncached = new IommuTranslator(memory, new Capabilities(Caps), TranslatorCacheOptions.Uncached) { Ddtp = cached.Ddtp };
        TranslationResult plain = cached.Translate(new TranslationRequest(1, Base + 0x1000, AccessType.Read));
        TranslationResult msi = cached.Translate(new TranslationRequest(1, MsiGpa + 0x10, AccessType.Write));
        TranslationResult execute = cached.Translate(new TranslationRequest(1, MsiGpa + 0x10, AccessType.Execute));
        Assert.Multiple(() =>
        {
            Assert.That(plain.Success && plain.PhysicalAddress == Base + 0x1000, Is.True, $"an ordinary page of the GiB: {plain}");
            Assert.That(plain.PageSize, Is.EqualTo(0x1000UL),
                "the GiB holds a page of the MSI window, which this translation does not cover: it reports (and caches) its 4 KiB page only");
            Assert.That(msi.PhysicalAddress, Is.EqualTo(MsiTarget + 0x10), $"a write to the window goes through the MSI page table: {msi}");
            Assert.That(execute.Cause, Is.EqualTo(FaultCause.InstructionAccessFault), $"an execute in the window is cause 1: {execute}");
            Assert.That(uncached.Translate(new TranslationRequest(1, Base + 0x1000, AccessType.Read)).PageSize, Is.EqualTo(plain.PageSize),
                "the walk and the cache agree on the size");
        });
    }

    [Test]
    public void A_superpage_away_from_the_msi_window_keeps_its_size()
    {
        using PhysicalMemory memory = MsiBed();
        memory.Qword(GRoot + (3 * 8)) = ((0xC000_0000UL >> 12) << 10) | 0xDF;   // GPA 3-4 GiB: another 1 GiB leaf
        var translator = new IommuTranslator(memory, new Capabilities(Caps)) { Ddtp = new Ddtp(((Base >> 12) << 10) | 2) };
        TranslationResult r = translator.Translate(new TranslationRequest(1, 0xC000_1000, AccessType.Read));
        Assert.That(r.PageSize, Is.EqualTo(1UL << 30), $"no page of this GiB is in the window: {r}");
    }

    [Test]
    public void A_capture_keeps_the_G_stage_pages_a_nested_first_stage_is_found_through_when_the_G_stage_root_is_incomplete()
    {
        // Found by ImageFuzzTests, seed 3001146 ("delete 46": a page of a 16 KiB Sv39x4 root left out of the image):
        // "the image captured from the read image's 66 structure pages decodes differently: structure pages 66 ...,
        // captured structure pages 43". The decoder read a table whole or not at all, so it walked none of a G-stage
        // whose root missed one page, and recorded none of its pages; yet it found the nested first stage's tables
        // through that G-stage entry by entry, as the hardware does. Capture kept the first-stage tables and dropped
        // the G-stage pages that lead to them (and to the data): the captured image faulted (cause 5) where the image
        // translated. Now the root is read page by page (a missing page is a finding, its entries access faults), and
        // the G-stage pages a table address is resolved through are structure pages.
        using var scenario = GoldenScenarios.Build("two-stage");
        TableImage whole = scenario.Capture();
        ulong gRoot = IommuDecoder.Decode(whole).Devices.Single(d => d.DeviceId == 1).Context.Iohgatp.RootAddress;
        var pages = new List<(ulong, byte[])>();
        for (int i = 0; i < whole.Memory.PageCount; i++)
        {
            if (whole.Memory.PageAddress(i) != gRoot + 0x3000) // the root's last page: no entry the scenario uses
            {
                pages.Add((whole.Memory.PageAddress(i), whole.Memory.PageBytes(i).ToArray()));
            }
        }

        var damaged = new TableImage(whole.Ddtp, whole.Capabilities, whole.Fctl, SparseMemory.FromPages(pages));
        string text = TextDump.ToText(IommuDecoder.Decode(damaged));
        TableImage captured = TableImage.Capture(damaged.Memory, damaged.Ddtp, damaged.Capabilities, damaged.Fctl);
        var request = new TranslationRequest(1, 0x1000_0010, AccessType.Read);
        TranslationResult before = damaged.CreateTranslator(TranslatorCacheOptions.Uncached).Translate(in request);
        TranslationResult after = captured.CreateTranslator(TranslatorCacheOptions.Uncached).Translate(in request);
        Assert.Multiple(() =>
        {
            Assert.That(captured.Memory.IndexOf(gRoot), Is.GreaterThanOrEqualTo(0), "the root page the first stage is found through is captured");
            Assert.That(TextDump.ToText(IommuDecoder.Decode(captured)), Is.EqualTo(text), "the capture decodes as the image it was taken from");
            Assert.That(after.PhysicalAddress, Is.EqualTo(before.PhysicalAddress), $"and translates the same: {before} vs {after}");
            Assert.That(before.Success, Is.True, $"the hardware translates through the incomplete root: {before}");
            Assert.That(text, Does.Contain("1 of its 4 pages are not in memory"), "the dump says what is missing");
        });
    }

    [Test]
    public void A_query_line_with_a_device_id_wider_than_24_bits_is_a_bad_line_and_the_next_lines_run()
    {
        // Found by QueryParserFuzzTests, seed 917505: "System.ArgumentOutOfRangeException: device_id 0x1982f6e2 is
        // wider than 24 bits" escaped the query loop (the parser took any 32-bit DEVICE_ID, TranslationRequest refuses
        // more than 24), so `fastiommu translate` stopped at that line with no line number instead of reporting it
        // and running the rest.
        using var memory = PhysicalMemory.Allocate(1 << 16, Base);
        var translator = new IommuTranslator(memory, Capabilities.FullRv64) { Ddtp = new Ddtp(1) }; // Bare
        var errors = new StringWriter(CultureInfo.InvariantCulture);
        var output = new MemoryStream();
        var runner = new QueryRunner(translator, errors);
        runner.Run(new MemoryStream("0x1000000 - 0x1000 r\n0xffffff - 0x2000 w\n"u8.ToArray()), output);
        Assert.Multiple(() =>
        {
            Assert.That(errors.ToString(), Is.EqualTo("fastiommu translate: line 1: DEVICE_ID is wider than 24 bits (at most 0xffffff)" + Environment.NewLine),
                "the line is reported with its number");
            Assert.That(Encoding.UTF8.GetString(output.ToArray()), Does.StartWith("{\"device\":16777215,\"pasid\":null,\"iova\":\"0x2000\""),
                "the next line (the widest device_id) still runs");
            Assert.That(QueryRunner.Parse("16777216 - 0 r"u8, out _, out string? error), Is.EqualTo(LineKind.Malformed), error);
        });
    }

    [Test]
    public void A_table_that_many_process_contexts_point_at_is_decoded_once()
    {
        // Found while writing ImageFuzzTests (by reading the decoder, then measured; random mutation does not build
        // this): one DC with a PD8 whose 256 PCs all point at one Sv39 table of n level-0 pages of alternating R/RW
        // leaves. Each PC's table was walked and its ranges kept again: n = 40 (a 180,640-byte image) allocated
        // 644 MiB to decode, so a 2 MB image of this shape needed gigabytes. Now the table is decoded once and shared.
        const ulong B = 0x8000_0000;
        const int N = 8;
        var pages = new List<(ulong, byte[])>();
        var ddt = new byte[4096];
        BitConverter.TryWriteBytes(ddt.AsSpan(0), 1UL | (1UL << 5));                             // DC 0: tc V, PDTV
        BitConverter.TryWriteBytes(ddt.AsSpan(24), (1UL << 60) | ((B + 0x1000) >> 12));          // fsc: PD8 at B + 4 KiB
        pages.Add((B, ddt));
        var pdt = new byte[4096];
        for (int i = 0; i < 256; i++)
        {
            BitConverter.TryWriteBytes(pdt.AsSpan(16 * i), 1UL | ((ulong)(i + 1) << 12));         // ta: V, PSCID
            BitConverter.TryWriteBytes(pdt.AsSpan((16 * i) + 8), (8UL << 60) | ((B + 0x2000) >> 12)); // fsc: Sv39, one root
        }

        pages.Add((B + 0x1000, pdt));
        var root = new byte[4096];
        BitConverter.TryWriteBytes(root.AsSpan(0), (((B + 0x3000) >> 12) << 10) | 1);
        pages.Add((B + 0x2000, root));
        var l1 = new byte[4096];
        for (int j = 0; j < N; j++)
        {
            BitConverter.TryWriteBytes(l1.AsSpan(8 * j), (((B + 0x4000 + ((ulong)j * 0x1000)) >> 12) << 10) | 1);
        }

        pages.Add((B + 0x3000, l1));
        for (int j = 0; j < N; j++)
        {
            var l0 = new byte[4096];
            for (int k = 0; k < 512; k++)
            {
                ulong flags = Pte.V | Pte.R | Pte.A | Pte.U | ((k & 1) != 0 ? Pte.W | Pte.D : 0);   // R and RW alternate: no coalescing
                BitConverter.TryWriteBytes(l0.AsSpan(8 * k), (((0x1_0000_0000UL + ((ulong)k * 0x1000)) >> 12) << 10) | flags);
            }

            pages.Add((B + 0x4000 + ((ulong)j * 0x1000), l0));
        }

        var image = new TableImage(new Ddtp(((B >> 12) << 10) | 2), Capabilities.FullRv64, default, SparseMemory.FromPages(pages));
        long before = GC.GetAllocatedBytesForCurrentThread();
        DecodedIommu decoded = IommuDecoder.Decode(image);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        var processes = decoded.Devices.Single().Processes;
        Assert.Multiple(() =>
        {
            Assert.That(processes, Has.Count.EqualTo(256), "every PC is decoded");
            Assert.That(processes.All(p => p.FirstStage!.Ranges.Count == N * 512), Is.True, "each lists the table's every leaf");
            Assert.That(processes.All(p => ReferenceEquals(p.FirstStage, processes[0].FirstStage)), Is.True, "one decoded table, shared");
            Assert.That(allocated, Is.LessThan(8L << 20),
                $"decoding a {image.SizeInBytes}-byte image allocates about one table's worth, not 256 ({allocated} bytes)");
        });
    }
}
