using System.Net;
using Amazon;
using Amazon.EC2;
using Amazon.Runtime;
using Amazon.Runtime.CredentialManagement;
using Amazon.Runtime.Credentials;
using Amazon.S3;
using Amazon.SecurityToken;
using Amazon.SecurityToken.Model;
using Rlabs.Pipelines.Config;

namespace Rlabs.Pipelines.Aws;

/// <summary>Who the resolved credentials belong to (STS GetCallerIdentity).</summary>
public sealed record AwsCallerIdentity(string Account, string Arn, string UserId);

/// <summary>
/// The one place that turns <see cref="AwsSessionOptions"/> into credentials, a region and an endpoint
/// per service, and hands out the clients built on them. Precedence, highest first: explicit keys,
/// <c>-ProfileName</c>, keys in the seed's credentials file, then the SDK's default chain
/// (environment, shared config/credentials, SSO, container and instance metadata).
/// </summary>
public sealed partial class AwsSession : IDisposable
{
    private readonly AwsSessionOptions _options;
    private readonly Func<string, string?> _environment;
    private AWSCredentials _credentials;
    private readonly string? _profileEndpointUrl;
    private readonly HttpClient _http;
    private readonly Lazy<AmazonSecurityTokenServiceClient> _sts;

    private AwsSession(
        AwsSessionOptions options,
        Func<string, string?> environment,
        AWSCredentials credentials,
        string credentialSource,
        string region,
        string? profileEndpointUrl)
    {
        _options = options;
        _environment = environment;
        _credentials = credentials;
        _profileEndpointUrl = profileEndpointUrl;
        CredentialSource = credentialSource;
        Region = region;
        _http = new HttpClient(new SocketsHttpHandler
        {
            PooledConnectionLifetime = TimeSpan.FromMinutes(5),
            AutomaticDecompression = DecompressionMethods.None,
        })
        {
            Timeout = Timeout.InfiniteTimeSpan,
        };
        _sts = new Lazy<AmazonSecurityTokenServiceClient>(() => new AmazonSecurityTokenServiceClient(_credentials, SdkConfig(new AmazonSecurityTokenServiceConfig(), AwsService.Sts)));
    }

    /// <summary>Region system name, e.g. <c>eu-west-1</c>.</summary>
    public string Region { get; }

    /// <summary>Where the credentials came from, for verbose output (never the keys themselves).</summary>
    public string CredentialSource { get; }

    internal AwsSessionOptions Options => _options;

    /// <summary>The environment variable that sets <see cref="JobPollInterval"/> when the options do not, in seconds.</summary>
    public const string JobPollIntervalVariable = "RLABS_JOB_POLL_INTERVAL";

    /// <summary>The default <see cref="JobPollInterval"/>: a job's end is noticed within it.</summary>
    public static readonly TimeSpan DefaultJobPollInterval = TimeSpan.FromSeconds(5);

    /// <summary>How often a running job or pipeline execution is asked about (see <see cref="AwsSessionOptions.JobPollInterval"/>).</summary>
    public TimeSpan JobPollInterval { get; private init; } = DefaultJobPollInterval;

    /// <summary>The interval <paramref name="value"/> (seconds, invariant culture) gives: 0.05 to 300, else a clear error.</summary>
    internal static TimeSpan JobPollIntervalFrom(string? value)
    {
        if (string.IsNullOrWhiteSpace(value))
        {
            return DefaultJobPollInterval;
        }
        if (!double.TryParse(value, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var seconds) || !(seconds is >= 0.05 and <= 300))
        {
            throw Configuration("JobPollIntervalInvalid", $"The environment variable {JobPollIntervalVariable} is '{value}'; it must be a number of seconds from 0.05 to 300 (like 5 or 0.5), or unset for the default of {DefaultJobPollInterval.TotalSeconds:0} s.");
        }
        return TimeSpan.FromSeconds(seconds);
    }

    /// <summary>
    /// Told of every wait before a retry (throttling, 5xx, timeouts) with one line for <c>-Verbose</c>; called
    /// from any thread, so the receiver must queue (the cmdlets' reporters do).
    /// </summary>
    public Action<string>? RetryReported { get; set; }

