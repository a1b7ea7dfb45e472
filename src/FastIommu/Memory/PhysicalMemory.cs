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
/// <para>Either allocated here (4 KiB aligned, zeroed, freed on <see cref="Dispose"/>) or wrapped around memory the
/// caller owns, such as an emulator's guest RAM (never freed here).</para>
/// <para><b>Lifetime.</b> Dispose is idempotent and safe to race; afterwards every public member throws
/// <see cref="ObjectDisposedException"/>, and the hardware accesses (<c>PhysicalMemoryAccess</c>) are access faults.
/// Objects that keep a raw pointer into the memory (page tables) register as its users
/// (<see cref="UserCount"/>): Dispose tells them, so each of their calls throws <see cref="ObjectDisposedException"/>
/// from then on, and an allocated block is freed only when the last user is disposed too (as a
/// <see cref="SafeHandle"/> defers its release while it is referenced), so no disposal order can free memory
/// under a call still running on another thread. A wrapped block is the caller's: dispose the users and then the
/// wrapper before freeing it, and free it only when no call is running.</para>
/// </remarks>
public sealed unsafe class PhysicalMemory : IDisposable
{
    /// <summary>The granule of physical memory: one 4 KiB page.</summary>
    public const int PageSize = 4096;
    public const int PageShift = 12;

    /// <summary>The size and alignment of the host's transparent huge pages that <see cref="Allocate"/> asks for.</summary>
    private const int HugePageSize = 2 << 20;

    // Host address of BaseAddress; 0 once disposed. An nint so Dispose can swap it atomically.
    private nint _pointer;
    private readonly byte* _block; // what Allocate got, freed when disposed and no user is left
    private readonly bool _owned;
    private readonly ulong _base;
    private readonly ulong _size;
    private readonly Lock _usersGate = new();
    private readonly List<IPhysicalMemoryUser> _users = [];
    private bool _freed;

    /// <summary>Physical address of the first byte.</summary>
    public ulong BaseAddress => Live(_base);

    /// <summary>Length of the range in bytes (a multiple of 4 KiB).</summary>
    public ulong Size => Live(_size);

    /// <summary>One past the last physical address of the range.</summary>
    public ulong EndAddress => Live(_base + _size);

    /// <summary>True when this object allocated the memory and frees it on <see cref="Dispose"/>.</summary>
    public bool OwnsMemory => Live(_owned);

    /// <summary>Objects that hold a raw pointer into this memory and are not disposed yet (page tables): an allocated
    /// block is freed when it is disposed and this count is 0.</summary>
    public int UserCount
    {
        get
        {
            lock (_usersGate)
            {
                return Live(_users.Count);
            }
        }
    }

    private PhysicalMemory(byte* pointer, ulong size, ulong basePa, bool owned)
    {
        _pointer = (nint)pointer;
        _block = pointer;
        _size = size;
        _base = basePa;
        _owned = owned;
    }

    /// <summary>Allocates <paramref name="size"/> bytes of zeroed, pinned, 4 KiB-aligned memory standing for
    /// physical addresses starting at <paramref name="basePa"/>. From 2 MiB up it is 2 MiB aligned and, on Linux,
    /// advised as transparent huge pages (madvise MADV_HUGEPAGE), so that gigabytes of tables cost few host TLB misses.</summary>
    /// <exception cref="ArgumentException">size is zero or not a multiple of 4 KiB, basePa is not 4 KiB aligned,
    /// or the range wraps past 2^64.</exception>
    public static PhysicalMemory Allocate(ulong size, ulong basePa = 0)
    {
        CheckRange(size, basePa);
        // AlignedAlloc throws OutOfMemoryException itself when the host has no memory. A memory of 2 MiB or more is
        // 2 MiB aligned and asks Linux for transparent huge pages before it is first touched (the clear below), as
        // an emulator backs its guest RAM: a walk over gigabytes of tables then rarely misses the host's TLB.
        bool huge = size >= HugePageSize;
        var pointer = (byte*)NativeMemory.AlignedAlloc((nuint)size, huge ? (nuint)HugePageSize : PageSize);
        if (huge && OperatingSystem.IsLinux())
        {
            _ = HostMemory.AdviseHugePages(pointer, (nuint)size); // advice only: refused, the memory works as it is
        }

        NativeMemory.Clear(pointer, (nuint)size);
        return new PhysicalMemory(pointer, size, basePa, owned: true);
    }

