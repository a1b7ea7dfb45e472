using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using FastIommu.Hardware;

namespace FastIommu.Images;

/// <summary>
/// Physical memory made of separate 4 KiB pages at ascending addresses: a loaded table image, or a flat dump of a
/// guest's RAM. Addresses outside its pages are access faults (false), as on a bus with nothing there.
/// </summary>
/// <remarks>
/// Read-only unless created writable: then a translator may set PTE A/D bits in this private copy (never in the file
/// it came from). Pages are kept as 64-bit words, so every aligned 8-byte access is single-copy atomic. Lookup is
/// arithmetic when the pages are contiguous, else one probe of an open-addressing table keyed by page number.
/// </remarks>
public sealed class SparseMemory : IMemoryAccess
{
    private const int WordsPerPage = ImageFormat.PageSize / sizeof(ulong);

    private readonly ulong[] _addresses; // ascending, 4 KiB aligned
    private readonly ulong[] _words;     // page i at [i * 512, (i + 1) * 512)
    private readonly int[] _index;       // open addressing: page index + 1, 0 = empty; empty when dense
    private readonly int _indexMask;
    private readonly ulong _denseBase;   // contiguous pages: page i is at _denseBase + i * 4096
    private readonly bool _dense;

    /// <summary>Pages at <paramref name="addresses"/> (ascending, distinct, 4 KiB aligned) whose contents are
    /// <paramref name="words"/> (512 words per page, in the same order). Takes ownership of both arrays.</summary>
    internal SparseMemory(ulong[] addresses, ulong[] words, bool writable)
    {
        _addresses = addresses;
        _words = words;
        IsWritable = writable;
        int n = addresses.Length;
        _dense = n == 0 || addresses[n - 1] - addresses[0] == (ulong)(n - 1) * ImageFormat.PageSize;
        _denseBase = n == 0 ? 0 : addresses[0];
        if (_dense)
        {
            _index = [];
            return;
        }

        int size = (int)BitOperationsCeil((uint)n * 2);
        _index = new int[size];
        _indexMask = size - 1;
        for (int i = 0; i < n; i++)
        {
            int slot = Hash(addresses[i] >> 12) & _indexMask;
            while (_index[slot] != 0)
            {
                slot = (slot + 1) & _indexMask;
            }

            _index[slot] = i + 1;
        }
    }

    /// <summary>A memory of the given pages (ascending, distinct, 4 KiB aligned; each span 4096 bytes).</summary>
    /// <exception cref="ArgumentException">The addresses are not ascending, distinct and aligned, or a page is not 4096 bytes.</exception>
    public static SparseMemory FromPages(IReadOnlyList<(ulong Address, byte[] Bytes)> pages, bool writable = false)
    {
        ArgumentNullException.ThrowIfNull(pages);
        var addresses = new ulong[pages.Count];
        var words = new ulong[pages.Count * WordsPerPage];
        for (int i = 0; i < pages.Count; i++)
        {
            (ulong address, byte[] bytes) = pages[i];
            if ((address & (ImageFormat.PageSize - 1)) != 0 || (i > 0 && address <= addresses[i - 1])
                || address > ulong.MaxValue - ImageFormat.PageSize + 1)
            {
                throw new ArgumentException($"Page {i} at 0x{address:x} is misaligned or not above the page before it.", nameof(pages));
            }

            if (bytes is null || bytes.Length != ImageFormat.PageSize)
            {
                throw new ArgumentException($"Page {i} at 0x{address:x} must be {ImageFormat.PageSize} bytes.", nameof(pages));
            }

            addresses[i] = address;
            bytes.CopyTo(MemoryMarshal.AsBytes(words.AsSpan(i * WordsPerPage, WordsPerPage)));
        }

        return new SparseMemory(addresses, words, writable);
    }

