using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using FastIommu.Formats.RiscV;
using FastIommu.Hardware;

namespace FastIommu.Native;

/// <summary>fastiommu_iommu_config in fastiommu.h.</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct IommuConfigNative
{
    public uint StructSize;
    public uint Flags;
    public ulong Capabilities;
    public uint DdtModes;
    public uint IotlbEntries;
    public uint MicroTlbEntries;
    public uint DeviceContextEntries;
    public uint ProcessContextEntries;
    public uint AddressSpaces;
    public delegate* unmanaged<void*, uint, uint, void> InterruptCallback;
    public void* InterruptContext;
    public delegate* unmanaged<void*, FaultRecord*, void> FaultCallback;
    public void* FaultContext;
}

/// <summary>fastiommu_translate_request in fastiommu.h (24 bytes).</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct TranslateRequestNative
{
    public ulong Iova;
    public uint DeviceId;
    public uint ProcessId;
    public uint Flags;
    public uint Access;
}

/// <summary>fastiommu_translate_response in fastiommu.h (40 bytes).</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct TranslateResponseNative
{
    public ulong PhysicalAddress;
    public ulong PageSize;
    public ulong Iotval;
    public ulong Iotval2;
    public ushort Cause;
    public byte Ttyp;
    public byte Pbmt;
    public uint Flags;
}

internal static unsafe partial class NativeExports
{
    // fastiommu_iommu_config.flags
    public const uint IommuDeferCommands = 1, IommuResetToBare = 2, IommuUncached = 4;
    // fastiommu_translate_request.flags
    public const uint RequestProcessIdValid = 1, RequestPrivileged = 2, RequestAts = 4, RequestTranslated = 8;
    // fastiommu_translate_response.flags
    public const uint ResponseSuccess = 1, ResponseRead = 2, ResponseWrite = 4, ResponseExecute = 8, ResponseSuppressed = 16;

    [UnmanagedCallersOnly(EntryPoint = "fastiommu_iommu_create")]
    public static NativeStatus IommuCreate(ulong memory, IommuConfigNative* config, ulong* iommu)
    {
        try
        {
            if (iommu == null || config == null)
            {
                return NullArgument(iommu == null ? "iommu" : "config");
            }

            if (config->StructSize < (uint)sizeof(IommuConfigNative))
            {
                return Fail(NativeStatus.InvalidArgument,
                    $"config->struct_size {config->StructSize} is below {sizeof(IommuConfigNative)}: set it to sizeof(fastiommu_iommu_config).");
            }

            if ((config->Flags & ~(IommuDeferCommands | IommuResetToBare | IommuUncached)) != 0
                || (config->DdtModes & ~(uint)SupportedDdtModes.All) != 0)
            {
                return Fail(NativeStatus.InvalidArgument, $"config flags 0x{config->Flags:x} or ddt_modes 0x{config->DdtModes:x} has unknown bits.");
            }

            MemoryObject? m = HandleTable.Find<MemoryObject>(memory);
            if (m is null)
            {
                return BadHandle("memory", memory);
            }

            var options = new IommuOptions
            {
                ProcessCommandsOnTailWrite = (config->Flags & IommuDeferCommands) == 0,
                ResetToBare = (config->Flags & IommuResetToBare) != 0,
                DdtModes = config->DdtModes == 0 ? SupportedDdtModes.All : (SupportedDdtModes)config->DdtModes,
            };
            TranslatorCacheOptions caches = CacheOptions(config);
            var capabilities = new Capabilities(config->Capabilities);
            RiscVIommu device = m.Physical is { } physical
                ? new RiscVIommu(physical, capabilities, options, caches)
                : RiscVIommu.Create(new CallbackMemoryAccess(m.Callbacks), capabilities, options, caches);
            var created = new IommuObject(device)
            {
                Lender = m,
                FaultCallback = config->FaultCallback,
                FaultContext = config->FaultContext,
            };
            if (config->InterruptCallback != null)
            {
                delegate* unmanaged<void*, uint, uint, void> callback = config->InterruptCallback;
                nint context = (nint)config->InterruptContext;
                device.InterruptRequested = (source, vector) => callback((void*)context, (uint)source, (uint)vector);
            }

            return Publish(created, iommu);
        }
        catch (Exception e)
        {
            return Fail(e);
        }
    }

