using System.Buffers.Binary;
using FastIommu.Images;

namespace FastIommu.Tests.Images;

/// <summary>Every damaged image is refused with an <see cref="ImageFormatException"/> that says what and where; none
/// crashes the reader or makes it allocate more than the data justifies.</summary>
public class ImageCorruptionTests
{
    private static byte[] Valid()
    {
        using var scenario = GoldenScenarios.Build("one-level-base");
        return scenario.Capture().ToArray();
    }

    private static ImageFormatException Refused(byte[] bytes)
    {
        var ex = Assert.Throws<ImageFormatException>(() => TableImage.Read(bytes), "a damaged image must be refused");
        using var stream = new MemoryStream(bytes);
        var fromStream = Assert.Throws<ImageFormatException>(() => TableImage.Read(stream), "also when read from a stream");
        Assert.That(fromStream!.Error, Is.EqualTo(ex!.Error), "span and stream readers must agree on the error");
        Assert.That(fromStream.Offset, Is.EqualTo(ex.Offset), "span and stream readers must agree on the offset");
        return ex;
    }

    [Test]
    public void Truncation_at_every_offset_of_the_header_and_of_each_page_record_is_refused()
    {
        byte[] valid = Valid();
        // Every header offset, and for each page record the offsets around its address and its data.
        var cuts = new SortedSet<int>();
        for (int i = 0; i < ImageFormat.HeaderSize; i++)
        {
            cuts.Add(i);
        }

        for (int start = ImageFormat.HeaderSize; start < valid.Length; start += ImageFormat.PageRecordSize)
        {
            foreach (int d in new[] { 0, 1, 7, 8, 9, 100, ImageFormat.PageRecordSize - 1 })
            {
                cuts.Add(start + d);
            }
        }

        foreach (int length in cuts)
        {
            var ex = Refused(valid[..length]);
            Assert.That(ex.Error, Is.EqualTo(ImageError.Truncated).Or.EqualTo(ImageError.PageCountTooLarge),
                $"cut at {length}: {ex.Message}");
            Assert.That(ex.Message, Does.Contain("offset"), "the message says where");
        }
    }

    [Test]
    public void A_cut_inside_the_last_page_names_that_page_and_where_the_data_ends()
    {
        byte[] valid = Valid();
        var ex = Refused(valid[..^10]);
        Assert.That(ex.Error, Is.EqualTo(ImageError.Truncated), ex.Message);
        Assert.That(ex.Offset, Is.EqualTo(valid.Length - 10), "the offset is where the data ends");
        Assert.That(ex.Message, Does.Contain("10 more bytes"), ex.Message);
    }

    [Test]
    public void A_cut_in_the_header_names_the_field()
    {
        var ex = Refused(Valid()[..20]);
        Assert.That(ex.Error, Is.EqualTo(ImageError.Truncated));
        Assert.That(ex.Message, Does.Contain("ddtp field at offset 16"), ex.Message);
    }

    [TestCase(0, (byte)'X', ImageError.BadMagic, 0)]
    [TestCase(8, (byte)2, ImageError.UnsupportedVersion, 8)]
    [TestCase(13, (byte)0x20, ImageError.UnsupportedPageSize, 12)]
    [TestCase(36, (byte)1, ImageError.ReservedNotZero, 36)]
    [TestCase(48, (byte)1, ImageError.ReservedNotZero, 48)]
    [TestCase(63, (byte)0x80, ImageError.ReservedNotZero, 63)]
    public void A_bad_header_field_is_refused_at_its_offset(int offset, byte value, ImageError error, long reported)
    {
        byte[] bytes = Valid();
        bytes[offset] = value;
        var ex = Refused(bytes);
        Assert.That(ex.Error, Is.EqualTo(error), ex.Message);
        Assert.That(ex.Offset, Is.EqualTo(reported), ex.Message);
    }

    [Test]
    public void Unsorted_pages_are_refused_at_the_second_page_record()
    {
        byte[] bytes = Valid();
        SwapRecords(bytes, 0, 1);
        var ex = Refused(bytes);
        Assert.That(ex.Error, Is.EqualTo(ImageError.UnsortedPages), ex.Message);
        Assert.That(ex.Offset, Is.EqualTo(ImageFormat.HeaderSize + ImageFormat.PageRecordSize), "the second record is out of order");
    }

