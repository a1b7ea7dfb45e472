using System.Runtime.CompilerServices;

namespace FastIommu.Formats.RiscV;

/// <summary>
/// The splits of <c>device_id</c> into device-directory indexes (DDI) and of <c>process_id</c> into
/// process-directory indexes (PDI). IOMMU spec, "Base format device_id partitioning", "Extended format
/// device_id partitioning", "process_id partitioning for PDT radix-tree traversal".
/// </summary>
/// <remarks>
/// <code>
/// base DC (32 B):      23      16 15          7 6       0
///                     +----------+-------------+---------+
///                     |  DDI[2]  |   DDI[1]    | DDI[0]  |      8 / 9 / 7 bits
///                     +----------+-------------+---------+
/// extended DC (64 B):  23         15 14         6 5      0
///                     +-------------+------------+--------+
///                     |   DDI[2]    |   DDI[1]   | DDI[0] |     9 / 9 / 6 bits
///                     +-------------+------------+--------+
/// process_id:          19  17 16          8 7           0
///                     +------+-------------+-------------+
///                     |PDI[2]|   PDI[1]    |   PDI[0]    |     3 / 9 / 8 bits
///                     +------+-------------+-------------+
/// </code>
/// Every leaf table is one 4 KiB page: 128 × 32 B DCs, 64 × 64 B DCs, 256 × 16 B PCs; non-leaf levels hold
/// 512 (or fewer at the root) 8-byte entries.
/// </remarks>
public static class DirectoryIndex
{
    public const int DeviceIdBits = 24;
    public const int ProcessIdBits = 20;

    public const int BaseDdi0Bits = 7;
    public const int BaseDdi1Bits = 9;
    public const int BaseDdi2Bits = 8;
    public const int ExtendedDdi0Bits = 6;
    public const int ExtendedDdi1Bits = 9;
    public const int ExtendedDdi2Bits = 9;
    public const int Pdi0Bits = 8;
    public const int Pdi1Bits = 9;
    public const int Pdi2Bits = 3;

    /// <summary>Width of DDI[<paramref name="level"/>] (level 0..2).</summary>
    public static int DdiBits(int level, bool extendedFormat) => level switch
    {
        0 => extendedFormat ? ExtendedDdi0Bits : BaseDdi0Bits,
        1 => extendedFormat ? ExtendedDdi1Bits : BaseDdi1Bits,
        2 => extendedFormat ? ExtendedDdi2Bits : BaseDdi2Bits,
        _ => throw new ArgumentOutOfRangeException(nameof(level), level, "DDT levels are 0, 1 and 2."),
    };

    /// <summary>Lowest device_id bit of DDI[<paramref name="level"/>].</summary>
    public static int DdiShift(int level, bool extendedFormat) => level switch
    {
        0 => 0,
        1 => extendedFormat ? ExtendedDdi0Bits : BaseDdi0Bits,
        2 => extendedFormat ? ExtendedDdi0Bits + ExtendedDdi1Bits : BaseDdi0Bits + BaseDdi1Bits,
        _ => throw new ArgumentOutOfRangeException(nameof(level), level, "DDT levels are 0, 1 and 2."),
    };

    /// <summary>DDI[<paramref name="level"/>] of <paramref name="deviceId"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static uint Ddi(uint deviceId, int level, bool extendedFormat) =>
        (deviceId >> DdiShift(level, extendedFormat)) & ((1U << DdiBits(level, extendedFormat)) - 1);

    /// <summary>Lowest process_id bit of PDI[<paramref name="level"/>].</summary>
    public static int PdiShift(int level) => level switch
    {
        0 => 0,
        1 => Pdi0Bits,
        2 => Pdi0Bits + Pdi1Bits,
        _ => throw new ArgumentOutOfRangeException(nameof(level), level, "PDT levels are 0, 1 and 2."),
    };

    /// <summary>Width of PDI[<paramref name="level"/>].</summary>
    public static int PdiBits(int level) => level switch
    {
        0 => Pdi0Bits,
        1 => Pdi1Bits,
        2 => Pdi2Bits,
        _ => throw new ArgumentOutOfRangeException(nameof(level), level, "PDT levels are 0, 1 and 2."),
    };

    /// <summary>PDI[<paramref name="level"/>] of <paramref name="processId"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static uint Pdi(uint processId, int level) => (processId >> PdiShift(level)) & ((1U << PdiBits(level)) - 1);

    /// <summary>device_id bits a DDT of <paramref name="levels"/> levels (1..3) can index:
    /// base 7/16/24, extended 6/15/24.</summary>
    public static int DeviceIdWidth(int levels, bool extendedFormat)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(levels, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(levels, 3);
        return levels == 3 ? DeviceIdBits : DdiShift(levels, extendedFormat);
    }

    /// <summary>
    /// Whether <paramref name="deviceId"/> is no wider than <paramref name="mode"/> supports: 1LVL needs
    /// DDI[1] = DDI[2] = 0, 2LVL needs DDI[2] = 0 (else "Transaction type disallowed", cause 260).
    /// Off and Bare accept any 24-bit id.
    /// </summary>
    public static bool DeviceIdFits(uint deviceId, DdtpMode mode, bool extendedFormat)
    {
        int width = mode switch
        {
            DdtpMode.OneLevel => DeviceIdWidth(1, extendedFormat),
            DdtpMode.TwoLevel => DeviceIdWidth(2, extendedFormat),
            _ => DeviceIdBits,
        };
        return deviceId >> width == 0;
    }

    /// <summary>Whether <paramref name="processId"/> is no wider than <paramref name="mode"/> supports
    /// (PD8: 8 bits, PD17: 17, PD20: 20). Bare and reserved modes accept none.</summary>
    public static bool ProcessIdFits(uint processId, PdtpMode mode)
    {
        int width = mode switch
        {
            PdtpMode.PD8 => 8,
            PdtpMode.PD17 => 17,
            PdtpMode.PD20 => 20,
            _ => -1,
        };
        return width >= 0 && processId >> width == 0;
    }
}
