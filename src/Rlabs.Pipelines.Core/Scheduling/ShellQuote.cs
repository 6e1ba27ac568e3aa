using System.Text;

namespace Rlabs.Pipelines.Scheduling;

/// <summary>
/// POSIX shell quoting: every value that reaches a remote shell line goes through <see cref="Quote"/>,
/// so a path or name holding spaces, quotes, '$(…)' or ';' stays one literal word.
/// </summary>
public static class ShellQuote
{
    /// <summary>The value as one single-quoted word ('it'\''s'); refuses NUL, which no shell word can hold.</summary>
    public static string Quote(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        if (value.Contains('\0', StringComparison.Ordinal))
        {
            throw new ArgumentException("A shell argument cannot contain a NUL character.", nameof(value));
        }
        var builder = new StringBuilder(value.Length + 2);
        builder.Append('\'');
        foreach (var c in value)
        {
            if (c == '\'')
            {
                builder.Append("'\\''");
            }
            else
            {
                builder.Append(c);
            }
        }
        builder.Append('\'');
        return builder.ToString();
    }

    /// <summary>A command line: each word quoted, joined by spaces.</summary>
    public static string Join(params string[] words) => string.Join(' ', words.Select(Quote));
}
