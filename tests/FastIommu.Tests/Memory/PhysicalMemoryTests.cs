using System.Runtime.InteropServices;
using FastIommu.Memory;

namespace FastIommu.Tests.Memory;

public class PhysicalMemoryTests
{
    [Test]
    public void Allocated_memory_is_zeroed_and_addressed_from_its_base()
    {
        using var memory = PhysicalMemory.Allocate(0x4000, basePa: 0x8000_0000);
        Assert.Multiple(() =>
        {
            Assert.That(memory.BaseAddress, Is.EqualTo(0x8000_0000UL), "base PA as given");
            Assert.That(memory.EndAddress, Is.EqualTo(0x8000_4000UL), "end = base + size");
            Assert.That((long)memory.HostPointer % 4096, Is.EqualTo(0L), "host memory is 4 KiB aligned");
            Assert.That(memory.GetSpan(0x8000_0000, 0x4000).ToArray(), Is.All.Zero, "fresh memory reads as zero");
        });

        memory.Qword(0x8000_3ff8) = 0x1122_3344_5566_7788;
        Assert.That(memory.GetSpan(0x8000_3ff8, 8).ToArray(), Is.EqualTo(new byte[] { 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11 }),
            "the last qword is little-endian at the right offset");
    }

    // Memory of 2 MiB or more is 2 MiB aligned (and advised to Linux as huge pages, which the kernel may refuse, so
    // only the alignment is checked), so that the host can back it with 2 MiB pages; smaller memory stays 4 KiB aligned.
    [Test]
    public void Memory_of_2_MiB_or_more_is_2_MiB_aligned_for_huge_pages()
    {
        const long HugePage = 2 << 20;
        using var large = PhysicalMemory.Allocate(4UL << 20, basePa: 0x8000_0000);
        using var small = PhysicalMemory.Allocate(0x4000);
        Assert.That((long)large.HostPointer % HugePage, Is.EqualTo(0L), "4 MiB: 2 MiB aligned");
        Assert.That((long)small.HostPointer % 4096, Is.EqualTo(0L), "16 KiB: 4 KiB aligned");
        large.Qword(0x8000_0000 + (4UL << 20) - 8) = 1;
        Assert.That(large.GetSpan(0x8000_0000, 4 << 20).ToArray().Count(b => b != 0), Is.EqualTo(1), "zeroed, all of it usable");
    }

    [TestCase(0x7fff_fff8UL, Description = "below the base")]
    [TestCase(0x8000_4000UL, Description = "one past the end")]
    [TestCase(0x8000_3ffcUL, Description = "qword straddling the end")]
    [TestCase(0x8000_0004UL, Description = "misaligned qword")]
    [TestCase(0xffff_ffff_ffff_fff8UL, Description = "wraps")]
    public void Out_of_range_or_misaligned_access_names_the_address(ulong pa)
    {
        using var memory = PhysicalMemory.Allocate(0x4000, basePa: 0x8000_0000);
        var error = Assert.Throws<PhysicalAddressException>(() => memory.Qword(pa));
        Assert.Multiple(() =>
        {
            Assert.That(error!.Address, Is.EqualTo(pa), "the exception carries the address");
            Assert.That(error.Message, Does.Contain($"0x{pa:x}"), "and the message names it");
        });
    }

    [Test]
    public void Spans_are_bounds_checked()
    {
        using var memory = PhysicalMemory.Allocate(0x2000, basePa: 0x1000);
        Assert.Multiple(() =>
        {
            Assert.That(memory.GetSpan(0x1000, 0x2000).Length, Is.EqualTo(0x2000), "the whole range is one span");
            Assert.Throws<PhysicalAddressException>(() => memory.GetSpan(0x1000, 0x2001), "one byte too many");
            Assert.Throws<PhysicalAddressException>(() => memory.GetSpan(0xfff, 1), "one byte below");
            Assert.Throws<PhysicalAddressException>(() => memory.GetPage(0x1800), "pages are 4 KiB aligned");
        });
    }

    [Test]
    public void Wrapped_memory_is_the_callers_and_is_not_copied()
    {
        nint block = Marshal.AllocHGlobal(0x2000);
        nint raw = (block + 0xFFF) & ~(nint)0xFFF; // Wrap needs page-aligned memory, as guest RAM is
        try
        {
            using (var memory = PhysicalMemory.Wrap(raw, 0x1000, basePa: 0x4000_0000))
            {
                memory.Qword(0x4000_0008) = 0xdead_beef;
                Assert.That(Marshal.ReadInt64(raw, 8), Is.EqualTo(0xdead_beefL), "writes land in the caller's memory");
                Assert.That(memory.OwnsMemory, Is.False, "wrapped memory is not owned");
            }

            Marshal.WriteByte(raw, 0, 1); // still the caller's after Dispose: it was not freed
            Assert.That(Marshal.ReadByte(raw, 0), Is.EqualTo(1));
        }
        finally
        {
            Marshal.FreeHGlobal(block);
        }
    }

    [Test]
    public void Bad_ranges_are_rejected()
    {
        Assert.Multiple(() =>
        {
            Assert.Throws<ArgumentException>(() => PhysicalMemory.Allocate(0), "empty");
            Assert.Throws<ArgumentException>(() => PhysicalMemory.Allocate(0x1800), "not a page multiple");
            Assert.Throws<ArgumentException>(() => PhysicalMemory.Allocate(0x1000, basePa: 0x10), "misaligned base");
            Assert.Throws<ArgumentException>(() => PhysicalMemory.Allocate(0x2000, basePa: 0xffff_ffff_ffff_f000), "wraps");
        });
    }

    [Test]
    public void Dispose_is_idempotent_and_later_use_is_an_error()
    {
        var memory = PhysicalMemory.Allocate(0x1000);
        memory.Dispose();
        memory.Dispose();
        Assert.Throws<ObjectDisposedException>(() => memory.Qword(0), "use after dispose is caught");
    }
}
