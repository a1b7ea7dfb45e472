using System.Runtime.CompilerServices;

namespace FastIommu.Formats.RiscV;

/// <summary>
/// A RISC-V paging mode as a type. The walkers are generic over it (<c>where TMode : struct, IPagingMode</c>),
/// so each mode compiles to its own straight-line code. Adding a mode is adding one small struct.
/// </summary>
/// <remarks>
/// Levels are numbered as the privileged spec numbers them: level 0 holds 4 KiB leaves, level
/// <see cref="Levels"/> - 1 is the root. Every table is 512 entries (4 KiB) except the root of an x4 mode,
/// which is widened by 2 bits to 2048 entries (16 KiB, 16 KiB aligned): privileged spec, "Two-Stage Address
/// Translation", Sv39x4/Sv48x4/Sv57x4.
/// </remarks>
public interface IPagingMode
{
    /// <summary>Name as the spec writes it: "Sv39", "Sv48x4", ...</summary>
    static abstract string Name { get; }

    /// <summary>Number of levels (3, 4 or 5).</summary>
    static abstract int Levels { get; }

    /// <summary>Width of an input address: VA bits for a first stage (39/48/57), GPA bits for a G-stage (41/50/59).</summary>
    static abstract int AddressBits { get; }

    /// <summary>True for a G-stage (x4) mode: the input address must have bits 63:AddressBits zero.
    /// False for a first stage: bits 63:AddressBits must equal bit AddressBits - 1 (sign extension).</summary>
    static abstract bool IsGStage { get; }

    /// <summary>MODE field encoding in iosatp (first stage) or iohgatp (G-stage): 8, 9 or 10.</summary>
    static abstract byte ModeEncoding { get; }
}

/// <summary>Sv39: 3 levels, 39-bit VA sign-extended from bit 38; iosatp.MODE = 8.</summary>
public struct Sv39 : IPagingMode
{
    public static string Name => "Sv39";
    public static int Levels => 3;
    public static int AddressBits => 39;
    public static bool IsGStage => false;
    public static byte ModeEncoding => 8;
}

/// <summary>Sv48: 4 levels, 48-bit VA sign-extended from bit 47; iosatp.MODE = 9.</summary>
public struct Sv48 : IPagingMode
{
    public static string Name => "Sv48";
    public static int Levels => 4;
    public static int AddressBits => 48;
    public static bool IsGStage => false;
    public static byte ModeEncoding => 9;
}

/// <summary>Sv57: 5 levels, 57-bit VA sign-extended from bit 56; iosatp.MODE = 10.</summary>
public struct Sv57 : IPagingMode
{
    public static string Name => "Sv57";
    public static int Levels => 5;
    public static int AddressBits => 57;
    public static bool IsGStage => false;
    public static byte ModeEncoding => 10;
}

/// <summary>Sv39x4: 3 levels, 41-bit GPA with bits 63:41 zero, 16 KiB root; iohgatp.MODE = 8.</summary>
public struct Sv39x4 : IPagingMode
{
    public static string Name => "Sv39x4";
    public static int Levels => 3;
    public static int AddressBits => 41;
    public static bool IsGStage => true;
    public static byte ModeEncoding => 8;
}

/// <summary>Sv48x4: 4 levels, 50-bit GPA with bits 63:50 zero, 16 KiB root; iohgatp.MODE = 9.</summary>
public struct Sv48x4 : IPagingMode
{
    public static string Name => "Sv48x4";
    public static int Levels => 4;
    public static int AddressBits => 50;
    public static bool IsGStage => true;
    public static byte ModeEncoding => 9;
}

/// <summary>Sv57x4: 5 levels, 59-bit GPA with bits 63:59 zero, 16 KiB root; iohgatp.MODE = 10.</summary>
public struct Sv57x4 : IPagingMode
{
    public static string Name => "Sv57x4";
    public static int Levels => 5;
    public static int AddressBits => 59;
    public static bool IsGStage => true;
    public static byte ModeEncoding => 10;
}

