using FastIommu.Diagnostics;
using FastIommu.Formats.RiscV;

namespace FastIommu.Hardware;

/// <summary>
/// The MSI configuration table (spec "MSI configuration table (msi_cfg_tbl)"), present unless capabilities.IGS is
/// WSI: 16 entries of <c>msi_addr_x</c> (8 B), <c>msi_data_x</c> (4 B), <c>msi_vec_ctl_x</c> (4 B), indexed by the
/// vector <c>icvec</c> gives each interrupt source.
/// </summary>
/// <remarks>
/// <code>
/// msi_addr:    63   56 55                          2 1 0      msi_vec_ctl: 31      1  0
///             +-------+-----------------------------+---+                 +---------+---+
///             | rsvd  |            ADDR             | 0 |                 |  rsvd   | M |
///             +-------+-----------------------------+---+                 +---------+---+
/// </code>
/// When fctl.WSI is 0 an ipsr bit going 0 → 1 sends msi_data_x to msi_addr_x as a 4-byte store, unless M is set:
/// then the message is pending and is sent when M is cleared.
/// </remarks>
internal sealed class MsiConfigTable
{
    public const int Entries = RegisterOffsets.MsiCfgTblEntries;
    public const ulong AddrMask = MsiConfigEntry.AddrMask;
    public const uint MaskBit = MsiConfigEntry.MaskBit;

    private readonly ulong[] _address = new ulong[Entries];
    private readonly uint[] _data = new uint[Entries];
    private readonly uint[] _control = new uint[Entries];
    private int _pending;

    public static bool IsAddress(uint offset) => InTable(offset) && (offset - RegisterOffsets.MsiCfgTbl) % 16 == 0;

    public static bool InTable(uint offset) => offset >= RegisterOffsets.MsiCfgTbl && offset < RegisterOffsets.Reserved1;

    private static int Index(uint offset) => (int)(offset - RegisterOffsets.MsiCfgTbl) / RegisterOffsets.MsiCfgTblEntrySize;

    public ulong ReadAddress(uint offset) => Volatile.Read(ref _address[Index(offset)]);

    public void WriteAddress(uint offset, ulong value) => Volatile.Write(ref _address[Index(offset)], value & AddrMask);

    /// <summary>msi_data_x at +8, msi_vec_ctl_x at +12.</summary>
    public uint ReadNarrow(uint offset) => (offset - RegisterOffsets.MsiCfgTbl) % 16 == 8
        ? Volatile.Read(ref _data[Index(offset)])
        : Volatile.Read(ref _control[Index(offset)]);

    /// <summary>Writes msi_data_x or msi_vec_ctl_x; returns the vector whose pending message must now be sent
    /// (M cleared while a message was pending), or -1.</summary>
    /// <remarks>Runs under the device lock, racing <see cref="TryTakeMessage"/> on translation threads: the control
    /// value is stored before the pending bit is taken (the <c>Interlocked.And</c> is a full fence), and
    /// <see cref="TryTakeMessage"/> sets the pending bit before it reads the mask again, so a message raised while
    /// M was being cleared is seen by at least one side, and the atomic take of the pending bit lets exactly one
    /// side send it.</remarks>
    public int WriteNarrow(uint offset, uint value)
    {
        int index = Index(offset);
        if ((offset - RegisterOffsets.MsiCfgTbl) % 16 == 8)
        {
            Volatile.Write(ref _data[index], value);
            return -1;
        }

        Volatile.Write(ref _control[index], value & MaskBit);

        // msi_vec_ctl_x is written, the pending bit not yet taken (tests hold an unmask write here).
        if (Interleaving.Enabled)
        {
            Interleaving.Reach("Msi.Unmasked");
        }

        if ((value & MaskBit) == 0 && TakePending(index))
        {
            return index;
        }

        return -1;
    }

    /// <summary>The message for <paramref name="vector"/>, or false when it is masked (it is then left pending for the
    /// unmask write to send) or when a racing unmask write took it.</summary>
    public bool TryTakeMessage(int vector, out ulong address, out uint data)
    {
        if ((Volatile.Read(ref _control[vector]) & MaskBit) != 0)
        {
            // Masked: the message is pending. Held here, a translation thread has read M = 1 and not yet said so.
            if (Interleaving.Enabled)
            {
                Interleaving.Reach("Msi.MaskSeen");
            }

            Interlocked.Or(ref _pending, 1 << vector);

            // Pending is set (a full fence), M not yet read again (tests hold a translation thread here).
            if (Interleaving.Enabled)
            {
                Interleaving.Reach("Msi.PendingSet");
            }

            // An unmask write that ran since the first read did not see the pending bit, or is about to take it:
            // whoever takes the bit sends the message.
            if ((Volatile.Read(ref _control[vector]) & MaskBit) != 0 || !TakePending(vector))
            {
                address = 0;
                data = 0;
                return false;
            }
        }

        address = Volatile.Read(ref _address[vector]);
        data = Volatile.Read(ref _data[vector]);
        return true;
    }

    /// <summary>Clears <paramref name="vector"/>'s pending bit; true when this call cleared it.</summary>
    private bool TakePending(int vector) => (Interlocked.And(ref _pending, ~(1 << vector)) & (1 << vector)) != 0;
}
