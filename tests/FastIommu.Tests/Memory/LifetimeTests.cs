using System.Runtime.InteropServices;
using FastIommu.Formats.RiscV;
using FastIommu.Hardware;
using FastIommu.Memory;
using FastIommu.PageTables;

namespace FastIommu.Tests.Memory;

/// <summary>
/// Lifetimes and bad input at the public edges, as an embedding emulator meets them: a disposed object refuses every
/// call, a table never touches memory that is gone (in any disposal order), and bad arguments are typed errors that
/// change nothing.
/// </summary>
public sealed class LifetimeTests
{
    private const PageProtection Rw = PageProtection.Read | PageProtection.Write;

    [Test]
    public void Every_public_member_of_a_disposed_table_throws_ObjectDisposedException()
    {
        using var memory = PhysicalMemory.Allocate(1 << 20, 0x8000_0000);
        var allocator = new PageAllocator(memory);
        var old = new PageTable<Sv39>(allocator);
        old.Dispose();
        using var fresh = new PageTable<Sv39>(allocator);
        Assert.That(fresh.RootAddress, Is.EqualTo(memory.BaseAddress), "the new table reuses the old root page");

        var gather = new InvalidationGather();
        var bitmap = new DirtyBitmap(0, 0x1000);
        var calls = new (string Name, TestDelegate Call)[]
        {
            ("TryMap", () => old.TryMap(0, 0x1000, 0x1000, Rw)),
            ("TryMap(gather)", () => old.TryMap(0, 0x1000, 0x1000, Rw, gather)),
            ("Map", () => old.Map(0x1000, 0x1000, 0x1000, Rw)),
            ("Map(gather)", () => old.Map(0x2000, 0x1000, 0x1000, Rw, gather)),
            ("TryUnmap", () => old.TryUnmap(0, 0x1000, gather, out _)),
            ("Unmap", () => old.Unmap(0, 0x1000, gather)),
            ("Walk", () => old.Walk(0)),
            ("TryIovaToPhys", () => old.TryIovaToPhys(0, out _)),
            ("IovaToPhys", () => old.IovaToPhys(0)),
            ("ReadAndClearDirty", () => old.ReadAndClearDirty(0, 0x1000, bitmap)),
            ("RootAddress", () => _ = old.RootAddress),
            ("Memory", () => _ = old.Memory),
            ("Allocator", () => _ = old.Allocator),
            ("Svnapot", () => _ = old.Svnapot),
        };
        Assert.Multiple(() =>
        {
            foreach ((string name, TestDelegate call) in calls)
            {
                Assert.That(call, Throws.InstanceOf<ObjectDisposedException>(), $"{name} on a disposed table");
            }
        });
        Assert.That(fresh.Walk(0).Found, Is.False, "nothing reached the table that reused the root");
        Assert.That(old.Dispose, Throws.Nothing, "Dispose stays idempotent");
    }

    [Test]
    public void Every_public_member_of_a_disposed_memory_throws_ObjectDisposedException()
    {
        var memory = PhysicalMemory.Allocate(0x2000, 0x1000);
        memory.Dispose();
        var calls = new (string Name, TestDelegate Call)[]
        {
            ("BaseAddress", () => _ = memory.BaseAddress),
            ("Size", () => _ = memory.Size),
            ("EndAddress", () => _ = memory.EndAddress),
            ("OwnsMemory", () => _ = memory.OwnsMemory),
            ("UserCount", () => _ = memory.UserCount),
            ("HostPointer", () => _ = memory.HostPointer),
            ("Contains", () => memory.Contains(0x1000, 8)),
            ("GetRef", () => memory.GetRef<uint>(0x1000)),
            ("Qword", () => memory.Qword(0x1000)),
            ("GetSpan", () => memory.GetSpan(0x1000, 8)),
            ("GetSpan<T>", () => memory.GetSpan<ulong>(0x1000, 1)),
            ("GetPage", () => memory.GetPage(0x1000)),
        };
        Assert.Multiple(() =>
        {
            foreach ((string name, TestDelegate call) in calls)
            {
                Assert.That(call, Throws.InstanceOf<ObjectDisposedException>(), $"{name} on a disposed memory");
            }
        });
    }

