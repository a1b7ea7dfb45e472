using System.Buffers.Binary;
using System.Diagnostics;
using System.Text.Json;
using FastIommu.Formats.RiscV;
using FastIommu.Hardware;
using FastIommu.Images;
using FastIommu.Memory;
using FastIommu.Tests.Images;

namespace FastIommu.Tests.Reliability;

/// <summary>
/// Randomized input at scale against the image reader and everything that consumes a read image: valid images
/// (captured from <see cref="ScenarioGenerator"/> scenarios and the golden scenarios) mutated with seeded,
/// structure-aware edits (<see cref="ImageMutator"/>), then read from a span, a stream (seekable or not) and a file.
/// Oracles:
/// <list type="bullet">
/// <item>the reader returns an image or throws <see cref="ImageFormatException"/> (offset inside the data), nothing
/// else; the span, stream and file readers agree on the outcome, the error and its offset;</item>
/// <item>an accepted image writes back byte for byte as read;</item>
/// <item>it decodes (<see cref="IommuDecoder"/>), every structure page the decoder names is in the image, and the
/// text, DOT and JSON dumps render (the JSON parses);</item>
/// <item>capture is closed: an image captured from the read image's structures decodes to the same text dump, and
/// capturing that again gives the same bytes;</item>
/// <item>a translator over the image (cached, sometimes tiny caches, sometimes a writable copy) answers requests to
/// decoded devices, processes and mappings, and random ones, with a spec result (as in the translation target);</item>
/// <item>no case allocates more than <see cref="AllocationBound"/> (a reader or decoder sized by a count field
/// instead of the data would), and the watchdog turns a hang into a failure with the seed.</item>
/// </list>
/// </summary>
[Category("Fuzz")]
public class ImageFuzzTests
{
    private sealed class Stats
    {
        public long Accepted, Unmutated, Devices, Processes, Ranges, Findings, Requests, Successes, FileReads;
        public long MaxAllocated, MaxBytes;
        public double MaxCaseMs;
        public readonly Dictionary<ImageError, long> Refused = [];
        public readonly Dictionary<string, long> Mutations = [];
    }

    /// <summary>Bytes a case may allocate: a fixed allowance for the dumps' strings and the decoder's buffers, plus a
    /// multiple of the image's size (the reader keeps one copy, the decoder's ranges and the dumps grow with it).</summary>
    private static long AllocationBound(long imageBytes) => (96L << 20) + (64 * imageBytes);

    [Test]
    public void Mutated_images_are_read_or_refused_with_ImageFormatException_and_what_is_read_decodes_dumps_and_translates()
    {
        using var memory = PhysicalMemory.Allocate(ScenarioGenerator.Size, ScenarioGenerator.Base);
        var golden = new byte[GoldenScenarios.Names.Length][];
        for (int i = 0; i < golden.Length; i++)
        {
            using var scenario = GoldenScenarios.Build(GoldenScenarios.Names[i]);
            golden[i] = scenario.Capture().ToArray();
        }

        var stats = new Stats();
        string file = Path.Combine(Path.GetTempPath(), $"fastiommu-imagefuzz-{Environment.ProcessId}.img");
        try
        {
            FuzzBudget budget = FuzzBudget.ForTarget(3, 0x1A6E_0000);
            long cases = budget.Run("image", (_, seed) => RunCase(memory, golden, file, seed, stats));
            TestContext.Out.WriteLine(
                $"accepted {stats.Accepted} ({stats.Unmutated} unmutated), refused {string.Join(", ", stats.Refused.OrderBy(p => p.Key).Select(p => $"{p.Key} {p.Value}"))}; " +
                $"decoded {stats.Devices} devices, {stats.Processes} processes, {stats.Ranges} ranges, {stats.Findings} findings; " +
                $"requests {stats.Requests} ({stats.Successes} successes); file reads {stats.FileReads}; " +
                $"largest image {stats.MaxBytes} bytes, largest allocation {stats.MaxAllocated} bytes, slowest case {stats.MaxCaseMs:F0} ms");
            TestContext.Out.WriteLine($"mutations: {string.Join(", ", stats.Mutations.OrderBy(p => p.Key).Select(p => $"{p.Key} {p.Value}"))}");
            Assert.Multiple(() =>
            {
                Assert.That(cases, Is.GreaterThan(0), "at least one case ran");
                if (cases >= 100)
                {
                    // Not for a replay of one case: the mix of outcomes is a property of many.
                    Assert.That(stats.Accepted, Is.GreaterThan(0), "some mutated images are still images (the decoder and translator get input)");
                    Assert.That(stats.Refused.Values.Sum(), Is.GreaterThan(0), "some are refused");
                    Assert.That(stats.Devices, Is.GreaterThan(0), "accepted images hold devices");
                }
            });
        }
        finally
        {
            File.Delete(file);
        }
    }

