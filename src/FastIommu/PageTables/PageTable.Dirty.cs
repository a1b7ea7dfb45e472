using System.Runtime.CompilerServices;
using FastIommu.Formats.RiscV;

namespace FastIommu.PageTables;

// Dirty tracking: ReadAndClearDirty.
public sealed unsafe partial class PageTable<TMode> where TMode : struct, IPagingMode
{
    /// <summary>Finds the leaves in [iova, iova + size) with D set, clears D (CAS, so a racing hardware update is
    /// either seen or lands after), and marks their pages (within the range) in <paramref name="bitmap"/>.</summary>
    /// <returns>Bytes reported dirty.</returns>
    /// <exception cref="ArgumentException">The bitmap's window does not cover the range (nothing is cleared).</exception>
    public ulong ReadAndClearDirty(ulong iova, ulong size, DirtyBitmap bitmap)
    {
        ThrowIfUnusable();
        ArgumentNullException.ThrowIfNull(bitmap);
        if (size == 0 || ((iova | size) & 0xFFF) != 0 || !IsLegalRange(iova, size))
        {
            throw new PageTableException(MapStatus.IovaOutOfRange, iova,
                $"Dirty range 0x{iova:x} + 0x{size:x} must be non-empty, 4 KiB aligned and legal for {TMode.Name}.");
        }

        // Every D bit cleared must be recorded: a bitmap that misses part of the range would lose dirty state.
        if (iova < bitmap.BaseIova || iova - bitmap.BaseIova > bitmap.Size || size > bitmap.Size - (iova - bitmap.BaseIova))
        {
            throw new ArgumentException(
                $"Dirty range 0x{iova:x} + 0x{size:x} is not inside the bitmap's window 0x{bitmap.BaseIova:x} + 0x{bitmap.Size:x}; nothing was cleared.",
                nameof(bitmap));
        }

        Unsafe.SkipInit(out Path path);
        ulong cur = iova;
        ulong end = iova + size; // may wrap to 0 at the top of the high half; compare by remaining instead
        ulong remaining = size;
        ulong total = 0;
        int retries = 0;
        while (remaining != 0)
        {
            int stop = Descend(cur, 0, ref path, out ulong entry);
            if (stop < 0)
            {
                Backoff(stop, ref retries, cur);
                continue;
            }

            ulong pageSize = PagingMode<TMode>.PageSize(stop);
            ulong leafStart = cur & ~(pageSize - 1);
            if (entry != 0)
            {
                if (!Validate(ref path, stop))
                {
                    continue;
                }

                ref ulong slot = ref EntryRef(path.Table[stop], PagingMode<TMode>.Index(cur, stop));
                bool dirty;
                if (stop == 0 && (entry & Pte.N) != 0)
                {
                    // The 16 PTEs of a 64 KiB Svnapot range: hardware may set D in any of them.
                    pageSize = NapotSize;
                    leafStart = cur & ~(NapotSize - 1);
                    ref ulong group = ref EntryRef(path.Table[0], PagingMode<TMode>.Index(leafStart, 0));
                    dirty = false;
                    for (int i = 0; i < 16; i++)
                    {
                        dirty |= TestAndClearDirty(ref Unsafe.Add(ref group, i));
                    }
                }
                else
                {
                    dirty = TestAndClearDirty(ref slot);
                }

                if (dirty)
                {
                    ulong from = Math.Max(leafStart, iova);
                    ulong to = Math.Min(leafStart + pageSize - 1, end - 1) + 1;
                    bitmap.Mark(from, to - from);
                    total += to - from;
                }
            }

            ulong step = leafStart + pageSize - cur;
            if (step >= remaining)
            {
                break;
            }

            cur += step;
            remaining -= step;
        }

        return total;
    }

    private static bool TestAndClearDirty(ref ulong slot)
    {
        while (true)
        {
            ulong value = Volatile.Read(ref slot);
            if ((value & Pte.D) == 0 || (value & Pte.V) == 0)
            {
                return false;
            }

            if (Interlocked.CompareExchange(ref slot, value & ~Pte.D, value) == value)
            {
                return true;
            }
        }
    }
}
