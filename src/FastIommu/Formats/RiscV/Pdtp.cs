using System.Runtime.InteropServices;

namespace FastIommu.Formats.RiscV;

/// <summary>
/// The process-directory-table pointer (<c>pdtp</c>): <c>DC.fsc</c> when <c>DC.tc.PDTV</c> = 1.
/// IOMMU spec, "First-Stage context (fsc)", figure "Process-directory table pointer (pdtp) field".
/// </summary>
/// <remarks>
/// <code>
///  63    60 59                 44 43                                          0
/// +--------+---------------------+---------------------------------------------+
/// |  MODE  |      reserved       |                    PPN                      |
/// +--------+---------------------+---------------------------------------------+
///     4             16                                 44
/// </code>
/// MODE: 0 Bare, 1 PD8, 2 PD17, 3 PD20, 4-13 reserved, 14-15 custom. Under a G-stage the PPN is a guest PPN.
/// </remarks>
[StructLayout(LayoutKind.Sequential, Size = 8)]
public readonly struct Pdtp : IEquatable<Pdtp>
{
    public const int PpnShift = 0;
    public const int PpnBits = 44;
    public const int ReservedShift = PpnShift + PpnBits;   // 44
    public const int ReservedBits = 16;
    public const int ModeShift = ReservedShift + ReservedBits; // 60
    public const int ModeBits = 4;

    public const ulong PpnMask = ((1UL << PpnBits) - 1) << PpnShift;
    public const ulong ReservedMask = ((1UL << ReservedBits) - 1) << ReservedShift;
    public const ulong ModeMask = ((1UL << ModeBits) - 1) << ModeShift;

    /// <summary>The raw 64-bit field.</summary>
    public readonly ulong Value;

    public Pdtp(ulong value) => Value = value;

    public static Pdtp Default => default;

    /// <summary>A pdtp in <paramref name="mode"/> whose root PDT page is at <paramref name="rootAddress"/>.</summary>
    public static Pdtp Create(PdtpMode mode, ulong rootAddress) => default(Pdtp).WithMode(mode).WithPpn(rootAddress >> 12);

    /// <summary>PPN, bits 43:0: page number of the root PDT (a guest PPN under a G-stage).</summary>
    public ulong Ppn => (Value & PpnMask) >> PpnShift;

    /// <summary>MODE, bits 63:60 (raw encoding, which may be reserved or custom).</summary>
    public PdtpMode Mode => (PdtpMode)((Value & ModeMask) >> ModeShift);

    public ulong RootAddress => Ppn << 12;

    /// <summary>PDT levels: 1 (PD8), 2 (PD17), 3 (PD20); 0 for Bare, reserved and custom.</summary>
    public int Levels => Mode switch
    {
        PdtpMode.PD8 => 1,
        PdtpMode.PD17 => 2,
        PdtpMode.PD20 => 3,
        _ => 0,
    };

    /// <summary>Width of process_id the mode accepts: 8, 17 or 20 (0 for Bare, reserved and custom).</summary>
    public int ProcessIdBits => Mode switch
    {
        PdtpMode.PD8 => 8,
        PdtpMode.PD17 => 17,
        PdtpMode.PD20 => 20,
        _ => 0,
    };

    /// <summary>MODE is 4-13 (reserved for standard use).</summary>
    public bool IsModeReserved => (byte)Mode is >= 4 and <= 13;

    /// <summary>MODE is 14-15 (designated for custom use).</summary>
    public bool IsModeCustom => (byte)Mode >= 14;

    public ulong Reserved => Value & ReservedMask;
    public bool HasReservedBitsSet => (Value & ReservedMask) != 0;

    public Pdtp WithPpn(ulong ppn) => new((Value & ~PpnMask) | ((ppn << PpnShift) & PpnMask));
    public Pdtp WithMode(PdtpMode mode) => new((Value & ~ModeMask) | (((ulong)mode << ModeShift) & ModeMask));

    public bool Equals(Pdtp other) => Value == other.Value;
    public override bool Equals(object? obj) => obj is Pdtp other && Equals(other);
    public override int GetHashCode() => Value.GetHashCode();
    public static bool operator ==(Pdtp left, Pdtp right) => left.Equals(right);
    public static bool operator !=(Pdtp left, Pdtp right) => !left.Equals(right);

    public override string ToString() =>
        $"pdtp 0x{Value:x16} mode={Mode} ppn=0x{Ppn:x}{(HasReservedBitsSet ? $" RESERVED=0x{Reserved:x}" : "")}";
}

/// <summary>pdtp.MODE encodings (IOMMU spec, table PDTP_MODE_ENC).</summary>
public enum PdtpMode : byte
{
    /// <summary>0: no first-stage translation or protection.</summary>
    Bare = 0,
    /// <summary>1: 8-bit process_id, one level of 256 PCs; process_id bits 19:8 must be 0.</summary>
    PD8 = 1,
    /// <summary>2: 17-bit process_id, two levels; process_id bits 19:17 must be 0.</summary>
    PD17 = 2,
    /// <summary>3: 20-bit process_id, three levels (root has 8 entries).</summary>
    PD20 = 3,
}