    private static void RunCase(PhysicalMemory memory, byte[][] golden, string file, long seed, Stats stats)
    {
        var rng = new Random(unchecked((int)seed ^ (int)(seed >> 32)));
        var mutator = new ImageMutator(rng, BaseImage(memory, golden, rng, out var hints), hints);
        var other = new ImageMutator(rng, BaseImage(memory, golden, rng, out _), []);
        byte[] bytes = mutator.Mutate(other, stats.Mutations);
        if (mutator.Applied.Count == 0)
        {
            stats.Unmutated++;
        }

        string what = $"{bytes.Length} bytes after [{string.Join(", ", mutator.Applied)}]";
        var clock = Stopwatch.StartNew();
        long allocatedBefore = GC.GetAllocatedBytesForCurrentThread();
        bool writable = rng.Next(4) == 0;
        TableImage? image = Read(() => TableImage.Read(bytes, writable), bytes.Length, what, out var refused);
        using (Stream stream = rng.Next(4) == 0 ? new ForwardOnlyStream(bytes) : new MemoryStream(bytes, writable: false))
        {
            Agree(Read(() => TableImage.Read(stream), bytes.Length, what, out var fromStream), fromStream, image, refused, "stream", what);
        }

        if (rng.Next(64) == 0)
        {
            File.WriteAllBytes(file, bytes);
            Agree(Read(() => TableImage.Load(file), bytes.Length, what, out var fromFile), fromFile, image, refused, "file", what);
            stats.FileReads++;
        }

        if (refused is not null)
        {
            stats.Refused[refused.Error] = stats.Refused.GetValueOrDefault(refused.Error) + 1;
        }
        else
        {
            stats.Accepted++;
            CheckAccepted(image!, bytes, rng, what, stats);
        }

        long allocated = GC.GetAllocatedBytesForCurrentThread() - allocatedBefore;
        FuzzFailureException.Check(allocated <= AllocationBound(bytes.Length),
            $"{what}: the case allocated {allocated} bytes, more than {AllocationBound(bytes.Length)}");
        stats.MaxAllocated = Math.Max(stats.MaxAllocated, allocated);
        stats.MaxBytes = Math.Max(stats.MaxBytes, bytes.Length);
        stats.MaxCaseMs = Math.Max(stats.MaxCaseMs, clock.Elapsed.TotalMilliseconds);
    }

    /// <summary>A valid image to start from: one of the golden scenarios (1 in 4), else a generated scenario (valid,
    /// almost valid or garbage) captured from memory. <paramref name="hints"/>: image offsets of the qwords the
    /// generator wrote (contexts, directory entries, PTEs), the structure-aware mutations' favourite targets.</summary>
    private static byte[] BaseImage(PhysicalMemory memory, byte[][] golden, Random rng, out List<long> hints)
    {
        hints = [];
        if (rng.Next(4) == 0)
        {
            return golden[rng.Next(golden.Length)];
        }

        var gen = new ScenarioGenerator(memory, rng.NextInt64());
        gen.Generate();
        var image = TableImage.Capture(memory, new Ddtp(gen.Ddtp), new Capabilities(gen.Caps));
        for (int i = 0; i < gen.StructureAddresses.Count && hints.Count < 256; i++)
        {
            ulong at = gen.StructureAddresses[i];
            int page = image.Memory.IndexOf(at);
            if (page >= 0)
            {
                hints.Add(ImageFormat.HeaderSize + ((long)page * ImageFormat.PageRecordSize) + 8 + (long)(at & 0xFFF));
            }
        }

        return image.ToArray();
    }

