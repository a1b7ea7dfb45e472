namespace FastIommu.Formats.RiscV;

/// <summary>
/// Fault record CAUSE encodings: every row of the IOMMU spec's table FAULT_CAUSE. 275-2047 are reserved,
/// 2048-4095 custom; values below 275 not listed are reserved.
/// </summary>
public enum FaultCause : ushort
{
    /// <summary>0: not a spec cause (reserved encoding); used by this library to mean "no fault".</summary>
    None = 0,
    InstructionAccessFault = 1,
    ReadAddressMisaligned = 4,
    ReadAccessFault = 5,
    /// <summary>6: Write/AMO address misaligned.</summary>
    WriteAddressMisaligned = 6,
    /// <summary>7: Write/AMO access fault.</summary>
    WriteAccessFault = 7,
    InstructionPageFault = 12,
    ReadPageFault = 13,
    /// <summary>15: Write/AMO page fault.</summary>
    WritePageFault = 15,
    InstructionGuestPageFault = 20,
    ReadGuestPageFault = 21,
    /// <summary>23: Write/AMO guest-page fault.</summary>
    WriteGuestPageFault = 23,
    AllInboundTransactionsDisallowed = 256,
    DdtEntryLoadAccessFault = 257,
    DdtEntryNotValid = 258,
    DdtEntryMisconfigured = 259,
    TransactionTypeDisallowed = 260,
    MsiPteLoadAccessFault = 261,
    MsiPteNotValid = 262,
    MsiPteMisconfigured = 263,
    MrifAccessFault = 264,
    PdtEntryLoadAccessFault = 265,
    PdtEntryNotValid = 266,
    PdtEntryMisconfigured = 267,
    DdtDataCorruption = 268,
    PdtDataCorruption = 269,
    MsiPtDataCorruption = 270,
    MsiMrifDataCorruption = 271,
    InternalDataPathError = 272,
    IommuMsiWriteAccessFault = 273,
    /// <summary>274: First/second-stage PT data corruption.</summary>
    PtDataCorruption = 274,
}

/// <summary>Facts from the FAULT_CAUSE table.</summary>
public static class FaultCauses
{
    /// <summary>Width of the CAUSE field.</summary>
    public const int CauseBits = 12;

    /// <summary>The "Reported if DTF is 1?" column: true for 256-259, 268, 272 and 273.</summary>
    public static bool ReportedWhenDtf(FaultCause cause) => cause is
        FaultCause.AllInboundTransactionsDisallowed or FaultCause.DdtEntryLoadAccessFault or
        FaultCause.DdtEntryNotValid or FaultCause.DdtEntryMisconfigured or FaultCause.DdtDataCorruption or
        FaultCause.InternalDataPathError or FaultCause.IommuMsiWriteAccessFault;

    /// <summary>A guest-page fault (20, 21, 23): iotval2 carries the GPA.</summary>
    public static bool IsGuestPageFault(FaultCause cause) =>
        cause is FaultCause.InstructionGuestPageFault or FaultCause.ReadGuestPageFault or FaultCause.WriteGuestPageFault;

    /// <summary>A first-stage page fault (12, 13, 15).</summary>
    public static bool IsPageFault(FaultCause cause) =>
        cause is FaultCause.InstructionPageFault or FaultCause.ReadPageFault or FaultCause.WritePageFault;

    /// <summary>A code the spec defines (one of the table's rows).</summary>
    public static bool IsDefined(FaultCause cause) => cause != FaultCause.None && Enum.IsDefined(cause);

    /// <summary>2048-4095: designated for custom use.</summary>
    public static bool IsCustom(ushort cause) => cause is >= 2048 and <= 4095;
}