    /// <summary>A flat memory dump (an emulator's memory-save file) standing for physical addresses from
    /// <paramref name="baseAddress"/>. Its length must be a non-zero multiple of 4 KiB.</summary>
    /// <exception cref="ArgumentException">Bad length or base, or the range wraps past 2^64.</exception>
    public static SparseMemory FromFlat(ReadOnlySpan<byte> bytes, ulong baseAddress, bool writable = false)
    {
        CheckFlat((ulong)bytes.Length, baseAddress);
        int pages = bytes.Length / ImageFormat.PageSize;
        var words = new ulong[pages * WordsPerPage];
        bytes.CopyTo(MemoryMarshal.AsBytes(words.AsSpan()));
        return new SparseMemory(FlatAddresses(baseAddress, pages), words, writable);
    }

    /// <summary>Reads a flat memory dump from <paramref name="path"/> (see <see cref="FromFlat"/>).</summary>
    public static SparseMemory LoadFlat(string path, ulong baseAddress, bool writable = false)
    {
        using var file = File.OpenRead(path);
        long length = file.Length;
        if (length > (long)int.MaxValue * sizeof(ulong))
        {
            throw new ArgumentException($"{path}: {length} bytes is more than a flat dump can be loaded as.", nameof(path));
        }

        CheckFlat((ulong)length, baseAddress);
        int pages = (int)(length / ImageFormat.PageSize);
        var words = new ulong[(long)pages * WordsPerPage];
        file.ReadExactly(MemoryMarshal.AsBytes(words.AsSpan()));
        return new SparseMemory(FlatAddresses(baseAddress, pages), words, writable);
    }

    private static void CheckFlat(ulong length, ulong baseAddress)
    {
        if (length == 0 || (length & (ImageFormat.PageSize - 1)) != 0)
        {
            throw new ArgumentException($"A flat memory dump must be a non-zero multiple of 4096 bytes, not {length}.");
        }

        if ((baseAddress & (ImageFormat.PageSize - 1)) != 0 || baseAddress + length - 1 < baseAddress)
        {
            throw new ArgumentException($"Base 0x{baseAddress:x} must be 4 KiB aligned and the dump must not wrap past 2^64.");
        }
    }

    private static ulong[] FlatAddresses(ulong baseAddress, int pages)
    {
        var addresses = new ulong[pages];
        for (int i = 0; i < pages; i++)
        {
            addresses[i] = baseAddress + ((ulong)i << 12);
        }

        return addresses;
    }

    /// <summary>Writes are accepted (into this copy) rather than refused as access faults.</summary>
    public bool IsWritable { get; }

    /// <summary>Number of pages.</summary>
    public int PageCount => _addresses.Length;

    /// <summary>Address of page <paramref name="index"/> (ascending in <paramref name="index"/>).</summary>
    public ulong PageAddress(int index) => _addresses[index];

    /// <summary>The bytes of page <paramref name="index"/>.</summary>
    public ReadOnlySpan<byte> PageBytes(int index) =>
        MemoryMarshal.AsBytes(new ReadOnlySpan<ulong>(_words, index * WordsPerPage, WordsPerPage));

    /// <summary>The page holding <paramref name="pa"/>, or -1.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int IndexOf(ulong pa)
    {
        if (_dense)
        {
            ulong i = (pa - _denseBase) >> 12;
            return i < (ulong)_addresses.Length ? (int)i : -1;
        }

        ulong page = pa >> 12;
        int slot = Hash(page) & _indexMask;
        while (true)
        {
            int entry = _index[slot];
            if (entry == 0)
            {
                return -1;
            }

            if (_addresses[entry - 1] >> 12 == page)
            {
                return entry - 1;
            }

            slot = (slot + 1) & _indexMask;
        }
    }

    /// <summary>The 64-bit word at <paramref name="pa"/> (8-byte aligned), or a null reference.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal ref ulong WordOrNull(ulong pa)
    {
        int page = IndexOf(pa);
        if (page < 0 || (pa & 7) != 0)
        {
            return ref Unsafe.NullRef<ulong>();
        }

        return ref _words[(page * WordsPerPage) + (int)((pa & 0xFFF) >> 3)];
    }

