using System.Text;

namespace FastIommu.Cli;

/// <summary>Where a command reads and writes: standard output as text (<see cref="Out"/>, buffered) and as bytes
/// (<see cref="OutStream"/>; flush <see cref="Out"/> before using it), standard input, standard error.</summary>
internal sealed class CliContext(Stream outStream, Stream inStream, TextWriter error) : IDisposable
{
    public StreamWriter Out { get; } = new(outStream, new UTF8Encoding(false), 1 << 16, leaveOpen: true);

    public Stream OutStream { get; } = outStream;

    public Stream In { get; } = inStream;

    public TextWriter Error { get; } = error;

    /// <summary>Standard error is a terminal: long work may show progress there.</summary>
    public bool Interactive { get; init; }

    public void Dispose() => Out.Dispose();
}
