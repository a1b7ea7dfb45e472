using System.Reflection;
using FastIommu.Images;

namespace FastIommu.Tests.Cli;

/// <summary><c>fastiommu build</c> run as a process: the sample scenarios build, and bad scenarios are errors naming
/// the JSON path of the field at fault, with exit code 1 and nothing written.</summary>
[NonParallelizable]
public class BuildCliTests
{
    private string _dir = "";

    private static string Samples => Path.Combine(typeof(BuildCliTests).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
        .Single(a => a.Key == "SamplesDirectory").Value!, "scenarios");

    [SetUp]
    public void MakeDirectory() => _dir = Directory.CreateTempSubdirectory("fastiommu-build-").FullName;

    [TearDown]
    public void Clean() => Directory.Delete(_dir, recursive: true);

    public static IEnumerable<string> SampleScenarios() =>
        Directory.EnumerateFiles(Samples, "*.json").Select(Path.GetFileNameWithoutExtension).Order(StringComparer.Ordinal)!;

    [TestCaseSource(nameof(SampleScenarios))]
    public void Each_sample_scenario_builds_and_its_dumps_agree_with_the_image(string name)
    {
        string image = Path.Combine(_dir, name + ".img"), text = Path.Combine(_dir, name + ".txt"), dot = Path.Combine(_dir, name + ".dot");
        var r = CliProcess.Run(null, "build", Path.Combine(Samples, name + ".json"), "-o", image, "--text", text, "--dot", dot);
        Assert.That(r.ExitCode, Is.EqualTo(0), r.Stderr);
        Assert.That(r.Stderr, Is.Empty);
        var decoded = IommuDecoder.Decode(TableImage.Load(image));
        Assert.That(decoded.Devices, Is.Not.Empty, "the scenario's devices have valid contexts");
        Assert.That(File.ReadAllText(text), Is.EqualTo(TextDump.ToText(decoded)), "--text is the image's text dump");
        Assert.That(File.ReadAllText(dot), Does.StartWith("digraph iommu {"), "--dot is Graphviz");

        var again = Path.Combine(_dir, name + ".again.img");
        Assert.That(CliProcess.Run(null, "build", Path.Combine(Samples, name + ".json"), "-o", again).ExitCode, Is.EqualTo(0));
        Assert.That(File.ReadAllBytes(again), Is.EqualTo(File.ReadAllBytes(image)), "the same scenario gives the same bytes");
    }

    [Test]
    public void The_two_iommu_sample_writes_one_image_per_instance_and_translates_through_the_nested_guest()
    {
        string image = Path.Combine(_dir, "two.img");
        var r = CliProcess.Run(null, "build", Path.Combine(Samples, "two-iommus.json"), "-o", image);
        Assert.That(r.ExitCode, Is.EqualTo(0), r.Stderr);
        string second = Path.Combine(_dir, "two.iommu1.img");
        Assert.That(File.Exists(second), Is.True, "the second instance's image is named after it");
        var t = CliProcess.Run("0x400 1 0x40000010 r\n0x200 - 0x10000000 w\n0x400 1 0x40000010 w\n", "translate", second);
        Assert.That(t.ExitCode, Is.EqualTo(0), t.Stderr);
        string[] lines = t.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.That(lines[0], Does.Contain("\"ok\":true,\"pa\":\"0x81200010\""), "the guest's process through both stages");
        Assert.That(lines[1], Does.Contain("\"ok\":true,\"pa\":\"0x80100000\""), "the group's device on iommu1");
        Assert.That(lines[2], Does.Contain("\"ok\":false,\"cause\":15"), "the guest mapped it read-only");
    }

    private const string Good = """
        {
          "memory": { "base": "0x80000000", "size": "0x1000000" },
          "instances": [ { "name": "iommu0" } ],
          "domains": [
            { "name": "dma", "kind": "paging", "mode": "sv39",
              "mappings": [ { "iova": "0x10000000", "pa": "0x80100000", "size": "0x2000" } ] }
          ],
          "devices": [ { "id": 1, "domain": "dma" }, { "id": 2, "domain": "dma" }, { "id": 3, "domain": "dma" } ]
        }
        """;

