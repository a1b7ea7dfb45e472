using System.CommandLine;
using System.Globalization;
using FastIommu.Cli.Driver;
using FastIommu.Cli.Replay;
using FastIommu.Hardware;
using Spectre.Console;

namespace FastIommu.Cli.Commands;

/// <summary><c>fastiommu replay TRACE [--policy strict|batched] [--batch N] [--iotlb N]</c>: a trace of driver
/// operations and DMA (docs/trace-format.md) through the driver layer and the hardware model.</summary>
internal static class ReplayCommand
{
    private const int ProgressThreshold = 100_000;

    public static Command Create(CliContext context)
    {
        var output = context.Out;
        var trace = new Argument<string>("TRACE") { Description = "A trace file (docs/trace-format.md), or - for standard input." };
        var policy = new Option<string>("--policy")
        {
            Description = "strict: each unmap synced at once (IOTINVALs + IOFENCE.C); batched: unmaps gathered, synced every --batch unmaps and at 'sync' lines.",
            DefaultValueFactory = _ => "strict",
        };
        policy.AcceptOnlyFromAmong("strict", "batched");
        var batch = new Option<int>("--batch") { Description = "Unmaps per sync with --policy batched (default 64).", DefaultValueFactory = _ => 64 };
        var iotlb = new Option<int>("--iotlb")
        {
            Description = "IOTLB entries of each IOMMU (a power of two, at least 4; 0 turns the IOTLB and micro-TLB off). Default 4096.",
            DefaultValueFactory = _ => 4096,
        };
        var command = new Command("replay",
            "Replay a trace of driver operations (map, unmap, sync, attach) and device DMA through the driver layer and the "
            + "hardware model, and report operations per second, how DMA was served (from the model's caches or by a walk, "
            + "counted from its memory reads), translations a pending invalidation left stale, faults by cause, and the "
            + "commands sent by kind. Make traces with 'fastiommu gen-trace'.")
        {
            trace, policy, batch, iotlb,
        };

        command.SetAction(parse =>
        {
            int batchSize = parse.GetValue(batch);
            int iotlbEntries = parse.GetValue(iotlb);
            if (batchSize < 1)
            {
                return CliApp.Usage(context.Error, $"--batch {batchSize}: at least 1.");
            }

            if (iotlbEntries != 0 && (iotlbEntries < 4 || iotlbEntries > 1 << 24 || (iotlbEntries & (iotlbEntries - 1)) != 0))
            {
                return CliApp.Usage(context.Error, $"--iotlb {iotlbEntries}: a power of two from 4 to 2^24, or 0.");
            }

            string path = parse.GetValue(trace)!;
            Trace parsed;
            using (var reader = path == "-" ? new StreamReader(context.In, leaveOpen: true) : new StreamReader(path))
            {
                parsed = TraceParser.Parse(reader);
            }

            var invalidation = new InvalidationPolicy(parse.GetValue(policy) == "strict" ? 0 : batchSize);
            var cache = new TranslatorCacheOptions
            {
                IotlbEntries = iotlbEntries,
                MicroTlbEntries = iotlbEntries == 0 ? 0 : TranslatorCacheOptions.Default.MicroTlbEntries,
                CountHits = true, // the report's cache table
            };
            using var runner = new ReplayRunner(parsed, invalidation, cache);
            Run(context, runner, parsed.Ops.Length);
            Report(output, runner, invalidation, iotlbEntries);
            return CliApp.Ok;
        });
        return command;
    }

