using System.IO.Compression;
using System.Security.Cryptography;

namespace Rlabs.Pipelines.Packaging;

/// <summary>What went into a source zip.</summary>
/// <param name="ZipPath">The zip file.</param>
/// <param name="FileCount">Files packed.</param>
/// <param name="UncompressedBytes">Their total size.</param>
/// <param name="Sha256">Hex SHA-256 of the zip; the same tree gives the same hash.</param>
/// <param name="SkippedSecrets">Secret-looking files left out (relative paths).</param>
public sealed record SourcePackage(string ZipPath, int FileCount, long UncompressedBytes, string Sha256, IReadOnlyList<string> SkippedSecrets);

/// <summary>
/// Zips a data-apps repository the way a user would ship it: .gitignore honoured, never .git, the data
/// root, the credentials file or key files. The zip is deterministic (sorted entries, fixed timestamps),
/// so an unchanged repository hashes the same and a cloud run can skip the upload.
/// </summary>
public static class SourcePackager
{
    private static readonly DateTimeOffset s_fixedTime = new(1980, 1, 1, 0, 0, 0, TimeSpan.Zero);

    private static readonly string[] s_stored =
    [
        ".zip", ".gz", ".tgz", ".bz2", ".xz", ".zst", ".7z", ".png", ".jpg", ".jpeg", ".gif", ".webp", ".parquet", ".whl", ".pkl.gz", ".mp4",
    ];

    /// <summary>Names that hold keys or credentials; never packed even when not ignored.</summary>
    internal static bool IsSecretName(string fileName)
    {
        var lower = fileName.ToLowerInvariant();
        return lower.EndsWith(".pem", StringComparison.Ordinal)
            || lower.EndsWith(".ppk", StringComparison.Ordinal)
            || lower.EndsWith(".key", StringComparison.Ordinal)
            || lower.EndsWith(".p12", StringComparison.Ordinal)
            || lower.EndsWith(".pfx", StringComparison.Ordinal)
            || lower is "id_rsa" or "id_dsa" or "id_ecdsa" or "id_ed25519" or ".env" or "credentials" or "credentials.yaml" or "credentials.yml" or ".netrc" or ".pgpass";
    }

    /// <summary>The files that would be packed, sorted by relative path ('/'-separated).</summary>
    public static IReadOnlyList<(string RelativePath, string FullPath)> CollectFiles(string repositoryPath, IEnumerable<string> excludedPaths, out IReadOnlyList<string> skippedSecrets)
    {
        var root = Path.GetFullPath(repositoryPath);
        var excluded = excludedPaths.Select(p => Path.GetFullPath(p).TrimEnd(Path.DirectorySeparatorChar, Path.AltDirectorySeparatorChar)).ToHashSet(OperatingSystem.IsWindows() ? StringComparer.OrdinalIgnoreCase : StringComparer.Ordinal);
        var files = new List<(string, string)>();
        var secrets = new List<string>();
        var rootIgnores = new List<GitIgnoreFile>();
        var exclude = Path.Combine(root, ".git", "info", "exclude");
        if (File.Exists(exclude))
        {
            rootIgnores.Add(GitIgnoreFile.Parse(string.Empty, File.ReadAllLines(exclude)));
        }
        var pending = new Stack<(string Directory, string Relative, GitIgnoreStack Ignores)>();
        pending.Push((root, string.Empty, new GitIgnoreStack(rootIgnores)));
        while (pending.Count > 0)
        {
            var (directory, relative, ignores) = pending.Pop();
            var gitignore = Path.Combine(directory, ".gitignore");
            if (File.Exists(gitignore))
            {
                ignores = ignores.With(GitIgnoreFile.Parse(relative, File.ReadAllLines(gitignore)));
            }
            foreach (var entry in new DirectoryInfo(directory).EnumerateFileSystemInfos())
            {
                var entryRelative = relative.Length == 0 ? entry.Name : relative + "/" + entry.Name;
                var isDirectory = (entry.Attributes & FileAttributes.Directory) != 0;
                if (excluded.Contains(entry.FullName))
                {
                    continue;
                }
                if (isDirectory)
                {
                    // Directory links are not followed: they can point outside the repository or loop.
                    if (entry.Name is ".git" or ".rlabs" || entry.LinkTarget is not null || ignores.IsIgnored(entryRelative, true))
                    {
                        continue;
                    }
                    pending.Push((entry.FullName, entryRelative, ignores));
                    continue;
                }
                if (entry.Name == ".git" || ignores.IsIgnored(entryRelative, false))
                {
                    continue;
                }
                if (IsSecretName(entry.Name))
                {
                    secrets.Add(entryRelative);
                    continue;
                }
                files.Add((entryRelative, entry.FullName));
            }
        }
        files.Sort((a, b) => string.CompareOrdinal(a.Item1, b.Item1));
        secrets.Sort(StringComparer.Ordinal);
        skippedSecrets = secrets;
        return files;
    }

    /// <summary>Writes the zip of <paramref name="repositoryPath"/> to <paramref name="zipPath"/>.</summary>
    public static SourcePackage CreateZip(string repositoryPath, string zipPath, IEnumerable<string> excludedPaths, CancellationToken cancellationToken)
    {
        var files = CollectFiles(repositoryPath, excludedPaths.Append(zipPath), out var secrets);
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(zipPath))!);
        long total = 0;
        var temporary = zipPath + ".partial";
        using (var stream = new FileStream(temporary, FileMode.Create, FileAccess.ReadWrite, FileShare.None, 1 << 16))
        using (var archive = new ZipArchive(stream, ZipArchiveMode.Create, leaveOpen: false))
        {
            foreach (var (relative, full) in files)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var level = s_stored.Any(ext => relative.EndsWith(ext, StringComparison.OrdinalIgnoreCase)) ? CompressionLevel.NoCompression : CompressionLevel.Fastest;
                var entry = archive.CreateEntry(relative, level);
                entry.LastWriteTime = s_fixedTime;
                using var source = new FileStream(full, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, 1 << 16);
                using var target = entry.Open();
                source.CopyTo(target);
                total += source.Length;
            }
        }
        File.Move(temporary, zipPath, overwrite: true);
        string hash;
        using (var read = File.OpenRead(zipPath))
        {
            hash = Convert.ToHexStringLower(SHA256.HashData(read));
        }
        return new SourcePackage(Path.GetFullPath(zipPath), files.Count, total, hash, secrets);
    }
}
