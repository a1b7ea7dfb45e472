using FastIommu.Hardware;
using FastIommu.Native;

namespace FastIommu.Tests.Native;

/// <summary>The exports called in-process through function pointers (as C calls them, through the reverse P/Invoke
/// transition), for what the C tests cannot see: allocations on the translate path.</summary>
public unsafe class NativeExportTests
{
    [Test]
    public void Translate_export_allocates_nothing_on_success_or_fault()
    {
        delegate* unmanaged<ulong, ulong, ulong*, NativeStatus> memoryCreate = &NativeExports.MemoryCreate;
        delegate* unmanaged<ulong, IommuConfigNative*, ulong*, NativeStatus> iommuCreate = &NativeExports.IommuCreate;
        delegate* unmanaged<ulong, TranslateRequestNative*, TranslateResponseNative*, NativeStatus> translate = &NativeExports.IommuTranslate;
        delegate* unmanaged<ulong, TranslateRequestNative*, TranslateResponseNative*, uint, NativeStatus> batch = &NativeExports.IommuTranslateBatch;
        delegate* unmanaged<ulong, NativeStatus> iommuDestroy = &NativeExports.IommuDestroy;
        delegate* unmanaged<ulong, NativeStatus> memoryDestroy = &NativeExports.MemoryDestroy;

        ulong memory, bare, off;
        Assert.That(memoryCreate(1 << 20, 0x8000_0000, &memory), Is.EqualTo(NativeStatus.Ok), "memory");
        var config = new IommuConfigNative
        {
            StructSize = (uint)sizeof(IommuConfigNative),
            Capabilities = 0x10UL | (1UL << 9) | (56UL << 32),
            Flags = NativeExports.IommuResetToBare,
        };
        Assert.That(iommuCreate(memory, &config, &bare), Is.EqualTo(NativeStatus.Ok), "a device reset to Bare: identity translations");
        config.Flags = 0;
        Assert.That(iommuCreate(memory, &config, &off), Is.EqualTo(NativeStatus.Ok), "a device reset to Off: every request faults");

        var requests = new TranslateRequestNative[16];
        var responses = new TranslateResponseNative[16];
        for (int i = 0; i < requests.Length; i++)
        {
            requests[i] = new TranslateRequestNative { Iova = 0x8000_0000UL + ((ulong)i << 12), DeviceId = 1, Access = (uint)AccessType.Write };
        }

        fixed (TranslateRequestNative* rq = requests)
        fixed (TranslateResponseNative* rs = responses)
        {
            // Warm up every path first (first calls initialise statics and the runtime's thread state).
            translate(bare, rq, rs);
            translate(off, rq, rs);
            batch(bare, rq, rs, 16);
            long before = GC.GetAllocatedBytesForCurrentThread();
            NativeStatus status = NativeStatus.Ok;
            for (int i = 0; i < 1000; i++)
            {
                status |= translate(bare, rq + (i & 15), rs + (i & 15));
                status |= translate(off, rq + (i & 15), rs + (i & 15));
                status |= batch(bare, rq, rs, 16);
            }

            long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            Assert.That(status, Is.EqualTo(NativeStatus.Ok), "every call succeeded (a fault is a response, not an error)");
            Assert.That(allocated, Is.Zero, "translate (success and fault) and translate_batch allocate nothing");
            Assert.That(rs[0].Flags & NativeExports.ResponseSuccess, Is.EqualTo(NativeExports.ResponseSuccess), "Bare translates");
            Assert.That(rs[0].PhysicalAddress, Is.EqualTo(0x8000_0000UL), "identity");
        }

        translate(off, null, null);
        Assert.That(iommuDestroy(bare), Is.EqualTo(NativeStatus.Ok), "destroy");
        Assert.That(iommuDestroy(off), Is.EqualTo(NativeStatus.Ok), "destroy");
        Assert.That(memoryDestroy(memory), Is.EqualTo(NativeStatus.Ok), "destroy the memory last");
    }
}
