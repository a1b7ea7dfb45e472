using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;

namespace FastIommu.Memory;

/// <summary>
/// Hands out zeroed 4 KiB pages, and 16 KiB-aligned blocks of 4 pages (G-stage x4 roots), from a range of
/// <see cref="PhysicalMemory"/>. Lock-free and safe from any number of threads.
/// </summary>
/// <remarks>
/// Deterministic: a fresh allocator and the same sequence of calls from one thread give the same addresses
/// (byte-exact dumps depend on it). Freed pages are reused last-in first-out before fresh ones are taken.
/// Free lists are Treiber stacks whose head packs (ABA tag &lt;&lt; 32 | page index + 1); the link to the next
/// free page is stored in the free page itself, which nobody else can see while it is free.
/// An allocation bitmap catches double frees and frees of pages never handed out.
/// Exhaustion is a value (<see cref="TryAllocatePage"/> returns false) and changes nothing.
/// </remarks>
public sealed class PageAllocator
{
    /// <summary>Pages in one G-stage root block (2048 entries × 8 B = 16 KiB).</summary>
    public const int BlockPages = 4;
    public const ulong BlockSize = BlockPages * PhysicalMemory.PageSize;

    private const ulong EmptyList = 0;

    private readonly PhysicalMemory _memory;
    private readonly ulong _start;
    private readonly uint _pageCount;
    private readonly ulong[] _allocated; // one bit per page: set while the page is handed out

    private ulong _pageFreeList;  // tag << 32 | (page index + 1)
    private ulong _blockFreeList; // same, for whole 4-page blocks
    private uint _bump;           // index of the first page never handed out
    private long _pagesInUse;

    /// <summary>An allocator over the whole of <paramref name="memory"/>.</summary>
    /// <exception cref="ArgumentNullException"><paramref name="memory"/> is null.</exception>
    public PageAllocator(PhysicalMemory memory)
        : this(memory, NotNull(memory).BaseAddress, memory.Size) { }

    private static PhysicalMemory NotNull(PhysicalMemory memory)
    {
        ArgumentNullException.ThrowIfNull(memory);
        return memory;
    }

    /// <summary>An allocator over [<paramref name="start"/>, <paramref name="start"/> + <paramref name="size"/>),
    /// which must lie inside <paramref name="memory"/> and be 4 KiB aligned (an emulator reserves a window of its RAM).</summary>
    public PageAllocator(PhysicalMemory memory, ulong start, ulong size)
    {
        ArgumentNullException.ThrowIfNull(memory);
        if ((start | size) % PhysicalMemory.PageSize != 0 || size == 0 || !memory.Contains(start, size))
        {
            throw new ArgumentException(
                $"Allocator range 0x{start:x} + 0x{size:x} must be non-empty, 4 KiB aligned and inside the physical memory.", nameof(size));
        }

        if (size / PhysicalMemory.PageSize >= uint.MaxValue)
        {
            throw new ArgumentException($"Allocator range of 0x{size:x} bytes has more than 2^32 - 1 pages.", nameof(size));
        }

        _memory = memory;
        _start = start;
        _pageCount = (uint)(size / PhysicalMemory.PageSize);
        _allocated = new ulong[(_pageCount + 63) / 64];
    }

    /// <summary>The memory the pages come from.</summary>
    public PhysicalMemory Memory => _memory;

    /// <summary>First physical address of the managed range.</summary>
    public ulong Start => _start;

    /// <summary>Total pages in the managed range.</summary>
    public long TotalPages => _pageCount;

    /// <summary>Pages currently handed out (a block counts as 4).</summary>
    public long PagesInUse => Volatile.Read(ref _pagesInUse);

    /// <summary>Pages not handed out.</summary>
    public long PagesFree => _pageCount - PagesInUse;

