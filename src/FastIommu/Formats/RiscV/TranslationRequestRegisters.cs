using System.Runtime.InteropServices;

namespace FastIommu.Formats.RiscV;

/// <summary>
/// Translation-request IOVA register (<c>tr_req_iova</c>, offset 0x258, present when capabilities.DBG).
/// IOMMU spec, "Translation-request IOVA (tr_req_iova)".
/// </summary>
/// <remarks>
/// <code>
///  63                                                       12 11          0
/// +-----------------------------------------------------------+-------------+
/// |                            vpn                            |  reserved   |
/// +-----------------------------------------------------------+-------------+
///                               52                                  12
/// </code>
/// </remarks>
[StructLayout(LayoutKind.Sequential, Size = 8)]
public readonly struct TrReqIova : IEquatable<TrReqIova>
{
    public const int ReservedShift = 0;
    public const int ReservedBits = 12;
    public const int VpnShift = ReservedShift + ReservedBits; // 12
    public const int VpnBits = 52;
    public const ulong ReservedMask = (1UL << ReservedBits) - 1;
    public const ulong VpnMask = ~ReservedMask;

    public readonly ulong Value;

    public TrReqIova(ulong value) => Value = value;

    /// <summary>vpn, bits 63:12.</summary>
    public ulong Vpn => Value >> VpnShift;
    /// <summary>The IOVA the register names: vpn &lt;&lt; 12.</summary>
    public ulong Iova => Value & VpnMask;
    public bool HasReservedBitsSet => (Value & ReservedMask) != 0;

    public TrReqIova WithVpn(ulong vpn) => new((Value & ~VpnMask) | ((vpn << VpnShift) & VpnMask));

    public bool Equals(TrReqIova other) => Value == other.Value;
    public override bool Equals(object? obj) => obj is TrReqIova other && Equals(other);
    public override int GetHashCode() => Value.GetHashCode();
    public static bool operator ==(TrReqIova left, TrReqIova right) => left.Equals(right);
    public static bool operator !=(TrReqIova left, TrReqIova right) => !left.Equals(right);
    public override string ToString() => $"tr_req_iova 0x{Value:x16} vpn=0x{Vpn:x}";
}

