using Rlabs.Pipelines.Planning;

namespace Rlabs.Pipelines.Local;

/// <summary>
/// A local step's workspace, laid out like /opt/ml/processing: staged before the step (code, requirements,
/// input data, an empty output folder) and published after it (output moved into the data root). The process
/// runtime runs the script against these folders; the container runtime bind-mounts them at the container
/// paths, so both hand a step the same files.
/// Neither staging nor publishing ever follows a symbolic link: a step (in a container, too) can create a link
/// in its output to any path on this machine, and following it would move or serve that path. A link fails the
/// step with its path instead (and nothing of that step is published).
/// </summary>
internal static class LocalWorkspace
{
    /// <summary>Lays out input/code, input/requirements, input/data and output; null when ready, else why not.</summary>
    /// <remarks>
    /// The input data is hard-linked, not copied (a copy where the file system cannot link): staging costs no bytes
    /// whatever the input's size, and only the step's input is walked, once. A linked file is the data root's file:
    /// a container step gets it mounted read-only; a process step is handed <paramref name="linkedInput"/>, the
    /// data-root files it was linked to, to keep read-only while it runs (<see cref="ReadOnlyWhileRunning"/>).
    /// </remarks>
    public static string? Stage(LocalRunLayout plan, LocalStepLayout step, List<string>? linkedInput = null)
    {
        var repository = plan.Request.Pipeline.RepositoryPath;
        if (Directory.Exists(step.StepDirectory))
        {
            Directory.Delete(step.StepDirectory, recursive: true); // a re-run of the same job id starts clean
        }
        var code = Path.Combine(repository, step.Step.Code);
        if (!File.Exists(code))
        {
            return $"The code script '{step.Step.Code}' does not exist in {repository}.";
        }
        if (LinkOutside(repository, code) is { } codeLink)
        {
            return $"The code script '{step.Step.Code}' is a link to {codeLink}, outside the repository {repository}; steps only get files from the repository. Copy the script into the repository.";
        }
        Directory.CreateDirectory(Path.GetDirectoryName(step.Paths.CodeFile)!);
        File.Copy(code, step.Paths.CodeFile);

        // Each step gets its own name for the run's source zip, so every path it is handed lies in its workspace, as
        // in a container: a hard link (a copy across devices), as copying a big repository's zip per step costs
        // what the step does. A step that writes into it is caught by the zip's stamp (EnsureSourceZip).
        HardLink.LinkOrCopy(plan.EnsureSourceZip(), step.Paths.SourceCodeZip);

        if (step.CredentialsPath is { } credentials)
        {
            Directory.CreateDirectory(Path.GetDirectoryName(credentials)!);
            File.Copy(plan.CredentialsCopy!, credentials);
        }

        Directory.CreateDirectory(Path.GetDirectoryName(step.Paths.RequirementsPath)!);
        var requirements = Path.Combine(repository, step.Step.Requirements ?? StepContract.RequirementsName);
        if (File.Exists(requirements) && LinkOutside(repository, requirements) is { } requirementsLink)
        {
            return $"The requirements file '{Path.GetRelativePath(repository, requirements)}' is a link to {requirementsLink}, outside the repository {repository}; steps only get files from the repository.";
        }
        if (File.Exists(requirements))
        {
            File.Copy(requirements, step.Paths.RequirementsPath);
        }
        else if (step.Step.Requirements is not null)
        {
            return $"The requirements file '{step.Step.Requirements}' does not exist in {repository}.";
        }
        else
        {
            File.WriteAllText(step.Paths.RequirementsPath, string.Empty);
        }

        if (step.InputSource is { } input)
        {
            var dataFolder = Path.Combine(step.StepDirectory, StepContract.DataFolder);
            Directory.CreateDirectory(dataFolder);
            if (new FileInfo(input).LinkTarget is { } inputLink)
            {
                return NotStaged(step, input, inputLink);
            }
            if (Directory.Exists(input))
            {
                if (LinkTree(input, dataFolder, linkedInput) is { } link)
                {
                    return NotStaged(step, link.Path, link.Target);
                }
            }
            else if (File.Exists(input))
            {
                Place(input, Path.Combine(dataFolder, Path.GetFileName(input)), linkedInput);
            }
            else if (!step.Plan.InputEmpty)
            {
                return $"The input data '{step.Step.InputData}' was not found at {input}. It is resolved against the data root ({plan.DataRoot}): an earlier step must write it (output lands in <output_path>/<job_id>/), or place it there before the run.";
            }
        }
        Directory.CreateDirectory(step.Paths.OutputDataPath);
        return null;
    }

    private static string NotStaged(LocalStepLayout step, string path, string target) =>
        $"Step '{step.Step.Name}': the input data holds {Describe(path, target)}. Links are never followed into a step's workspace (they can point anywhere on this machine); place the files themselves in the data root.";

