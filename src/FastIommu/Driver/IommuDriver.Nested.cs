using FastIommu.Formats.RiscV;

namespace FastIommu.Driver;

// Nested domains: a guest's PDT over a host G-stage.
public sealed partial class IommuDriver
{
    /// <summary>
    /// A nested domain binding the guest PDT <paramref name="table"/> over the G-stage domain <paramref name="parent"/>.
    /// The parent cannot be destroyed while the nested domain exists.
    /// </summary>
    /// <exception cref="NotSupportedException">The table is not a RISC-V PDT, or no instance implements its mode.</exception>
    /// <exception cref="ArgumentException">The parent is not a G-stage paging domain of this driver, or the PDT
    /// address is not a 4 KiB-aligned guest-physical address of the parent's space.</exception>
    public NestedDomain CreateNestedDomain(PagingDomain parent, GuestPasidTable table)
    {
        ArgumentNullException.ThrowIfNull(parent);
        ThrowIfDisposed();
        if (table.Format != PasidTableFormat.RiscV)
        {
            throw new NotSupportedException($"A guest PASID table in {table.Format} format cannot be walked by a RISC-V IOMMU; only {PasidTableFormat.RiscV} PDTs nest.");
        }

        if (table.Mode is not (PdtpMode.PD8 or PdtpMode.PD17 or PdtpMode.PD20))
        {
            throw new NotSupportedException($"Guest PDT mode {table.Mode} is not PD8, PD17 or PD20.");
        }

        IReadOnlyList<IommuInstance> instances = Instances;
        if (instances.Count != 0 && !instances.Any(i => i.Capabilities.Supports(table.Mode)))
        {
            throw new NotSupportedException($"No IOMMU of this driver implements the guest's PDT mode {table.Mode}.");
        }

        if (parent.Driver != this || !parent.IsGStage || parent.Kind != DomainKind.Paging)
        {
            throw new ArgumentException($"The parent of a nested domain must be a G-stage paging domain of this driver, not {parent}.", nameof(parent));
        }

        if (table.PdtGpa % 4096 != 0 || table.PdtGpa >> PagingModes.AddressBits(parent.Mode) != 0)
        {
            throw new ArgumentException($"Guest PDT at GPA 0x{table.PdtGpa:x} is not a 4 KiB-aligned address of {parent.Mode}.", nameof(table));
        }

        lock (parent.Gate)
        {
            parent.ThrowIfDestroyed();
            parent.AddUsers(1); // the nested domain holds its parent
            return new NestedDomain(this, parent, table);
        }
    }
}
