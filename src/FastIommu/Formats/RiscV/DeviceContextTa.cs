using System.Runtime.InteropServices;

namespace FastIommu.Formats.RiscV;

/// <summary>
/// Translation attributes (<c>DC.ta</c>, device-context doubleword 2). IOMMU spec, section DC_TA.
/// </summary>
/// <remarks>
/// <code>
///  63        52 51        40 39      32 31                     12 11         0
/// +------------+------------+----------+-------------------------+------------+
/// |    MCID    |    RCID    | reserved |          PSCID          |  reserved  |
/// +------------+------------+----------+-------------------------+------------+
///       12           12          8                20                   12
/// </code>
/// RCID and MCID come from the QoS ID extension: reserved (must be 0) when capabilities.QOSID = 0.
/// <see cref="ReservedMask"/> covers the always-reserved bits; <see cref="QosIdMask"/> the QoS ID bits.
/// </remarks>
[StructLayout(LayoutKind.Sequential, Size = 8)]
public readonly struct DeviceContextTa : IEquatable<DeviceContextTa>
{
    public const int Reserved0Shift = 0;
    public const int Reserved0Bits = 12;
    public const int PscidShift = Reserved0Shift + Reserved0Bits;  // 12
    public const int PscidBits = 20;
    public const int Reserved1Shift = PscidShift + PscidBits;      // 32
    public const int Reserved1Bits = 8;
    public const int RcidShift = Reserved1Shift + Reserved1Bits;   // 40
    public const int RcidBits = 12;
    public const int McidShift = RcidShift + RcidBits;             // 52
    public const int McidBits = 12;

    public const ulong PscidMask = ((1UL << PscidBits) - 1) << PscidShift;
    public const ulong RcidMask = ((1UL << RcidBits) - 1) << RcidShift;
    public const ulong McidMask = ((1UL << McidBits) - 1) << McidShift;
    public const ulong QosIdMask = RcidMask | McidMask;
    /// <summary>Bits 11:0 and 39:32.</summary>
    public const ulong ReservedMask = (((1UL << Reserved0Bits) - 1) << Reserved0Shift) | (((1UL << Reserved1Bits) - 1) << Reserved1Shift);

    /// <summary>The raw 64-bit field.</summary>
    public readonly ulong Value;

    public DeviceContextTa(ulong value) => Value = value;

    public static DeviceContextTa Default => default;

    /// <summary>PSCID, bits 31:12: address-space ID when PDTV = 0 and iosatp.MODE is not Bare.</summary>
    public uint Pscid => (uint)((Value & PscidMask) >> PscidShift);
    /// <summary>RCID, bits 51:40 (QoS ID extension).</summary>
    public uint Rcid => (uint)((Value & RcidMask) >> RcidShift);
    /// <summary>MCID, bits 63:52 (QoS ID extension).</summary>
    public uint Mcid => (uint)((Value & McidMask) >> McidShift);

    public ulong Reserved => Value & ReservedMask;

    /// <summary>Reserved bits are set; with <paramref name="qosid"/> false (capabilities.QOSID = 0)
    /// RCID and MCID count as reserved too.</summary>
    public bool HasReservedBitsSet(bool qosid = false) => (Value & (qosid ? ReservedMask : ReservedMask | QosIdMask)) != 0;

    public DeviceContextTa WithPscid(uint pscid) => new((Value & ~PscidMask) | (((ulong)pscid << PscidShift) & PscidMask));
    public DeviceContextTa WithRcid(uint rcid) => new((Value & ~RcidMask) | (((ulong)rcid << RcidShift) & RcidMask));
    public DeviceContextTa WithMcid(uint mcid) => new((Value & ~McidMask) | (((ulong)mcid << McidShift) & McidMask));

    public bool Equals(DeviceContextTa other) => Value == other.Value;
    public override bool Equals(object? obj) => obj is DeviceContextTa other && Equals(other);
    public override int GetHashCode() => Value.GetHashCode();
    public static bool operator ==(DeviceContextTa left, DeviceContextTa right) => left.Equals(right);
    public static bool operator !=(DeviceContextTa left, DeviceContextTa right) => !left.Equals(right);

    public override string ToString() =>
        $"ta 0x{Value:x16} pscid=0x{Pscid:x}{((Value & QosIdMask) != 0 ? $" rcid=0x{Rcid:x} mcid=0x{Mcid:x}" : "")}{((Value & ReservedMask) != 0 ? $" RESERVED=0x{Reserved:x}" : "")}";
}
