using System.CommandLine;
using FastIommu.Cli.Commands;
using FastIommu.Images;
using Spectre.Console;

namespace FastIommu.Cli;

/// <summary>
/// The fastiommu command line: one <see cref="Command"/> per verb, each in Commands/ with its options and its action.
/// Exit codes: 0 success; 1 bad input (an image refused, a file missing, a malformed query line); 2 a usage error.
/// Errors go to standard error, results to standard output.
/// </summary>
internal static class CliApp
{
    public const int Ok = 0;
    public const int BadInput = 1;
    public const int UsageError = 2;

    public static int Run(string[] args, Stream stdout, Stream stdin, TextWriter error, bool interactive = false)
    {
        using var context = new CliContext(stdout, stdin, error) { Interactive = interactive };
        var output = context.Out;
        var root = new RootCommand(
            "fastiommu: byte-exact RISC-V IOMMU table images. 'demo' builds a scenario through the driver layer and shows "
            + "it; dump an image (or a raw guest memory file) as text, DOT or JSON, and translate DMA addresses through "
            + "the FastIommu hardware model on an image's bytes; 'build' makes images from scenario files, 'replay' runs DMA "
            + "traces to compare invalidation strategies.");
        root.Subcommands.Add(DemoCommand.Create(context));
        root.Subcommands.Add(BuildCommand.Create(context));
        root.Subcommands.Add(DumpCommand.Create(context));
        root.Subcommands.Add(TranslateCommand.Create(context));
        root.Subcommands.Add(ReplayCommand.Create(context));
        root.Subcommands.Add(GenTraceCommand.Create(context));

        var parse = root.Parse(args);
        if (parse.Errors.Count > 0)
        {
            foreach (var e in parse.Errors)
            {
                error.WriteLine($"fastiommu: {e.Message}");
            }

            error.WriteLine("Try 'fastiommu --help'.");
            return UsageError;
        }

        try
        {
            return parse.Invoke(new InvocationConfiguration { Output = output, Error = error, EnableDefaultExceptionHandler = false });
        }
        catch (ImageFormatException ex)
        {
            // The message says what and at which offset; the file name is the user's.
            error.WriteLine($"fastiommu: {ex.Message}");
            return BadInput;
        }
        catch (Scenarios.ScenarioException ex)
        {
            // The message starts with the JSON path of the field at fault.
            error.WriteLine($"fastiommu: {ex.Message}");
            return BadInput;
        }
        catch (Replay.TraceException ex)
        {
            // The message starts with the line number.
            error.WriteLine($"fastiommu: {ex.Message}");
            return BadInput;
        }
        catch (FileNotFoundException ex)
        {
            error.WriteLine($"fastiommu: no such file: {ex.FileName}");
            return BadInput;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException or FormatException)
        {
            error.WriteLine($"fastiommu: {ex.Message}");
            return BadInput;
        }
    }

    /// <summary>Runs <paramref name="work"/>, with a spinner on standard error when it is a terminal and the work is
    /// long (<paramref name="long"/>): loading and decoding a large image takes a moment.</summary>
    public static T WithProgress<T>(CliContext context, bool @long, string what, Func<T> work)
    {
        if (!context.Interactive || !@long)
        {
            return work();
        }

        var console = Spectre.Console.AnsiConsole.Create(new Spectre.Console.AnsiConsoleSettings
        {
            Out = new Spectre.Console.AnsiConsoleOutput(context.Error),
        });
        return console.Status().Start(what, _ => work());
    }

    /// <summary>Reports a usage problem found by a command's own checks.</summary>
    public static int Usage(TextWriter error, string message)
    {
        error.WriteLine($"fastiommu: {message}");
        error.WriteLine("Try 'fastiommu --help'.");
        return UsageError;
    }
}
