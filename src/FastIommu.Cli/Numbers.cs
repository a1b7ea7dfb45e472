using System.Globalization;

namespace FastIommu.Cli;

/// <summary>Numbers as the command line takes them: hex with 0x, or decimal; '_' separators allowed.</summary>
internal static class Numbers
{
    public static bool TryParse(ReadOnlySpan<char> text, out ulong value)
    {
        value = 0;
        text = text.Trim();
        bool hex = text.Length > 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X');
        if (hex)
        {
            text = text[2..];
        }

        if (text.IsEmpty)
        {
            return false;
        }

        ulong result = 0;
        int digits = 0;
        foreach (char c in text)
        {
            if (c == '_')
            {
                continue;
            }

            int d = hex ? HexDigit(c) : c is >= '0' and <= '9' ? c - '0' : -1;
            if (d < 0)
            {
                return false;
            }

            ulong radix = hex ? 16UL : 10UL;
            if (result > (ulong.MaxValue - (ulong)d) / radix)
            {
                return false;
            }

            result = (result * radix) + (ulong)d;
            digits++;
        }

        value = result;
        return digits > 0;
    }

    public static ulong Parse(string text, string what) =>
        TryParse(text, out ulong value)
            ? value
            : throw new FormatException($"{what} '{text}' is not a number (hex with 0x, or decimal).");

    public static int HexDigit(int c) => c switch
    {
        >= '0' and <= '9' => c - '0',
        >= 'a' and <= 'f' => c - 'a' + 10,
        >= 'A' and <= 'F' => c - 'A' + 10,
        _ => -1,
    };

    public static string Hex(ulong value) => "0x" + value.ToString("x", CultureInfo.InvariantCulture);
}
