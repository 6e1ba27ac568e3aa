using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Rlabs.Pipelines.AwsEmulator.Model;

namespace Rlabs.Pipelines.AwsEmulator.Services;

/// <summary>ECR GetAuthorizationToken: a fresh AWS:&lt;password&gt; token per call, remembered for assertions.</summary>
public sealed class EcrService : IEmulatedService
{
    private readonly List<(string Region, string Password)> _issued = [];

    public EcrService(BotocoreModel model)
    {
        Model = model;
    }

    public string Name => "ecr";

    public BotocoreModel Model { get; }

    public IReadOnlySet<string> Operations { get; } = new HashSet<string>(StringComparer.Ordinal) { "GetAuthorizationToken" };

    /// <summary>The passwords handed out, with the region each was asked in.</summary>
    public IReadOnlyList<(string Region, string Password)> Issued
    {
        get
        {
            lock (_issued)
            {
                return [.. _issued];
            }
        }
    }

    public void Reset()
    {
        lock (_issued)
        {
            _issued.Clear();
        }
    }

    public JsonObject Invoke(string operation, JsonObject input, RequestContext context)
    {
        var accounts = input["registryIds"] is JsonArray ids && ids.Count > 0 ? ids.Select(i => (string)i!).ToList() : [context.AccountId];
        var password = Convert.ToBase64String(RandomNumberGenerator.GetBytes(24));
        lock (_issued)
        {
            _issued.Add((context.Region, password));
        }
        var token = Convert.ToBase64String(Encoding.UTF8.GetBytes("AWS:" + password));
        var domain = context.Region.StartsWith("cn-", StringComparison.Ordinal) ? "amazonaws.com.cn" : "amazonaws.com";
        return new JsonObject
        {
            ["authorizationData"] = new JsonArray(accounts.Select(account => (JsonNode)Json.Object(
                ("authorizationToken", token),
                ("expiresAt", Json.Epoch(context.Now.AddHours(12))),
                ("proxyEndpoint", $"https://{account}.dkr.ecr.{context.Region}.{domain}"))).ToArray()),
        };
    }
}
