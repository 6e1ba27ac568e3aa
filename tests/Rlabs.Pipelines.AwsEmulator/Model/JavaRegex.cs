using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace Rlabs.Pipelines.AwsEmulator.Model;

/// <summary>
/// Botocore patterns are java.util.regex patterns matched against the whole value. .NET's dialect
/// differs where it matters: \w, \d and \s are Unicode in .NET and ASCII in Java, Java writes code
/// points as \x{…}, POSIX classes as \p{Alpha}, and a class may hold a surrogate-pair range.
/// </summary>
public static class JavaRegex
{
    private static readonly Dictionary<string, string> s_posix = new(StringComparer.Ordinal)
    {
        ["Lower"] = "a-z", ["Upper"] = "A-Z", ["ASCII"] = "\\x00-\\x7F", ["Alpha"] = "a-zA-Z", ["Digit"] = "0-9",
        ["Alnum"] = "a-zA-Z0-9", ["Punct"] = "!-/:-@\\[-`{-~", ["Graph"] = "!-~", ["Print"] = " -~", ["Blank"] = " \\t",
        ["Cntrl"] = "\\x00-\\x1F\\x7F", ["XDigit"] = "0-9a-fA-F", ["Space"] = " \\t\\n\\x0B\\f\\r",
    };

    private static readonly Dictionary<string, Regex> s_cache = new(StringComparer.Ordinal);

    public static Regex Compile(string javaPattern)
    {
        lock (s_cache)
        {
            if (!s_cache.TryGetValue(javaPattern, out var regex))
            {
                regex = new Regex("^(?:" + Translate(javaPattern) + ")$", RegexOptions.CultureInvariant, TimeSpan.FromSeconds(1));
                s_cache[javaPattern] = regex;
            }

            return regex;
        }
    }

    public static string Translate(string pattern)
    {
        ArgumentNullException.ThrowIfNull(pattern);
        var output = new StringBuilder(pattern.Length + 16);
        var inClass = false;
        for (var i = 0; i < pattern.Length; i++)
        {
            var c = pattern[i];
            if (c == '\\' && i + 1 < pattern.Length)
            {
                var next = pattern[i + 1];
                string? replacement = next switch
                {
                    'w' => inClass ? "a-zA-Z_0-9" : "[a-zA-Z_0-9]",
                    'W' => inClass ? null : "[^a-zA-Z_0-9]",
                    'd' => inClass ? "0-9" : "[0-9]",
                    'D' => inClass ? null : "[^0-9]",
                    's' => inClass ? " \\t\\n\\x0B\\f\\r" : "[ \\t\\n\\x0B\\f\\r]",
                    'S' => inClass ? null : "[^ \\t\\n\\x0B\\f\\r]",
                    _ => null,
                };
                if (replacement is not null)
                {
                    output.Append(replacement);
                    i++;
                    continue;
                }

                if ((next == 'p' || next == 'P') && i + 2 < pattern.Length && pattern[i + 2] == '{')
                {
                    var end = pattern.IndexOf('}', i + 3);
                    var name = pattern[(i + 3)..end];
                    var bare = name.StartsWith("Is", StringComparison.Ordinal) && name.Length > 2 && !s_posix.ContainsKey(name) ? name[2..] : name;
                    if (s_posix.TryGetValue(bare, out var posix))
                    {
                        output.Append(next == 'p' ? (inClass ? posix : "[" + posix + "]") : (inClass ? throw Unsupported(pattern) : "[^" + posix + "]"));
                    }
                    else
                    {
                        output.Append('\\').Append(next).Append('{').Append(bare switch { "Alphabetic" => "L", "Letter" => "L", "Digit" => "Nd", _ => bare }).Append('}');
                    }

                    i = end;
                    continue;
                }

                if (next == 'x' && i + 2 < pattern.Length && pattern[i + 2] == '{')
                {
                    var end = pattern.IndexOf('}', i + 3);
                    var codePoint = int.Parse(pattern[(i + 3)..end], NumberStyles.HexNumber, CultureInfo.InvariantCulture);
                    if (codePoint > 0xFFFF)
                    {
                        // .NET classes hold UTF-16 units; any surrogate stands for the astral planes.
                        output.Append(codePoint >= 0x10000 ? "\\uD800-\\uDFFF" : string.Empty);
                        if (i + 4 + (end - i - 3) < pattern.Length && pattern[end + 1] == '-')
                        {
                            // Drop the rest of an astral range such as \x{10000}-\x{10FFFF}.
                            var rangeEnd = pattern.IndexOf('}', end + 2);
                            end = rangeEnd;
                        }
                    }
                    else
                    {
                        output.Append("\\u").Append(codePoint.ToString("X4", CultureInfo.InvariantCulture));
                    }

                    i = end;
                    continue;
                }

                if (inClass && next == 'u' && i + 5 < pattern.Length && IsHighSurrogateEscape(pattern, i))
                {
                    // Java's [\uD800\uDC00-\uDBFF\uDFFF]: a range of surrogate pairs, i.e. every astral code point.
                    var rest = pattern[i..];
                    var match = Regex.Match(rest, @"^\\u[dD][89abAB][0-9a-fA-F]{2}\\u[dD][c-fC-F][0-9a-fA-F]{2}-\\u[dD][89abAB][0-9a-fA-F]{2}\\u[dD][c-fC-F][0-9a-fA-F]{2}", RegexOptions.None, TimeSpan.FromSeconds(1));
                    if (match.Success)
                    {
                        output.Append("\\uD800-\\uDFFF");
                        i += match.Length - 1;
                        continue;
                    }
                }

                if (next == '_')
                {
                    // Java lets any non-letter be escaped; .NET rejects "\_".
                    output.Append('_');
                }
                else
                {
                    output.Append(c).Append(next);
                }

                i++;
                continue;
            }

            if (c == '[' && !inClass)
            {
                inClass = true;
                output.Append(c);
                if (i + 1 < pattern.Length && pattern[i + 1] == '^')
                {
                    output.Append('^');
                    i++;
                }

                if (i + 1 < pattern.Length && pattern[i + 1] == ']')
                {
                    // A ']' first in a class is literal in Java.
                    output.Append("\\]");
                    i++;
                }

                continue;
            }

            if (c == ']' && inClass)
            {
                inClass = false;
            }

            if (c == '-' && inClass && i + 1 < pattern.Length && pattern[i + 1] == '[')
            {
                // .NET would read "-[" as class subtraction; Java has none, it is a literal '-'.
                output.Append("\\-");
                continue;
            }

            output.Append(c);
        }

        return output.ToString();
    }

    private static bool IsHighSurrogateEscape(string pattern, int index) =>
        pattern.Length > index + 5
        && (pattern[index + 2] is 'd' or 'D')
        && (pattern[index + 3] is '8' or '9' or 'a' or 'b' or 'A' or 'B');

    private static NotSupportedException Unsupported(string pattern) => new($"Unsupported Java pattern: {pattern}");
}
