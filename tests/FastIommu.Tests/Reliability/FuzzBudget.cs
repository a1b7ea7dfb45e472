using System.Diagnostics;
using System.Globalization;

namespace FastIommu.Tests.Reliability;

/// <summary>
/// How long a randomized target runs and with which seeds. In CI each target runs for its default time (about two
/// seconds); a long run sets the environment:
/// <list type="bullet">
/// <item><c>FASTIOMMU_FUZZ_SECONDS</c>: seconds per target (e.g. 600);</item>
/// <item><c>FASTIOMMU_FUZZ_CASES</c>: stop after this many cases instead (e.g. 5000000), whichever comes first;</item>
/// <item><c>FASTIOMMU_FUZZ_SEED</c>: the first case's seed (default: fixed, so CI runs are reproducible). A failure
/// prints the seed of the failing case; setting <c>FASTIOMMU_FUZZ_SEED</c> to it with <c>FASTIOMMU_FUZZ_CASES=1</c>
/// replays exactly that case.</item>
/// </list>
/// Case i runs with seed <c>Seed + i</c>, so a case is reproducible without replaying the ones before it.
/// </summary>
internal readonly struct FuzzBudget
{
    private readonly Stopwatch _clock;

    private FuzzBudget(TimeSpan time, long cases, long seed)
    {
        Time = time;
        Cases = cases;
        Seed = seed;
        _clock = Stopwatch.StartNew();
    }

    public TimeSpan Time { get; }

    public long Cases { get; }

    public long Seed { get; }

    /// <summary>The budget of one target: <paramref name="defaultSeconds"/> unless the environment says otherwise.</summary>
    public static FuzzBudget ForTarget(double defaultSeconds, long defaultSeed)
    {
        double seconds = Read("FASTIOMMU_FUZZ_SECONDS", defaultSeconds);
        long cases = (long)Read("FASTIOMMU_FUZZ_CASES", long.MaxValue);
        long seed = (long)Read("FASTIOMMU_FUZZ_SEED", defaultSeed);
        return new FuzzBudget(TimeSpan.FromSeconds(seconds), cases, seed);
    }

    /// <summary>True while case <paramref name="done"/> may still run.</summary>
    public bool Continue(long done) => done < Cases && _clock.Elapsed < Time;

    /// <summary>A hard limit for a watchdog: the budget plus a margin for one slow case.</summary>
    public TimeSpan Watchdog => Time + TimeSpan.FromSeconds(60);

    private static double Read(string name, double fallback) =>
        Environment.GetEnvironmentVariable(name) is { Length: > 0 } text
            ? double.Parse(text, NumberStyles.Float, CultureInfo.InvariantCulture)
            : fallback;

    /// <summary>Runs <paramref name="body"/> (case index, seed) for each case of the budget on its own thread, so a
    /// hang is reported (with the case's seed) instead of stalling the suite. Returns the number of cases run.</summary>
    public long Run(string target, Action<long, long> body)
    {
        long done = 0;
        long current = -1;
        Exception? failure = null;
        FuzzBudget self = this;
        var worker = new Thread(() =>
        {
            try
            {
                while (self.Continue(done))
                {
                    Volatile.Write(ref current, self.Seed + done);
                    body(done, self.Seed + done);
                    done++;
                }
            }
#pragma warning disable CA1031 // every failure, assertion or crash, goes back to the test thread with its seed
            catch (Exception e)
#pragma warning restore CA1031
            {
                failure = e;
            }
        }, 16 << 20) { IsBackground = true, Name = target };
        worker.Start();
        if (!worker.Join(Watchdog))
        {
            Assert.Fail($"{target}: case with seed {Volatile.Read(ref current)} did not finish within {Watchdog} (a hang)");
        }

        if (failure is not null)
        {
            Assert.Fail($"{target}: case with seed {current} failed (replay: FASTIOMMU_FUZZ_SEED={current} FASTIOMMU_FUZZ_CASES=1): {failure}");
        }

        TestContext.Out.WriteLine($"{target}: {done} cases in {self._clock.Elapsed.TotalSeconds:F1} s, seeds {Seed}..{Seed + done - 1}");
        return done;
    }
}

/// <summary>A violated fuzz oracle (thrown on the fuzz thread, reported with the case's seed).</summary>
internal sealed class FuzzFailureException(string message) : Exception(message)
{
    public static void Check(bool condition, string message)
    {
        if (!condition)
        {
            throw new FuzzFailureException(message);
        }
    }
}
