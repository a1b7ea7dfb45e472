namespace FastIommu.Images;

/// <summary>
/// The binary table image, version 1: the pages the IOMMU's structures occupy, with the registers that locate them.
/// Little-endian throughout; documented in docs/image-format.md.
/// </summary>
/// <remarks>
/// <code>
/// offset  size        field
///      0     8        magic, ASCII "FIOMMUIM"
///      8     4        version = 1
///     12     4        page size = 4096
///     16     8        ddtp as software wrote it (iommu_mode and PPN)
///     24     8        capabilities
///     32     8        fctl (the 32-bit register, zero-extended)
///     40     8        page count N
///     48    16        reserved, zero
///     64  N x 4104    per page, ascending by address: its physical address (8 bytes), then its 4096 bytes
/// </code>
/// </remarks>
public static class ImageFormat
{
    /// <summary>"FIOMMUIM" as a little-endian 64-bit word.</summary>
    public const ulong Magic = 0x4D_49_55_4D_4D_4F_49_46;

    /// <summary>The only version this library reads and writes.</summary>
    public const uint Version = 1;

    /// <summary>Bytes per page.</summary>
    public const int PageSize = 4096;

    public const int MagicOffset = 0;
    public const int VersionOffset = MagicOffset + 8;          // 8
    public const int PageSizeOffset = VersionOffset + 4;       // 12
    public const int DdtpOffset = PageSizeOffset + 4;          // 16
    public const int CapabilitiesOffset = DdtpOffset + 8;      // 24
    public const int FctlOffset = CapabilitiesOffset + 8;      // 32
    public const int PageCountOffset = FctlOffset + 8;         // 40
    public const int ReservedOffset = PageCountOffset + 8;     // 48
    public const int ReservedSize = 16;
    public const int HeaderSize = ReservedOffset + ReservedSize; // 64

    /// <summary>One page record: its 8-byte physical address and its bytes.</summary>
    public const int PageRecordSize = 8 + PageSize;            // 4104

    /// <summary>Size in bytes of an image holding <paramref name="pageCount"/> pages.</summary>
    public static long ImageSize(long pageCount) => HeaderSize + pageCount * PageRecordSize;
}

/// <summary>What is wrong with an image that <see cref="TableImage"/> refused.</summary>
public enum ImageError : byte
{
    /// <summary>The data ends inside a field.</summary>
    Truncated = 1,
    /// <summary>The first 8 bytes are not "FIOMMUIM".</summary>
    BadMagic,
    /// <summary>A version other than 1.</summary>
    UnsupportedVersion,
    /// <summary>A page size other than 4096.</summary>
    UnsupportedPageSize,
    /// <summary>A reserved field (the 16 reserved bytes, fctl bits 63:32) is not zero.</summary>
    ReservedNotZero,
    /// <summary>The page count is more than the data can hold.</summary>
    PageCountTooLarge,
    /// <summary>A page address is not 4 KiB aligned, or its page would run past 2^64.</summary>
    MisalignedPage,
    /// <summary>A page address is below the one before it.</summary>
    UnsortedPages,
    /// <summary>A page address equals the one before it.</summary>
    DuplicatePage,
    /// <summary>Bytes follow the last page.</summary>
    TrailingBytes,
}

/// <summary>An image was refused: <see cref="Error"/> says what, <see cref="Offset"/> where (the byte offset in the
/// image of the field at fault). Nothing was loaded.</summary>
public sealed class ImageFormatException : FormatException
{
    /// <summary>What is wrong.</summary>
    public ImageError Error { get; }

    /// <summary>Byte offset in the image of the field at fault.</summary>
    public long Offset { get; }

    public ImageFormatException(ImageError error, long offset, string message)
        : base($"Bad table image at offset {offset} (0x{offset:x}): {message}")
    {
        Error = error;
        Offset = offset;
    }
}
