// Stand-ins for structure types owned by branch `structs`, written in their style with only what the
// translator needs. This file is deleted when `structs` is merged; the translator uses only .Value and the
// numeric values of the enums, so their full types drop in unchanged.
using System.Runtime.InteropServices;

namespace FastIommu.Formats.RiscV;

/// <summary>ddtp register: iommu_mode 3:0, busy 4, PPN 53:10.</summary>
[StructLayout(LayoutKind.Sequential, Size = 8)]
public readonly struct Ddtp
{
    public readonly ulong Value;
    public Ddtp(ulong value) => Value = value;
}

/// <summary>fctl register: BE bit 0, WSI bit 1, GXL bit 2.</summary>
[StructLayout(LayoutKind.Sequential, Size = 4)]
public readonly struct Fctl
{
    public readonly uint Value;
    public Fctl(uint value) => Value = value;
}

/// <summary>capabilities register (64-bit).</summary>
[StructLayout(LayoutKind.Sequential, Size = 8)]
public readonly struct Capabilities
{
    public readonly ulong Value;
    public Capabilities(ulong value) => Value = value;
}

/// <summary>Fault record CAUSE encodings (spec table "Fault record CAUSE field encodings").</summary>
public enum FaultCause : ushort
{
    None = 0,
    InstructionAccessFault = 1,
    ReadAccessFault = 5,
    WriteAccessFault = 7,
    InstructionPageFault = 12,
    ReadPageFault = 13,
    WritePageFault = 15,
    InstructionGuestPageFault = 20,
    ReadGuestPageFault = 21,
    WriteGuestPageFault = 23,
    AllInboundTransactionsDisallowed = 256,
    DdtEntryLoadAccessFault = 257,
    DdtEntryNotValid = 258,
    DdtEntryMisconfigured = 259,
    TransactionTypeDisallowed = 260,
    PdtEntryLoadAccessFault = 265,
    PdtEntryNotValid = 266,
    PdtEntryMisconfigured = 267,
}

/// <summary>Fault record TTYP encodings.</summary>
public enum TransactionType : byte
{
    None = 0,
    UntranslatedExecute = 1,
    UntranslatedRead = 2,
    UntranslatedWrite = 3,
    TranslatedExecute = 5,
    TranslatedRead = 6,
    TranslatedWrite = 7,
    AtsTranslationRequest = 8,
}
