namespace Rlabs.Pipelines.Local;

/// <summary>Finds the Python interpreter for local steps, the same way on Linux, macOS and Windows.</summary>
public static class PythonLocator
{
    /// <summary>Environment variable that names the interpreter when -PythonPath is not given.</summary>
    public const string EnvironmentVariable = "RLABS_PYTHON";

    /// <summary>The interpreter's full path: the explicit one, else $RLABS_PYTHON, else python3/python on PATH.</summary>
    public static string Resolve(string? explicitPath)
    {
        if (!string.IsNullOrWhiteSpace(explicitPath))
        {
            return ResolveNamed(explicitPath, "-PythonPath");
        }
        var fromEnvironment = Environment.GetEnvironmentVariable(EnvironmentVariable);
        if (!string.IsNullOrWhiteSpace(fromEnvironment))
        {
            return ResolveNamed(fromEnvironment, $"${EnvironmentVariable}");
        }
        string[] names = OperatingSystem.IsWindows() ? ["python", "python3"] : ["python3", "python"];
        foreach (var name in names)
        {
            if (FindOnPath(name) is { } found)
            {
                return found;
            }
        }
        throw new RlabsConfigException(
            $"No Python interpreter was found: looked for {string.Join(" and ", names)} on PATH. Install Python 3, or pass -PythonPath (or set ${EnvironmentVariable}) to the interpreter to use.",
            file: null);
    }

    private static string ResolveNamed(string value, string source)
    {
        var hasDirectory = value.Contains(Path.DirectorySeparatorChar, StringComparison.Ordinal) || value.Contains(Path.AltDirectorySeparatorChar, StringComparison.Ordinal);
        if (hasDirectory)
        {
            var full = Path.GetFullPath(value);
            if (File.Exists(full))
            {
                return full;
            }
            throw new RlabsConfigException($"The Python interpreter '{full}' given by {source} does not exist. Pass the full path of python3 (e.g. /usr/bin/python3).", full);
        }
        return FindOnPath(value)
            ?? throw new RlabsConfigException($"The Python interpreter '{value}' given by {source} was not found on PATH. Pass its full path instead.", file: null);
    }

    /// <summary>First match of an executable name on PATH (PATHEXT on Windows), or null.</summary>
    internal static string? FindOnPath(string name)
    {
        var path = Environment.GetEnvironmentVariable("PATH") ?? string.Empty;
        var extensions = OperatingSystem.IsWindows()
            ? (Environment.GetEnvironmentVariable("PATHEXT") ?? ".EXE;.CMD;.BAT").Split(';', StringSplitOptions.RemoveEmptyEntries).Prepend(string.Empty).ToArray()
            : [string.Empty];
        foreach (var directory in path.Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            // The Windows Store's python.exe alias opens the Store instead of running Python when it is not installed.
            if (OperatingSystem.IsWindows() && directory.Contains("WindowsApps", StringComparison.OrdinalIgnoreCase))
            {
                continue;
            }
            foreach (var extension in extensions)
            {
                string candidate;
                try
                {
                    candidate = Path.Combine(directory.Trim('"'), name + extension);
                }
                catch (ArgumentException)
                {
                    continue;
                }
                if (File.Exists(candidate) && (OperatingSystem.IsWindows() || IsExecutable(candidate)))
                {
                    return candidate;
                }
            }
        }
        return null;
    }

    private static bool IsExecutable(string file)
    {
        if (OperatingSystem.IsWindows())
        {
            return true;
        }
        try
        {
            return (File.GetUnixFileMode(file) & (UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute)) != 0;
        }
        catch (IOException)
        {
            return false;
        }
    }
}
