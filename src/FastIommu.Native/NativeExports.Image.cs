using System.Runtime.InteropServices;
using FastIommu.Formats.RiscV;
using FastIommu.Hardware;
using FastIommu.Images;

namespace FastIommu.Native;

/// <summary>fastiommu_image_info in fastiommu.h (40 bytes).</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct ImageInfoNative
{
    public ulong Ddtp;
    public ulong Capabilities;
    public ulong Fctl;
    public ulong PageCount;
    public ulong SizeBytes;
}

// Table images (docs/image-format.md): capture, save, load, dump (fastiommu.h "images"). None is a hot path.
internal static unsafe partial class NativeExports
{
    [UnmanagedCallersOnly(EntryPoint = "fastiommu_image_capture")]
    public static NativeStatus ImageCapture(ulong memory, ulong ddtp, ulong capabilities, ulong fctl, ulong* image)
    {
        try
        {
            if (image == null)
            {
                return NullArgument("image");
            }

            MemoryObject? m = HandleTable.Find<MemoryObject>(memory);
            if (m is null)
            {
                return BadHandle("memory", memory);
            }

            TableImage captured = TableImage.Capture(Access(m), new Ddtp(ddtp), new Capabilities(capabilities), new Fctl((uint)fctl));
            return Publish(new ImageObject(captured), image);
        }
        catch (Exception e)
        {
            return Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "fastiommu_image_capture_iommu")]
    public static NativeStatus ImageCaptureIommu(ulong iommu, ulong* image)
    {
        try
        {
            if (image == null)
            {
                return NullArgument("image");
            }

            IommuObject? o = HandleTable.Find<IommuObject>(iommu);
            if (o is null)
            {
                return BadHandle("iommu", iommu);
            }

            TableImage captured = TableImage.Capture(o.Device, Access((MemoryObject)o.Lender!));
            return Publish(new ImageObject(captured), image);
        }
        catch (Exception e)
        {
            return Fail(e);
        }
    }

    private static IMemoryAccess Access(MemoryObject m) =>
        m.Physical is { } physical ? new PhysicalMemoryAccess(physical) : new CallbackMemoryAccess(m.Callbacks);

    [UnmanagedCallersOnly(EntryPoint = "fastiommu_image_destroy")]
    public static NativeStatus ImageDestroy(ulong image) => Destroy<ImageObject>(image);

