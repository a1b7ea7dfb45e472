using System.Runtime.InteropServices;
using System.Text;

namespace FastIommu.Formats.RiscV;

/// <summary>
/// The read-only <c>capabilities</c> register (offset 0x00). IOMMU spec, "IOMMU capabilities (capabilities)".
/// </summary>
/// <remarks>
/// <code>
///  63    56 55      42  41    40   39  38  37  32  31  30  29 28  27   26   25    24      23      22      21    20
/// +--------+----------+-----+----+----+---+------+---+---+-----+---+-----+---+--------+--------+--------+--------+---+
/// | custom | reserved |QOSID|PD20|PD17|PD8|  PAS |DBG|HPM| IGS |END|T2GPA|ATS|AMO_HWAD|MSI_MRIF|MSI_FLAT|AMO_MRIF|rsv|
/// +--------+----------+-----+----+----+---+------+---+---+-----+---+-----+---+--------+--------+--------+--------+---+
///     8        14        1    1    1   1     6    1   1    2   1    1    1      1        1        1        1      1
///
///   19      18      17      16     15    14  12  11   10   9    8   7       0
/// +------+------+------+------+------+-------+----+----+----+----+---------+
/// |Sv57x4|Sv48x4|Sv39x4|Sv32x4|Svpbmt|  rsv  |Sv57|Sv48|Sv39|Sv32| version |
/// +------+------+------+------+------+-------+----+----+----+----+---------+
///    1      1      1      1      1       3     1    1    1    1       8
/// </code>
/// version 0x10 = v1.0 (major in the high nibble). IGS: 0 MSI, 1 WSI, 2 BOTH, 3 reserved.
/// </remarks>
[StructLayout(LayoutKind.Sequential, Size = 8)]
public readonly struct Capabilities : IEquatable<Capabilities>
{
    public const int VersionShift = 0;
    public const int VersionBits = 8;
    public const int Sv32Bit = VersionShift + VersionBits; // 8
    public const int Sv39Bit = Sv32Bit + 1;                // 9
    public const int Sv48Bit = Sv39Bit + 1;                // 10
    public const int Sv57Bit = Sv48Bit + 1;                // 11
    public const int Reserved0Shift = Sv57Bit + 1;         // 12
    public const int Reserved0Bits = 3;
    public const int SvpbmtBit = Reserved0Shift + Reserved0Bits; // 15
    public const int Sv32x4Bit = SvpbmtBit + 1;            // 16
    public const int Sv39x4Bit = Sv32x4Bit + 1;            // 17
    public const int Sv48x4Bit = Sv39x4Bit + 1;            // 18
    public const int Sv57x4Bit = Sv48x4Bit + 1;            // 19
    public const int Reserved1Bit = Sv57x4Bit + 1;         // 20
    public const int AmoMrifBit = Reserved1Bit + 1;        // 21
    public const int MsiFlatBit = AmoMrifBit + 1;          // 22
    public const int MsiMrifBit = MsiFlatBit + 1;          // 23
    public const int AmoHwadBit = MsiMrifBit + 1;          // 24
    public const int AtsBit = AmoHwadBit + 1;              // 25
    public const int T2gpaBit = AtsBit + 1;                // 26
    public const int EndBit = T2gpaBit + 1;                // 27
    public const int IgsShift = EndBit + 1;                // 28
    public const int IgsBits = 2;
    public const int HpmBit = IgsShift + IgsBits;          // 30
    public const int DbgBit = HpmBit + 1;                  // 31
    public const int PasShift = DbgBit + 1;                // 32
    public const int PasBits = 6;
    public const int Pd8Bit = PasShift + PasBits;          // 38
    public const int Pd17Bit = Pd8Bit + 1;                 // 39
    public const int Pd20Bit = Pd17Bit + 1;                // 40
    public const int QosidBit = Pd20Bit + 1;               // 41
    public const int Reserved2Shift = QosidBit + 1;        // 42
    public const int Reserved2Bits = 14;
    public const int CustomShift = Reserved2Shift + Reserved2Bits; // 56
    public const int CustomBits = 8;

    public const ulong VersionMask = ((1UL << VersionBits) - 1) << VersionShift;
    public const ulong IgsMask = ((1UL << IgsBits) - 1) << IgsShift;
    public const ulong PasMask = ((1UL << PasBits) - 1) << PasShift;
    public const ulong CustomMask = ((1UL << CustomBits) - 1) << CustomShift;
    /// <summary>Bits 14:12, 20 and 55:42.</summary>
    public const ulong ReservedMask = (((1UL << Reserved0Bits) - 1) << Reserved0Shift) | (1UL << Reserved1Bit) | (((1UL << Reserved2Bits) - 1) << Reserved2Shift);

    /// <summary>The version field of an implementation of v1.0.</summary>
    public const byte Version1_0 = 0x10;

    /// <summary>The raw 64-bit register value.</summary>
    public readonly ulong Value;

    public Capabilities(ulong value) => Value = value;

    private bool Bit(int bit) => (Value & (1UL << bit)) != 0;
    private Capabilities WithBit(int bit, bool on) => new(on ? Value | (1UL << bit) : Value & ~(1UL << bit));

    /// <summary>version, bits 7:0: major.minor nibbles (0x10 = 1.0).</summary>
    public byte Version => (byte)((Value & VersionMask) >> VersionShift);
    public bool Sv32 => Bit(Sv32Bit);
    public bool Sv39 => Bit(Sv39Bit);
    public bool Sv48 => Bit(Sv48Bit);
    public bool Sv57 => Bit(Sv57Bit);
    public bool Svpbmt => Bit(SvpbmtBit);
    public bool Sv32x4 => Bit(Sv32x4Bit);
    public bool Sv39x4 => Bit(Sv39x4Bit);
    public bool Sv48x4 => Bit(Sv48x4Bit);
    public bool Sv57x4 => Bit(Sv57x4Bit);
    /// <summary>AMO_MRIF: atomic updates to MRIF.</summary>
    public bool AmoMrif => Bit(AmoMrifBit);
    /// <summary>MSI_FLAT: flat MSI page tables; selects the 64-byte extended device context.</summary>
    public bool MsiFlat => Bit(MsiFlatBit);
    /// <summary>MSI_MRIF: MRIF-mode MSI PTEs.</summary>
    public bool MsiMrif => Bit(MsiMrifBit);
    /// <summary>AMO_HWAD: hardware A/D updates (tc.GADE/SADE may be 1).</summary>
    public bool AmoHwad => Bit(AmoHwadBit);
    /// <summary>ATS: PCIe ATS and PRI.</summary>
    public bool Ats => Bit(AtsBit);
    /// <summary>T2GPA: returning GPAs in ATS completions.</summary>
    public bool T2gpa => Bit(T2gpaBit);
    /// <summary>END: both endiannesses supported.</summary>
    public bool End => Bit(EndBit);
    /// <summary>IGS, bits 29:28: interrupt generation support.</summary>
    public InterruptGenerationSupport Igs => (InterruptGenerationSupport)((Value & IgsMask) >> IgsShift);
    public bool Hpm => Bit(HpmBit);
    public bool Dbg => Bit(DbgBit);
    /// <summary>PAS, bits 37:32: physical address size in bits.</summary>
    public int Pas => (int)((Value & PasMask) >> PasShift);
    public bool Pd8 => Bit(Pd8Bit);
    public bool Pd17 => Bit(Pd17Bit);
    public bool Pd20 => Bit(Pd20Bit);
    /// <summary>QOSID: RCID/MCID in DC.ta and the iommu_qosid register.</summary>
    public bool Qosid => Bit(QosidBit);
    /// <summary>custom, bits 63:56.</summary>
    public uint Custom => (uint)((Value & CustomMask) >> CustomShift);

    public ulong Reserved => Value & ReservedMask;
    public bool HasReservedBitsSet => (Value & ReservedMask) != 0;

    /// <summary>Size of the device context this IOMMU uses: 64 bytes when MSI_FLAT, else 32.</summary>
    public int DeviceContextSize => MsiFlat ? ExtendedDeviceContext.Size : DeviceContext.Size;

    /// <summary>Whether the paging mode <paramref name="kind"/> is supported.</summary>
    public bool Supports(PagingModeKind kind) => kind switch
    {
        PagingModeKind.Sv39 => Sv39,
        PagingModeKind.Sv48 => Sv48,
        PagingModeKind.Sv57 => Sv57,
        PagingModeKind.Sv39x4 => Sv39x4,
        PagingModeKind.Sv48x4 => Sv48x4,
        PagingModeKind.Sv57x4 => Sv57x4,
        _ => false,
    };

    /// <summary>Whether the PDT mode <paramref name="mode"/> is supported (Bare always is).</summary>
    public bool Supports(PdtpMode mode) => mode switch
    {
        PdtpMode.Bare => true,
        PdtpMode.PD8 => Pd8,
        PdtpMode.PD17 => Pd17,
        PdtpMode.PD20 => Pd20,
        _ => false,
    };

    public Capabilities WithVersion(uint version) => new((Value & ~VersionMask) | (((ulong)version << VersionShift) & VersionMask));
    public Capabilities WithSv32(bool v) => WithBit(Sv32Bit, v);
    public Capabilities WithSv39(bool v) => WithBit(Sv39Bit, v);
    public Capabilities WithSv48(bool v) => WithBit(Sv48Bit, v);
    public Capabilities WithSv57(bool v) => WithBit(Sv57Bit, v);
    public Capabilities WithSvpbmt(bool v) => WithBit(SvpbmtBit, v);
    public Capabilities WithSv32x4(bool v) => WithBit(Sv32x4Bit, v);
    public Capabilities WithSv39x4(bool v) => WithBit(Sv39x4Bit, v);
    public Capabilities WithSv48x4(bool v) => WithBit(Sv48x4Bit, v);
    public Capabilities WithSv57x4(bool v) => WithBit(Sv57x4Bit, v);
    public Capabilities WithAmoMrif(bool v) => WithBit(AmoMrifBit, v);
    public Capabilities WithMsiFlat(bool v) => WithBit(MsiFlatBit, v);
    public Capabilities WithMsiMrif(bool v) => WithBit(MsiMrifBit, v);
    public Capabilities WithAmoHwad(bool v) => WithBit(AmoHwadBit, v);
    public Capabilities WithAts(bool v) => WithBit(AtsBit, v);
    public Capabilities WithT2gpa(bool v) => WithBit(T2gpaBit, v);
    public Capabilities WithEnd(bool v) => WithBit(EndBit, v);
    public Capabilities WithIgs(InterruptGenerationSupport igs) => new((Value & ~IgsMask) | (((ulong)igs << IgsShift) & IgsMask));
    public Capabilities WithHpm(bool v) => WithBit(HpmBit, v);
    public Capabilities WithDbg(bool v) => WithBit(DbgBit, v);
    public Capabilities WithPas(uint pas) => new((Value & ~PasMask) | (((ulong)pas << PasShift) & PasMask));
    public Capabilities WithPd8(bool v) => WithBit(Pd8Bit, v);
    public Capabilities WithPd17(bool v) => WithBit(Pd17Bit, v);
    public Capabilities WithPd20(bool v) => WithBit(Pd20Bit, v);
    public Capabilities WithQosid(bool v) => WithBit(QosidBit, v);
    public Capabilities WithCustom(uint custom) => new((Value & ~CustomMask) | (((ulong)custom << CustomShift) & CustomMask));

    /// <summary>A v1.0 IOMMU with every first-stage and G-stage RV64 mode, Svpbmt, A/D updates, ATS, T2GPA,
    /// MSI interrupts, the debug interface, PD8/17/20 and a 56-bit physical address space; MSI_FLAT off
    /// (base-format device contexts).</summary>
    public static Capabilities FullRv64 => new Capabilities(0)
        .WithVersion(Version1_0).WithSv39(true).WithSv48(true).WithSv57(true).WithSvpbmt(true)
        .WithSv39x4(true).WithSv48x4(true).WithSv57x4(true).WithAmoHwad(true).WithAts(true).WithT2gpa(true)
        .WithIgs(InterruptGenerationSupport.Msi).WithDbg(true).WithPas(56).WithPd8(true).WithPd17(true).WithPd20(true);

    public bool Equals(Capabilities other) => Value == other.Value;
    public override bool Equals(object? obj) => obj is Capabilities other && Equals(other);
    public override int GetHashCode() => Value.GetHashCode();
    public static bool operator ==(Capabilities left, Capabilities right) => left.Equals(right);
    public static bool operator !=(Capabilities left, Capabilities right) => !left.Equals(right);

    private static readonly (int Bit, string Name)[] Flags =
    [
        (Sv32Bit, "Sv32"), (Sv39Bit, "Sv39"), (Sv48Bit, "Sv48"), (Sv57Bit, "Sv57"), (SvpbmtBit, "Svpbmt"),
        (Sv32x4Bit, "Sv32x4"), (Sv39x4Bit, "Sv39x4"), (Sv48x4Bit, "Sv48x4"), (Sv57x4Bit, "Sv57x4"),
        (AmoMrifBit, "AMO_MRIF"), (MsiFlatBit, "MSI_FLAT"), (MsiMrifBit, "MSI_MRIF"), (AmoHwadBit, "AMO_HWAD"),
        (AtsBit, "ATS"), (T2gpaBit, "T2GPA"), (EndBit, "END"), (HpmBit, "HPM"), (DbgBit, "DBG"),
        (Pd8Bit, "PD8"), (Pd17Bit, "PD17"), (Pd20Bit, "PD20"), (QosidBit, "QOSID"),
    ];

    public override string ToString()
    {
        var sb = new StringBuilder($"capabilities 0x{Value:x16} version={Version >> 4}.{Version & 0xF}");
        foreach (var (bit, name) in Flags)
        {
            if (Bit(bit))
            {
                sb.Append(' ').Append(name);
            }
        }

        sb.Append($" IGS={Igs} PAS={Pas}");
        if (Custom != 0)
        {
            sb.Append($" custom=0x{Custom:x}");
        }

        if (HasReservedBitsSet)
        {
            sb.Append($" RESERVED=0x{Reserved:x}");
        }

        return sb.ToString();
    }
}

/// <summary>capabilities.IGS encodings.</summary>
public enum InterruptGenerationSupport : byte
{
    /// <summary>0: message-signaled interrupts only.</summary>
    Msi = 0,
    /// <summary>1: wire-signaled interrupts only.</summary>
    Wsi = 1,
    /// <summary>2: both; fctl.WSI selects.</summary>
    Both = 2,
    /// <summary>3: reserved for standard use.</summary>
    Reserved = 3,
}
