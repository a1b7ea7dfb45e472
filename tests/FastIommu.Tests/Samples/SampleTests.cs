using System.Diagnostics;
using System.Reflection;

namespace FastIommu.Tests.Samples;

/// <summary>The programs in samples/ are built with the tests and must run to the end (each checks its own results
/// and exits 1 on the first that is wrong).</summary>
public class SampleTests
{
    private static string SamplePath(string name)
    {
        string samples = typeof(SampleTests).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
            .Single(a => a.Key == "SamplesDirectory").Value!;
        // Built in the test's configuration: bin/<Configuration>/net10.0 beside the test assembly's own.
        string configuration = new DirectoryInfo(TestContext.CurrentContext.TestDirectory).Parent!.Name;
        return Path.Combine(samples, name, "bin", configuration, "net10.0", name + ".dll");
    }

    [TestCase("EmulatorBringUp", "bring-up complete")]
    [TestCase("TwoStage", "two-stage sample complete")]
    public void The_sample_runs_to_the_end(string name, string last)
    {
        string dll = SamplePath(name);
        Assert.That(File.Exists(dll), Is.True, $"{name} is built with the tests: {dll}");
        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        info.ArgumentList.Add(dll);
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        Assert.That(process.WaitForExit(120_000), Is.True, $"{name} finishes");
        Assert.That(process.ExitCode, Is.EqualTo(0), $"{name} failed: {stderr.Result}");
        Assert.That(stdout.Result.TrimEnd(), Does.EndWith(last), "it reached its last step");
    }
}
