using FastIommu.Formats.RiscV;
using FastIommu.Memory;
using FastIommu.PageTables;

namespace FastIommu.Benchmarks;

/// <summary>The two engines under comparison, built the same way: an Sv48 page table in a 64 MiB arena standing
/// for physical memory at <see cref="ArenaBase"/>, tables from a page allocator over it. C# is
/// <see cref="PageTable{TMode}"/> over <see cref="PhysicalMemory"/> and <see cref="PageAllocator"/>; C is the
/// baseline in bench/c-baseline. Every case works in its own 4 GiB region so cases never share tables.</summary>
internal sealed class PageTableFixture : IDisposable
{
    public const ulong ArenaBase = 0x8000_0000;
    public const ulong ArenaBytes = 64UL << 20;
    public const int CSv48 = 1; // PagingModeKind.Sv48

    public const ulong Kib4 = 4096;
    public const ulong Mib2 = 2UL << 20;
    public const ulong Gib1 = 1UL << 30;

    /// <summary>Mapped physical addresses: device memory far above the arena, 1 GiB aligned so every page size fits.</summary>
    public const ulong TargetPa = 0x40_0000_0000;

    public const PageProtection ReadWrite = PageProtection.Read | PageProtection.Write;
    public const uint CReadWrite = 3; // CB_READ | CB_WRITE

    private readonly PhysicalMemory _memory;

    public PageTableFixture()
    {
        _memory = PhysicalMemory.Allocate(ArenaBytes, ArenaBase);
        Allocator = new PageAllocator(_memory);
        Table = new PageTable<Sv48>(Allocator);
        Gather = new InvalidationGather(1024);
        C = CBaseline.Create(CSv48, ArenaBytes, ArenaBase);
        if (C == 0)
        {
            throw new InvalidOperationException("cb_create failed: the C baseline could not allocate its arena.");
        }
    }

    public PageAllocator Allocator { get; }

    public PageTable<Sv48> Table { get; }

    public InvalidationGather Gather { get; }

    /// <summary>The C engine's context (cb_ctx*).</summary>
    public nint C { get; private set; }

    /// <summary>Start of the 4 GiB region of case <paramref name="index"/>: 64 GiB + index × 4 GiB (all under root entry 0).</summary>
    public static ulong Region(int index) => 0x10_0000_0000UL + (ulong)index * (4 * Gib1);

    /// <summary>Maps the same range in both engines (setup only).</summary>
    public void MapBoth(ulong iova, ulong pa, ulong size)
    {
        Table.Map(iova, pa, size, ReadWrite);
        int status = CBaseline.Map(C, iova, pa, size, CReadWrite, 0);
        if (status != 0)
        {
            throw new InvalidOperationException($"C baseline refused map 0x{iova:x} + 0x{size:x}: status {status}.");
        }
    }

    /// <summary>Both engines translate every page of [iova, iova + size) alike (setup only): they do the same work.</summary>
    public void CheckSameTranslations(ulong iova, ulong size, ulong step)
    {
        for (ulong offset = 0; offset < size; offset += step)
        {
            bool csharp = Table.TryIovaToPhys(iova + offset, out ulong paCs);
            bool c = CBaseline.IovaToPhys(C, iova + offset, out ulong paC) != 0;
            if (csharp != c || (csharp && paCs != paC))
            {
                throw new InvalidOperationException(
                    $"Engines disagree at IOVA 0x{iova + offset:x}: C# {csharp} 0x{paCs:x}, C {c} 0x{paC:x}.");
            }
        }
    }

    /// <summary>Throws when a C loop reported a failed operation or its checksum differs from the C# one.</summary>
    public static ulong Check(ulong cResult, string what)
    {
        if (cResult == CBaseline.Failed)
        {
            throw new InvalidOperationException($"The C baseline failed an operation in {what}.");
        }

        return cResult;
    }

    public void Dispose()
    {
        if (C != 0)
        {
            CBaseline.Destroy(C);
            C = 0;
        }

        Table.Dispose();
        _memory.Dispose();
    }
}

/// <summary>The random page indices of the random-translation cases: splitmix64 from a fixed seed, so C and C# walk
/// the very same sequence (the same array is handed to C).</summary>
internal static class RandomIndices
{
    public static uint[] Create(int count, uint pages, ulong seed)
    {
        var indices = new uint[count];
        ulong state = seed;
        for (int i = 0; i < count; i++)
        {
            ulong z = state += 0x9E3779B97F4A7C15UL;
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
            z ^= z >> 31;
            indices[i] = (uint)(z % pages);
        }

        return indices;
    }
}
