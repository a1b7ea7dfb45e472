namespace FastIommu.Driver;

/// <summary>
/// The IOMMU's 4 KiB register page as the driver reaches it: 32- and 64-bit reads and writes at the spec's offsets
/// (<see cref="Formats.RiscV.RegisterOffsets"/>). The driver touches the hardware only through this and memory, as a
/// guest kernel does. <see cref="InProcessMmio"/> forwards to the in-process device model; an emulator passes its own
/// (its bus), which must let the device run its command queue when <c>cqt</c> is written (the doorbell).
/// </summary>
public interface IIommuMmio
{
    /// <summary>Reads the 4-byte register (or half of an 8-byte one) at <paramref name="offset"/>.</summary>
    uint Read32(uint offset);

    /// <summary>Reads the 8-byte register at <paramref name="offset"/>.</summary>
    ulong Read64(uint offset);

    /// <summary>Writes the 4-byte register at <paramref name="offset"/>.</summary>
    void Write32(uint offset, uint value);

    /// <summary>Writes the 8-byte register at <paramref name="offset"/>.</summary>
    void Write64(uint offset, ulong value);
}
