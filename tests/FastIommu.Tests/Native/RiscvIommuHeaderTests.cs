namespace FastIommu.Tests.Native;

/// <summary>native-layout/include/riscv_iommu.h is exactly what <see cref="RiscvIommuHeader"/> generates from the C#
/// formats: a constant, an enum member or a struct offset changed on either side fails here.</summary>
public class RiscvIommuHeaderTests
{
    private static string HeaderPath() => FastIommu.Tests.Support.RepoPaths.Of("native-layout", "include", "riscv_iommu.h");

    [Test]
    public void Checked_in_header_equals_the_one_generated_from_the_formats()
    {
        string generated = RiscvIommuHeader.Generate();
        string path = HeaderPath();
        if (Environment.GetEnvironmentVariable("FASTIOMMU_UPDATE_HEADER") == "1")
        {
            File.WriteAllText(path, generated);
        }

        Assert.That(File.Exists(path), Is.True, $"{path} exists (FASTIOMMU_UPDATE_HEADER=1 writes it)");
        string[] expected = generated.Split('\n');
        string[] actual = File.ReadAllText(path).Split('\n');
        int first = Enumerable.Range(0, Math.Min(expected.Length, actual.Length)).FirstOrDefault(i => expected[i] != actual[i], -1);
        Assert.That(first, Is.EqualTo(-1),
            first < 0 ? "" : $"riscv_iommu.h line {first + 1} differs from the C# formats:\n  header: {actual[first]}\n  C#:     {expected[first]}");
        Assert.That(actual, Has.Length.EqualTo(expected.Length), "riscv_iommu.h has as many lines as the C# formats generate");
    }

    [TestCase("Pte", "PTE")]
    [TestCase("DeviceContextTc", "DEVICE_CONTEXT_TC")]
    [TestCase("PpnShift", "PPN_SHIFT")]
    [TestCase("IotinvalReserved0Bit", "IOTINVAL_RESERVED0_BIT")]
    [TestCase("Sv39x4Bit", "SV39X4_BIT")]
    [TestCase("MSIPtp", "MSI_PTP")]
    public void Names_become_upper_snake_case(string name, string expected) =>
        Assert.That(RiscvIommuHeader.Snake(name), Is.EqualTo(expected), $"the C name of {name}");
}