    private static TranslatorCacheOptions CacheOptions(IommuConfigNative* config)
    {
        TranslatorCacheOptions basis = (config->Flags & IommuUncached) != 0 ? TranslatorCacheOptions.Uncached : TranslatorCacheOptions.Default;
        return new TranslatorCacheOptions
        {
            IotlbEntries = Size(config->IotlbEntries, basis.IotlbEntries),
            MicroTlbEntries = Size(config->MicroTlbEntries, basis.MicroTlbEntries),
            DeviceContextEntries = Size(config->DeviceContextEntries, basis.DeviceContextEntries),
            ProcessContextEntries = Size(config->ProcessContextEntries, basis.ProcessContextEntries),
            AddressSpaces = Size(config->AddressSpaces, basis.AddressSpaces),
        };

        static int Size(uint given, int basis) => given == 0 ? basis
            : given > int.MaxValue ? throw new ArgumentOutOfRangeException(nameof(given), given, "A cache size must be below 2^31.") : (int)given;
    }

    [UnmanagedCallersOnly(EntryPoint = "fastiommu_iommu_destroy")]
    public static NativeStatus IommuDestroy(ulong iommu)
    {
        try
        {
            return HandleTable.Remove<IommuObject>(iommu);
        }
        catch (Exception e)
        {
            return Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "fastiommu_iommu_read32")]
    public static NativeStatus IommuRead32(ulong iommu, uint offset, uint* value)
    {
        try
        {
            IommuObject? o = HandleTable.Find<IommuObject>(iommu);
            if (o is null)
            {
                return BadHandle("iommu", iommu);
            }

            if (value == null)
            {
                return NullArgument("value");
            }

            *value = o.Device.Read32(offset);
            return NativeStatus.Ok;
        }
        catch (Exception e)
        {
            return Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "fastiommu_iommu_read64")]
    public static NativeStatus IommuRead64(ulong iommu, uint offset, ulong* value)
    {
        try
        {
            IommuObject? o = HandleTable.Find<IommuObject>(iommu);
            if (o is null)
            {
                return BadHandle("iommu", iommu);
            }

            if (value == null)
            {
                return NullArgument("value");
            }

            *value = o.Device.Read64(offset);
            return NativeStatus.Ok;
        }
        catch (Exception e)
        {
            return Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "fastiommu_iommu_write32")]
    public static NativeStatus IommuWrite32(ulong iommu, uint offset, uint value)
    {
        try
        {
            IommuObject? o = HandleTable.Find<IommuObject>(iommu);
            if (o is null)
            {
                return BadHandle("iommu", iommu);
            }

            o.Device.Write32(offset, value);
            return NativeStatus.Ok;
        }
        catch (Exception e)
        {
            return Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "fastiommu_iommu_write64")]
    public static NativeStatus IommuWrite64(ulong iommu, uint offset, ulong value)
    {
        try
        {
            IommuObject? o = HandleTable.Find<IommuObject>(iommu);
            if (o is null)
            {
                return BadHandle("iommu", iommu);
            }

            o.Device.Write64(offset, value);
            return NativeStatus.Ok;
        }
        catch (Exception e)
        {
            return Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "fastiommu_iommu_process_commands")]
    public static NativeStatus IommuProcessCommands(ulong iommu, uint* completed)
    {
        try
        {
            IommuObject? o = HandleTable.Find<IommuObject>(iommu);
            if (o is null)
            {
                return BadHandle("iommu", iommu);
            }

            int count = o.Device.ProcessCommands();
            if (completed != null)
            {
                *completed = (uint)count;
            }

            return NativeStatus.Ok;
        }
        catch (Exception e)
        {
            return Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "fastiommu_iommu_report_page_request")]
    public static NativeStatus IommuReportPageRequest(ulong iommu, PageRequest* message, uint* outcome)
    {
        try
        {
            IommuObject? o = HandleTable.Find<IommuObject>(iommu);
            if (o is null)
            {
                return BadHandle("iommu", iommu);
            }

            if (message == null)
            {
                return NullArgument("message");
            }

            FaultReportOutcome result = o.Device.ReportPageRequest(in *message);
            if (outcome != null)
            {
                *outcome = (uint)result;
            }

            return NativeStatus.Ok;
        }
        catch (Exception e)
        {
            return Fail(e);
        }
    }

