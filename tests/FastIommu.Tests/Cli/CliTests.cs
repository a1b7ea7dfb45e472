using System.Text.Json;
using FastIommu.Tests.Images;

namespace FastIommu.Tests.Cli;

/// <summary>The fastiommu command line, run as a process: exit codes, standard output and error, stdin queries.</summary>
[NonParallelizable]
public class CliTests
{
    private string _dir = "";
    private string _image = "";
    private string _twoStage = "";

    [OneTimeSetUp]
    public void WriteImages()
    {
        Assert.That(File.Exists(CliProcess.CliPath), Is.True, $"the CLI is built with the tests: {CliProcess.CliPath}");
        _dir = Directory.CreateTempSubdirectory("fastiommu-cli-").FullName;
        _image = Path.Combine(_dir, "one-level-base.img");
        _twoStage = Path.Combine(_dir, "two-stage.img");
        using (var s = GoldenScenarios.Build("one-level-base"))
        {
            s.Capture().Save(_image);
        }

        using (var s = GoldenScenarios.Build("two-stage"))
        {
            s.Capture().Save(_twoStage);
            File.WriteAllBytes(Path.Combine(_dir, "two-stage.raw"), s.Memory.GetSpan(ImageScenario.Base, (int)s.Memory.Size).ToArray());
        }
    }

    [OneTimeTearDown]
    public void Clean() => Directory.Delete(_dir, recursive: true);

    private static string Golden(string name) =>
        File.ReadAllText(Path.Combine(TestContext.CurrentContext.TestDirectory, "Images", "Golden", name + ".txt"));

    [Test]
    public void Help_lists_every_command_and_exits_0()
    {
        var r = CliProcess.Run(null, "--help");
        Assert.That(r.ExitCode, Is.EqualTo(0), r.Stderr);
        Assert.That(r.Stdout, Does.Contain("demo").And.Contain("build").And.Contain("dump").And.Contain("translate")
            .And.Contain("replay").And.Contain("gen-trace"), "the commands are listed");
        var replay = CliProcess.Run(null, "replay", "--help");
        Assert.That(replay.Stdout, Does.Contain("--policy").And.Contain("--batch").And.Contain("--iotlb"), "replay documents its options");
        var build = CliProcess.Run(null, "build", "--help");
        Assert.That(build.Stdout, Does.Contain("--text").And.Contain("--dot").And.Contain("JSON path"), "build documents its outputs and errors");
        var t = CliProcess.Run(null, "translate", "--help");
        Assert.That(t.Stdout, Does.Contain("DEVICE_ID PROCESS_ID|- IOVA r|w|x [s]").And.Contain("--stats"), "translate documents its queries");
    }

    [Test]
    public void Dump_of_an_image_prints_the_golden_text()
    {
        var r = CliProcess.Run(null, "dump", _image);
        Assert.That(r.ExitCode, Is.EqualTo(0), r.Stderr);
        Assert.That(r.Stdout, Is.EqualTo(Golden("one-level-base")), "the CLI prints the library's text dump");
        Assert.That(r.Stderr, Is.Empty);
    }

    [Test]
    public void Dump_of_a_raw_guest_memory_file_equals_the_image_dump()
    {
        var r = CliProcess.Run(null, "dump", "--raw", Path.Combine(_dir, "two-stage.raw"), "--base", "0x80000000", "--ddtp", "0x20000002");
        Assert.That(r.ExitCode, Is.EqualTo(0), r.Stderr);
        Assert.That(r.Stdout, Is.EqualTo(Golden("two-stage")), "the same structures from a raw file at its base");
    }

    [Test]
    public void Dump_as_json_and_dot()
    {
        var json = CliProcess.Run(null, "dump", _image, "--format", "json");
        Assert.That(json.ExitCode, Is.EqualTo(0), json.Stderr);
        using var doc = JsonDocument.Parse(json.Stdout);
        Assert.That(doc.RootElement.GetProperty("devices").GetArrayLength(), Is.EqualTo(4), "four valid DCs");

        string dotFile = Path.Combine(_dir, "out.dot");
        var dot = CliProcess.Run(null, "dump", _twoStage, "-f", "dot", "-o", dotFile);
        Assert.That(dot.ExitCode, Is.EqualTo(0), dot.Stderr);
        Assert.That(File.ReadAllText(dotFile), Does.StartWith("digraph iommu {"), "-o writes the file");
    }

    [Test]
    public void A_corrupt_image_is_an_error_on_stderr_naming_the_offset()
    {
        string bad = Path.Combine(_dir, "bad.img");
        byte[] bytes = File.ReadAllBytes(_image);
        bytes[8] = 7; // version
        File.WriteAllBytes(bad, bytes);
        var r = CliProcess.Run(null, "dump", bad);
        Assert.That(r.ExitCode, Is.EqualTo(1), "bad input");
        Assert.That(r.Stderr, Does.Contain("offset 8").And.Contain("version 7"), r.Stderr);
        Assert.That(r.Stdout, Is.Empty, "nothing is dumped from a refused image");

        File.WriteAllBytes(bad, bytes.AsSpan(0, bytes.Length - 100).ToArray());
        bytes[8] = 1;
        File.WriteAllBytes(bad, bytes.AsSpan(0, bytes.Length - 100).ToArray());
        var cut = CliProcess.Run(null, "translate", bad);
        Assert.That(cut.ExitCode, Is.EqualTo(1));
        Assert.That(cut.Stderr, Does.Contain("ends inside page"), cut.Stderr);
    }