    private static TableImage? Read(Func<TableImage> read, long length, string what, out ImageFormatException? refused)
    {
        refused = null;
        try
        {
            return read();
        }
        catch (ImageFormatException e)
        {
            FuzzFailureException.Check(e.Offset >= 0 && e.Offset <= length && Enum.IsDefined(e.Error),
                $"{what}: refused with error {e.Error} at offset {e.Offset} (the data has {length} bytes): {e.Message}");
            refused = e;
            return null;
        }
    }

    private static void Agree(TableImage? image, ImageFormatException? refused, TableImage? spanImage, ImageFormatException? spanRefused,
        string reader, string what)
    {
        FuzzFailureException.Check((image is null) == (spanImage is null),
            $"{what}: the span reader {(spanImage is null ? $"refused ({spanRefused!.Message})" : "accepted")}, the {reader} reader " +
            $"{(image is null ? $"refused ({refused!.Message})" : "accepted")}");
        if (refused is not null)
        {
            FuzzFailureException.Check(refused.Error == spanRefused!.Error && refused.Offset == spanRefused.Offset,
                $"{what}: the {reader} reader refused with {refused.Error} at {refused.Offset}, the span reader with {spanRefused.Error} at {spanRefused.Offset}");
        }
        else
        {
            FuzzFailureException.Check(image!.ToArray().AsSpan().SequenceEqual(spanImage!.ToArray()),
                $"{what}: the {reader} reader read other bytes than the span reader");
        }
    }

    private static void CheckAccepted(TableImage image, byte[] bytes, Random rng, string what, Stats stats)
    {
        FuzzFailureException.Check(image.ToArray().AsSpan().SequenceEqual(bytes), $"{what}: the image does not write back as read");

        DecodedIommu decoded = IommuDecoder.Decode(image);
        foreach (ulong page in decoded.StructurePages)
        {
            FuzzFailureException.Check(image.Memory.IndexOf(page) >= 0, $"{what}: the decoder names structure page 0x{page:x}, which the image lacks");
        }

        string text = TextDump.ToText(decoded);
        _ = DotDump.ToDot(decoded);
        using (JsonDocument.Parse(JsonDump.ToJson(decoded, indented: rng.Next(2) == 0)))
        {
            // The JSON dump is JSON.
        }

        // Capture is closed: the structures alone decode as the whole image does, and are their own capture.
        var captured = TableImage.Capture(image.Memory, image.Ddtp, image.Capabilities, image.Fctl);
        string recaptured = TextDump.ToText(IommuDecoder.Decode(captured));
        FuzzFailureException.Check(recaptured == text,
            $"{what}: the image captured from the read image's {captured.Memory.PageCount} structure pages decodes differently: {FirstDifference(text, recaptured)}");
        var again = TableImage.Capture(captured.Memory, captured.Ddtp, captured.Capabilities, captured.Fctl);
        FuzzFailureException.Check(again.ToArray().AsSpan().SequenceEqual(captured.ToArray()), $"{what}: capturing a capture changed it");

        stats.Devices += decoded.Devices.Count;
        stats.Findings += decoded.AllFindings().LongCount();
        var targets = new List<(uint Device, uint? Process, ulong Iova)>();
        foreach (DecodedDevice device in decoded.Devices)
        {
            stats.Processes += device.Processes.Count;
            AddTargets(targets, device.DeviceId, null, device.FirstStage ?? device.GStage, stats);
            foreach (DecodedProcess process in device.Processes)
            {
                AddTargets(targets, device.DeviceId, process.ProcessId, process.FirstStage, stats);
            }
        }

        TranslatorCacheOptions options = rng.Next(3) == 0
            ? new TranslatorCacheOptions { IotlbEntries = 4, MicroTlbEntries = 2, DeviceContextEntries = 1, ProcessContextEntries = 1, AddressSpaces = 1 }
            : TranslatorCacheOptions.Default;
        IommuTranslator translator = image.CreateTranslator(options, rng.Next(2) == 0 ? image.Memory.ToWritableCopy() : null);
        int requests = 8 + rng.Next(24);
        for (int i = 0; i < requests; i++)
        {
            uint device = (uint)rng.Next(1 << 24);
            uint? process = rng.Next(2) == 0 ? null : (uint)rng.Next(1 << 20);
            ulong iova = (ulong)rng.NextInt64() << rng.Next(2);
            if (targets.Count > 0 && rng.Next(4) != 0)
            {
                (device, process, iova) = targets[rng.Next(targets.Count)];
                iova += (ulong)rng.Next(0x2000);
            }

            var access = (AccessType)rng.Next(3);
            TranslationRequest request = process is { } pid
                ? new TranslationRequest(device, pid, iova, access, privileged: rng.Next(2) == 0)
                : new TranslationRequest(device, iova, access);
            for (int repeat = 0; repeat < 2; repeat++)
            {
                TranslationResult result = translator.Translate(in request);
                TranslationFuzzTests.CheckShape(in request, in result);
                stats.Requests++;
                stats.Successes += result.Success ? 1 : 0;
            }

            if (rng.Next(8) == 0)
            {
                translator.InvalidateAll();
            }
        }
    }