    private static string Describe(string path, string target) => $"the symbolic link '{path}' -> '{target}'";

    /// <summary>Where a link at <paramref name="path"/> finally points, when that is outside <paramref name="root"/>; null otherwise.</summary>
    private static string? LinkOutside(string root, string path)
    {
        var info = new FileInfo(path);
        if (info.LinkTarget is null)
        {
            return null;
        }
        var final = info.ResolveLinkTarget(returnFinalTarget: true)?.FullName ?? info.LinkTarget;
        var relative = Path.GetRelativePath(Path.GetFullPath(root), final);
        return relative == ".." || relative.StartsWith(".." + Path.DirectorySeparatorChar, StringComparison.Ordinal) || Path.IsPathRooted(relative) ? final : null;
    }

    /// <summary>The symbolic links below <paramref name="root"/>, found without following any.</summary>
    private static IEnumerable<(string Path, string Target)> Links(string root)
    {
        var pending = new Stack<DirectoryInfo>();
        pending.Push(new DirectoryInfo(root));
        var options = new EnumerationOptions { RecurseSubdirectories = false, AttributesToSkip = 0, IgnoreInaccessible = false };
        while (pending.Count > 0)
        {
            foreach (var entry in pending.Pop().EnumerateFileSystemInfos("*", options))
            {
                if (entry.LinkTarget is { } target)
                {
                    yield return (entry.FullName, target);
                }
                else if (entry is DirectoryInfo directory)
                {
                    pending.Push(directory);
                }
            }
        }
    }

    /// <summary>Links (else copies) one input file; a linked one's data-root name is added to <paramref name="linked"/>.</summary>
    private static void Place(string source, string destination, List<string>? linked)
    {
        if (HardLink.LinkOrCopy(source, destination))
        {
            linked?.Add(Path.GetFullPath(source));
        }
    }

    /// <summary>
    /// Links every file under <paramref name="source"/> into <paramref name="destination"/> in one walk; the first
    /// symbolic link met stops it (returned, never followed).
    /// </summary>
    private static (string Path, string Target)? LinkTree(string source, string destination, List<string>? linked)
    {
        var pending = new Stack<(DirectoryInfo From, string To)>();
        pending.Push((new DirectoryInfo(source), destination));
        var options = new EnumerationOptions { RecurseSubdirectories = false, AttributesToSkip = 0, IgnoreInaccessible = false };
        while (pending.Count > 0)
        {
            var (from, to) = pending.Pop();
            Directory.CreateDirectory(to);
            foreach (var entry in from.EnumerateFileSystemInfos("*", options))
            {
                if ((entry.Attributes & FileAttributes.ReparsePoint) != 0 && entry.LinkTarget is { } target)
                {
                    return (entry.FullName, target);
                }
                var inside = Path.Combine(to, entry.Name);
                if (entry is DirectoryInfo directory)
                {
                    pending.Push((directory, inside));
                }
                else
                {
                    Place(entry.FullName, inside, linked);
                }
            }
        }
        return null;
    }

    /// <summary>
    /// Keeps a process step's linked input files read-only until disposed: they are the data root's files (an
    /// earlier step's output, maybe a cache entry), so a script that opens its input for writing fails with a
    /// permission error instead of changing them. Steps running at once that share a file share its guard; the
    /// last one done gives the file its mode back. A mode does not stop root (steps in containers and CI often run
    /// as root): <see cref="InputGuard.Written"/> tells, after the step, which of the files changed all the same.
    /// </summary>
    public static InputGuard ReadOnlyWhileRunning(IReadOnlyList<string> linkedFiles) => new(linkedFiles);

    /// <summary>See <see cref="ReadOnlyWhileRunning"/>.</summary>
    internal sealed class InputGuard : IDisposable
    {
        private static readonly Dictionary<string, (int Holders, FileAttributes Attributes, UnixFileMode Mode)> s_held = new(StringComparer.Ordinal);
        private readonly List<string> _files = [];
        private readonly List<(string File, string Stamp)> _before;

        /// <summary>The data-root files that changed since the guard was taken (a step wrote through its link).</summary>
        public IReadOnlyList<string> Written() => _before.Where(b => SourceZipCache.Stamp(b.File) != b.Stamp).Select(b => b.File).ToList();

