using System.Buffers.Binary;
using FastIommu.Formats.RiscV;
using FastIommu.Hardware;

namespace FastIommu.Images;

/// <summary>Capturing the structure pages of live memory and writing the image.</summary>
public sealed partial class TableImage
{
    /// <summary>
    /// An image of the structures <paramref name="ddtp"/> leads to in <paramref name="memory"/>: the DDT levels, the
    /// pages holding valid DCs, PDT levels and PCs, and every first-stage and G-stage table page (found through the
    /// G-stage where a DC has one), plus the command and fault queues when their base registers are given. Guest data
    /// pages are not included. The same memory and registers always give the same image.
    /// </summary>
    public static TableImage Capture(IMemoryAccess memory, Ddtp ddtp, Capabilities capabilities, Fctl fctl = default,
        QueueBase? cqb = null, QueueBase? fqb = null) => Capture(memory, ddtp, capabilities, fctl, cqb, fqb, pqb: null);

    /// <summary>An image of what the device <paramref name="iommu"/> currently points at in <paramref name="memory"/>
    /// (the memory it was built on): its ddtp, capabilities and fctl registers, and the command, fault and (with
    /// capabilities.ATS) page-request queues its base registers name (a queue whose base is still 0 is left out).</summary>
    public static TableImage Capture(RiscVIommu iommu, IMemoryAccess memory)
    {
        ArgumentNullException.ThrowIfNull(iommu);
        var caps = iommu.Capabilities;
        return Capture(memory, new Ddtp(iommu.Read64(RegisterOffsets.Ddtp)), caps, new Fctl(iommu.Read32(RegisterOffsets.Fctl)),
            Queue(iommu, RegisterOffsets.Cqb, true), Queue(iommu, RegisterOffsets.Fqb, true), Queue(iommu, RegisterOffsets.Pqb, caps.Ats));
    }

    /// <summary>A queue base register, or null when the queue does not exist or was never given a base (reset value 0).</summary>
    private static QueueBase? Queue(RiscVIommu iommu, uint offset, bool exists) =>
        exists && iommu.Read64(offset) is var value and not 0 ? new QueueBase(value) : null;

    private static TableImage Capture(IMemoryAccess memory, Ddtp ddtp, Capabilities capabilities, Fctl fctl,
        QueueBase? cqb, QueueBase? fqb, QueueBase? pqb)
    {
        ArgumentNullException.ThrowIfNull(memory);
        var decoded = IommuDecoder.Decode(memory, ddtp, capabilities, fctl);
        var pages = new SortedSet<ulong>(decoded.StructurePages);
        AddQueue(memory, pages, cqb, QueueBase.CommandEntrySize);
        AddQueue(memory, pages, fqb, QueueBase.FaultRecordEntrySize);
        AddQueue(memory, pages, pqb, QueueBase.PageRequestEntrySize);

        var addresses = new ulong[pages.Count];
        var words = new ulong[pages.Count * WordsPerPage];
        int i = 0;
        foreach (ulong page in pages)
        {
            addresses[i] = page;
            var bytes = System.Runtime.InteropServices.MemoryMarshal.AsBytes(words.AsSpan(i * WordsPerPage, WordsPerPage));
            if (!memory.TryRead(page, bytes))
            {
                throw new InvalidOperationException($"Page 0x{page:x} could not be read while capturing the image.");
            }

            i++;
        }

        return new TableImage(ddtp, capabilities, fctl, new SparseMemory(addresses, words, writable: false));
    }

    /// <summary>Captures from FastIommu's own physical memory.</summary>
    public static TableImage Capture(Memory.PhysicalMemory memory, Ddtp ddtp, Capabilities capabilities, Fctl fctl = default,
        QueueBase? cqb = null, QueueBase? fqb = null) =>
        Capture(new PhysicalMemoryAccess(memory), ddtp, capabilities, fctl, cqb, fqb);

    private static void AddQueue(IMemoryAccess memory, SortedSet<ulong> pages, QueueBase? queue, int entrySize)
    {
        if (queue is not { } q)
        {
            return;
        }

        ulong size = q.Entries * (ulong)entrySize;
        Span<byte> probe = stackalloc byte[8];
        for (ulong offset = 0; offset < size; offset += ImageFormat.PageSize)
        {
            ulong page = q.BaseAddress + offset;
            if (page < q.BaseAddress)
            {
                break; // wrapped past 2^64
            }

            if (memory.TryRead(page, probe))
            {
                pages.Add(page);
            }
        }
    }

    /// <summary>Writes the image (<see cref="SizeInBytes"/> bytes) to <paramref name="stream"/>.</summary>
    public void WriteTo(Stream stream)
    {
        ArgumentNullException.ThrowIfNull(stream);
        Span<byte> header = stackalloc byte[ImageFormat.HeaderSize];
        header.Clear();
        BinaryPrimitives.WriteUInt64LittleEndian(header[ImageFormat.MagicOffset..], ImageFormat.Magic);
        BinaryPrimitives.WriteUInt32LittleEndian(header[ImageFormat.VersionOffset..], ImageFormat.Version);
        BinaryPrimitives.WriteUInt32LittleEndian(header[ImageFormat.PageSizeOffset..], ImageFormat.PageSize);
        BinaryPrimitives.WriteUInt64LittleEndian(header[ImageFormat.DdtpOffset..], Ddtp.Value);
        BinaryPrimitives.WriteUInt64LittleEndian(header[ImageFormat.CapabilitiesOffset..], Capabilities.Value);
        BinaryPrimitives.WriteUInt64LittleEndian(header[ImageFormat.FctlOffset..], Fctl.Value);
        BinaryPrimitives.WriteUInt64LittleEndian(header[ImageFormat.PageCountOffset..], (ulong)Memory.PageCount);
        stream.Write(header);

        Span<byte> address = stackalloc byte[8];
        for (int i = 0; i < Memory.PageCount; i++)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(address, Memory.PageAddress(i));
            stream.Write(address);
            stream.Write(Memory.PageBytes(i));
        }
    }

    /// <summary>The image's bytes.</summary>
    public byte[] ToArray()
    {
        using var stream = new MemoryStream((int)Math.Min(SizeInBytes, int.MaxValue));
        WriteTo(stream);
        return stream.ToArray();
    }

    /// <summary>Writes the image to the file <paramref name="path"/> (replaced if it exists).</summary>
    public void Save(string path)
    {
        using var file = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16);
        WriteTo(file);
    }
}
