using System.Runtime.InteropServices;
using System.Text;

namespace FastIommu.Formats.RiscV;

/// <summary>
/// The command-queue CSR (<c>cqcsr</c>, offset 0x48, 32 bits). IOMMU spec, "Command-queue CSR (cqcsr)".
/// </summary>
/// <remarks>
/// <code>
///  31    28 27      18  17    16  15    12     11       10      9      8   7      2   1     0
/// +--------+----------+----+----+--------+----------+-------+------+----+--------+-----+------+
/// | custom | reserved |busy|cqon|reserved|fence_w_ip|cmd_ill|cmd_to|cqmf|reserved| cie | cqen |
/// +--------+----------+----+----+--------+----------+-------+------+----+--------+-----+------+
///     4        10       1    1      4         1         1      1     1      6       1     1
/// </code>
/// cqen, cie: RW. cqmf, cmd_to, cmd_ill, fence_w_ip: RW1C. cqon, busy: RO.
/// </remarks>
[StructLayout(LayoutKind.Sequential, Size = 4)]
public readonly struct CqCsr : IEquatable<CqCsr>
{
    public const int CqenBit = 0;
    public const int CieBit = CqenBit + 1;              // 1
    public const int Reserved0Shift = CieBit + 1;       // 2
    public const int Reserved0Bits = 6;
    public const int CqmfBit = Reserved0Shift + Reserved0Bits; // 8
    public const int CmdToBit = CqmfBit + 1;            // 9
    public const int CmdIllBit = CmdToBit + 1;          // 10
    public const int FenceWIpBit = CmdIllBit + 1;       // 11
    public const int Reserved1Shift = FenceWIpBit + 1;  // 12
    public const int Reserved1Bits = 4;
    public const int CqonBit = Reserved1Shift + Reserved1Bits; // 16
    public const int BusyBit = CqonBit + 1;             // 17
    public const int Reserved2Shift = BusyBit + 1;      // 18
    public const int Reserved2Bits = 10;
    public const int CustomShift = Reserved2Shift + Reserved2Bits; // 28
    public const int CustomBits = 4;

    public const uint CqenMask = 1U << CqenBit;
    public const uint CieMask = 1U << CieBit;
    public const uint CqmfMask = 1U << CqmfBit;
    public const uint CmdToMask = 1U << CmdToBit;
    public const uint CmdIllMask = 1U << CmdIllBit;
    public const uint FenceWIpMask = 1U << FenceWIpBit;
    public const uint CqonMask = 1U << CqonBit;
    public const uint BusyMask = 1U << BusyBit;
    public const uint CustomMask = ((1U << CustomBits) - 1) << CustomShift;
    /// <summary>The write-1-to-clear bits.</summary>
    public const uint Rw1cMask = CqmfMask | CmdToMask | CmdIllMask | FenceWIpMask;
    /// <summary>The error bits that stop command processing.</summary>
    public const uint ErrorMask = CqmfMask | CmdToMask | CmdIllMask;
    /// <summary>Bits 7:2, 15:12 and 27:18.</summary>
    public const uint ReservedMask = (((1U << Reserved0Bits) - 1) << Reserved0Shift) | (((1U << Reserved1Bits) - 1) << Reserved1Shift) | (((1U << Reserved2Bits) - 1) << Reserved2Shift);

    public readonly uint Value;

    public CqCsr(uint value) => Value = value;

    /// <summary>cqen: command queue enabled.</summary>
    public bool Cqen => (Value & CqenMask) != 0;
    /// <summary>cie: command-queue interrupt enable.</summary>
    public bool Cie => (Value & CieMask) != 0;
    /// <summary>cqmf: command-queue memory fault.</summary>
    public bool Cqmf => (Value & CqmfMask) != 0;
    /// <summary>cmd_to: command timeout.</summary>
    public bool CmdTo => (Value & CmdToMask) != 0;
    /// <summary>cmd_ill: illegal or unsupported command.</summary>
    public bool CmdIll => (Value & CmdIllMask) != 0;
    /// <summary>fence_w_ip: an IOFENCE.C with WSI completed.</summary>
    public bool FenceWIp => (Value & FenceWIpMask) != 0;
    /// <summary>cqon: the queue is active.</summary>
    public bool Cqon => (Value & CqonMask) != 0;
    public bool Busy => (Value & BusyMask) != 0;
    public uint Custom => (Value & CustomMask) >> CustomShift;

    public uint Reserved => Value & ReservedMask;
    public bool HasReservedBitsSet => (Value & ReservedMask) != 0;

    private CqCsr With(uint mask, bool on) => new(on ? Value | mask : Value & ~mask);
    public CqCsr WithCqen(bool v) => With(CqenMask, v);
    public CqCsr WithCie(bool v) => With(CieMask, v);
    public CqCsr WithCqmf(bool v) => With(CqmfMask, v);
    public CqCsr WithCmdTo(bool v) => With(CmdToMask, v);
    public CqCsr WithCmdIll(bool v) => With(CmdIllMask, v);
    public CqCsr WithFenceWIp(bool v) => With(FenceWIpMask, v);
    public CqCsr WithCqon(bool v) => With(CqonMask, v);
    public CqCsr WithBusy(bool v) => With(BusyMask, v);
    public CqCsr WithCustom(uint custom) => new((Value & ~CustomMask) | ((custom << CustomShift) & CustomMask));

    public bool Equals(CqCsr other) => Value == other.Value;
    public override bool Equals(object? obj) => obj is CqCsr other && Equals(other);
    public override int GetHashCode() => Value.GetHashCode();
    public static bool operator ==(CqCsr left, CqCsr right) => left.Equals(right);
    public static bool operator !=(CqCsr left, CqCsr right) => !left.Equals(right);

    private static readonly (uint Mask, string Name)[] Flags =
    [
        (CqenMask, "cqen"), (CieMask, "cie"), (CqmfMask, "cqmf"), (CmdToMask, "cmd_to"), (CmdIllMask, "cmd_ill"),
        (FenceWIpMask, "fence_w_ip"), (CqonMask, "cqon"), (BusyMask, "busy"),
    ];

    public override string ToString()
    {
        var sb = new StringBuilder($"cqcsr 0x{Value:x8}");
        foreach (var (mask, name) in Flags)
        {
            if ((Value & mask) != 0)
            {
                sb.Append(' ').Append(name);
            }
        }

        return HasReservedBitsSet ? sb.Append($" RESERVED=0x{Reserved:x}").ToString() : sb.ToString();
    }
}