    private static string FirstDifference(string a, string b)
    {
        string[] x = a.Split('\n'), y = b.Split('\n');
        for (int i = 0; i < Math.Max(x.Length, y.Length); i++)
        {
            string left = i < x.Length ? x[i] : "(end)", right = i < y.Length ? y[i] : "(end)";
            if (left != right)
            {
                return $"line {i + 1}: whole image \"{left}\", captured \"{right}\"";
            }
        }

        return "(same lines)";
    }

    private static void AddTargets(List<(uint, uint?, ulong)> targets, uint device, uint? process, DecodedTable? table, Stats stats)
    {
        if (table is null)
        {
            targets.Add((device, process, 0x1000));
            return;
        }

        stats.Ranges += table.Ranges.Count;
        for (int i = 0; i < table.Ranges.Count && i < 8; i++)
        {
            targets.Add((device, process, table.Ranges[i].Input));
        }
    }

    /// <summary>A stream that cannot seek: the reader copies it first (as much as it holds, no more).</summary>
    private sealed class ForwardOnlyStream(byte[] bytes) : Stream
    {
        private readonly MemoryStream _inner = new(bytes, writable: false);

        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override int Read(byte[] buffer, int offset, int count) => _inner.Read(buffer, offset, Math.Min(count, 1000));
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            _inner.Dispose();
            base.Dispose(disposing);
        }
    }
}

/// <summary>
/// Seeded mutations of a valid image (format: <see cref="ImageFormat"/>), aware of its structure: header fields
/// (magic, version, page size, ddtp with a real or random root, capabilities, fctl, page count, reserved bytes),
/// page records (delete with or without fixing the count, duplicate, swap, move an address, take another image's
/// page bytes, merge two images' pages), qwords inside pages shaped as the structures they land in (pointers to
/// other pages of the image as non-leaf entries, leaves, iosatp/iohgatp/pdtp roots, DC tc words), and bytes (bit
/// flips, interesting values, truncation, appended bytes).
/// </summary>
internal sealed class ImageMutator
{
    private readonly Random _rng;
    private readonly List<long> _hints;
    private byte[] _header;
    private List<byte[]> _records;

    public ImageMutator(Random rng, byte[] image, List<long> hints)
    {
        _rng = rng;
        _hints = hints;
        _header = image[..ImageFormat.HeaderSize];
        _records = [];
        for (int offset = ImageFormat.HeaderSize; offset + ImageFormat.PageRecordSize <= image.Length; offset += ImageFormat.PageRecordSize)
        {
            _records.Add(image[offset..(offset + ImageFormat.PageRecordSize)]);
        }
    }

    /// <summary>What was done, in order (for the failure message).</summary>
    public List<string> Applied { get; } = [];

