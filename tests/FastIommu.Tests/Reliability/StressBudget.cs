using System.Globalization;

namespace FastIommu.Tests.Reliability;

/// <summary>How long a stress test runs: its CI bound, or FASTIOMMU_STRESS_SECONDS for a long run (tests/README.md).</summary>
internal static class StressBudget
{
    public static TimeSpan Duration(double ciSeconds) =>
        TimeSpan.FromSeconds(Environment.GetEnvironmentVariable("FASTIOMMU_STRESS_SECONDS") is { Length: > 0 } text
            ? double.Parse(text, NumberStyles.Float, CultureInfo.InvariantCulture)
            : ciSeconds);
}