    /// <summary>Hands the ATS.INVAL / ATS.PRGR messages the command queue produced to C, oldest first, as the
    /// 16-byte commands they came from; what does not fit waits for the next call.</summary>
    [UnmanagedCallersOnly(EntryPoint = "fastiommu_iommu_take_ats_messages")]
    public static NativeStatus IommuTakeAtsMessages(ulong iommu, Command* buffer, uint capacity, uint* count)
    {
        try
        {
            IommuObject? o = HandleTable.Find<IommuObject>(iommu);
            if (o is null)
            {
                return BadHandle("iommu", iommu);
            }

            if (count == null || (buffer == null && capacity != 0))
            {
                return NullArgument(count == null ? "count" : "buffer");
            }

            lock (o.PendingAts)
            {
                foreach (AtsMessage message in o.Device.TakeAtsMessages())
                {
                    o.PendingAts.Enqueue(message);
                }

                uint taken = 0;
                while (taken < capacity && o.PendingAts.TryDequeue(out AtsMessage message))
                {
                    buffer[taken++] = new Command(message.Dword0, message.Dword1);
                }

                *count = taken;
            }

            return NativeStatus.Ok;
        }
        catch (Exception e)
        {
            return Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "fastiommu_iommu_fault_counts")]
    public static NativeStatus IommuFaultCounts(ulong iommu, ulong* written, ulong* dropped)
    {
        try
        {
            IommuObject? o = HandleTable.Find<IommuObject>(iommu);
            if (o is null)
            {
                return BadHandle("iommu", iommu);
            }

            if (written != null)
            {
                *written = (ulong)o.Device.FaultRecordsWritten;
            }

            if (dropped != null)
            {
                *dropped = (ulong)o.Device.FaultRecordsDropped;
            }

            return NativeStatus.Ok;
        }
        catch (Exception e)
        {
            return Fail(e);
        }
    }

    /// <summary>The hot path: one handle lookup, the request copied in, the result written in place. Allocates
    /// nothing. The work is in <see cref="TranslateChecked"/>, outside the try: RyuJIT keeps the locals of a method
    /// with exception handling on the stack, which cost the loop a load and a store per field.</summary>
    [UnmanagedCallersOnly(EntryPoint = "fastiommu_iommu_translate")]
    public static NativeStatus IommuTranslate(ulong iommu, TranslateRequestNative* request, TranslateResponseNative* response)
    {
        try
        {
            return TranslateChecked(iommu, request, response, 1, batch: false);
        }
        catch (Exception e)
        {
            return Fail(e);
        }
    }

    /// <summary>count translations in one call: the export's entry and exit (the reverse P/Invoke transition and the
    /// handle lookup) are paid once for the batch, as a DMA burst of an emulator would want.</summary>
    [UnmanagedCallersOnly(EntryPoint = "fastiommu_iommu_translate_batch")]
    public static NativeStatus IommuTranslateBatch(ulong iommu, TranslateRequestNative* requests, TranslateResponseNative* responses,
        uint count)
    {
        try
        {
            return TranslateChecked(iommu, requests, responses, count, batch: true);
        }
        catch (Exception e)
        {
            return Fail(e);
        }
    }

