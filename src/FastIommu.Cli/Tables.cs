using Spectre.Console;

namespace FastIommu.Cli;

/// <summary>Spectre.Console tables written to a command's standard output: plain text (no colour, no ANSI codes) and
/// a fixed width, so the output is the same on a terminal, in a pipe and in a test.</summary>
internal static class Tables
{
    public const int Width = 120;

    public static IAnsiConsole Console(TextWriter writer)
    {
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(writer),
            Ansi = AnsiSupport.No,
            ColorSystem = ColorSystemSupport.NoColors,
            Interactive = InteractionSupport.No,
        });
        console.Profile.Width = Width;
        return console;
    }

    public static Table Create(string title, params string[] columns)
    {
        var table = new Table { Border = TableBorder.Ascii, Title = new TableTitle(title) };
        foreach (string column in columns)
        {
            table.AddColumn(new TableColumn(Markup.Escape(column)));
        }

        return table;
    }

    /// <summary>Adds a row of plain text cells (markup characters are escaped).</summary>
    public static void AddRow(Table table, params string[] cells)
    {
        var row = new Spectre.Console.Rendering.IRenderable[cells.Length];
        for (int i = 0; i < cells.Length; i++)
        {
            row[i] = new Text(cells[i]);
        }

        table.AddRow(row);
    }
}
