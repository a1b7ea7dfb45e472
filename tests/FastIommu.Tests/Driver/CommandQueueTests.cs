using FastIommu.Driver;
using FastIommu.Formats.RiscV;
using FastIommu.Hardware;

namespace FastIommu.Tests.Driver;

[TestFixture]
public class CommandQueueTests
{
    [Test]
    public void CommandsAreWrittenByteExactlyAndWrap()
    {
        using var bed = new DriverBed(options: new IommuDriverOptions { CommandQueueLog2Entries = 2 });
        IommuInstance iommu = bed.Instance();
        var sent = new List<Command>();
        for (uint i = 0; i < 10; i++)
        {
            Command c = Command.IotinvalVma(false, 0, true, 0x100 + i, true, 0x1000UL * i);
            sent.Add(c);
            iommu.Commands.Submit(c);
        }

        // 4 entries: the 10th command (index 9) sits in slot 9 % 4 = 1, the 9th in slot 0.
        Assert.That(bed.Memory.Qword(iommu.CommandQueueBase + 16), Is.EqualTo(sent[9].Dword0), "slot 1 holds the last command, dword0");
        Assert.That(bed.Memory.Qword(iommu.CommandQueueBase + 24), Is.EqualTo(sent[9].Dword1), "dword1");
        Assert.That(bed.Memory.Qword(iommu.CommandQueueBase), Is.EqualTo(sent[8].Dword0), "slot 0 holds the one before");
        Assert.That(bed.Hardware().Read32(RegisterOffsets.Cqh), Is.EqualTo(10u % 4), "the hardware consumed all, wrapping");
        Assert.That(iommu.Counters.Commands(CommandKind.IotinvalVma), Is.EqualTo(10), "counted by kind");
    }

    [Test]
    public void FenceCompletionIsObservedThroughItsWriteBack()
    {
        using var bed = new DriverBed(deviceOptions: new IommuOptions { ProcessCommandsOnTailWrite = false });
        IommuInstance iommu = bed.Instance();
        bed.Mmio().ProcessOnDoorbell = false;
        uint seq = iommu.Commands.SubmitFence();
        var waiter = Task.Run(() => iommu.Commands.WaitFence(seq));
        Assert.That(waiter.Wait(50), Is.False, "no completion while the device has not run the queue");
        bed.Hardware().ProcessCommands();
        Assert.That(waiter.Wait(TimeSpan.FromSeconds(10)), Is.True, "the AV write-back releases the waiter");
        Assert.That(iommu.Counters.Fences, Is.EqualTo(1), "one fence waited for");
    }

    [Test]
    public void AFullQueueWithTheHardwareStoppedTimesOutNamingTheCommand()
    {
        using var bed = new DriverBed(
            options: new IommuDriverOptions { CommandQueueLog2Entries = 2, CommandTimeout = TimeSpan.FromMilliseconds(100) },
            deviceOptions: new IommuOptions { ProcessCommandsOnTailWrite = false });
        IommuInstance iommu = bed.Instance();
        bed.Mmio().ProcessOnDoorbell = false;
        for (uint i = 0; i < 3; i++)
        {
            iommu.Commands.Submit(Command.IodirInvalDdt(true, i));
        }

        Command fourth = Command.IodirInvalDdt(true, 0x77);
        var ex = Assert.Throws<CommandQueueTimeoutException>(() => iommu.Commands.Submit(fourth), "3 of 4 slots used: the ring is full");
        Assert.That(ex!.Command, Is.EqualTo(fourth), "names the command that could not be queued");
        Assert.That(ex.Message, Does.Contain("IODIR.INVAL_DDT").And.Contain("did=0x77"), "readable");
        Assert.That(bed.Hardware().Read32(RegisterOffsets.Cqt), Is.EqualTo(3u), "nothing beyond the full ring was published");

        bed.Mmio().ProcessOnDoorbell = true; // the device runs again
        bed.Hardware().ProcessCommands();
        Assert.DoesNotThrow(() => iommu.Commands.Submit(fourth), "once the hardware runs, the queue takes commands again");
        Assert.DoesNotThrow(iommu.Sync, "and fences complete");
    }

    [Test]
    public void AFenceThatNeverCompletesTimesOut()
    {
        using var bed = new DriverBed(
            options: new IommuDriverOptions { CommandTimeout = TimeSpan.FromMilliseconds(100) },
            deviceOptions: new IommuOptions { ProcessCommandsOnTailWrite = false });
        bed.Mmio().ProcessOnDoorbell = false;
        var ex = Assert.Throws<CommandQueueTimeoutException>(bed.Instance().Sync, "stopped hardware: a timeout, not a hang");
        Assert.That(ex!.Command.Kind, Is.EqualTo(CommandKind.IofenceC), "names the fence");
    }

    [Test]
    public void AnIllegalCommandSurfacesAsAnExceptionNamingItAndTheQueueRecovers()
    {
        using var bed = new DriverBed();
        IommuInstance iommu = bed.Instance();
        var illegal = new Command(0x3F, 0); // reserved opcode 63
        iommu.Commands.Submit(illegal);
        var ex = Assert.Throws<CommandQueueException>(iommu.Sync, "cmd_ill reported");
        Assert.That((ex!.Command, ex.Error), Is.EqualTo((illegal, CommandQueueError.IllegalCommand)), "the failed command, cmd_ill");
        Assert.That(ex.Message, Does.Contain("cmd_ill").And.Contain("opcode=63"), "readable");
        Assert.That(new CqCsr(bed.Hardware().Read32(RegisterOffsets.Cqcsr)).CmdIll, Is.False, "cleared (RW1C)");
        Assert.DoesNotThrow(iommu.Sync, "the queue runs again");
    }

    [Test]
    public void AFenceWriteBackThatFaultsSurfacesAsCqmf()
    {
        using var bed = new DriverBed();
        IommuInstance iommu = bed.Instance();
        Command badFence = Command.IofenceC(true, false, false, false, 0x1000, 1); // outside memory
        iommu.Commands.Submit(badFence);
        var ex = Assert.Throws<CommandQueueException>(iommu.Sync, "cqmf reported");
        Assert.That((ex!.Command, ex.Error), Is.EqualTo((badFence, CommandQueueError.MemoryFault)), "the failed fence, cqmf");
        Assert.DoesNotThrow(iommu.Sync, "the queue runs again");
    }
}
