using FastIommu.Formats.RiscV;

namespace FastIommu.Driver;

// What the device's context holds: its RID domain's translation plus the device's own bits.
public sealed partial class IommuDevice
{
    /// <summary>The device-context image for RID domain <paramref name="domain"/> with <paramref name="bond"/>.</summary>
    internal ContextImage Image(IommuDomain domain, Bond? bond)
    {
        ContextImage image = domain.DeviceImage(bond);
        if (!image.Valid)
        {
            return image;
        }

        DeviceContextTc tc = image.Tc;
        if ((Features & DeviceFeatures.Ats) != 0)
        {
            tc = tc.WithEnAts(true);
        }

        return image with { Tc = tc };
    }
}
