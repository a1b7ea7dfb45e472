using FastIommu.Formats.RiscV;

namespace FastIommu.Driver;

/// <summary>The first four doublewords a device context gets (the extended format's MSI fields stay Off / zero):
/// built from the format structs by the domain and the device's PASID state.</summary>
internal readonly record struct ContextImage(DeviceContextTc Tc, Iohgatp Iohgatp, DeviceContextTa Ta, ulong Fsc)
{
    /// <summary>Not valid: DMA of the device is blocked (cause 258).</summary>
    public static ContextImage Invalid => default;

    public bool Valid => Tc.Valid;

    public DeviceContext ToDeviceContext() => new(Tc, Iohgatp, Ta, Fsc);
}