    internal HttpClient Http => _http;

    /// <summary>Resolves a session from the options and the process environment.</summary>
    public static AwsSession Create(AwsSessionOptions options) =>
        Create(options, Environment.GetEnvironmentVariable);

    /// <summary>Resolves a session reading environment variables through <paramref name="environment"/>,
    /// so endpoint and region rules can be tested without touching the process environment. The SDK's own
    /// default chain still reads the real environment.</summary>
    internal static AwsSession Create(AwsSessionOptions options, Func<string, string?> environment)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(environment);

        // Its loader reports a missing or malformed file as RlabsConfigException, naming the file, never a value.
        var file = string.IsNullOrEmpty(options.CredentialsFile) ? null : CredentialsFile.Load(options.CredentialsFile);

        // AWSSDK.Core reads AWS_CONFIG_FILE itself but not AWS_SHARED_CREDENTIALS_FILE, which the CLI and
        // boto3 honour; pass it on so a profile means the same thing here as in the user's other tools.
        var credentialsPath = FirstNonEmpty(environment("AWS_SHARED_CREDENTIALS_FILE"));
        // -ProfileLocation (AWS.Tools) names the credentials file for this call only.
        if (!string.IsNullOrEmpty(options.ProfileLocation) && !File.Exists(options.ProfileLocation))
        {
            throw Configuration("ProfileNotFound", $"The credentials file '{options.ProfileLocation}' given as -ProfileLocation does not exist.");
        }
        var profiles = new CredentialProfileStoreChain(FirstNonEmpty(options.ProfileLocation, credentialsPath));
        var hasExplicitKeys = !string.IsNullOrEmpty(options.AccessKey) || !string.IsNullOrEmpty(options.SecretKey);
        CredentialProfile? profile = null;
        // Like AWS.Tools, the shell's $StoredAWSCredentials beats an AWS_PROFILE inherited from the environment.
        var profileName = FirstNonEmpty(options.ProfileName, options.DefaultCredentials is null ? environment("AWS_PROFILE") : null);
        if (profileName is not null && !profiles.TryGetProfile(profileName, out profile))
        {
            // A profile typed as -ProfileName must exist; one inherited from AWS_PROFILE only matters
            // when nothing more specific supplies the keys.
            if (!string.IsNullOrEmpty(options.ProfileName) || (!hasExplicitKeys && file is not { HasAwsKeys: true }))
            {
                throw Configuration("ProfileNotFound", $"The AWS profile '{profileName}' was not found in the shared config or credentials file.");
            }

            profileName = null;
        }

