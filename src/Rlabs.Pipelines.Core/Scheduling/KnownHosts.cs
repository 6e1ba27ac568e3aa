namespace Rlabs.Pipelines.Scheduling;

/// <summary>What <see cref="KnownHosts.Check"/> found.</summary>
public enum HostKeyStatus
{
    /// <summary>No key recorded for this host yet (first contact).</summary>
    Unknown,

    /// <summary>The recorded key.</summary>
    Matches,

    /// <summary>A different key than the recorded one: a rebuilt host, or someone in the middle.</summary>
    Changed,
}

/// <summary>
/// Host keys pinned on first contact, in a file of ours (not ~/.ssh/known_hosts, which other tools own):
/// one line per host, 'identity key-type SHA256:fingerprint'. The identity is the EC2 instance id when
/// there is one, because an instance's address changes every time it starts.
/// </summary>
public sealed class KnownHosts
{
    private readonly object _gate = new();

    /// <summary>Uses the file at <paramref name="path"/> (created on first record).</summary>
    public KnownHosts(string path)
    {
        Path = System.IO.Path.GetFullPath(path);
    }

    /// <summary>The file.</summary>
    public string Path { get; }

    /// <summary>~/.config/rlabs/known_hosts ($XDG_CONFIG_HOME honoured), or %APPDATA%\rlabs\known_hosts on Windows.</summary>
    public static string DefaultPath()
    {
        var config = OperatingSystem.IsWindows()
            ? Environment.GetFolderPath(Environment.SpecialFolder.ApplicationData)
            : Environment.GetEnvironmentVariable("XDG_CONFIG_HOME") is { Length: > 0 } xdg
                ? xdg
                : System.IO.Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".config");
        return System.IO.Path.Combine(config, "rlabs", "known_hosts");
    }

    /// <summary>Compares a presented key with the recorded one.</summary>
    public HostKeyStatus Check(string identity, string keyType, string sha256Fingerprint, out string? recorded)
    {
        recorded = Read().TryGetValue(identity, out var entry) ? entry : null;
        if (recorded is null)
        {
            return HostKeyStatus.Unknown;
        }
        return recorded == Format(keyType, sha256Fingerprint) ? HostKeyStatus.Matches : HostKeyStatus.Changed;
    }

    /// <summary>Records (or replaces) the key of <paramref name="identity"/>.</summary>
    public void Record(string identity, string keyType, string sha256Fingerprint)
    {
        if (identity.Length == 0 || identity.Any(c => char.IsWhiteSpace(c) || char.IsControl(c)))
        {
            throw new ArgumentException($"The host identity '{identity}' cannot be empty or hold spaces.", nameof(identity));
        }
        lock (_gate)
        {
            var entries = Read();
            entries[identity] = Format(keyType, sha256Fingerprint);
            var directory = System.IO.Path.GetDirectoryName(Path)!;
            if (!Directory.Exists(directory))
            {
                if (OperatingSystem.IsWindows())
                {
                    Directory.CreateDirectory(directory);
                }
                else
                {
                    Directory.CreateDirectory(directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
                }
            }
            var lines = new List<string> { "# Rlabs.Pipelines host keys, pinned on first contact: identity key-type SHA256:fingerprint" };
            lines.AddRange(entries.OrderBy(e => e.Key, StringComparer.Ordinal).Select(e => $"{e.Key} {e.Value}"));
            var temporary = $"{Path}.{Environment.ProcessId}.tmp";
            File.WriteAllLines(temporary, lines);
            File.Move(temporary, Path, overwrite: true);
        }
    }

    /// <summary>
    /// The SHA-256 fingerprints (without the "SHA256:" prefix) in the instance's console output: cloud-init prints
    /// the host keys it generated between "-----BEGIN SSH HOST KEY FINGERPRINTS-----" and the END line, one
    /// "bits SHA256:fingerprint comment (TYPE)" per key, often after an "ec2: " prefix. Empty when the block is
    /// missing (console output not yet available, or an image without cloud-init).
    /// </summary>
    public static IReadOnlyList<string> ConsoleFingerprints(string? consoleOutput)
    {
        var found = new List<string>();
        var inside = false;
        foreach (var raw in (consoleOutput ?? string.Empty).Split('\n'))
        {
            var line = raw.TrimEnd('\r');
            if (line.Contains("-----BEGIN SSH HOST KEY FINGERPRINTS-----", StringComparison.Ordinal))
            {
                inside = true;
                continue;
            }
            if (line.Contains("-----END SSH HOST KEY FINGERPRINTS-----", StringComparison.Ordinal))
            {
                inside = false;
                continue;
            }
            var at = inside ? line.IndexOf(" SHA256:", StringComparison.Ordinal) : -1;
            if (at >= 0)
            {
                var fingerprint = line[(at + " SHA256:".Length)..].Split(' ', 2)[0];
                if (fingerprint.Length > 0 && !found.Contains(fingerprint, StringComparer.Ordinal))
                {
                    found.Add(fingerprint);
                }
            }
        }
        return found;
    }

    /// <summary>The fingerprint as ssh prints it.</summary>
    public static string Format(string keyType, string sha256Fingerprint) => $"{keyType} SHA256:{sha256Fingerprint}";

    private Dictionary<string, string> Read()
    {
        var entries = new Dictionary<string, string>(StringComparer.Ordinal);
        if (!File.Exists(Path))
        {
            return entries;
        }
        foreach (var line in File.ReadAllLines(Path))
        {
            var trimmed = line.Trim();
            if (trimmed.Length == 0 || trimmed.StartsWith('#'))
            {
                continue;
            }
            var space = trimmed.IndexOf(' ', StringComparison.Ordinal);
            if (space > 0)
            {
                entries[trimmed[..space]] = trimmed[(space + 1)..].Trim();
            }
        }
        return entries;
    }
}