    [Test]
    public void A_table_that_outlives_its_memory_fails_cleanly_and_can_still_be_disposed()
    {
        var memory = PhysicalMemory.Allocate(1 << 20, 0x8000_0000);
        var allocator = new PageAllocator(memory);
        var table = new PageTable<Sv39>(allocator);
        table.Map(0x4000_0000, 0x1_0000_0000, 0x1000, Rw);
        Assert.That(memory.UserCount, Is.EqualTo(1), "the table is the memory's user");
        memory.Dispose(); // wrong order: the free waits for the table
        Assert.Multiple(() =>
        {
            Assert.That(() => table.TryIovaToPhys(0x4000_0000, out _), Throws.InstanceOf<ObjectDisposedException>()
                .With.Message.Contain(nameof(PhysicalMemory)), "a lookup names the memory that is gone");
            Assert.That(() => table.TryMap(0x4000_1000, 0, 0x1000, Rw), Throws.InstanceOf<ObjectDisposedException>(), "a map");
            Assert.That(() => table.Walk(0x4000_0000), Throws.InstanceOf<ObjectDisposedException>(), "a walk");
            Assert.That(() => new PageTable<Sv39>(allocator), Throws.InstanceOf<ObjectDisposedException>(), "a new table");
        });
        Assert.That(table.Dispose, Throws.Nothing, "the table is disposed; the deferred free of the memory happens now");
    }

    [Test]
    public void A_table_and_a_memory_access_on_a_disposed_wrapper_fail_cleanly()
    {
        nint raw = NativeMemoryAlloc(1 << 20);
        try
        {
            var wrapper = PhysicalMemory.Wrap(raw, 1 << 20, 0x8000_0000);
            var table = new PageTable<Sv39>(new PageAllocator(wrapper));
            table.Map(0x4000_0000, 0x1_0000_0000, 0x1000, Rw);
            var access = new PhysicalMemoryAccess(wrapper);
            wrapper.Dispose(); // the caller's RAM may be freed from here on
            Assert.Multiple(() =>
            {
                Assert.That(() => table.IovaToPhys(0x4000_0000), Throws.InstanceOf<ObjectDisposedException>(), "a lookup");
                Assert.That(access.TryRead64(0x8000_0000, out _), Is.False, "a hardware read is an access fault");
                Assert.That(access.TryWrite64(0x8000_0000, 1), Is.False, "a hardware write is an access fault");
                Assert.That(access.TryRead(0x8000_0000, new byte[16]), Is.False, "a block read is an access fault");
                Assert.That(access.TryWrite(0x8000_0000, new byte[16]), Is.False, "a block write is an access fault");
            });
            Assert.That(table.Dispose, Throws.Nothing, "the table can still be disposed");
        }
        finally
        {
            NativeMemoryFree(raw);
        }
    }

    [Test]
    public void A_device_that_outlives_its_memory_faults_instead_of_throwing_or_crashing()
    {
        var memory = PhysicalMemory.Allocate(1 << 20, 0x8000_0000);
        var allocator = new PageAllocator(memory);
        var table = new PageTable<Sv39>(allocator);
        table.Map(0x1000_0000, 0x8100_0000, 0x1000, Rw | PageProtection.User);
        var iommu = new RiscVIommu(memory, Capabilities.FullRv64);
        ulong ddt = allocator.AllocatePage();
        memory.GetRef<DeviceContext>(ddt + DeviceContext.Size) = new DeviceContext(DeviceContextTc.Default.WithV(true),
            default, DeviceContextTa.Default.WithPscid(5), Iosatp.Create<Sv39>(table.RootAddress));
        iommu.Write64(RegisterOffsets.Ddtp, Ddtp.Create(DdtpMode.OneLevel, ddt).Value);
        ulong fq = allocator.AllocatePage();
        iommu.Write64(RegisterOffsets.Fqb, (fq >> 12 << 10) | 3); // 16 records
        iommu.Write32(RegisterOffsets.Fqcsr, 1u << FqCsr.FqenBit);
        var dma = new TranslationRequest(1, 0x1000_0000, AccessType.Read);
        Assert.That(iommu.Translate(in dma).Success, Is.True, "translates while the memory lives");

        table.Dispose();
        memory.Dispose(); // the device is still in use: wrong order, but no crash
        // Another page: the IOTLB (rightly) still holds the first one; this one needs a walk of the table.
        var other = new TranslationRequest(1, 0x2000_0000, AccessType.Read);
        TranslationResult result = default;
        Assert.That(() => result = iommu.Translate(in other), Throws.Nothing, "a translation after the memory is gone");
        Assert.That(result.Success, Is.False, "it is a fault (the table cannot be read)");
        Assert.That(iommu.Read32(RegisterOffsets.Fqcsr) & (1u << FqCsr.FqmfBit), Is.Not.Zero,
            "the fault record could not be stored: fqmf, as for any fault-queue store that faults");
    }

