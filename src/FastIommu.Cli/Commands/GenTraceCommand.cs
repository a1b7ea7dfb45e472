using System.CommandLine;
using System.Text;
using FastIommu.Cli.Replay;

namespace FastIommu.Cli.Commands;

/// <summary><c>fastiommu gen-trace ring|random|stream --count N [-o TRACE] [--seed S]</c>.</summary>
internal static class GenTraceCommand
{
    public static Command Create(CliContext context)
    {
        var output = context.Out;
        var pattern = new Argument<string>("PATTERN")
        {
            Description = "ring (a network receive ring of 256 posted buffers: the device writes one, the driver unmaps it and maps a fresh buffer at the same IOVA), random "
                + "(reads and writes over a 16 MiB mapped pool, pages unmapped and remapped at random), stream (64 KiB chunks "
                + "mapped at fresh IOVAs, written page by page, unmapped).",
        };
        pattern.AcceptOnlyFromAmong(TraceGenerator.Patterns);
        var count = new Option<long>("--count", "-n") { Description = "About how many operations (default 100000).", DefaultValueFactory = _ => 100_000 };
        var seed = new Option<int>("--seed") { Description = "Random seed (default 1): the same seed gives the same trace.", DefaultValueFactory = _ => 1 };
        var outFile = new Option<string?>("--output", "-o") { Description = "Write the trace here instead of standard output." };
        var command = new Command("gen-trace", "Write a trace (docs/trace-format.md) of a usual DMA pattern, for 'fastiommu replay'.")
        {
            pattern, count, seed, outFile,
        };

        command.SetAction(parse =>
        {
            long n = parse.GetValue(count);
            if (n < 1 || n > 1_000_000_000)
            {
                return CliApp.Usage(context.Error, $"--count {n}: from 1 to 10^9.");
            }

            string? path = parse.GetValue(outFile);
            using var file = path is null ? null : new StreamWriter(path, append: false, new UTF8Encoding(false), 1 << 16);
            TextWriter writer = file ?? output;
            TraceGenerator.Write(writer, parse.GetValue(pattern)!, n, parse.GetValue(seed));
            writer.Flush();
            return CliApp.Ok;
        });
        return command;
    }
}
