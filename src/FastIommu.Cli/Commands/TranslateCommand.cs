using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using FastIommu.Cli.Translate;
using FastIommu.Images;
using Spectre.Console;

namespace FastIommu.Cli.Commands;

/// <summary><c>fastiommu translate IMAGE [QUERIES] [--stats]</c>.</summary>
internal static class TranslateCommand
{
    public static Command Create(CliContext context)
    {
        var image = new Argument<string>("IMAGE") { Description = "A table image (version 1)." };
        var queries = new Argument<string?>("QUERIES")
        {
            Description = "A file of queries, one a line: DEVICE_ID PROCESS_ID|- IOVA r|w|x [s] (numbers hex with 0x or "
                + "decimal; '-' for no process_id; r/w/x the access; s = privileged, with a process_id). Blank lines and "
                + "lines starting with '#' are skipped. Omitted or '-': standard input.",
            Arity = ArgumentArity.ZeroOrOne,
        };
        var stats = new Option<bool>("--stats") { Description = "Print the number of queries and queries per second to standard error." };

        var command = new Command("translate",
            "Translate DMA addresses through the hardware model (IOTLB, DDT/PDT walk, two-stage translation) on the "
            + "image's bytes only. One JSON object a line: {\"device\":5,\"pasid\":null,\"iova\":\"0x...\",\"access\":\"r\","
            + "\"ok\":true,\"pa\":\"0x...\",\"page_size\":4096}, or \"ok\":false,\"cause\":N with the spec's fault cause. "
            + "A malformed line is reported on standard error with its number, the rest still run, and the exit code is 1. "
            + "Hardware A/D updates (DC.tc.SADE/GADE) go to a private copy, never to the image file.")
        {
            image, queries, stats,
        };

        command.SetAction(parse =>
        {
            var loaded = TableImage.Load(parse.GetValue(image)!, writable: true);
            var translator = loaded.CreateTranslator();
            string? path = parse.GetValue(queries);
            using var input = path is null or "-" ? null : new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
            context.Out.Flush();
            var runner = new QueryRunner(translator, context.Error);
            var clock = Stopwatch.StartNew();
            runner.Run(input ?? context.In, context.OutStream);
            clock.Stop();
            context.OutStream.Flush();
            if (parse.GetValue(stats))
            {
                WriteStats(context.Error, runner, clock.Elapsed);
            }

            return runner.Errors == 0 ? CliApp.Ok : CliApp.BadInput;
        });
        return command;
    }

    private static void WriteStats(TextWriter error, QueryRunner runner, TimeSpan elapsed)
    {
        double seconds = Math.Max(elapsed.TotalSeconds, 1e-9);
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(error),
            Ansi = AnsiSupport.No,
            ColorSystem = ColorSystemSupport.NoColors,
            Interactive = InteractionSupport.No,
        });
        var table = new Table().AddColumn("queries").AddColumn("malformed lines").AddColumn("seconds").AddColumn("queries/s");
        table.AddRow(
            runner.Queries.ToString(CultureInfo.InvariantCulture),
            runner.Errors.ToString(CultureInfo.InvariantCulture),
            seconds.ToString("0.000", CultureInfo.InvariantCulture),
            (runner.Queries / seconds).ToString("0", CultureInfo.InvariantCulture));
        console.Write(table);
    }
}
