using System.CommandLine;
using System.Globalization;
using System.Security.Cryptography;
using FastIommu.Cli.Driver;
using FastIommu.Hardware;
using FastIommu.Images;

namespace FastIommu.Cli.Commands;

/// <summary><c>fastiommu demo [-o demo.img]</c>: the built-in scenario (<see cref="DemoScenario"/>), shown and saved.</summary>
internal static class DemoCommand
{
    public static Command Create(CliContext context)
    {
        var output = context.Out;
        var outFile = new Option<string>("--output", "-o")
        {
            Description = "The image of iommu0 (default demo.img); iommu1's goes beside it, named with '.iommu1' before the extension.",
            DefaultValueFactory = _ => "demo.img",
        };
        var command = new Command("demo",
            "Build a built-in scenario through the driver layer (two IOMMUs, a device group sharing a paging domain, a "
            + "PASID domain, an SVA bind, a nested guest over a G-stage), print the invalidation commands each step sent, "
            + "the text dump of each IOMMU's structures, DMA translations through the hardware model (with faults and "
            + "their causes), and write the table images. Needs no arguments and no files; the same bytes every run.")
        {
            outFile,
        };

        command.SetAction(parse =>
        {
            string path0 = parse.GetValue(outFile)!;
            string path1 = SecondImagePath(path0);
            using var demo = DemoScenario.Build();
            var console = Tables.Console(output);

            // The images first: an unwritable path is an error before anything is printed.
            string[] paths = [path0, path1];
            var images = new TableImage[demo.Hardware.Length];
            var written = new string[images.Length];
            for (int i = 0; i < images.Length; i++)
            {
                images[i] = TableImage.Capture(demo.Hardware[i], new PhysicalMemoryAccess(demo.Ram));
                byte[] bytes = images[i].ToArray();
                File.WriteAllBytes(paths[i], bytes);
                written[i] = $"wrote {paths[i]}: iommu{i}, {images[i].Memory.PageCount} pages, {bytes.Length} bytes, "
                    + $"sha256 {Convert.ToHexStringLower(SHA256.HashData(bytes))}";
            }

            console.Write(StepsTable(demo));
            output.WriteLine();
            for (int i = 0; i < images.Length; i++)
            {
                output.WriteLine($"=== iommu{i}: text dump of its structures in memory ===");
                TextDump.Write(IommuDecoder.Decode(new PhysicalMemoryAccess(demo.Ram), images[i].Ddtp, images[i].Capabilities, images[i].Fctl), output);
                output.WriteLine();
            }

            console.Write(TranslationsTable(demo));
            output.WriteLine();
            foreach (string line in written)
            {
                output.WriteLine(line);
            }

            output.WriteLine($"Try: fastiommu dump {path0}   or   echo '0x100 - 0x10001000 r' | fastiommu translate {path0}");
            output.Flush();
            return CliApp.Ok;
        });
        return command;
    }

    /// <summary>demo.img → demo.iommu1.img.</summary>
    public static string SecondImagePath(string path)
    {
        string extension = Path.GetExtension(path);
        return path[..^extension.Length] + ".iommu1" + extension;
    }

    private static Spectre.Console.Table StepsTable(DemoScenario demo)
    {
        var table = Tables.Create("Commands each step wrote to each IOMMU's command queue (decoded from the ring)",
            "step", "IOMMU", "commands, in queue order");
        table.Columns[0].NoWrap = true;
        table.Columns[1].NoWrap = true;
        foreach (var step in demo.Steps)
        {
            for (int i = 0; i < step.Ring.Length; i++)
            {
                // The ring and the driver's counters tell the same story; the counters say so when they would not.
                var ring = step.Ring[i];
                string commands = ring.Count == 0 ? "-" : string.Join("\n", ring);
                if (ring.Count != step.Counts.Total(i))
                {
                    commands += $" (driver counted {step.Counts.Total(i).ToString(CultureInfo.InvariantCulture)})";
                }

                Tables.AddRow(table, i == 0 ? step.Name : "", "iommu" + i.ToString(CultureInfo.InvariantCulture), commands);
            }
        }

        return table;
    }

    private static Spectre.Console.Table TranslationsTable(DemoScenario demo)
    {
        var table = Tables.Create("DMA through the hardware model (fault: the spec's CAUSE)", "request", "IOMMU", "device", "pasid", "iova", "access", "result");
        foreach (var t in demo.Translations)
        {
            string result = t.Result.Success
                ? $"pa {Numbers.Hex(t.Result.PhysicalAddress)} ({t.Result.PageSize / 1024} KiB page)"
                : $"fault {(int)t.Result.Cause} {t.Result.Cause}";
            Tables.AddRow(table, t.What, "iommu" + t.Instance.ToString(CultureInfo.InvariantCulture), Numbers.Hex(t.Device),
                t.Pasid is { } p ? p.ToString(CultureInfo.InvariantCulture) : "-", Numbers.Hex(t.Iova),
                t.Access switch { AccessType.Read => "r", AccessType.Write => "w", _ => "x" }, result);
        }

        return table;
    }
}
