using FastIommu.Formats.RiscV;
using FastIommu.Hardware;

namespace FastIommu.Images;

/// <summary>
/// A byte-exact image of an IOMMU's in-memory structures (format: <see cref="ImageFormat"/>): the registers that
/// locate them (ddtp, capabilities, fctl) and the pages they occupy, as a <see cref="SparseMemory"/> the hardware model
/// can translate from and the dumps can decode.
/// </summary>
/// <remarks>Built by <c>Capture</c> from live memory, or read from bytes by <c>Read</c> and <see cref="Load"/>; written by <see cref="WriteTo"/>. The same pages and registers always give the same bytes.</remarks>
public sealed partial class TableImage
{
    public TableImage(Ddtp ddtp, Capabilities capabilities, Fctl fctl, SparseMemory memory)
    {
        ArgumentNullException.ThrowIfNull(memory);
        Ddtp = ddtp;
        Capabilities = capabilities;
        Fctl = fctl;
        Memory = memory;
    }

    /// <summary>ddtp as software wrote it.</summary>
    public Ddtp Ddtp { get; }

    /// <summary>The capabilities register of the IOMMU the structures were built for.</summary>
    public Capabilities Capabilities { get; }

    /// <summary>The fctl register.</summary>
    public Fctl Fctl { get; }

    /// <summary>The pages (read-only unless the memory was made writable).</summary>
    public SparseMemory Memory { get; }

    /// <summary>Size in bytes of this image's serialized form.</summary>
    public long SizeInBytes => ImageFormat.ImageSize(Memory.PageCount);

    /// <summary>A translator over this image's pages with its ddtp and fctl, specialised for <see cref="SparseMemory"/>.
    /// Give it a writable copy (<see cref="SparseMemory.ToWritableCopy"/>) when DCs ask for hardware A/D updates.</summary>
    public IommuTranslator CreateTranslator(TranslatorCacheOptions? options = null, SparseMemory? memory = null)
    {
        var translator = IommuTranslator.Create(new SparseMemoryAccess(memory ?? Memory), Capabilities, options);
        translator.Fctl = Fctl;
        translator.Ddtp = Ddtp;
        return translator;
    }
}