/// <summary>Facts every mode derives the same way from its <see cref="IPagingMode"/> constants.
/// All of these fold to constants once the JIT specialises <typeparamref name="TMode"/>.</summary>
public static class PagingMode<TMode> where TMode : struct, IPagingMode
{
    /// <summary>Entries in the root table: 2048 for an x4 mode, else 512.</summary>
    public static int RootEntries
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => TMode.IsGStage ? 2048 : 512;
    }

    /// <summary>Size of the root table in 4 KiB pages: 4 for an x4 mode, else 1.</summary>
    public static int RootPages
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => TMode.IsGStage ? 4 : 1;
    }

    /// <summary>Bit position of the lowest address bit that indexes level <paramref name="level"/>: 12 + 9 × level.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int LevelShift(int level) => 12 + 9 * level;

    /// <summary>Bytes mapped by one leaf at <paramref name="level"/>: 4 KiB, 2 MiB, 1 GiB, 512 GiB, 256 TiB.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong PageSize(int level) => 1UL << LevelShift(level);

    /// <summary>Index into the table at <paramref name="level"/> for <paramref name="address"/>
    /// (11 bits at an x4 root, else 9).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int Index(ulong address, int level)
    {
        int mask = level == TMode.Levels - 1 ? RootEntries - 1 : 511;
        return (int)(address >> LevelShift(level)) & mask;
    }

    /// <summary>True when <paramref name="address"/> is a legal input address: sign-extended from bit
    /// AddressBits - 1 for a first stage, zero above AddressBits for a G-stage.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool IsCanonical(ulong address)
    {
        if (TMode.IsGStage)
        {
            return address >> TMode.AddressBits == 0;
        }

        // Arithmetic shift of the bits above AddressBits - 1 must give all zeros or all ones.
        long high = (long)address >> (TMode.AddressBits - 1);
        return high == 0 || high == -1;
    }

    /// <summary>Size of the input address space in bytes: 2^AddressBits. For a first stage this is the two
    /// canonical halves together (2^(AddressBits-1) at the bottom and as many at the top).</summary>
    public static ulong AddressSpaceSize => 1UL << TMode.AddressBits;

    /// <summary>The largest leaf size this mode can map: a leaf at its root level.</summary>
    public static ulong LargestPageSize => PageSize(TMode.Levels - 1);
}

/// <summary>The paging modes by value, for code that reads a MODE field at run time and dispatches
/// to the generic, per-mode code.</summary>
public enum PagingModeKind : byte
{
    Sv39,
    Sv48,
    Sv57,
    Sv39x4,
    Sv48x4,
    Sv57x4,
}

/// <summary>Run-time descriptions of the modes: the same facts as the <see cref="IPagingMode"/> types.</summary>
public static class PagingModes
{
    public static int Levels(PagingModeKind kind) => kind switch
    {
        PagingModeKind.Sv39 or PagingModeKind.Sv39x4 => 3,
        PagingModeKind.Sv48 or PagingModeKind.Sv48x4 => 4,
        _ => 5,
    };

    public static bool IsGStage(PagingModeKind kind) => kind >= PagingModeKind.Sv39x4;

    /// <summary>The iosatp / iohgatp MODE encoding: 8, 9 or 10.</summary>
    public static byte ModeEncoding(PagingModeKind kind) => (byte)(8 + ((int)kind % 3));

    /// <summary>Input-address bits: 39/48/57 for a first stage, 41/50/59 for a G-stage.</summary>
    public static int AddressBits(PagingModeKind kind) => 12 + 9 * Levels(kind) + (IsGStage(kind) ? 2 : 0);

    /// <summary>The first-stage mode that iosatp.MODE (or a PC's fsc.MODE) names, or null for Bare (0) and reserved values.</summary>
    public static PagingModeKind? FromIosatpMode(uint mode) => mode switch
    {
        8 => PagingModeKind.Sv39,
        9 => PagingModeKind.Sv48,
        10 => PagingModeKind.Sv57,
        _ => null,
    };

    /// <summary>The G-stage mode that iohgatp.MODE names, or null for Bare (0) and reserved values.</summary>
    public static PagingModeKind? FromIohgatpMode(uint mode) => mode switch
    {
        8 => PagingModeKind.Sv39x4,
        9 => PagingModeKind.Sv48x4,
        10 => PagingModeKind.Sv57x4,
        _ => null,
    };
}