    private ulong Address(int record) => BinaryPrimitives.ReadUInt64LittleEndian(_records[record]);

    private ulong RandomPageAddress() =>
        _records.Count > 0 && _rng.Next(4) != 0 ? Address(_rng.Next(_records.Count)) : ((ulong)_rng.NextInt64(1L << 44) << 12);

    public byte[] Mutate(ImageMutator other, Dictionary<string, long> counts)
    {
        int roll = _rng.Next(16);
        int structural = roll == 0 ? 0 : 1 + _rng.Next(4);
        bool fixCount = _rng.Next(8) != 0;
        for (int i = 0; i < structural; i++)
        {
            string name = _rng.Next(20) switch
            {
                < 8 => PageQword(),
                < 10 => Header(),
                10 => DeleteRecord(),
                11 => DuplicateRecord(),
                12 => SwapRecords(),
                13 => MoveAddress(),
                14 or 15 => TakePage(other),
                16 => Merge(other),
                _ => PageQword(),
            };
            Applied.Add(name);
            string kind = name.Split(' ', '[')[0];
            counts[kind] = counts.GetValueOrDefault(kind) + 1;
        }

        if (fixCount)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(_header.AsSpan(ImageFormat.PageCountOffset), (ulong)_records.Count);
        }

        byte[] bytes = Serialize();
        if (roll != 0 && _rng.Next(5) == 0)
        {
            bytes = Bytes(bytes, counts);
        }

