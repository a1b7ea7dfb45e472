using System.Globalization;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text.RegularExpressions;
using FastIommu.Formats.RiscV;
using FastIommu.Hardware;
using FastIommu.Native;
using FastIommu.PageTables;

namespace FastIommu.Tests.Native;

/// <summary>fastiommu.h (written by hand) against the exports' managed side: every #define and enum value the library
/// interprets is parsed from the header and compared with the constant the exports use, and the structs the exports
/// read and write have the header's sizes and offsets. The C test test_layout checks the same sizes from C.</summary>
public partial class NativeAbiTests
{
    private static string Header() =>
        File.ReadAllText(FastIommu.Tests.Support.RepoPaths.Of("native-layout", "include", "fastiommu.h"));

    [GeneratedRegex(@"^#define (FASTIOMMU_[A-Z0-9_]+) \(?([0-9]+)u?( << ([0-9]+))?\)?u?\b", RegexOptions.Multiline)]
    private static partial Regex DefineRegex();

    [GeneratedRegex(@"^\s+(FASTIOMMU_[A-Z0-9_]+) = (?:16 \+ )?([0-9]+),?", RegexOptions.Multiline)]
    private static partial Regex EnumRegex();

    /// <summary>Every FASTIOMMU_ constant of the header: #defines (n, nu, (1u &lt;&lt; n)) and enum members.</summary>
    private static Dictionary<string, ulong> Constants()
    {
        string header = Header();
        var values = new Dictionary<string, ulong>(StringComparer.Ordinal);
        foreach (Match m in DefineRegex().Matches(header))
        {
            ulong value = ulong.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture);
            values[m.Groups[1].Value] = m.Groups[3].Success ? value << int.Parse(m.Groups[4].Value, CultureInfo.InvariantCulture) : value;
        }

