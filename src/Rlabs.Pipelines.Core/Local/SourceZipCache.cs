using System.Globalization;
using System.Text.Json;
using Rlabs.Pipelines.Packaging;
using Rlabs.Pipelines.Planning;

namespace Rlabs.Pipelines.Local;

/// <summary>
/// The last source zip of a repository, kept in &lt;repository&gt;/.rlabs/source with the <see cref="SourceTreeStamp"/>
/// it was built for (the files the packer looks at, with sizes and modification times, and the packing options). A
/// run whose tree has the same stamp links that zip instead of packing again (a 5,000-file repository costs seconds
/// to pack, milliseconds to stamp).
/// </summary>
internal static class SourceZipCache
{
    private const string Folder = "source";
    private const string KeyName = "source.zip.key";

    private sealed record Entry(string Key, string ZipStamp, int FileCount, long UncompressedBytes, string Sha256, List<string> SkippedSecrets, List<string> SkippedLinks);

    /// <summary>Links the kept zip to <paramref name="zipPath"/> when the tree is unchanged; null when it must be packed.</summary>
    public static SourcePackage? Reuse(string work, string zipPath, string treeStamp)
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
        if (entry is null || entry.ZipStamp != Stamp(kept) || entry.Key != treeStamp)
        {
            return null;
        }
        HardLink.LinkOrCopy(kept, zipPath);
        return new SourcePackage(Path.GetFullPath(zipPath), entry.FileCount, entry.UncompressedBytes, entry.Sha256, entry.SkippedSecrets, entry.SkippedLinks);
    }

    /// <summary>Keeps a freshly packed zip for the next run (a link; written aside and renamed, so a reader never sees half a key).</summary>
    public static void Keep(string work, SourcePackage package, string treeStamp)
    {
        var folder = Directory.CreateDirectory(Path.Combine(work, Folder)).FullName;
        var kept = Path.Combine(folder, StepContract.SourceZipName);
        var keyFile = Path.Combine(folder, KeyName);
        File.Delete(keyFile);
        HardLink.LinkOrCopy(package.ZipPath, kept);
        var entry = new Entry(treeStamp, Stamp(kept), package.FileCount, package.UncompressedBytes, package.Sha256, [.. package.SkippedSecrets], [.. package.SkippedLinks]);
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
}