    private static void Run(CliContext context, ReplayRunner runner, int operations)
    {
        if (!context.Interactive || operations < ProgressThreshold)
        {
            runner.Run();
            return;
        }

        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(context.Error) });
        console.Progress().Start(progress =>
        {
            var task = progress.AddTask("Replaying", maxValue: operations);
            runner.Run(done => task.Value = done);
        });
    }

    private static void Report(TextWriter output, ReplayRunner runner, InvalidationPolicy policy, int iotlbEntries)
    {
        var s = runner.Stats;
        var console = Tables.Console(output);
        var summary = Tables.Create("Replay", "measure", "value");
        double seconds = Math.Max(s.Elapsed.TotalSeconds, 1e-9);
        Tables.AddRow(summary, "operations", N(s.Operations));
        Tables.AddRow(summary, "elapsed", s.Elapsed.TotalSeconds.ToString("0.000 s", CultureInfo.InvariantCulture));
        Tables.AddRow(summary, "operations/s", (s.Operations / seconds).ToString("N0", CultureInfo.InvariantCulture));
        Tables.AddRow(summary, "invalidation policy", policy.ToString());
        Tables.AddRow(summary, "IOTLB entries", iotlbEntries == 0 ? "0 (IOTLB and micro-TLB off)" : N(iotlbEntries));
        Tables.AddRow(summary, "maps / unmaps / syncs", $"{N(s.Maps)} / {N(s.Unmaps)} / {N(s.Syncs)}");
        console.Write(summary);

        var dma = Tables.Create("DMA (memory reads counted by the replay's memory)", "measure", "count", "share");
        Tables.AddRow(dma, "requests", N(s.Dma), "");
        Tables.AddRow(dma, "translated", N(s.Translated), Share(s.Translated, s.Dma));
        foreach (var (cause, count) in s.Faults.OrderBy(f => (int)f.Key))
        {
            Tables.AddRow(dma, $"fault {(int)cause} {cause}", N(count), Share(count, s.Dma));
        }

        Tables.AddRow(dma, "served with no memory read (micro-TLB or IOTLB hit)", N(s.Cached), Share(s.Cached, s.Dma));
        Tables.AddRow(dma, "walks (requests that read memory)", N(s.Walks), Share(s.Walks, s.Dma));
        Tables.AddRow(dma, "memory reads per walk", s.Walks == 0 ? "-" : ((double)s.WalkReads / s.Walks).ToString("0.0", CultureInfo.InvariantCulture), "");
        Tables.AddRow(dma, "stale: translated, but the table no longer maps it so", N(s.Stale), Share(s.Stale, s.Dma));
        console.Write(dma);

        TranslationCacheStatistics c = runner.CacheStatistics;
        var caches = Tables.Create("Caches (the model's own counters)", "level", "hits", "share");
        Tables.AddRow(caches, "micro-TLB hits, of requests", N(c.MicroTlbHits), Share(c.MicroTlbHits, c.Requests));
        Tables.AddRow(caches, "IOTLB hits, of micro-TLB misses", N(c.IotlbHits), Share(c.IotlbHits, c.MicroTlbMisses));
        Tables.AddRow(caches, "translation process runs (walks), of requests", N(c.Walks), Share(c.Walks, c.Requests));
        Tables.AddRow(caches, "DC cache hits, of DCs looked up", N(c.DeviceContextHits), Share(c.DeviceContextHits, c.DeviceContextHits + c.DeviceContextMisses));
        Tables.AddRow(caches, "PC cache hits, of PCs looked up", N(c.ProcessContextHits), Share(c.ProcessContextHits, c.ProcessContextHits + c.ProcessContextMisses));
        console.Write(caches);

        var sent = CommandTally.Snapshot(runner.Instances).Since(runner.Setup);
        var commands = Tables.Create("Commands sent (driver counters)", "command", "count", "per unmap");
        for (int k = 0; k < CommandTally.Kinds.Length; k++)
        {
            long n = sent.CountAll(k);
            Tables.AddRow(commands, CommandTally.Kinds[k].Name, N(n), s.Unmaps == 0 ? "-" : ((double)n / s.Unmaps).ToString("0.00", CultureInfo.InvariantCulture));
        }

        console.Write(commands);
        output.Flush();
    }

    private static string N(long value) => value.ToString("N0", CultureInfo.InvariantCulture);

    private static string Share(long part, long whole) =>
        whole == 0 ? "-" : ((double)part / whole).ToString("0.0%", CultureInfo.InvariantCulture);
}