    /// <summary>Wraps memory the caller owns (an emulator's RAM) without copying. The caller keeps it alive
    /// and pinned for the lifetime of this object; <see cref="Dispose"/> does not free it.</summary>
    /// <remarks>Teardown: dispose the tables on it, then this wrapper, then free the block (with no call running).
    /// After this wrapper is disposed every library path fails cleanly (exceptions, or access faults for the
    /// hardware model), so freeing the block then is safe.</remarks>
    /// <exception cref="ArgumentException"><paramref name="hostAddress"/> is not 4 KiB aligned, or a bad range.</exception>
    public static PhysicalMemory Wrap(nint hostAddress, ulong size, ulong basePa)
    {
        if (hostAddress == 0)
        {
            throw new ArgumentNullException(nameof(hostAddress));
        }

        CheckRange(size, basePa);
        if ((hostAddress & (PageSize - 1)) != 0)
        {
            // Page aligned, as Allocate's memory: a physical page is then a host page, so every aligned structure
            // (a PTE, a 32-byte vector of PTEs, a queue entry) is aligned in host memory too.
            throw new ArgumentException(
                $"Wrapped memory at 0x{hostAddress:x} must be 4 KiB (page) aligned, like the physical pages it stands for; it is {hostAddress & (PageSize - 1)} bytes past a 4 KiB boundary.",
                nameof(hostAddress));
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
    public bool Contains(ulong pa, ulong length) => Live(InRange(pa, length));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool InRange(ulong pa, ulong length)
    {
        ulong offset = pa - _base;
        return pa >= _base && length <= _size && offset <= _size - length;
    }

    /// <summary>A reference to the <typeparamref name="T"/> at physical address <paramref name="pa"/>.
    /// Bounds-checked; <paramref name="pa"/> must be aligned to <c>sizeof(T)</c> when that is 2, 4 or 8
    /// so atomic access through the reference is sound.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ref T GetRef<T>(ulong pa) where T : unmanaged
    {
        ulong offset = pa - _base;
        // One unsigned compare covers pa < BaseAddress (offset wraps to a huge value) and pa past the end.
        if (offset > _size - (ulong)sizeof(T) || (pa & (ulong)(NaturalAlignment<T>() - 1)) != 0)
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
        byte* p = CheckedPointer();
        if (count < 0 || !InRange(pa, length) || (pa & (ulong)(NaturalAlignment<T>() - 1)) != 0)
        {
            ThrowBadAccess(pa, length);
        }

        return new Span<T>(p + (pa - _base), count);
    }

    /// <summary><paramref name="length"/> bytes starting at <paramref name="pa"/>.</summary>
    public Span<byte> GetSpan(ulong pa, int length) => GetSpan<byte>(pa, length);

    /// <summary>The 4 KiB page at <paramref name="pa"/> as its 512 64-bit entries.</summary>
    public Span<ulong> GetPage(ulong pa)
    {
        _ = CheckedPointer();
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
        ulong offset = pa - _base;
        byte* p = (byte*)Volatile.Read(ref _pointer);
        // Size is a non-zero multiple of 4 KiB, so Size - 8 does not wrap; one unsigned compare covers both ends.
        if (offset > _size - sizeof(ulong) || (pa & (sizeof(ulong) - 1)) != 0 || p == null)
        {
            return ref Unsafe.NullRef<ulong>();
        }

        return ref Unsafe.AsRef<ulong>(p + offset);
    }

    /// <summary>The span of [pa, pa + length), or false when it is outside this memory or the memory is disposed:
    /// for the hardware model's block accesses, which turn both into access faults.</summary>
    internal bool TryGetSpan(ulong pa, int length, out Span<byte> span)
    {
        byte* p = (byte*)Volatile.Read(ref _pointer);
        if (p == null || length < 0 || !InRange(pa, (ulong)length))
        {
            span = default;
            return false;
        }

        span = new Span<byte>(p + (pa - _base), length);
        return true;
    }

    /// <summary>Host pointer of physical address <paramref name="pa"/>, for the few walkers in this assembly
    /// that must step through tables without a bounds check per access. They check the range themselves, and
    /// register with <see cref="AddUser"/> first so the memory is not freed under them.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal byte* UncheckedPointer(ulong pa) => CheckedPointer() + (pa - _base);

    /// <summary>Registers an object that holds a raw pointer into this memory. It is told when the memory is
    /// disposed (and must then stop using the pointer at its next call); an allocated block is freed only after it
    /// called <see cref="RemoveUser"/>.</summary>
    /// <exception cref="ObjectDisposedException">The memory is disposed.</exception>
    internal void AddUser(IPhysicalMemoryUser user)
    {
        lock (_usersGate)
        {
            _ = CheckedPointer();
            _users.Add(user);
        }
    }

    /// <summary>The user is disposed: it will not touch the memory again. Frees a disposed allocated block when it
    /// was the last one.</summary>
    internal void RemoveUser(IPhysicalMemoryUser user)
    {
        lock (_usersGate)
        {
            _users.Remove(user);
            FreeIfUnused();
        }
    }

    /// <summary>The host address of the first byte, or null once disposed (for hints that read without throwing:
    /// the translator's prefetch).</summary>
    internal byte* HostOrNull => (byte*)Volatile.Read(ref _pointer);

    /// <summary><see cref="BaseAddress"/> and <see cref="Size"/> without the disposed check (with <see cref="HostOrNull"/>).</summary>
    internal ulong BaseAddressUnchecked => _base;

    /// <inheritdoc cref="BaseAddressUnchecked"/>
    internal ulong SizeUnchecked => _size;

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

    /// <summary>Throws <see cref="ObjectDisposedException"/> once disposed: for users that must check before they
    /// change their own state (the allocator).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal void ThrowIfDisposed() => _ = CheckedPointer();

    /// <summary><paramref name="value"/>, or ObjectDisposedException once disposed.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private T Live<T>(T value)
    {
        _ = CheckedPointer();
        return value;
    }

    [DoesNotReturn]
    private void ThrowBadAccess(ulong pa, ulong length) =>
        throw new PhysicalAddressException(pa, length,
            $"Physical access 0x{pa:x} + 0x{length:x} is outside [0x{_base:x}, 0x{_base + _size:x}) or misaligned.");

    [DoesNotReturn]
    private static void ThrowDisposed() => throw new ObjectDisposedException(nameof(PhysicalMemory));

    /// <summary>Ends this object: every public member throws from now on, users (page tables) are told and throw at
    /// their next call, and memory this object allocated is freed now, or when the last user is disposed. Idempotent
    /// and safe to race.</summary>
    public void Dispose()
    {
        IPhysicalMemoryUser[] users;
        lock (_usersGate)
        {
            if (Interlocked.Exchange(ref _pointer, 0) == 0)
            {
                return;
            }

            users = [.. _users];
            FreeIfUnused();
        }

        foreach (IPhysicalMemoryUser user in users)
        {
            user.OnMemoryDisposed();
        }
    }

    /// <summary>Under the gate: frees a disposed, allocated block that no user holds any more.</summary>
    private void FreeIfUnused()
    {
        if (_owned && !_freed && _users.Count == 0 && Volatile.Read(ref _pointer) == 0)
        {
            _freed = true;
            NativeMemory.AlignedFree(_block);
        }
    }
}

/// <summary>An object that holds a raw pointer into a <see cref="PhysicalMemory"/> (see
/// <see cref="PhysicalMemory.AddUser"/>).</summary>
internal interface IPhysicalMemoryUser
{
    /// <summary>The memory was disposed: refuse every later call (the block stays allocated until this user is
    /// disposed, so a call already running finishes safely).</summary>
    void OnMemoryDisposed();
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
