using RM = YamlDotNet.RepresentationModel;

namespace Rlabs.Pipelines.Config;

/// <summary>
/// The seed's credentials YAML: AWS keys (top level or under 'aws:') next to data-warehouse secrets.
/// Steps get a copy without the AWS keys; nothing here ever puts a value into a message.
/// </summary>
public sealed class CredentialsFile
{
    private static readonly string[] s_awsKeyNames =
    [
        "aws_access_key_id", "aws_secret_access_key", "aws_session_token", "aws_security_token",
    ];

    private static readonly string[] s_awsSectionKeyNames =
    [
        "aws_access_key_id", "aws_secret_access_key", "aws_session_token", "aws_security_token",
        "access_key_id", "secret_access_key", "session_token", "access_key", "secret_key", "accesskey", "secretkey",
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
        if ((accessKey is null) != (secretKey is null))
        {
            throw new RlabsConfigException($"The credentials file '{fullPath}' has {(accessKey is null ? "a secret key but no access key id" : "an access key id but no secret key")}.", fullPath);
        }
        var sections = top.Children.Keys.OfType<RM.YamlScalarNode>().Select(k => k.Value ?? string.Empty).ToList();
        using var writer = new StringWriter();
        stream.Save(writer, assignAnchors: false);
        return new CredentialsFile(fullPath, writer.ToString(), accessKey, secretKey, sessionToken, region, sections);
    }

    /// <summary>Writes the stripped copy readable by the owner only.</summary>
    internal void WriteStripped(string destination)
    {
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(destination)!);
        var options = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }
        using var stream = new FileStream(destination, options);
        using var writer = new StreamWriter(stream, new System.Text.UTF8Encoding(false));
        writer.Write(StrippedYaml);
    }
}
