using System.Runtime.InteropServices;

namespace FastIommu.Formats.RiscV;

/// <summary>
/// A process context (PC): 16 bytes, two 64-bit doublewords, the leaf of the process directory table.
/// IOMMU spec, "Leaf PDT entry", figure "Process-context".
/// </summary>
/// <remarks>
/// <code>
/// byte  +-------------------------------------------------------------------+
///  0x00 | ta   Translation attributes   (ProcessContextTa)                  |
///  0x08 | fsc  First-stage context      (Iosatp layout: MODE 63:60, PPN 43:0)|
///       +-------------------------------------------------------------------+
/// </code>
/// </remarks>
[StructLayout(LayoutKind.Sequential, Size = 16)]
public readonly struct ProcessContext : IEquatable<ProcessContext>
{
    public const int Size = 16;
    public const int TaOffset = 0;
    public const int FscOffset = TaOffset + 8; // 8

    public readonly ProcessContextTa Ta;
    public readonly Iosatp Fsc;

    public ProcessContext(ProcessContextTa ta, Iosatp fsc)
    {
        Ta = ta;
        Fsc = fsc;
    }

    public bool Valid => Ta.Valid;

    public ProcessContext WithTa(ProcessContextTa ta) => new(ta, Fsc);
    public ProcessContext WithFsc(Iosatp fsc) => new(Ta, fsc);

    /// <summary>ta 11:3 and 63:32, or fsc 59:44 set (cause 267 in a valid PC).</summary>
    public bool HasReservedBitsSet => Ta.HasReservedBitsSet || Fsc.HasReservedBitsSet;

    public bool Equals(ProcessContext other) => Ta == other.Ta && Fsc == other.Fsc;
    public override bool Equals(object? obj) => obj is ProcessContext other && Equals(other);
    public override int GetHashCode() => HashCode.Combine(Ta, Fsc);
    public static bool operator ==(ProcessContext left, ProcessContext right) => left.Equals(right);
    public static bool operator !=(ProcessContext left, ProcessContext right) => !left.Equals(right);

    public override string ToString() => $"PC {{ {Ta}; {Fsc} }}";
}
