using System.Runtime.InteropServices;

namespace FastIommu.Formats.RiscV;

/// <summary>
/// A command-queue entry: 16 bytes, two 64-bit doublewords. IOMMU spec, "Command-Queue (CQ)" and its
/// per-command figures. Static builders encode, properties decode (each decoder reads its bits whatever
/// the opcode; use the one that fits <see cref="Kind"/>).
/// </summary>
/// <remarks>
/// <code>
/// all:            dword0  9:7 func3 | 6:0 opcode
///
/// IOTINVAL (1)    dword0  63:60 rsvd | 59:44 GSCID | 43:34 rsvd | 33 GV | 32 PSCV | 31:12 PSCID | 11 rsvd | 10 AV
///  func3 0 VMA    dword1  63:62 rsvd | 61:10 ADDR[63:12] | 9:0 rsvd
///  func3 1 GVMA   (PSCV = 1 is illegal)
///
/// IOFENCE (2)     dword0  63:32 DATA | 31:14 rsvd | 13 PW | 12 PR | 11 WSI | 10 AV
///  func3 0 C      dword1  63:62 rsvd | 61:0 ADDR[63:2]
///
/// IODIR (3)       dword0  63:40 DID | 39:34 rsvd | 33 DV | 32 rsvd | 31:12 PID | 11:10 rsvd
///  func3 0 INVAL_DDT (PID reserved), 1 INVAL_PDT (DV must be 1)
///                 dword1  63:0 rsvd
///
/// ATS (4)         dword0  63:56 DSEG | 55:40 RID | 39:34 rsvd | 33 DSV | 32 PV | 31:12 PID | 11:10 rsvd
///  func3 0 INVAL  dword1  63:12 Untranslated Address[63:12] | 11 S | 10:1 zero | 0 G
///  func3 1 PRGR   dword1  63:48 zero | 47:44 Response Code | 43:41 zero | 40:32 PRG Index | 31:0 zero
/// </code>
/// Opcodes 5-63 are reserved, 64-127 custom. A reserved encoding or a set reserved bit makes a command
/// illegal (cqcsr.cmd_ill): <see cref="IsIllegal"/>.
/// </remarks>
[StructLayout(LayoutKind.Sequential, Size = 16)]
public readonly struct Command : IEquatable<Command>
{
    public const int Size = 16;

    // dword0, common
    public const int OpcodeShift = 0;
    public const int OpcodeBits = 7;
    public const int Func3Shift = OpcodeShift + OpcodeBits; // 7
    public const int Func3Bits = 3;
    public const int OperandShift = Func3Shift + Func3Bits; // 10

    // dword0, IOTINVAL
    public const int AvBit = OperandShift;                 // 10
    public const int IotinvalReserved0Bit = AvBit + 1;     // 11
    public const int PscidShift = IotinvalReserved0Bit + 1; // 12
    public const int PscidBits = 20;
    public const int PscvBit = PscidShift + PscidBits;     // 32
    public const int GvBit = PscvBit + 1;                  // 33
    public const int IotinvalReserved1Shift = GvBit + 1;   // 34
    public const int IotinvalReserved1Bits = 10;
    public const int GscidShift = IotinvalReserved1Shift + IotinvalReserved1Bits; // 44
    public const int GscidBits = 16;
    public const int IotinvalReserved2Shift = GscidShift + GscidBits; // 60
    public const int IotinvalReserved2Bits = 4;

    // dword1, IOTINVAL
    public const int IotinvalAddrShift = 10;               // ADDR[63:12] at dword1 61:10
    public const int IotinvalAddrBits = 52;

    // dword0, IOFENCE
    public const int WsiBit = AvBit + 1;                   // 11
    public const int PrBit = WsiBit + 1;                   // 12
    public const int PwBit = PrBit + 1;                    // 13
    public const int IofenceReservedShift = PwBit + 1;     // 14
    public const int IofenceReservedBits = 18;
    public const int DataShift = IofenceReservedShift + IofenceReservedBits; // 32
    public const int DataBits = 32;

    // dword1, IOFENCE
    public const int FenceAddrShift = 0;                   // ADDR[63:2] at dword1 61:0
    public const int FenceAddrBits = 62;

    // dword0, IODIR and ATS
    public const int DirReservedShift = OperandShift;      // 10
    public const int DirReservedBits = 2;
    public const int PidShift = DirReservedShift + DirReservedBits; // 12
    public const int PidBits = 20;
    public const int PvBit = PidShift + PidBits;           // 32 (ATS: PV; IODIR: reserved)
    public const int DvBit = PvBit + 1;                    // 33 (IODIR: DV; ATS: DSV)
    public const int DsvBit = DvBit;
    public const int DirReserved1Shift = DvBit + 1;        // 34
    public const int DirReserved1Bits = 6;
    public const int DidShift = DirReserved1Shift + DirReserved1Bits; // 40
    public const int DidBits = 24;
    public const int RidShift = DidShift;                  // 40
    public const int RidBits = 16;
    public const int DsegShift = RidShift + RidBits;       // 56
    public const int DsegBits = 8;

    // dword1, ATS.INVAL payload
    public const int AtsGBit = 0;
    public const int AtsInvalZeroShift = AtsGBit + 1;      // 1
    public const int AtsInvalZeroBits = 10;
    public const int AtsSBit = AtsInvalZeroShift + AtsInvalZeroBits; // 11
    public const int AtsAddressShift = AtsSBit + 1;        // 12

    // dword1, ATS.PRGR payload
    public const int PrgIndexShift = 32;
    public const int PrgIndexBits = 9;
    public const int PrgrZero1Shift = PrgIndexShift + PrgIndexBits; // 41
    public const int PrgrZero1Bits = 3;
    public const int ResponseCodeShift = PrgrZero1Shift + PrgrZero1Bits; // 44
    public const int ResponseCodeBits = 4;
    public const int PrgrZero2Shift = ResponseCodeShift + ResponseCodeBits; // 48

    public const ulong OpcodeMask = ((1UL << OpcodeBits) - 1) << OpcodeShift;
    public const ulong Func3Mask = ((1UL << Func3Bits) - 1) << Func3Shift;
    public const ulong AvMask = 1UL << AvBit;
    public const ulong WsiMask = 1UL << WsiBit;
    public const ulong PrMask = 1UL << PrBit;
    public const ulong PwMask = 1UL << PwBit;
    public const ulong PscidMask = ((1UL << PscidBits) - 1) << PscidShift;
    public const ulong PidMask = ((1UL << PidBits) - 1) << PidShift;
    public const ulong PscvMask = 1UL << PscvBit;
    public const ulong PvMask = 1UL << PvBit;
    public const ulong GvMask = 1UL << GvBit;
    public const ulong DvMask = 1UL << DvBit;
    public const ulong DsvMask = 1UL << DsvBit;
    public const ulong GscidMask = ((1UL << GscidBits) - 1) << GscidShift;
    public const ulong DataMask = unchecked(((1UL << DataBits) - 1) << DataShift);
    public const ulong DidMask = ((1UL << DidBits) - 1) << DidShift;
    public const ulong RidMask = ((1UL << RidBits) - 1) << RidShift;
    public const ulong DsegMask = ((1UL << DsegBits) - 1) << DsegShift;
    public const ulong IotinvalAddrMask = ((1UL << IotinvalAddrBits) - 1) << IotinvalAddrShift;
    public const ulong FenceAddrMask = ((1UL << FenceAddrBits) - 1) << FenceAddrShift;
    public const ulong AtsGMask = 1UL << AtsGBit;
    public const ulong AtsSMask = 1UL << AtsSBit;
    public const ulong AtsAddressMask = ~0UL << AtsAddressShift;
    public const ulong PrgIndexMask = ((1UL << PrgIndexBits) - 1) << PrgIndexShift;
    public const ulong ResponseCodeMask = ((1UL << ResponseCodeBits) - 1) << ResponseCodeShift;

    /// <summary>Reserved bits of dword0 / dword1 for IOTINVAL.VMA and .GVMA: 11, 43:34, 63:60 / 9:0, 63:62.</summary>
    public const ulong IotinvalReserved0Mask = (1UL << IotinvalReserved0Bit)
        | (((1UL << IotinvalReserved1Bits) - 1) << IotinvalReserved1Shift)
        | (((1UL << IotinvalReserved2Bits) - 1) << IotinvalReserved2Shift);
    public const ulong IotinvalReserved1Mask = ((1UL << IotinvalAddrShift) - 1) | (3UL << 62);
    /// <summary>Reserved bits of dword0 / dword1 for IOFENCE.C: 31:14 / 63:62.</summary>
    public const ulong IofenceReserved0Mask = ((1UL << IofenceReservedBits) - 1) << IofenceReservedShift;
    public const ulong IofenceReserved1Mask = 3UL << 62;
    /// <summary>Reserved bits of dword0 for IODIR: 11:10, 32, 39:34 (plus PID 31:12 for INVAL_DDT); all of dword1.</summary>
    public const ulong IodirReserved0Mask = (((1UL << DirReservedBits) - 1) << DirReservedShift) | PvMask
        | (((1UL << DirReserved1Bits) - 1) << DirReserved1Shift);
    public const ulong IodirReserved1Mask = ~0UL;
    /// <summary>Reserved bits of dword0 for ATS: 11:10, 39:34.</summary>
    public const ulong AtsReserved0Mask = (((1UL << DirReservedBits) - 1) << DirReservedShift)
        | (((1UL << DirReserved1Bits) - 1) << DirReserved1Shift);
    /// <summary>Zero bits of the ATS.INVAL payload: 10:1.</summary>
    public const ulong AtsInvalReserved1Mask = ((1UL << AtsInvalZeroBits) - 1) << AtsInvalZeroShift;
    /// <summary>Zero bits of the ATS.PRGR payload: 31:0, 43:41, 63:48.</summary>
    public const ulong AtsPrgrReserved1Mask = 0xFFFF_FFFFUL | (((1UL << PrgrZero1Bits) - 1) << PrgrZero1Shift) | (~0UL << PrgrZero2Shift);

    public const uint Func3IotinvalVma = 0;
    public const uint Func3IotinvalGvma = 1;
    public const uint Func3IofenceC = 0;
    public const uint Func3IodirInvalDdt = 0;
    public const uint Func3IodirInvalPdt = 1;
    public const uint Func3AtsInval = 0;
    public const uint Func3AtsPrgr = 1;

    /// <summary>Doubleword 0: opcode, func3 and the operands.</summary>
    public readonly ulong Dword0;
    /// <summary>Doubleword 1: address or payload.</summary>
    public readonly ulong Dword1;

    public Command(ulong dword0, ulong dword1)
    {
        Dword0 = dword0;
        Dword1 = dword1;
    }

    private static ulong Header(CommandOpcode opcode, uint func3) =>
        (((ulong)opcode << OpcodeShift) & OpcodeMask) | (((ulong)func3 << Func3Shift) & Func3Mask);

    private static ulong Flag(bool on, ulong mask) => on ? mask : 0;

    // ---------------------------------------------------------------- builders

    /// <summary>IOTINVAL.VMA: invalidate first-stage (VMA) translations. <paramref name="address"/> is an IOVA;
    /// its bits 63:12 go to dword1 61:10. Every operand is masked to its field.</summary>
    public static Command IotinvalVma(bool gv, uint gscid, bool pscv, uint pscid, bool av, ulong address) => new(
        Header(CommandOpcode.Iotinval, Func3IotinvalVma) | Flag(av, AvMask) | (((ulong)pscid << PscidShift) & PscidMask)
            | Flag(pscv, PscvMask) | Flag(gv, GvMask) | (((ulong)gscid << GscidShift) & GscidMask),
        av ? ((address >> 12) << IotinvalAddrShift) & IotinvalAddrMask : 0);

    /// <summary>IOTINVAL.GVMA: invalidate G-stage translations; <paramref name="address"/> is a GPA.</summary>
    public static Command IotinvalGvma(bool gv, uint gscid, bool av, ulong address) => new(
        Header(CommandOpcode.Iotinval, Func3IotinvalGvma) | Flag(av, AvMask) | Flag(gv, GvMask)
            | (((ulong)gscid << GscidShift) & GscidMask),
        av ? ((address >> 12) << IotinvalAddrShift) & IotinvalAddrMask : 0);

    /// <summary>IOFENCE.C. With <paramref name="av"/>, <paramref name="data"/> is written as 4 bytes to
    /// <paramref name="address"/> (4-byte aligned; bits 1:0 are dropped) on completion.</summary>
    public static Command IofenceC(bool av, bool wsi, bool pr, bool pw, ulong address = 0, uint data = 0) => new(
        Header(CommandOpcode.Iofence, Func3IofenceC) | Flag(av, AvMask) | Flag(wsi, WsiMask) | Flag(pr, PrMask)
            | Flag(pw, PwMask) | ((ulong)data << DataShift),
        (address >> 2) & FenceAddrMask);

    /// <summary>IODIR.INVAL_DDT: <paramref name="dv"/> = false invalidates every cached DDT and PDT entry.</summary>
    public static Command IodirInvalDdt(bool dv, uint deviceId) => new(
        Header(CommandOpcode.Iodir, Func3IodirInvalDdt) | Flag(dv, DvMask) | (((ulong)deviceId << DidShift) & DidMask),
        0);

    /// <summary>IODIR.INVAL_PDT for (<paramref name="deviceId"/>, <paramref name="processId"/>); DV is 1.</summary>
    public static Command IodirInvalPdt(uint deviceId, uint processId) => new(
        Header(CommandOpcode.Iodir, Func3IodirInvalPdt) | (((ulong)processId << PidShift) & PidMask) | DvMask
            | (((ulong)deviceId << DidShift) & DidMask),
        0);

    /// <summary>ATS.INVAL: send an Invalidation Request to <paramref name="rid"/>. The payload holds G (bit 0),
    /// S (bit 11) and Untranslated Address[63:12].</summary>
    public static Command AtsInval(ushort rid, bool pv, uint pid, bool dsv, byte dseg, bool global, bool s, ulong untranslatedAddress) => new(
        AtsDword0(Func3AtsInval, rid, pv, pid, dsv, dseg),
        Flag(global, AtsGMask) | Flag(s, AtsSMask) | (untranslatedAddress & AtsAddressMask));

    /// <summary>ATS.PRGR: send a Page Request Group Response to <paramref name="rid"/>.</summary>
    public static Command AtsPrgr(ushort rid, bool pv, uint pid, bool dsv, byte dseg, uint prgIndex, uint responseCode) => new(
        AtsDword0(Func3AtsPrgr, rid, pv, pid, dsv, dseg),
        (((ulong)prgIndex << PrgIndexShift) & PrgIndexMask) | (((ulong)responseCode << ResponseCodeShift) & ResponseCodeMask));

    private static ulong AtsDword0(uint func3, ushort rid, bool pv, uint pid, bool dsv, byte dseg) =>
        Header(CommandOpcode.Ats, func3) | (((ulong)pid << PidShift) & PidMask) | Flag(pv, PvMask) | Flag(dsv, DsvMask)
            | ((ulong)rid << RidShift) | ((ulong)dseg << DsegShift);

    // ---------------------------------------------------------------- decoders

    /// <summary>opcode, dword0 6:0.</summary>
    public CommandOpcode Opcode => (CommandOpcode)((Dword0 & OpcodeMask) >> OpcodeShift);
    /// <summary>func3, dword0 9:7.</summary>
    public uint Func3 => (uint)((Dword0 & Func3Mask) >> Func3Shift);

    /// <summary>The command by (opcode, func3), or <see cref="CommandKind.Unknown"/>.</summary>
    /// <remarks>One switch over dword0 9:0 (func3 and opcode together), which compiles to a jump table; the command
    /// queue decodes every command with it.</remarks>
    public CommandKind Kind => (Dword0 & (Func3Mask | OpcodeMask)) switch
    {
        (Func3IotinvalVma << Func3Shift) | (ulong)CommandOpcode.Iotinval => CommandKind.IotinvalVma,
        (Func3IotinvalGvma << Func3Shift) | (ulong)CommandOpcode.Iotinval => CommandKind.IotinvalGvma,
        (Func3IofenceC << Func3Shift) | (ulong)CommandOpcode.Iofence => CommandKind.IofenceC,
        (Func3IodirInvalDdt << Func3Shift) | (ulong)CommandOpcode.Iodir => CommandKind.IodirInvalDdt,
        (Func3IodirInvalPdt << Func3Shift) | (ulong)CommandOpcode.Iodir => CommandKind.IodirInvalPdt,
        (Func3AtsInval << Func3Shift) | (ulong)CommandOpcode.Ats => CommandKind.AtsInval,
        (Func3AtsPrgr << Func3Shift) | (ulong)CommandOpcode.Ats => CommandKind.AtsPrgr,
        _ => CommandKind.Unknown,
    };

    /// <summary>AV, dword0 bit 10 (IOTINVAL, IOFENCE).</summary>
    public bool Av => (Dword0 & AvMask) != 0;
    /// <summary>WSI, dword0 bit 11 (IOFENCE).</summary>
    public bool Wsi => (Dword0 & WsiMask) != 0;
    /// <summary>PR, dword0 bit 12 (IOFENCE).</summary>
    public bool Pr => (Dword0 & PrMask) != 0;
    /// <summary>PW, dword0 bit 13 (IOFENCE).</summary>
    public bool Pw => (Dword0 & PwMask) != 0;
    /// <summary>DATA, dword0 63:32 (IOFENCE).</summary>
    public uint Data => (uint)(Dword0 >> DataShift);
    /// <summary>PSCID, dword0 31:12 (IOTINVAL).</summary>
    public uint Pscid => (uint)((Dword0 & PscidMask) >> PscidShift);
    /// <summary>PSCV, dword0 bit 32 (IOTINVAL).</summary>
    public bool Pscv => (Dword0 & PscvMask) != 0;
    /// <summary>GV, dword0 bit 33 (IOTINVAL).</summary>
    public bool Gv => (Dword0 & GvMask) != 0;
    /// <summary>GSCID, dword0 59:44 (IOTINVAL).</summary>
    public uint Gscid => (uint)((Dword0 & GscidMask) >> GscidShift);
    /// <summary>IOTINVAL ADDR: dword1 61:10 as address bits 63:12 (the page address; low 12 bits zero).</summary>
    public ulong Address => ((Dword1 & IotinvalAddrMask) >> IotinvalAddrShift) << 12;
    /// <summary>IOFENCE.C ADDR: dword1 61:0 as address bits 63:2.</summary>
    public ulong FenceAddress => (Dword1 & FenceAddrMask) << 2;
    /// <summary>PID, dword0 31:12 (IODIR, ATS).</summary>
    public uint Pid => (uint)((Dword0 & PidMask) >> PidShift);
    /// <summary>PV, dword0 bit 32 (ATS).</summary>
    public bool Pv => (Dword0 & PvMask) != 0;
    /// <summary>DV, dword0 bit 33 (IODIR).</summary>
    public bool Dv => (Dword0 & DvMask) != 0;
    /// <summary>DSV, dword0 bit 33 (ATS).</summary>
    public bool Dsv => (Dword0 & DsvMask) != 0;
    /// <summary>DID, dword0 63:40 (IODIR).</summary>
    public uint Did => (uint)((Dword0 & DidMask) >> DidShift);
    /// <summary>RID, dword0 55:40 (ATS).</summary>
    public ushort Rid => (ushort)((Dword0 & RidMask) >> RidShift);
    /// <summary>DSEG, dword0 63:56 (ATS).</summary>
    public byte Dseg => (byte)((Dword0 & DsegMask) >> DsegShift);
    /// <summary>PAYLOAD: dword1 (ATS).</summary>
    public ulong Payload => Dword1;
    /// <summary>ATS.INVAL payload G, bit 0.</summary>
    public bool AtsGlobal => (Dword1 & AtsGMask) != 0;
    /// <summary>ATS.INVAL payload S, bit 11.</summary>
    public bool AtsS => (Dword1 & AtsSMask) != 0;
    /// <summary>ATS.INVAL payload Untranslated Address[63:12].</summary>
    public ulong AtsAddress => Dword1 & AtsAddressMask;
    /// <summary>ATS.PRGR payload Page Request Group Index, bits 40:32.</summary>
    public uint PrgIndex => (uint)((Dword1 & PrgIndexMask) >> PrgIndexShift);
    /// <summary>ATS.PRGR payload Response Code, bits 47:44.</summary>
    public uint ResponseCode => (uint)((Dword1 & ResponseCodeMask) >> ResponseCodeShift);

    /// <summary>Reserved bits of (dword0, dword1) for this command's kind; all bits above func3 for an unknown one.</summary>
    public (ulong Dword0, ulong Dword1) ReservedMask => Kind switch
    {
        CommandKind.IotinvalVma or CommandKind.IotinvalGvma => (IotinvalReserved0Mask, IotinvalReserved1Mask),
        CommandKind.IofenceC => (IofenceReserved0Mask, IofenceReserved1Mask),
        CommandKind.IodirInvalDdt => (IodirReserved0Mask | PidMask, IodirReserved1Mask),
        CommandKind.IodirInvalPdt => (IodirReserved0Mask, IodirReserved1Mask),
        CommandKind.AtsInval => (AtsReserved0Mask, AtsInvalReserved1Mask),
        CommandKind.AtsPrgr => (AtsReserved0Mask, AtsPrgrReserved1Mask),
        _ => (~0UL << OperandShift, ~0UL),
    };

    public bool HasReservedBitsSet
    {
        get
        {
            var (r0, r1) = ReservedMask;
            return (Dword0 & r0) != 0 || (Dword1 & r1) != 0;
        }
    }

    /// <summary>
    /// The command sets cqcsr.cmd_ill: an undefined (opcode, func3), a set reserved bit, PSCV = 1 in
    /// IOTINVAL.GVMA, or DV = 0 in IODIR.INVAL_PDT. (WSI = 1 when fctl.WSI = 0 and ATS commands without
    /// capabilities.ATS depend on the IOMMU and are checked by the device model.)
    /// </summary>
    public bool IsIllegal => Kind switch
    {
        CommandKind.Unknown => true,
        CommandKind.IotinvalGvma when Pscv => true,
        CommandKind.IodirInvalPdt when !Dv => true,
        _ => HasReservedBitsSet,
    };

    public bool Equals(Command other) => Dword0 == other.Dword0 && Dword1 == other.Dword1;
    public override bool Equals(object? obj) => obj is Command other && Equals(other);
    public override int GetHashCode() => HashCode.Combine(Dword0, Dword1);
    public static bool operator ==(Command left, Command right) => left.Equals(right);
    public static bool operator !=(Command left, Command right) => !left.Equals(right);

    public override string ToString()
    {
        string raw = $"[0x{Dword0:x16} 0x{Dword1:x16}]";
        string body = Kind switch
        {
            CommandKind.IotinvalVma => $"IOTINVAL.VMA av={B(Av)} addr=0x{Address:x} pscv={B(Pscv)} pscid=0x{Pscid:x} gv={B(Gv)} gscid=0x{Gscid:x}",
            CommandKind.IotinvalGvma => $"IOTINVAL.GVMA av={B(Av)} addr=0x{Address:x} gv={B(Gv)} gscid=0x{Gscid:x}",
            CommandKind.IofenceC => $"IOFENCE.C av={B(Av)} wsi={B(Wsi)} pr={B(Pr)} pw={B(Pw)} addr=0x{FenceAddress:x} data=0x{Data:x}",
            CommandKind.IodirInvalDdt => $"IODIR.INVAL_DDT dv={B(Dv)} did=0x{Did:x}",
            CommandKind.IodirInvalPdt => $"IODIR.INVAL_PDT dv={B(Dv)} did=0x{Did:x} pid=0x{Pid:x}",
            CommandKind.AtsInval => $"ATS.INVAL rid=0x{Rid:x} pv={B(Pv)} pid=0x{Pid:x} dsv={B(Dsv)} dseg=0x{Dseg:x} g={B(AtsGlobal)} s={B(AtsS)} addr=0x{AtsAddress:x}",
            CommandKind.AtsPrgr => $"ATS.PRGR rid=0x{Rid:x} pv={B(Pv)} pid=0x{Pid:x} dsv={B(Dsv)} dseg=0x{Dseg:x} prgi=0x{PrgIndex:x} rc=0x{ResponseCode:x}",
            _ => $"opcode={(uint)Opcode} func3={Func3} (unknown)",
        };
        return $"{body}{(IsIllegal ? " ILLEGAL" : "")} {raw}";
    }

    private static char B(bool b) => b ? '1' : '0';
}

/// <summary>Command opcodes (dword0 6:0). 5-63 reserved, 64-127 custom.</summary>
public enum CommandOpcode : byte
{
    /// <summary>1: page-table cache invalidation (IOTINVAL.VMA / .GVMA).</summary>
    Iotinval = 1,
    /// <summary>2: command-queue fence (IOFENCE.C).</summary>
    Iofence = 2,
    /// <summary>3: directory cache invalidation (IODIR.INVAL_DDT / INVAL_PDT).</summary>
    Iodir = 3,
    /// <summary>4: PCIe ATS (ATS.INVAL / ATS.PRGR).</summary>
    Ats = 4,
}

/// <summary>The seven commands of v1.0, by (opcode, func3).</summary>
public enum CommandKind : byte
{
    Unknown = 0,
    IotinvalVma,
    IotinvalGvma,
    IofenceC,
    IodirInvalDdt,
    IodirInvalPdt,
    AtsInval,
    AtsPrgr,
}
