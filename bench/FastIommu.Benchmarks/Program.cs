using BenchmarkDotNet.Running;

namespace FastIommu.Benchmarks;

/// <summary>Runs the benchmark suite: every class in this assembly, or those the BenchmarkDotNet
/// command line selects (for example <c>--filter '*PageTable*'</c>), with <see cref="SuiteConfig"/>.
/// <c>--callgrind</c> runs the instruction-count harness instead (<see cref="MissInstructionCounts"/>).</summary>
public static class Program
{
    public static int Main(string[] args)
    {
        if (args.Length > 0 && args[0] == "--callgrind")
        {
            return MissInstructionCounts.Run(args);
        }

        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args, SuiteConfig.Create(withSuiteJob: !args.Contains("--job") && !args.Contains("-j")));
        return 0;
    }
}
