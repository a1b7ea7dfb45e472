using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace FastIommu.Memory;

/// <summary>
/// The one owner of raw memory: a pinned unmanaged region that stands for the physical range
/// [<see cref="BaseAddress"/>, <see cref="BaseAddress"/> + <see cref="Size"/>).
/// Every conversion of a physical address into a reference or span in FastIommu goes through here,
/// bounds-checked. Page tables, contexts and queues live in it exactly as hardware would read them.
/// </summary>
/// <remarks>
/// Either allocated here (4 KiB aligned, zeroed, freed on <see cref="Dispose"/>) or wrapped around memory the
/// caller owns, such as an emulator's guest RAM (never freed here). Dispose is idempotent; using the memory
/// after Dispose is a bug of the caller and fails with <see cref="ObjectDisposedException"/> on the checked paths.
/// </remarks>
public sealed unsafe class PhysicalMemory : IDisposable
{
    /// <summary>The granule of physical memory: one 4 KiB page.</summary>
    public const int PageSize = 4096;
    public const int PageShift = 12;

    // Host address of BaseAddress; 0 once disposed. An nint so Dispose can swap it atomically.
    private nint _pointer;
    private readonly bool _owned;

    /// <summary>Physical address of the first byte.</summary>
    public ulong BaseAddress { get; }

    /// <summary>Length of the range in bytes (a multiple of 4 KiB).</summary>
    public ulong Size { get; }

    /// <summary>One past the last physical address of the range.</summary>
    public ulong EndAddress => BaseAddress + Size;

    /// <summary>True when this object allocated the memory and frees it on <see cref="Dispose"/>.</summary>
    public bool OwnsMemory => _owned;

    private PhysicalMemory(byte* pointer, ulong size, ulong basePa, bool owned)
    {
        _pointer = (nint)pointer;
        Size = size;
        BaseAddress = basePa;
        _owned = owned;
    }

    /// <summary>Allocates <paramref name="size"/> bytes of zeroed, pinned, 4 KiB-aligned memory standing for
    /// physical addresses starting at <paramref name="basePa"/>.</summary>
    /// <exception cref="ArgumentException">size is zero or not a multiple of 4 KiB, basePa is not 4 KiB aligned,
    /// or the range wraps past 2^64.</exception>
    public static PhysicalMemory Allocate(ulong size, ulong basePa = 0)
    {
        CheckRange(size, basePa);
        // AlignedAlloc throws OutOfMemoryException itself when the host has no memory.
        var pointer = (byte*)NativeMemory.AlignedAlloc((nuint)size, PageSize);
        NativeMemory.Clear(pointer, (nuint)size);
        return new PhysicalMemory(pointer, size, basePa, owned: true);
    }

    /// <summary>Wraps memory the caller owns (an emulator's RAM) without copying. The caller keeps it alive
    /// and pinned for the lifetime of this object; <see cref="Dispose"/> does not free it.</summary>
    public static PhysicalMemory Wrap(nint hostAddress, ulong size, ulong basePa)
    {
        if (hostAddress == 0)
        {
            throw new ArgumentNullException(nameof(hostAddress));
        }

        CheckRange(size, basePa);
        if ((hostAddress & 7) != 0)
        {
            throw new ArgumentException($"Wrapped memory at 0x{hostAddress:x} must be 8-byte aligned for atomic PTE access.", nameof(hostAddress));
        }

        return new PhysicalMemory((byte*)hostAddress, size, basePa, owned: false);
    }

    private static void CheckRange(ulong size, ulong basePa)
    {
        if (size == 0 || (size & (PageSize - 1)) != 0)
        {
            throw new ArgumentException($"Physical memory size 0x{size:x} must be a non-zero multiple of 4 KiB.", nameof(size));
        }

        if ((basePa & (PageSize - 1)) != 0)
        {
            throw new ArgumentException($"Physical base 0x{basePa:x} must be 4 KiB aligned.", nameof(basePa));
        }

        if (basePa + size < basePa)
        {
            throw new ArgumentException($"Physical range 0x{basePa:x} + 0x{size:x} wraps past 2^64.", nameof(size));
        }
    }

    /// <summary>True when [pa, pa + length) lies entirely inside this memory.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool Contains(ulong pa, ulong length)
    {
        ulong offset = pa - BaseAddress;
        return pa >= BaseAddress && length <= Size && offset <= Size - length;
    }

