namespace FastIommu.Cli;

internal static class Program
{
    private static int Main(string[] args)
    {
        using var stdout = Console.OpenStandardOutput();
        using var stdin = Console.OpenStandardInput();
        return CliApp.Run(args, stdout, stdin, Console.Error, interactive: !Console.IsErrorRedirected);
    }
}
