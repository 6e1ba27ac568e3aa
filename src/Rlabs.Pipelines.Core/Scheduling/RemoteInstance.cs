using System.Globalization;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using Renci.SshNet;
using Renci.SshNet.Common;
using Rlabs.Pipelines.Running;

namespace Rlabs.Pipelines.Scheduling;

/// <summary>Where and as whom to log in.</summary>
/// <param name="Host">Address of the instance.</param>
/// <param name="Port">SSH port (22 on EC2).</param>
/// <param name="UserName">Login user (ec2-user, ubuntu, …).</param>
/// <param name="PrivateKeyPath">The .pem file: RSA PEM or an OpenSSH key (ed25519, rsa, ecdsa).</param>
/// <param name="HostIdentity">What the host key is pinned under: the instance id, stable across address changes.</param>
public sealed record SshEndpoint(string Host, int Port, string UserName, string PrivateKeyPath, string HostIdentity);

/// <summary>A remote command's outcome.</summary>
/// <param name="ExitCode">Exit status (-1 when the command was killed by a signal).</param>
/// <param name="Output">Standard output.</param>
/// <param name="Error">Standard error.</param>
public sealed record RemoteCommandResult(int ExitCode, string Output, string Error);

/// <summary>What a sync transferred.</summary>
/// <param name="Uploaded">Relative paths sent (new or changed).</param>
/// <param name="Deleted">Relative paths removed on the instance because they are gone locally.</param>
/// <param name="Unchanged">How many files were already up to date.</param>
public sealed record SyncResult(IReadOnlyList<string> Uploaded, IReadOnlyList<string> Deleted, int Unchanged)
{
    /// <summary>Whether anything changed on the instance.</summary>
    public bool Changed => Uploaded.Count > 0 || Deleted.Count > 0;
}

/// <summary>
/// One SSH (and SFTP) session to the instance: host key pinned in <see cref="KnownHosts"/>, commands
/// built by the caller with <see cref="ShellQuote"/>, files written atomically, folders synced
/// rsync-like against a manifest kept beside them on the instance.
/// </summary>
public sealed class RemoteInstance : IDisposable
{
    private const string PartSuffix = ".rlabs-part";

    private readonly SshClient _ssh;
    private readonly SftpClient _sftp;
    private readonly IRunReporter _reporter;
    private readonly PrivateKeyFile _key;

    private RemoteInstance(SshClient ssh, SftpClient sftp, PrivateKeyFile key, string home, string hostKey, IRunReporter reporter)
    {
        _ssh = ssh;
        _sftp = sftp;
        _key = key;
        Home = home;
        HostKey = hostKey;
        _reporter = reporter;
    }

    /// <summary>The login user's home folder on the instance.</summary>
    public string Home { get; }

    /// <summary>The host key as 'type SHA256:fingerprint'.</summary>
    public string HostKey { get; }

    /// <summary>
    /// Checks the key file without ever showing its content: it must exist and parse; a file readable by
    /// others gives a warning (ssh itself refuses such keys). Returns the warnings.
    /// </summary>
    public static IReadOnlyList<string> CheckKeyFile(string privateKeyPath)
    {
        var warnings = new List<string>();
        using var key = LoadKey(privateKeyPath);
        if (!OperatingSystem.IsWindows())
        {
            var mode = File.GetUnixFileMode(privateKeyPath);
            const UnixFileMode others = UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.OtherRead | UnixFileMode.OtherWrite;
            if ((mode & others) != 0)
            {
                warnings.Add($"The key file '{privateKeyPath}' can be read by other users (mode {Convert.ToString((int)mode, 8)}); restrict it with: chmod 600 '{privateKeyPath}'.");
            }
        }
        return warnings;
    }

    /// <summary>Connects without console fingerprints to check a first-contact key against (trust on first use).</summary>
    public static Task<RemoteInstance> ConnectAsync(SshEndpoint endpoint, KnownHosts knownHosts, bool acceptChangedHostKey, TimeSpan waitForSsh, IRunReporter reporter, CancellationToken cancellationToken) =>
        ConnectAsync(endpoint, knownHosts, acceptChangedHostKey, null, waitForSsh, reporter, cancellationToken);

