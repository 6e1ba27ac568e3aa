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

/// <summary>A file (or file link) a walk of a repository found.</summary>
/// <param name="Relative">Its path relative to the repository, '/'-separated.</param>
/// <param name="FullPath">Its full path.</param>
/// <param name="Name">Its name.</param>
/// <param name="IsLink">Whether it is a link (what it stands for is its target).</param>
/// <param name="Length">Its size in bytes, from the listing's stat.</param>
/// <param name="LastWriteTicks">Its modification time (UTC ticks), from the same stat.</param>
/// <param name="Exists">False when it was gone by the time of its stat.</param>
internal readonly record struct WalkedFile(string Relative, string FullPath, string Name, bool IsLink, long Length, long LastWriteTicks, bool Exists);

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
        foreach (var walked in Walk(root, excluded, rootIgnores, null, out _))
        {
            var entryRelative = walked.Relative;
            var content = walked.FullPath;
            var entry = walked.IsLink ? new FileInfo(walked.FullPath) : null;
            if (entry?.LinkTarget is { } linkTarget)
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
            if ((IsSecretName(walked.Name) || HasSecretContent(content)) && allowed.Match(entryRelative, false) != true)
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
    /// under an excluded path, directory links not followed. Reads the .gitignore files, no other file's content;
    /// each file's size and time come from one stat. Directories are listed side by side, one per core: most of a
    /// walk is the kernel's stat calls, which do not get cheaper on one thread. <paramref name="onGitIgnore"/> is
    /// told of each .gitignore read, from any thread.
    /// </summary>
    /// <param name="root">The repository.</param>
    /// <param name="excluded">Full paths left out, with everything under them.</param>
    /// <param name="rootIgnores">Ignore rules of the whole repository (.git/info/exclude).</param>
    /// <param name="onGitIgnore">Told of each .gitignore read.</param>
    /// <param name="directories">How many directories were listed, the root included.</param>
    internal static List<WalkedFile> Walk(string root, HashSet<string> excluded, List<GitIgnoreFile> rootIgnores, Action<string>? onGitIgnore, out int directories)
    {
        directories = 0;
        var level = new List<(string Directory, string Relative, GitIgnoreStack Ignores)> { (root, string.Empty, new GitIgnoreStack(rootIgnores)) };
        var all = new List<List<WalkedFile>>();
        while (level.Count > 0)
        {
            var files = new List<WalkedFile>[level.Count];
            var below = new List<(string, string, GitIgnoreStack)>[level.Count];
            void List(int i)
            {
                files[i] = [];
                below[i] = [];
                ListDirectory(level[i].Directory, level[i].Relative, level[i].Ignores, excluded, onGitIgnore, files[i], below[i]);
            }
            if (level.Count == 1)
            {
                List(0);
            }
            else
            {
                try
                {
                    Parallel.For(0, level.Count, new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount }, List);
                }
                catch (AggregateException ex) when (ex.InnerExceptions.Count > 0)
                {
                    // The first directory that could not be listed fails the walk as it would on one thread.
                    System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(ex.InnerExceptions[0]).Throw();
                }
            }
            all.AddRange(files);
            directories += level.Count;
            level = below.SelectMany(b => b).ToList();
        }
        var result = new List<WalkedFile>(all.Sum(f => f.Count));
        foreach (var list in all)
        {
            result.AddRange(list);
        }
        return result;
    }

    private static readonly EnumerationOptions s_listing = new() { RecurseSubdirectories = false, IgnoreInaccessible = false, AttributesToSkip = 0, ReturnSpecialDirectories = false };

    /// <summary>One directory's share of <see cref="Walk"/>: its files, and its subdirectories to list next.</summary>
    private static void ListDirectory(string directory, string relative, GitIgnoreStack ignores, HashSet<string> excluded, Action<string>? onGitIgnore,
        List<WalkedFile> files, List<(string, string, GitIgnoreStack)> below)
    {
        var gitignore = Path.Combine(directory, ".gitignore");
        if (File.Exists(gitignore))
        {
            onGitIgnore?.Invoke(gitignore);
            ignores = ignores.With(GitIgnoreFile.Parse(relative, File.ReadAllLines(gitignore)));
        }
        // The listing gives each entry's name and type; the stat (size, time, whether a link) is read from the same
        // entry, with no object made for a file that is then thrown away.
        var entries = new System.IO.Enumeration.FileSystemEnumerable<Listed>(directory, static (ref System.IO.Enumeration.FileSystemEntry entry) => Listed.From(ref entry), s_listing);
        foreach (var entry in entries)
        {
            var fullPath = Path.Join(directory, entry.Name);
            var entryRelative = relative.Length == 0 ? entry.Name : relative + "/" + entry.Name;
            if (excluded.Contains(fullPath))
            {
                continue;
            }
            if (entry.IsDirectory)
            {
                // Directory links are not followed: they can point outside the repository or loop.
                if (entry.Name is ".git" or ".rlabs" || entry.IsLink || ignores.IsIgnored(entryRelative, true))
                {
                    continue;
                }
                below.Add((fullPath, entryRelative, ignores));
                continue;
            }
            if (entry.Name == ".git" || ignores.IsIgnored(entryRelative, false))
            {
                continue;
            }
            files.Add(new WalkedFile(entryRelative, fullPath, entry.Name, entry.IsLink, entry.Length, entry.LastWriteTicks, entry.Exists));
        }
    }

    /// <summary>What a listing says of one entry: the directory's type from the listing, the rest from one stat.</summary>
    private readonly record struct Listed(string Name, bool IsDirectory, bool IsLink, long Length, long LastWriteTicks, bool Exists)
    {
        public static Listed From(ref System.IO.Enumeration.FileSystemEntry entry)
        {
            var name = entry.FileName.ToString();
            try
            {
                var attributes = entry.Attributes;
                var isLink = (attributes & FileAttributes.ReparsePoint) != 0;
                return entry.IsDirectory
                    ? new Listed(name, true, isLink, -1, 0, true)
                    : new Listed(name, false, isLink, entry.Length, entry.LastWriteTimeUtc.UtcTicks, true);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                return new Listed(name, false, false, -1, 0, false); // gone between the listing and its stat
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