        AWSCredentials credentials;
        string source;
        (string TokenFile, string RoleArn, string SessionName)? webIdentity = null;
        if (hasExplicitKeys)
        {
            if (string.IsNullOrEmpty(options.AccessKey) || string.IsNullOrEmpty(options.SecretKey))
            {
                throw Configuration("IncompleteCredentials", "Both -AccessKey and -SecretKey must be given.");
            }

            credentials = Keys(options.AccessKey, options.SecretKey, options.SessionToken);
            source = "explicit keys";
        }
        else if (options.ExternalCredentials is { } external)
        {
            credentials = new ExternalAwsCredentials(external);
            source = options.ExternalCredentialsSource ?? "-Credential";
        }
        else if (profileName is not null && (!string.IsNullOrEmpty(options.ProfileName) || file is not { HasAwsKeys: true }))
        {
            if (!profiles.TryGetAWSCredentials(profileName, out credentials))
            {
                throw Configuration("ProfileNotUsable", $"The AWS profile '{profileName}' has no usable credentials.");
            }

            source = $"profile '{profileName}'";
        }
        else if (file is { HasAwsKeys: true })
        {
            credentials = Keys(file.AccessKey!, file.SecretKey!, file.SessionToken);
            source = $"credentials file '{Path.GetFileName(options.CredentialsFile)}'";
        }
        else if (options.DefaultCredentials is { } shellDefault)
        {
            credentials = new ExternalAwsCredentials(shellDefault);
            source = options.DefaultCredentialsSource ?? "shell variable $StoredAWSCredentials";
        }
        else if (string.IsNullOrEmpty(environment("AWS_ACCESS_KEY_ID"))
            && FirstNonEmpty(environment("AWS_WEB_IDENTITY_TOKEN_FILE")) is { } tokenFile && FirstNonEmpty(environment("AWS_ROLE_ARN")) is { } roleArn)
        {
            // CI OIDC (GitHub, Azure): the STS client is ours, so -EndpointUrl and AWS_ENDPOINT_URL_STS apply,
            // and the credentials refresh themselves (token file re-read) before they expire in a long run.
            webIdentity = (tokenFile, roleArn, FirstNonEmpty(environment("AWS_ROLE_SESSION_NAME")) ?? "rlabs-pipelines-" + DateTimeOffset.UtcNow.ToUnixTimeSeconds().ToString(System.Globalization.CultureInfo.InvariantCulture));
            credentials = new AnonymousAWSCredentials(); // replaced below, once the session can build an STS client
            source = $"web identity (role {roleArn})";
        }
        else if (credentialsPath is not null && string.IsNullOrEmpty(environment("AWS_ACCESS_KEY_ID"))
            && profiles.TryGetProfile("default", out profile) && profiles.TryGetAWSCredentials("default", out credentials))
        {
            // The SDK chain would look for [default] in ~/.aws/credentials only.
            source = "profile 'default'";
        }
        else
        {
            try
            {
                credentials = new DefaultAWSCredentialsIdentityResolver().ResolveIdentity(null);
            }
            catch (AmazonClientException) when (options.AllowMissingCredentials)
            {
                credentials = new AnonymousAWSCredentials();
            }
            catch (AmazonClientException ex)
            {
                throw new AwsServiceException("AWS", "ResolveCredentials", 0, "NoCredentials",
                    "No AWS credentials were found: pass -AccessKey/-SecretKey, -ProfileName or a credentials file, or configure the default chain.",
                    null, ex);
            }

            source = credentials is AnonymousAWSCredentials ? "no credentials found; the account is unknown" : "default credential chain";
        }

        // AWS.Tools' order: -Region, then the shell's $StoredAWSRegion, then the profile's region, then the environment.
        var region = FirstNonEmpty(options.Region, file?.Region, options.DefaultRegion, profile?.Region?.SystemName, environment("AWS_REGION"), environment("AWS_DEFAULT_REGION"));
        if (region is null)
        {
            try
            {
                region = FallbackRegionFactory.GetRegionEndpoint()?.SystemName;
            }
            catch (AmazonClientException)
            {
                region = null;
            }
        }

        if (string.IsNullOrEmpty(region))
        {
            throw Configuration("NoRegion", "No AWS region was given: pass -Region, set it in the credentials file or profile, or set AWS_REGION.");
        }

        // The region becomes part of every host name (sagemaker.<region>.amazonaws.com): anything but a region
        // name could point requests, signed with the user's keys, at another host.
        if (!RegionPattern().IsMatch(region))
        {
            throw Configuration("InvalidRegion", $"The region '{region}' is not an AWS region name (like eu-west-1 or us-gov-west-1). Check -Region, the credentials file, the profile or AWS_REGION.");
        }