    [UnmanagedCallersOnly(EntryPoint = "fastiommu_image_info_get")]
    public static NativeStatus ImageInfo(ulong image, ImageInfoNative* info)
    {
        try
        {
            ImageObject? i = HandleTable.Find<ImageObject>(image);
            if (i is null)
            {
                return BadHandle("image", image);
            }

            if (info == null)
            {
                return NullArgument("info");
            }

            TableImage t = i.Image;
            *info = new ImageInfoNative
            {
                Ddtp = t.Ddtp.Value,
                Capabilities = t.Capabilities.Value,
                Fctl = t.Fctl.Value,
                PageCount = (ulong)t.Memory.PageCount,
                SizeBytes = (ulong)t.SizeInBytes,
            };
            return NativeStatus.Ok;
        }
        catch (Exception e)
        {
            return Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "fastiommu_image_save")]
    public static NativeStatus ImageSave(ulong image, byte* path)
    {
        try
        {
            ImageObject? i = HandleTable.Find<ImageObject>(image);
            if (i is null)
            {
                return BadHandle("image", image);
            }

            if (path == null)
            {
                return NullArgument("path");
            }

            i.Image.Save(Marshal.PtrToStringUTF8((nint)path)!);
            return NativeStatus.Ok;
        }
        catch (Exception e)
        {
            return Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "fastiommu_image_save_buffer")]
    public static NativeStatus ImageSaveBuffer(ulong image, byte* buffer, ulong capacity, ulong* size)
    {
        try
        {
            ImageObject? i = HandleTable.Find<ImageObject>(image);
            if (i is null)
            {
                return BadHandle("image", image);
            }

            if (size == null || (buffer == null && capacity != 0))
            {
                return NullArgument(size == null ? "size" : "buffer");
            }

            ulong needed = (ulong)i.Image.SizeInBytes;
            *size = needed;
            if (capacity < needed)
            {
                return Fail(NativeStatus.BufferTooSmall, $"The image needs {needed} bytes; the buffer has {capacity}.");
            }

            using var stream = new UnmanagedMemoryStream(buffer, 0, (long)capacity, FileAccess.Write);
            i.Image.WriteTo(stream);
            return NativeStatus.Ok;
        }
        catch (Exception e)
        {
            return Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "fastiommu_image_load")]
    public static NativeStatus ImageLoad(byte* path, ulong* image)
    {
        try
        {
            if (path == null || image == null)
            {
                return NullArgument(path == null ? "path" : "image");
            }

            return Publish(new ImageObject(TableImage.Load(Marshal.PtrToStringUTF8((nint)path)!)), image);
        }
        catch (Exception e)
        {
            return Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "fastiommu_image_load_buffer")]
    public static NativeStatus ImageLoadBuffer(byte* buffer, ulong size, ulong* image)
    {
        try
        {
            if ((buffer == null && size != 0) || image == null)
            {
                return NullArgument(image == null ? "image" : "buffer");
            }

            if (size > int.MaxValue)
            {
                return Fail(NativeStatus.InvalidArgument, $"A buffer of {size} bytes is above 2 GiB: load it from a path.");
            }

            return Publish(new ImageObject(TableImage.Read(new ReadOnlySpan<byte>(buffer, (int)size))), image);
        }
        catch (Exception e)
        {
            return Fail(e);
        }
    }

    /// <summary>The text dump into the caller's buffer, NUL-terminated; *size is the bytes it needs (NUL included),
    /// set on OK and on BufferTooSmall, so a first call with capacity 0 asks for the size.</summary>
    [UnmanagedCallersOnly(EntryPoint = "fastiommu_image_dump")]
    public static NativeStatus ImageDump(ulong image, byte* buffer, ulong capacity, ulong* size)
    {
        try
        {
            ImageObject? i = HandleTable.Find<ImageObject>(image);
            if (i is null)
            {
                return BadHandle("image", image);
            }

            if (size == null || (buffer == null && capacity != 0))
            {
                return NullArgument(size == null ? "size" : "buffer");
            }

            byte[] text = DumpText(i);
            ulong needed = (ulong)text.Length + 1;
            *size = needed;
            if (capacity < needed)
            {
                return Fail(NativeStatus.BufferTooSmall, $"The dump needs {needed} bytes (with its NUL); the buffer has {capacity}.");
            }

            text.AsSpan().CopyTo(new Span<byte>(buffer, text.Length));
            buffer[text.Length] = 0;
            return NativeStatus.Ok;
        }
        catch (Exception e)
        {
            return Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "fastiommu_image_dump_file")]
    public static NativeStatus ImageDumpFile(ulong image, byte* path)
    {
        try
        {
            ImageObject? i = HandleTable.Find<ImageObject>(image);
            if (i is null)
            {
                return BadHandle("image", image);
            }

            if (path == null)
            {
                return NullArgument("path");
            }

            File.WriteAllBytes(Marshal.PtrToStringUTF8((nint)path)!, DumpText(i));
            return NativeStatus.Ok;
        }
        catch (Exception e)
        {
            return Fail(e);
        }
    }

    private static byte[] DumpText(ImageObject i)
    {
        byte[]? text = Volatile.Read(ref i.Text);
        if (text is null)
        {
            text = System.Text.Encoding.UTF8.GetBytes(TextDump.ToText(IommuDecoder.Decode(i.Image)));
            Volatile.Write(ref i.Text, text);
        }

        return text;
    }
}
