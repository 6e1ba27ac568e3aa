using System.Globalization;
using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Rlabs.Pipelines.Planning;

namespace Rlabs.Pipelines.Packaging;

/// <summary>
/// A cheap fingerprint of the files a source zip would be made of: one stat walk over the files the packer would
/// look at (.gitignore honoured, .git, .rlabs and excluded paths skipped, directory links not followed), each
/// named with its size and modification time, plus the ignore files and the packing options. No file's content is
/// read but the .gitignore files'. Equal stamps mean the zip (and anything derived from the tree's content) can be
/// reused; a changed, added or removed file changes it, a file git ignores does not.
/// </summary>
/// <remarks>
/// Directory modification times are not used to skip subtrees: rewriting a file in place leaves its folder's time
/// as it was, so only the listing could be skipped, never the stat, and the enumeration returns both in one call.
/// A touched file whose content is the same changes the stamp: the zip is packed again (to the same bytes) and the
/// content-derived values are computed again (to the same values).
/// </remarks>
public static class SourceTreeStamp
{
    private const string Version = "stamp-v2";
    private const string Folder = "source";

    private static readonly ConditionalWeakTable<RunPlan, Dictionary<string, Lazy<string>>> s_runs = new();

    /// <summary>
    /// The stamp of <paramref name="repositoryPath"/> now: walked, or the stamp of this session's last walk while the
    /// repository's watcher saw nothing change since (see <see cref="SourceTreeWatch"/>).
    /// </summary>
    public static string Compute(string repositoryPath, IEnumerable<string> excludedPaths, IReadOnlyList<string> allowedSecrets) =>
        Compute(repositoryPath, excludedPaths, allowedSecrets, walk: false);

    /// <summary>The stamp of <paramref name="repositoryPath"/> now; with <paramref name="walk"/>, walked whatever a watcher says (-NoCache).</summary>
    public static string Compute(string repositoryPath, IEnumerable<string> excludedPaths, IReadOnlyList<string> allowedSecrets, bool walk)
    {
        ArgumentNullException.ThrowIfNull(repositoryPath);
        ArgumentNullException.ThrowIfNull(excludedPaths);
        ArgumentNullException.ThrowIfNull(allowedSecrets);
        var root = Path.GetFullPath(repositoryPath).TrimEnd(Path.DirectorySeparatorChar, Path.AltDirectorySeparatorChar);
        var excludedList = excludedPaths.ToList();
        var excluded = SourcePackager.ExcludedSet(excludedList);
        var options = Options(excludedList, allowedSecrets);
        return SourceTreeWatch.Stamp(root, options, excluded, walk, () => Walk(root, excluded, options));
    }

    /// <summary>The stamp of <paramref name="repositoryPath"/> from a walk, whatever a watcher says (for tests).</summary>
    internal static string Walked(string repositoryPath, IEnumerable<string> excludedPaths, IReadOnlyList<string> allowedSecrets)
    {
        var root = Path.GetFullPath(repositoryPath).TrimEnd(Path.DirectorySeparatorChar, Path.AltDirectorySeparatorChar);
        var excludedList = excludedPaths.ToList();
        return Walk(root, SourcePackager.ExcludedSet(excludedList), Options(excludedList, allowedSecrets)).Stamp;
    }

    private static string Options(List<string> excludedList, IReadOnlyList<string> allowedSecrets) =>
        new StringBuilder().Append(Version).Append('\n').AppendJoin('\u001f', excludedList.Order(StringComparer.Ordinal)).Append('\n').AppendJoin('\u001f', allowedSecrets).Append('\n').ToString();

