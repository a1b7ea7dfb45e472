using FastIommu.Formats.RiscV;
using FormatsCapabilities = FastIommu.Formats.RiscV.Capabilities;

namespace FastIommu.Hardware;

/// <summary>
/// The register map of the RISC-V IOMMU (spec chapter "Memory-mapped register interface", table
/// "IOMMU Memory-mapped register layout") and the registers that belong to no queue: <c>capabilities</c>,
/// <c>fctl</c>, <c>ddtp</c>, <c>ipsr</c>, <c>icvec</c>. All writes happen under the device lock; reads are lock-free.
/// </summary>
/// <remarks>
/// <code>
///  offset  size  register         offset  size  register
///  0x000   8     capabilities     0x048   4     cqcsr
///  0x008   4     fctl             0x04C   4     fqcsr
///  0x010   8     ddtp             0x050   4     pqcsr       (ATS)
///  0x018   8     cqb              0x054   4     ipsr
///  0x020   4     cqh              0x258   8     tr_req_iova (DBG)
///  0x024   4     cqt              0x260   8     tr_req_ctl  (DBG)
///  0x028   8     fqb              0x268   8     tr_response (DBG)
///  0x030   4     fqh              0x2F8   8     icvec
///  0x034   4     fqt
///  0x038   8     pqb  (ATS)       0x040 4 pqh (ATS)   0x044 4 pqt (ATS)
/// </code>
/// <c>msi_cfg_tbl</c> (0x300-0x3FF, unless IGS is WSI) is <see cref="MsiConfigTable"/>. The HPM counters
/// (0x058-0x257) and <c>iommu_qosid</c> are not modelled: this IOMMU reports <c>capabilities.HPM = 0</c> and
/// <c>QOSID = 0</c>, so they read 0 and ignore writes like every reserved offset.
/// </remarks>
internal sealed class RegisterFile
{
    public const uint Capabilities = RegisterOffsets.Capabilities;
    public const uint Fctl = RegisterOffsets.Fctl;
    public const uint Ddtp = RegisterOffsets.Ddtp;
    public const uint Cqb = RegisterOffsets.Cqb;
    public const uint Cqh = RegisterOffsets.Cqh;
    public const uint Cqt = RegisterOffsets.Cqt;
    public const uint Fqb = RegisterOffsets.Fqb;
    public const uint Fqh = RegisterOffsets.Fqh;
    public const uint Fqt = RegisterOffsets.Fqt;
    public const uint Pqb = RegisterOffsets.Pqb;
    public const uint Pqh = RegisterOffsets.Pqh;
    public const uint Pqt = RegisterOffsets.Pqt;
    public const uint CqCsr = RegisterOffsets.Cqcsr;
    public const uint FqCsr = RegisterOffsets.Fqcsr;
    public const uint PqCsr = RegisterOffsets.Pqcsr;
    public const uint Ipsr = RegisterOffsets.Ipsr;
    public const uint TrReqIova = RegisterOffsets.TrReqIova;
    public const uint TrReqCtl = RegisterOffsets.TrReqCtl;
    public const uint TrResponse = RegisterOffsets.TrResponse;
    public const uint Icvec = RegisterOffsets.Icvec;
    /// <summary>The register page is 4 KiB (spec: "located within a naturally aligned 4-KiB region").</summary>
    public const uint Size = RegisterOffsets.RegisterFileSize;

    // capabilities bits used by the device side (spec table "IOMMU capabilities register fields").
    public const int CapSv32x4Bit = FormatsCapabilities.Sv32x4Bit;
    public const int CapAtsBit = FormatsCapabilities.AtsBit;
    public const int CapEndBit = FormatsCapabilities.EndBit;
    public const int CapIgsShift = FormatsCapabilities.IgsShift;
    public const int CapHpmBit = FormatsCapabilities.HpmBit;
    public const int CapDbgBit = FormatsCapabilities.DbgBit;
    public const int CapPasShift = FormatsCapabilities.PasShift;
    public const int CapPd8Bit = FormatsCapabilities.Pd8Bit;
    public const int CapPd17Bit = FormatsCapabilities.Pd17Bit;
    public const int CapPd20Bit = FormatsCapabilities.Pd20Bit;
    public const int CapQosidBit = FormatsCapabilities.QosidBit;
    public const uint IgsMsi = 0;
    public const uint IgsWsi = 1;
    public const uint IgsBoth = 2;

    // fctl (spec "Features-control register"): BE 0, WSI 1, GXL 2; 31:3 reserved/custom.
    public const uint FctlBe = Formats.RiscV.Fctl.BeMask;
    public const uint FctlWsi = Formats.RiscV.Fctl.WsiMask;
    public const uint FctlGxl = Formats.RiscV.Fctl.GxlMask;

    // ddtp: iommu_mode 3:0, busy 4, PPN 53:10.
    public const ulong DdtpModeMask = Formats.RiscV.Ddtp.IommuModeMask;
    public const ulong DdtpBusy = Formats.RiscV.Ddtp.BusyMask;
    public const int PpnShift = QueueBase.PpnShift;
    public const ulong ModeOff = 0;
    public const ulong ModeBare = 1;
    public const ulong ModeOneLevel = 2;
    public const ulong ModeThreeLevel = 4;

    // ipsr (RW1C): cip 0, fip 1, pmip 2, pip 3.
    public const uint IpsrCip = Formats.RiscV.Ipsr.CipMask;
    public const uint IpsrFip = Formats.RiscV.Ipsr.FipMask;
    public const uint IpsrPmip = Formats.RiscV.Ipsr.PmipMask;
    public const uint IpsrPip = Formats.RiscV.Ipsr.PipMask;

