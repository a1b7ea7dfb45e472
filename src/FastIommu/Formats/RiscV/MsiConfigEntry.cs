using System.Runtime.InteropServices;

namespace FastIommu.Formats.RiscV;

/// <summary>
/// One entry of the MSI configuration table (<c>msi_cfg_tbl</c>, offset 0x300 + 16 × vector). IOMMU spec,
/// "MSI configuration table (msi_cfg_tbl)".
/// </summary>
/// <remarks>
/// <code>
/// +0x0  msi_addr_x     63:56 reserved | 55:2 ADDR | 1:0 fixed 0
/// +0x8  msi_data_x     31:0 data
/// +0xC  msi_vec_ctl_x  31:1 reserved | 0 M (mask)
/// </code>
/// </remarks>
[StructLayout(LayoutKind.Sequential, Size = 16)]
public readonly struct MsiConfigEntry : IEquatable<MsiConfigEntry>
{
    public const int Size = 16;
    public const int AddrShift = 2;
    public const int AddrBits = 54;
    /// <summary>msi_addr bits 55:2.</summary>
    public const ulong AddrMask = ((1UL << AddrBits) - 1) << AddrShift;
    /// <summary>msi_addr bits 63:56 (bits 1:0 are read-only zero, not reserved).</summary>
    public const ulong AddrReservedMask = 0xFFUL << 56;
    public const uint MaskBit = 1;
    public const uint VecCtlReservedMask = ~MaskBit;

    /// <summary>msi_addr_x.</summary>
    public readonly ulong MsiAddr;
    /// <summary>msi_data_x.</summary>
    public readonly uint MsiData;
    /// <summary>msi_vec_ctl_x.</summary>
    public readonly uint MsiVecCtl;

    public MsiConfigEntry(ulong msiAddr, uint msiData, uint msiVecCtl)
    {
        MsiAddr = msiAddr;
        MsiData = msiData;
        MsiVecCtl = msiVecCtl;
    }

    /// <summary>The 4-byte aligned MSI address (ADDR × 4).</summary>
    public ulong Address => MsiAddr & AddrMask;
    /// <summary>M: the vector is masked.</summary>
    public bool Masked => (MsiVecCtl & MaskBit) != 0;
    public bool HasReservedBitsSet => (MsiAddr & AddrReservedMask) != 0 || (MsiVecCtl & VecCtlReservedMask) != 0;

    public MsiConfigEntry WithAddress(ulong address) => new(address & AddrMask, MsiData, MsiVecCtl);
    public MsiConfigEntry WithData(uint data) => new(MsiAddr, data, MsiVecCtl);
    public MsiConfigEntry WithMasked(bool masked) => new(MsiAddr, MsiData, masked ? MsiVecCtl | MaskBit : MsiVecCtl & ~MaskBit);

    public bool Equals(MsiConfigEntry other) => MsiAddr == other.MsiAddr && MsiData == other.MsiData && MsiVecCtl == other.MsiVecCtl;
    public override bool Equals(object? obj) => obj is MsiConfigEntry other && Equals(other);
    public override int GetHashCode() => HashCode.Combine(MsiAddr, MsiData, MsiVecCtl);
    public static bool operator ==(MsiConfigEntry left, MsiConfigEntry right) => left.Equals(right);
    public static bool operator !=(MsiConfigEntry left, MsiConfigEntry right) => !left.Equals(right);
    public override string ToString() => $"msi addr=0x{Address:x} data=0x{MsiData:x}{(Masked ? " masked" : "")}";
}
