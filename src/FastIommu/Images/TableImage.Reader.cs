using System.Buffers.Binary;
using System.Runtime.InteropServices;
using FastIommu.Formats.RiscV;

namespace FastIommu.Images;

/// <summary>Reading and checking an image. Everything is checked before a page is kept; nothing larger than the
/// input's own size is ever allocated.</summary>
public sealed partial class TableImage
{
    private const int WordsPerPage = ImageFormat.PageSize / sizeof(ulong);

    /// <summary>Reads an image held in memory.</summary>
    /// <exception cref="ImageFormatException">The bytes are not a valid version 1 image.</exception>
    public static TableImage Read(ReadOnlySpan<byte> image, bool writable = false)
    {
        var header = ReadHeader(image[..Math.Min(image.Length, ImageFormat.HeaderSize)], image.Length);
        var addresses = new ulong[header.PageCount];
        var words = new ulong[header.PageCount * WordsPerPage];
        long offset = ImageFormat.HeaderSize;
        for (int i = 0; i < header.PageCount; i++, offset += ImageFormat.PageRecordSize)
        {
            ulong address = BinaryPrimitives.ReadUInt64LittleEndian(image.Slice((int)offset, 8));
            CheckAddress(address, i, addresses, offset);
            addresses[i] = address;
            image.Slice((int)offset + 8, ImageFormat.PageSize).CopyTo(MemoryMarshal.AsBytes(words.AsSpan(i * WordsPerPage, WordsPerPage)));
        }

        return new TableImage(header.Ddtp, header.Capabilities, header.Fctl, new SparseMemory(addresses, words, writable));
    }

    /// <summary>Reads an image file.</summary>
    /// <exception cref="ImageFormatException">The file is not a valid version 1 image.</exception>
    public static TableImage Load(string path, bool writable = false)
    {
        using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        return Read(file, writable);
    }

    /// <summary>Reads an image from <paramref name="stream"/> to its end. A stream that cannot seek is copied first
    /// (as much as it holds, no more).</summary>
    /// <exception cref="ImageFormatException">The data is not a valid version 1 image.</exception>
    public static TableImage Read(Stream stream, bool writable = false)
    {
        ArgumentNullException.ThrowIfNull(stream);
        if (!stream.CanSeek)
        {
            using var copy = new MemoryStream();
            stream.CopyTo(copy);
            copy.Position = 0;
            return Read(copy, writable);
        }

        long length = stream.Length - stream.Position;
        Span<byte> head = stackalloc byte[ImageFormat.HeaderSize];
        int got = stream.ReadAtLeast(head, head.Length, throwOnEndOfStream: false);
        var header = ReadHeader(head[..got], length);

        var addresses = new ulong[header.PageCount];
        var words = new ulong[header.PageCount * WordsPerPage];
        Span<byte> addressBytes = stackalloc byte[8];
        long offset = ImageFormat.HeaderSize;
        for (int i = 0; i < header.PageCount; i++, offset += ImageFormat.PageRecordSize)
        {
            stream.ReadExactly(addressBytes);
            ulong address = BinaryPrimitives.ReadUInt64LittleEndian(addressBytes);
            CheckAddress(address, i, addresses, offset);
            addresses[i] = address;
            stream.ReadExactly(MemoryMarshal.AsBytes(words.AsSpan(i * WordsPerPage, WordsPerPage)));
        }

        return new TableImage(header.Ddtp, header.Capabilities, header.Fctl, new SparseMemory(addresses, words, writable));
    }

    private readonly record struct Header(Ddtp Ddtp, Capabilities Capabilities, Fctl Fctl, int PageCount);