    /// <summary>
    /// Connects, retrying while nothing answers (an instance that was just started) until
    /// <paramref name="waitForSsh"/> has passed. A host key seen for the first time is trusted only when it is
    /// among <paramref name="consoleFingerprints"/> (what the instance printed in its console output), and
    /// recorded; without them (not available yet) it is recorded with a warning. A changed key is refused
    /// unless <paramref name="acceptChangedHostKey"/> (its own switch, never implied by -Force).
    /// </summary>
    public static async Task<RemoteInstance> ConnectAsync(SshEndpoint endpoint, KnownHosts knownHosts, bool acceptChangedHostKey, IReadOnlyCollection<string>? consoleFingerprints, TimeSpan waitForSsh, IRunReporter reporter, CancellationToken cancellationToken)
    {
        var verifiable = consoleFingerprints is { Count: > 0 };
        ArgumentNullException.ThrowIfNull(endpoint);
        ArgumentNullException.ThrowIfNull(knownHosts);
        ArgumentNullException.ThrowIfNull(reporter);
        var deadline = DateTimeOffset.UtcNow + waitForSsh;
        var attempt = 0;
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            attempt++;
            var key = LoadKey(endpoint.PrivateKeyPath);
            var connection = new ConnectionInfo(endpoint.Host, endpoint.Port, endpoint.UserName, new PrivateKeyAuthenticationMethod(endpoint.UserName, key))
            {
                Timeout = TimeSpan.FromSeconds(20),
            };
            string? presented = null;
            string? recorded = null;
            var status = HostKeyStatus.Unknown;
            var ssh = new SshClient(connection);
            SftpClient? sftp = null;
            ssh.HostKeyReceived += (_, e) =>
            {
                presented = KnownHosts.Format(e.HostKeyName, e.FingerPrintSHA256);
                status = knownHosts.Check(endpoint.HostIdentity, e.HostKeyName, e.FingerPrintSHA256, out recorded);
                e.CanTrust = status switch
                {
                    HostKeyStatus.Matches => true,
                    HostKeyStatus.Changed => acceptChangedHostKey && (!verifiable || consoleFingerprints!.Contains(e.FingerPrintSHA256, StringComparer.Ordinal)),
                    _ => !verifiable || consoleFingerprints!.Contains(e.FingerPrintSHA256, StringComparer.Ordinal),
                };
            };
            try
            {
                await ssh.ConnectAsync(cancellationToken).ConfigureAwait(false);
                sftp = new SftpClient(connection);
                sftp.HostKeyReceived += (_, e) => e.CanTrust = presented == KnownHosts.Format(e.HostKeyName, e.FingerPrintSHA256);
                await sftp.ConnectAsync(cancellationToken).ConfigureAwait(false);
                var hostKeyParts = presented!.Split(' ', 2);
                if (status == HostKeyStatus.Unknown)
                {
                    knownHosts.Record(endpoint.HostIdentity, hostKeyParts[0], hostKeyParts[1]["SHA256:".Length..]);
                    if (verifiable)
                    {
                        reporter.Verbose($"First contact with {endpoint.HostIdentity}: its host key {presented} matches the instance's console output; recorded in {knownHosts.Path}.");
                    }
                    else
                    {
                        reporter.Verbose($"First contact with {endpoint.HostIdentity}: recorded its host key {presented} in {knownHosts.Path}.");
                        reporter.Warning($"First contact with {endpoint.HostIdentity}: its host key {presented} could not be checked (the instance's console output holds no host key fingerprints yet); trusted and recorded in {knownHosts.Path}. Compare it with the EC2 console (Get system log) if in doubt.");
                    }
                }
                else if (status == HostKeyStatus.Changed)
                {
                    knownHosts.Record(endpoint.HostIdentity, hostKeyParts[0], hostKeyParts[1]["SHA256:".Length..]);
                    reporter.Warning($"The host key of {endpoint.HostIdentity} changed from {recorded} to {presented}; accepted because of -AcceptChangedHostKey and recorded in {knownHosts.Path}.");
                }
                reporter.Verbose($"Connected to {endpoint.UserName}@{endpoint.Host}:{endpoint.Port} ({endpoint.HostIdentity}, {presented}).");
                return new RemoteInstance(ssh, sftp, key, sftp.WorkingDirectory, presented, reporter);
            }
            catch (Exception ex)
            {
                sftp?.Dispose();
                ssh.Dispose();
                key.Dispose();
                if (ex is OperationCanceledException)
                {
                    throw;
                }
                if (status == HostKeyStatus.Changed && !acceptChangedHostKey)
                {
                    throw new RemoteInstanceException(RemoteFailure.HostKeyChanged,
                        $"The host key of {endpoint.HostIdentity} ({endpoint.Host}:{endpoint.Port}) is {presented}, but {recorded} was recorded in {knownHosts.Path}. " +
                        "If the instance was rebuilt, check the new key (EC2 console: Get system log) and run again with -AcceptChangedHostKey to accept it; otherwise someone may be in the middle of the connection.", ex);
                }
                if (status != HostKeyStatus.Matches && verifiable && presented is not null && !consoleFingerprints!.Contains(presented.Split(' ', 2)[1]["SHA256:".Length..], StringComparer.Ordinal))
                {
                    throw new RemoteInstanceException(RemoteFailure.HostKeyUnverified,
                        $"The host key of {endpoint.HostIdentity} ({endpoint.Host}:{endpoint.Port}) is {presented}, which is not among the fingerprints the instance printed in its console output ({string.Join(", ", consoleFingerprints!.Select(f => "SHA256:" + f))}). " +
                        "Someone may be in the middle of the connection, or the address belongs to another machine; nothing was sent.", ex);
                }
                if (ex is SshAuthenticationException)
                {
                    throw new RemoteInstanceException(RemoteFailure.AuthenticationFailed,
                        $"{endpoint.Host}:{endpoint.Port} refused the key '{endpoint.PrivateKeyPath}' for user '{endpoint.UserName}'. Check -Ec2UserName (ec2-user on Amazon Linux, ubuntu on Ubuntu) and that the .pem belongs to the instance's key pair.", ex);
                }
                var transient = ex is SocketException or SshConnectionException or SshOperationTimeoutException or TimeoutException or IOException;
                if (!transient)
                {
                    throw;
                }
                if (DateTimeOffset.UtcNow + TimeSpan.FromSeconds(3) >= deadline)
                {
                    var waited = waitForSsh > TimeSpan.Zero
                        ? $"did not answer within {waitForSsh.TotalSeconds:0} s ({attempt} attempt(s); last: {ex.Message})"
                        : $"did not answer ({attempt} attempt(s), not retried because the instance was already running; {ex.Message})";
                    throw new RemoteInstanceException(RemoteFailure.Unreachable,
                        $"SSH on {endpoint.Host}:{endpoint.Port} ({endpoint.HostIdentity}) {waited}. Check -SshPort and that the instance's security group allows SSH from this machine.", ex);
                }
                reporter.Verbose($"SSH on {endpoint.Host}:{endpoint.Port} does not answer yet ({ex.Message}); retrying.");
                await Task.Delay(TimeSpan.FromSeconds(3), cancellationToken).ConfigureAwait(false);
            }
        }
    }

    /// <summary>Runs <paramref name="command"/> (already quoted by the caller) in the login shell.</summary>
    public async Task<RemoteCommandResult> RunAsync(string command, CancellationToken cancellationToken)
    {
        using var ssh = _ssh.CreateCommand(command);
        await ssh.ExecuteAsync(cancellationToken).ConfigureAwait(false);
        return new RemoteCommandResult(ssh.ExitStatus ?? -1, ssh.Result, ssh.Error);
    }

    /// <summary>Runs <paramref name="command"/> and throws <see cref="RemoteFailure.CommandFailed"/> with its last output lines when it fails.</summary>
    public async Task<RemoteCommandResult> RunCheckedAsync(string command, string what, CancellationToken cancellationToken)
    {
        var result = await RunAsync(command, cancellationToken).ConfigureAwait(false);
        if (result.ExitCode != 0)
        {
            var tail = string.Join('\n', (result.Output + result.Error).Split('\n', StringSplitOptions.RemoveEmptyEntries).TakeLast(15));
            throw new RemoteInstanceException(RemoteFailure.CommandFailed, $"{what} failed on the instance with exit code {result.ExitCode}:\n{tail}");
        }
        return result;
    }

    /// <summary>
    /// Writes <paramref name="content"/> to <paramref name="remotePath"/> with <paramref name="mode"/> (e.g. 0600)
    /// unless it is already there with that content and mode. The content goes to a temporary file that gets
    /// the mode before it is renamed into place. Returns whether anything changed.
    /// </summary>
    public async Task<bool> WriteFileAsync(string remotePath, ReadOnlyMemory<byte> content, int mode, CancellationToken cancellationToken)
    {
        await EnsureDirectoryAsync(ParentOf(remotePath), cancellationToken).ConfigureAwait(false);
        // SFTP follows links (SSH.NET resolves every path): a link planted at the file or at its temporary name
        // would send the content (the credentials file, say) wherever it points. Such a link goes first.
        var removed = await RunCheckedAsync(
            $"for p in {ShellQuote.Quote(remotePath)} {ShellQuote.Quote(remotePath + PartSuffix)}; do if [ -L \"$p\" ]; then rm -f -- \"$p\" && printf '%s\\n' \"$p\"; fi; done",
            "Checking " + remotePath + " for links", cancellationToken).ConfigureAwait(false);
        foreach (var link in removed.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            _reporter.Warning($"Removed the symbolic link '{link}' on the instance before writing there (something there had replaced the file with it); what it pointed to is left alone.");
        }
        if (await _sftp.ExistsAsync(remotePath, cancellationToken).ConfigureAwait(false))
        {
            var attributes = await _sftp.GetAttributesAsync(remotePath, cancellationToken).ConfigureAwait(false);
            if (attributes.Size == content.Length && SameBytes(await ReadAllBytesAsync(remotePath, cancellationToken).ConfigureAwait(false), content.Span))
            {
                if (PermissionBits(attributes) == mode)
                {
                    return false;
                }
                Chmod(remotePath, mode);
                return true;
            }
        }
        await UploadAtomicallyAsync(new MemoryStream(content.ToArray(), writable: false), remotePath, mode, cancellationToken).ConfigureAwait(false);
        return true;
    }

    /// <summary>Reads a remote file, or null when it does not exist.</summary>
    public async Task<byte[]?> TryReadFileAsync(string remotePath, CancellationToken cancellationToken)
    {
        if (!await _sftp.ExistsAsync(remotePath, cancellationToken).ConfigureAwait(false))
        {
            return null;
        }
        return await ReadAllBytesAsync(remotePath, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Creates <paramref name="remoteDirectory"/> and its parents when missing; sets <paramref name="mode"/> when given.</summary>
    public async Task EnsureDirectoryAsync(string remoteDirectory, CancellationToken cancellationToken, int? mode = null)
    {
        var parts = remoteDirectory.Split('/', StringSplitOptions.RemoveEmptyEntries);
        var path = remoteDirectory.StartsWith('/') ? string.Empty : ".";
        foreach (var part in parts)
        {
            path += "/" + part;
            if (!await _sftp.ExistsAsync(path, cancellationToken).ConfigureAwait(false))
            {
                await _sftp.CreateDirectoryAsync(path, cancellationToken).ConfigureAwait(false);
            }
        }
        if (mode is { } wanted && PermissionBits(await _sftp.GetAttributesAsync(remoteDirectory, cancellationToken).ConfigureAwait(false)) != wanted)
        {
            Chmod(remoteDirectory, wanted);
        }
    }

    /// <summary>
    /// Makes <paramref name="remoteDirectory"/> hold exactly <paramref name="files"/> (relative '/'-paths),
    /// sending only files whose size or SHA-256 differ from the manifest of the last sync and deleting the
    /// ones that are gone. Executable files stay executable. The manifest is written last, so an interrupted
    /// sync is completed by the next one.
    /// </summary>
    public async Task<SyncResult> SyncDirectoryAsync(IReadOnlyList<(string RelativePath, string FullPath)> files, string remoteDirectory, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(files);
        var manifestPath = InstanceLayout.ManifestPathFor(remoteDirectory);
        // The manifest lives on the instance, where anything that runs there can rewrite it: a path in it that
        // leaves the folder (../.ssh/authorized_keys, /etc/x) is never deleted, only reported.
        var previous = ParseManifest(await TryReadFileAsync(manifestPath, cancellationToken).ConfigureAwait(false), out var rejected);
        foreach (var bad in rejected)
        {
            _reporter.Warning($"Ignoring '{bad}' in the sync manifest {manifestPath}: the path leaves {remoteDirectory} (the manifest was changed on the instance), so nothing is deleted for it.");
        }
        var current = new SortedDictionary<string, ManifestEntry>(StringComparer.Ordinal);
        foreach (var (relative, full) in files)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (!IsSafeRelativePath(relative))
            {
                _reporter.Warning($"Not transferring '{relative}': its name cannot be stored safely on the instance.");
                continue;
            }
            current[relative] = await HashFileAsync(full, cancellationToken).ConfigureAwait(false);
        }

        await EnsureDirectoryAsync(remoteDirectory, cancellationToken).ConfigureAwait(false);
        // SFTP resolves every path it is given (SSH.NET canonicalizes with REALPATH), so a link on the instance
        // would redirect a write, rename or delete to wherever it points. Links are found first, without
        // following any (find -P), and are never written through.
        var links = await LinksUnderAsync(remoteDirectory, cancellationToken).ConfigureAwait(false);
        var knownDirectories = new HashSet<string>(StringComparer.Ordinal) { remoteDirectory };
        var uploaded = new List<string>();
        var fullPaths = files.ToDictionary(f => f.RelativePath, f => f.FullPath, StringComparer.Ordinal);
        foreach (var (relative, entry) in current)
        {
            if (previous.TryGetValue(relative, out var before) && before == entry)
            {
                continue;
            }
            var remotePath = $"{remoteDirectory}/{relative}";
            var parent = ParentOf(remotePath);
            if (knownDirectories.Add(parent))
            {
                // A folder replaced by a link on the instance would send the upload (and the folders created
                // for it) wherever the link points: refuse before writing anything there.
                if (LinkedFolder(links, relative) is { } link)
                {
                    throw new RemoteInstanceException(RemoteFailure.TransferFailed,
                        $"Not sending '{relative}' to the instance: '{link}' in {remoteDirectory} is a symbolic link there (it was replaced on the instance), so the file would land outside the folder. Remove the link on the instance (rm '{remoteDirectory}/{link}') and run the command again.");
                }
                await EnsureDirectoryAsync(parent, cancellationToken).ConfigureAwait(false);
            }
            foreach (var name in new[] { relative, relative + PartSuffix }.Where(links.Contains))
            {
                // A link where the file or its temporary goes: removed itself (rm never follows it), then written.
                await RemoveLinkAsync($"{remoteDirectory}/{name}", cancellationToken).ConfigureAwait(false);
            }
            var stream = new FileStream(fullPaths[relative], FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, 1 << 16, useAsync: true);
            await using (stream.ConfigureAwait(false))
            {
                await UploadAtomicallyAsync(stream, remotePath, entry.Mode, cancellationToken).ConfigureAwait(false);
            }
            uploaded.Add(relative);
        }

        var deleted = new List<string>();
        foreach (var relative in previous.Keys.Where(k => !current.ContainsKey(k)).Order(StringComparer.Ordinal))
        {
            var remotePath = $"{remoteDirectory}/{relative}";
            if (LinkedFolder(links, relative) is { } link)
            {
                // A folder replaced by a link on the instance would make the delete land wherever it points.
                _reporter.Warning($"Not deleting '{relative}' on the instance: '{link}' is a symbolic link there.");
                continue;
            }
            if (links.Contains(relative))
            {
                // The file itself became a link: the link goes, what it points to stays.
                await RemoveLinkAsync(remotePath, cancellationToken).ConfigureAwait(false);
                deleted.Add(relative);
                continue;
            }
            try
            {
                await _sftp.DeleteFileAsync(remotePath, cancellationToken).ConfigureAwait(false);
            }
            catch (SftpPathNotFoundException)
            {
                // Already gone (deleted by hand): nothing to do.
            }
            deleted.Add(relative);
        }
        // Folders emptied by the deletions go too, deepest first; a folder that still holds something stays.
        foreach (var folder in deleted.SelectMany(AncestorsOf).Distinct(StringComparer.Ordinal).Where(f => !current.Keys.Any(k => k.StartsWith(f + "/", StringComparison.Ordinal))).OrderByDescending(f => f.Length))
        {
            try
            {
                await _sftp.DeleteDirectoryAsync($"{remoteDirectory}/{folder}", cancellationToken).ConfigureAwait(false);
            }
            catch (SshException)
            {
                // Not empty (files the user put there) or already gone.
            }
        }

        if (uploaded.Count > 0 || deleted.Count > 0 || previous.Count != current.Count || !await _sftp.ExistsAsync(manifestPath, cancellationToken).ConfigureAwait(false))
        {
            var manifest = new StringBuilder("# Rlabs.Pipelines sync manifest: sha256 size mode path\n");
            foreach (var (relative, entry) in current)
            {
                manifest.Append(CultureInfo.InvariantCulture, $"{entry.Sha256} {entry.Size} {Convert.ToString(entry.Mode, 8)} {relative}\n");
            }
            await UploadAtomicallyAsync(new MemoryStream(Encoding.UTF8.GetBytes(manifest.ToString()), writable: false), manifestPath, 0x180, cancellationToken).ConfigureAwait(false);
        }
        return new SyncResult(uploaded, deleted, current.Count - uploaded.Count);
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        _sftp.Dispose();
        _ssh.Dispose();
        _key.Dispose();
    }

    private static PrivateKeyFile LoadKey(string privateKeyPath)
    {
        if (!File.Exists(privateKeyPath))
        {
            throw new RemoteInstanceException(RemoteFailure.KeyFileInvalid, $"The key file '{privateKeyPath}' does not exist. Pass -PemFile with the .pem of the instance's key pair.");
        }
        try
        {
            return new PrivateKeyFile(privateKeyPath);
        }
        catch (SshPassPhraseNullOrEmptyException ex)
        {
            throw new RemoteInstanceException(RemoteFailure.KeyFileInvalid, $"The key file '{privateKeyPath}' is protected by a passphrase; use an unencrypted copy readable only by you (ssh-keygen -p -N '' -f <copy>).", ex);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new RemoteInstanceException(RemoteFailure.KeyFileInvalid, $"The key file '{privateKeyPath}' cannot be read: {ex.Message}", ex);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // Any parser failure (SSH.NET, ASN.1, base64) means the same to the user. The parser's
            // message never quotes the key; still, ours stays generic.
            throw new RemoteInstanceException(RemoteFailure.KeyFileInvalid, $"The key file '{privateKeyPath}' is not a private key this module can read (RSA PEM as EC2 creates it, or an OpenSSH key such as ed25519).", ex);
        }
    }

    private async Task UploadAtomicallyAsync(Stream content, string remotePath, int mode, CancellationToken cancellationToken)
    {
        var temporary = remotePath + PartSuffix;
        try
        {
            await _sftp.UploadFileAsync(content, temporary, cancellationToken).ConfigureAwait(false);
            Chmod(temporary, mode);
            _sftp.RenameFile(temporary, remotePath, isPosix: true);
        }
        catch (SshException ex)
        {
            throw new RemoteInstanceException(RemoteFailure.TransferFailed, $"Writing '{remotePath}' on the instance failed: {ex.Message}", ex);
        }
        finally
        {
            await content.DisposeAsync().ConfigureAwait(false);
        }
    }

    private async Task<byte[]> ReadAllBytesAsync(string remotePath, CancellationToken cancellationToken)
    {
        var stream = await _sftp.OpenAsync(remotePath, FileMode.Open, FileAccess.Read, cancellationToken).ConfigureAwait(false);
        await using (stream.ConfigureAwait(false))
        {
            using var buffer = new MemoryStream();
            await stream.CopyToAsync(buffer, cancellationToken).ConfigureAwait(false);
            return buffer.ToArray();
        }
    }

    /// <summary>SSH.NET takes the mode as octal digits written in decimal (755 for rwxr-xr-x).</summary>
    private void Chmod(string remotePath, int mode) =>
        _sftp.ChangePermissions(remotePath, short.Parse(Convert.ToString(mode, 8), NumberStyles.None, CultureInfo.InvariantCulture));

    private static int PermissionBits(Renci.SshNet.Sftp.SftpFileAttributes a) =>
        (a.OwnerCanRead ? 0x100 : 0) | (a.OwnerCanWrite ? 0x80 : 0) | (a.OwnerCanExecute ? 0x40 : 0)
        | (a.GroupCanRead ? 0x20 : 0) | (a.GroupCanWrite ? 0x10 : 0) | (a.GroupCanExecute ? 0x8 : 0)
        | (a.OthersCanRead ? 0x4 : 0) | (a.OthersCanWrite ? 0x2 : 0) | (a.OthersCanExecute ? 0x1 : 0);

    private static bool SameBytes(byte[] remote, ReadOnlySpan<byte> local) => remote.AsSpan().SequenceEqual(local);

    private static async Task<ManifestEntry> HashFileAsync(string fullPath, CancellationToken cancellationToken)
    {
        var stream = new FileStream(fullPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, 1 << 16, useAsync: true);
        await using (stream.ConfigureAwait(false))
        {
            var hash = Convert.ToHexStringLower(await SHA256.HashDataAsync(stream, cancellationToken).ConfigureAwait(false));
            var executable = !OperatingSystem.IsWindows() && (File.GetUnixFileMode(fullPath) & UnixFileMode.UserExecute) != 0;
            return new ManifestEntry(hash, stream.Length, executable ? 0x1ED : 0x1A4);
        }
    }

    /// <summary>A relative '/'-path that stays inside its folder: no empty, '.' or '..' part, no control character.</summary>
    internal static bool IsSafeRelativePath(string relative) =>
        relative.Length > 0 && !relative.Split('/').Any(p => p is "" or "." or "..") && !relative.Any(char.IsControl);

    // Every symbolic link under the folder on the instance, as paths relative to it. find's default (-P)
    // never follows a link; the trailing slash lets the folder itself be a link of the user's.
    private async Task<HashSet<string>> LinksUnderAsync(string remoteDirectory, CancellationToken cancellationToken)
    {
        var found = await RunCheckedAsync($"find {ShellQuote.Quote(remoteDirectory + "/")} -type l -print0", "Looking for links in " + remoteDirectory, cancellationToken).ConfigureAwait(false);
        var prefix = remoteDirectory.TrimEnd('/') + "/";
        return found.Output.Split('\0', StringSplitOptions.RemoveEmptyEntries)
            .Select(p => p.StartsWith(prefix, StringComparison.Ordinal) ? p[prefix.Length..].TrimStart('/') : p)
            .ToHashSet(StringComparer.Ordinal);
    }

    // The first folder on the way to relative that is a link on the instance, or null.
    private static string? LinkedFolder(HashSet<string> links, string relative) =>
        AncestorsOf(relative).Reverse().FirstOrDefault(links.Contains);

    private async Task RemoveLinkAsync(string remotePath, CancellationToken cancellationToken)
    {
        _reporter.Warning($"Removing the symbolic link '{remotePath}' on the instance (something there replaced a file of the sync with it); what it points to is left alone.");
        await RunCheckedAsync($"rm -f -- {ShellQuote.Quote(remotePath)}", "Removing the link " + remotePath, cancellationToken).ConfigureAwait(false);
    }

    private static Dictionary<string, ManifestEntry> ParseManifest(byte[]? content, out List<string> rejected)
    {
        var entries = new Dictionary<string, ManifestEntry>(StringComparer.Ordinal);
        rejected = [];
        if (content is null)
        {
            return entries;
        }
        foreach (var line in Encoding.UTF8.GetString(content).Split('\n'))
        {
            if (line.Length == 0 || line.StartsWith('#'))
            {
                continue;
            }
            var parts = line.Split(' ', 4);
            if (parts.Length == 4
                && long.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var size)
                && TryParseOctal(parts[2], out var mode))
            {
                if (!IsSafeRelativePath(parts[3]))
                {
                    rejected.Add(parts[3]);
                    continue;
                }
                entries[parts[3]] = new ManifestEntry(parts[0], size, mode);
            }
        }
        return entries;
    }

    private static bool TryParseOctal(string text, out int value)
    {
        value = 0;
        if (text.Length is 0 or > 4 || text.Any(c => c is < '0' or > '7'))
        {
            return false;
        }
        value = Convert.ToInt32(text, 8);
        return true;
    }

    private static string ParentOf(string remotePath)
    {
        var slash = remotePath.LastIndexOf('/');
        return slash <= 0 ? "/" : remotePath[..slash];
    }

    private static IEnumerable<string> AncestorsOf(string relative)
    {
        for (var slash = relative.LastIndexOf('/'); slash > 0; slash = relative.LastIndexOf('/', slash - 1))
        {
            yield return relative[..slash];
        }
    }

    private sealed record ManifestEntry(string Sha256, long Size, int Mode);
}