        var session = new AwsSession(options, environment, credentials, source, region, profile?.EndpointUrl)
        {
            JobPollInterval = options.JobPollInterval ?? JobPollIntervalFrom(environment(JobPollIntervalVariable)),
        };
        if (webIdentity is { } web)
        {
            session._credentials = new WebIdentityCredentials(web.TokenFile, web.RoleArn, web.SessionName, session.CreateAnonymousStsClient);
        }
        return session;
    }

    /// <summary>The regions the SDK knows, for tab completion: (system name, display name).</summary>
    public static IReadOnlyList<(string Name, string DisplayName)> KnownRegions() =>
        RegionEndpoint.EnumerableAllRegions.Select(r => (r.SystemName, r.DisplayName)).OrderBy(r => r.SystemName, StringComparer.Ordinal).ToList();

    /// <summary>
    /// Profile names of the shared config and credentials files (AWS_CONFIG_FILE, AWS_SHARED_CREDENTIALS_FILE,
    /// or <paramref name="profileLocation"/> for the credentials file), for tab completion.
    /// </summary>
    public static IReadOnlyList<string> ProfileNames(string? profileLocation)
    {
        var credentialsPath = FirstNonEmpty(profileLocation, Environment.GetEnvironmentVariable("AWS_SHARED_CREDENTIALS_FILE"));
        var names = new CredentialProfileStoreChain(credentialsPath).ListProfiles().Select(p => p.Name).ToList();
        // Given a credentials file, the SDK lists only it; profiles of the config file ([profile x], SSO) count too.
        var config = FirstNonEmpty(Environment.GetEnvironmentVariable("AWS_CONFIG_FILE"))
            ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".aws", "config");
        if (File.Exists(config))
        {
            foreach (var line in File.ReadLines(config))
            {
                var trimmed = line.Trim();
                if (trimmed.StartsWith('[') && trimmed.EndsWith(']'))
                {
                    var section = trimmed[1..^1].Trim();
                    if (section == "default" || section.StartsWith("profile ", StringComparison.Ordinal))
                    {
                        names.Add(section == "default" ? section : section["profile ".Length..].Trim());
                    }
                }
            }
        }
        return names.Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
    }

    /// <summary>
    /// The endpoint of a service: <c>-EndpointUrl</c>, else <c>AWS_ENDPOINT_URL_&lt;SERVICE&gt;</c>, else
    /// <c>AWS_ENDPOINT_URL</c>, else the profile's <c>endpoint_url</c>, else the public AWS endpoint.
    /// </summary>
    public Uri GetEndpoint(AwsService service) => CustomEndpoint(service) ?? DefaultEndpoint(service);

    /// <summary>Whether <see cref="GetEndpoint"/> is a user-configured endpoint rather than AWS's.</summary>
    public bool HasCustomEndpoint(AwsService service) => CustomEndpoint(service) is not null;

    /// <summary>The region requests to <paramref name="service"/> are signed for.</summary>
    public string GetSigningRegion(AwsService service)
    {
        if (!AwsServiceInfo.IsGlobal(service))
        {
            return Region;
        }

        if (Region.StartsWith("cn-", StringComparison.Ordinal))
        {
            return "cn-north-1";
        }

        return Region.StartsWith("us-gov-", StringComparison.Ordinal) ? "us-gov-west-1" : "us-east-1";
    }

    /// <summary>The account and ARN behind the credentials.</summary>
    public async Task<AwsCallerIdentity> GetCallerIdentityAsync(CancellationToken cancellationToken)
    {
        var response = await AwsSdkCalls.RunAsync(AwsService.Sts, "GetCallerIdentity",
            () => _sts.Value.GetCallerIdentityAsync(new GetCallerIdentityRequest(), cancellationToken)).ConfigureAwait(false);
        return new AwsCallerIdentity(response.Account, response.Arn, response.UserId);
    }

    internal AmazonS3Client CreateS3Client()
    {
        var config = SdkConfig(new AmazonS3Config(), AwsService.S3);
        if (HasCustomEndpoint(AwsService.S3))
        {
            // Emulators and S3-compatible stores rarely serve virtual-hosted bucket names.
            config.ForcePathStyle = true;
        }

        return new AmazonS3Client(_credentials, config);
    }

    /// <summary>An STS client without credentials, for AssumeRoleWithWebIdentity (which is not signed).</summary>
    internal AmazonSecurityTokenServiceClient CreateAnonymousStsClient() =>
        new(new AnonymousAWSCredentials(), SdkConfig(new AmazonSecurityTokenServiceConfig(), AwsService.Sts));

    internal AmazonEC2Client CreateEc2Client() =>
        new(_credentials, SdkConfig(new AmazonEC2Config(), AwsService.Ec2));

    internal async Task<ImmutableCredentials> GetImmutableCredentialsAsync(CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        try
        {
            return await _credentials.GetCredentialsAsync().ConfigureAwait(false);
        }
        catch (AmazonClientException ex)
        {
            throw new AwsServiceException("AWS", "ResolveCredentials", 0, "NoCredentials",
                $"Credentials from the {CredentialSource} could not be obtained.", null, ex);
        }
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        _http.Dispose();
        if (_sts.IsValueCreated)
        {
            _sts.Value.Dispose();
        }
    }

    /// <inheritdoc/>
    public override string ToString() => $"AwsSession(Region={Region}, Credentials={CredentialSource})";

    private T SdkConfig<T>(T config, AwsService service)
        where T : ClientConfig
    {
        config.RegionEndpoint = RegionEndpoint.GetBySystemName(Region);
        var custom = CustomEndpoint(service);
        if (custom is not null)
        {
            config.ServiceURL = custom.ToString();
            config.AuthenticationRegion = GetSigningRegion(service);
        }

        // Our resolution already applied AWS_ENDPOINT_URL*; the SDK must not apply a different one.
        config.IgnoreConfiguredEndpointUrls = true;
        config.RetryMode = RequestRetryMode.Standard;
        config.MaxErrorRetry = Math.Max(0, _options.MaxAttempts - 1);
        config.Timeout = _options.RequestTimeout;
        return config;
    }

    private Uri? CustomEndpoint(AwsService service)
    {
        var configured = FirstNonEmpty(_options.EndpointUrl);
        if (configured is null && !string.Equals(_environment("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"), "true", StringComparison.OrdinalIgnoreCase))
        {
            configured = FirstNonEmpty(
                _environment("AWS_ENDPOINT_URL_" + AwsServiceInfo.EnvironmentId(service)),
                _environment("AWS_ENDPOINT_URL"),
                _profileEndpointUrl);
        }

        if (configured is null)
        {
            return null;
        }

        if (!Uri.TryCreate(configured, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
        {
            throw Configuration("InvalidEndpointUrl", $"The endpoint URL '{configured}' for {service} is not an absolute http(s) URL.");
        }

        if (uri.Scheme == Uri.UriSchemeHttp && !uri.IsLoopback && !_options.AllowInsecureEndpoint)
        {
            throw Configuration("InsecureEndpointUrl", $"The endpoint URL '{configured}' for {service} is plain http:// to another machine: requests (and the files uploaded, credentials included) would cross the network unencrypted. Use https://, or pass -AllowInsecureEndpoint if that is really wanted.");
        }

        return uri;
    }

    private Uri DefaultEndpoint(AwsService service)
    {
        var suffix = Region.StartsWith("cn-", StringComparison.Ordinal) ? "amazonaws.com.cn" : "amazonaws.com";
        if (AwsServiceInfo.IsGlobal(service))
        {
            var host = Region.StartsWith("cn-", StringComparison.Ordinal) ? "iam.cn-north-1.amazonaws.com.cn"
                : Region.StartsWith("us-gov-", StringComparison.Ordinal) ? "iam.us-gov.amazonaws.com"
                : "iam.amazonaws.com";
            return new Uri($"https://{host}/");
        }

        return new Uri($"https://{AwsServiceInfo.EndpointPrefix(service)}.{Region}.{suffix}/");
    }

    private static AWSCredentials Keys(string accessKey, string secretKey, string? token) =>
        string.IsNullOrEmpty(token) ? new BasicAWSCredentials(accessKey, secretKey) : new SessionAWSCredentials(accessKey, secretKey, token);

    private static string? FirstNonEmpty(params string?[] values) =>
        values.FirstOrDefault(v => !string.IsNullOrWhiteSpace(v));

    /// <summary>AWS region names: two letters, one or more words, a number (eu-west-1, us-gov-west-1, us-iso-east-1).</summary>
    [System.Text.RegularExpressions.GeneratedRegex(@"\A[a-z]{2}(-[a-z]+)+-\d+\z")]
    private static partial System.Text.RegularExpressions.Regex RegionPattern();

    private static AwsServiceException Configuration(string code, string message) =>
        new("AWS", "ResolveSession", 0, code, message, null, null);
}
