using FastIommu.Formats.RiscV;
using FastIommu.Memory;

namespace FastIommu.Driver;

/// <summary>
/// A device's process-directory table (spec "Process-Directory-Table (PDT)"): PD8, PD17 or PD20 (1, 2 or 3 levels),
/// 16-byte process contexts indexed by PASID. Pages from the instance's allocator; non-leaf entries published by
/// one CAS of PPN | V after their page is complete (invalid entries are never cached, so no invalidation is needed
/// to make one valid). Pages are freed only at shutdown, after IODIR.INVAL_DDT (DV = 0, which covers PDT entries)
/// and its fence.
/// </summary>
internal sealed class ProcessDirectory
{
    private readonly PhysicalMemory _memory;
    private readonly PageAllocator _allocator;
    private readonly List<ulong> _pages;

    private ProcessDirectory(PageAllocator allocator, PdtpMode mode, ulong root, List<ulong> pages)
    {
        _allocator = allocator;
        _memory = allocator.Memory;
        Mode = mode;
        Root = root;
        _pages = pages;
    }

    public PdtpMode Mode { get; }

    public ulong Root { get; }

    public int Levels => Mode switch
    {
        PdtpMode.PD8 => 1,
        PdtpMode.PD17 => 2,
        _ => 3,
    };

    /// <summary>The pdtp for the DC's fsc.</summary>
    public Pdtp Pointer => Pdtp.Create(Mode, Root);

    /// <summary>The smallest PDT mode the IOMMU implements that holds <paramref name="pasidBits"/>-bit PASIDs.</summary>
    public static PdtpMode ModeFor(int pasidBits, Capabilities caps)
    {
        if (pasidBits <= 8 && caps.Pd8)
        {
            return PdtpMode.PD8;
        }

        if (pasidBits <= 17 && caps.Pd17)
        {
            return PdtpMode.PD17;
        }

        if (caps.Pd20)
        {
            return PdtpMode.PD20;
        }

        throw new NotSupportedException($"No PDT mode of {caps} holds {pasidBits}-bit PASIDs.");
    }

    /// <summary>A fresh, empty PDT; its root page is allocated now.</summary>
    /// <exception cref="OutOfPhysicalMemoryException">No page for the root.</exception>
    public static ProcessDirectory Create(PageAllocator allocator, PdtpMode mode)
    {
        ulong root = allocator.AllocatePage();
        return new ProcessDirectory(allocator, mode, root, [root]);
    }

    /// <summary>Returns every page: only when no DC points at the table any more and the directory caches were
    /// invalidated and fenced (or it was never linked).</summary>
    public void FreeAll()
    {
        lock (_pages)
        {
            foreach (ulong page in _pages)
            {
                _allocator.FreePage(page);
            }

            _pages.Clear();
        }
    }

    /// <summary>Physical address of the PC of <paramref name="pasid"/>, creating its levels (allocated up front:
    /// running out changes nothing).</summary>
    public ulong GetOrCreateContext(uint pasid)
    {
        Span<ulong> fresh = stackalloc ulong[2];
        int missing = CountMissing(pasid);
        for (int i = 0; i < missing; i++)
        {
            if (!_allocator.TryAllocatePage(out fresh[i]))
            {
                for (int j = 0; j < i; j++)
                {
                    _allocator.FreePage(fresh[j]);
                }

                throw new OutOfPhysicalMemoryException($"No page left for the PDT levels of PASID 0x{pasid:x}: nothing was changed.");
            }
        }

        int used = 0;
        ulong table = Root;
        for (int level = Levels - 1; level > 0; level--)
        {
            ulong entryPa = table + (DirectoryIndex.Pdi(pasid, level) * 8UL);
            var entry = new NonLeafEntry(Volatile.Read(ref _memory.Qword(entryPa)));
            if (!entry.Valid)
            {
                ulong page = fresh[used++];
                Interlocked.CompareExchange(ref _memory.Qword(entryPa), NonLeafEntry.Pointing(page).Value, entry.Value);
                lock (_pages)
                {
                    _pages.Add(page);
                }

                entry = NonLeafEntry.Pointing(page);
            }

            table = entry.TableAddress;
        }

        return table + (DirectoryIndex.Pdi(pasid, 0) * (ulong)ProcessContext.Size);
    }

    private int CountMissing(uint pasid)
    {
        ulong table = Root;
        for (int level = Levels - 1; level > 0; level--)
        {
            var entry = new NonLeafEntry(Volatile.Read(ref _memory.Qword(table + (DirectoryIndex.Pdi(pasid, level) * 8UL))));
            if (!entry.Valid)
            {
                return level;
            }

            table = entry.TableAddress;
        }

        return 0;
    }
}