    // icvec: civ 3:0, fiv 7:4, pmiv 11:8, piv 15:12.
    public const ulong IcvecMask = Formats.RiscV.Icvec.CivMask | Formats.RiscV.Icvec.FivMask | Formats.RiscV.Icvec.PmivMask | Formats.RiscV.Icvec.PivMask;

    private readonly ulong _capabilities;
    private readonly SupportedDdtModes _ddtModes;
    private uint _fctl;
    private ulong _ddtp;
    private ulong _icvec;
    private int _ipsr;

    public RegisterFile(ulong capabilities, IommuOptions options)
    {
        _capabilities = capabilities;
        _ddtModes = options.DdtModes;
        _ddtp = options.ResetToBare ? ModeBare : ModeOff;
        // A WSI-only IOMMU signals by wire from reset on; the other WARL bits reset to 0 (little-endian, MSI).
        _fctl = Igs == IgsWsi ? FctlWsi : 0;
        PpnMask = PpnMaskFor(capabilities);
    }

    public ulong CapabilitiesValue => _capabilities;

    public uint Igs => (uint)(_capabilities >> CapIgsShift) & 3;

    public bool HasAts => (_capabilities & (1UL << CapAtsBit)) != 0;

    public bool HasDbg => (_capabilities & (1UL << CapDbgBit)) != 0;

    /// <summary>The PPN bits (already shifted to 53:10) that name memory below 2^capabilities.PAS: the writable
    /// (WARL) part of every PPN field of the registers.</summary>
    public ulong PpnMask { get; }

    public uint FctlValue => Volatile.Read(ref _fctl);

    public bool BigEndian => (FctlValue & FctlBe) != 0;

    public bool WiredInterrupts => (FctlValue & FctlWsi) != 0;

    public ulong DdtpValue => Volatile.Read(ref _ddtp);

    public ulong IcvecValue => Volatile.Read(ref _icvec);

    public uint IpsrValue => (uint)Volatile.Read(ref _ipsr);

    public static ulong PpnMaskFor(ulong capabilities)
    {
        int pas = (int)((capabilities >> CapPasShift) & 0x3F);
        int ppnBits = Math.Min(44, pas - 12);
        return ((1UL << ppnBits) - 1) << PpnShift;
    }

    /// <summary>fctl is WARL: BE is writable only when capabilities.END says both endiannesses are supported,
    /// WSI only when IGS is BOTH (MSI-only hard-wires 0, WSI-only hard-wires 1), GXL only with Sv32x4.
    /// Changing it while the IOMMU is not Off or a queue is on is UNSPECIFIED; this model ignores such writes.</summary>
    public bool WriteFctl(uint value, bool queuesIdle)
    {
        if ((DdtpValue & DdtpModeMask) != ModeOff || !queuesIdle)
        {
            return false;
        }

        uint writable = 0;
        if ((_capabilities & (1UL << CapEndBit)) != 0)
        {
            writable |= FctlBe;
        }

        if (Igs == IgsBoth)
        {
            writable |= FctlWsi;
        }

        if ((_capabilities & (1UL << CapSv32x4Bit)) != 0)
        {
            writable |= FctlGxl;
        }

        uint fixedBits = Igs == IgsWsi ? FctlWsi : 0;
        Volatile.Write(ref _fctl, (value & writable) | fixedBits);
        return true;
    }

    /// <summary>ddtp write. The spec defines: any mode → Off; Off → Bare; Off/Bare → 1LVL/2LVL/3LVL (and Off → Off,
    /// Bare → Bare). Every other change is UNSPECIFIED, a reserved or unimplemented mode is WARL: this model keeps
    /// the old value (the whole write is ignored) in those cases. busy is hard-wired to 0 because the change is
    /// complete when the write returns. Returns true when ddtp changed.</summary>
    public bool WriteDdtp(ulong value)
    {
        ulong old = DdtpValue;
        ulong oldMode = old & DdtpModeMask;
        ulong newMode = value & DdtpModeMask;
        if (!ModeImplemented(newMode))
        {
            return false;
        }

        bool allowed = newMode == ModeOff
            || (newMode == ModeBare && oldMode is ModeOff or ModeBare)
            || (newMode >= ModeOneLevel && oldMode is ModeOff or ModeBare);
        if (!allowed)
        {
            return false;
        }

        Volatile.Write(ref _ddtp, newMode | (value & PpnMask));
        return true;
    }

    private bool ModeImplemented(ulong mode) =>
        mode is ModeOff or ModeBare
        || (mode >= ModeOneLevel && mode <= ModeThreeLevel && ((int)_ddtModes & (1 << (int)mode)) != 0);

    public void WriteIcvec(ulong value) => Volatile.Write(ref _icvec, value & IcvecMask);

    /// <summary>Sets ipsr bits; returns the bits that went from 0 to 1 (each such edge is an interrupt).</summary>
    public uint SetIpsr(uint bits)
    {
        uint before = (uint)Interlocked.Or(ref _ipsr, (int)bits);
        return bits & ~before;
    }

    /// <summary>ipsr is RW1C: a 1 clears the bit (reserved bits are ignored).</summary>
    public void ClearIpsr(uint bits) =>
        Interlocked.And(ref _ipsr, ~(int)(bits & (IpsrCip | IpsrFip | IpsrPmip | IpsrPip)));
}
