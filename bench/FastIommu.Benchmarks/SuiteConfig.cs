using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Diagnosers;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Order;
using BenchmarkDotNet.Reports;
using Perfolizer.Horology;

namespace FastIommu.Benchmarks;

/// <summary>The suite's configuration: BenchmarkDotNet's defaults (loggers, exporters, columns) plus a short job so
/// the whole suite runs in about ten minutes on two cores, the memory diagnoser (hot paths must show 0 B allocated),
/// and the categories column that pairs each C# case with its C twin (the baseline of its category, so Ratio is
/// C# time / C time).</summary>
public static class SuiteConfig
{
    /// <param name="withSuiteJob">False when the command line names its own job (<c>--job dry</c> for a quick check),
    /// which then runs alone instead of beside the suite's.</param>
    public static IConfig Create(bool withSuiteJob = true)
    {
        var config = ManualConfig.Create(DefaultConfig.Instance);
        if (withSuiteJob)
        {
            config.AddJob(Job.Default
                .WithId("Suite")
                .WithLaunchCount(1)
                .WithWarmupCount(3)
                .WithIterationCount(15)
                .WithIterationTime(TimeInterval.FromMilliseconds(200)));
        }

        return config
            .AddDiagnoser(MemoryDiagnoser.Default)
            .AddColumn(CategoriesColumn.Default)
            .AddLogicalGroupRules(BenchmarkLogicalGroupRule.ByCategory)
            .WithOrderer(new DefaultOrderer(SummaryOrderPolicy.Declared))
            .WithSummaryStyle(SummaryStyle.Default.WithRatioStyle(RatioStyle.Value));
    }
}