    /// <summary>Checks the header (<paramref name="head"/>: the first min(64, length) bytes) against the whole
    /// image's <paramref name="length"/>, so the page count is known to fit before anything is allocated.</summary>
    private static Header ReadHeader(ReadOnlySpan<byte> head, long length)
    {
        RequireField(length, ImageFormat.MagicOffset, 8, "magic");
        if (BinaryPrimitives.ReadUInt64LittleEndian(head) != ImageFormat.Magic)
        {
            throw new ImageFormatException(ImageError.BadMagic, ImageFormat.MagicOffset,
                $"magic is \"{Printable(head[..8])}\", not \"FIOMMUIM\" (not a FastIommu table image).");
        }

        RequireField(length, ImageFormat.VersionOffset, 4, "version");
        uint version = BinaryPrimitives.ReadUInt32LittleEndian(head[ImageFormat.VersionOffset..]);
        if (version != ImageFormat.Version)
        {
            throw new ImageFormatException(ImageError.UnsupportedVersion, ImageFormat.VersionOffset,
                $"version {version} is not supported (this reader knows version {ImageFormat.Version}).");
        }

        RequireField(length, ImageFormat.PageSizeOffset, 4, "page size");
        uint pageSize = BinaryPrimitives.ReadUInt32LittleEndian(head[ImageFormat.PageSizeOffset..]);
        if (pageSize != ImageFormat.PageSize)
        {
            throw new ImageFormatException(ImageError.UnsupportedPageSize, ImageFormat.PageSizeOffset,
                $"page size {pageSize} is not {ImageFormat.PageSize}.");
        }

        RequireField(length, ImageFormat.DdtpOffset, 8, "ddtp");
        RequireField(length, ImageFormat.CapabilitiesOffset, 8, "capabilities");
        RequireField(length, ImageFormat.FctlOffset, 8, "fctl");
        ulong fctl = BinaryPrimitives.ReadUInt64LittleEndian(head[ImageFormat.FctlOffset..]);
        if (fctl >> 32 != 0)
        {
            throw new ImageFormatException(ImageError.ReservedNotZero, ImageFormat.FctlOffset + 4,
                $"fctl 0x{fctl:x} has bits 63:32 set (the register is 32 bits wide).");
        }

        RequireField(length, ImageFormat.PageCountOffset, 8, "page count");
        ulong count = BinaryPrimitives.ReadUInt64LittleEndian(head[ImageFormat.PageCountOffset..]);
        RequireField(length, ImageFormat.ReservedOffset, ImageFormat.ReservedSize, "reserved bytes");
        for (int i = 0; i < ImageFormat.ReservedSize; i++)
        {
            if (head[ImageFormat.ReservedOffset + i] != 0)
            {
                throw new ImageFormatException(ImageError.ReservedNotZero, ImageFormat.ReservedOffset + i,
                    $"reserved byte {i} of the header is 0x{head[ImageFormat.ReservedOffset + i]:x2}, not zero.");
            }
        }

        // The count must fit the data before anything is allocated for it.
        long body = length - ImageFormat.HeaderSize;
        long whole = body / ImageFormat.PageRecordSize;
        long partial = body % ImageFormat.PageRecordSize;
        if (count > (ulong)whole)
        {
            if (count == (ulong)whole + 1)
            {
                // One record short: the data was cut inside (or right before) the last page.
                long recordStart = ImageFormat.HeaderSize + (whole * ImageFormat.PageRecordSize);
                string field = partial < 8 ? "physical address" : "bytes";
                throw new ImageFormatException(ImageError.Truncated, length,
                    $"the image ends inside page {whole} of {count} (its record starts at offset {recordStart}; its {field} "
                    + $"{(partial < 8 ? "need" : "needs")} {(partial < 8 ? 8 - partial : ImageFormat.PageRecordSize - partial)} more bytes).");
            }

            throw new ImageFormatException(ImageError.PageCountTooLarge, ImageFormat.PageCountOffset,
                $"page count {count} needs {(count > long.MaxValue / ImageFormat.PageRecordSize ? "more than 2^63" : ((long)count * ImageFormat.PageRecordSize).ToString(System.Globalization.CultureInfo.InvariantCulture))} "
                + $"bytes after the header, the image has {body} (room for {whole} pages).");
        }

        if (count > int.MaxValue / WordsPerPage)
        {
            throw new ImageFormatException(ImageError.PageCountTooLarge, ImageFormat.PageCountOffset,
                $"page count {count} is more than this reader holds ({int.MaxValue / WordsPerPage} pages).");
        }

        if (count < (ulong)whole || partial != 0)
        {
            long end = ImageFormat.ImageSize((long)count);
            throw new ImageFormatException(ImageError.TrailingBytes, end,
                $"{length - end} bytes follow the last of the {count} pages.");
        }

        return new Header(
            new Ddtp(BinaryPrimitives.ReadUInt64LittleEndian(head[ImageFormat.DdtpOffset..])),
            new Capabilities(BinaryPrimitives.ReadUInt64LittleEndian(head[ImageFormat.CapabilitiesOffset..])),
            new Fctl((uint)fctl),
            (int)count);
    }

    private static void RequireField(long length, int offset, int size, string name)
    {
        if (length < offset + size)
        {
            throw new ImageFormatException(ImageError.Truncated, Math.Max(length, 0),
                $"the image ends inside the header: the {name} field at offset {offset} needs {size} bytes, "
                + $"{Math.Max(0, length - offset)} are there.");
        }
    }

    private static void CheckAddress(ulong address, int index, ulong[] addresses, long offset)
    {
        if ((address & (ImageFormat.PageSize - 1)) != 0 || address > ulong.MaxValue - ImageFormat.PageSize + 1)
        {
            throw new ImageFormatException(ImageError.MisalignedPage, offset,
                $"page {index} has address 0x{address:x}, which is not a 4 KiB page.");
        }

        if (index > 0 && address <= addresses[index - 1])
        {
            bool duplicate = address == addresses[index - 1];
            throw new ImageFormatException(duplicate ? ImageError.DuplicatePage : ImageError.UnsortedPages, offset,
                duplicate
                    ? $"page {index} at 0x{address:x} appears twice (pages must be distinct)."
                    : $"page {index} at 0x{address:x} is below page {index - 1} at 0x{addresses[index - 1]:x} (pages must ascend).");
        }
    }

    private static string Printable(ReadOnlySpan<byte> bytes)
    {
        Span<char> chars = stackalloc char[bytes.Length];
        for (int i = 0; i < bytes.Length; i++)
        {
            chars[i] = bytes[i] is >= 0x20 and < 0x7F ? (char)bytes[i] : '.';
        }

        return new string(chars);
    }
}