/// <summary>
/// Translation-request control register (<c>tr_req_ctl</c>, offset 0x260). IOMMU spec,
/// "Translation-request control (tr_req_ctl)".
/// </summary>
/// <remarks>
/// <code>
///  63           40 39    36 35   33  32  31              12 11       4   3    2     1       0
/// +---------------+--------+-------+----+------------------+----------+----+-----+------+---------+
/// |      DID      | custom |  rsv  | PV |       PID        | reserved | NW | Exe | Priv | Go/Busy |
/// +---------------+--------+-------+----+------------------+----------+----+-----+------+---------+
///        24           4        3     1          20               8       1    1     1        1
/// </code>
/// </remarks>
[StructLayout(LayoutKind.Sequential, Size = 8)]
public readonly struct TrReqCtl : IEquatable<TrReqCtl>
{
    public const int GoBusyBit = 0;
    public const int PrivBit = GoBusyBit + 1;  // 1
    public const int ExeBit = PrivBit + 1;     // 2
    public const int NwBit = ExeBit + 1;       // 3
    public const int Reserved0Shift = NwBit + 1; // 4
    public const int Reserved0Bits = 8;
    public const int PidShift = Reserved0Shift + Reserved0Bits; // 12
    public const int PidBits = 20;
    public const int PvBit = PidShift + PidBits;  // 32
    public const int Reserved1Shift = PvBit + 1;  // 33
    public const int Reserved1Bits = 3;
    public const int CustomShift = Reserved1Shift + Reserved1Bits; // 36
    public const int CustomBits = 4;
    public const int DidShift = CustomShift + CustomBits; // 40
    public const int DidBits = 24;

    public const ulong GoBusyMask = 1UL << GoBusyBit;
    public const ulong PrivMask = 1UL << PrivBit;
    public const ulong ExeMask = 1UL << ExeBit;
    public const ulong NwMask = 1UL << NwBit;
    public const ulong PidMask = ((1UL << PidBits) - 1) << PidShift;
    public const ulong PvMask = 1UL << PvBit;
    public const ulong CustomMask = ((1UL << CustomBits) - 1) << CustomShift;
    public const ulong DidMask = ((1UL << DidBits) - 1) << DidShift;
    /// <summary>Bits 11:4 and 35:33.</summary>
    public const ulong ReservedMask = (((1UL << Reserved0Bits) - 1) << Reserved0Shift) | (((1UL << Reserved1Bits) - 1) << Reserved1Shift);

    public readonly ulong Value;

    public TrReqCtl(ulong value) => Value = value;

    /// <summary>Go/Busy (RW1S): software sets it to start; the IOMMU clears it on completion.</summary>
    public bool GoBusy => (Value & GoBusyMask) != 0;
    /// <summary>Priv: privileged-mode access requested.</summary>
    public bool Priv => (Value & PrivMask) != 0;
    /// <summary>Exe: execute permission requested.</summary>
    public bool Exe => (Value & ExeMask) != 0;
    /// <summary>NW: 1 = read only requested; 0 = read and write requested.</summary>
    public bool Nw => (Value & NwMask) != 0;
    public uint Pid => (uint)((Value & PidMask) >> PidShift);
    public bool Pv => (Value & PvMask) != 0;
    public uint Custom => (uint)((Value & CustomMask) >> CustomShift);
    public uint Did => (uint)((Value & DidMask) >> DidShift);
    public bool HasReservedBitsSet => (Value & ReservedMask) != 0;

    private TrReqCtl With(ulong mask, bool on) => new(on ? Value | mask : Value & ~mask);
    public TrReqCtl WithGoBusy(bool v) => With(GoBusyMask, v);
    public TrReqCtl WithPriv(bool v) => With(PrivMask, v);
    public TrReqCtl WithExe(bool v) => With(ExeMask, v);
    public TrReqCtl WithNw(bool v) => With(NwMask, v);
    public TrReqCtl WithPv(bool v) => With(PvMask, v);
    public TrReqCtl WithPid(uint pid) => new((Value & ~PidMask) | (((ulong)pid << PidShift) & PidMask));
    public TrReqCtl WithDid(uint did) => new((Value & ~DidMask) | (((ulong)did << DidShift) & DidMask));

    public bool Equals(TrReqCtl other) => Value == other.Value;
    public override bool Equals(object? obj) => obj is TrReqCtl other && Equals(other);
    public override int GetHashCode() => Value.GetHashCode();
    public static bool operator ==(TrReqCtl left, TrReqCtl right) => left.Equals(right);
    public static bool operator !=(TrReqCtl left, TrReqCtl right) => !left.Equals(right);
    public override string ToString() =>
        $"tr_req_ctl 0x{Value:x16}{(GoBusy ? " go" : "")}{(Priv ? " priv" : "")}{(Exe ? " exe" : "")}{(Nw ? " nw" : "")} did=0x{Did:x}{(Pv ? $" pid=0x{Pid:x}" : "")}";
}

