using System.Globalization;
using FastIommu.Formats.RiscV;
using FastIommu.Hardware;
using FastIommu.Memory;

namespace FastIommu.Cli.Driver;

/// <summary>The commands a driver wrote into an IOMMU's command queue between two tail values, read back from the
/// ring in memory (the bytes the hardware executed) and decoded, in order.</summary>
internal static class CommandRing
{
    /// <summary>The tail register (cqt) of <paramref name="iommu"/> now.</summary>
    public static uint Tail(RiscVIommu iommu) => iommu.Read32(RegisterOffsets.Cqt);

    /// <summary>The commands in ring entries [<paramref name="from"/>, <paramref name="to"/>), decoded.</summary>
    public static List<string> Read(RiscVIommu iommu, PhysicalMemory memory, uint from, uint to)
    {
        var commands = new List<string>();
        var cqb = new QueueBase(iommu.Read64(RegisterOffsets.Cqb));
        if (cqb.Value == 0)
        {
            return commands; // no queue yet
        }

        for (uint i = from & cqb.IndexMask; i != (to & cqb.IndexMask); i = (i + 1) & cqb.IndexMask)
        {
            var command = memory.GetRef<Command>(cqb.BaseAddress + (i * (ulong)Command.Size));
            commands.Add(Describe(command));
        }

        return commands;
    }

    /// <summary>A command by its spec name and the operands that matter.</summary>
    public static string Describe(in Command c) => c.Kind switch
    {
        CommandKind.IotinvalVma => "IOTINVAL.VMA" + (c.Gv ? $" GSCID={Hex(c.Gscid)}" : "") + (c.Pscv ? $" PSCID={Hex(c.Pscid)}" : "")
            + (c.Av ? $" ADDR={Hex(c.Address)}" : ""),
        CommandKind.IotinvalGvma => "IOTINVAL.GVMA" + (c.Gv ? $" GSCID={Hex(c.Gscid)}" : "") + (c.Av ? $" ADDR={Hex(c.Address)}" : ""),
        CommandKind.IodirInvalDdt => "IODIR.INVAL_DDT" + (c.Dv ? $" DID={Hex(c.Did)}" : " (all)"),
        CommandKind.IodirInvalPdt => $"IODIR.INVAL_PDT DID={Hex(c.Did)} PID={Hex(c.Pid)}",
        CommandKind.IofenceC => "IOFENCE.C" + (c.Av ? " AV" : "") + (c.Wsi ? " WSI" : ""),
        CommandKind.AtsInval => $"ATS.INVAL RID={Hex(c.Rid)}",
        CommandKind.AtsPrgr => $"ATS.PRGR RID={Hex(c.Rid)}",
        _ => $"unknown command 0x{c.Dword0:x16} 0x{c.Dword1:x16}",
    };

    private static string Hex(ulong value) => "0x" + value.ToString("x", CultureInfo.InvariantCulture);
}
