using System.Runtime.InteropServices;

namespace FastIommu.Formats.RiscV;

/// <summary>
/// A page-request-queue record: 16 bytes. IOMMU spec, "Page-Request-Queue (PQ)", figures "Page-request-queue
/// record" and "PAYLOAD of a Page request message".
/// </summary>
/// <remarks>
/// <code>
/// dword0  63         40 39      35   34     33    32  31             12 11          0
///        +-------------+----------+------+------+----+-----------------+-------------+
///        |     DID     | reserved | EXEC | PRIV | PV |       PID       |  reserved   |
///        +-------------+----------+------+------+----+-----------------+-------------+
///              24            5        1      1     1          20               12
/// dword1  63                                   12 11                     3   2   1   0
///  (PAYLOAD)                                                                         
///        +---------------------------------------+------------------------+---+---+---+
///        |          Page Address[63:12]          | Page Request Group Idx | L | W | R |
///        +---------------------------------------+------------------------+---+---+---+
///                          52                               9               1   1   1
/// </code>
/// R = W = 0 with L = 1 is a "Stop Marker".
/// </remarks>
[StructLayout(LayoutKind.Sequential, Size = 16)]
public readonly struct PageRequest : IEquatable<PageRequest>
{
    public const int Size = 16;

    public const int Reserved0Shift = 0;
    public const int Reserved0Bits = 12;
    public const int PidShift = Reserved0Shift + Reserved0Bits; // 12
    public const int PidBits = 20;
    public const int PvBit = PidShift + PidBits;   // 32
    public const int PrivBit = PvBit + 1;          // 33
    public const int ExecBit = PrivBit + 1;        // 34
    public const int Reserved1Shift = ExecBit + 1; // 35
    public const int Reserved1Bits = 5;
    public const int DidShift = Reserved1Shift + Reserved1Bits; // 40
    public const int DidBits = 24;

    public const int RBit = 0;
    public const int WBit = RBit + 1;              // 1
    public const int LBit = WBit + 1;              // 2
    public const int PrgIndexShift = LBit + 1;     // 3
    public const int PrgIndexBits = 9;
    public const int PageAddressShift = PrgIndexShift + PrgIndexBits; // 12

    public const ulong PidMask = ((1UL << PidBits) - 1) << PidShift;
    public const ulong PvMask = 1UL << PvBit;
    public const ulong PrivMask = 1UL << PrivBit;
    public const ulong ExecMask = 1UL << ExecBit;
    public const ulong DidMask = ((1UL << DidBits) - 1) << DidShift;
    /// <summary>dword0 bits 11:0 and 39:35.</summary>
    public const ulong ReservedMask = (((1UL << Reserved0Bits) - 1) << Reserved0Shift) | (((1UL << Reserved1Bits) - 1) << Reserved1Shift);
    public const ulong RMask = 1UL << RBit;
    public const ulong WMask = 1UL << WBit;
    public const ulong LMask = 1UL << LBit;
    public const ulong PrgIndexMask = ((1UL << PrgIndexBits) - 1) << PrgIndexShift;
    public const ulong PageAddressMask = ~0UL << PageAddressShift;

    public readonly ulong Dword0;
    /// <summary>PAYLOAD: bytes 0x08-0x0F of the "Page Request" message.</summary>
    public readonly ulong Payload;

    public PageRequest(ulong dword0, ulong payload)
    {
        Dword0 = dword0;
        Payload = payload;
    }

    /// <summary>A record as the IOMMU writes it; PRIV and EXEC are dropped without a PASID (<paramref name="pv"/> false).</summary>
    public static PageRequest Create(uint did, bool pv, uint pid, bool priv, bool exec, ulong pageAddress, uint prgIndex, bool r, bool w, bool l)
    {
        ulong d0 = ((ulong)did << DidShift) & DidMask;
        if (pv)
        {
            d0 |= PvMask | (((ulong)pid << PidShift) & PidMask) | (priv ? PrivMask : 0) | (exec ? ExecMask : 0);
        }

        ulong payload = (pageAddress & PageAddressMask) | (((ulong)prgIndex << PrgIndexShift) & PrgIndexMask)
            | (r ? RMask : 0) | (w ? WMask : 0) | (l ? LMask : 0);
        return new PageRequest(d0, payload);
    }

    public uint Pid => (uint)((Dword0 & PidMask) >> PidShift);
    public bool Pv => (Dword0 & PvMask) != 0;
    public bool Priv => (Dword0 & PrivMask) != 0;
    public bool Exec => (Dword0 & ExecMask) != 0;
    public uint Did => (uint)((Dword0 & DidMask) >> DidShift);
    public bool R => (Payload & RMask) != 0;
    public bool W => (Payload & WMask) != 0;
    /// <summary>L: last request in the page request group.</summary>
    public bool L => (Payload & LMask) != 0;
    public uint PrgIndex => (uint)((Payload & PrgIndexMask) >> PrgIndexShift);
    public ulong PageAddress => Payload & PageAddressMask;
    /// <summary>R = W = 0, L = 1: a "Stop Marker" message.</summary>
    public bool IsStopMarker => (Payload & (RMask | WMask | LMask)) == LMask;
    public bool HasReservedBitsSet => (Dword0 & ReservedMask) != 0;

    public bool Equals(PageRequest other) => Dword0 == other.Dword0 && Payload == other.Payload;
    public override bool Equals(object? obj) => obj is PageRequest other && Equals(other);
    public override int GetHashCode() => HashCode.Combine(Dword0, Payload);
    public static bool operator ==(PageRequest left, PageRequest right) => left.Equals(right);
    public static bool operator !=(PageRequest left, PageRequest right) => !left.Equals(right);
    public override string ToString() =>
        $"page request did=0x{Did:x}{(Pv ? $" pid=0x{Pid:x}" : "")}{(Priv ? " priv" : "")}{(Exec ? " exec" : "")} addr=0x{PageAddress:x} prgi=0x{PrgIndex:x} {(R ? "R" : "-")}{(W ? "W" : "-")}{(L ? "L" : "-")}{(IsStopMarker ? " (stop marker)" : "")}";
}
