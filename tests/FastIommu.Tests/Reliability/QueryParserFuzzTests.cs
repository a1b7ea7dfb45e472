using System.Globalization;
using System.Numerics;
using System.Text;
using System.Text.Json;
using FastIommu.Cli.Translate;
using FastIommu.Formats.RiscV;
using FastIommu.Hardware;
using FastIommu.Memory;

namespace FastIommu.Tests.Reliability;

/// <summary>
/// Randomized input at scale against the query lines of <c>fastiommu translate</c> (docs/cli.md:
/// <c>DEVICE_ID PROCESS_ID|- IOVA r|w|x [s]</c>, numbers hex with 0x or decimal, blank lines and '#' comments
/// skipped). Lines come from the grammar (every number form, boundary values, spaces and tabs, CR, comments), from
/// the grammar then mutated (bytes inserted, deleted, replaced, tokens swapped or repeated, cut), and from random
/// bytes. Oracles:
/// <list type="bullet">
/// <item><see cref="QueryRunner.Parse"/>, called directly, never throws and agrees with a reference parser written
/// here from the grammar (split on spaces and tabs, numbers through <see cref="BigInteger"/>): the same kind (query,
/// skipped, malformed), and for a query the same fields; a malformed line has a reason;</item>
/// <item>the whole loop (<see cref="QueryRunner.Run"/>) over the same lines as one stream, read in random chunk
/// sizes, with now and then a line of 64 KiB or more: one JSON object per query, in order, with its device, PASID,
/// IOVA and access; one error line per malformed or too-long line, with its line number.</item>
/// </list>
/// </summary>
[Category("Fuzz")]
public class QueryParserFuzzTests
{
    private const int LongLine = 1 << 16; // QueryRunner's buffer: a line of this many bytes or more is refused

    private sealed class Stats
    {
        public long Lines, Queries, Skipped, Malformed, StreamBytes, LongLines;
    }

    [Test]
    public void Random_and_mutated_query_lines_parse_as_the_grammar_says_and_the_loop_reports_each_bad_line_by_number()
    {
        using var memory = PhysicalMemory.Allocate(1 << 16, 0x8000_0000);
        var translator = new IommuTranslator(memory, Capabilities.FullRv64) { Ddtp = new Ddtp(1) }; // Bare: every query succeeds
        var stats = new Stats();
        FuzzBudget budget = FuzzBudget.ForTarget(2, 0x0E_0000);
        long cases = budget.Run("query-parser", (_, seed) => RunCase(translator, seed, stats));
        TestContext.Out.WriteLine($"lines {stats.Lines}: {stats.Queries} queries, {stats.Skipped} skipped, {stats.Malformed} malformed; " +
            $"{stats.LongLines} lines of 64 KiB or more; {stats.StreamBytes} bytes through the loop");
        Assert.Multiple(() =>
        {
            Assert.That(cases, Is.GreaterThan(0), "at least one case ran");
            if (cases >= 100)
            {
                Assert.That(stats.Queries, Is.GreaterThan(stats.Lines / 10), "many lines are queries (the grammar generator works)");
                Assert.That(stats.Malformed, Is.GreaterThan(stats.Lines / 10), "many are malformed");
            }
        });
    }

    private static void RunCase(IommuTranslator translator, long seed, Stats stats)
    {
        var rng = new Random(unchecked((int)seed ^ (int)(seed >> 32)));
        int count = 1 + rng.Next(64);
        var lines = new List<byte[]>();
        var expected = new List<(LineKind Kind, QueryLine Query)>();
        for (int i = 0; i < count; i++)
        {
            byte[] line = rng.Next(256) == 0 ? LongRandomLine(rng) : RandomLine(rng);
            lines.Add(line);
            var reference = Reference(line);
            expected.Add(reference);
            stats.Lines++;
            if (line.Length >= LongLine)
            {
                stats.LongLines++;
                continue; // the loop refuses it before parsing; Parse alone is not asked about it
            }

            LineKind kind = QueryRunner.Parse(line, out QueryLine query, out string? error);
            string shown = Show(line);
            FuzzFailureException.Check(kind == reference.Kind,
                $"line \"{shown}\": parsed as {kind}{(error is null ? "" : $" ({error})")}, the grammar says {reference.Kind}");
            FuzzFailureException.Check(kind != LineKind.Query || query == reference.Query,
                $"line \"{shown}\": parsed as {query}, the grammar says {reference.Query}");
            FuzzFailureException.Check((kind == LineKind.Malformed) == (error is not null),
                $"line \"{shown}\": {kind} with error {error ?? "null"}");
            switch (kind)
            {
                case LineKind.Query: stats.Queries++; break;
                case LineKind.Skip: stats.Skipped++; break;
                default: stats.Malformed++; break;
            }
        }

        RunLoop(translator, rng, lines, expected, stats);
    }