/// <summary>
/// Translation-response register (<c>tr_response</c>, offset 0x268, RO). IOMMU spec, "Translation-response (tr_response)".
/// </summary>
/// <remarks>
/// <code>
///  63    60 59      54 53                                   10  9   8   7 6        1   0
/// +--------+----------+---------------------------------------+---+------+----------+-------+
/// | custom | reserved |                 PPN                   | S | PBMT | reserved | fault |
/// +--------+----------+---------------------------------------+---+------+----------+-------+
///     4         6                        44                     1    2        6        1
/// </code>
/// With S = 1 the translation covers 2^(X+1) × 4 KiB, X being the lowest PPN bit that is 0 (bits below it are 1).
/// </remarks>
[StructLayout(LayoutKind.Sequential, Size = 8)]
public readonly struct TrResponse : IEquatable<TrResponse>
{
    public const int FaultBit = 0;
    public const int Reserved0Shift = FaultBit + 1; // 1
    public const int Reserved0Bits = 6;
    public const int PbmtShift = Reserved0Shift + Reserved0Bits; // 7
    public const int PbmtBits = 2;
    public const int SBit = PbmtShift + PbmtBits;   // 9
    public const int PpnShift = SBit + 1;           // 10
    public const int PpnBits = 44;
    public const int Reserved1Shift = PpnShift + PpnBits; // 54
    public const int Reserved1Bits = 6;
    public const int CustomShift = Reserved1Shift + Reserved1Bits; // 60
    public const int CustomBits = 4;

    public const ulong FaultMask = 1UL << FaultBit;
    public const ulong PbmtMask = ((1UL << PbmtBits) - 1) << PbmtShift;
    public const ulong SMask = 1UL << SBit;
    public const ulong PpnMask = ((1UL << PpnBits) - 1) << PpnShift;
    public const ulong CustomMask = ((1UL << CustomBits) - 1) << CustomShift;
    /// <summary>Bits 6:1 and 59:54.</summary>
    public const ulong ReservedMask = (((1UL << Reserved0Bits) - 1) << Reserved0Shift) | (((1UL << Reserved1Bits) - 1) << Reserved1Shift);

    public readonly ulong Value;

    public TrResponse(ulong value) => Value = value;

    /// <summary>A faulting response (fault = 1, other fields UNSPECIFIED: zero here).</summary>
    public static TrResponse Faulted => new(FaultMask);

    /// <summary>
    /// A successful response for a translation of <paramref name="pageSize"/> bytes (a power of two, at least
    /// 4 KiB) at physical address <paramref name="pa"/>: S = 0 for 4 KiB, else the PPN carries the size in its
    /// low bits (ones up to bit X-1, a zero at X, where size = 2^(X+1) × 4 KiB).
    /// </summary>
    public static TrResponse Success(ulong pa, ulong pageSize, PageBasedMemoryType pbmt)
    {
        if (pageSize < 4096 || !ulong.IsPow2(pageSize))
        {
            throw new ArgumentOutOfRangeException(nameof(pageSize), pageSize, "A translation size is a power of two of at least 4 KiB.");
        }

        ulong ppn = pa >> 12;
        ulong s = 0;
        if (pageSize > 4096)
        {
            int x = System.Numerics.BitOperations.Log2(pageSize >> 12) - 1; // size = 2^(X+1) pages
            ulong ones = (1UL << x) - 1;
            ppn = (ppn & ~((1UL << (x + 1)) - 1)) | ones;
            s = SMask;
        }

        return new TrResponse(s | ((ppn << PpnShift) & PpnMask) | (((ulong)pbmt << PbmtShift) & PbmtMask));
    }

    public bool Fault => (Value & FaultMask) != 0;
    public PageBasedMemoryType Pbmt => (PageBasedMemoryType)((Value & PbmtMask) >> PbmtShift);
    /// <summary>S: the translation is larger than 4 KiB; its size is encoded in the PPN.</summary>
    public bool S => (Value & SMask) != 0;
    public ulong Ppn => (Value & PpnMask) >> PpnShift;
    public uint Custom => (uint)((Value & CustomMask) >> CustomShift);
    public bool HasReservedBitsSet => (Value & ReservedMask) != 0;

    /// <summary>The translation size: 4 KiB when S = 0, else 2^(X+1) × 4 KiB.</summary>
    public ulong PageSize => S ? 4096UL << (System.Numerics.BitOperations.TrailingZeroCount(~Ppn) + 1) : 4096;

    /// <summary>Base physical address of the translated range (PPN with the size-encoding bits cleared).</summary>
    public ulong PhysicalAddress => (Ppn << 12) & ~(PageSize - 1);

    public bool Equals(TrResponse other) => Value == other.Value;
    public override bool Equals(object? obj) => obj is TrResponse other && Equals(other);
    public override int GetHashCode() => Value.GetHashCode();
    public static bool operator ==(TrResponse left, TrResponse right) => left.Equals(right);
    public static bool operator !=(TrResponse left, TrResponse right) => !left.Equals(right);
    public override string ToString() =>
        Fault ? $"tr_response 0x{Value:x16} fault" : $"tr_response 0x{Value:x16} pa=0x{PhysicalAddress:x} size=0x{PageSize:x} pbmt={Pbmt}";
}
