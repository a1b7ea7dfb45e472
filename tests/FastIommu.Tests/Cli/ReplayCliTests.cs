using System.Text.RegularExpressions;

namespace FastIommu.Tests.Cli;

/// <summary><c>fastiommu replay</c> and <c>gen-trace</c> run as processes: counts on a small trace under both
/// policies, malformed lines named by number, and generated traces replayed.</summary>
[NonParallelizable]
public partial class ReplayCliTests
{
    private const string Small = """
        # one device on an Sv39 domain: a walk, a hit, an unmap, then the unmapped page again
        iommu iommu0
        domain d sv39
        device 1
        attach 1 d
        map d 0x10000000 0x80001000 0x2000 rw
        dma 1 - 0x10000000 r
        dma 1 - 0x10000010 w
        unmap d 0x10000000 0x1000
        dma 1 - 0x10000000 r
        dma 1 - 0x10001000 r
        """;

    private string _dir = "";

    [SetUp]
    public void MakeDirectory() => _dir = Directory.CreateTempSubdirectory("fastiommu-replay-").FullName;

    [TearDown]
    public void Clean() => Directory.Delete(_dir, recursive: true);

    /// <summary>The count in a report row "| NAME | COUNT |".</summary>
    private static string Row(string stdout, string name)
    {
        var match = Regex.Match(stdout, @"\| " + Regex.Escape(name) + @" +\| ([^ |]+)");
        Assert.That(match.Success, Is.True, $"the report has a row '{name}':\n{stdout}");
        return match.Groups[1].Value;
    }

    [Test]
    public void Strict_replay_of_a_small_trace_counts_walks_hits_faults_and_commands()
    {
        var r = CliProcess.Run(Small, "replay", "-");
        Assert.That(r.ExitCode, Is.EqualTo(0), r.Stderr);
        Assert.That(Row(r.Stdout, "operations"), Is.EqualTo("9"), "nine operation lines (iommu is a declaration)");
        Assert.That(Row(r.Stdout, "requests"), Is.EqualTo("4"), "four DMA lines");
        Assert.That(Row(r.Stdout, "translated"), Is.EqualTo("3"), "both accesses to the first page and one to the second");
        Assert.That(Row(r.Stdout, "fault 13 ReadPageFault"), Is.EqualTo("1"), "the unmapped page faults at once under strict");
        Assert.That(Row(r.Stdout, "served with no memory read (micro-TLB or IOTLB hit)"), Is.EqualTo("1"), "the second access to the page");
        Assert.That(Row(r.Stdout, "walks (requests that read memory)"), Is.EqualTo("3"), "the first access, the fault, the other page");
        // The same, from the model's own counters: the second access is an IOTLB hit (the walk filled the IOTLB, not the
        // micro-TLB); the DC is cached by the first request's walk and serves the three after it.
        Assert.That(Row(r.Stdout, "micro-TLB hits, of requests"), Is.EqualTo("0"), "no request repeats an IOTLB hit's page");
        Assert.That(Row(r.Stdout, "IOTLB hits, of micro-TLB misses"), Is.EqualTo("1"), "the second access to the page");
        Assert.That(Row(r.Stdout, "translation process runs (walks), of requests"), Is.EqualTo("3"), "the model's walks are the replay's");
        Assert.That(Row(r.Stdout, "DC cache hits, of DCs looked up"), Is.EqualTo("3"), "every request after the first");
        Assert.That(Row(r.Stdout, "stale: translated, but the table no longer maps it so"), Is.EqualTo("0"));
        Assert.That(Row(r.Stdout, "IOTINVAL.VMA"), Is.EqualTo("1"), "one page-addressed invalidation for the unmap");
        Assert.That(Row(r.Stdout, "IOFENCE.C"), Is.EqualTo("2"), "one fence for the attach, one for the unmap's sync");
        Assert.That(Row(r.Stdout, "invalidation policy"), Does.StartWith("strict"));
    }

    [Test]
    public void Batched_replay_leaves_the_unmapped_page_in_the_iotlb_until_the_sync()
    {
        var r = CliProcess.Run(Small, "replay", "-", "--policy", "batched", "--batch", "8");
        Assert.That(r.ExitCode, Is.EqualTo(0), r.Stderr);
        Assert.That(Row(r.Stdout, "translated"), Is.EqualTo("4"), "the unmapped page still translates: its invalidation waits");
        Assert.That(Row(r.Stdout, "stale: translated, but the table no longer maps it so"), Is.EqualTo("1"), "and it is counted as stale");
        Assert.That(Row(r.Stdout, "IOTINVAL.VMA"), Is.EqualTo("1"), "the pending unmap is synced at the end");

        var synced = CliProcess.Run(Small.Replace("unmap d 0x10000000 0x1000", "unmap d 0x10000000 0x1000\nsync d", StringComparison.Ordinal),
            "replay", "-", "--policy", "batched", "--batch", "8");
        Assert.That(Row(synced.Stdout, "fault 13 ReadPageFault"), Is.EqualTo("1"), "a sync line makes the unmap take effect");
    }