    /// <summary>Allocates one zeroed 4 KiB page. False when none is left; then nothing changed.</summary>
    /// <exception cref="ObjectDisposedException">The memory is disposed (nothing changed).</exception>
    public bool TryAllocatePage(out ulong pa)
    {
        _memory.ThrowIfDisposed();
        if (!TryPop(ref _pageFreeList, out uint index) && !TryBump(1, 1, out index))
        {
            pa = 0;
            return false;
        }

        pa = Claim(index, 1);
        return true;
    }

    /// <summary>Allocates one zeroed 4 KiB page.</summary>
    /// <exception cref="OutOfPhysicalMemoryException">No page is left; nothing changed.</exception>
    public ulong AllocatePage() => TryAllocatePage(out ulong pa) ? pa : ThrowExhausted(1);

    /// <summary>Allocates 4 zeroed pages, 16 KiB aligned (a G-stage x4 root). False when no such block is left.</summary>
    /// <exception cref="ObjectDisposedException">The memory is disposed (nothing changed).</exception>
    public bool TryAllocateBlock(out ulong pa)
    {
        _memory.ThrowIfDisposed();
        if (!TryPop(ref _blockFreeList, out uint index) && !TryBump(BlockPages, BlockPages, out index))
        {
            pa = 0;
            return false;
        }

        pa = Claim(index, BlockPages);
        return true;
    }

    /// <summary>Allocates 4 zeroed pages, 16 KiB aligned.</summary>
    /// <exception cref="OutOfPhysicalMemoryException">No aligned block is left; nothing changed.</exception>
    public ulong AllocateBlock() => TryAllocateBlock(out ulong pa) ? pa : ThrowExhausted(BlockPages);

    /// <summary>Returns a page from <see cref="AllocatePage"/> for reuse.</summary>
    /// <exception cref="ArgumentException">The page is not one this allocator handed out, or was freed already.</exception>
    /// <exception cref="ObjectDisposedException">The memory is disposed (nothing changed).</exception>
    public void FreePage(ulong pa)
    {
        _memory.ThrowIfDisposed();
        Push(ref _pageFreeList, Release(pa, 1), pa);
    }

    /// <summary>Returns a block from <see cref="AllocateBlock"/> for reuse.</summary>
    public void FreeBlock(ulong pa)
    {
        _memory.ThrowIfDisposed();
        if (pa % BlockSize != 0)
        {
            throw new ArgumentException($"Block 0x{pa:x} is not 16 KiB aligned: not one AllocateBlock handed out.", nameof(pa));
        }

        Push(ref _blockFreeList, Release(pa, BlockPages), pa);
    }

    /// <summary>True when the page at <paramref name="pa"/> is currently handed out.</summary>
    public bool IsAllocated(ulong pa)
    {
        ulong offset = pa - _start;
        if (pa % PhysicalMemory.PageSize != 0 || offset >= (ulong)_pageCount * PhysicalMemory.PageSize)
        {
            return false;
        }

        uint index = (uint)(offset / PhysicalMemory.PageSize);
        return (Volatile.Read(ref _allocated[index / 64]) & (1UL << (int)(index % 64))) != 0;
    }

    private ulong Claim(uint index, int pages)
    {
        for (int i = 0; i < pages; i++)
        {
            uint page = index + (uint)i;
            ulong bit = 1UL << (int)(page % 64);
            ulong old = Interlocked.Or(ref _allocated[page / 64], bit);
            Debug.Assert((old & bit) == 0, "a free page was marked allocated");
        }

        Interlocked.Add(ref _pagesInUse, pages);
        ulong pa = PageAddress(index);
        // The page is private to the caller until it is published, so plain zeroing is safe.
        _memory.GetSpan(pa, pages * PhysicalMemory.PageSize).Clear();
        return pa;
    }

