namespace FastIommu.Memory;

/// <summary>
/// A guest-physical view of host memory: the same host bytes, addressed by guest-physical address (GPA). A VM's RAM
/// that the G-stage maps linearly (GPA g → host PA hostPa + (g − gpaBase)) can be viewed so, and a
/// <see cref="PageAllocator"/> over the view hands out GPAs: a <see cref="PageTables.PageTable{TMode}"/> (or a PDT)
/// built through it holds guest-physical pointers, as a guest kernel's tables do, while the bytes land in host memory
/// where the IOMMU reads them (walking the pointers through the G-stage).
/// </summary>
/// <remarks>The view borrows the host memory: it never frees it, and it must not be used after the host memory is
/// disposed (its accesses then touch freed memory). Dispose the view (or just drop it) before the host.</remarks>
public static class GuestPhysicalView
{
    /// <summary>A view of host [<paramref name="hostPa"/>, + <paramref name="size"/>) at guest-physical
    /// [<paramref name="gpaBase"/>, + <paramref name="size"/>).</summary>
    /// <exception cref="ArgumentException">The host range is not inside <paramref name="host"/>, or an address or the
    /// size is not 4 KiB aligned.</exception>
    public static PhysicalMemory Create(PhysicalMemory host, ulong hostPa, ulong size, ulong gpaBase)
    {
        ArgumentNullException.ThrowIfNull(host);
        if (!host.Contains(hostPa, size) || (hostPa | size | gpaBase) % PhysicalMemory.PageSize != 0 || size == 0)
        {
            throw new ArgumentException(
                $"Guest view of host 0x{hostPa:x} + 0x{size:x} at GPA 0x{gpaBase:x}: the range must lie in [0x{host.BaseAddress:x}, 0x{host.EndAddress:x}) and be 4 KiB aligned.",
                nameof(hostPa));
        }

        return PhysicalMemory.Wrap(host.HostPointer + (nint)(hostPa - host.BaseAddress), size, gpaBase);
    }
}
