using FastIommu.Formats.RiscV;
using FastIommu.Memory;

namespace FastIommu.Driver;

/// <summary>
/// The device-directory table of one IOMMU instance (spec "Device-Directory-Table (DDT)"): 1, 2 or 3 levels, base
/// (32 B) or extended (64 B) device contexts as capabilities.MSI_FLAT says. Pages come from the instance's allocator.
/// </summary>
/// <remarks>
/// A non-leaf entry is published by one compare-and-swap of <c>PPN | V</c> after its page is complete (zeroed by the
/// allocator, no one can see it before): V is set in the same store as the pointer, so no walk can follow a half
/// entry. The spec does not allow caching invalid non-leaf entries ("Caching invalid entries"), so turning one valid
/// needs no IODIR.INVAL_DDT (Linux's riscv_iommu_get_dc does the same). Directory pages are only ever removed at
/// shutdown, after ddtp is Off and an IODIR.INVAL_DDT (DV = 0) + IOFENCE.C completed.
/// </remarks>
internal sealed class DeviceDirectory
{
    private readonly PhysicalMemory _memory;
    private readonly PageAllocator _allocator;
    private readonly List<ulong> _pages = [];
    private readonly Lock _lock = new();

    /// <summary>A table over the zeroed root page <paramref name="root"/> (allocated from <paramref name="allocator"/>,
    /// now owned by this table).</summary>
    public DeviceDirectory(PageAllocator allocator, ulong root, int levels, bool extended)
    {
        _allocator = allocator;
        _memory = allocator.Memory;
        Levels = levels;
        Extended = extended;
        Root = root;
        _pages.Add(root);
    }

    /// <summary>Physical address of the root page (ddtp.PPN).</summary>
    public ulong Root { get; }

    /// <summary>1, 2 or 3.</summary>
    public int Levels { get; }

    /// <summary>64-byte device contexts (capabilities.MSI_FLAT).</summary>
    public bool Extended { get; }

    /// <summary>Bytes of one device context.</summary>
    public int ContextSize => Extended ? ExtendedDeviceContext.Size : DeviceContext.Size;

    /// <summary>ddtp.iommu_mode of this table.</summary>
    public DdtpMode Mode => Levels switch
    {
        1 => DdtpMode.OneLevel,
        2 => DdtpMode.TwoLevel,
        _ => DdtpMode.ThreeLevel,
    };

    /// <summary>device_id bits this table indexes (spec DDI split: 7/16/24 base, 6/15/24 extended).</summary>
    public int DeviceIdBits => DirectoryIndex.DeviceIdWidth(Levels, Extended);

    /// <summary>Pages in use by the table (root included).</summary>
    public int PageCount
    {
        get
        {
            lock (_lock)
            {
                return _pages.Count;
            }
        }
    }

    /// <summary>Physical address of the device context of <paramref name="deviceId"/>, creating the non-leaf levels
    /// on the way. All pages it needs are allocated before the first is linked, so running out of memory changes
    /// nothing.</summary>
    /// <exception cref="OutOfPhysicalMemoryException">Not enough pages for the missing levels; nothing changed.</exception>
    public ulong GetOrCreateContext(uint deviceId)
    {
        lock (_lock)
        {
            Span<ulong> fresh = stackalloc ulong[2];
            int missing = CountMissing(deviceId);
            for (int i = 0; i < missing; i++)
            {
                if (!_allocator.TryAllocatePage(out fresh[i]))
                {
                    for (int j = 0; j < i; j++)
                    {
                        _allocator.FreePage(fresh[j]); // never linked: nobody saw them
                    }

                    throw new OutOfPhysicalMemoryException(
                        $"No page left for the DDT levels of device 0x{deviceId:x}: nothing was changed.");
                }
            }

            int used = 0;
            ulong table = Root;
            for (int level = Levels - 1; level > 0; level--)
            {
                ulong entryPa = table + (DirectoryIndex.Ddi(deviceId, level, Extended) * 8UL);
                var entry = new NonLeafEntry(Volatile.Read(ref _memory.Qword(entryPa)));
                if (!entry.Valid)
                {
                    ulong page = fresh[used++];
                    // The page is zeroed and unseen; the CAS publishes pointer and V together.
                    Interlocked.CompareExchange(ref _memory.Qword(entryPa), NonLeafEntry.Pointing(page).Value, entry.Value);
                    _pages.Add(page);
                    entry = NonLeafEntry.Pointing(page);
                }

                table = entry.TableAddress;
            }

            return table + (DirectoryIndex.Ddi(deviceId, 0, Extended) * (ulong)ContextSize);
        }
    }

    /// <summary>Physical address of the device context of <paramref name="deviceId"/>, or 0 when a level is missing.</summary>
    public ulong FindContext(uint deviceId)
    {
        ulong table = Root;
        for (int level = Levels - 1; level > 0; level--)
        {
            var entry = new NonLeafEntry(Volatile.Read(ref _memory.Qword(table + (DirectoryIndex.Ddi(deviceId, level, Extended) * 8UL))));
            if (!entry.Valid)
            {
                return 0;
            }

            table = entry.TableAddress;
        }

        return table + (DirectoryIndex.Ddi(deviceId, 0, Extended) * (ulong)ContextSize);
    }

    private int CountMissing(uint deviceId)
    {
        ulong table = Root;
        for (int level = Levels - 1; level > 0; level--)
        {
            var entry = new NonLeafEntry(Volatile.Read(ref _memory.Qword(table + (DirectoryIndex.Ddi(deviceId, level, Extended) * 8UL))));
            if (!entry.Valid)
            {
                return level; // this level and every one below it
            }

            table = entry.TableAddress;
        }

        return 0;
    }

    /// <summary>Returns every page to the allocator. Only after ddtp is Off and the directory caches were
    /// invalidated and fenced.</summary>
    public void FreeAll()
    {
        lock (_lock)
        {
            foreach (ulong page in _pages)
            {
                _allocator.FreePage(page);
            }

            _pages.Clear();
        }
    }
}