    /// <summary>The stamp of <paramref name="root"/> from a walk, and how many directories it listed.</summary>
    private static (string Stamp, int Directories) Walk(string root, HashSet<string> excluded, string options)
    {
        var ignoreFiles = new List<string>();
        var exclude = Path.Combine(root, ".git", "info", "exclude");
        ignoreFiles.Add(exclude);
        var walked = SourcePackager.Walk(root, excluded, SourcePackager.RootIgnores(root), file =>
        {
            lock (ignoreFiles)
            {
                ignoreFiles.Add(file);
            }
        }, out var directories);
        var lines = new List<string>(walked.Count);
        foreach (var file in walked)
        {
            lines.Add(FileLine(file));
        }
        lines.Sort(StringComparer.Ordinal);
        var text = new StringBuilder(lines.Count * 64);
        text.Append(options);
        foreach (var ignoreFile in ignoreFiles.Order(StringComparer.Ordinal))
        {
            // An ignore file that ignores itself is not in the walk; a change to it still changes what is packed.
            text.Append(Line(Path.GetRelativePath(root, ignoreFile), new FileInfo(ignoreFile))).Append('\n');
        }
        foreach (var line in lines)
        {
            text.Append(line).Append('\n');
        }
        return (Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text.ToString()))), directories);
    }

    /// <summary>
    /// The stamp of the run's repository, taken once per run and exclusion list: the source zip and the step
    /// cache's source part are decided on the same walk.
    /// </summary>
    public static string ForRun(RunPlan plan, IReadOnlyList<string> excludedPaths)
    {
        ArgumentNullException.ThrowIfNull(plan);
        ArgumentNullException.ThrowIfNull(excludedPaths);
        var stamps = s_runs.GetValue(plan, _ => []);
        var id = string.Join('\u001f', excludedPaths.Order(StringComparer.Ordinal));
        Lazy<string> stamp;
        lock (stamps)
        {
            if (!stamps.TryGetValue(id, out stamp!))
            {
                // -NoCache trusts nothing kept: not even the session's watcher.
                stamp = new Lazy<string>(() => Compute(plan.Pipeline.RepositoryPath, excludedPaths, plan.Pipeline.Defaults.PackageSecrets, walk: plan.Request.NoCache), LazyThreadSafetyMode.ExecutionAndPublication);
                stamps[id] = stamp;
            }
        }
        return stamp.Value;
    }

    /// <summary>
    /// A value derived from the tree's content (<paramref name="compute"/>), kept in &lt;repository&gt;/.rlabs/source
    /// under <paramref name="name"/> with the stamp it was computed for: while the stamp is the same, it is read back
    /// instead of computed. Nothing is kept when the repository has no .rlabs folder (no local run made one).
    /// </summary>
    public static string Remember(string repositoryPath, string name, string stamp, Func<string> compute)
    {
        ArgumentNullException.ThrowIfNull(repositoryPath);
        ArgumentNullException.ThrowIfNull(compute);
        var work = Path.Combine(repositoryPath, RunPlanner.WorkFolder);
        var file = Path.Combine(work, Folder, name + ".json");
        if (File.Exists(file))
        {
            try
            {
                var kept = JsonSerializer.Deserialize<Kept>(File.ReadAllText(file));
                if (kept is not null && kept.Stamp == stamp)
                {
                    return kept.Value;
                }
            }
            catch (Exception ex) when (ex is JsonException or IOException)
            {
                // A damaged or vanishing record is computed again.
            }
        }
        var value = compute();
        if (Directory.Exists(work))
        {
            try
            {
                Directory.CreateDirectory(Path.GetDirectoryName(file)!);
                var aside = file + "." + Guid.NewGuid().ToString("N")[..8] + ".tmp";
                File.WriteAllText(aside, JsonSerializer.Serialize(new Kept(stamp, value)));
                File.Move(aside, file, overwrite: true); // a reader never sees half a record
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                // Only a later run's speed depends on it.
            }
        }
        return value;
    }

    private static string FileLine(WalkedFile file)
    {
        if (!file.Exists)
        {
            return file.Relative + "|missing";
        }
        var line = string.Create(CultureInfo.InvariantCulture, $"{file.Relative}|{file.Length}|{file.LastWriteTicks}");
        // Whether it is a link came with the stat; asking every file for its link target would cost a call each.
        if (file.IsLink && new FileInfo(file.FullPath) is { LinkTarget: { } target } link)
        {
            // What a file link packs is its target's content: its stat stands for it.
            var final = link.ResolveLinkTarget(returnFinalTarget: true);
            line += "|->" + target + (final is FileInfo { Exists: true } resolved ? "|" + Line(string.Empty, resolved) : "|missing");
        }
        return line;
    }

    private static string Line(string relative, FileSystemInfo entry) => entry.Exists
        ? string.Create(CultureInfo.InvariantCulture, $"{relative}|{(entry is FileInfo file ? file.Length : -1)}|{entry.LastWriteTimeUtc.Ticks}")
        : relative + "|missing";

    private sealed record Kept(string Stamp, string Value);
}
