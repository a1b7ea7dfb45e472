using System.Security.Cryptography;
using FastIommu.Images;

namespace FastIommu.Tests.Cli;

/// <summary><c>fastiommu demo</c> run as a process: what it prints, and the images it writes, byte for byte.</summary>
[NonParallelizable]
public class DemoCliTests
{
    // The images of the built-in scenario. A change to the driver's layout or command sequence changes them: check the
    // new dump (fastiommu demo) before updating these.
    private const string Iommu0Sha256 = "9b337219b3c3f12945c40fb568602a4fd9e77bc42947bb0e2323ae6606e7cc7f";
    private const string Iommu1Sha256 = "082ae75dec9d6b73fa7e0e1563bcc696cb1b5430f59b01d91c9a8784a919abcd";

    private string _dir = "";

    [SetUp]
    public void MakeDirectory() => _dir = Directory.CreateTempSubdirectory("fastiommu-demo-").FullName;

    [TearDown]
    public void Clean() => Directory.Delete(_dir, recursive: true);

    private static string Sha256(string path) => Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(path)));

    [Test]
    public void Demo_writes_the_same_images_every_run_and_they_equal_the_checked_in_hashes()
    {
        string first = Path.Combine(_dir, "a.img"), second = Path.Combine(_dir, "b.img");
        var a = CliProcess.Run(null, "demo", "-o", first);
        var b = CliProcess.Run(null, "demo", "--output", second);
        Assert.That(a.ExitCode, Is.EqualTo(0), a.Stderr);
        Assert.That(b.ExitCode, Is.EqualTo(0), b.Stderr);
        Assert.That(Sha256(first), Is.EqualTo(Sha256(second)), "two runs write the same iommu0 image");
        Assert.That(Sha256(first), Is.EqualTo(Iommu0Sha256), "iommu0's image is the checked-in one");
        Assert.That(Sha256(Path.Combine(_dir, "a.iommu1.img")), Is.EqualTo(Iommu1Sha256), "iommu1's image is the checked-in one");
        Assert.That(Sha256(Path.Combine(_dir, "b.iommu1.img")), Is.EqualTo(Iommu1Sha256), "and the same on the second run");
        Assert.That(a.Stdout.Replace("a.i", "?.i", StringComparison.Ordinal), Is.EqualTo(b.Stdout.Replace("b.i", "?.i", StringComparison.Ordinal)),
            "the printed output is the same too (but for the file names)");
        Assert.That(a.Stderr, Is.Empty);
    }

    [Test]
    public void Demo_prints_commands_per_step_the_dumps_and_translations_with_faults()
    {
        string image = Path.Combine(_dir, "demo.img");
        var r = CliProcess.Run(null, "demo", "-o", image);
        Assert.That(r.ExitCode, Is.EqualTo(0), r.Stderr);
        Assert.That(r.Stdout, Does.Match(@"\| unmap 4 KiB of Sv48, strict sync +\| iommu0 \| IOTINVAL\.VMA PSCID=0x1 ADDR=0x10000000 +\|\r?\n"
            + @"\| +\| +\| IOFENCE\.C AV +\|\r?\n"
            + @"\| +\| iommu1 \| IOTINVAL\.VMA PSCID=0x1 ADDR=0x10000000 +\|\r?\n"
            + @"\| +\| +\| IOFENCE\.C AV +\|"),
            "a strict unmap of a domain shared across two IOMMUs: one page-addressed IOTINVAL.VMA and one IOFENCE.C on each, read from the rings");
        Assert.That(r.Stdout, Does.Not.Contain("driver counted"), "the rings and the driver's counters agree on every step");
        Assert.That(r.Stdout, Does.Contain("IODIR.INVAL_PDT DID=0x300 PID=0x7"), "the PASID attach invalidates that PC");
        Assert.That(r.Stdout, Does.Contain("=== iommu0: text dump").And.Contain("=== iommu1: text dump"), "both IOMMUs are dumped");
        Assert.That(r.Stdout, Does.Contain("two-stage (iova -> spa)"), "the nested guest is shown as two stages");
        Assert.That(r.Stdout, Does.Match(@"\| nested guest \(two stages\) +\| iommu1 \| 0x400 +\| 1 +\| 0x40000000 \| r +\| pa 0x81200000"),
            "the guest's DMA goes through both stages");
        Assert.That(r.Stdout, Does.Contain("fault 13 ReadPageFault").And.Contain("fault 15 WritePageFault").And.Contain("fault 258 DdtEntryNotValid"),
            "faults are shown with their cause");

        // The image it wrote is a valid image the other commands read: the unmapped page faults, its neighbour translates.
        Assert.That(IommuDecoder.Decode(TableImage.Load(image)).Devices, Has.Count.EqualTo(2), "iommu0 has two valid device contexts");
        var t = CliProcess.Run("0x100 - 0x10000000 r\n0x100 - 0x10001000 r\n", "translate", image);
        Assert.That(t.ExitCode, Is.EqualTo(0), t.Stderr);
        Assert.That(t.Stdout, Does.Contain("\"ok\":false,\"cause\":13").And.Contain("\"pa\":\"0x80101000\""), "translate agrees with the demo");
    }

    [Test]
    public void Demo_into_a_missing_directory_is_an_error()
    {
        var r = CliProcess.Run(null, "demo", "-o", Path.Combine(_dir, "no", "such", "dir", "demo.img"));
        Assert.That(r.ExitCode, Is.EqualTo(1), "an unwritable output is bad input");
        Assert.That(r.Stderr, Does.StartWith("fastiommu: "), "said on standard error");
    }
}
