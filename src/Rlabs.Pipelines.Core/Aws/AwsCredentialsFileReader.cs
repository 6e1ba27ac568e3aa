using YamlDotNet.RepresentationModel;

namespace Rlabs.Pipelines.Aws;

/// <summary>The AWS part of the seed's credentials YAML.</summary>
internal sealed class AwsFileCredentials
{
    public string? AccessKey { get; init; }

    public string? SecretKey { get; init; }

    public string? SessionToken { get; init; }

    public string? Region { get; init; }

    public bool HasKeys => !string.IsNullOrEmpty(AccessKey) && !string.IsNullOrEmpty(SecretKey);

    public override string ToString() => $"AccessKey={(AccessKey is null ? "(none)" : "(set)")}, Region={Region ?? "(none)"}";
}

/// <summary>
/// Reads the AWS keys and region from the seed's credentials file. The seed wrote them either at the
/// top level or under an <c>aws:</c> mapping, with the boto3 argument names.
/// </summary>
internal static class AwsCredentialsFileReader
{
    private static readonly string[] s_regionKeys = ["region", "region_name", "aws_region", "aws_default_region"];

    public static AwsFileCredentials Read(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var stream = new YamlStream();
        using (var reader = new StreamReader(path))
        {
            stream.Load(reader);
        }

        if (stream.Documents.Count == 0 || stream.Documents[0].RootNode is not YamlMappingNode root)
        {
            return new AwsFileCredentials();
        }

        // Keys under "aws:" win over top-level ones: that section exists only to hold them.
        var aws = Child(root, "aws") as YamlMappingNode;
        string? Get(params string[] keys)
        {
            foreach (var map in aws is null ? new[] { root } : new[] { aws, root })
            {
                foreach (var key in keys)
                {
                    if (Child(map, key) is YamlScalarNode { Value: { Length: > 0 } value })
                    {
                        return value;
                    }
                }
            }

            return null;
        }

        return new AwsFileCredentials
        {
            AccessKey = Get("aws_access_key_id"),
            SecretKey = Get("aws_secret_access_key"),
            SessionToken = Get("aws_session_token"),
            Region = Get(s_regionKeys),
        };
    }

    private static YamlNode? Child(YamlMappingNode map, string key)
    {
        foreach (var entry in map.Children)
        {
            if (entry.Key is YamlScalarNode { Value: { } name } && string.Equals(name, key, StringComparison.OrdinalIgnoreCase))
            {
                return entry.Value;
            }
        }

        return null;
    }
}
