using RM = YamlDotNet.RepresentationModel;

namespace Rlabs.Pipelines.Config;

/// <summary>
/// The seed's credentials YAML: AWS keys (top level or under 'aws:') next to data-warehouse secrets.
/// Steps get a copy without the AWS keys: removed by name at any depth (the seed's names, the STS names
/// AccessKeyId/SecretAccessKey/SessionToken, everything key-like inside an 'aws' section or profile), then by
/// value (any scalar equal to a removed secret, such as a YAML alias of it, or shaped like an access key id).
/// Nothing here ever puts a value into a message.
/// </summary>
public sealed partial class CredentialsFile
{
    private static readonly string[] s_awsKeyNames =
    [
        "aws_access_key_id", "aws_secret_access_key", "aws_session_token", "aws_security_token",
    ];

    private static readonly string[] s_awsSectionKeyNames =
    [
        "aws_access_key_id", "aws_secret_access_key", "aws_session_token", "aws_security_token",
        "access_key_id", "secret_access_key", "session_token", "access_key", "secret_key", "accesskey", "secretkey",
        "accesskeyid", "secretaccesskey", "sessiontoken", "securitytoken", "aws_access_key", "aws_secret_key",
    ];

    /// <summary>Names removed wherever they appear: unmistakably AWS key material (STS and SDK spellings included).</summary>
    private static readonly string[] s_anywhereKeyNames =
    [
        "aws_access_key_id", "aws_secret_access_key", "aws_session_token", "aws_security_token", "aws_access_key", "aws_secret_key",
        "accesskeyid", "secretaccesskey", "sessiontoken",
    ];

    private CredentialsFile(string path, string strippedYaml, string? accessKey, string? secretKey, string? sessionToken, string? region, IReadOnlyList<string> sections)
    {
        Path = path;
        StrippedYaml = strippedYaml;
        AccessKey = accessKey;
        SecretKey = secretKey;
        SessionToken = sessionToken;
        Region = region;
        Sections = sections;
    }

    /// <summary>Full path of the file.</summary>
    public string Path { get; }

    /// <summary>The file without AWS keys, as YAML.</summary>
    internal string StrippedYaml { get; }

    /// <summary>AWS access key id, when the file has one.</summary>
    internal string? AccessKey { get; }

    /// <summary>AWS secret key, when the file has one.</summary>
    internal string? SecretKey { get; }

    /// <summary>AWS session token, when the file has one.</summary>
    internal string? SessionToken { get; }

    /// <summary>Region named in the file (region, region_name or aws_region).</summary>
    public string? Region { get; }

    /// <summary>Top-level section names (never values), for messages.</summary>
    public IReadOnlyList<string> Sections { get; }

    /// <summary>Whether the file carries AWS keys.</summary>
    public bool HasAwsKeys => AccessKey is not null && SecretKey is not null;

    /// <inheritdoc/>
    public override string ToString() => Path;

    /// <summary>Loads and validates the file; errors name the file and line, never a value.</summary>
    public static CredentialsFile Load(string path)
    {
        var fullPath = System.IO.Path.GetFullPath(path);
        string? failure = null;
        var text = PipelineConfigReader.ReadText(fullPath, (_, message, hint) => failure = $"{message.Replace("pipeline file", "credentials file", StringComparison.Ordinal)} {hint}");
        if (text is null)
        {
            throw new RlabsConfigException(failure ?? $"The credentials file '{fullPath}' cannot be read.", fullPath);
        }
        {
            var root = YamlTreeReader.Read(text, out var errors);
            if (errors.Count > 0)
            {
                var error = errors[0];
                // The parser message may quote the offending text, which can be a secret: keep only the position.
                throw new RlabsConfigException($"The credentials file '{fullPath}' is not valid YAML at line {error.Line}, column {error.Column}. {error.Hint}", fullPath);
            }
            if (root is not YamlMappingNode)
            {
                throw new RlabsConfigException($"The credentials file '{fullPath}' must be a YAML mapping (for example 'aws:' and 'warehouse:' sections).", fullPath);
            }
        }

        var stream = new RM.YamlStream();
        using (var reader = new StringReader(text))
        {
            stream.Load(reader);
        }
        var top = (RM.YamlMappingNode)stream.Documents[0].RootNode;
        string? accessKey = null, secretKey = null, sessionToken = null, region = null;

        void Take(RM.YamlMappingNode map, string[] names)
        {
            foreach (var entry in map.Children.ToList())
            {
                if (entry.Key is not RM.YamlScalarNode { Value: { } key })
                {
                    continue;
                }
                var lower = key.ToLowerInvariant();
                var value = (entry.Value as RM.YamlScalarNode)?.Value;
                if (lower is "region" or "region_name" or "aws_region" or "aws_default_region")
                {
                    region ??= value;
                }
                if (!names.Contains(lower))
                {
                    continue;
                }
                if (lower.Contains("secret", StringComparison.Ordinal))
                {
                    secretKey ??= value;
                }
                else if (lower.Contains("access", StringComparison.Ordinal))
                {
                    accessKey ??= value;
                }
                else
                {
                    sessionToken ??= value;
                }
                map.Children.Remove(entry.Key);
            }
        }

        Take(top, s_awsKeyNames);
        foreach (var entry in top.Children.ToList())
        {
            if (entry.Key is RM.YamlScalarNode { Value: { } name } && name.Equals("aws", StringComparison.OrdinalIgnoreCase) && entry.Value is RM.YamlMappingNode section)
            {
                Take(section, s_awsSectionKeyNames);
                if (section.Children.Count == 0)
                {
                    top.Children.Remove(entry.Key);
                }
            }
        }
        var removed = new HashSet<string>(StringComparer.Ordinal);
        foreach (var value in new[] { accessKey, secretKey, sessionToken })
        {
            if (!string.IsNullOrEmpty(value))
            {
                removed.Add(value);
            }
        }
        StripNested(top, insideAws: false, removed);
        StripValues(top, removed);
        if ((accessKey is null) != (secretKey is null))
        {
            throw new RlabsConfigException($"The credentials file '{fullPath}' has {(accessKey is null ? "a secret key but no access key id" : "an access key id but no secret key")}.", fullPath);
        }
        var sections = top.Children.Keys.OfType<RM.YamlScalarNode>().Select(k => k.Value ?? string.Empty).ToList();
        using var writer = new StringWriter();
        stream.Save(writer, assignAnchors: false);
        return new CredentialsFile(fullPath, writer.ToString(), accessKey, secretKey, sessionToken, region, sections);
    }