    [Test]
    public void Usage_errors_exit_2()
    {
        Assert.That(CliProcess.Run(null, "dump").ExitCode, Is.EqualTo(2), "neither IMAGE nor --raw");
        Assert.That(CliProcess.Run(null, "dump", "--raw", "x.raw").ExitCode, Is.EqualTo(2), "--raw without --base and --ddtp");
        Assert.That(CliProcess.Run(null, "dump", _image, "--format", "pdf").ExitCode, Is.EqualTo(2), "an unknown format");
        var r = CliProcess.Run(null, "frobnicate");
        Assert.That(r.ExitCode, Is.EqualTo(2), "an unknown command");
        Assert.That(r.Stderr, Does.Contain("frobnicate"), r.Stderr);
        var unaligned = CliProcess.Run(null, "dump", "--raw", Path.Combine(_dir, "two-stage.raw"), "--base", "0x80000010", "--ddtp", "2");
        Assert.That(unaligned.ExitCode, Is.EqualTo(1), "an unaligned base is bad input");
        Assert.That(unaligned.Stderr, Does.Contain("0x80000010"), unaligned.Stderr);
        var notNumber = CliProcess.Run(null, "dump", "--raw", Path.Combine(_dir, "two-stage.raw"), "--base", "eighty", "--ddtp", "2");
        Assert.That(notNumber.ExitCode, Is.EqualTo(1), "a base that is not a number is bad input");
        Assert.That(notNumber.Stderr, Does.Contain("--base 'eighty'"), notNumber.Stderr);
        var missing = CliProcess.Run(null, "dump", Path.Combine(_dir, "missing.img"));
        Assert.That(missing.ExitCode, Is.EqualTo(1), "a missing file is bad input");
        Assert.That(missing.Stderr, Does.Contain("missing.img"), missing.Stderr);
    }

    [Test]
    public void Translate_reads_stdin_answers_each_line_and_names_malformed_lines()
    {
        string queries = string.Join('\n',
            "3 - 0x10001234 r",            // 4K page of the coalesced run
            "3 - 0x20012345 w",            // 2 MiB leaf
            "# a comment",
            "3 - 0x30000000 w",            // read/execute only: write page fault
            "3 - 0x40000000 r",            // no U: a request without process_id faults
            "5 - 4096 r",                  // both stages Bare: identity
            "7 - 0x1000 r",                // misconfigured DC
            "3 nope 0x1000 r",             // malformed (line 8)
            "3 - 0x10000000",              // malformed (line 9)
            "",
            "0x3 - 0x10004000 x s");       // s without a process_id is ignored; execute of RW page faults
        var r = CliProcess.Run(queries, "translate", _image);
        string[] expected =
        [
            "{\"device\":3,\"pasid\":null,\"iova\":\"0x10001234\",\"access\":\"r\",\"ok\":true,\"pa\":\"0x100001234\",\"page_size\":4096}",
            "{\"device\":3,\"pasid\":null,\"iova\":\"0x20012345\",\"access\":\"w\",\"ok\":true,\"pa\":\"0x140012345\",\"page_size\":2097152}",
            "{\"device\":3,\"pasid\":null,\"iova\":\"0x30000000\",\"access\":\"w\",\"ok\":false,\"cause\":15}",
            "{\"device\":3,\"pasid\":null,\"iova\":\"0x40000000\",\"access\":\"r\",\"ok\":false,\"cause\":13}",
            "{\"device\":5,\"pasid\":null,\"iova\":\"0x1000\",\"access\":\"r\",\"ok\":true,\"pa\":\"0x1000\",\"page_size\":4096}",
            "{\"device\":7,\"pasid\":null,\"iova\":\"0x1000\",\"access\":\"r\",\"ok\":false,\"cause\":259}",
            "{\"device\":3,\"pasid\":null,\"iova\":\"0x10004000\",\"access\":\"x\",\"ok\":false,\"cause\":12}",
        ];
        Assert.That(r.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries), Is.EqualTo(expected), "one JSON object per query line");
        Assert.That(r.Stderr, Does.Contain("line 8:").And.Contain("line 9:"), r.Stderr);
        Assert.That(r.ExitCode, Is.EqualTo(1), "malformed lines make the run fail, after the rest ran");
    }

    [Test]
    public void Translate_from_a_file_with_stats_goes_through_both_stages()
    {
        string file = Path.Combine(_dir, "queries.txt");
        File.WriteAllText(file, "1 - 0x10000010 r\r\n1 - 0x20100000 w\r\n1 - 0x30000000 r\r\n2 - 0x800000001000 r\n");
        var r = CliProcess.Run(null, "translate", _twoStage, file, "--stats");
        Assert.That(r.ExitCode, Is.EqualTo(0), r.Stderr);
        string[] lines = r.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.That(lines, Has.Length.EqualTo(4));
        Assert.That(lines[0], Does.Contain("\"pa\":\"0x100000010\""), "IOVA -> GPA 0x40000010 -> SPA 0x100000010");
        Assert.That(lines[1], Does.Contain("\"pa\":\"0x100300000\"").And.Contain("\"page_size\":2097152"), "through a 2 MiB leaf of each stage");
        Assert.That(lines[2], Does.Contain("\"cause\":21"), "a GPA the G-stage does not map: read guest-page fault");
        Assert.That(lines[3], Does.Contain("\"pa\":\"0x180001000\""), "G-stage only: iova = gpa");
        Assert.That(r.Stderr, Does.Contain("queries/s"), "--stats reports throughput on stderr");
    }
}
