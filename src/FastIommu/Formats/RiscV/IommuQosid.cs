using System.Runtime.InteropServices;

namespace FastIommu.Formats.RiscV;

/// <summary>
/// The IOMMU QoS ID register (<c>iommu_qosid</c>, offset 0x270, 32 bits, present when capabilities.QOSID).
/// IOMMU spec, "IOMMU QoS ID (iommu_qosid)".
/// </summary>
/// <remarks>
/// <code>
///  31    28 27          16 15    12 11           0
/// +--------+--------------+--------+--------------+
/// |  WPRI  |     MCID     |  WPRI  |     RCID     |
/// +--------+--------------+--------+--------------+
///     4           12           4          12
/// </code>
/// </remarks>
[StructLayout(LayoutKind.Sequential, Size = 4)]
public readonly struct IommuQosid : IEquatable<IommuQosid>
{
    public const int RcidShift = 0;
    public const int RcidBits = 12;
    public const int Reserved0Shift = RcidShift + RcidBits; // 12
    public const int Reserved0Bits = 4;
    public const int McidShift = Reserved0Shift + Reserved0Bits; // 16
    public const int McidBits = 12;
    public const int Reserved1Shift = McidShift + McidBits; // 28
    public const int Reserved1Bits = 4;

    public const uint RcidMask = ((1U << RcidBits) - 1) << RcidShift;
    public const uint McidMask = ((1U << McidBits) - 1) << McidShift;
    public const uint ReservedMask = (((1U << Reserved0Bits) - 1) << Reserved0Shift) | (((1U << Reserved1Bits) - 1) << Reserved1Shift);

    public readonly uint Value;

    public IommuQosid(uint value) => Value = value;

    public uint Rcid => (Value & RcidMask) >> RcidShift;
    public uint Mcid => (Value & McidMask) >> McidShift;
    public bool HasReservedBitsSet => (Value & ReservedMask) != 0;

    public IommuQosid WithRcid(uint rcid) => new((Value & ~RcidMask) | ((rcid << RcidShift) & RcidMask));
    public IommuQosid WithMcid(uint mcid) => new((Value & ~McidMask) | ((mcid << McidShift) & McidMask));

    public bool Equals(IommuQosid other) => Value == other.Value;
    public override bool Equals(object? obj) => obj is IommuQosid other && Equals(other);
    public override int GetHashCode() => Value.GetHashCode();
    public static bool operator ==(IommuQosid left, IommuQosid right) => left.Equals(right);
    public static bool operator !=(IommuQosid left, IommuQosid right) => !left.Equals(right);
    public override string ToString() => $"iommu_qosid 0x{Value:x8} rcid=0x{Rcid:x} mcid=0x{Mcid:x}";
}