        public InputGuard(IReadOnlyList<string> files)
        {
            _before = files.Select(f => (f, SourceZipCache.Stamp(f))).ToList();
            lock (s_held)
            {
                foreach (var file in files.Distinct(StringComparer.Ordinal))
                {
                    if (s_held.TryGetValue(file, out var held))
                    {
                        s_held[file] = held with { Holders = held.Holders + 1 };
                        _files.Add(file);
                        continue;
                    }
                    try
                    {
                        var attributes = File.GetAttributes(file);
                        var mode = OperatingSystem.IsWindows() ? default : File.GetUnixFileMode(file);
                        Set(file, attributes | FileAttributes.ReadOnly, mode & ~(UnixFileMode.UserWrite | UnixFileMode.GroupWrite | UnixFileMode.OtherWrite));
                        s_held[file] = (1, attributes, mode);
                        _files.Add(file);
                    }
                    catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
                    {
                        // A file whose mode we may not change is one the step may not write either.
                    }
                }
            }
        }

        public void Dispose()
        {
            lock (s_held)
            {
                foreach (var file in _files)
                {
                    var held = s_held[file];
                    if (held.Holders > 1)
                    {
                        s_held[file] = held with { Holders = held.Holders - 1 };
                        continue;
                    }
                    s_held.Remove(file);
                    try
                    {
                        Set(file, held.Attributes, held.Mode);
                    }
                    catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
                    {
                        // Gone from the data root meanwhile: nothing to give back.
                    }
                }
                _files.Clear();
            }
        }

        private static void Set(string file, FileAttributes attributes, UnixFileMode mode)
        {
            if (OperatingSystem.IsWindows())
            {
                File.SetAttributes(file, attributes);
            }
            else
            {
                File.SetUnixFileMode(file, mode);
            }
        }
    }

    /// <summary>
    /// Moves the step's output into the data root, merging with what earlier steps wrote there. Null when
    /// published (<paramref name="count"/> files); otherwise why nothing was published: the output holds a link,
    /// or writing into the data root failed (disk full, read-only, no permission).
    /// Atomic per step: every file is first moved beside its target under a temporary name (on another file
    /// system that is a copy, which a full disk can cut short), and only when all are there are they renamed
    /// into place; a failure removes the temporary files and leaves the data root as it was, so a reader never
    /// sees a truncated file.
    /// </summary>
    public static string? PublishOutput(string stepName, string output, string destination, out int count)
    {
        count = 0;
        // Checked before anything moves, so a refused output leaves the data root as it was.
        var links = Links(output).Take(6).ToList();
        if (links.Count > 0)
        {
            var listed = string.Join("; ", links.Take(5).Select(s => Describe(Path.GetRelativePath(output, s.Path).Replace('\\', '/'), s.Target)));
            return $"Step '{stepName}' wrote {listed}{(links.Count > 5 ? "; …" : string.Empty)} into its output ({output}). Links are never published: a link can point at any file or folder on this machine. Nothing was published; write the files themselves.";
        }
        var staged = new List<(string Source, string Aside, string Target)>();
        try
        {
            Directory.CreateDirectory(destination);
            var token = Guid.NewGuid().ToString("N")[..8];
            foreach (var file in Directory.EnumerateFiles(output, "*", SearchOption.AllDirectories))
            {
                var target = Path.Combine(destination, Path.GetRelativePath(output, file));
                var folder = Path.GetDirectoryName(target)!;
                Directory.CreateDirectory(folder);
                var aside = Path.Combine(folder, $".{Path.GetFileName(target)}.rlabs-{token}.partial");
                staged.Add((file, aside, target));
                MoveFile(file, aside);
            }
            foreach (var (_, aside, target) in staged)
            {
                MoveFile(aside, target); // a rename within one folder: all or nothing
                count++;
            }
            return null;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            var published = count;
            foreach (var (source, aside, _) in staged.Skip(published))
            {
                TakeBack(source, aside);
            }
            return $"Step '{stepName}': its code script succeeded, but publishing its output to {destination} failed: {ex.Message}"
                + (published == 0 ? " Nothing of it was published" : $" {published} of {staged.Count} file(s) were published whole before the failure, none partly")
                + $"; the output is still in {output}. Free space or fix the data root's permissions, then run the step again.";
        }
    }

    /// <summary>The tests' seam: a move that fails as a full disk would, for the calls of one test's flow only.</summary>
    internal static AsyncLocal<Action<string, string>?> MoveOverride { get; } = new();

    private static void MoveFile(string from, string to)
    {
        if (MoveOverride.Value is { } move)
        {
            move(from, to);
            return;
        }
        File.Move(from, to, overwrite: true);
    }

    /// <summary>After a failed publish: the staged file goes back to the step's output (or away), never stays half-written in the data root.</summary>
    private static void TakeBack(string source, string aside)
    {
        try
        {
            if (File.Exists(aside) && !File.Exists(source))
            {
                File.Move(aside, source);
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // Could not go back (the workspace is on another file system, itself full): removed below.
        }
        try
        {
            File.Delete(aside);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // Nothing more can be done; the name marks it as partial.
        }
    }
}