        return bytes;
    }

    private byte[] Serialize()
    {
        var bytes = new byte[ImageFormat.HeaderSize + ((long)_records.Count * ImageFormat.PageRecordSize)];
        _header.CopyTo(bytes, 0);
        for (int i = 0; i < _records.Count; i++)
        {
            _records[i].CopyTo(bytes, ImageFormat.HeaderSize + (i * ImageFormat.PageRecordSize));
        }

        return bytes;
    }

    // ------------------------------------------------------------------------------------------------ header

    private string Header()
    {
        Span<byte> h = _header;
        switch (_rng.Next(10))
        {
            case 0:
            case 1:
            {
                // ddtp: any mode (Off, Bare, 1-3LVL, reserved), root at a page of the image or anywhere.
                ulong ddtp = ((RandomPageAddress() >> 12) << 10) | (uint)_rng.Next(16);
                if (_rng.Next(8) == 0)
                {
                    ddtp |= 1UL << (10 + _rng.Next(54));
                }

                BinaryPrimitives.WriteUInt64LittleEndian(h[ImageFormat.DdtpOffset..], ddtp);
                return $"ddtp 0x{ddtp:x}";
            }
            case 2:
            case 3:
            {
                ulong caps = BinaryPrimitives.ReadUInt64LittleEndian(h[ImageFormat.CapabilitiesOffset..]);
                caps = _rng.Next(4) == 0 ? (ulong)_rng.NextInt64() ^ ((ulong)_rng.NextInt64() << 1) : caps ^ (1UL << _rng.Next(64));
                BinaryPrimitives.WriteUInt64LittleEndian(h[ImageFormat.CapabilitiesOffset..], caps);
                return $"capabilities 0x{caps:x}";
            }
            case 4:
            {
                ulong fctl = _rng.Next(8) == 0 ? (ulong)_rng.NextInt64() : (uint)_rng.Next(8);
                BinaryPrimitives.WriteUInt64LittleEndian(h[ImageFormat.FctlOffset..], fctl);
                return $"fctl 0x{fctl:x}";
            }
            case 5:
            case 6:
            {
                ulong count = (ulong)_records.Count;
                count = _rng.Next(7) switch
                {
                    0 => 0,
                    1 => count + 1,
                    2 => count - 1,
                    3 => ulong.MaxValue - (ulong)_rng.Next(4),
                    4 => (ulong)int.MaxValue / 512 + (ulong)_rng.Next(3) - 1,
                    5 => 1UL << _rng.Next(64),
                    _ => (ulong)_rng.Next(1000),
                };
                BinaryPrimitives.WriteUInt64LittleEndian(h[ImageFormat.PageCountOffset..], count);
                return $"count {count}";
            }
            case 7:
            {
                int offset = ImageFormat.ReservedOffset + _rng.Next(ImageFormat.ReservedSize);
                h[offset] = (byte)(1 + _rng.Next(255));
                return $"reserved[{offset}]";
            }
            case 8:
            {
                uint value = _rng.Next(3) switch { 0 => 0, 1 => 2, _ => (uint)_rng.Next() };
                int offset = _rng.Next(2) == 0 ? ImageFormat.VersionOffset : ImageFormat.PageSizeOffset;
                BinaryPrimitives.WriteUInt32LittleEndian(h[offset..], value);
                return $"header[{offset}] = {value}";
            }
            default:
            {
                int offset = _rng.Next(8);
                h[offset] ^= (byte)(1 << _rng.Next(8));
                return $"magic[{offset}]";
            }
        }
    }

    // ------------------------------------------------------------------------------------------------ records

    private string DeleteRecord()
    {
        if (_records.Count == 0)
        {
            return "delete (none)";
        }

        int i = _rng.Next(_records.Count);
        _records.RemoveAt(i);
        return $"delete {i}";
    }

    private string DuplicateRecord()
    {
        if (_records.Count == 0)
        {
            return "duplicate (none)";
        }

        int i = _rng.Next(_records.Count);
        _records.Insert(i + 1, (byte[])_records[i].Clone());
        return $"duplicate {i}";
    }

    private string SwapRecords()
    {
        if (_records.Count < 2)
        {
            return "swap (none)";
        }

        int i = _rng.Next(_records.Count), j = _rng.Next(_records.Count);
        (_records[i], _records[j]) = (_records[j], _records[i]);
        return $"swap {i} {j}";
    }

    private string MoveAddress()
    {
        if (_records.Count == 0)
        {
            return "move (none)";
        }

        int i = _rng.Next(_records.Count);
        ulong address = Address(i);
        address = _rng.Next(7) switch
        {
            0 => address + 0x1000,
            1 => address - 0x1000,
            2 => address + (ulong)_rng.Next(1, 0x1000),
            3 => ulong.MaxValue - 0xFFF + (ulong)(_rng.Next(2) * 0x800),
            4 => 0,
            5 => RandomPageAddress(),
            _ => i > 0 ? Address(i - 1) : address,
        };
        BinaryPrimitives.WriteUInt64LittleEndian(_records[i], address);
        return $"move {i} 0x{address:x}";
    }

    /// <summary>Another image's page bytes under one of this image's addresses: still a valid image, with
    /// structures that point where the other image's did.</summary>
    private string TakePage(ImageMutator other)
    {
        if (_records.Count == 0 || other._records.Count == 0)
        {
            return "take (none)";
        }

        int i = _rng.Next(_records.Count), j = _rng.Next(other._records.Count);
        other._records[j].AsSpan(8).CopyTo(_records[i].AsSpan(8));
        return $"take {j} into {i}";
    }

    /// <summary>The pages of both images (this one's first where both have an address), ascending: a valid image.</summary>
    private string Merge(ImageMutator other)
    {
        var merged = new SortedDictionary<ulong, byte[]>();
        foreach (byte[] record in _records)
        {
            merged.TryAdd(BinaryPrimitives.ReadUInt64LittleEndian(record), record);
        }

        foreach (byte[] record in other._records)
        {
            merged.TryAdd(BinaryPrimitives.ReadUInt64LittleEndian(record), (byte[])record.Clone());
        }

        _records = [.. merged.Values];
        if (_rng.Next(2) == 0)
        {
            _header = (byte[])other._header.Clone();
        }

        return $"merge ({_records.Count} pages)";
    }

    // ------------------------------------------------------------------------------------------------ page contents

    /// <summary>One to eight qwords of a page set to a value shaped like the structure they may be part of.</summary>
    private string PageQword()
    {
        if (_records.Count == 0)
        {
            return "qword (none)";
        }

        int edits = 1 + _rng.Next(8);
        string last = "qword (skipped: a deleted record)";
        for (int e = 0; e < edits; e++)
        {
            long offset;
            if (_hints.Count > 0 && _rng.Next(2) == 0)
            {
                offset = _hints[_rng.Next(_hints.Count)] - ImageFormat.HeaderSize;
                if (offset / ImageFormat.PageRecordSize >= _records.Count)
                {
                    continue; // a record was deleted
                }
            }
            else
            {
                offset = ((long)_rng.Next(_records.Count) * ImageFormat.PageRecordSize) + 8 + (_rng.Next(512) * 8);
            }

            int record = (int)(offset / ImageFormat.PageRecordSize);
            int at = (int)(offset % ImageFormat.PageRecordSize);
            Span<byte> qword = _records[record].AsSpan(at, 8);
            ulong old = BinaryPrimitives.ReadUInt64LittleEndian(qword);
            ulong ppn = RandomPageAddress() >> 12;
            ulong value = _rng.Next(10) switch
            {
                0 => (ppn << 10) | 1,                                                   // non-leaf entry / DDT entry to a page of the image
                1 => (ppn << 10) | 1 | ((ulong)_rng.Next(1 << 7) << 1),                // a leaf (any R/W/X/U/G/A/D)
                2 => ((ulong)_rng.Next(16) << 60) | ppn,                               // iosatp / iohgatp / pdtp: a mode and a root
                3 => 1 | ((ulong)_rng.Next() << 1) | ((ulong)_rng.Next() << 32),        // a DC tc word with V
                4 => old ^ (1UL << _rng.Next(64)),
                5 => 0,
                6 => ulong.MaxValue,
                7 => old | (1UL << (54 + _rng.Next(10))),                              // reserved / PBMT / N bits
                _ => (ulong)_rng.NextInt64() ^ ((ulong)_rng.NextInt64() << 1),
            };
            BinaryPrimitives.WriteUInt64LittleEndian(qword, value);
            last = $"qword {record}+{at - 8} = 0x{value:x}";
        }

        return edits == 1 ? last : $"qwords x{edits} ({last}...)";
    }

    // ------------------------------------------------------------------------------------------------ bytes

    private byte[] Bytes(byte[] bytes, Dictionary<string, long> counts)
    {
        string name;
        switch (_rng.Next(4))
        {
            case 0:
            {
                int cut = _rng.Next(2) == 0 || bytes.Length <= ImageFormat.HeaderSize
                    ? _rng.Next(bytes.Length + 1)
                    : ImageFormat.HeaderSize + (_rng.Next(Math.Max(1, _records.Count)) * ImageFormat.PageRecordSize) + _rng.Next(-2, 10);
                cut = Math.Clamp(cut, 0, bytes.Length);
                bytes = bytes[..cut];
                name = $"truncate {cut}";
                break;
            }
            case 1:
            {
                int extra = _rng.Next(2) == 0 ? _rng.Next(1, 16) : ImageFormat.PageRecordSize + _rng.Next(-1, 2);
                var longer = new byte[bytes.Length + extra];
                bytes.CopyTo(longer, 0);
                _rng.NextBytes(longer.AsSpan(bytes.Length));
                bytes = longer;
                name = $"append {extra}";
                break;
            }
            case 2:
            {
                int flips = 1 + _rng.Next(8);
                for (int i = 0; i < flips && bytes.Length > 0; i++)
                {
                    int at = _rng.Next(2) == 0 ? _rng.Next(Math.Min(bytes.Length, ImageFormat.HeaderSize + 8)) : _rng.Next(bytes.Length);
                    bytes[at] ^= (byte)(1 << _rng.Next(8));
                }

                name = $"bitflip x{flips}";
                break;
            }
            default:
            {
                if (bytes.Length > 0)
                {
                    int at = _rng.Next(bytes.Length);
                    bytes[at] = (byte)(_rng.Next(4) switch { 0 => 0, 1 => 0xFF, 2 => 0x80, _ => 0x7F });
                }

                name = "byte";
                break;
            }
        }

        Applied.Add(name);
        string kind = name.Split(' ', '[')[0];
        counts[kind] = counts.GetValueOrDefault(kind) + 1;
        return bytes;
    }
}
