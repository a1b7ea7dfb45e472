using System.CommandLine;
using System.Text;
using FastIommu.Cli.Scenarios;
using FastIommu.Images;

namespace FastIommu.Cli.Commands;

/// <summary><c>fastiommu build SCENARIO.json -o OUT.img [--text OUT.txt] [--dot OUT.dot]</c>: a scenario file
/// (docs/scenario-format.md) built through the driver layer, saved as table images and dumps.</summary>
internal static class BuildCommand
{
    public static Command Create(CliContext context)
    {
        var output = context.Out;
        var error = context.Error;
        var scenario = new Argument<string>("SCENARIO") { Description = "A scenario file (JSON, see docs/scenario-format.md)." };
        var outFile = new Option<string>("--output", "-o")
        {
            Description = "The table image of the first instance. With more instances, each other one's goes beside it "
                + "with '.NAME' (the instance's name) before the extension; --text and --dot likewise.",
            Required = true,
        };
        var text = new Option<string?>("--text") { Description = "Also write the text dump (as 'fastiommu dump') here." };
        var dot = new Option<string?>("--dot") { Description = "Also write the Graphviz DOT dump here." };
        var command = new Command("build",
            "Build a scenario file through the driver layer (instances with their DDT depth, DC format and capabilities; "
            + "paging, SVA and nested domains with their mappings; devices with groups, domains, PASID attachments and SVA "
            + "binds) and write each IOMMU's table image. A scenario the driver refuses is an error naming the JSON path "
            + "of the field (exit 1) and nothing is written.")
        {
            scenario, outFile, text, dot,
        };

        command.SetAction(parse =>
        {
            string path = parse.GetValue(scenario)!;
            var parsed = ScenarioParser.Parse(File.ReadAllBytes(path));
            using var built = ScenarioBuilder.Build(parsed);
            var images = built.Capture();

            // Every output is made in memory first: nothing is written unless the whole scenario built.
            var files = new List<(string Path, byte[] Bytes)>();
            string image = parse.GetValue(outFile)!;
            string? textPath = parse.GetValue(text), dotPath = parse.GetValue(dot);
            for (int i = 0; i < images.Count; i++)
            {
                var (name, tableImage) = images[i];
                files.Add((ForInstance(image, name, i), tableImage.ToArray()));
                if (textPath is not null || dotPath is not null)
                {
                    var decoded = IommuDecoder.Decode(tableImage);
                    if (textPath is not null)
                    {
                        files.Add((ForInstance(textPath, name, i), Encoding.UTF8.GetBytes(TextDump.ToText(decoded))));
                    }

                    if (dotPath is not null)
                    {
                        files.Add((ForInstance(dotPath, name, i), Encoding.UTF8.GetBytes(DotDump.ToDot(decoded))));
                    }
                }
            }

            foreach (var (file, bytes) in files)
            {
                File.WriteAllBytes(file, bytes);
                output.WriteLine($"wrote {file} ({bytes.Length} bytes)");
            }

            output.Flush();
            return CliApp.Ok;
        });
        return command;
    }

    /// <summary>The first instance's output is <paramref name="path"/>; the others' get ".NAME" before the extension.</summary>
    public static string ForInstance(string path, string name, int index)
    {
        if (index == 0)
        {
            return path;
        }

        string extension = Path.GetExtension(path);
        return path[..^extension.Length] + "." + name + extension;
    }
}