    /// <summary>The lines as one stream through <see cref="QueryRunner.Run"/>: the JSON lines and error lines must be
    /// exactly what the reference expects, line numbers included.</summary>
    private static void RunLoop(IommuTranslator translator, Random rng, List<byte[]> lines, List<(LineKind Kind, QueryLine Query)> expected, Stats stats)
    {
        var input = new MemoryStream();
        for (int i = 0; i < lines.Count; i++)
        {
            input.Write(lines[i]);
            if (i < lines.Count - 1 || rng.Next(2) == 0)
            {
                input.WriteByte((byte)'\n');
            }
        }

        // A last line that is empty after its newline is no line: a stream ending in '\n' has lines.Count lines.
        byte[] bytes = input.ToArray();
        stats.StreamBytes += bytes.Length;
        var output = new MemoryStream();
        var errors = new StringWriter(CultureInfo.InvariantCulture);
        var runner = new QueryRunner(translator, errors);
        runner.Run(new ChunkedStream(bytes, rng), output);

        var wantErrors = new List<long>();
        var wantQueries = new List<QueryLine>();
        for (int i = 0; i < expected.Count; i++)
        {
            if (lines[i].Length >= LongLine || expected[i].Kind == LineKind.Malformed)
            {
                wantErrors.Add(i + 1);
            }
            else if (expected[i].Kind == LineKind.Query)
            {
                wantQueries.Add(expected[i].Query);
            }
        }

        var gotErrors = new List<long>();
        foreach (string error in errors.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            const string Prefix = "fastiommu translate: line ";
            FuzzFailureException.Check(error.StartsWith(Prefix, StringComparison.Ordinal), $"error line \"{error}\" has no line number");
            string number = error[Prefix.Length..error.IndexOf(':', Prefix.Length)];
            gotErrors.Add(long.Parse(number, CultureInfo.InvariantCulture));
        }

        FuzzFailureException.Check(gotErrors.SequenceEqual(wantErrors),
            $"errors on lines [{string.Join(", ", gotErrors)}], expected [{string.Join(", ", wantErrors)}]");
        FuzzFailureException.Check(runner.Errors == wantErrors.Count && runner.Queries == wantQueries.Count,
            $"counters: {runner.Queries} queries / {runner.Errors} errors, expected {wantQueries.Count} / {wantErrors.Count}");

        string[] results = Encoding.UTF8.GetString(output.ToArray()).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        FuzzFailureException.Check(results.Length == wantQueries.Count, $"{results.Length} JSON lines for {wantQueries.Count} queries");
        for (int i = 0; i < results.Length; i++)
        {
            using var json = JsonDocument.Parse(results[i]);
            JsonElement o = json.RootElement;
            QueryLine q = wantQueries[i];
            bool same = o.GetProperty("device").GetUInt64() == q.DeviceId
                && (q.HasProcess ? o.GetProperty("pasid").GetUInt64() == q.ProcessId : o.GetProperty("pasid").ValueKind == JsonValueKind.Null)
                && o.GetProperty("iova").GetString() == $"0x{q.Iova:x}"
                && o.GetProperty("access").GetString() == ((char)q.Access).ToString()
                && o.GetProperty("ok").ValueKind is JsonValueKind.True or JsonValueKind.False;
            FuzzFailureException.Check(same, $"JSON line {i + 1} \"{results[i]}\" is not query {q}");
        }
    }

    // ------------------------------------------------------------------------------------------------ reference

