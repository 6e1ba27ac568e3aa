using System.IO.Compression;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;

namespace Rlabs.Pipelines.Packaging;

/// <summary>What went into a source zip.</summary>
/// <param name="ZipPath">The zip file.</param>
/// <param name="FileCount">Files packed.</param>
/// <param name="UncompressedBytes">Their total size.</param>
/// <param name="Sha256">Hex SHA-256 of the zip; the same tree gives the same hash.</param>
/// <param name="SkippedSecrets">Secret-looking files left out (relative paths).</param>
/// <param name="SkippedLinks">Links left out because they point outside the repository or nowhere ("path -> target").</param>
public sealed record SourcePackage(string ZipPath, int FileCount, long UncompressedBytes, string Sha256, IReadOnlyList<string> SkippedSecrets, IReadOnlyList<string> SkippedLinks);

/// <summary>The files of a repository that may leave the machine, and what was left out.</summary>
/// <param name="Files">Relative path ('/'-separated, sorted) and the file whose content is packed (a link's target).</param>
/// <param name="SkippedSecrets">Secret-looking files left out (relative paths).</param>
/// <param name="SkippedLinks">Links left out because they point outside the repository or nowhere ("path -> target").</param>
public sealed record SourceSelection(IReadOnlyList<(string RelativePath, string FullPath)> Files, IReadOnlyList<string> SkippedSecrets, IReadOnlyList<string> SkippedLinks);

/// <summary>
/// Zips a data-apps repository the way a user would ship it: .gitignore honoured, never .git, the data
/// root, the credentials file, key files or files whose content holds a private key or cloud secret (unless
/// the pipeline's 'package_secrets' lists them). Links are never followed out of the repository: a file link
/// to a file inside is packed as that file's content under the link's name, other links are left out. The zip
/// is deterministic (sorted entries, fixed timestamps), so an unchanged repository hashes the same and a
/// cloud run can skip the upload.
/// </summary>
public static partial class SourcePackager
{
    private static readonly DateTimeOffset s_fixedTime = new(1980, 1, 1, 0, 0, 0, TimeSpan.Zero);

    /// <summary>How much of each file is read to recognise secret content (keys sit at the start of their file).</summary>
    private const int SniffBytes = 8192;

    private static readonly string[] s_stored =
    [
        ".zip", ".gz", ".tgz", ".bz2", ".xz", ".zst", ".7z", ".png", ".jpg", ".jpeg", ".gif", ".webp", ".parquet", ".whl", ".pkl.gz", ".mp4",
    ];

    private static readonly string[] s_secretExtensions = [".pem", ".ppk", ".key", ".p12", ".pfx", ".jks", ".keystore", ".kdbx", ".asc", ".gpg"];

    private static readonly string[] s_secretNames =
    [
        "id_rsa", "id_dsa", "id_ecdsa", "id_ed25519", ".env", "credentials", "credentials.yaml", "credentials.yml", "credentials.json",
        ".netrc", ".pgpass", ".git-credentials", ".pypirc", ".npmrc", ".dockercfg", ".s3cfg", ".boto", ".htpasswd",
    ];

    /// <summary>Names that hold keys or credentials; never packed even when not ignored.</summary>
    internal static bool IsSecretName(string fileName)
    {
        var lower = fileName.ToLowerInvariant();
        return s_secretExtensions.Any(e => lower.EndsWith(e, StringComparison.Ordinal))
            || s_secretNames.Contains(lower)
            || lower.StartsWith(".env.", StringComparison.Ordinal)
            || (lower.EndsWith(".json", StringComparison.Ordinal) && (lower.StartsWith("service-account", StringComparison.Ordinal) || lower.StartsWith("service_account", StringComparison.Ordinal) || lower.StartsWith("client_secret", StringComparison.Ordinal)));
    }

    /// <summary>PEM/OpenSSH/PGP private keys, Google service-account keys, an AWS secret key written out in full.</summary>
    [GeneratedRegex("""-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----|"type"\s*:\s*"service_account"|(?i:aws_secret_access_key|secretaccesskey)["']?\s*[=:]\s*["']?[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+])""")]
    private static partial Regex SecretContent();

