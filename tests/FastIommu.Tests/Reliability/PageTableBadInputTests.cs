using FastIommu.Formats.RiscV;
using FastIommu.Memory;
using FastIommu.PageTables;

namespace FastIommu.Tests.Reliability;

/// <summary>
/// The page table's bad-input matrix: each refused call returns its documented <see cref="MapStatus"/> (and the
/// throwing form a <see cref="PageTableException"/> carrying the status and the IOVA), and changes nothing: every
/// byte of memory and the allocator's page count are compared before and after. The table already holds a 4 KiB page
/// at 0x1000 and a 2 MiB superpage at 0x4000_0000, so overlap and partial-superpage cases have something to meet.
/// </summary>
public class PageTableBadInputTests
{
    private const ulong Base = 0x8000_0000;
    private const PageProtection R = PageProtection.Read;
    private const PageProtection Rw = PageProtection.Read | PageProtection.Write;
    private const ulong TopSv39 = 1UL << 38;             // first IOVA past the lower half of Sv39
    private const ulong MaxPa = 1UL << 56;               // first PA a PTE cannot hold

    private sealed class Bed<TMode> : IDisposable where TMode : struct, IPagingMode
    {
        public Bed(ulong allocatorPages = 256)
        {
            Memory = PhysicalMemory.Allocate(0x10_0000 + (allocatorPages * 4096), Base);
            Allocator = new PageAllocator(Memory, Base + 0x10_0000, allocatorPages * 4096);
            Table = new PageTable<TMode>(Allocator);
        }

        public PhysicalMemory Memory { get; }
        public PageAllocator Allocator { get; }
        public PageTable<TMode> Table { get; }

        public (byte[] Bytes, long Pages) Snapshot() => (Memory.GetSpan(Base, (int)Memory.Size).ToArray(), Allocator.PagesInUse);

        public void AssertUnchanged((byte[] Bytes, long Pages) before, string call)
        {
            Assert.Multiple(() =>
            {
                Assert.That(Memory.GetSpan(Base, (int)Memory.Size).SequenceEqual(before.Bytes), Is.True, $"{call}: memory bytes changed");
                Assert.That(Allocator.PagesInUse, Is.EqualTo(before.Pages), $"{call}: allocator pages in use changed");
            });
        }

        public void Dispose()
        {
            Table.Dispose();
            Memory.Dispose();
        }
    }

    private static IEnumerable<TestCaseData> MapCases()
    {
        TestCaseData Case(string name, ulong iova, ulong pa, ulong size, PageProtection prot, MapStatus status) =>
            new TestCaseData(iova, pa, size, prot, status).SetName($"Map refuses {name} with {status}");

        yield return Case("size zero", 0x10_0000, 0x9000_0000, 0, Rw, MapStatus.ZeroSize);
        yield return Case("a misaligned IOVA", 0x10_0800, 0x9000_0000, 0x1000, Rw, MapStatus.MisalignedIova);
        yield return Case("a misaligned PA", 0x10_0000, 0x9000_0010, 0x1000, Rw, MapStatus.MisalignedPhysicalAddress);
        yield return Case("a misaligned size", 0x10_0000, 0x9000_0000, 0x1800, Rw, MapStatus.MisalignedSize);
        yield return Case("a range that wraps", 0xFFFF_FFFF_FFFF_F000, 0x9000_0000, 0x2000, Rw, MapStatus.IovaOutOfRange);
        yield return Case("an IOVA past the mode's width", TopSv39, 0x9000_0000, 0x1000, Rw, MapStatus.IovaOutOfRange);
        yield return Case("a range that runs past the mode's width", TopSv39 - 0x1000, 0x9000_0000, 0x2000, Rw, MapStatus.IovaOutOfRange);
        yield return Case("a non-canonical IOVA", 0x0000_8000_0000_0000, 0x9000_0000, 0x1000, Rw, MapStatus.IovaOutOfRange);
        yield return Case("a PA past the physical width", 0x10_0000, MaxPa, 0x1000, Rw, MapStatus.PhysicalAddressOutOfRange);
        yield return Case("a PA range that runs past the physical width", 0x10_0000, MaxPa - 0x1000, 0x2000, Rw, MapStatus.PhysicalAddressOutOfRange);
        yield return Case("a PA range that wraps", 0x10_0000, 0xFFFF_FFFF_FFFF_F000, 0x2000, Rw, MapStatus.PhysicalAddressOutOfRange);
        yield return Case("W without R", 0x10_0000, 0x9000_0000, 0x1000, PageProtection.Write, MapStatus.InvalidProtection);
        yield return Case("W X without R", 0x10_0000, 0x9000_0000, 0x1000, PageProtection.Write | PageProtection.Execute, MapStatus.InvalidProtection);
        yield return Case("no permission", 0x10_0000, 0x9000_0000, 0x1000, PageProtection.None, MapStatus.InvalidProtection);
        yield return Case("U alone", 0x10_0000, 0x9000_0000, 0x1000, PageProtection.User, MapStatus.InvalidProtection);
        yield return Case("a mapped page", 0x1000, 0x9000_0000, 0x1000, R, MapStatus.Overlap);
        yield return Case("a range ending on a mapped page", 0x0, 0x9000_0000, 0x2000, R, MapStatus.Overlap);
        yield return Case("a page inside a superpage", 0x4000_3000, 0x9000_0000, 0x1000, R, MapStatus.Overlap);
        yield return Case("a superpage over a level-0 table", 0x0, 0xA000_0000, 0x20_0000, R, MapStatus.Overlap);
    }

