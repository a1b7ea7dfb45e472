using System.Runtime.InteropServices;

namespace FastIommu.Formats.RiscV;

/// <summary>
/// A fault-queue record: 32 bytes, four 64-bit doublewords. IOMMU spec, "Fault/Event-Queue (FQ)", figure
/// "Fault-queue record".
/// </summary>
/// <remarks>
/// <code>
/// dword0   63         40 39    34   33    32  31            12 11         0
///         +-------------+--------+------+----+----------------+------------+
///         |     DID     |  TTYP  | PRIV | PV |      PID       |   CAUSE    |
///         +-------------+--------+------+----+----------------+------------+
///               24          6       1     1          20             12
/// dword1   63 reserved 32 | 31 for custom use 0
/// dword2   iotval
/// dword3   iotval2   (guest-page faults: 63:2 = GPA[63:2], bit 1 implicit access was a write,
///                     bit 0 fault came from an implicit access for first-stage translation)
/// </code>
/// DID, PV, PID and PRIV are 0 when TTYP is 0; PID and PRIV are 0 when PV is 0.
/// </remarks>
[StructLayout(LayoutKind.Sequential, Size = 32)]
public readonly struct FaultRecord : IEquatable<FaultRecord>
{
    public const int Size = 32;
    public const int Dword0Offset = 0;
    public const int Dword1Offset = Dword0Offset + 8;  // 8
    public const int IotvalOffset = Dword1Offset + 8;  // 16
    public const int Iotval2Offset = IotvalOffset + 8; // 24

    public const int CauseShift = 0;
    public const int CauseBits = 12;
    public const int PidShift = CauseShift + CauseBits; // 12
    public const int PidBits = 20;
    public const int PvBit = PidShift + PidBits;        // 32
    public const int PrivBit = PvBit + 1;               // 33
    public const int TtypShift = PrivBit + 1;           // 34
    public const int TtypBits = 6;
    public const int DidShift = TtypShift + TtypBits;   // 40
    public const int DidBits = 24;

    public const int CustomShift = 0;                   // dword1
    public const int CustomBits = 32;
    public const int ReservedShift = CustomShift + CustomBits; // dword1 bit 32
    public const int ReservedBits = 32;

    public const ulong CauseMask = ((1UL << CauseBits) - 1) << CauseShift;
    public const ulong PidMask = ((1UL << PidBits) - 1) << PidShift;
    public const ulong PvMask = 1UL << PvBit;
    public const ulong PrivMask = 1UL << PrivBit;
    public const ulong TtypMask = ((1UL << TtypBits) - 1) << TtypShift;
    public const ulong DidMask = ((1UL << DidBits) - 1) << DidShift;
    public const ulong CustomMask = ((1UL << CustomBits) - 1) << CustomShift;
    /// <summary>dword1 bits 63:32.</summary>
    public const ulong ReservedMask = unchecked(((1UL << ReservedBits) - 1) << ReservedShift);

    /// <summary>iotval2 bit 0: the guest-page fault came from an implicit access for first-stage translation.</summary>
    public const ulong Iotval2ImplicitMask = 1UL << 0;
    /// <summary>iotval2 bit 1: that implicit access was a write (A/D update).</summary>
    public const ulong Iotval2ImplicitWriteMask = 1UL << 1;
    /// <summary>iotval2 bits 63:2: GPA bits 63:2.</summary>
    public const ulong Iotval2GpaMask = ~3UL;

    /// <summary>CAUSE, PID, PV, PRIV, TTYP, DID.</summary>
    public readonly ulong Dword0;
    /// <summary>31:0 for custom use, 63:32 reserved.</summary>
    public readonly ulong Dword1;
    public readonly ulong Iotval;
    public readonly ulong Iotval2;

    public FaultRecord(ulong dword0, ulong dword1, ulong iotval, ulong iotval2)
    {
        Dword0 = dword0;
        Dword1 = dword1;
        Iotval = iotval;
        Iotval2 = iotval2;
    }

    /// <summary>A record with every field masked to its width. Following the spec, PID and PRIV are dropped
    /// when <paramref name="pv"/> is false, and DID, PV, PID, PRIV when <paramref name="ttyp"/> is None.</summary>
    public static FaultRecord Create(FaultCause cause, TransactionType ttyp, uint did, bool pv, uint pid, bool priv,
        ulong iotval, ulong iotval2)
    {
        ulong d0 = (((ulong)cause << CauseShift) & CauseMask) | (((ulong)ttyp << TtypShift) & TtypMask);
        if (ttyp != TransactionType.None)
        {
            d0 |= ((ulong)did << DidShift) & DidMask;
            if (pv)
            {
                d0 |= PvMask | (((ulong)pid << PidShift) & PidMask) | (priv ? PrivMask : 0);
            }
        }

        return new FaultRecord(d0, 0, iotval, iotval2);
    }

    /// <summary>The iotval2 of a guest-page fault at <paramref name="gpa"/>: GPA[63:2], plus bit 0 when it
    /// was an implicit access for first-stage translation and bit 1 when that access was a write.</summary>
    public static ulong GuestPageFaultIotval2(ulong gpa, bool implicitFirstStage, bool implicitWrite) =>
        (gpa & Iotval2GpaMask) | (implicitFirstStage ? Iotval2ImplicitMask : 0)
        | (implicitFirstStage && implicitWrite ? Iotval2ImplicitWriteMask : 0);

    /// <summary>CAUSE, dword0 11:0.</summary>
    public FaultCause Cause => (FaultCause)((Dword0 & CauseMask) >> CauseShift);
    /// <summary>PID, dword0 31:12.</summary>
    public uint Pid => (uint)((Dword0 & PidMask) >> PidShift);
    /// <summary>PV, dword0 bit 32.</summary>
    public bool Pv => (Dword0 & PvMask) != 0;
    /// <summary>PRIV, dword0 bit 33: the transaction had supervisor privilege.</summary>
    public bool Priv => (Dword0 & PrivMask) != 0;
    /// <summary>TTYP, dword0 39:34.</summary>
    public TransactionType Ttyp => (TransactionType)((Dword0 & TtypMask) >> TtypShift);
    /// <summary>DID, dword0 63:40.</summary>
    public uint Did => (uint)((Dword0 & DidMask) >> DidShift);
    /// <summary>dword1 31:0, for custom use.</summary>
    public uint Custom => (uint)(Dword1 & CustomMask);

    /// <summary>Guest-page faults: GPA bits 63:2 from iotval2.</summary>
    public ulong Iotval2Gpa => Iotval2 & Iotval2GpaMask;
    /// <summary>Guest-page faults: iotval2 bit 0.</summary>
    public bool Iotval2Implicit => (Iotval2 & Iotval2ImplicitMask) != 0;
    /// <summary>Guest-page faults: iotval2 bit 1.</summary>
    public bool Iotval2ImplicitWrite => (Iotval2 & Iotval2ImplicitWriteMask) != 0;

    public bool HasReservedBitsSet => (Dword1 & ReservedMask) != 0;

    public FaultRecord WithCause(FaultCause cause) => new((Dword0 & ~CauseMask) | (((ulong)cause << CauseShift) & CauseMask), Dword1, Iotval, Iotval2);
    public FaultRecord WithPid(uint pid) => new((Dword0 & ~PidMask) | (((ulong)pid << PidShift) & PidMask), Dword1, Iotval, Iotval2);
    public FaultRecord WithPv(bool pv) => new(pv ? Dword0 | PvMask : Dword0 & ~PvMask, Dword1, Iotval, Iotval2);
    public FaultRecord WithPriv(bool priv) => new(priv ? Dword0 | PrivMask : Dword0 & ~PrivMask, Dword1, Iotval, Iotval2);
    public FaultRecord WithTtyp(TransactionType ttyp) => new((Dword0 & ~TtypMask) | (((ulong)ttyp << TtypShift) & TtypMask), Dword1, Iotval, Iotval2);
    public FaultRecord WithDid(uint did) => new((Dword0 & ~DidMask) | (((ulong)did << DidShift) & DidMask), Dword1, Iotval, Iotval2);
    public FaultRecord WithCustom(uint custom) => new(Dword0, (Dword1 & ~CustomMask) | custom, Iotval, Iotval2);
    public FaultRecord WithIotval(ulong iotval) => new(Dword0, Dword1, iotval, Iotval2);
    public FaultRecord WithIotval2(ulong iotval2) => new(Dword0, Dword1, Iotval, iotval2);

    public bool Equals(FaultRecord other) =>
        Dword0 == other.Dword0 && Dword1 == other.Dword1 && Iotval == other.Iotval && Iotval2 == other.Iotval2;
    public override bool Equals(object? obj) => obj is FaultRecord other && Equals(other);
    public override int GetHashCode() => HashCode.Combine(Dword0, Dword1, Iotval, Iotval2);
    public static bool operator ==(FaultRecord left, FaultRecord right) => left.Equals(right);
    public static bool operator !=(FaultRecord left, FaultRecord right) => !left.Equals(right);

    public override string ToString() =>
        $"fault cause={(ushort)Cause}({Cause}) ttyp={(byte)Ttyp}({Ttyp}) did=0x{Did:x}{(Pv ? $" pid=0x{Pid:x}" : "")}{(Priv ? " priv" : "")} iotval=0x{Iotval:x} iotval2=0x{Iotval2:x}";
}
