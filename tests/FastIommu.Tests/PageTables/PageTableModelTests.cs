using FastIommu.Formats.RiscV;
using FastIommu.Memory;
using FastIommu.PageTables;

namespace FastIommu.Tests.PageTables;

/// <summary>Seeded random Map/Unmap/overmap sequences checked against <see cref="ReferenceModel"/> after every step.</summary>
[TestFixture(typeof(Sv39))]
[TestFixture(typeof(Sv48))]
[TestFixture(typeof(Sv57))]
[TestFixture(typeof(Sv39x4))]
[TestFixture(typeof(Sv48x4))]
[TestFixture(typeof(Sv57x4))]
public sealed class PageTableModelTests<TMode> where TMode : struct, IPagingMode
{
    private static int RootPages => TMode.IsGStage ? 4 : 1;

    private static void CheckLeaf(PageTable<TMode> table, ReferenceModel.Leaf leaf, ulong address, string step)
    {
        WalkResult walk = table.Walk(address);
        Assert.That(walk.Found, Is.True, $"{step}: 0x{address:x} in leaf 0x{leaf.Start:x}+0x{leaf.Size:x} must translate");
        Assert.That(walk.PageSize, Is.EqualTo(leaf.Size), $"{step}: leaf size at 0x{address:x}");
        Assert.That(walk.Pte.Value, Is.EqualTo(leaf.Pte), $"{step}: PTE bits at 0x{address:x}");
        Assert.That(walk.PhysicalAddress, Is.EqualTo(leaf.Pa + (address - leaf.Start)), $"{step}: PA of 0x{address:x}");
    }

    private static void CheckAddress(PageTable<TMode> table, ReferenceModel model, ulong address, string step)
    {
        if (model.Find(address) is ReferenceModel.Leaf leaf)
        {
            CheckLeaf(table, leaf, address, step);
        }
        else
        {
            Assert.That(table.TryIovaToPhys(address, out _), Is.False, $"{step}: 0x{address:x} must not translate");
        }
    }