    private uint Release(ulong pa, int pages)
    {
        ulong offset = pa - _start;
        if (pa % PhysicalMemory.PageSize != 0 || offset >= (ulong)_pageCount * PhysicalMemory.PageSize
            || offset + (ulong)pages * PhysicalMemory.PageSize > (ulong)_pageCount * PhysicalMemory.PageSize)
        {
            throw new ArgumentException($"Page 0x{pa:x} is not inside this allocator's range.", nameof(pa));
        }

        uint index = (uint)(offset / PhysicalMemory.PageSize);
        for (int i = 0; i < pages; i++)
        {
            if (!IsAllocated(PageAddress(index + (uint)i)))
            {
                throw new ArgumentException($"Page 0x{PageAddress(index + (uint)i):x} is not allocated: double free or never allocated.", nameof(pa));
            }
        }

        for (int i = 0; i < pages; i++)
        {
            uint page = index + (uint)i;
            Interlocked.And(ref _allocated[page / 64], ~(1UL << (int)(page % 64)));
        }

        Interlocked.Add(ref _pagesInUse, -pages);
        return index;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private ulong PageAddress(uint index) => _start + ((ulong)index << PhysicalMemory.PageShift);

    private bool TryPop(ref ulong list, out uint index)
    {
        while (true)
        {
            ulong head = Volatile.Read(ref list);
            uint top = (uint)head;
            if (top == EmptyList)
            {
                index = 0;
                return false;
            }

            index = top - 1;
            // The link may be overwritten by a racing pop + reuse; then the tag has moved and the CAS fails.
            uint next = (uint)Volatile.Read(ref _memory.Qword(PageAddress(index)));
            ulong replacement = ((head >> 32) + 1) << 32 | next;
            if (Interlocked.CompareExchange(ref list, replacement, head) == head)
            {
                return true;
            }
        }
    }

    private void Push(ref ulong list, uint index, ulong pa)
    {
        while (true)
        {
            ulong head = Volatile.Read(ref list);
            // The freed page is private: nobody may read it until it is allocated again.
            _memory.Qword(pa) = (uint)head;
            ulong replacement = ((head >> 32) + 1) << 32 | (index + 1);
            if (Interlocked.CompareExchange(ref list, replacement, head) == head)
            {
                return;
            }
        }
    }

    /// <summary>Takes never-used pages: <paramref name="pages"/> of them at an index aligned to
    /// <paramref name="alignPages"/>. Pages skipped to reach the alignment go to the single-page free list.</summary>
    private bool TryBump(int pages, int alignPages, out uint index)
    {
        while (true)
        {
            uint current = Volatile.Read(ref _bump);
            // Alignment is of the physical address, not of the index within the range.
            ulong firstPfn = (_start >> PhysicalMemory.PageShift) + current;
            ulong alignedPfn = (firstPfn + (ulong)alignPages - 1) & ~((ulong)alignPages - 1);
            ulong start = current + (alignedPfn - firstPfn);
            if (start + (ulong)pages > _pageCount)
            {
                index = 0;
                return false;
            }

            if (Interlocked.CompareExchange(ref _bump, (uint)start + (uint)pages, current) == current)
            {
                for (uint skipped = current; skipped < start; skipped++)
                {
                    // Mark and release so the skipped page goes through the same checks as any freed page.
                    Claim(skipped, 1);
                    Push(ref _pageFreeList, Release(PageAddress(skipped), 1), PageAddress(skipped));
                }

                index = (uint)start;
                return true;
            }
        }
    }

    [DoesNotReturn]
    private ulong ThrowExhausted(int pages) =>
        throw new OutOfPhysicalMemoryException(
            $"No {(pages == 1 ? "free 4 KiB page" : "free 16 KiB-aligned block of 4 pages")} is left in [0x{_start:x}, 0x{_start + ((ulong)_pageCount << PhysicalMemory.PageShift):x}): {PagesInUse} of {TotalPages} pages in use.");
}

/// <summary>The page allocator has no page (or aligned block) left. Nothing was changed by the failed call.</summary>
public sealed class OutOfPhysicalMemoryException : InvalidOperationException
{
    public OutOfPhysicalMemoryException(string message) : base(message) { }
}
