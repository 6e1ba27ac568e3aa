using System.Globalization;
using System.Text;
using System.Text.Json;
using Rlabs.Pipelines.Packaging;
using Rlabs.Pipelines.Planning;

namespace Rlabs.Pipelines.Local;

/// <summary>
/// The last source zip of a repository, kept in &lt;repository&gt;/.rlabs/source with the key it was built for: the
/// list of every file under the repository (outside the run folders and the data root) with its size and
/// modification time, and the packing options. A run whose tree has the same key links that zip instead of
/// packing again (a 5,000-file repository costs seconds to pack, a few milliseconds to list). Listing every file,
/// ignored ones and .gitignore included, errs on the side of packing again.
/// </summary>
internal static class SourceZipCache
{
    private const string Folder = "source";
    private const string KeyName = "source.zip.key";

    private sealed record Entry(string Key, string ZipStamp, int FileCount, long UncompressedBytes, string Sha256, List<string> SkippedSecrets, List<string> SkippedLinks);

    /// <summary>Links the kept zip to <paramref name="zipPath"/> when the tree is unchanged; null when it must be packed.</summary>
    public static SourcePackage? Reuse(string repository, string work, string zipPath, IReadOnlyList<string> excluded, IReadOnlyList<string> allowedSecrets)
    {
        var kept = Path.Combine(work, Folder, StepContract.SourceZipName);
        var keyFile = Path.Combine(work, Folder, KeyName);
        if (!File.Exists(kept) || !File.Exists(keyFile))
        {
            return null;
        }
        Entry? entry;
        try
        {
            entry = JsonSerializer.Deserialize<Entry>(File.ReadAllText(keyFile));
        }
        catch (JsonException)
        {
            return null;
        }
        // The stamp catches a kept zip that a step wrote into through its link: it is packed again.
        if (entry is null || entry.ZipStamp != Stamp(kept) || entry.Key != Key(repository, excluded, allowedSecrets))
        {
            return null;
        }
        HardLink.LinkOrCopy(kept, zipPath);
        return new SourcePackage(Path.GetFullPath(zipPath), entry.FileCount, entry.UncompressedBytes, entry.Sha256, entry.SkippedSecrets, entry.SkippedLinks);
    }

    /// <summary>Keeps a freshly packed zip for the next run (a link; written aside and renamed, so a reader never sees half a key).</summary>
    public static void Keep(string repository, string work, SourcePackage package, IReadOnlyList<string> excluded, IReadOnlyList<string> allowedSecrets)
    {
        var folder = Directory.CreateDirectory(Path.Combine(work, Folder)).FullName;
        var kept = Path.Combine(folder, StepContract.SourceZipName);
        var keyFile = Path.Combine(folder, KeyName);
        File.Delete(keyFile);
        HardLink.LinkOrCopy(package.ZipPath, kept);
        var entry = new Entry(Key(repository, excluded, allowedSecrets), Stamp(kept), package.FileCount, package.UncompressedBytes, package.Sha256, [.. package.SkippedSecrets], [.. package.SkippedLinks]);
        var aside = keyFile + "." + Guid.NewGuid().ToString("N")[..8] + ".tmp";
        File.WriteAllText(aside, JsonSerializer.Serialize(entry));
        File.Move(aside, keyFile, overwrite: true);
    }

    /// <summary>Size and modification time of a file, as one string; empty when it is missing.</summary>
    public static string Stamp(string path)
    {
        var info = new FileInfo(path);
        return info.Exists ? string.Create(CultureInfo.InvariantCulture, $"{info.Length}:{info.LastWriteTimeUtc.Ticks}") : string.Empty;
    }

    /// <summary>Every file and folder under the repository (links not followed) with size and modification time, and the options.</summary>
    internal static string Key(string repository, IReadOnlyList<string> excluded, IReadOnlyList<string> allowedSecrets)
    {
        var skip = new HashSet<string>(excluded.Select(e => Path.TrimEndingDirectorySeparator(Path.GetFullPath(e))), OperatingSystem.IsWindows() ? StringComparer.OrdinalIgnoreCase : StringComparer.Ordinal);
        var key = new StringBuilder();
        key.Append(string.Join('\n', excluded)).Append('\0').Append(string.Join('\n', allowedSecrets)).Append('\0');
        var pending = new Stack<DirectoryInfo>();
        pending.Push(new DirectoryInfo(repository));
        var options = new EnumerationOptions { RecurseSubdirectories = false, AttributesToSkip = 0, IgnoreInaccessible = true };
        while (pending.Count > 0)
        {
            foreach (var item in pending.Pop().EnumerateFileSystemInfos("*", options).OrderBy(i => i.Name, StringComparer.Ordinal))
            {
                if (skip.Contains(item.FullName))
                {
                    continue;
                }
                key.Append(Path.GetRelativePath(repository, item.FullName)).Append('|').Append(item.LastWriteTimeUtc.Ticks);
                if (item is FileInfo file)
                {
                    key.Append('|').Append(file.Length).Append('|').Append(file.LinkTarget);
                }
                else if (item.LinkTarget is { } target)
                {
                    key.Append("|->").Append(target);
                }
                else
                {
                    pending.Push((DirectoryInfo)item);
                }
                key.Append('\n');
            }
        }
        return Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(Encoding.UTF8.GetBytes(key.ToString())));
    }
}
