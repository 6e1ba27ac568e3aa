using System.Text;
using Rlabs.Pipelines.Aws;
using Rlabs.Pipelines.Planning;

namespace Rlabs.Pipelines.Containers;

/// <summary>
/// Logs in to ECR for images in ECR (the SageMaker prebuilt images): GetAuthorizationToken in the registry's
/// region with the user's AWS session, the same as 'aws ecr get-login-password'. Other images are pulled
/// anonymously. Tokens are kept per registry until shortly before they expire.
/// </summary>
public sealed class EcrRegistryLogin : IRegistryLogin
{
    private static readonly TimeSpan s_renewBefore = TimeSpan.FromMinutes(5);
    private readonly Func<string, AwsSession> _sessionForRegion;
    private readonly Dictionary<string, (RegistryCredentials Credentials, DateTimeOffset Expires)> _cache = new(StringComparer.Ordinal);

    /// <summary>Creates the login; <paramref name="sessionForRegion"/> resolves the user's session for a region (the caller owns nothing it returns: sessions are disposed here).</summary>
    public EcrRegistryLogin(Func<string, AwsSession> sessionForRegion)
    {
        _sessionForRegion = sessionForRegion;
    }

    /// <summary>A login from session options (profile, keys, credentials file), in the registry's region.</summary>
    public static EcrRegistryLogin FromOptions(AwsSessionOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        // The user's own options with the image's region: every way of choosing credentials (profile, -Credential,
        // shell defaults, web identity) reaches the ECR login without a field-by-field copy that could miss one.
        return new EcrRegistryLogin(region => AwsSession.Create(options with { Region = region }));
    }

    /// <inheritdoc/>
    public async Task<RegistryCredentials?> GetCredentialsAsync(string image, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(image);
        if (!EcrImage.TryParse(image, out var ecr))
        {
            return null;
        }
        lock (_cache)
        {
            if (_cache.TryGetValue(ecr.Registry, out var cached) && cached.Expires - s_renewBefore > DateTimeOffset.UtcNow)
            {
                return cached.Credentials;
            }
        }
        {
            // Steps run one at a time, so two logins for one registry at once are not worth a lock across the call.
            using var session = _sessionForRegion(ecr.Region);
            var response = await new EcrClient(session)
                .GetAuthorizationTokenAsync(new GetAuthorizationTokenRequest { RegistryIds = [ecr.Account] }, cancellationToken)
                .ConfigureAwait(false);
            var data = (response.AuthorizationData.Count > 0 ? response.AuthorizationData[0] : null)
                ?? throw new AwsServiceException("ECR", "GetAuthorizationToken", System.Net.HttpStatusCode.OK, "NoAuthorizationData", "ECR returned no authorization data.", null, null);
            var decoded = Encoding.UTF8.GetString(Convert.FromBase64String(data.AuthorizationToken));
            var colon = decoded.IndexOf(':', StringComparison.Ordinal);
            if (colon <= 0)
            {
                throw new AwsServiceException("ECR", "GetAuthorizationToken", System.Net.HttpStatusCode.OK, "MalformedToken", "ECR returned an authorization token that is not user:password.", null, null);
            }
            // The engine wants the registry host; the proxy endpoint is https://host.
            var server = Uri.TryCreate(data.ProxyEndpoint, UriKind.Absolute, out var proxy) ? proxy.Authority : ecr.Registry;
            var credentials = new RegistryCredentials(server, decoded[..colon], decoded[(colon + 1)..]);
            lock (_cache)
            {
                _cache[ecr.Registry] = (credentials, data.ExpiresAt ?? DateTimeOffset.UtcNow.AddHours(12));
            }
            return credentials;
        }
    }
}