        foreach (Match m in EnumRegex().Matches(header))
        {
            ulong value = ulong.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture);
            values[m.Groups[1].Value] = m.Value.Contains("16 + ", StringComparison.Ordinal) ? 16 + value : value;
        }

        return values;
    }

    [Test]
    public void Status_enum_of_the_header_is_the_library_s()
    {
        Dictionary<string, ulong> header = Constants();
        foreach (NativeStatus status in Enum.GetValues<NativeStatus>())
        {
            string name = StatusMap.Name(status);
            Assert.That(header.TryGetValue(name, out ulong value), Is.True, $"{name} is in fastiommu.h");
            Assert.That(value, Is.EqualTo((ulong)(int)status), $"{name} has the library's value");
        }

        int inHeader = header.Keys.Count(k => k == "FASTIOMMU_OK" || k.StartsWith("FASTIOMMU_ERR_", StringComparison.Ordinal));
        Assert.That(inHeader, Is.EqualTo(Enum.GetValues<NativeStatus>().Length), "no status in the header that the library lacks");
    }

    [TestCase("FASTIOMMU_ABI_VERSION", NativeExports.AbiVersion)]
    [TestCase("FASTIOMMU_MODE_SV39", NativeExports.ModeSv39)]
    [TestCase("FASTIOMMU_MODE_SV48", NativeExports.ModeSv48)]
    [TestCase("FASTIOMMU_MODE_SV57", NativeExports.ModeSv57)]
    [TestCase("FASTIOMMU_MODE_SV39X4", NativeExports.ModeSv39x4)]
    [TestCase("FASTIOMMU_MODE_SV48X4", NativeExports.ModeSv48x4)]
    [TestCase("FASTIOMMU_MODE_SV57X4", NativeExports.ModeSv57x4)]
    [TestCase("FASTIOMMU_PT_SVNAPOT", NativeExports.PageTableSvnapot)]
    [TestCase("FASTIOMMU_PROT_READ", (uint)PageProtection.Read)]
    [TestCase("FASTIOMMU_PROT_WRITE", (uint)PageProtection.Write)]
    [TestCase("FASTIOMMU_PROT_EXEC", (uint)PageProtection.Execute)]
    [TestCase("FASTIOMMU_PROT_USER", (uint)PageProtection.User)]
    [TestCase("FASTIOMMU_PROT_GLOBAL", (uint)PageProtection.Global)]
    [TestCase("FASTIOMMU_PBMT_PMA", (uint)PageBasedMemoryType.Pma)]
    [TestCase("FASTIOMMU_PBMT_NC", (uint)PageBasedMemoryType.Nc)]
    [TestCase("FASTIOMMU_PBMT_IO", (uint)PageBasedMemoryType.Io)]
    [TestCase("FASTIOMMU_INTERRUPT_CQ", (uint)IommuInterruptSource.CommandQueue)]
    [TestCase("FASTIOMMU_INTERRUPT_FQ", (uint)IommuInterruptSource.FaultQueue)]
    [TestCase("FASTIOMMU_INTERRUPT_PM", (uint)IommuInterruptSource.PerformanceMonitor)]
    [TestCase("FASTIOMMU_INTERRUPT_PQ", (uint)IommuInterruptSource.PageRequestQueue)]
    [TestCase("FASTIOMMU_IOMMU_DEFER_COMMANDS", NativeExports.IommuDeferCommands)]
    [TestCase("FASTIOMMU_IOMMU_RESET_TO_BARE", NativeExports.IommuResetToBare)]
    [TestCase("FASTIOMMU_IOMMU_UNCACHED", NativeExports.IommuUncached)]
    [TestCase("FASTIOMMU_DDT_1LVL", (uint)SupportedDdtModes.OneLevel)]
    [TestCase("FASTIOMMU_DDT_2LVL", (uint)SupportedDdtModes.TwoLevel)]
    [TestCase("FASTIOMMU_DDT_3LVL", (uint)SupportedDdtModes.ThreeLevel)]
    [TestCase("FASTIOMMU_REPORT_WRITTEN", (uint)FaultReportOutcome.Written)]
    [TestCase("FASTIOMMU_REPORT_QUEUE_OFF", (uint)FaultReportOutcome.QueueOff)]
    [TestCase("FASTIOMMU_REPORT_OVERFLOW", (uint)FaultReportOutcome.Overflow)]
    [TestCase("FASTIOMMU_REPORT_MEMORY_FAULT", (uint)FaultReportOutcome.MemoryFault)]
    [TestCase("FASTIOMMU_REPORT_DISCARDED", (uint)FaultReportOutcome.Discarded)]
    [TestCase("FASTIOMMU_ACCESS_READ", (uint)AccessType.Read)]
    [TestCase("FASTIOMMU_ACCESS_WRITE", (uint)AccessType.Write)]
    [TestCase("FASTIOMMU_ACCESS_EXECUTE", (uint)AccessType.Execute)]
    [TestCase("FASTIOMMU_REQ_PV", NativeExports.RequestProcessIdValid)]
    [TestCase("FASTIOMMU_REQ_PRIV", NativeExports.RequestPrivileged)]
    [TestCase("FASTIOMMU_REQ_ATS", NativeExports.RequestAts)]
    [TestCase("FASTIOMMU_REQ_TRANSLATED", NativeExports.RequestTranslated)]
    [TestCase("FASTIOMMU_RESP_SUCCESS", NativeExports.ResponseSuccess)]
    [TestCase("FASTIOMMU_RESP_READ", NativeExports.ResponseRead)]
    [TestCase("FASTIOMMU_RESP_WRITE", NativeExports.ResponseWrite)]
    [TestCase("FASTIOMMU_RESP_EXECUTE", NativeExports.ResponseExecute)]
    [TestCase("FASTIOMMU_RESP_SUPPRESSED", NativeExports.ResponseSuppressed)]
    [TestCase("FASTIOMMU_DOMAIN_BLOCKED", (uint)FastIommu.Driver.DomainKind.Blocked)]
    [TestCase("FASTIOMMU_DOMAIN_IDENTITY", (uint)FastIommu.Driver.DomainKind.Identity)]
    [TestCase("FASTIOMMU_DOMAIN_PAGING", (uint)FastIommu.Driver.DomainKind.Paging)]
    [TestCase("FASTIOMMU_DOMAIN_SVA", (uint)FastIommu.Driver.DomainKind.Sva)]
    [TestCase("FASTIOMMU_DOMAIN_NESTED", (uint)FastIommu.Driver.DomainKind.Nested)]
    [TestCase("FASTIOMMU_DOMAIN_PAGING", NativeExports.DomainPaging)]
    [TestCase("FASTIOMMU_DOMAIN_SVA", NativeExports.DomainSva)]
    [TestCase("FASTIOMMU_FEATURE_SVA", (uint)FastIommu.Driver.DeviceFeatures.Sva)]
    [TestCase("FASTIOMMU_FEATURE_ATS", (uint)FastIommu.Driver.DeviceFeatures.Ats)]
    [TestCase("FASTIOMMU_FEATURE_SVA", NativeExports.FeatureSva)]
    [TestCase("FASTIOMMU_CMD_IOTINVAL_VMA", (uint)CommandKind.IotinvalVma)]
    [TestCase("FASTIOMMU_CMD_IOTINVAL_GVMA", (uint)CommandKind.IotinvalGvma)]
    [TestCase("FASTIOMMU_CMD_IOFENCE_C", (uint)CommandKind.IofenceC)]
    [TestCase("FASTIOMMU_CMD_IODIR_INVAL_DDT", (uint)CommandKind.IodirInvalDdt)]
    [TestCase("FASTIOMMU_CMD_IODIR_INVAL_PDT", (uint)CommandKind.IodirInvalPdt)]
    [TestCase("FASTIOMMU_CMD_ATS_INVAL", (uint)CommandKind.AtsInval)]
    [TestCase("FASTIOMMU_CMD_ATS_PRGR", (uint)CommandKind.AtsPrgr)]
    public void Header_constant_is_the_one_the_exports_use(string name, uint expected)
    {
        Dictionary<string, ulong> header = Constants();
        Assert.That(header.TryGetValue(name, out ulong value), Is.True, $"{name} is in fastiommu.h");
        Assert.That(value, Is.EqualTo((ulong)expected), $"{name} in fastiommu.h is the library's value");
    }

    [Test]
    public void Structs_the_exports_read_and_write_have_the_header_s_layout()
    {
        Assert.That(Unsafe.SizeOf<TranslateRequestNative>(), Is.EqualTo(24), "fastiommu_translate_request");
        Assert.That((int)Marshal.OffsetOf<TranslateRequestNative>(nameof(TranslateRequestNative.DeviceId)), Is.EqualTo(8), "request.device_id");
        Assert.That((int)Marshal.OffsetOf<TranslateRequestNative>(nameof(TranslateRequestNative.Access)), Is.EqualTo(20), "request.access");
        Assert.That(Unsafe.SizeOf<TranslateResponseNative>(), Is.EqualTo(40), "fastiommu_translate_response");
        Assert.That((int)Marshal.OffsetOf<TranslateResponseNative>(nameof(TranslateResponseNative.Cause)), Is.EqualTo(32), "response.cause");
        Assert.That((int)Marshal.OffsetOf<TranslateResponseNative>(nameof(TranslateResponseNative.Flags)), Is.EqualTo(36), "response.flags");
        Assert.That(Unsafe.SizeOf<IommuConfigNative>(), Is.EqualTo(72), "fastiommu_iommu_config");
        Assert.That((int)Marshal.OffsetOf<IommuConfigNative>(nameof(IommuConfigNative.InterruptCallback)), Is.EqualTo(40), "config.interrupt_callback");
        Assert.That(Unsafe.SizeOf<MemoryCallbacks>(), Is.EqualTo(32), "fastiommu_memory_callbacks");
        Assert.That(Unsafe.SizeOf<WalkResultNative>(), Is.EqualTo(32), "fastiommu_walk_result");
        Assert.That(Unsafe.SizeOf<GatherInfoNative>(), Is.EqualTo(24), "fastiommu_gather_info");
        Assert.That(Unsafe.SizeOf<FaultRecord>(), Is.EqualTo(32), "the record the fault callback gets");
        Assert.That(Unsafe.SizeOf<MmioCallbacks>(), Is.EqualTo(40), "fastiommu_mmio_callbacks");
        Assert.That(Unsafe.SizeOf<InstanceOptionsNative>(), Is.EqualTo(32), "fastiommu_instance_options");
        Assert.That((int)Marshal.OffsetOf<InstanceOptionsNative>(nameof(InstanceOptionsNative.PageInvalidationLimit)), Is.EqualTo(24),
            "options.page_invalidation_limit");
        Assert.That(Unsafe.SizeOf<CountersNative>(), Is.EqualTo(88), "fastiommu_counters");
        Assert.That((int)Marshal.OffsetOf<CountersNative>(nameof(CountersNative.Syncs)), Is.EqualTo(64), "counters.syncs");
        Assert.That(Unsafe.SizeOf<ImageInfoNative>(), Is.EqualTo(40), "fastiommu_image_info");
    }

    /// <summary>fastiommu_iommu_translate reads the caller's request as a <see cref="TranslationRequest"/> and writes
    /// the <see cref="TranslationResult"/> into the caller's response (re-encoding only the flags): the managed structs
    /// must hold each C field at the C offset.</summary>
    [Test]
    public unsafe void Translate_reads_the_C_request_and_writes_the_C_response_in_place()
    {
        var native = new TranslateRequestNative
        {
            Iova = 0x1122_3344_5566_7788,
            DeviceId = 0xAB_CDEF,
            ProcessId = 0xF_1234,
            Flags = NativeExports.RequestProcessIdValid | NativeExports.RequestPrivileged | NativeExports.RequestTranslated,
            Access = (uint)AccessType.Execute,
        };
        Assert.That(Unsafe.SizeOf<TranslationRequest>(), Is.EqualTo(Unsafe.SizeOf<TranslateRequestNative>()), "same size");
        TranslationRequest managed = *(TranslationRequest*)&native;
        Assert.That((managed.Iova, managed.DeviceId, managed.ProcessId, managed.Access),
            Is.EqualTo((native.Iova, native.DeviceId, native.ProcessId, AccessType.Execute)), "iova, device_id, process_id, access");
        Assert.That((managed.ProcessIdValid, managed.Privileged, managed.AtsTranslationRequest, managed.Translated),
            Is.EqualTo((true, true, false, true)), "FASTIOMMU_REQ_PV, _PRIV, _ATS, _TRANSLATED");
        native.Flags = NativeExports.RequestAts;
        managed = *(TranslationRequest*)&native;
        Assert.That((managed.ProcessIdValid, managed.Privileged, managed.AtsTranslationRequest, managed.Translated),
            Is.EqualTo((false, false, true, false)), "FASTIOMMU_REQ_ATS alone");

        Assert.That(Unsafe.SizeOf<TranslationResult>(), Is.EqualTo(Unsafe.SizeOf<TranslateResponseNative>()), "same size");
        var result = new TranslationResult(0x1000_2000_3000_4000, 0x20_0000, 0x5000_6000_7000_8000, 0x9000_A000_B000_C000,
            FaultCause.WritePageFault, TransactionType.UntranslatedWrite, PageBasedMemoryType.Io,
            TranslationResult.WritableBit | TranslationResult.SuppressedBit);
        TranslateResponseNative response = *(TranslateResponseNative*)&result;
        Assert.That((response.PhysicalAddress, response.PageSize, response.Iotval, response.Iotval2),
            Is.EqualTo((result.PhysicalAddress, result.PageSize, result.Iotval, result.Iotval2)), "pa, page_size, iotval, iotval2");
        Assert.That((response.Cause, response.Ttyp, response.Pbmt),
            Is.EqualTo(((ushort)FaultCause.WritePageFault, (byte)TransactionType.UntranslatedWrite, (byte)PageBasedMemoryType.Io)),
            "cause, ttyp, pbmt");
        Assert.That(response.Flags & 0xFF, Is.EqualTo((uint)result.FlagBits), "the stored flags sit in the low byte of flags, re-encoded after");
    }

    [Test]
    public void Every_error_value_has_a_status()
    {
        Assert.That(StatusMap.From(new PageTableException(MapStatus.Overlap, 0x1000, "x")), Is.EqualTo(NativeStatus.Overlap), "overlap");
        Assert.That(StatusMap.From(new ObjectDisposedException("x")), Is.EqualTo(NativeStatus.InvalidHandle), "disposed object");
        Assert.That(StatusMap.From(new ArgumentOutOfRangeException("x")), Is.EqualTo(NativeStatus.InvalidArgument), "argument");
        Assert.That(StatusMap.From(new FastIommu.Memory.OutOfPhysicalMemoryException("x")), Is.EqualTo(NativeStatus.OutOfMemory), "exhaustion");
        Assert.That(StatusMap.From(new NullReferenceException()), Is.EqualTo(NativeStatus.Internal), "a bug of ours");
        Assert.That(StatusMap.From(new FastIommu.Images.ImageFormatException(FastIommu.Images.ImageError.TrailingBytes, 64, "x")),
            Is.EqualTo(NativeStatus.ImageFormat), "a malformed image");
        Assert.That(StatusMap.From(new FastIommu.Driver.CommandQueueTimeoutException(default, "fence", TimeSpan.FromSeconds(1))),
            Is.EqualTo(NativeStatus.Timeout), "a fence not completed");
        Assert.That(StatusMap.From(new FastIommu.Driver.CommandQueueException(default, FastIommu.Driver.CommandQueueError.IllegalCommand)),
            Is.EqualTo(NativeStatus.CommandQueue), "cmd_ill, not InUse (it is an InvalidOperationException)");
        Assert.That(StatusMap.From(new FastIommu.Driver.IdSpaceExhaustedException("PSCID", "x")), Is.EqualTo(NativeStatus.IdsExhausted),
            "no PSCID left, not InUse");
        Assert.That(StatusMap.From(new FileNotFoundException("x")), Is.EqualTo(NativeStatus.Io), "a missing file");
        foreach (MapStatus status in Enum.GetValues<MapStatus>())
        {
            Assert.That(StatusMap.From(status), status == MapStatus.Success ? Is.EqualTo(NativeStatus.Ok) : Is.Not.EqualTo(NativeStatus.Internal),
                $"MapStatus.{status} has a status of its own");
        }
    }
}