    /// <summary>
    /// Removes key material below the top level: the unmistakable names anywhere, and every key-like name inside
    /// an 'aws…' mapping at any depth (named profiles such as aws: { prod: { … } }). Collects removed values.
    /// </summary>
    private static void StripNested(RM.YamlNode node, bool insideAws, HashSet<string> removed)
    {
        switch (node)
        {
            case RM.YamlMappingNode map:
                foreach (var entry in map.Children.ToList())
                {
                    var name = (entry.Key as RM.YamlScalarNode)?.Value?.ToLowerInvariant() ?? string.Empty;
                    if (s_anywhereKeyNames.Contains(name) || (insideAws && s_awsSectionKeyNames.Contains(name)))
                    {
                        if (entry.Value is RM.YamlScalarNode { Value: { Length: > 0 } value })
                        {
                            removed.Add(value);
                        }
                        map.Children.Remove(entry.Key);
                        continue;
                    }
                    StripNested(entry.Value, insideAws || name.StartsWith("aws", StringComparison.Ordinal), removed);
                }
                break;
            case RM.YamlSequenceNode sequence:
                foreach (var item in sequence.Children)
                {
                    StripNested(item, insideAws, removed);
                }
                break;
        }
    }

    /// <summary>An AWS access key id (long-term AKIA…, temporary ASIA…).</summary>
    [System.Text.RegularExpressions.GeneratedRegex("^(AKIA|ASIA)[A-Z0-9]{16}$")]
    private static partial System.Text.RegularExpressions.Regex AccessKeyIdShape();

    /// <summary>Removes entries whose value is a removed secret (an alias of it, a copy under another name) or looks like an access key id.</summary>
    private static void StripValues(RM.YamlNode node, HashSet<string> removed)
    {
        bool IsKeyMaterial(RM.YamlNode value) =>
            value is RM.YamlScalarNode { Value: { Length: > 0 } text } && (removed.Contains(text) || AccessKeyIdShape().IsMatch(text));
        switch (node)
        {
            case RM.YamlMappingNode map:
                foreach (var entry in map.Children.ToList())
                {
                    if (IsKeyMaterial(entry.Value))
                    {
                        map.Children.Remove(entry.Key);
                    }
                    else
                    {
                        StripValues(entry.Value, removed);
                    }
                }
                break;
            case RM.YamlSequenceNode sequence:
                foreach (var item in sequence.Children.ToList())
                {
                    if (IsKeyMaterial(item))
                    {
                        sequence.Children.Remove(item);
                    }
                    else
                    {
                        StripValues(item, removed);
                    }
                }
                break;
        }
    }

    /// <summary>
    /// Writes the stripped copy readable by the owner only, into a folder only the owner can enter. The folder
    /// is made fresh and the file created exclusively (O_EXCL), so a link planted at either path (a step of an
    /// earlier run can write there) cannot redirect the copy to another file.
    /// </summary>
    internal void WriteStripped(string destination)
    {
        var directory = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(destination))!;
        var existing = new DirectoryInfo(directory);
        if (existing.LinkTarget is not null)
        {
            File.Delete(directory); // removes the link itself, never what it points to
        }
        else if (existing.Exists)
        {
            Directory.Delete(directory, recursive: true);
        }
        if (OperatingSystem.IsWindows())
        {
            Directory.CreateDirectory(directory);
        }
        else
        {
            Directory.CreateDirectory(directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            File.SetUnixFileMode(directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
        if (new DirectoryInfo(directory).LinkTarget is not null)
        {
            throw new IOException($"The folder for the credentials copy, {directory}, was replaced by a link while it was made; nothing was written.");
        }
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }
        using var stream = new FileStream(destination, options);
        using var writer = new StreamWriter(stream, new System.Text.UTF8Encoding(false));
        writer.Write(StrippedYaml);
    }
}