    [TestCaseSource(nameof(MapCases))]
    public void Map_bad_input(ulong iova, ulong pa, ulong size, PageProtection prot, MapStatus expected)
    {
        using var bed = Prepared<Sv39>();
        var before = bed.Snapshot();
        Assert.That(bed.Table.TryMap(iova, pa, size, prot), Is.EqualTo(expected), "TryMap's status");
        bed.AssertUnchanged(before, "TryMap");
        var thrown = Assert.Throws<PageTableException>(() => bed.Table.Map(iova, pa, size, prot), "Map throws");
        Assert.Multiple(() =>
        {
            Assert.That(thrown!.Status, Is.EqualTo(expected), "the exception's status");
            Assert.That(thrown.Iova, Is.EqualTo(iova), "the exception's IOVA");
            Assert.That(thrown.Message, Does.Contain($"{iova:x}").IgnoreCase, "the message names the IOVA");
        });
        bed.AssertUnchanged(before, "Map");
    }

    [Test]
    public void Map_in_a_g_stage_refuses_the_global_bit_and_changes_nothing()
    {
        using var bed = new Bed<Sv39x4>();
        var before = bed.Snapshot();
        Assert.That(bed.Table.TryMap(0x1000, 0x9000_0000, 0x1000, R | PageProtection.Global), Is.EqualTo(MapStatus.InvalidProtection),
            "G has no meaning in a G-stage leaf");
        Assert.That(bed.Table.TryMap(1UL << 41, 0x9000_0000, 0x1000, R), Is.EqualTo(MapStatus.IovaOutOfRange),
            "a GPA past Sv39x4's 41 bits");
        bed.AssertUnchanged(before, "TryMap");
    }

    [Test]
    public void Map_that_needs_more_tables_than_are_free_refuses_and_changes_nothing()
    {
        // Root + 2 pages: a mapping at a fresh 1 GiB region needs a level-1 and a level-0 table, the second is
        // missing.
        using var bed = new Bed<Sv39>(allocatorPages: 2);
        var before = bed.Snapshot();
        Assert.That(bed.Table.TryMap(0x4000_0000, 0x9000_0000, 0x1000, R), Is.EqualTo(MapStatus.OutOfMemory), "one table short");
        bed.AssertUnchanged(before, "TryMap");
    }

