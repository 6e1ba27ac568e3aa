namespace Rlabs.Pipelines.Running;

/// <summary>Shows an argument list the way a user would type it (display only: nothing runs through a shell).</summary>
public static class CommandLine
{
    /// <summary>Joins arguments, quoting those with spaces or quotes POSIX-style.</summary>
    public static string Format(IEnumerable<string> arguments) => string.Join(' ', arguments.Select(Quote));

    private static string Quote(string argument)
    {
        if (argument.Length > 0 && argument.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' or '/' or ':' or '=' or ',' or '@' or '+' or '\\'))
        {
            return argument;
        }
        return "'" + argument.Replace("'", "'\\''", StringComparison.Ordinal) + "'";
    }
}