    [Test]
    public void No_iotlb_makes_every_request_walk()
    {
        var r = CliProcess.Run(Small, "replay", "-", "--iotlb", "0");
        Assert.That(r.ExitCode, Is.EqualTo(0), r.Stderr);
        Assert.That(Row(r.Stdout, "walks (requests that read memory)"), Is.EqualTo("4"), "nothing is cached");
        Assert.That(CliProcess.Run(Small, "replay", "-", "--iotlb", "3").ExitCode, Is.EqualTo(2), "not a power of two: a usage error");
    }

    [TestCase("map d 0x10000000 0x80001000 0x2000 rw", "map d 0x10000000 0x80001000 0x2000", 6,
        "expected: map DOMAIN IOVA PA SIZE PERM", TestName = "A map without permissions")]
    [TestCase("dma 1 - 0x10000010 w", "dma 1 - 0x10000010 q", 8, "access 'q': r or w", TestName = "A bad access")]
    [TestCase("unmap d 0x10000000 0x1000", "unmap net 0x10000000 0x1000", 9, "no domain named 'net'", TestName = "An unknown domain")]
    [TestCase("dma 1 - 0x10001000 r", "dma 2 - 0x10001000 r", 11, "no device 2", TestName = "An undeclared device")]
    [TestCase("dma 1 - 0x10001000 r", "dmx 1 - 0x10001000 r", 11, "unknown operation 'dmx'", TestName = "An unknown operation")]
    [TestCase("attach 1 d", "attach 1 d\nmap d 0x10001000 0x80005000 0x1000 rw", 7, "map of 0x10000000 + 0x2000 refused", TestName = "An overlapping map (refused while running)")]
    public void A_malformed_trace_line_is_an_error_naming_its_line(string from, string to, int line, string why)
    {
        string small = Small;
        Assert.That(small, Does.Contain(from), "the test edits the small trace");
        var r = CliProcess.Run(small.Replace(from, to, StringComparison.Ordinal), "replay", "-");
        Assert.That(r.ExitCode, Is.EqualTo(1), "bad input");
        Assert.That(r.Stderr, Does.StartWith($"fastiommu: line {line}: {why}"), "the error names the line");
        Assert.That(r.Stdout, Is.Empty, "no report");
    }

    [TestCase("ring")]
    [TestCase("random")]
    [TestCase("stream")]
    public void A_generated_trace_replays_and_the_same_seed_gives_the_same_trace(string pattern)
    {
        string a = Path.Combine(_dir, "a.trace"), b = Path.Combine(_dir, "b.trace");
        Assert.That(CliProcess.Run(null, "gen-trace", pattern, "--count", "3000", "-o", a).ExitCode, Is.EqualTo(0));
        var stdout = CliProcess.Run(null, "gen-trace", pattern, "-n", "3000");
        File.WriteAllText(b, stdout.Stdout);
        Assert.That(File.ReadAllText(a), Is.EqualTo(File.ReadAllText(b)), "the same seed gives the same trace, to a file or stdout");

        var strict = CliProcess.Run(null, "replay", a);
        Assert.That(strict.ExitCode, Is.EqualTo(0), strict.Stderr);
        Assert.That(Row(strict.Stdout, "stale: translated, but the table no longer maps it so"), Is.EqualTo("0"), "strict never leaves a stale entry");
        Assert.That(long.Parse(Row(strict.Stdout, "requests").Replace(",", "", StringComparison.Ordinal), System.Globalization.CultureInfo.InvariantCulture),
            Is.GreaterThan(1000), "the trace is mostly DMA");
        Assert.That(Row(strict.Stdout, "translated"), Is.EqualTo(Row(strict.Stdout, "requests")), "every generated DMA hits a mapped page");

        var batched = CliProcess.Run(null, "replay", a, "--policy", "batched", "--batch", "32");
        Assert.That(batched.ExitCode, Is.EqualTo(0), batched.Stderr);
        long strictFences = long.Parse(Row(strict.Stdout, "IOFENCE.C").Replace(",", "", StringComparison.Ordinal), System.Globalization.CultureInfo.InvariantCulture);
        long batchedFences = long.Parse(Row(batched.Stdout, "IOFENCE.C").Replace(",", "", StringComparison.Ordinal), System.Globalization.CultureInfo.InvariantCulture);
        Assert.That(batchedFences, Is.LessThan(strictFences), "batching unmaps sends fewer fences");
    }

    [Test]
    public void Gen_trace_refuses_an_unknown_pattern()
    {
        var r = CliProcess.Run(null, "gen-trace", "zigzag");
        Assert.That(r.ExitCode, Is.EqualTo(2), "a usage error");
    }
}