    /// <summary>The grammar of docs/cli.md, written independently of the parser: one trailing CR dropped, spaces and
    /// tabs trimmed, blank and '#' lines skipped, then 4 tokens (5 when the fifth is "s") separated by spaces or tabs.
    /// A number is 0x/0X and 1 to 16 hex digits, or 1 to 20 decimal digits, at most 2^64 - 1 (leading zeros count
    /// toward the digits); DEVICE_ID at most 24 bits, PROCESS_ID at most 32.</summary>
    internal static (LineKind Kind, QueryLine Query) Reference(byte[] line)
    {
        string s = Encoding.Latin1.GetString(line);
        if (s.EndsWith('\r'))
        {
            s = s[..^1];
        }

        s = s.Trim(' ', '\t');
        if (s.Length == 0 || s[0] == '#')
        {
            return (LineKind.Skip, default);
        }

        string[] t = s.Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
        if (t.Length is < 4 or > 5 || (t.Length == 5 && t[4] != "s"))
        {
            return (LineKind.Malformed, default);
        }

        BigInteger? device = Number(t[0]);
        BigInteger? process = t[1] == "-" ? -1 : Number(t[1]);
        BigInteger? iova = Number(t[2]);
        if (device is not { } d || d > TranslationRequest.MaxDeviceId || process is not { } p || p > uint.MaxValue || iova is not { } v
            || t[3] is not ("r" or "w" or "x"))
        {
            return (LineKind.Malformed, default);
        }

        bool hasProcess = p >= 0;
        return (LineKind.Query, new QueryLine((uint)d, hasProcess, hasProcess ? (uint)p : 0, (ulong)v, (byte)t[3][0], t.Length == 5));
    }

    private static BigInteger? Number(string token)
    {
        if (token.Length > 2 && token[0] == '0' && token[1] is 'x' or 'X')
        {
            string digits = token[2..];
            return digits.Length <= 16 && digits.All(Uri.IsHexDigit)
                ? BigInteger.Parse("0" + digits, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture)
                : null;
        }

        if (token.Length is 0 or > 20 || !token.All(char.IsAsciiDigit))
        {
            return null;
        }

        BigInteger value = BigInteger.Parse(token, CultureInfo.InvariantCulture);
        return value <= ulong.MaxValue ? value : null;
    }

    // ------------------------------------------------------------------------------------------------ generator

    private static readonly ulong[] Interesting =
        [0, 1, 7, 9, 10, 15, 16, 0xFF, 0x100, 0xFFFF, 0xF_FFFF, 0x10_0000, uint.MaxValue - 1, uint.MaxValue, (ulong)uint.MaxValue + 1,
         0x7FFF_FFFF_FFFF_FFFF, 0x8000_0000_0000_0000, ulong.MaxValue - 1, ulong.MaxValue, 9_999_999_999_999_999_999UL];

    private static byte[] RandomLine(Random rng)
    {
        int roll = rng.Next(20);
        if (roll == 0)
        {
            var garbage = new byte[rng.Next(80)];
            rng.NextBytes(garbage);
            for (int i = 0; i < garbage.Length; i++)
            {
                garbage[i] = garbage[i] == (byte)'\n' ? (byte)' ' : garbage[i];
            }

            return garbage;
        }

        if (roll == 1)
        {
            return Encoding.ASCII.GetBytes(rng.Next(3) switch { 0 => "", 1 => Space(rng) + "# a comment " + Space(rng), _ => Space(rng) + Space(rng) });
        }

        byte[] line = Encoding.Latin1.GetBytes(GrammarLine(rng));
        return roll < 12 ? line : Mutate(line, rng);
    }

    private static string GrammarLine(Random rng)
    {
        var sb = new StringBuilder();
        if (rng.Next(4) == 0)
        {
            sb.Append(Space(rng));
        }

        sb.Append(RandomNumber(rng, rng.Next(3) == 0 ? 32 : 24)).Append(Space(rng));
        sb.Append(rng.Next(3) == 0 ? "-" : RandomNumber(rng, 20)).Append(Space(rng));
        sb.Append(RandomNumber(rng, 64)).Append(Space(rng));
        sb.Append(rng.Next(30) == 0 ? rng.Next(4) switch { 0 => "R", 1 => "rw", 2 => "a", _ => "-" } : "rwx"[rng.Next(3)].ToString());
        if (rng.Next(3) == 0)
        {
            sb.Append(Space(rng)).Append(rng.Next(20) == 0 ? "S" : "s");
        }

        if (rng.Next(4) == 0)
        {
            sb.Append(Space(rng));
        }

        if (rng.Next(6) == 0)
        {
            sb.Append('\r');
        }

        return sb.ToString();
    }

    private static string Space(Random rng)
    {
        int n = 1 + rng.Next(rng.Next(4) == 0 ? 4 : 1);
        var sb = new StringBuilder();
        for (int i = 0; i < n; i++)
        {
            sb.Append(rng.Next(4) == 0 ? '\t' : ' ');
        }

        return sb.ToString();
    }

