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
            $"No Python interpreter was found: looked for {string.Join(" and ", names)} on PATH. Install Python 3, or set ${EnvironmentVariable} (Invoke-RlabsPipeline also takes -PythonPath) to the interpreter to use.",
            file: null);
    }

    /// <summary>
    /// The real interpreter behind a version manager's shim (pyenv, asdf: a script in a 'shims' folder), asked once
    /// per run in <paramref name="workingDirectory"/> (where the shim reads .python-version), so each step starts
    /// Python directly instead of through the shim (~100 ms a step). The shim itself when it cannot say.
    /// </summary>
    public static string RealExecutable(string interpreter, string workingDirectory)
    {
        ArgumentNullException.ThrowIfNull(interpreter);
        if (!string.Equals(Path.GetFileName(Path.GetDirectoryName(interpreter)), "shims", StringComparison.Ordinal) || !IsScript(interpreter))
        {
            return interpreter;
        }
        // Asking the shim costs a run ~100 ms, on its first step's critical path. Its answer only changes with what
        // it reads: the version variables and the .python-version / version files; while those are the same (and
        // the interpreter it named is still there) the answer of an earlier run in this session is reused.
        var key = ShimKey(interpreter, workingDirectory);
        if (s_shimAnswers.TryGetValue(key, out var known) && File.Exists(known))
        {
            return known;
        }
        var real = AskShim(interpreter, workingDirectory);
        if (!string.Equals(real, interpreter, StringComparison.Ordinal))
        {
            s_shimAnswers[key] = real;
        }
        return real;
    }

    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, string> s_shimAnswers = new(StringComparer.Ordinal);

    /// <summary>Everything a pyenv or asdf shim reads to pick an interpreter, as one string.</summary>
    internal static string ShimKey(string interpreter, string workingDirectory)
    {
        var key = new System.Text.StringBuilder(interpreter).Append('\0').Append(workingDirectory);
        foreach (var name in new[] { "PYENV_VERSION", "PYENV_ROOT", "PYENV_DIR", "ASDF_PYTHON_VERSION", "ASDF_DATA_DIR", "ASDF_DEFAULT_TOOL_VERSIONS_FILENAME", "PATH" })
        {
            key.Append('\0').Append(name).Append('=').Append(Environment.GetEnvironmentVariable(name));
        }
        var versionFiles = new List<string>();
        for (var folder = new DirectoryInfo(Path.GetFullPath(workingDirectory)); folder is not null; folder = folder.Parent)
        {
            versionFiles.Add(Path.Combine(folder.FullName, ".python-version"));
            versionFiles.Add(Path.Combine(folder.FullName, ".tool-versions"));
        }
        var root = Environment.GetEnvironmentVariable("PYENV_ROOT") ?? Path.GetFullPath(Path.Combine(Path.GetDirectoryName(interpreter)!, ".."));
        versionFiles.Add(Path.Combine(root, "version"));
        versionFiles.Add(Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".tool-versions"));
        foreach (var file in versionFiles)
        {
            var info = new FileInfo(file);
            if (info.Exists)
            {
                key.Append('\0').Append(file).Append('@').Append(info.Length).Append(':').Append(info.LastWriteTimeUtc.Ticks);
            }
        }
        return key.ToString();
    }

    private static string AskShim(string interpreter, string workingDirectory)
    {
        try
        {
            var info = new System.Diagnostics.ProcessStartInfo(interpreter, ["-c", "import sys; sys.stdout.write(sys.executable)"])
            {
                WorkingDirectory = workingDirectory,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                RedirectStandardInput = true,
                UseShellExecute = false,
            };
            using var process = System.Diagnostics.Process.Start(info);
            if (process is null)
            {
                return interpreter;
            }
            process.StandardInput.Close();
            var stderr = process.StandardError.ReadToEndAsync();
            var output = process.StandardOutput.ReadToEndAsync();
            if (!process.WaitForExit(10_000))
            {
                process.Kill(entireProcessTree: true);
                return interpreter;
            }
            var real = output.GetAwaiter().GetResult().Trim();
            _ = stderr.GetAwaiter().GetResult();
            return process.ExitCode == 0 && real.Length > 0 && Path.IsPathRooted(real) && File.Exists(real) ? real : interpreter;
        }
        catch (Exception ex) when (ex is System.ComponentModel.Win32Exception or IOException or InvalidOperationException)
        {
            return interpreter;
        }
    }

    private static bool IsScript(string file)
    {
        try
        {
            using var stream = File.OpenRead(file);
            return stream.ReadByte() == '#' && stream.ReadByte() == '!';
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return false;
        }
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