    [Test]
    public void Wrap_names_the_alignment_it_needs()
    {
        nint raw = NativeMemoryAlloc(0x3000);
        try
        {
            Assert.That(() => PhysicalMemory.Wrap(raw + 8, 0x1000, 0), Throws.ArgumentException
                .With.Message.Contain("4 KiB").And.Message.Contain($"0x{raw + 8:x}"), "an 8-byte aligned pointer is refused");
            Assert.That(() => PhysicalMemory.Wrap(raw + 0x1000, 0x1000, 0).Dispose(), Throws.Nothing, "a page-aligned one is taken");
        }
        finally
        {
            NativeMemoryFree(raw);
        }
    }

    [Test]
    public void A_dirty_bitmap_that_does_not_cover_the_range_is_refused_before_any_D_bit_is_cleared()
    {
        using var memory = PhysicalMemory.Allocate(1 << 20, 0x8000_0000);
        using var table = new PageTable<Sv39>(new PageAllocator(memory));
        table.Map(0x10_0000, 0x1_0000_0000, 0x2000, Rw); // writable: D preset
        var narrow = new DirtyBitmap(0x10_0000, 0x1000);
        Assert.That(() => table.ReadAndClearDirty(0x10_0000, 0x2000, narrow), Throws.ArgumentException
            .With.Message.Contain("0x100000"), "a bitmap one page short is refused");
        Assert.Multiple(() =>
        {
            Assert.That(table.Walk(0x10_0000).Pte.Dirty, Is.True, "D of the covered page is kept");
            Assert.That(table.Walk(0x10_1000).Pte.Dirty, Is.True, "D of the uncovered page is kept");
            Assert.That(narrow.DirtyPages, Is.Zero, "nothing recorded");
        });
        var outside = new DirtyBitmap(0x20_0000, 0x2000);
        Assert.That(() => table.ReadAndClearDirty(0x10_0000, 0x2000, outside), Throws.ArgumentException, "a bitmap elsewhere");
        Assert.That(table.ReadAndClearDirty(0x10_0000, 0x2000, new DirtyBitmap(0, 0x40_0000)), Is.EqualTo(0x2000UL),
            "a wider bitmap is fine");
    }

    [Test]
    public void An_allocator_on_a_disposed_memory_refuses_before_changing_anything()
    {
        var memory = PhysicalMemory.Allocate(0x4000, 0x1000);
        var allocator = new PageAllocator(memory);
        ulong page = allocator.AllocatePage();
        memory.Dispose();
        Assert.Multiple(() =>
        {
            Assert.That(() => allocator.TryAllocatePage(out _), Throws.InstanceOf<ObjectDisposedException>(), "allocate a page");
            Assert.That(() => allocator.TryAllocateBlock(out _), Throws.InstanceOf<ObjectDisposedException>(), "allocate a block");
            Assert.That(() => allocator.FreePage(page), Throws.InstanceOf<ObjectDisposedException>(), "free a page");
            Assert.That(allocator.PagesInUse, Is.EqualTo(1), "nothing changed");
            Assert.That(allocator.IsAllocated(page), Is.True, "the page is still marked");
        });
    }

    [Test]
    public void A_null_memory_for_an_allocator_is_an_ArgumentNullException() =>
        Assert.That(() => new PageAllocator(null!), Throws.ArgumentNullException.With.Property("ParamName").EqualTo("memory"),
            "not a NullReferenceException");

    /// <summary>Page-aligned caller-owned RAM (as an emulator's guest RAM is): the base of a larger block, rounded up.</summary>
    private static readonly Dictionary<nint, nint> Blocks = [];

    private static nint NativeMemoryAlloc(int size)
    {
        nint block = Marshal.AllocHGlobal(size + 4096);
        nint aligned = (block + 4095) & ~(nint)4095;
        Marshal.Copy(new byte[size], 0, aligned, size);
        lock (Blocks)
        {
            Blocks[aligned] = block;
        }

        return aligned;
    }

    private static void NativeMemoryFree(nint aligned)
    {
        lock (Blocks)
        {
            Marshal.FreeHGlobal(Blocks[aligned]);
            Blocks.Remove(aligned);
        }
    }
}
