using System.Text.Json.Serialization;

namespace Rlabs.Pipelines.Aws;

public sealed class GetAuthorizationTokenRequest
{
    /// <summary>Deprecated by ECR (the token works for every registry the caller may read), still accepted.</summary>
    [JsonPropertyName("registryIds")]
    public IReadOnlyList<string>? RegistryIds { get; init; }
}

public sealed class EcrAuthorizationData
{
    /// <summary>base64 of <c>AWS:&lt;password&gt;</c>.</summary>
    [JsonPropertyName("authorizationToken")]
    public string AuthorizationToken { get; init; } = string.Empty;

    [JsonPropertyName("expiresAt")]
    public DateTimeOffset? ExpiresAt { get; init; }

    /// <summary><c>https://&lt;account&gt;.dkr.ecr.&lt;region&gt;.amazonaws.com</c>.</summary>
    [JsonPropertyName("proxyEndpoint")]
    public string ProxyEndpoint { get; init; } = string.Empty;
}

public sealed class GetAuthorizationTokenResponse
{
    [JsonPropertyName("authorizationData")]
    public IReadOnlyList<EcrAuthorizationData> AuthorizationData { get; init; } = [];
}

/// <summary>Amazon ECR over the signed JSON 1.1 sender: only the login the container runtime needs to pull.</summary>
public sealed class EcrClient
{
    private readonly AwsJsonProtocolClient _client;

    public EcrClient(AwsSession session)
    {
        _client = new AwsJsonProtocolClient(session, AwsService.Ecr, "ECR", "AmazonEC2ContainerRegistry_V20150921");
    }

    public Task<GetAuthorizationTokenResponse> GetAuthorizationTokenAsync(GetAuthorizationTokenRequest request, CancellationToken cancellationToken) =>
        _client.InvokeAsync<GetAuthorizationTokenRequest, GetAuthorizationTokenResponse>("GetAuthorizationToken", request, cancellationToken);
}