    private static NativeStatus TranslateChecked(ulong iommu, TranslateRequestNative* requests, TranslateResponseNative* responses,
        uint count, bool batch)
    {
        IommuObject? o = HandleTable.Find<IommuObject>(iommu);
        if (o is null || ((requests == null || responses == null) && (count != 0 || !batch)))
        {
            return TranslateRefused(o, iommu, requests, responses);
        }

        if (batch)
        {
            return TranslateBatch(o, requests, responses, count);
        }

        if (!Acceptable(requests))
        {
            return RefuseRequest(requests, null);
        }

        TranslateOne(o, requests, responses);
        return NativeStatus.Ok;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool Acceptable(TranslateRequestNative* request) =>
        request->Access <= (uint)AccessType.Execute && request->DeviceId <= TranslationRequest.MaxDeviceId;

    /// <summary>A batch: each request as <see cref="TranslateOne"/> translates it, and the leaf PTE of the request
    /// <see cref="TranslatorEngine.PrefetchDistance"/> places ahead prefetched, as the translator's own batch does
    /// (<see cref="IommuTranslator.Translate(ReadOnlySpan{TranslationRequest}, Span{TranslationResult})"/>). Its own
    /// loop rather than that batch with the flags encoded after: the second pass cost a batch of micro-TLB hits 4 ns
    /// per request. The requests before a refused one are translated, as the header says.</summary>
    private static NativeStatus TranslateBatch(IommuObject o, TranslateRequestNative* requests, TranslateResponseNative* responses, uint count)
    {
        const uint Distance = TranslatorEngine.PrefetchDistance;
        IommuTranslator translator = o.Device.Translator;
        PrefetchPlan plan = PrefetchPlan.None;
        for (uint i = 0; i < Math.Min(Distance, count); i++)
        {
            translator.Prefetch(in *(TranslationRequest*)(requests + i), ref plan);
        }

        for (uint i = 0; i < count; i++)
        {
            if (i + Distance < count)
            {
                // A prefetch reads nothing but memory, whatever the request holds: a bad one is refused when its turn comes.
                translator.Prefetch(in *(TranslationRequest*)(requests + i + Distance), ref plan);
            }

            if (!Acceptable(requests + i))
            {
                return RefuseRequest(requests + i, i);
            }

            TranslateOne(o, requests + i, responses + i);
        }

        return NativeStatus.Ok;
    }

    /// <summary>Stored: R 1, W 2, X 4, success 8, suppressed 16. C: success 1, R 2, W 4, X 8, suppressed 16.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static uint EncodeFlags(uint bits) => ((bits >> 3) & ResponseSuccess) | ((bits & 7) << 1) | (bits & ResponseSuppressed);

    private static NativeStatus RefuseRequest(TranslateRequestNative* request, uint? index)
    {
        string which = index is uint i ? $"request {i}: " : "";
        string after = index is not null ? "; requests before it were translated" : "";
        return request->Access > (uint)AccessType.Execute
            ? Fail(NativeStatus.InvalidArgument, $"{which}access {request->Access} is not FASTIOMMU_ACCESS_READ, _WRITE or _EXECUTE{after}.")
            : Fail(NativeStatus.InvalidArgument, $"{which}device_id 0x{request->DeviceId:x} is wider than 24 bits (at most 0x{TranslationRequest.MaxDeviceId:x}){after}.");
    }

    /// <summary>One translation: <see cref="TranslationRequest"/> has the layout of fastiommu_translate_request (the
    /// caller checked its access and device_id), so the device reads the caller's request in place
    /// (<c>NativeAbiTests</c> checks the layout). The result comes back in a local and goes to the response field by
    /// field, each read as wide as the device wrote it.</summary>
    /// <remarks>Not as one struct copy: NativeAOT copies the 40 bytes with 16-byte loads, which span two of the device's
    /// 8-byte stores and so cannot be forwarded from the store buffer; each such load waited for the stores to reach
    /// the cache, about 10 ns of the C API's 16.5 ns micro-TLB hit in a batch (perf annotate of
    /// <c>TranslateChecked</c>: 47 % of its samples on the two loads).</remarks>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void TranslateOne(IommuObject o, TranslateRequestNative* request, TranslateResponseNative* response)
    {
        ref readonly TranslationRequest translation = ref *(TranslationRequest*)request;
        TranslationResult result = o.Device.Translator.Translate(in translation);
        uint bits = result.FlagBits;
        if ((bits & TranslationResult.SuccessBit) == 0)
        {
            Faulted(o, in translation, result);
        }

        // Field by field here, not through TranslationResult.CopyTo: an instance call takes the local's address, and
        // NativeAOT then returns the result into a temporary and block-copies it again (measured: the micro-TLB hit
        // 19.0 -> 21.8 ns per call, 14.1 -> 18.1 in batches).
        response->PhysicalAddress = result.PhysicalAddress;
        response->PageSize = result.PageSize;
        response->Iotval = result.Iotval;
        response->Iotval2 = result.Iotval2;
        response->Cause = (ushort)result.Cause;
        response->Ttyp = (byte)result.Ttyp;
        response->Pbmt = (byte)result.MemoryType;
        response->Flags = EncodeFlags(bits);
    }

    /// <summary>A fault: the device's fault queue record (as <see cref="RiscVIommu.Translate(in TranslationRequest)"/>
    /// writes it), then the caller's fault callback. The result by value: passed by reference, it would make the
    /// caller's local address-taken, and NativeAOT then returns into a temporary and copies it (the block copy above).</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void Faulted(IommuObject o, in TranslationRequest request, TranslationResult result)
    {
        o.Device.RecordFault(in request, in result);
        if (o.FaultCallback != null)
        {
            NotifyFault(o, in request, in result);
        }
    }

    private static NativeStatus TranslateRefused(IommuObject? o, ulong iommu, TranslateRequestNative* request, TranslateResponseNative* response)
    {
        if (o is null)
        {
            return BadHandle("iommu", iommu);
        }

        return NullArgument(request == null ? "request" : "response");
    }

    // The record the device queued for this fault (same fields as RiscVIommu builds), handed to the emulator after.
    private static void NotifyFault(IommuObject o, in TranslationRequest request, in TranslationResult result)
    {
        if (result.FaultReportSuppressed && !FaultCauses.ReportedWhenDtf(result.Cause))
        {
            return;
        }

        FaultRecord record = FaultRecord.Create(result.Cause, result.Ttyp, request.DeviceId, request.ProcessIdValid, request.ProcessId,
            request.Privileged, result.Iotval, result.Iotval2);
        o.FaultCallback(o.FaultContext, &record);
    }
}
