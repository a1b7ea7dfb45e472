using System.Runtime.InteropServices;

namespace FastIommu.Formats.RiscV;

/// <summary>
/// The performance-monitoring cycles counter (<c>iohpmcycles</c>, offset 0x60, present when capabilities.HPM).
/// IOMMU spec, "Performance-monitoring cycles counter (iohpmcycles)".
/// </summary>
/// <remarks>
/// <code>
///   63  62                                                            0
/// +----+---------------------------------------------------------------+
/// | OF |                           counter                             |
/// +----+---------------------------------------------------------------+
///    1                                 63
/// </code>
/// </remarks>
[StructLayout(LayoutKind.Sequential, Size = 8)]
public readonly struct Iohpmcycles : IEquatable<Iohpmcycles>
{
    public const int CounterShift = 0;
    public const int CounterBits = 63;
    public const int OfBit = CounterShift + CounterBits; // 63
    public const ulong CounterMask = (1UL << CounterBits) - 1;
    public const ulong OfMask = 1UL << OfBit;

    public readonly ulong Value;

    public Iohpmcycles(ulong value) => Value = value;

    public ulong Counter => Value & CounterMask;
    /// <summary>OF: the counter overflowed (sticky; also disables the overflow interrupt).</summary>
    public bool Of => (Value & OfMask) != 0;

    public Iohpmcycles WithCounter(ulong counter) => new((Value & ~CounterMask) | (counter & CounterMask));
    public Iohpmcycles WithOf(bool of) => new(of ? Value | OfMask : Value & ~OfMask);

    public bool Equals(Iohpmcycles other) => Value == other.Value;
    public override bool Equals(object? obj) => obj is Iohpmcycles other && Equals(other);
    public override int GetHashCode() => Value.GetHashCode();
    public static bool operator ==(Iohpmcycles left, Iohpmcycles right) => left.Equals(right);
    public static bool operator !=(Iohpmcycles left, Iohpmcycles right) => !left.Equals(right);
    public override string ToString() => $"iohpmcycles {Counter}{(Of ? " OF" : "")}";
}

/// <summary>
/// A performance-monitoring event selector (<c>iohpmevt1-31</c>, offset 0x160 + 8 × (n - 1)). IOMMU spec,
/// "Performance-monitoring event selectors (iohpmevt1-31)".
/// </summary>
/// <remarks>
/// <code>
///   63   62     61       60     59          36 35          16   15    14          0
/// +----+-----+-------+-------+--------------+--------------+-------+-------------+
/// | OF | IDT |DV_GSCV|PV_PSCV|   DID_GSCID  |  PID_PSCID   | DMASK |   eventID   |
/// +----+-----+-------+-------+--------------+--------------+-------+-------------+
///    1    1      1       1          24             20          1          15
/// </code>
/// eventID: 0 none, 1 untranslated requests, 2 translated requests, 3 ATS translation requests, 4 TLB miss,
/// 5 DDT walks, 6 PDT walks, 7 first-stage walks, 8 second-stage walks; 9-16383 reserved, 16384-32767 custom.
/// </remarks>
[StructLayout(LayoutKind.Sequential, Size = 8)]
public readonly struct Iohpmevt : IEquatable<Iohpmevt>
{
    public const int EventIdShift = 0;
    public const int EventIdBits = 15;
    public const int DmaskBit = EventIdShift + EventIdBits;   // 15
    public const int PidPscidShift = DmaskBit + 1;            // 16
    public const int PidPscidBits = 20;
    public const int DidGscidShift = PidPscidShift + PidPscidBits; // 36
    public const int DidGscidBits = 24;
    public const int PvPscvBit = DidGscidShift + DidGscidBits; // 60
    public const int DvGscvBit = PvPscvBit + 1;                // 61
    public const int IdtBit = DvGscvBit + 1;                   // 62
    public const int OfBit = IdtBit + 1;                       // 63

    public const ulong EventIdMask = ((1UL << EventIdBits) - 1) << EventIdShift;
    public const ulong DmaskMask = 1UL << DmaskBit;
    public const ulong PidPscidMask = ((1UL << PidPscidBits) - 1) << PidPscidShift;
    public const ulong DidGscidMask = ((1UL << DidGscidBits) - 1) << DidGscidShift;
    public const ulong PvPscvMask = 1UL << PvPscvBit;
    public const ulong DvGscvMask = 1UL << DvGscvBit;
    public const ulong IdtMask = 1UL << IdtBit;
    public const ulong OfMask = 1UL << OfBit;

    public readonly ulong Value;

    public Iohpmevt(ulong value) => Value = value;

    public uint EventId => (uint)((Value & EventIdMask) >> EventIdShift);
    public bool Dmask => (Value & DmaskMask) != 0;
    public uint PidPscid => (uint)((Value & PidPscidMask) >> PidPscidShift);
    public uint DidGscid => (uint)((Value & DidGscidMask) >> DidGscidShift);
    public bool PvPscv => (Value & PvPscvMask) != 0;
    public bool DvGscv => (Value & DvGscvMask) != 0;
    /// <summary>IDT: filter on GSCID/PSCID (1) or device_id/process_id (0).</summary>
    public bool Idt => (Value & IdtMask) != 0;
    public bool Of => (Value & OfMask) != 0;

    private Iohpmevt With(ulong mask, bool on) => new(on ? Value | mask : Value & ~mask);
    public Iohpmevt WithEventId(uint id) => new((Value & ~EventIdMask) | (((ulong)id << EventIdShift) & EventIdMask));
    public Iohpmevt WithDmask(bool v) => With(DmaskMask, v);
    public Iohpmevt WithPidPscid(uint v) => new((Value & ~PidPscidMask) | (((ulong)v << PidPscidShift) & PidPscidMask));
    public Iohpmevt WithDidGscid(uint v) => new((Value & ~DidGscidMask) | (((ulong)v << DidGscidShift) & DidGscidMask));
    public Iohpmevt WithPvPscv(bool v) => With(PvPscvMask, v);
    public Iohpmevt WithDvGscv(bool v) => With(DvGscvMask, v);
    public Iohpmevt WithIdt(bool v) => With(IdtMask, v);
    public Iohpmevt WithOf(bool v) => With(OfMask, v);

    public bool Equals(Iohpmevt other) => Value == other.Value;
    public override bool Equals(object? obj) => obj is Iohpmevt other && Equals(other);
    public override int GetHashCode() => Value.GetHashCode();
    public static bool operator ==(Iohpmevt left, Iohpmevt right) => left.Equals(right);
    public static bool operator !=(Iohpmevt left, Iohpmevt right) => !left.Equals(right);
    public override string ToString() =>
        $"iohpmevt 0x{Value:x16} event={EventId}{(Idt ? " idt" : "")}{(DvGscv ? $" did/gscid=0x{DidGscid:x}{(Dmask ? "(mask)" : "")}" : "")}{(PvPscv ? $" pid/pscid=0x{PidPscid:x}" : "")}{(Of ? " OF" : "")}";
}
