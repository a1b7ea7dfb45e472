using FastIommu.Formats.RiscV;

namespace FastIommu.Tests.Formats;

/// <summary>device_id → DDI and process_id → PDI splits: IOMMU spec "Data Structures" partitioning figures.</summary>
public class DirectoryIndexTests
{
    // base format: DDI[0] = 6:0, DDI[1] = 15:7, DDI[2] = 23:16
    [TestCase(0x00_007Fu, 0x7Fu, 0x000u, 0x00u)]
    [TestCase(0x00_0080u, 0x00u, 0x001u, 0x00u)]
    [TestCase(0x00_8000u, 0x00u, 0x100u, 0x00u)]
    [TestCase(0x00_FFFFu, 0x7Fu, 0x1FFu, 0x00u)]
    [TestCase(0x01_0000u, 0x00u, 0x000u, 0x01u)]
    [TestCase(0xFF_FFFFu, 0x7Fu, 0x1FFu, 0xFFu)]
    [TestCase(0xAB_CDEFu, 0x6Fu, 0x19Bu, 0xABu)]
    public void Base_ddi(uint deviceId, uint ddi0, uint ddi1, uint ddi2) =>
        Assert.That((DirectoryIndex.Ddi(deviceId, 0, false), DirectoryIndex.Ddi(deviceId, 1, false), DirectoryIndex.Ddi(deviceId, 2, false)),
            Is.EqualTo((ddi0, ddi1, ddi2)), $"base device_id 0x{deviceId:x}");

    // extended format: DDI[0] = 5:0, DDI[1] = 14:6, DDI[2] = 23:15
    [TestCase(0x00_003Fu, 0x3Fu, 0x000u, 0x000u)]
    [TestCase(0x00_0040u, 0x00u, 0x001u, 0x000u)]
    [TestCase(0x00_4000u, 0x00u, 0x100u, 0x000u)]
    [TestCase(0x00_8000u, 0x00u, 0x000u, 0x001u)]
    [TestCase(0xFF_FFFFu, 0x3Fu, 0x1FFu, 0x1FFu)]
    [TestCase(0xAB_CDEFu, 0x2Fu, 0x137u, 0x157u)]
    public void Extended_ddi(uint deviceId, uint ddi0, uint ddi1, uint ddi2) =>
        Assert.That((DirectoryIndex.Ddi(deviceId, 0, true), DirectoryIndex.Ddi(deviceId, 1, true), DirectoryIndex.Ddi(deviceId, 2, true)),
            Is.EqualTo((ddi0, ddi1, ddi2)), $"extended device_id 0x{deviceId:x}");

    // PDI[0] = 7:0, PDI[1] = 16:8, PDI[2] = 19:17
    [TestCase(0x0_00FFu, 0xFFu, 0x000u, 0x0u)]
    [TestCase(0x0_0100u, 0x00u, 0x001u, 0x0u)]
    [TestCase(0x1_FFFFu, 0xFFu, 0x1FFu, 0x0u)]
    [TestCase(0x2_0000u, 0x00u, 0x000u, 0x1u)]
    [TestCase(0xF_FFFFu, 0xFFu, 0x1FFu, 0x7u)]
    public void Pdi(uint processId, uint pdi0, uint pdi1, uint pdi2) =>
        Assert.That((DirectoryIndex.Pdi(processId, 0), DirectoryIndex.Pdi(processId, 1), DirectoryIndex.Pdi(processId, 2)),
            Is.EqualTo((pdi0, pdi1, pdi2)), $"process_id 0x{processId:x}");

    [Test]
    public void Widths()
    {
        Assert.That(new[] { DirectoryIndex.DdiBits(0, false), DirectoryIndex.DdiBits(1, false), DirectoryIndex.DdiBits(2, false) }, Is.EqualTo(new[] { 7, 9, 8 }), "base");
        Assert.That(new[] { DirectoryIndex.DdiBits(0, true), DirectoryIndex.DdiBits(1, true), DirectoryIndex.DdiBits(2, true) }, Is.EqualTo(new[] { 6, 9, 9 }), "extended");
        Assert.That(new[] { DirectoryIndex.PdiBits(0), DirectoryIndex.PdiBits(1), DirectoryIndex.PdiBits(2) }, Is.EqualTo(new[] { 8, 9, 3 }), "PDI");
        Assert.That(new[] { DirectoryIndex.DeviceIdWidth(1, false), DirectoryIndex.DeviceIdWidth(2, false), DirectoryIndex.DeviceIdWidth(3, false) }, Is.EqualTo(new[] { 7, 16, 24 }), "base DDT reach");
        Assert.That(new[] { DirectoryIndex.DeviceIdWidth(1, true), DirectoryIndex.DeviceIdWidth(2, true), DirectoryIndex.DeviceIdWidth(3, true) }, Is.EqualTo(new[] { 6, 15, 24 }), "extended DDT reach");
        Assert.That(() => DirectoryIndex.Ddi(0, 3, false), Throws.InstanceOf<ArgumentOutOfRangeException>(), "no level 3");
        // A leaf page holds 2^DDI[0] DCs: 128 × 32 B = 64 × 64 B = 4 KiB; 256 × 16 B PCs = 4 KiB.
        Assert.That((128 * DeviceContext.Size, 64 * ExtendedDeviceContext.Size, 256 * ProcessContext.Size), Is.EqualTo((4096, 4096, 4096)), "leaf pages");
    }

    [TestCase(0x7Fu, DdtpMode.OneLevel, false, true)]
    [TestCase(0x80u, DdtpMode.OneLevel, false, false)]
    [TestCase(0x3Fu, DdtpMode.OneLevel, true, true)]
    [TestCase(0x40u, DdtpMode.OneLevel, true, false)]
    [TestCase(0xFFFFu, DdtpMode.TwoLevel, false, true)]
    [TestCase(0x1_0000u, DdtpMode.TwoLevel, false, false)]
    [TestCase(0x7FFFu, DdtpMode.TwoLevel, true, true)]
    [TestCase(0x8000u, DdtpMode.TwoLevel, true, false)]
    [TestCase(0xFF_FFFFu, DdtpMode.ThreeLevel, true, true)]
    [TestCase(0x100_0000u, DdtpMode.ThreeLevel, false, false)]
    public void Device_id_fits(uint deviceId, DdtpMode mode, bool extended, bool fits) =>
        Assert.That(DirectoryIndex.DeviceIdFits(deviceId, mode, extended), Is.EqualTo(fits), "1LVL: DDI[1]=DDI[2]=0; 2LVL: DDI[2]=0 (else cause 260)");

    [TestCase(0xFFu, PdtpMode.PD8, true)]
    [TestCase(0x100u, PdtpMode.PD8, false)]
    [TestCase(0x1_FFFFu, PdtpMode.PD17, true)]
    [TestCase(0x2_0000u, PdtpMode.PD17, false)]
    [TestCase(0xF_FFFFu, PdtpMode.PD20, true)]
    [TestCase(0x10_0000u, PdtpMode.PD20, false)]
    [TestCase(0u, PdtpMode.Bare, false)]
    public void Process_id_fits(uint processId, PdtpMode mode, bool fits) =>
        Assert.That(DirectoryIndex.ProcessIdFits(processId, mode), Is.EqualTo(fits), "PD8/17/20 widths");
}
