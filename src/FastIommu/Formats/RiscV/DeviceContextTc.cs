using System.Runtime.InteropServices;
using System.Text;

namespace FastIommu.Formats.RiscV;

/// <summary>
/// Translation control (<c>DC.tc</c>, device-context doubleword 0). IOMMU spec, "Translation control (tc)".
/// </summary>
/// <remarks>
/// <code>
///  63                32 31     24 23        12 11  10  9   8    7    6    5    4     3      2      1    0
/// +--------------------+---------+------------+---+---+---+----+----+----+----+---+-----+------+------+---+
/// |      reserved      | custom  |  reserved  |SXL|SBE|DPE|SADE|GADE|PRPR|PDTV|DTF|T2GPA|EN_PRI|EN_ATS| V |
/// +--------------------+---------+------------+---+---+---+----+----+----+----+---+-----+------+------+---+
///          32              8          12        1   1   1   1    1    1    1    1    1      1      1    1
/// </code>
/// Bits 31:24 are designated for custom use (not reserved); 23:12 and 63:32 are reserved
/// (a set reserved bit in a valid DC is "DDT entry misconfigured", cause 259).
/// </remarks>
[StructLayout(LayoutKind.Sequential, Size = 8)]
public readonly struct DeviceContextTc : IEquatable<DeviceContextTc>
{
    public const int VBit = 0;
    public const int EnAtsBit = VBit + 1;      // 1
    public const int EnPriBit = EnAtsBit + 1;  // 2
    public const int T2gpaBit = EnPriBit + 1;  // 3
    public const int DtfBit = T2gpaBit + 1;    // 4
    public const int PdtvBit = DtfBit + 1;     // 5
    public const int PrprBit = PdtvBit + 1;    // 6
    public const int GadeBit = PrprBit + 1;    // 7
    public const int SadeBit = GadeBit + 1;    // 8
    public const int DpeBit = SadeBit + 1;     // 9
    public const int SbeBit = DpeBit + 1;      // 10
    public const int SxlBit = SbeBit + 1;      // 11
    public const int Reserved0Shift = SxlBit + 1;               // 12
    public const int Reserved0Bits = 12;
    public const int CustomShift = Reserved0Shift + Reserved0Bits; // 24
    public const int CustomBits = 8;
    public const int Reserved1Shift = CustomShift + CustomBits;  // 32
    public const int Reserved1Bits = 32;

    public const ulong V = 1UL << VBit;
    public const ulong EnAtsMask = 1UL << EnAtsBit;
    public const ulong EnPriMask = 1UL << EnPriBit;
    public const ulong T2gpaMask = 1UL << T2gpaBit;
    public const ulong DtfMask = 1UL << DtfBit;
    public const ulong PdtvMask = 1UL << PdtvBit;
    public const ulong PrprMask = 1UL << PrprBit;
    public const ulong GadeMask = 1UL << GadeBit;
    public const ulong SadeMask = 1UL << SadeBit;
    public const ulong DpeMask = 1UL << DpeBit;
    public const ulong SbeMask = 1UL << SbeBit;
    public const ulong SxlMask = 1UL << SxlBit;
    public const ulong CustomMask = ((1UL << CustomBits) - 1) << CustomShift;
    /// <summary>Bits 23:12 and 63:32.</summary>
    public const ulong ReservedMask = (((1UL << Reserved0Bits) - 1) << Reserved0Shift) | unchecked(((1UL << Reserved1Bits) - 1) << Reserved1Shift);

    /// <summary>The raw 64-bit field.</summary>
    public readonly ulong Value;

    public DeviceContextTc(ulong value) => Value = value;

    public static DeviceContextTc Default => default;

    /// <summary>V: the DC is valid. When 0 every other bit of the DC is don't-care.</summary>
    public bool Valid => (Value & V) != 0;
    /// <summary>EN_ATS: accept translated requests and PCIe ATS translation requests.</summary>
    public bool EnAts => (Value & EnAtsMask) != 0;
    /// <summary>EN_PRI: accept PCIe "Page Request" messages.</summary>
    public bool EnPri => (Value & EnPriMask) != 0;
    /// <summary>T2GPA: ATS completions return a GPA; translated requests are translated by the G-stage.</summary>
    public bool T2gpa => (Value & T2gpaMask) != 0;
    /// <summary>DTF: disable reporting of translation faults.</summary>
    public bool Dtf => (Value & DtfMask) != 0;
    /// <summary>PDTV: fsc holds a pdtp (else an iosatp).</summary>
    public bool Pdtv => (Value & PdtvMask) != 0;
    /// <summary>PRPR: IOMMU-generated PRG responses carry the PASID.</summary>
    public bool Prpr => (Value & PrprMask) != 0;
    /// <summary>GADE: hardware updates A/D bits of G-stage PTEs.</summary>
    public bool Gade => (Value & GadeMask) != 0;
    /// <summary>SADE: hardware updates A/D bits of first-stage PTEs.</summary>
    public bool Sade => (Value & SadeMask) != 0;
    /// <summary>DPE: process_id 0 is the default for requests without one (PDTV = 1 only).</summary>
    public bool Dpe => (Value & DpeMask) != 0;
    /// <summary>SBE: PDT and first-stage PTE accesses are big-endian.</summary>
    public bool Sbe => (Value & SbeMask) != 0;
    /// <summary>SXL: first stage uses the RV32 schemes (Sv32).</summary>
    public bool Sxl => (Value & SxlMask) != 0;
    /// <summary>custom, bits 31:24.</summary>
    public uint Custom => (uint)((Value & CustomMask) >> CustomShift);

    public ulong Reserved => Value & ReservedMask;
    public bool HasReservedBitsSet => (Value & ReservedMask) != 0;

    private DeviceContextTc With(ulong bit, bool on) => new(on ? Value | bit : Value & ~bit);
    public DeviceContextTc WithV(bool v) => With(V, v);
    public DeviceContextTc WithEnAts(bool v) => With(EnAtsMask, v);
    public DeviceContextTc WithEnPri(bool v) => With(EnPriMask, v);
    public DeviceContextTc WithT2gpa(bool v) => With(T2gpaMask, v);
    public DeviceContextTc WithDtf(bool v) => With(DtfMask, v);
    public DeviceContextTc WithPdtv(bool v) => With(PdtvMask, v);
    public DeviceContextTc WithPrpr(bool v) => With(PrprMask, v);
    public DeviceContextTc WithGade(bool v) => With(GadeMask, v);
    public DeviceContextTc WithSade(bool v) => With(SadeMask, v);
    public DeviceContextTc WithDpe(bool v) => With(DpeMask, v);
    public DeviceContextTc WithSbe(bool v) => With(SbeMask, v);
    public DeviceContextTc WithSxl(bool v) => With(SxlMask, v);
    public DeviceContextTc WithCustom(uint custom) => new((Value & ~CustomMask) | (((ulong)custom << CustomShift) & CustomMask));

    public bool Equals(DeviceContextTc other) => Value == other.Value;
    public override bool Equals(object? obj) => obj is DeviceContextTc other && Equals(other);
    public override int GetHashCode() => Value.GetHashCode();
    public static bool operator ==(DeviceContextTc left, DeviceContextTc right) => left.Equals(right);
    public static bool operator !=(DeviceContextTc left, DeviceContextTc right) => !left.Equals(right);

    private static readonly string[] Names = ["V", "EN_ATS", "EN_PRI", "T2GPA", "DTF", "PDTV", "PRPR", "GADE", "SADE", "DPE", "SBE", "SXL"];

    public override string ToString()
    {
        var sb = new StringBuilder($"tc 0x{Value:x16}");
        for (int i = 0; i < Names.Length; i++)
        {
            if ((Value & (1UL << i)) != 0)
            {
                sb.Append(' ').Append(Names[i]);
            }
        }

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
