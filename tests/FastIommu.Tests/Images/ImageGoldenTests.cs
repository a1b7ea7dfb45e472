using System.Security.Cryptography;
using FastIommu.Images;

namespace FastIommu.Tests.Images;

/// <summary>
/// Hand-built scenarios whose image bytes (SHA-256) and text dumps are checked in (Images/Golden) and must be
/// reproduced exactly. To regenerate after a deliberate format change, run the tests with FASTIOMMU_UPDATE_GOLDEN set
/// to the source folder tests/FastIommu.Tests/Images/Golden, and review the diff.
/// </summary>
public class ImageGoldenTests
{
    private static string GoldenDirectory => Path.Combine(TestContext.CurrentContext.TestDirectory, "Images", "Golden");

    private static IEnumerable<string> Scenarios => GoldenScenarios.Names;

    [TestCaseSource(nameof(Scenarios))]
    public void Image_and_text_dump_match_the_checked_in_golden_files(string name)
    {
        using var scenario = GoldenScenarios.Build(name);
        byte[] bytes = scenario.Capture().ToArray();
        string sha = Convert.ToHexStringLower(SHA256.HashData(bytes));
        string text = TextDump.ToText(IommuDecoder.Decode(TableImage.Read(bytes)));

        string? update = Environment.GetEnvironmentVariable("FASTIOMMU_UPDATE_GOLDEN");
        if (!string.IsNullOrEmpty(update))
        {
            File.WriteAllText(Path.Combine(update, name + ".sha256"), sha + "\n");
            File.WriteAllText(Path.Combine(update, name + ".txt"), text);
            Assert.Ignore($"golden files of {name} written to {update}");
        }

        string expectedSha = File.ReadAllText(Path.Combine(GoldenDirectory, name + ".sha256")).Trim();
        string expectedText = File.ReadAllText(Path.Combine(GoldenDirectory, name + ".txt"));
        Assert.That(text, Is.EqualTo(expectedText), $"the text dump of {name} differs from Golden/{name}.txt");
        Assert.That(sha, Is.EqualTo(expectedSha), $"the image of {name} ({bytes.Length} bytes) differs from Golden/{name}.sha256");
    }

    [TestCaseSource(nameof(Scenarios))]
    public void The_same_scenario_built_twice_gives_the_same_bytes(string name)
    {
        using var first = GoldenScenarios.Build(name);
        using var second = GoldenScenarios.Build(name);
        byte[] a = first.Capture().ToArray();
        Assert.That(first.Capture().ToArray(), Is.EqualTo(a), "capturing the same memory twice must give the same bytes");
        Assert.That(second.Capture().ToArray(), Is.EqualTo(a), "building the same scenario again must give the same bytes");
    }

    [TestCaseSource(nameof(Scenarios))]
    public void A_loaded_image_writes_back_byte_for_byte(string name)
    {
        using var scenario = GoldenScenarios.Build(name);
        byte[] bytes = scenario.Capture().ToArray();
        var loaded = TableImage.Read(bytes);
        Assert.That(loaded.ToArray(), Is.EqualTo(bytes), "read then write must reproduce the image");
        using var stream = new MemoryStream(bytes);
        Assert.That(TableImage.Read(stream).ToArray(), Is.EqualTo(bytes), "reading from a stream must give the same image");
    }
}

/// <summary>Writes the golden scenarios' images to the folder in FASTIOMMU_WRITE_IMAGES (for trying the CLI by hand).</summary>
public class GoldenImageWriter
{
    [Test, Explicit("writes files; run by hand")]
    public void Write_the_golden_images()
    {
        string dir = Environment.GetEnvironmentVariable("FASTIOMMU_WRITE_IMAGES") ?? Path.GetTempPath();
        foreach (string name in GoldenScenarios.Names)
        {
            using var scenario = GoldenScenarios.Build(name);
            scenario.Capture().Save(Path.Combine(dir, name + ".img"));
        }

        Assert.Pass($"written to {dir}");
    }
}
