using FastIommu.Formats.RiscV;

namespace FastIommu.Driver;

/// <summary>Why the command queue stopped on a command (the cqcsr error bit the hardware set).</summary>
public enum CommandQueueError
{
    /// <summary>cqcsr.cmd_ill: the command is illegal or unsupported by this IOMMU.</summary>
    IllegalCommand,

    /// <summary>cqcsr.cqmf: fetching the command, or the IOFENCE.C write-back, faulted.</summary>
    MemoryFault,

    /// <summary>cqcsr.cmd_to: an ATS.INVAL / ATS.PRGR timed out.</summary>
    CommandTimeout,
}

/// <summary>The hardware stopped its command queue on <see cref="Command"/>. The driver replaced that entry with a
/// no-op fence and cleared the error bit, so later commands run; the failed command's effect did not happen.</summary>
public sealed class CommandQueueException : InvalidOperationException
{
    /// <summary>The command the queue stopped on.</summary>
    public Command Command { get; }

    /// <summary>The error bit.</summary>
    public CommandQueueError Error { get; }

    public CommandQueueException(Command command, CommandQueueError error)
        : base($"The IOMMU command queue stopped with {ErrorName(error)} on {command}.")
    {
        Command = command;
        Error = error;
    }

    private static string ErrorName(CommandQueueError error) => error switch
    {
        CommandQueueError.IllegalCommand => "cmd_ill",
        CommandQueueError.MemoryFault => "cqmf",
        _ => "cmd_to",
    };
}

/// <summary>The hardware did not make progress in time: no command slot freed up, or a fence did not complete
/// (a stopped or hung IOMMU). Names the command the driver was waiting on.</summary>
public sealed class CommandQueueTimeoutException : TimeoutException
{
    /// <summary>The command that could not be queued, or the fence that did not complete.</summary>
    public Command Command { get; }

    public CommandQueueTimeoutException(Command command, string what, TimeSpan timeout)
        : base($"The IOMMU did not {what} within {timeout.TotalMilliseconds:0} ms: waiting on {command}.")
    {
        Command = command;
    }
}

/// <summary>An id space (PSCID, GSCID, PASID) has no id left. Nothing was changed by the failed call.</summary>
public sealed class IdSpaceExhaustedException : InvalidOperationException
{
    /// <summary>"PSCID", "GSCID" or "PASID".</summary>
    public string Space { get; }

    public IdSpaceExhaustedException(string space, string message) : base(message) => Space = space;
}
