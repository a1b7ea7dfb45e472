using FastIommu.Driver;
using FastIommu.Formats.RiscV;

namespace FastIommu.Cli.Driver;

/// <summary>Commands the driver sent to each IOMMU instance between two points: a difference of the instances'
/// <see cref="IommuCounters"/> (which count what the driver wrote to each command queue), by kind.</summary>
internal sealed class CommandTally
{
    /// <summary>The command kinds the driver writes, in the order tables show them, with the spec's names.</summary>
    /// <remarks>ATS.INVAL and ATS.PRGR are left out: the driver sends neither (docs/driver.md, "Limits").</remarks>
    public static readonly (CommandKind Kind, string Name)[] Kinds =
    [
        (CommandKind.IotinvalVma, "IOTINVAL.VMA"),
        (CommandKind.IotinvalGvma, "IOTINVAL.GVMA"),
        (CommandKind.IodirInvalDdt, "IODIR.INVAL_DDT"),
        (CommandKind.IodirInvalPdt, "IODIR.INVAL_PDT"),
        (CommandKind.IofenceC, "IOFENCE.C"),
    ];

    private readonly long[,] _counts;

    private CommandTally(long[,] counts) => _counts = counts;

    public int InstanceCount => _counts.GetLength(0);

    /// <summary>The counters of every instance now.</summary>
    public static CommandTally Snapshot(IReadOnlyList<IommuInstance> instances)
    {
        var counts = new long[instances.Count, Kinds.Length];
        for (int i = 0; i < instances.Count; i++)
        {
            for (int k = 0; k < Kinds.Length; k++)
            {
                counts[i, k] = instances[i].Counters.Commands(Kinds[k].Kind);
            }
        }

        return new CommandTally(counts);
    }

    /// <summary>What was sent between <paramref name="before"/> and this snapshot.</summary>
    public CommandTally Since(CommandTally before)
    {
        var counts = new long[InstanceCount, Kinds.Length];
        for (int i = 0; i < InstanceCount; i++)
        {
            for (int k = 0; k < Kinds.Length; k++)
            {
                counts[i, k] = _counts[i, k] - (i < before.InstanceCount ? before._counts[i, k] : 0);
            }
        }

        return new CommandTally(counts);
    }

    /// <summary>Commands of the kind at index <paramref name="kind"/> of <see cref="Kinds"/> sent to instance <paramref name="instance"/>.</summary>
    public long Count(int instance, int kind) => _counts[instance, kind];

    public long Total(int instance)
    {
        long total = 0;
        for (int k = 0; k < Kinds.Length; k++)
        {
            total += _counts[instance, k];
        }

        return total;
    }

    /// <summary>Commands of kind index <paramref name="kind"/> over every instance.</summary>
    public long CountAll(int kind)
    {
        long total = 0;
        for (int i = 0; i < InstanceCount; i++)
        {
            total += _counts[i, kind];
        }

        return total;
    }
}