    [Test]
    public void Random_map_unmap_overmap_matches_the_reference_model([Values(false, true)] bool svnapot, [Values(1, 2)] int seed)
    {
        using var memory = PhysicalMemory.Allocate(1 << 20, 0x8000_0000);
        var allocator = new PageAllocator(memory);
        var table = new PageTable<TMode>(allocator, new PageTableOptions { Svnapot = svnapot });
        var model = new ReferenceModel(TMode.Levels, TMode.AddressBits, TMode.IsGStage, svnapot);
        var random = new Random(seed * 7919 + TMode.Levels * 31 + (TMode.IsGStage ? 1 : 0) + (svnapot ? 1000 : 0));
        var gather = new InvalidationGather();

        // Leaf sizes the mode allows, plus 64 KiB; weighted toward small ones.
        var classes = new List<ulong> { 0x1000, 0x1000, 0x1000, 0x10000, 0x10000, 0x20_0000, 0x20_0000, 0x4000_0000 };
        if (TMode.Levels >= 4) { classes.Add(1UL << 39); }
        if (TMode.Levels >= 5) { classes.Add(1UL << 48); }
        ulong space = 1UL << (TMode.IsGStage ? TMode.AddressBits : TMode.AddressBits - 1);
        ulong highHalf = TMode.IsGStage ? 0 : 0UL - space;
        int operations = 1500;
        for (int op = 0; op < operations; op++)
        {
            ulong c = classes[random.Next(classes.Count)];
            // Clusters of activity so ops overlap and share tables: bottom, middle, top of the space, and (first
            // stage) both ends of the high half.
            ulong window = 8 * c;
            ulong[] bases = TMode.IsGStage
                ? [0, space / 2, space - window]
                : [0, space / 4, space - window, highHalf, 0UL - window];
            ulong iova = bases[random.Next(bases.Length)] + c * (ulong)random.Next(8);
            ulong size = c * (ulong)random.Next(1, 3) + (random.Next(5) == 0 ? 0x1000UL * (ulong)random.Next(1, 20) : 0);
            bool misalignPa = c <= 0x10000 && random.Next(4) == 0;
            ulong pa = (ulong)random.NextInt64(0, (1L << 55) / (long)c) * c + (misalignPa ? 0x1000UL * (ulong)random.Next(1, 16) : 0);
            var prot = (PageProtection)random.Next(1, 32);
            if (TMode.IsGStage) { prot &= ~PageProtection.Global; }
            if ((prot & (PageProtection.Read | PageProtection.Write | PageProtection.Execute)) == 0 || (prot & (PageProtection.Read | PageProtection.Write)) == PageProtection.Write)
            {
                prot |= PageProtection.Read;
            }

            var pbmt = (PageBasedMemoryType)random.Next(3);
            string step = $"op {op}";
            byte[]? before = null;
            MapStatus expected, actual;
            if (random.Next(100) < 55)
            {
                step += $" map 0x{iova:x}+0x{size:x} -> 0x{pa:x}";
                before = random.Next(8) == 0 ? memory.GetSpan(memory.BaseAddress, (int)memory.Size).ToArray() : null;
                expected = model.Map(iova, pa, size, prot, pbmt);
                actual = table.TryMap(iova, pa, size, prot, pbmt);
                Assert.That(actual, Is.EqualTo(expected), step);
            }
            else
            {
                if (random.Next(3) == 0 && model.Leaves.Count > 0)
                {
                    // Unmap exactly one existing leaf (or a run of them): the common driver case.
                    var leaf = model.Leaves[random.Next(model.Leaves.Count)];
                    iova = leaf.Start;
                    size = leaf.Size * (ulong)random.Next(1, 4);
                }

                step += $" unmap 0x{iova:x}+0x{size:x}";
                before = random.Next(8) == 0 ? memory.GetSpan(memory.BaseAddress, (int)memory.Size).ToArray() : null;
                expected = model.Unmap(iova, size, out ulong bytes);
                actual = table.TryUnmap(iova, size, gather, out ulong unmapped);
                Assert.That(actual, Is.EqualTo(expected), step);
                Assert.That(unmapped, Is.EqualTo(bytes), $"{step}: bytes unmapped");
                if (actual == MapStatus.Success && bytes != 0)
                {
                    Assert.That(gather.Ranges.ToArray().Sum(r => (decimal)r.Size), Is.EqualTo((decimal)bytes), $"{step}: gathered ranges cover exactly what was cleared");
                }

                gather.Complete();
            }

            if (actual != MapStatus.Success && before is not null)
            {
                Assert.That(memory.GetSpan(memory.BaseAddress, (int)memory.Size).SequenceEqual(before), Is.True, $"{step}: a refused call changes no byte");
            }

            Assert.That(allocator.PagesInUse, Is.EqualTo(RootPages + model.TablePages), $"{step}: table pages = those the live leaves need");

            // Every leaf at both ends, plus probes around the op.
            bool full = op % 50 == 49;
            foreach (var leaf in model.Leaves)
            {
                if (full || (leaf.Start >= iova && leaf.Start - iova < size + c))
                {
                    CheckLeaf(table, leaf, leaf.Start, step);
                    CheckLeaf(table, leaf, leaf.Start + leaf.Size - 0x1000 + 0xff8, step);
                }
            }

            for (int probe = 0; probe < 16; probe++)
            {
                ulong address = iova + (ulong)random.NextInt64(-(long)c, (long)(size + c)) / 8 * 8;
                if (model.IsLegal(address))
                {
                    CheckAddress(table, model, address, step);
                }
            }
        }

        // Empty it: everything unmapped frees every table.
        foreach (var leaf in model.Leaves.ToList())
        {
            Assert.That(table.Unmap(leaf.Start, leaf.Size, gather), Is.EqualTo(leaf.Size), "final unmap");
            gather.Complete();
        }

        Assert.That(allocator.PagesInUse, Is.EqualTo(RootPages), "only the root remains when nothing is mapped");
        table.Dispose();
        Assert.That(allocator.PagesInUse, Is.Zero, "no page leaked");
    }
}
