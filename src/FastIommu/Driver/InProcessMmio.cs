using FastIommu.Formats.RiscV;
using FastIommu.Hardware;

namespace FastIommu.Driver;

/// <summary>
/// <see cref="IIommuMmio"/> over an in-process <see cref="RiscVIommu"/>: each access goes to the device's register
/// page. When the driver rings the doorbell (writes <c>cqt</c>) or restarts the queue (writes <c>cqcsr</c>), the device
/// runs its command queue before the write returns, as an emulator's device thread would (the device does it itself
/// with <see cref="IommuOptions.ProcessCommandsOnTailWrite"/>; this covers a device built without it).
/// </summary>
public sealed class InProcessMmio : IIommuMmio
{
    private volatile bool _processOnDoorbell = true;

    /// <summary>Forwards to <paramref name="device"/>.</summary>
    public InProcessMmio(RiscVIommu device)
    {
        ArgumentNullException.ThrowIfNull(device);
        Device = device;
    }

    /// <summary>The device behind the register page.</summary>
    public RiscVIommu Device { get; }

    /// <summary>True (the default): a doorbell makes the device process its queue. False models a stopped device
    /// (one built with <see cref="IommuOptions.ProcessCommandsOnTailWrite"/> false then never runs its queue).</summary>
    public bool ProcessOnDoorbell
    {
        get => _processOnDoorbell;
        set => _processOnDoorbell = value;
    }

    /// <inheritdoc/>
    public uint Read32(uint offset) => Device.Read32(offset);

    /// <inheritdoc/>
    public ulong Read64(uint offset) => Device.Read64(offset);

    /// <inheritdoc/>
    public void Write32(uint offset, uint value)
    {
        Device.Write32(offset, value);
        // A device that processes on the tail write has already run the queue under that write's lock.
        if ((offset == RegisterOffsets.Cqt || offset == RegisterOffsets.Cqcsr) && _processOnDoorbell
            && !Device.ProcessesCommandsOnTailWrite)
        {
            Device.ProcessCommands();
        }
    }

    /// <inheritdoc/>
    public void Write64(uint offset, ulong value) => Device.Write64(offset, value);
}
