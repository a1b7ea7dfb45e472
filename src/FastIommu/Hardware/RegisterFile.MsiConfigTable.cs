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
    public int WriteNarrow(uint offset, uint value)
    {
        int index = Index(offset);
        if ((offset - RegisterOffsets.MsiCfgTbl) % 16 == 8)
        {
            Volatile.Write(ref _data[index], value);
            return -1;
        }

        Volatile.Write(ref _control[index], value & MaskBit);
        if ((value & MaskBit) == 0 && (Interlocked.And(ref _pending, ~(1 << index)) & (1 << index)) != 0)
        {
            return index;
        }

        return -1;
    }

    /// <summary>The message for <paramref name="vector"/>, or false when it is masked (it is then left pending).</summary>
    public bool TryTakeMessage(int vector, out ulong address, out uint data)
    {
        address = Volatile.Read(ref _address[vector]);
        data = Volatile.Read(ref _data[vector]);
        if ((Volatile.Read(ref _control[vector]) & MaskBit) != 0)
        {
            Interlocked.Or(ref _pending, 1 << vector);
            return false;
        }

        return true;
    }
}
