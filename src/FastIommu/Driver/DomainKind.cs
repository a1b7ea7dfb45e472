using FastIommu.PageTables;

namespace FastIommu.Driver;

/// <summary>What a domain is (Linux's IOMMU_DOMAIN_* types, as the RISC-V driver builds them).</summary>
public enum DomainKind
{
    /// <summary>No DMA: the device context is not valid (Linux's riscv blocking domain writes tc.V = 0).</summary>
    Blocked,

    /// <summary>DMA untranslated: both stages Bare.</summary>
    Identity,

    /// <summary>A page table the driver owns: first stage (Sv39/48/57) or, for a VM, G-stage (Sv39x4/48x4/57x4).</summary>
    Paging,

    /// <summary>Shares a process address space's first-stage table (bound with SVA).</summary>
    Sva,

    /// <summary>A guest-owned process directory over a G-stage parent domain.</summary>
    Nested,
}

/// <summary>What a device may do through a mapping (Linux's IOMMU_READ / IOMMU_WRITE; execute is opt-in).</summary>
[Flags]
public enum DmaProtection : byte
{
    /// <summary>Device reads.</summary>
    Read = 1,

    /// <summary>Device writes (implies read: W without R is reserved in RISC-V PTEs).</summary>
    Write = 2,

    /// <summary>Device instruction fetches.</summary>
    Execute = 4,

    /// <summary>Read and write.</summary>
    ReadWrite = Read | Write,
}

/// <summary>What a device can do beyond plain DMA.</summary>
[Flags]
public enum DeviceFeatures
{
    None = 0,

    /// <summary>Shared virtual addressing: the device may be bound to process address spaces (needs PASIDs).</summary>
    Sva = 1,

    /// <summary>PCIe ATS: DC.tc.EN_ATS is set (needs capabilities.ATS).</summary>
    Ats = 2,
}

internal static class DmaProtectionExtensions
{
    /// <summary>The leaf bits a RISC-V driver sets for device DMA. First stage: U (device requests without a
    /// process_id are user-mode accesses; Linux's _PAGE_BASE has _PAGE_USER), R, and W with it (W alone is reserved);
    /// A and D are preset by the page table (no hardware A/D updating). G-stage: the table sets U itself.</summary>
    public static PageProtection ToLeaf(this DmaProtection prot, bool gStage)
    {
        PageProtection leaf = PageProtection.None;
        if ((prot & (DmaProtection.Read | DmaProtection.Write)) != 0)
        {
            leaf |= PageProtection.Read;
        }

        if ((prot & DmaProtection.Write) != 0)
        {
            leaf |= PageProtection.Write;
        }

        if ((prot & DmaProtection.Execute) != 0)
        {
            leaf |= PageProtection.Execute;
        }

        return gStage || leaf == PageProtection.None ? leaf : leaf | PageProtection.User;
    }
}
