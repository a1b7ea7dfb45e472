using System.Buffers;
using FastIommu.Hardware;

namespace FastIommu.Cli.Translate;

/// <summary>
/// Reads translation queries (<c>DEVICE_ID PROCESS_ID|- IOVA r|w|x [s]</c>, one a line) from a stream, translates each
/// through the hardware model and writes one JSON object a line. The loop works on byte spans of two reused buffers:
/// parsing, translating and formatting a query allocate nothing. A malformed line is reported on the error writer with
/// its number, and the next lines still run.
/// </summary>
internal sealed class QueryRunner(IommuTranslator translator, TextWriter error)
{
    private const int BufferSize = 1 << 16;
    private const int MaxOutputLine = 192; // the longest object written, with room to spare

    private readonly byte[] _out = new byte[BufferSize];
    private int _outPos;
    private Stream _output = Stream.Null;

    /// <summary>Well-formed queries translated.</summary>
    public long Queries { get; private set; }

    /// <summary>Malformed lines reported.</summary>
    public long Errors { get; private set; }

    public void Run(Stream input, Stream output)
    {
        _output = output;
        byte[] buffer = ArrayPool<byte>.Shared.Rent(BufferSize);
        try
        {
            int start = 0, end = 0;
            long line = 0;
            bool eof = false, tooLong = false;
            while (true)
            {
                int newline = buffer.AsSpan(start, end - start).IndexOf((byte)'\n');
                if (newline >= 0)
                {
                    line++;
                    if (tooLong)
                    {
                        Malformed(line, $"longer than {BufferSize} bytes");
                        tooLong = false;
                    }
                    else
                    {
                        Process(buffer.AsSpan(start, newline), line);
                    }

                    start += newline + 1;
                    continue;
                }

                if (eof)
                {
                    if (end > start && !tooLong)
                    {
                        Process(buffer.AsSpan(start, end - start), line + 1);
                    }
                    else if (tooLong)
                    {
                        Malformed(line + 1, $"longer than {BufferSize} bytes");
                    }

                    break;
                }

                // Keep the partial line, then read more behind it. A line that fills the buffer is dropped (reported once).
                if (start == 0 && end == buffer.Length)
                {
                    tooLong = true;
                    end = 0;
                }
                else if (start > 0)
                {
                    buffer.AsSpan(start, end - start).CopyTo(buffer);
                    end -= start;
                    start = 0;
                }

                int read = input.Read(buffer, end, buffer.Length - end);
                if (read == 0)
                {
                    eof = true;
                }

                end += read;
            }

            Flush();
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private void Process(ReadOnlySpan<byte> text, long line)
    {
        switch (Parse(text, out QueryLine query, out string? error))
        {
            case LineKind.Query:
                var request = query.ToRequest();
                var result = translator.Translate(in request);
                Queries++;
                Write(query.DeviceId, query.HasProcess, query.ProcessId, query.Iova, query.Access, in result);
                break;
            case LineKind.Malformed:
                Malformed(line, error!);
                break;
        }
    }

    /// <summary>Parses one line (without its '\n'): <c>DEVICE_ID PROCESS_ID|- IOVA r|w|x [s]</c>, tokens separated by
    /// spaces or tabs, one trailing '\r' dropped. Blank lines and lines starting with '#' are <see cref="LineKind.Skip"/>.
    /// Never throws, allocates nothing: <paramref name="error"/> is a constant saying what is wrong.</summary>
    internal static LineKind Parse(ReadOnlySpan<byte> text, out QueryLine query, out string? error)
    {
        query = default;
        error = null;
        if (!text.IsEmpty && text[^1] == '\r')
        {
            text = text[..^1];
        }

        text = Trim(text);
        if (text.IsEmpty || text[0] == '#')
        {
            return LineKind.Skip;
        }

        if (!NextToken(ref text, out var device) || !NextToken(ref text, out var process) || !NextToken(ref text, out var iova)
            || !NextToken(ref text, out var access))
        {
            error = "expected DEVICE_ID PROCESS_ID|- IOVA r|w|x [s]";
            return LineKind.Malformed;
        }

        bool privileged = false;
        if (NextToken(ref text, out var flag))
        {
            if (flag.Length != 1 || flag[0] != 's' || NextToken(ref text, out _))
            {
                error = "after the access only 's' (privileged) may follow";
                return LineKind.Malformed;
            }

            privileged = true;
        }

        if (!TryParse(device, out ulong deviceId))
        {
            error = "DEVICE_ID is not a number (hex with 0x, or decimal)";
            return LineKind.Malformed;
        }

        if (deviceId > TranslationRequest.MaxDeviceId)
        {
            // No bus carries a wider one (TranslationRequest refuses it): a bad line, not the end of the run.
            error = "DEVICE_ID is wider than 24 bits (at most 0xffffff)";
            return LineKind.Malformed;
        }

        bool hasProcess = !(process.Length == 1 && process[0] == '-');
        ulong processId = 0;
        if (hasProcess && (!TryParse(process, out processId) || processId > uint.MaxValue))
        {
            error = "PROCESS_ID is neither '-' nor a number";
            return LineKind.Malformed;
        }

        if (!TryParse(iova, out ulong address))
        {
            error = "IOVA is not a number (hex with 0x, or decimal)";
            return LineKind.Malformed;
        }

        if (access.Length != 1 || access[0] is not ((byte)'r' or (byte)'w' or (byte)'x'))
        {
            error = "the access must be r, w or x";
            return LineKind.Malformed;
        }

        query = new QueryLine((uint)deviceId, hasProcess, (uint)processId, address, access[0], privileged);
        return LineKind.Query;
    }

    private void Write(uint device, bool hasProcess, uint process, ulong iova, byte access, in TranslationResult result)
    {
        if (_outPos > _out.Length - MaxOutputLine)
        {
            Flush();
        }

        var o = _out.AsSpan(_outPos);
        int n = 0;
        Put(o, ref n, "{\"device\":"u8);
        PutDecimal(o, ref n, device);
        Put(o, ref n, ",\"pasid\":"u8);
        if (hasProcess)
        {
            PutDecimal(o, ref n, process);
        }
        else
        {
            Put(o, ref n, "null"u8);
        }

        Put(o, ref n, ",\"iova\":\""u8);
        PutHex(o, ref n, iova);
        Put(o, ref n, "\",\"access\":\""u8);
        o[n++] = access;
        if (result.Success)
        {
            Put(o, ref n, "\",\"ok\":true,\"pa\":\""u8);
            PutHex(o, ref n, result.PhysicalAddress);
            Put(o, ref n, "\",\"page_size\":"u8);
            PutDecimal(o, ref n, result.PageSize);
        }
        else
        {
            Put(o, ref n, "\",\"ok\":false,\"cause\":"u8);
            PutDecimal(o, ref n, (ulong)result.Cause);
        }

        Put(o, ref n, "}\n"u8);
        _outPos += n;
    }

    private static void Put(Span<byte> o, ref int n, ReadOnlySpan<byte> text)
    {
        text.CopyTo(o[n..]);
        n += text.Length;
    }

    private static void PutDecimal(Span<byte> o, ref int n, ulong value)
    {
        value.TryFormat(o[n..], out int written, default, System.Globalization.CultureInfo.InvariantCulture);
        n += written;
    }

    private static void PutHex(Span<byte> o, ref int n, ulong value)
    {
        o[n++] = (byte)'0';
        o[n++] = (byte)'x';
        value.TryFormat(o[n..], out int written, "x", System.Globalization.CultureInfo.InvariantCulture);
        n += written;
    }

    private void Flush()
    {
        _output.Write(_out, 0, _outPos);
        _outPos = 0;
    }

    private void Malformed(long line, string reason)
    {
        Errors++;
        // Results so far go out first, so the two streams read in order when they share a terminal.
        Flush();
        _output.Flush();
        error.WriteLine($"fastiommu translate: line {line}: {reason}");
    }

    private static ReadOnlySpan<byte> Trim(ReadOnlySpan<byte> s)
    {
        int a = 0, b = s.Length;
        while (a < b && s[a] is (byte)' ' or (byte)'\t')
        {
            a++;
        }

        while (b > a && s[b - 1] is (byte)' ' or (byte)'\t')
        {
            b--;
        }

        return s[a..b];
    }

    private static bool NextToken(ref ReadOnlySpan<byte> text, out ReadOnlySpan<byte> token)
    {
        int i = 0;
        while (i < text.Length && text[i] is (byte)' ' or (byte)'\t')
        {
            i++;
        }

        int start = i;
        while (i < text.Length && text[i] is not ((byte)' ' or (byte)'\t'))
        {
            i++;
        }

        token = text[start..i];
        text = text[i..];
        return !token.IsEmpty;
    }

    /// <summary>Hex with 0x, or decimal; no overflow past 64 bits.</summary>
    internal static bool TryParse(ReadOnlySpan<byte> s, out ulong value)
    {
        value = 0;
        if (s.Length > 2 && s[0] == '0' && (s[1] | 0x20) == 'x')
        {
            s = s[2..];
            if (s.Length > 16)
            {
                return false;
            }

            foreach (byte c in s)
            {
                int d = Numbers.HexDigit(c);
                if (d < 0)
                {
                    return false;
                }

                value = (value << 4) | (uint)d;
            }

            return true;
        }

        if (s.IsEmpty || s.Length > 20)
        {
            return false;
        }

        foreach (byte c in s)
        {
            uint d = (uint)(c - '0');
            if (d > 9 || value > (ulong.MaxValue - d) / 10)
            {
                return false;
            }

            value = (value * 10) + d;
        }

        return true;
    }
}

/// <summary>What a query line is.</summary>
internal enum LineKind
{
    /// <summary>A blank line or a comment.</summary>
    Skip,
    /// <summary>A well-formed query.</summary>
    Query,
    /// <summary>Not a query; the parser says why.</summary>
    Malformed,
}

/// <summary>A parsed query line: <c>DEVICE_ID PROCESS_ID|- IOVA r|w|x [s]</c>.</summary>
/// <param name="Access">'r', 'w' or 'x'.</param>
/// <param name="Privileged">The trailing 's': a supervisor-mode request (with a process_id).</param>
internal readonly record struct QueryLine(uint DeviceId, bool HasProcess, uint ProcessId, ulong Iova, byte Access, bool Privileged)
{
    public TranslationRequest ToRequest()
    {
        var type = Access switch { (byte)'r' => AccessType.Read, (byte)'w' => AccessType.Write, _ => AccessType.Execute };
        return HasProcess
            ? new TranslationRequest(DeviceId, ProcessId, Iova, type, Privileged)
            : new TranslationRequest(DeviceId, Iova, type);
    }
}
