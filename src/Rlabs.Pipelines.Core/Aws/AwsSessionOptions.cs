namespace Rlabs.Pipelines.Aws;

/// <summary>
/// What a user typed to choose an AWS identity, region and endpoint, named like the AWS.Tools
/// common parameters. Every member is optional; <see cref="AwsSession"/> fills the gaps from the
/// seed's credentials file and then from the SDK's default chain.
/// </summary>
public sealed record AwsSessionOptions
{
    /// <summary>Profile in the shared config/credentials files (AWS.Tools <c>-ProfileName</c>).</summary>
    public string? ProfileName { get; init; }

    /// <summary>Region system name such as <c>eu-west-1</c>.</summary>
    public string? Region { get; init; }

    /// <summary>Access key id; needs <see cref="SecretKey"/>.</summary>
    public string? AccessKey { get; init; }

    /// <summary>Secret access key. Never printed.</summary>
    public string? SecretKey { get; init; }

    /// <summary>Session token of temporary credentials. Never printed.</summary>
    public string? SessionToken { get; init; }

    /// <summary>Endpoint used for every service, overriding <c>AWS_ENDPOINT_URL*</c>.</summary>
    public string? EndpointUrl { get; init; }

    /// <summary>
    /// Allow a plain http:// endpoint that is not on this machine (loopback is always allowed): requests and
    /// their answers, credentials files included, would cross the network unencrypted.
    /// </summary>
    public bool AllowInsecureEndpoint { get; init; }

    /// <summary>A shared credentials file other than ~/.aws/credentials (AWS.Tools <c>-ProfileLocation</c>).</summary>
    public string? ProfileLocation { get; init; }

    /// <summary>
    /// Credentials from outside the module (AWS.Tools <c>-Credential</c>): asked for keys on every use, so
    /// credentials that refresh themselves (assumed roles, SSO) stay valid through a long run.
    /// </summary>
    public Func<AwsKeys>? ExternalCredentials { get; init; }

    /// <summary>Where <see cref="ExternalCredentials"/> came from, for verbose output.</summary>
    public string? ExternalCredentialsSource { get; init; }

    /// <summary>
    /// Shell-wide credentials (AWS.Tools <c>$StoredAWSCredentials</c>, set by Set-AWSCredential): used after
    /// everything the command line and the credentials file give, before the SDK's default chain.
    /// </summary>
    public Func<AwsKeys>? DefaultCredentials { get; init; }

    /// <summary>Where <see cref="DefaultCredentials"/> came from, for verbose output.</summary>
    public string? DefaultCredentialsSource { get; init; }

    /// <summary>Shell-wide region (AWS.Tools <c>$StoredAWSRegion</c>, set by Set-DefaultAWSRegion).</summary>
    public string? DefaultRegion { get; init; }

    /// <summary>The seed's credentials YAML (<c>-CredentialsFile</c>) that may hold AWS keys and a region.</summary>
    public string? CredentialsFile { get; init; }

    /// <summary>
    /// A dry run (-WhatIf) that makes no call: when no credentials are found the session resolves anyway,
    /// without credentials, so the plan can be shown with the account unknown.
    /// </summary>
    public bool AllowMissingCredentials { get; init; }

    /// <summary>
    /// Attempts per call, the first included, before a retryable error (5xx, a timeout, a reset connection) is
    /// surfaced. Throttling is not counted against it: see <see cref="ThrottlingBudget"/>.
    /// </summary>
    public int MaxAttempts { get; init; } = 5;

    /// <summary>
    /// How long one call keeps retrying while AWS throttles it (ThrottlingException, "Rate exceeded", 429),
    /// measured from its first attempt. A pipeline orchestrator must outlast a busy account: 15 minutes by
    /// default, each wait reported through <see cref="AwsSession.RetryReported"/>.
    /// </summary>
    public TimeSpan ThrottlingBudget { get; init; } = TimeSpan.FromMinutes(15);

    /// <summary>Base of the full-jitter exponential backoff between attempts.</summary>
    public TimeSpan RetryBaseDelay { get; init; } = TimeSpan.FromMilliseconds(200);

    /// <summary>Ceiling of one backoff delay.</summary>
    public TimeSpan RetryMaxDelay { get; init; } = TimeSpan.FromSeconds(20);

    /// <summary>
    /// How often a running SageMaker job or pipeline execution is asked about (DescribeProcessingJob,
    /// DescribePipelineExecution). Null: the <c>RLABS_JOB_POLL_INTERVAL</c> environment variable (seconds), else
    /// 5 seconds: a job's end is noticed within 5 s at 12 calls per job-minute. Lower it for an emulator.
    /// </summary>
    public TimeSpan? JobPollInterval { get; init; }

    /// <summary>Timeout of one HTTP attempt.</summary>
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromSeconds(100);

    /// <inheritdoc/>
    // Hand-written so that a debugger, a log line or an error message never shows the keys.
    public override string ToString() =>
        $"Profile={ProfileName ?? "(none)"}, Region={Region ?? "(none)"}, " +
        $"AccessKey={(AccessKey is null ? "(none)" : "(set)")}, EndpointUrl={EndpointUrl ?? "(none)"}, " +
        $"CredentialsFile={CredentialsFile ?? "(none)"}, Credential={ExternalCredentialsSource ?? "(none)"}";
}

/// <summary>One set of AWS keys handed in from outside the module. <see cref="ToString"/> never shows them.</summary>
/// <param name="AccessKey">Access key id.</param>
/// <param name="SecretKey">Secret access key.</param>
/// <param name="SessionToken">Session token of temporary credentials, or null.</param>
public sealed record AwsKeys(string AccessKey, string SecretKey, string? SessionToken)
{
    /// <inheritdoc/>
    public override string ToString() => $"AwsKeys(AccessKey={AccessKey}, SecretKey=(set), SessionToken={(SessionToken is null ? "(none)" : "(set)")})";
}
