namespace FastIommu.Hardware;

/// <summary>
/// The IOMMU's view of physical memory: the implicit accesses it makes to the DDT, PDT and page tables.
/// Every method returns false for an access fault (the physical address is not memory); the translator
/// turns that into the spec's access-fault cause for the structure it was reading (257, 265, 1/5/7).
/// </summary>
/// <remarks>
/// Implement it as a struct (<c>where TMemory : struct, IMemoryAccess</c>) so the walkers specialise and inline
/// the accesses: <see cref="PhysicalMemoryAccess"/> does so for FastIommu's own <see cref="Memory.PhysicalMemory"/>.
/// An emulator can implement it over its own RAM and MMIO map. 64-bit accesses are naturally aligned and
/// single-copy atomic; <see cref="TryCompareExchange64"/> is the atomic the IOMMU uses to set PTE A/D bits.
/// </remarks>
public interface IMemoryAccess
{
    /// <summary>Reads the 8-byte little-endian word at <paramref name="pa"/> (8-byte aligned) atomically.</summary>
    bool TryRead64(ulong pa, out ulong value);

    /// <summary>Writes the 8-byte word at <paramref name="pa"/> atomically.</summary>
    bool TryWrite64(ulong pa, ulong value);

    /// <summary>Atomically replaces the word at <paramref name="pa"/> with <paramref name="desired"/> if it equals
    /// <paramref name="expected"/>; <paramref name="observed"/> is the value found (equal to expected on success).</summary>
    bool TryCompareExchange64(ulong pa, ulong expected, ulong desired, out ulong observed);

    /// <summary>Reads <c>destination.Length</c> bytes starting at <paramref name="pa"/>.</summary>
    bool TryRead(ulong pa, Span<byte> destination);

    /// <summary>Writes <c>source.Length</c> bytes starting at <paramref name="pa"/>.</summary>
    bool TryWrite(ulong pa, ReadOnlySpan<byte> source);
}