    /// <summary>A reference to the <typeparamref name="T"/> at physical address <paramref name="pa"/>.
    /// Bounds-checked; <paramref name="pa"/> must be aligned to <c>sizeof(T)</c> when that is 2, 4 or 8
    /// so atomic access through the reference is sound.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ref T GetRef<T>(ulong pa) where T : unmanaged
    {
        ulong offset = pa - BaseAddress;
        // One unsigned compare covers pa < BaseAddress (offset wraps to a huge value) and pa past the end.
        if (offset > Size - (ulong)sizeof(T) || (pa & (ulong)(NaturalAlignment<T>() - 1)) != 0)
        {
            ThrowBadAccess(pa, (ulong)sizeof(T));
        }

        return ref Unsafe.AsRef<T>(CheckedPointer() + offset);
    }

    /// <summary>The 64-bit word at <paramref name="pa"/> (8-byte aligned): the access every table walk makes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ref ulong Qword(ulong pa) => ref GetRef<ulong>(pa);

    /// <summary><paramref name="count"/> elements of <typeparamref name="T"/> starting at <paramref name="pa"/>.</summary>
    public Span<T> GetSpan<T>(ulong pa, int count) where T : unmanaged
    {
        ulong length = (ulong)count * (ulong)sizeof(T);
        if (count < 0 || !Contains(pa, length) || (pa & (ulong)(NaturalAlignment<T>() - 1)) != 0)
        {
            ThrowBadAccess(pa, length);
        }

        return new Span<T>(CheckedPointer() + (pa - BaseAddress), count);
    }

    /// <summary><paramref name="length"/> bytes starting at <paramref name="pa"/>.</summary>
    public Span<byte> GetSpan(ulong pa, int length) => GetSpan<byte>(pa, length);

    /// <summary>The 4 KiB page at <paramref name="pa"/> as its 512 64-bit entries.</summary>
    public Span<ulong> GetPage(ulong pa)
    {
        if ((pa & (PageSize - 1)) != 0)
        {
            ThrowBadAccess(pa, PageSize);
        }

        return GetSpan<ulong>(pa, PageSize / sizeof(ulong));
    }

    /// <summary>The 64-bit word at <paramref name="pa"/>, or a null reference (test with
    /// <see cref="Unsafe.IsNullRef{T}(ref readonly T)"/>) when <paramref name="pa"/> is outside this memory, not 8-byte
    /// aligned, or the memory is disposed: one check, for the hardware walkers that turn a bad address into an access
    /// fault instead of an exception.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal ref ulong QwordOrNull(ulong pa)
    {
        ulong offset = pa - BaseAddress;
        byte* p = (byte*)Volatile.Read(ref _pointer);
        // Size is a non-zero multiple of 4 KiB, so Size - 8 does not wrap; one unsigned compare covers both ends.
        if (offset > Size - sizeof(ulong) || (pa & (sizeof(ulong) - 1)) != 0 || p == null)
        {
            return ref Unsafe.NullRef<ulong>();
        }

        return ref Unsafe.AsRef<ulong>(p + offset);
    }

    /// <summary>Host pointer of physical address <paramref name="pa"/>, for the few walkers in this assembly
    /// that must step through tables without a bounds check per access. They check the range themselves.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal byte* UncheckedPointer(ulong pa) => (byte*)_pointer + (pa - BaseAddress);

    /// <summary>The host address of the first byte (for native callers and tests).</summary>
    public nint HostPointer => (nint)CheckedPointer();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private byte* CheckedPointer()
    {
        byte* p = (byte*)Volatile.Read(ref _pointer);
        if (p == null)
        {
            ThrowDisposed();
        }

        return p;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int NaturalAlignment<T>() where T : unmanaged =>
        sizeof(T) is 2 or 4 or 8 ? sizeof(T) : 1;

    [DoesNotReturn]
    private void ThrowBadAccess(ulong pa, ulong length) =>
        throw new PhysicalAddressException(pa, length,
            $"Physical access 0x{pa:x} + 0x{length:x} is outside [0x{BaseAddress:x}, 0x{EndAddress:x}) or misaligned.");

    [DoesNotReturn]
    private static void ThrowDisposed() => throw new ObjectDisposedException(nameof(PhysicalMemory));

    /// <summary>Frees the memory if this object allocated it. Idempotent and safe to race.</summary>
    public void Dispose()
    {
        var p = (byte*)Interlocked.Exchange(ref _pointer, 0);
        if (p != null && _owned)
        {
            NativeMemory.AlignedFree(p);
        }
    }
}

/// <summary>A physical address that is outside the memory, or misaligned for the access made.</summary>
public sealed class PhysicalAddressException : ArgumentOutOfRangeException
{
    /// <summary>The physical address of the access.</summary>
    public ulong Address { get; }

    /// <summary>The length of the access in bytes.</summary>
    public ulong Length { get; }

    public PhysicalAddressException(ulong address, ulong length, string message) : base(nameof(address), message)
    {
        Address = address;
        Length = length;
    }
}