    [Test]
    public void A_duplicate_page_is_refused()
    {
        byte[] bytes = Valid();
        ulong first = AddressOf(bytes, 0);
        BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(ImageFormat.HeaderSize + ImageFormat.PageRecordSize), first);
        var ex = Refused(bytes);
        Assert.That(ex.Error, Is.EqualTo(ImageError.DuplicatePage), ex.Message);
        Assert.That(ex.Message, Does.Contain($"0x{first:x}"), "the message names the address");
    }

    [Test]
    public void A_misaligned_page_address_is_refused()
    {
        byte[] bytes = Valid();
        bytes[ImageFormat.HeaderSize] |= 0x08;
        Assert.That(Refused(bytes).Error, Is.EqualTo(ImageError.MisalignedPage));
    }

    [TestCase(ulong.MaxValue)]
    [TestCase(1UL << 40)]
    [TestCase((ulong)int.MaxValue)]
    public void An_absurd_page_count_is_refused_before_anything_is_allocated(ulong count)
    {
        byte[] bytes = Valid();
        BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(ImageFormat.PageCountOffset), count);
        long before = GC.GetAllocatedBytesForCurrentThread();
        var ex = Assert.Throws<ImageFormatException>(() => TableImage.Read(bytes));
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.That(ex!.Error, Is.EqualTo(ImageError.PageCountTooLarge), ex.Message);
        Assert.That(ex.Offset, Is.EqualTo(ImageFormat.PageCountOffset), "the count field is at fault");
        Assert.That(allocated, Is.LessThan(bytes.Length), "no allocation beyond what the file justifies (only the message)");
    }

    [Test]
    public void Trailing_bytes_are_refused_where_they_start()
    {
        byte[] valid = Valid();
        foreach (int extra in new[] { 1, 8, ImageFormat.PageRecordSize, ImageFormat.PageRecordSize + 3 })
        {
            byte[] bytes = new byte[valid.Length + extra];
            valid.CopyTo(bytes, 0);
            var ex = Refused(bytes);
            Assert.That(ex.Error, Is.EqualTo(ImageError.TrailingBytes), $"{extra} extra bytes: {ex.Message}");
            Assert.That(ex.Offset, Is.EqualTo(valid.Length), "trailing data starts after the last page");
        }
    }

    [Test]
    public void An_empty_file_and_a_foreign_file_are_refused()
    {
        Assert.That(Refused([]).Error, Is.EqualTo(ImageError.Truncated));
        Assert.That(Refused("%PDF-1.7 not an image at all, sorry, but long enough to have a header......"u8.ToArray()).Error,
            Is.EqualTo(ImageError.BadMagic));
    }

    [Test]
    public void Random_damage_never_escapes_as_another_exception()
    {
        byte[] valid = Valid();
        var random = new Random(12);
        for (int round = 0; round < 500; round++)
        {
            byte[] bytes = (byte[])valid.Clone();
            int flips = random.Next(1, 4);
            for (int f = 0; f < flips; f++)
            {
                // Mostly in the header and the page addresses, where the checks are.
                int at = random.Next(3) == 0 ? random.Next(bytes.Length) : random.Next(ImageFormat.HeaderSize + 16);
                bytes[at] ^= (byte)(1 << random.Next(8));
            }

            int length = random.Next(4) == 0 ? random.Next(bytes.Length + 1) : bytes.Length;
            try
            {
                _ = TableImage.Read(bytes.AsSpan(0, length));
            }
            catch (ImageFormatException)
            {
                // refused cleanly
            }
        }

        Assert.Pass("500 damaged images were read or refused with ImageFormatException only");
    }

    private static ulong AddressOf(byte[] bytes, int record) =>
        BinaryPrimitives.ReadUInt64LittleEndian(bytes.AsSpan(ImageFormat.HeaderSize + (record * ImageFormat.PageRecordSize)));

    private static void SwapRecords(byte[] bytes, int a, int b)
    {
        var ra = bytes.AsSpan(ImageFormat.HeaderSize + (a * ImageFormat.PageRecordSize), ImageFormat.PageRecordSize).ToArray();
        bytes.AsSpan(ImageFormat.HeaderSize + (b * ImageFormat.PageRecordSize), ImageFormat.PageRecordSize)
            .CopyTo(bytes.AsSpan(ImageFormat.HeaderSize + (a * ImageFormat.PageRecordSize)));
        ra.CopyTo(bytes.AsSpan(ImageFormat.HeaderSize + (b * ImageFormat.PageRecordSize)));
    }
}
