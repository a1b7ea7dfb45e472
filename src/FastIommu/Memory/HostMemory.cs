using System.Runtime.InteropServices;

namespace FastIommu.Memory;

/// <summary>The host calls <see cref="PhysicalMemory.Allocate"/> makes beyond .NET's own allocator.</summary>
internal static unsafe partial class HostMemory
{
    // <sys/mman.h>: the advice that the range be backed by transparent huge pages (Linux 2.6.38 and later).
    private const int MadvHugePage = 14;

    /// <summary>Linux madvise(MADV_HUGEPAGE) over [<paramref name="address"/>, + <paramref name="size"/>): with
    /// /sys/kernel/mm/transparent_hugepage/enabled set to madvise (the usual default), what asks for huge pages.
    /// True when the kernel took the advice; false is harmless (the pages stay 4 KiB).</summary>
    public static bool AdviseHugePages(void* address, nuint size) => Madvise(address, size, MadvHugePage) == 0;

    [LibraryImport("libc", EntryPoint = "madvise")]
    private static partial int Madvise(void* address, nuint length, int advice);
}
