using BenchmarkDotNet.Running;

namespace FastIommu.Benchmarks;

/// <summary>Runs the benchmark suite: every class in this assembly, or those the BenchmarkDotNet
/// command line selects (for example <c>--filter '*PageTable*'</c>), with <see cref="SuiteConfig"/>.</summary>
public static class Program
{
    public static void Main(string[] args) =>
        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args, SuiteConfig.Create(withSuiteJob: !args.Contains("--job") && !args.Contains("-j")));
}
