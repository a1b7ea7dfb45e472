namespace FastIommu.Formats.RiscV;

/// <summary>
/// Fault record TTYP encodings: every row of the IOMMU spec's table "Fault record TTYP field encodings".
/// 4 and 10-31 are reserved; 32-63 custom (the spec's table writes "31 - 63", overlapping "10 - 31").
/// </summary>
public enum TransactionType : byte
{
    /// <summary>0: fault not caused by an inbound transaction.</summary>
    None = 0,
    /// <summary>1: untranslated read for execute.</summary>
    UntranslatedExecute = 1,
    /// <summary>2: untranslated read.</summary>
    UntranslatedRead = 2,
    /// <summary>3: untranslated write/AMO.</summary>
    UntranslatedWrite = 3,
    /// <summary>5: translated read for execute.</summary>
    TranslatedExecute = 5,
    /// <summary>6: translated read.</summary>
    TranslatedRead = 6,
    /// <summary>7: translated write/AMO.</summary>
    TranslatedWrite = 7,
    /// <summary>8: PCIe ATS translation request.</summary>
    AtsTranslationRequest = 8,
    /// <summary>9: PCIe message request (iotval holds the message code).</summary>
    PcieMessageRequest = 9,
}
