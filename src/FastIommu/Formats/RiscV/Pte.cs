using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace FastIommu.Formats.RiscV;

/// <summary>
/// A page-table entry of the RISC-V first stage (Sv39/48/57) and G-stage (Sv39x4/48x4/57x4): one 64-bit word.
/// Privileged spec, "Sv39: Page-Based 39-bit Virtual-Memory System" (Figure "Sv39 page table entry"),
/// with the Svnapot (N, bit 63) and Svpbmt (PBMT, bits 62:61) extensions.
/// </summary>
/// <remarks>
/// <code>
///  63  62 61 60      54 53                         10 9   8 7 6 5 4 3 2 1 0
/// +---+-----+----------+-----------------------------+-----+-+-+-+-+-+-+-+-+
/// | N | PBMT| Reserved |            PPN              | RSW |D|A|G|U|X|W|R|V|
/// +---+-----+----------+-----------------------------+-----+-+-+-+-+-+-+-+-+
///   1    2       7                44                    2  1 1 1 1 1 1 1 1
/// </code>
/// Setters (the <c>With...</c> methods) mask their input to the field width; the struct never holds
/// bits outside the field it was asked to change. Whether an encoding is legal (reserved bits, W without R,
/// misaligned superpage) is decided by the walkers, which report the spec's fault; this type only encodes.
/// </remarks>
[StructLayout(LayoutKind.Sequential, Size = 8)]
public readonly struct Pte : IEquatable<Pte>
{
    public const int VBit = 0;
    public const int RBit = VBit + 1;
    public const int WBit = RBit + 1;
    public const int XBit = WBit + 1;
    public const int UBit = XBit + 1;
    public const int GBit = UBit + 1;
    public const int ABit = GBit + 1;
    public const int DBit = ABit + 1;
    public const int RswShift = DBit + 1;
    public const int RswBits = 2;
    public const int PpnShift = RswShift + RswBits;      // 10
    public const int PpnBits = 44;
    public const int ReservedShift = PpnShift + PpnBits; // 54
    public const int ReservedBits = 7;
    public const int PbmtShift = ReservedShift + ReservedBits; // 61
    public const int PbmtBits = 2;
    public const int NBit = PbmtShift + PbmtBits;        // 63

    public const ulong V = 1UL << VBit;
    public const ulong R = 1UL << RBit;
    public const ulong W = 1UL << WBit;
    public const ulong X = 1UL << XBit;
    public const ulong U = 1UL << UBit;
    public const ulong G = 1UL << GBit;
    public const ulong A = 1UL << ABit;
    public const ulong D = 1UL << DBit;
    public const ulong N = 1UL << NBit;
    public const ulong RwxMask = R | W | X;
    public const ulong RswMask = ((1UL << RswBits) - 1) << RswShift;
    public const ulong PpnMask = ((1UL << PpnBits) - 1) << PpnShift;
    public const ulong ReservedMask = ((1UL << ReservedBits) - 1) << ReservedShift;
    public const ulong PbmtMask = ((1UL << PbmtBits) - 1) << PbmtShift;

    /// <summary>Bits a non-leaf PTE must keep zero (privileged spec: D, A, U; Svpbmt: PBMT; Svnapot: N),
    /// on top of <see cref="ReservedMask"/>.</summary>
    public const ulong NonLeafReservedMask = D | A | U | PbmtMask | N;

    /// <summary>Svnapot: the low PPN bits a NAPOT entry encodes its size in, and the only defined
    /// encoding (PPN[3:0] = 1000b: 64 KiB).</summary>
    public const ulong NapotPpnMask = 0xF;
    public const ulong NapotPpn64KiB = 0x8;
    public const ulong Napot64KiBSize = 64 * 1024;

    /// <summary>The raw 64-bit entry as it lies in memory.</summary>
    public readonly ulong Value;

    public Pte(ulong value) => Value = value;

    public bool Valid => (Value & V) != 0;
    public bool Readable => (Value & R) != 0;
    public bool Writable => (Value & W) != 0;
    public bool Executable => (Value & X) != 0;
    public bool User => (Value & U) != 0;
    public bool Global => (Value & G) != 0;
    public bool Accessed => (Value & A) != 0;
    public bool Dirty => (Value & D) != 0;

    /// <summary>RSW, bits 9:8: reserved for software, ignored by hardware.</summary>
    public uint Rsw => (uint)((Value & RswMask) >> RswShift);

    /// <summary>PPN, bits 53:10: physical page number (PA &gt;&gt; 12) of the leaf or next-level table.</summary>
    public ulong Ppn => (Value & PpnMask) >> PpnShift;

    /// <summary>Bits 60:54: reserved, must be zero (else page fault).</summary>
    public uint Reserved => (uint)((Value & ReservedMask) >> ReservedShift);

    /// <summary>Bits 60:54 are non-zero: a page fault when the walker meets this entry.</summary>
    public bool HasReservedBitsSet => (Value & ReservedMask) != 0;

    /// <summary>A non-leaf entry with any of D, A, U, PBMT, N or bits 60:54 set (page fault).</summary>
    public bool HasNonLeafReservedBitsSet => (Value & (ReservedMask | NonLeafReservedMask)) != 0;

    /// <summary>R=0 with W=1 (XWR = 010 or 110): reserved encodings, a page fault for I/O transactions
    /// (010 stays reserved for the IOMMU even with Zicfiss).</summary>
    public bool IsReservedRwx => (Value & (R | W)) == W;

    /// <summary>N = 1 with PPN[3:0] = 1000b: a valid Svnapot 64 KiB encoding (legal only in a level-0 leaf).</summary>
    public bool IsNapot64KiB => (Value & N) != 0 && (Ppn & NapotPpnMask) == NapotPpn64KiB;

    /// <summary>PBMT, bits 62:61 (Svpbmt).</summary>
    public PageBasedMemoryType Pbmt => (PageBasedMemoryType)((Value & PbmtMask) >> PbmtShift);

    /// <summary>N, bit 63 (Svnapot): the entry is part of a naturally aligned power-of-two range.</summary>
    public bool Napot => (Value & N) != 0;

    /// <summary>Physical address the PPN names: PPN &lt;&lt; 12.</summary>
    public ulong PhysicalAddress => Ppn << 12;

    /// <summary>V=1 and R=W=X=0: a pointer to the next level of the table.</summary>
    public bool IsTable => (Value & (V | RwxMask)) == V;

    /// <summary>V=1 and at least one of R, W, X: a leaf.</summary>
    public bool IsLeaf => (Value & V) != 0 && (Value & RwxMask) != 0;

    public Pte WithPpn(ulong ppn) => new((Value & ~PpnMask) | ((ppn << PpnShift) & PpnMask));
    public Pte WithRsw(uint rsw) => new((Value & ~RswMask) | (((ulong)rsw << RswShift) & RswMask));
    public Pte WithReserved(uint reserved) => new((Value & ~ReservedMask) | (((ulong)reserved << ReservedShift) & ReservedMask));
    public Pte WithPbmt(PageBasedMemoryType pbmt) => new((Value & ~PbmtMask) | (((ulong)pbmt << PbmtShift) & PbmtMask));
    public Pte WithFlags(ulong flags) => new(Value | (flags & 0xFF));
    public Pte WithoutFlags(ulong flags) => new(Value & ~(flags & 0xFF));
    public Pte WithNapot(bool napot) => new(napot ? Value | N : Value & ~N);

    /// <summary>A non-leaf entry pointing to the table at <paramref name="tablePa"/> (4 KiB aligned):
    /// V=1, R=W=X=0, and A, D, U zero as the privileged spec requires of non-leaf PTEs.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Pte Table(ulong tablePa) => new(V | ((tablePa >> 12 << PpnShift) & PpnMask));

    /// <summary>A leaf mapping <paramref name="pa"/> with the flag bits in <paramref name="flags"/>
    /// (any of R W X U G A D; V is added).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Pte Leaf(ulong pa, ulong flags, PageBasedMemoryType pbmt = PageBasedMemoryType.Pma) =>
        new(V | (flags & 0xFE) | ((pa >> 12 << PpnShift) & PpnMask) | (((ulong)pbmt << PbmtShift) & PbmtMask));

    public bool Equals(Pte other) => Value == other.Value;
    public override bool Equals(object? obj) => obj is Pte other && Equals(other);
    public override int GetHashCode() => Value.GetHashCode();
    public static bool operator ==(Pte left, Pte right) => left.Equals(right);
    public static bool operator !=(Pte left, Pte right) => !left.Equals(right);

    public override string ToString()
    {
        if (!Valid)
        {
            return $"0x{Value:x16} (invalid)";
        }

        Span<char> flags = stackalloc char[8];
        const string Names = "VRWXUGAD";
        for (int i = 0; i < 8; i++)
        {
            flags[i] = (Value & (1UL << i)) != 0 ? Names[i] : '-';
        }

        return $"0x{Value:x16} ppn=0x{Ppn:x} {flags}{(Napot ? " N" : "")}{(Pbmt != 0 ? $" pbmt={Pbmt}" : "")}";
    }
}

/// <summary>Svpbmt page-based memory types (PTE bits 62:61).</summary>
public enum PageBasedMemoryType : byte
{
    /// <summary>0: no override, the PMA of the underlying memory.</summary>
    Pma = 0,
    /// <summary>1: non-cacheable, idempotent, weakly ordered main memory.</summary>
    Nc = 1,
    /// <summary>2: non-cacheable, non-idempotent, strongly ordered I/O.</summary>
    Io = 2,
    /// <summary>3: reserved for future use (page fault if used).</summary>
    Reserved = 3,
}