    [TestCase("\"devices\": [ { \"id\": 1, \"domain\": \"dma\" }, { \"id\": 2, \"domain\": \"dma\" }, { \"id\": 3, \"domain\": \"dma\" } ]",
        "\"devices\": [ { \"id\": 1, \"domain\": \"dma\" }, { \"id\": 2, \"domain\": \"dma\" }, { \"id\": 3, \"domain\": \"net0\" } ]",
        "$.devices[2].domain: no domain named \"net0\"", TestName = "An unknown domain")]
    [TestCase("{ \"id\": 2, \"domain\": \"dma\" }", "{ \"id\": 2, \"domian\": \"dma\" }",
        "$.devices[1].domian: unknown field", TestName = "A misspelt field")]
    [TestCase("\"size\": \"0x2000\"", "\"size\": \"0x2000\", \"prot\": \"rq\"",
        "$.domains[0].mappings[0].prot: \"rq\": permissions are letters r, w, x", TestName = "Bad permissions")]
    [TestCase("\"mode\": \"sv39\"", "\"mode\": \"sv40\"",
        "$.domains[0].mode: \"sv40\" is not a paging mode", TestName = "An unknown mode")]
    [TestCase("{ \"id\": 3, \"domain\": \"dma\" }", "{ \"id\": 1, \"domain\": \"dma\" }",
        "$.devices[2].id: device 0x1 is already on instance \"iommu0\"", TestName = "A duplicate device")]
    [TestCase("\"pa\": \"0x80100000\"", "\"pa\": \"0x80100800\"",
        "$.domains[0].mappings[0]: ", TestName = "A mapping the driver refuses (unaligned)")]
    [TestCase("\"size\": \"0x1000000\"", "\"size\": \"twelve\"",
        "$.memory.size: \"twelve\" is not a number", TestName = "Not a number")]
    [TestCase("\"instances\": [ { \"name\": \"iommu0\" } ],", "\"instances\": [ { \"name\": \"iommu0\", \"ddt_levels\": 4 } ],",
        "$.instances[0].ddt_levels: 4 levels", TestName = "Four DDT levels")]
    [TestCase("{ \"id\": 2, \"domain\": \"dma\" }", "{ \"id\": 2, \"group\": \"g\", \"domain\": \"dma\" }, { \"id\": 4, \"group\": \"g\" }",
        "$.devices[2].domain: group \"g\" is attached to \"dma\" (by $.devices[1])", TestName = "A group's devices on two domains")]
    [TestCase("\"devices\": [", "\"devices\": [ { \"id\": 9, \"pasid_bits\": 4, \"pasids\": [ { \"pasid\": 16, \"domain\": \"dma\" } ] },",
        "$.devices[0].pasids[0]: ", TestName = "A PASID beyond the device's width (refused by the driver)")]
    [TestCase("\"instances\": [ { \"name\": \"iommu0\" } ],", "\"instances\": [ { \"name\": \"iommu0\", \"capabilities\": \"0x1f8870e8c10\" } ],",
        "$.devices[0].domain: ", TestName = "A mode the IOMMU's capabilities lack")]
    [TestCase("\"kind\": \"paging\"", "\"kind\": \"paging\",",
        "$: not valid JSON at line 5", TestName = "Malformed JSON")]
    public void A_bad_scenario_is_an_error_naming_the_json_path_and_nothing_is_written(string from, string to, string expected)
    {
        string good = Good;
        Assert.That(good, Does.Contain(from), "the test edits the good scenario");
        string scenario = Path.Combine(_dir, "bad.json"), image = Path.Combine(_dir, "bad.img");
        File.WriteAllText(scenario, good.Replace(from, to, StringComparison.Ordinal));
        var r = CliProcess.Run(null, "build", scenario, "-o", image, "--text", Path.Combine(_dir, "bad.txt"));
        Assert.That(r.ExitCode, Is.EqualTo(1), "bad input");
        Assert.That(r.Stderr, Does.StartWith("fastiommu: " + expected), "the error names the field's JSON path");
        Assert.That(r.Stdout, Is.Empty, "nothing reported written");
        Assert.That(Directory.GetFiles(_dir), Is.EquivalentTo(new[] { scenario }), "nothing written");
    }

    [Test]
    public void The_good_scenario_builds_and_a_missing_output_option_is_a_usage_error()
    {
        string scenario = Path.Combine(_dir, "good.json");
        File.WriteAllText(scenario, Good);
        var ok = CliProcess.Run(null, "build", scenario, "-o", Path.Combine(_dir, "good.img"));
        Assert.That(ok.ExitCode, Is.EqualTo(0), ok.Stderr);
        Assert.That(CliProcess.Run(null, "build", scenario).ExitCode, Is.EqualTo(2), "-o is required");
        Assert.That(CliProcess.Run(null, "build", Path.Combine(_dir, "none.json"), "-o", "x.img").ExitCode, Is.EqualTo(1), "a missing file");
    }
}
