using System.CommandLine;
using Capabilities = FastIommu.Formats.RiscV.Capabilities;
using Ddtp = FastIommu.Formats.RiscV.Ddtp;
using FastIommu.Images;

namespace FastIommu.Cli.Commands;

/// <summary><c>fastiommu dump IMAGE | --raw FILE --base PA --ddtp VALUE [--format text|dot|json] [-o OUT]</c>.</summary>
internal static class DumpCommand
{
    public static Command Create(CliContext context)
    {
        var output = context.Out;
        var error = context.Error;
        var image = new Argument<string?>("IMAGE")
        {
            Description = "A table image (version 1, see docs/image-format.md).",
            Arity = ArgumentArity.ZeroOrOne,
        };
        var raw = new Option<string?>("--raw")
        {
            Description = "Instead of an image: a flat physical-memory file (an emulator's memory save), read at --base.",
        };
        var basePa = new Option<string?>("--base") { Description = "Physical address of the raw file's first byte (hex with 0x, or decimal)." };
        var ddtp = new Option<string?>("--ddtp") { Description = "The ddtp register value for --raw (iommu_mode and PPN)." };
        var caps = new Option<string?>("--capabilities")
        {
            Description = "The capabilities register for --raw (default: every RV64 mode, Svpbmt, PD8/17/20, base-format DCs).",
        };
        var format = new Option<string>("--format", "-f")
        {
            Description = "text (readable, the default), dot (Graphviz) or json (for scripts).",
            DefaultValueFactory = _ => "text",
        };
        format.AcceptOnlyFromAmong("text", "dot", "json");
        var outFile = new Option<string?>("--output", "-o") { Description = "Write the dump to this file instead of standard output." };

        var command = new Command("dump",
            "Decode an IOMMU's structures from bytes alone: ddtp, each valid device context by spec field, its process "
            + "contexts, and each page table's mappings coalesced (iova range -> pa range, page size, R/W/X/U/G/A/D, PBMT). "
            + "G-stage and nested two-stage tables are shown as such; entries the hardware would refuse are flagged '!!' "
            + "with the fault cause it would report (for a read).")
        {
            image, raw, basePa, ddtp, caps, format, outFile,
        };

        command.SetAction(parse =>
        {
            string? imagePath = parse.GetValue(image);
            string? rawPath = parse.GetValue(raw);
            if ((imagePath is null) == (rawPath is null))
            {
                return CliApp.Usage(error, "dump needs an IMAGE or --raw FILE (one of them).");
            }

            DecodedIommu decoded;
            if (imagePath is not null)
            {
                bool large = new FileInfo(imagePath).Exists && new FileInfo(imagePath).Length > (64L << 20);
                decoded = CliApp.WithProgress(context, large, $"Loading and decoding {Path.GetFileName(imagePath)}...",
                    () => IommuDecoder.Decode(TableImage.Load(imagePath)));
            }
            else
            {
                string? b = parse.GetValue(basePa), d = parse.GetValue(ddtp);
                if (b is null || d is null)
                {
                    return CliApp.Usage(error, "--raw needs --base PA and --ddtp VALUE.");
                }

                string? c = parse.GetValue(caps);
                var capabilities = c is null ? Capabilities.FullRv64 : new Capabilities(Numbers.Parse(c, "--capabilities"));
                ulong rawBase = Numbers.Parse(b, "--base");
                var ddtpValue = new Ddtp(Numbers.Parse(d, "--ddtp"));
                bool large = new FileInfo(rawPath!).Exists && new FileInfo(rawPath!).Length > (64L << 20);
                decoded = CliApp.WithProgress(context, large, $"Loading and decoding {Path.GetFileName(rawPath)}...",
                    () => IommuDecoder.Decode(SparseMemory.LoadFlat(rawPath!, rawBase), ddtpValue, capabilities));
            }

            string? path = parse.GetValue(outFile);
            string kind = parse.GetValue(format)!;
            using var stream = path is null ? null : new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16);
            if (kind == "json")
            {
                if (stream is not null)
                {
                    JsonDump.Write(decoded, stream);
                }
                else
                {
                    output.Write(JsonDump.ToJson(decoded));
                }

                (stream is null ? output : null)?.WriteLine();
                return CliApp.Ok;
            }

            using var fileWriter = stream is null ? null : new StreamWriter(stream, new System.Text.UTF8Encoding(false), 1 << 16);
            var writer = fileWriter ?? output;
            if (kind == "dot")
            {
                DotDump.Write(decoded, writer);
            }
            else
            {
                TextDump.Write(decoded, writer);
            }

            writer.Flush();
            return CliApp.Ok;
        });
        return command;
    }
}