    private static string RandomNumber(Random rng, int bits)
    {
        ulong value = rng.Next(3) == 0 ? Interesting[rng.Next(Interesting.Length)]
            : bits >= 64 ? (ulong)rng.NextInt64() << rng.Next(2) : (ulong)rng.NextInt64(1L << bits);
        string zeros = rng.Next(10) == 0 ? new string('0', rng.Next(1, 6)) : "";
        return rng.Next(3) switch
        {
            0 => zeros + value.ToString(CultureInfo.InvariantCulture),
            1 => (rng.Next(5) == 0 ? "0X" : "0x") + zeros + value.ToString(rng.Next(4) == 0 ? "X" : "x", CultureInfo.InvariantCulture),
            _ => "0x" + value.ToString("x", CultureInfo.InvariantCulture),
        };
    }

    private static readonly byte[] Bytes = [(byte)' ', (byte)'\t', (byte)'\r', (byte)'#', (byte)'-', (byte)'x', (byte)'X', (byte)'0',
        (byte)'9', (byte)'a', (byte)'g', (byte)'s', (byte)'r', (byte)'_', (byte)'+', 0, 0x0B, 0x0C, 0x7F, 0x80, 0xA0, 0xFF];

    private static byte[] Mutate(byte[] line, Random rng)
    {
        var bytes = new List<byte>(line);
        int edits = 1 + rng.Next(3);
        for (int e = 0; e < edits; e++)
        {
            byte b = rng.Next(4) == 0 ? (byte)rng.Next(256) : Bytes[rng.Next(Bytes.Length)];
            b = b == (byte)'\n' ? (byte)' ' : b;
            int at = rng.Next(bytes.Count + 1);
            switch (rng.Next(6))
            {
                case 0:
                    bytes.Insert(at, b);
                    break;
                case 1 when bytes.Count > 0:
                    bytes.RemoveAt(Math.Min(at, bytes.Count - 1));
                    break;
                case 2 when bytes.Count > 0:
                    bytes[Math.Min(at, bytes.Count - 1)] = b;
                    break;
                case 3:
                    bytes.RemoveRange(at, bytes.Count - at);
                    break;
                default:
                {
                    // Swap or repeat whole tokens.
                    var tokens = Encoding.Latin1.GetString([.. bytes]).Split(' ').ToList();
                    int i = rng.Next(tokens.Count), j = rng.Next(tokens.Count);
                    if (rng.Next(2) == 0)
                    {
                        (tokens[i], tokens[j]) = (tokens[j], tokens[i]);
                    }
                    else
                    {
                        tokens.Insert(j, tokens[i]);
                    }

                    bytes = [.. Encoding.Latin1.GetBytes(string.Join(' ', tokens))];
                    break;
                }
            }
        }

        return [.. bytes];
    }

    /// <summary>A line too long for the loop's buffer (or one byte short of it), made of a query padded with spaces
    /// or of random letters.</summary>
    private static byte[] LongRandomLine(Random rng)
    {
        int length = rng.Next(5) switch { 0 => LongLine - 1, 1 => LongLine, 2 => LongLine + 1, 3 => LongLine * 2 + rng.Next(100), _ => LongLine + rng.Next(5000) };
        var line = new byte[length];
        line.AsSpan().Fill((byte)' ');
        if (rng.Next(2) == 0)
        {
            "5 - 0x1000 r"u8.CopyTo(line);
        }
        else
        {
            for (int i = 0; i < line.Length; i += 1 + rng.Next(30))
            {
                line[i] = (byte)('a' + rng.Next(26));
            }
        }

        return line;
    }

    private static string Show(byte[] line)
    {
        var sb = new StringBuilder();
        foreach (byte b in line.AsSpan(0, Math.Min(line.Length, 200)))
        {
            sb.Append(b is >= 0x20 and < 0x7F && b != (byte)'\\' ? ((char)b).ToString() : $"\\x{b:x2}");
        }

        return sb.ToString();
    }

    /// <summary>Reads in random chunk sizes, so lines straddle the loop's reads.</summary>
    private sealed class ChunkedStream(byte[] bytes, Random rng) : Stream
    {
        private int _position;

        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count)
        {
            int n = Math.Min(Math.Min(count, bytes.Length - _position), 1 + rng.Next(rng.Next(2) == 0 ? 64 : 1 << 17));
            bytes.AsSpan(_position, n).CopyTo(buffer.AsSpan(offset));
            _position += n;
            return n;
        }

        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