    private static IEnumerable<TestCaseData> UnmapCases()
    {
        TestCaseData Case(string name, ulong iova, ulong size, MapStatus status) =>
            new TestCaseData(iova, size, status).SetName($"Unmap refuses {name} with {status}");

        yield return Case("size zero", 0x1000, 0, MapStatus.ZeroSize);
        yield return Case("a misaligned IOVA", 0x1800, 0x1000, MapStatus.MisalignedIova);
        yield return Case("a misaligned size", 0x1000, 0x800, MapStatus.MisalignedSize);
        yield return Case("a range that wraps", 0xFFFF_FFFF_FFFF_F000, 0x2000, MapStatus.IovaOutOfRange);
        yield return Case("an IOVA past the mode's width", TopSv39, 0x1000, MapStatus.IovaOutOfRange);
        yield return Case("part of a superpage", 0x4000_1000, 0x1000, MapStatus.PartialSuperpage);
        yield return Case("a range ending inside a superpage", 0x3FFF_F000, 0x2000, MapStatus.PartialSuperpage);
    }

    [TestCaseSource(nameof(UnmapCases))]
    public void Unmap_bad_input(ulong iova, ulong size, MapStatus expected)
    {
        using var bed = Prepared<Sv39>();
        var gather = new InvalidationGather();
        var before = bed.Snapshot();
        Assert.That(bed.Table.TryUnmap(iova, size, gather, out ulong unmapped), Is.EqualTo(expected), "TryUnmap's status");
        Assert.Multiple(() =>
        {
            Assert.That(unmapped, Is.Zero, "nothing unmapped");
            Assert.That(gather.IsEmpty, Is.True, "nothing gathered");
        });
        bed.AssertUnchanged(before, "TryUnmap");
        var thrown = Assert.Throws<PageTableException>(() => bed.Table.Unmap(iova, size, gather), "Unmap throws");
        Assert.That(thrown!.Status, Is.EqualTo(expected), "the exception's status");
        bed.AssertUnchanged(before, "Unmap");
    }

    [Test]
    public void Unmap_of_what_is_not_mapped_unmaps_nothing_and_changes_nothing()
    {
        using var bed = Prepared<Sv39>();
        var gather = new InvalidationGather();
        var before = bed.Snapshot();
        Assert.Multiple(() =>
        {
            Assert.That(bed.Table.TryUnmap(0x2000, 0x1000, gather, out ulong beside), Is.EqualTo(MapStatus.Success), "an empty page beside a mapped one");
            Assert.That(beside, Is.Zero, "no byte unmapped beside the page");
            Assert.That(bed.Table.TryUnmap(0x80_0000_0000 >> 2, 0x20_0000, gather, out ulong noTable), Is.EqualTo(MapStatus.Success), "a region with no table");
            Assert.That(noTable, Is.Zero, "no byte unmapped where no table exists");
            Assert.That(gather.IsEmpty, Is.True, "nothing to invalidate");
        });
        bed.AssertUnchanged(before, "TryUnmap");
    }

    [Test]
    public void Unmap_with_a_gather_of_another_allocator_refuses_and_changes_nothing()
    {
        using var bed = Prepared<Sv39>();
        using var other = Prepared<Sv39>();
        var gather = new InvalidationGather();
        other.Table.Unmap(0x1000, 0x1000, gather); // frees other's level-0 and level-1 tables into the gather
        Assume.That(gather.HasFreedTables, Is.True, "premise: the gather holds pages of the other allocator");
        var before = bed.Snapshot();
        Assert.That(bed.Table.TryUnmap(0x1000, 0x1000, gather, out _), Is.EqualTo(MapStatus.ForeignGather), "a gather holds one allocator's pages");
        bed.AssertUnchanged(before, "TryUnmap");
        gather.Complete();
    }

    private static Bed<TMode> Prepared<TMode>() where TMode : struct, IPagingMode
    {
        var bed = new Bed<TMode>();
        bed.Table.Map(0x1000, 0x9000_1000, 0x1000, Rw);
        bed.Table.Map(0x4000_0000, 0xA000_0000, 0x20_0000, Rw);
        return bed;
    }
}
