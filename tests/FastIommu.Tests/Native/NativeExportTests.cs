using FastIommu.Hardware;
using System.Runtime.InteropServices;
using FastIommu.Native;

namespace FastIommu.Tests.Native;

/// <summary>The exports called in-process through function pointers (as C calls them, through the reverse P/Invoke
/// transition), for what the C tests cannot see: allocations on the translate path, and a batch against single calls.</summary>
public unsafe class NativeExportTests
{
    // The exports as C calls them: through function pointers, so each call takes the reverse P/Invoke transition.
    private static readonly delegate* unmanaged<ulong, TranslateRequestNative*, TranslateResponseNative*, NativeStatus> Translate1 = &NativeExports.IommuTranslate;
    private static readonly delegate* unmanaged<ulong, TranslateRequestNative*, TranslateResponseNative*, uint, NativeStatus> Batch = &NativeExports.IommuTranslateBatch;

    /// <summary>1 MiB of memory and two devices over it: one reset to Bare (identity translations), one to Off (every
    /// request faults), both with <paramref name="onFault"/> as their fault callback.</summary>
    private sealed class TwoDevices : IDisposable
    {
        public ulong Memory, Bare, Off;

        public TwoDevices(delegate* unmanaged<void*, FastIommu.Formats.RiscV.FaultRecord*, void> onFault = null)
        {
            delegate* unmanaged<ulong, ulong, ulong*, NativeStatus> memoryCreate = &NativeExports.MemoryCreate;
            delegate* unmanaged<ulong, IommuConfigNative*, ulong*, NativeStatus> iommuCreate = &NativeExports.IommuCreate;
            ulong memory, bare, off;
            Assert.That(memoryCreate(1 << 20, 0x8000_0000, &memory), Is.EqualTo(NativeStatus.Ok), "memory");
            var config = new IommuConfigNative
            {
                StructSize = (uint)sizeof(IommuConfigNative),
                Capabilities = 0x10UL | (1UL << 9) | (56UL << 32),
                Flags = NativeExports.IommuResetToBare,
                FaultCallback = onFault,
            };
            Assert.That(iommuCreate(memory, &config, &bare), Is.EqualTo(NativeStatus.Ok), "a device reset to Bare: identity translations");
            config.Flags = 0;
            Assert.That(iommuCreate(memory, &config, &off), Is.EqualTo(NativeStatus.Ok), "a device reset to Off: every request faults");
            (Memory, Bare, Off) = (memory, bare, off);
        }

        public void Dispose()
        {
            delegate* unmanaged<ulong, NativeStatus> iommuDestroy = &NativeExports.IommuDestroy;
            delegate* unmanaged<ulong, NativeStatus> memoryDestroy = &NativeExports.MemoryDestroy;
            Assert.That(iommuDestroy(Bare), Is.EqualTo(NativeStatus.Ok), "destroy");
            Assert.That(iommuDestroy(Off), Is.EqualTo(NativeStatus.Ok), "destroy");
            Assert.That(memoryDestroy(Memory), Is.EqualTo(NativeStatus.Ok), "destroy the memory last");
        }
    }

    [Test]
    public void Translate_export_allocates_nothing_on_success_or_fault()
    {
        using var devices = new TwoDevices();
        (ulong bare, ulong off) = (devices.Bare, devices.Off);
        var translate = Translate1;
        var batch = Batch;

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
    }

    private static readonly List<(ushort Cause, ulong Iotval)> s_faults = [];

    [UnmanagedCallersOnly]
    private static void OnFault(void* context, FastIommu.Formats.RiscV.FaultRecord* record) =>
        s_faults.Add(((ushort)record->Cause, record->Iotval));

    [Test]
    public void Translate_batch_gives_the_responses_and_fault_reports_of_single_calls_and_stops_at_a_bad_request()
    {
        using var devices = new TwoDevices(&OnFault);
        (ulong bare, ulong off) = (devices.Bare, devices.Off);
        var translate = Translate1;
        var batch = Batch;
        delegate* unmanaged<byte*> lastError = &NativeExports.GetLastError;

        const int Count = 40, Bad = 29;
        var requests = new TranslateRequestNative[Count];
        for (int i = 0; i < Count; i++)
        {
            requests[i] = new TranslateRequestNative { Iova = 0x8000_0000UL + ((ulong)i << 12) + (ulong)i, DeviceId = (uint)i, Access = (uint)(i % 3) };
        }

        requests[Bad].Access = 7;
        var single = new TranslateResponseNative[Count];
        var batched = new TranslateResponseNative[Count];
        fixed (TranslateRequestNative* rq = requests)
        fixed (TranslateResponseNative* one = single)
        fixed (TranslateResponseNative* many = batched)
        {
            foreach (ulong iommu in new[] { bare, off })
            {
                s_faults.Clear();
                for (int i = 0; i < Bad; i++)
                {
                    Assert.That(translate(iommu, rq + i, one + i), Is.EqualTo(NativeStatus.Ok), $"single {i}");
                }

                var singleFaults = s_faults.ToList();
                s_faults.Clear();
                Array.Fill(batched, new TranslateResponseNative { Cause = 0xEEEE });
                Assert.That(batch(iommu, rq, many, Count), Is.EqualTo(NativeStatus.InvalidArgument), "the bad access stops the batch");
                Assert.That(Marshal.PtrToStringUTF8((nint)lastError()), Does.Contain($"request {Bad}: access 7"), "the error names the request");
                for (int i = 0; i < Bad; i++)
                {
                    Assert.That(batched[i], Is.EqualTo(single[i]), $"request {i}: the batch's response is the single call's");
                }

                Assert.That(batched.Skip(Bad).All(r => r.Cause == 0xEEEE), "nothing from the bad request on is written");
                Assert.That(s_faults, Is.EqualTo(singleFaults), "the same fault reports, in the same order");
                Assert.That(singleFaults, iommu == off ? Has.Count.EqualTo(Bad) : Is.Empty, "Off faults every request, Bare none");
            }
        }
    }
}
