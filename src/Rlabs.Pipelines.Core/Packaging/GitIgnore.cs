using System.Text;
using System.Text.RegularExpressions;

namespace Rlabs.Pipelines.Packaging;

/// <summary>The patterns of one .gitignore file, matched against paths relative to its folder (git's rules).</summary>
internal sealed class GitIgnoreFile
{
    private readonly List<Rule> _rules = [];

    private GitIgnoreFile(string baseRelative)
    {
        BaseRelative = baseRelative;
    }

    /// <summary>The folder of the file relative to the repository root ("" for the root), with '/'.</summary>
    public string BaseRelative { get; }

    public static GitIgnoreFile Parse(string baseRelative, IEnumerable<string> lines)
    {
        var file = new GitIgnoreFile(baseRelative);
        foreach (var raw in lines)
        {
            var line = TrimTrailingSpaces(raw.TrimEnd('\r'));
            if (line.Length == 0 || line[0] == '#')
            {
                continue;
            }
            var negate = false;
            if (line[0] == '!')
            {
                negate = true;
                line = line[1..];
            }
            else if (line.StartsWith("\\!", StringComparison.Ordinal) || line.StartsWith("\\#", StringComparison.Ordinal))
            {
                line = line[1..];
            }
            var directoryOnly = line.EndsWith('/');
            line = line.TrimEnd('/');
            if (line.Length == 0)
            {
                continue;
            }
            var anchored = line.Contains('/', StringComparison.Ordinal);
            line = line.TrimStart('/');
            if (!anchored && line.IndexOfAny(s_wildcards) < 0)
            {
                file._rules.Add(new Rule(null, negate, directoryOnly, line, Exact: true)); // a name, at any depth
            }
            else if (!anchored && line[0] == '*' && line.IndexOfAny(s_wildcards, 1) < 0)
            {
                file._rules.Add(new Rule(null, negate, directoryOnly, line[1..], Exact: false)); // '*.log': a name's ending
            }
            else if (ToRegex(line, anchored: true) is { } regex)
            {
                // A pattern without a slash matches a name at any depth: it is matched against the last name alone.
                file._rules.Add(new Rule(regex, negate, directoryOnly, null, Exact: false) { NameOnly = !anchored });
            }
        }
        return file;
    }

    /// <summary>null when no pattern matches, else whether the last matching pattern ignores the path.</summary>
    public bool? Match(string relativeToBase, bool isDirectory)
    {
        bool? result = null;
        foreach (var rule in _rules)
        {
            if (rule.DirectoryOnly && !isDirectory)
            {
                continue;
            }
            if (rule.Matches(relativeToBase))
            {
                result = !rule.Negate;
            }
        }
        return result;
    }

    private static string TrimTrailingSpaces(string line)
    {
        var end = line.Length;
        while (end > 0 && line[end - 1] == ' ' && !(end > 1 && line[end - 2] == '\\'))
        {
            end--;
        }
        return line[..end];
    }

    private static Regex? ToRegex(string pattern, bool anchored)
    {
        var regex = new StringBuilder(anchored ? "^" : "^(?:.*/)?");
        var i = 0;
        while (i < pattern.Length)
        {
            var c = pattern[i];
            if (c == '*' && i + 1 < pattern.Length && pattern[i + 1] == '*')
            {
                var atStart = i == 0;
                var slashBefore = i > 0 && pattern[i - 1] == '/';
                var slashAfter = i + 2 < pattern.Length && pattern[i + 2] == '/';
                var atEnd = i + 2 == pattern.Length;
                if ((atStart || slashBefore) && slashAfter)
                {
                    regex.Append("(?:.*/)?");
                    i += 3;
                    continue;
                }
                if (slashBefore && atEnd)
                {
                    regex.Append(".*");
                    i += 2;
                    continue;
                }
                regex.Append("[^/]*");
                i += 2;
                continue;
            }
            switch (c)
            {
                case '*':
                    regex.Append("[^/]*");
                    break;
                case '?':
                    regex.Append("[^/]");
                    break;
                case '\\' when i + 1 < pattern.Length:
                    i++;
                    regex.Append(Regex.Escape(pattern[i].ToString()));
                    break;
                case '[':
                    {
                        var close = pattern.IndexOf(']', i + 2 <= pattern.Length ? i + 2 : i + 1);
                        if (close < 0)
                        {
                            regex.Append("\\[");
                            break;
                        }
                        var body = pattern[(i + 1)..close];
                        var negated = body.StartsWith('!') || body.StartsWith('^');
                        if (negated)
                        {
                            body = body[1..];
                        }
                        var cls = new StringBuilder(negated ? "[^/" : "[");
                        foreach (var b in body)
                        {
                            cls.Append(b is '\\' or ']' or '[' or '^' ? "\\" + b : b.ToString());
                        }
                        regex.Append(cls).Append(']');
                        i = close;
                        break;
                    }
                default:
                    regex.Append(Regex.Escape(c.ToString()));
                    break;
            }
            i++;
        }
        regex.Append('$');
        try
        {
            return new Regex(regex.ToString(), RegexOptions.CultureInvariant | RegexOptions.Singleline, TimeSpan.FromSeconds(1));
        }
        catch (ArgumentException)
        {
            return null; // git ignores patterns it cannot parse; so do we
        }
    }

    private static readonly char[] s_wildcards = ['*', '?', '[', '\\'];

    /// <summary>One pattern: a regex, or (most patterns) a name or a name's ending, compared without one.</summary>
    private sealed record Rule(Regex? Regex, bool Negate, bool DirectoryOnly, string? Literal, bool Exact)
    {
        /// <summary>Whether the pattern is matched against the path's last name only (it has no slash).</summary>
        public bool NameOnly { get; init; } = Regex is null;

        public bool Matches(string path)
        {
            var name = NameOnly ? path.AsSpan(path.LastIndexOf('/') + 1) : path.AsSpan();
            if (Regex is not null)
            {
                return Regex.IsMatch(name);
            }
            return Exact ? name.SequenceEqual(Literal) : name.EndsWith(Literal, StringComparison.Ordinal);
        }
    }
}

/// <summary>The .gitignore files in effect for a folder, root first.</summary>
internal sealed class GitIgnoreStack
{
    private readonly List<GitIgnoreFile> _files;

    public GitIgnoreStack(IEnumerable<GitIgnoreFile> files)
    {
        _files = files.ToList();
    }

    public GitIgnoreStack With(GitIgnoreFile file) => new(_files.Append(file));

    /// <summary>Whether the path (relative to the repository, '/'-separated) is ignored; deeper files win.</summary>
    public bool IsIgnored(string relativePath, bool isDirectory)
    {
        bool? ignored = null;
        foreach (var file in _files)
        {
            string relative;
            if (file.BaseRelative.Length == 0)
            {
                relative = relativePath;
            }
            else if (relativePath.StartsWith(file.BaseRelative + "/", StringComparison.Ordinal))
            {
                relative = relativePath[(file.BaseRelative.Length + 1)..];
            }
            else
            {
                continue;
            }
            ignored = file.Match(relative, isDirectory) ?? ignored;
        }
        return ignored == true;
    }
}
