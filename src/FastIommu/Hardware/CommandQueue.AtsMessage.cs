using FastIommu.Formats.RiscV;

namespace FastIommu.Hardware;

/// <summary>The two ATS commands (spec "IOMMU PCIe ATS commands", opcode 4).</summary>
public enum AtsMessageKind : byte
{
    /// <summary>ATS.INVAL (func3 0): "Invalidation Request" to the device's ATC.</summary>
    Invalidate = 0,

    /// <summary>ATS.PRGR (func3 1): "Page Request Group Response".</summary>
    PageRequestGroupResponse = 1,
}

/// <summary>
/// A PCIe message the command queue would have sent to a device for an ATS.INVAL or ATS.PRGR command. No device is
/// attached to the model, so the messages are recorded for the emulator to deliver (see
/// <see cref="RiscVIommu.TakeAtsMessages"/>); the command completes at once (no timeout, so <c>cmd_to</c> never sets).
/// </summary>
/// <remarks>
/// <code>
/// dword0: 63    56 55        40 39  34  33   32  31      12 11 10 9   7 6      0
///        +--------+------------+------+-----+----+----------+-----+-----+--------+
///        |  DSEG  |    RID     | rsvd | DSV | PV |   PID    | rsvd|func3| opcode |
///        +--------+------------+------+-----+----+----------+-----+-----+--------+
/// dword1: PAYLOAD (ATS.INVAL: G 0, S 11, untranslated address 63:12;
///                  ATS.PRGR: page request group index 40:32, response code 47:44)
/// </code>
/// </remarks>
public readonly record struct AtsMessage(AtsMessageKind Kind, ulong Dword0, ulong Dword1)
{
    // Fields are decoded by the Command format, which owns the ATS command layout.
    private Command AsCommand => new(Dword0, Dword1);

    /// <summary>PID, bits 31:12: the PASID, meaningful when <see cref="Pv"/> is set.</summary>
    public uint Pid => AsCommand.Pid;

    /// <summary>PV, bit 32: the message carries a PASID.</summary>
    public bool Pv => AsCommand.Pv;

    /// <summary>DSV, bit 33: <see cref="Dseg"/> is valid.</summary>
    public bool Dsv => AsCommand.Dsv;

    /// <summary>RID, bits 55:40: the requester ID (bus/device/function) of the target function.</summary>
    public ushort Rid => AsCommand.Rid;

    /// <summary>DSEG, bits 63:56: the destination segment, meaningful when <see cref="Dsv"/> is set.</summary>
    public byte Dseg => AsCommand.Dseg;

    /// <summary>The 64-bit message body as the command gave it.</summary>
    public ulong Payload => Dword1;
}
