using Amazon.Runtime;
using Amazon.SecurityToken;
using Amazon.SecurityToken.Model;

namespace Rlabs.Pipelines.Aws;

/// <summary>
/// Credentials another component owns (AWS.Tools' <c>-Credential</c> or <c>$StoredAWSCredentials</c>, whose SDK
/// lives in another load context): asked for keys on every request, so their own refreshing keeps working.
/// </summary>
internal sealed class ExternalAwsCredentials : AWSCredentials
{
    private readonly Func<AwsKeys> _keys;

    public ExternalAwsCredentials(Func<AwsKeys> keys)
    {
        _keys = keys;
    }

    public override ImmutableCredentials GetCredentials()
    {
        AwsKeys keys;
        try
        {
            keys = _keys();
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // Whatever the other SDK threw: the session reports it as NoCredentials with this as the cause.
            throw new AmazonClientException("The credentials object could not give keys: " + ex.GetBaseException().Message, ex);
        }
        return new ImmutableCredentials(keys.AccessKey, keys.SecretKey, keys.SessionToken ?? string.Empty);
    }
}

/// <summary>
/// OIDC web identity (GitHub Actions, Azure Pipelines): the token file is read and exchanged with STS
/// AssumeRoleWithWebIdentity again shortly before the keys expire, so a run longer than their lifetime goes on.
/// </summary>
internal sealed class WebIdentityCredentials : RefreshingAWSCredentials
{
    private readonly string _tokenFile;
    private readonly string _roleArn;
    private readonly string _sessionName;
    private readonly Lazy<AmazonSecurityTokenServiceClient> _sts;

    public WebIdentityCredentials(string tokenFile, string roleArn, string sessionName, Func<AmazonSecurityTokenServiceClient> sts)
    {
        _tokenFile = tokenFile;
        _roleArn = roleArn;
        _sessionName = sessionName;
        _sts = new Lazy<AmazonSecurityTokenServiceClient>(sts);
        // Renewed this long before they expire: a request signed now must not arrive with expired keys.
        PreemptExpiryTime = TimeSpan.FromMinutes(5);
    }

    protected override CredentialsRefreshState GenerateNewCredentials() =>
        GenerateNewCredentialsAsync().GetAwaiter().GetResult();

    protected override async Task<CredentialsRefreshState> GenerateNewCredentialsAsync()
    {
        string token;
        try
        {
            // Read on every renewal: CI runners rotate the token file.
            token = (await File.ReadAllTextAsync(_tokenFile).ConfigureAwait(false)).Trim();
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new AmazonClientException($"The web identity token file '{_tokenFile}' (AWS_WEB_IDENTITY_TOKEN_FILE) could not be read: {ex.Message}", ex);
        }
        AssumeRoleWithWebIdentityResponse response;
        try
        {
            response = await _sts.Value.AssumeRoleWithWebIdentityAsync(new AssumeRoleWithWebIdentityRequest
            {
                RoleArn = _roleArn,
                RoleSessionName = _sessionName,
                WebIdentityToken = token,
            }).ConfigureAwait(false);
        }
        catch (AmazonServiceException ex)
        {
            throw new AmazonClientException($"Web identity token of '{_tokenFile}' (AWS_WEB_IDENTITY_TOKEN_FILE) refused: STS AssumeRoleWithWebIdentity for role '{_roleArn}' failed: {ex.ErrorCode}: {ex.Message}", ex);
        }
        var c = response.Credentials;
        return new CredentialsRefreshState(new ImmutableCredentials(c.AccessKeyId, c.SecretAccessKey, c.SessionToken), c.Expiration ?? DateTime.UtcNow.AddHours(1));
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing && _sts.IsValueCreated)
        {
            _sts.Value.Dispose();
        }
        base.Dispose(disposing);
    }
}