    /// <summary>Whether the start of the file holds a private key or a cloud secret (unreadable files count as not).</summary>
    internal static bool HasSecretContent(string path)
    {
        try
        {
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, 1, FileOptions.None);
            var buffer = new byte[SniffBytes];
            var read = stream.ReadAtLeast(buffer, buffer.Length, throwOnEndOfStream: false);
            return SecretContent().IsMatch(Encoding.Latin1.GetString(buffer, 0, read));
        }
        catch (IOException)
        {
            return false;
        }
        catch (UnauthorizedAccessException)
        {
            return false;
        }
    }

    /// <summary>The files that would be packed, sorted by relative path ('/'-separated).</summary>
    public static IReadOnlyList<(string RelativePath, string FullPath)> CollectFiles(string repositoryPath, IEnumerable<string> excludedPaths, out IReadOnlyList<string> skippedSecrets)
    {
        var selection = Select(repositoryPath, excludedPaths, []);
        skippedSecrets = selection.SkippedSecrets;
        return selection.Files;
    }

    /// <summary>
    /// The files that may leave the machine. <paramref name="allowedSecrets"/> are gitignore-style patterns
    /// (the pipeline's 'package_secrets') of secret-looking files the user chose to pack anyway.
    /// </summary>
    public static SourceSelection Select(string repositoryPath, IEnumerable<string> excludedPaths, IReadOnlyList<string> allowedSecrets)
    {
        ArgumentNullException.ThrowIfNull(allowedSecrets);
        var root = Path.GetFullPath(repositoryPath).TrimEnd(Path.DirectorySeparatorChar, Path.AltDirectorySeparatorChar);
        var excluded = ExcludedSet(excludedPaths);
        var allowed = GitIgnoreFile.Parse(string.Empty, allowedSecrets);
        var files = new List<(string, string)>();
        var secrets = new List<string>();
        var links = new List<string>();
        var rootIgnores = RootIgnores(root);
        foreach (var (entryRelative, entry) in Walk(root, excluded, rootIgnores))
        {
            var content = entry.FullName;
            if ((entry.Attributes & FileAttributes.ReparsePoint) != 0 && entry.LinkTarget is { } linkTarget)
            {
                // Exclusions and ignore rules must hold for what is packed, not only for the link's name.
                var final = entry.ResolveLinkTarget(returnFinalTarget: true);
                var targetRelative = final is null ? null : Path.GetRelativePath(root, final.FullName);
                if (final is not FileInfo { Exists: true } || targetRelative is null || IsOutside(targetRelative))
                {
                    links.Add($"{entryRelative} -> {linkTarget}");
                    continue;
                }
                if (IsExcludedTarget(root, final.FullName, excluded, rootIgnores))
                {
                    continue;
                }
                if (IsSecretName(final.Name) && allowed.Match(targetRelative.Replace('\\', '/'), false) != true)
                {
                    secrets.Add(entryRelative);
                    continue;
                }
                content = final.FullName;
            }
            if ((IsSecretName(entry.Name) || HasSecretContent(content)) && allowed.Match(entryRelative, false) != true)
            {
                secrets.Add(entryRelative);
                continue;
            }
            files.Add((entryRelative, content));
        }
        files.Sort((a, b) => string.CompareOrdinal(a.Item1, b.Item1));
        secrets.Sort(StringComparer.Ordinal);
        links.Sort(StringComparer.Ordinal);
        return new SourceSelection(files, secrets, links);
    }

    /// <summary>Full paths, without a trailing separator, compared as the file system does.</summary>
    internal static HashSet<string> ExcludedSet(IEnumerable<string> excludedPaths) =>
        excludedPaths.Select(p => Path.GetFullPath(p).TrimEnd(Path.DirectorySeparatorChar, Path.AltDirectorySeparatorChar))
            .ToHashSet(OperatingSystem.IsWindows() ? StringComparer.OrdinalIgnoreCase : StringComparer.Ordinal);

    /// <summary>The ignore rules of .git/info/exclude, which apply to the whole repository.</summary>
    internal static List<GitIgnoreFile> RootIgnores(string root)
    {
        var rootIgnores = new List<GitIgnoreFile>();
        var exclude = Path.Combine(root, ".git", "info", "exclude");
        if (File.Exists(exclude))
        {
            rootIgnores.Add(GitIgnoreFile.Parse(string.Empty, File.ReadAllLines(exclude)));
        }
        return rootIgnores;
    }

    /// <summary>
    /// The files (and file links) under <paramref name="root"/> that are candidates for the zip, with their paths
    /// relative to it ('/'-separated, in no particular order): .gitignore honoured, never .git or .rlabs, nothing
    /// under an excluded path, directory links not followed. Reads the .gitignore files, no other file's content.
    /// </summary>
    internal static IEnumerable<(string Relative, FileSystemInfo Entry)> Walk(string root, HashSet<string> excluded, List<GitIgnoreFile> rootIgnores, Action<string>? onGitIgnore = null)
    {
        var pending = new Stack<(string Directory, string Relative, GitIgnoreStack Ignores)>();
        pending.Push((root, string.Empty, new GitIgnoreStack(rootIgnores)));
        while (pending.Count > 0)
        {
            var (directory, relative, ignores) = pending.Pop();
            var gitignore = Path.Combine(directory, ".gitignore");
            if (File.Exists(gitignore))
            {
                onGitIgnore?.Invoke(gitignore);
                ignores = ignores.With(GitIgnoreFile.Parse(relative, File.ReadAllLines(gitignore)));
            }
            foreach (var entry in new DirectoryInfo(directory).EnumerateFileSystemInfos())
            {
                var entryRelative = relative.Length == 0 ? entry.Name : relative + "/" + entry.Name;
                if (excluded.Contains(entry.FullName))
                {
                    continue;
                }
                // The type comes with the listing (no stat): a file's stat is left to the caller that needs it.
                if (entry is DirectoryInfo)
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
                yield return (entryRelative, entry);
            }
        }
    }

    private static bool IsOutside(string relative) =>
        relative == ".." || relative.StartsWith(".." + Path.DirectorySeparatorChar, StringComparison.Ordinal) || Path.IsPathRooted(relative);

    /// <summary>Whether a link's target (inside the repository) is excluded, under .git/.rlabs, or ignored.</summary>
    private static bool IsExcludedTarget(string root, string target, HashSet<string> excluded, List<GitIgnoreFile> rootIgnores)
    {
        var parts = Path.GetRelativePath(root, target).Split(Path.DirectorySeparatorChar, Path.AltDirectorySeparatorChar);
        var ignores = new GitIgnoreStack(rootIgnores);
        var directory = root;
        var relative = string.Empty;
        for (var i = 0; i < parts.Length; i++)
        {
            var gitignore = Path.Combine(directory, ".gitignore");
            if (File.Exists(gitignore))
            {
                ignores = ignores.With(GitIgnoreFile.Parse(relative, File.ReadAllLines(gitignore)));
            }
            directory = Path.Combine(directory, parts[i]);
            relative = relative.Length == 0 ? parts[i] : relative + "/" + parts[i];
            var isDirectory = i < parts.Length - 1;
            if (excluded.Contains(directory) || (isDirectory && parts[i] is ".git" or ".rlabs") || ignores.IsIgnored(relative, isDirectory))
            {
                return true;
            }
        }
        return false;
    }

    /// <summary>Writes the zip of <paramref name="repositoryPath"/> to <paramref name="zipPath"/>.</summary>
    public static SourcePackage CreateZip(string repositoryPath, string zipPath, IEnumerable<string> excludedPaths, CancellationToken cancellationToken) =>
        CreateZip(repositoryPath, zipPath, excludedPaths, [], cancellationToken);

    /// <summary>Writes the zip of <paramref name="repositoryPath"/> to <paramref name="zipPath"/>, packing the <paramref name="allowedSecrets"/> patterns' secret-looking files too.</summary>
    public static SourcePackage CreateZip(string repositoryPath, string zipPath, IEnumerable<string> excludedPaths, IReadOnlyList<string> allowedSecrets, CancellationToken cancellationToken)
    {
        var selection = Select(repositoryPath, excludedPaths.Append(zipPath), allowedSecrets);
        var files = selection.Files;
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
        return new SourcePackage(Path.GetFullPath(zipPath), files.Count, total, hash, selection.SkippedSecrets, selection.SkippedLinks);
    }
}