    public bool TryRead64(ulong pa, out ulong value)
    {
        ref ulong word = ref WordOrNull(pa);
        if (Unsafe.IsNullRef(ref word))
        {
            value = 0;
            return false;
        }

        value = Volatile.Read(ref word);
        return true;
    }

    public bool TryWrite64(ulong pa, ulong value)
    {
        ref ulong word = ref WordOrNull(pa);
        if (!IsWritable || Unsafe.IsNullRef(ref word))
        {
            return false;
        }

        Volatile.Write(ref word, value);
        return true;
    }

    public bool TryCompareExchange64(ulong pa, ulong expected, ulong desired, out ulong observed)
    {
        ref ulong word = ref WordOrNull(pa);
        if (!IsWritable || Unsafe.IsNullRef(ref word))
        {
            observed = 0;
            return false;
        }

        observed = Interlocked.CompareExchange(ref word, desired, expected);
        return true;
    }

    public bool TryRead(ulong pa, Span<byte> destination)
    {
        // Byte by page: a read may cross into the next page only when that page is present too.
        while (!destination.IsEmpty)
        {
            int page = IndexOf(pa);
            if (page < 0)
            {
                return false;
            }

            int offset = (int)(pa & 0xFFF);
            int chunk = Math.Min(destination.Length, ImageFormat.PageSize - offset);
            PageBytes(page).Slice(offset, chunk).CopyTo(destination);
            destination = destination[chunk..];
            pa += (ulong)chunk;
        }

        return true;
    }

    public bool TryWrite(ulong pa, ReadOnlySpan<byte> source)
    {
        if (!IsWritable)
        {
            return false;
        }

        // Check every page first: a refused write changes nothing.
        for (ulong p = pa & ~0xFFFUL, end = pa + (ulong)source.Length; p < end; p += ImageFormat.PageSize)
        {
            if (IndexOf(p) < 0)
            {
                return false;
            }
        }

        while (!source.IsEmpty)
        {
            int page = IndexOf(pa);
            int offset = (int)(pa & 0xFFF);
            int chunk = Math.Min(source.Length, ImageFormat.PageSize - offset);
            source[..chunk].CopyTo(MemoryMarshal.AsBytes(_words.AsSpan(page * WordsPerPage, WordsPerPage))[offset..]);
            source = source[chunk..];
            pa += (ulong)chunk;
        }

        return true;
    }

    /// <summary>A copy whose writes are accepted (A/D updates of a translator go to the copy).</summary>
    public SparseMemory ToWritableCopy() => new((ulong[])_addresses.Clone(), (ulong[])_words.Clone(), writable: true);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int Hash(ulong page) => (int)((page * 0x9E37_79B9_7F4A_7C15UL) >> 33);

    private static ulong BitOperationsCeil(uint value) => System.Numerics.BitOperations.RoundUpToPowerOf2(Math.Max(value, 2u));
}

/// <summary>The <see cref="IMemoryAccess"/> struct over a <see cref="SparseMemory"/>, so a translator created with
/// <see cref="IommuTranslator.Create{TMemory}"/> specialises its walkers for it.</summary>
public readonly struct SparseMemoryAccess : IMemoryAccess
{
    private readonly SparseMemory _memory;

    public SparseMemoryAccess(SparseMemory memory)
    {
        ArgumentNullException.ThrowIfNull(memory);
        _memory = memory;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryRead64(ulong pa, out ulong value)
    {
        ref ulong word = ref _memory.WordOrNull(pa);
        if (Unsafe.IsNullRef(ref word))
        {
            value = 0;
            return false;
        }

        value = Volatile.Read(ref word);
        return true;
    }

    public bool TryWrite64(ulong pa, ulong value) => _memory.TryWrite64(pa, value);

    public bool TryCompareExchange64(ulong pa, ulong expected, ulong desired, out ulong observed) =>
        _memory.TryCompareExchange64(pa, expected, desired, out observed);

    public bool TryRead(ulong pa, Span<byte> destination) => _memory.TryRead(pa, destination);

    public bool TryWrite(ulong pa, ReadOnlySpan<byte> source) => _memory.TryWrite(pa, source);
}
