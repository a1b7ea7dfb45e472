using FastIommu.Diagnostics;
using FastIommu.Formats.RiscV;

namespace FastIommu.Driver;

// Device-context updates, in the order of Linux's riscv_iommu_iodir_update and the spec's "Changing device
// directory table entry".
public sealed partial class IommuInstance
{
    /// <summary>The device context of <paramref name="device"/> as it is in memory (its first four doublewords).</summary>
    public DeviceContext ReadDeviceContext(IommuDevice device)
    {
        ArgumentNullException.ThrowIfNull(device);
        return ReadContext(device.ContextAddress);
    }

    private DeviceContext ReadContext(ulong dc) => new(
        new DeviceContextTc(Volatile.Read(ref _memory.Qword(dc + DeviceContext.TcOffset))),
        new Iohgatp(Volatile.Read(ref _memory.Qword(dc + DeviceContext.IohgatpOffset))),
        new DeviceContextTa(Volatile.Read(ref _memory.Qword(dc + DeviceContext.TaOffset))),
        Volatile.Read(ref _memory.Qword(dc + DeviceContext.FscOffset)));

    /// <summary>
    /// Writes <paramref name="image"/> into the device context of <paramref name="deviceId"/> at <paramref name="dc"/>.
    /// A live context is first made invalid: clear tc.V → IODIR.INVAL_DDT (+ the IOTINVALs the spec asks for the
    /// old context) → IOFENCE.C; then the fields; then tc with V last → IODIR.INVAL_DDT → IOFENCE.C.
    /// </summary>
    /// <remarks>Between the two fences the device's requests fault with cause 258 (context not valid), as on
    /// hardware under Linux; no request ever sees a mix of old and new fields. The extended format's MSI fields are
    /// written Off/zero (MSI translation is not configured by this driver).</remarks>
    internal void WriteContext(uint deviceId, ulong dc, in ContextImage image)
    {
        DeviceContext old = ReadContext(dc);
        Span<Command> commands = stackalloc Command[3];
        if (old.Valid)
        {
            Volatile.Write(ref _memory.Qword(dc + DeviceContext.TcOffset), old.Tc.WithV(false).Value);
            Interlocked.MemoryBarrier(); // V clear is visible before the invalidation is fetched
            int n = 0;
            commands[n++] = Command.IodirInvalDdt(dv: true, deviceId);
            n += OldContextInvalidations(old, commands[n..]);
            _commands.WaitFence(_commands.SubmitWithFence(commands[..n]));
            if (Interleaving.Enabled)
            {
                Interleaving.Reach("Driver.ContextCleared"); // V is 0 and no cache holds the old context
            }
        }

        // The context is not valid: the hardware neither uses nor caches it, so the fields may be written plainly.
        Volatile.Write(ref _memory.Qword(dc + DeviceContext.IohgatpOffset), image.Iohgatp.Value);
        Volatile.Write(ref _memory.Qword(dc + DeviceContext.TaOffset), image.Ta.Value);
        Volatile.Write(ref _memory.Qword(dc + DeviceContext.FscOffset), image.Fsc);
        if (_directory.Extended)
        {
            for (int offset = ExtendedDeviceContext.MsiptpOffset; offset < ExtendedDeviceContext.Size; offset += 8)
            {
                Volatile.Write(ref _memory.Qword(dc + (ulong)offset), 0);
            }
        }

        if (!image.Valid)
        {
            Volatile.Write(ref _memory.Qword(dc + DeviceContext.TcOffset), image.Tc.Value);
            return;
        }

        Interlocked.MemoryBarrier(); // the fields before V (Linux: dma_wmb())
        Volatile.Write(ref _memory.Qword(dc + DeviceContext.TcOffset), image.Tc.Value);
        Interlocked.MemoryBarrier();
        commands[0] = Command.IodirInvalDdt(dv: true, deviceId);
        _commands.WaitFence(_commands.SubmitWithFence(commands[..1]));
    }

    /// <summary>The IOTINVALs the spec's "Changing device directory table entry" asks for, from the old values:
    /// G-stage → VMA and GVMA of its GSCID; else PDTV → every VMA; else a first stage → VMA of its PSCID.</summary>
    private static int OldContextInvalidations(in DeviceContext old, Span<Command> into)
    {
        if (!old.Iohgatp.IsBare)
        {
            into[0] = Command.IotinvalVma(gv: true, old.Iohgatp.Gscid, pscv: false, 0, av: false, 0);
            into[1] = Command.IotinvalGvma(gv: true, old.Iohgatp.Gscid, av: false, 0);
            return 2;
        }

        if (old.Tc.Pdtv)
        {
            into[0] = Command.IotinvalVma(gv: false, 0, pscv: false, 0, av: false, 0);
            return 1;
        }

        if (!old.FscAsIosatp.IsBare)
        {
            into[0] = Command.IotinvalVma(gv: false, 0, pscv: true, old.Ta.Pscid, av: false, 0);
            return 1;
        }

        return 0;
    }
}
