using System.Management.Automation;
using System.Reflection;
using Rlabs.Pipelines.Aws;

namespace Rlabs.Pipelines;

/// <summary>
/// The AWS.Tools-style session parameters shared by every cmdlet that calls AWS, and AWS.Tools' shell defaults
/// (<c>$StoredAWSCredentials</c> from Set-AWSCredential, <c>$StoredAWSRegion</c> from Set-DefaultAWSRegion).
/// The non-secret ones bind by property name, so a piped run object brings its -Region along; an empty value
/// (a local run's Region, an empty CSV cell) means "not given" rather than failing validation.
/// </summary>
public abstract class RlabsAwsCmdlet : RlabsCmdlet
{
    private const string StoredCredentialsVariable = "StoredAWSCredentials";
    private const string StoredRegionVariable = "StoredAWSRegion";

    /// <summary>Named profile in the shared AWS config and credentials files.</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    [Alias("StoredCredentials")]
    [ArgumentCompleter(typeof(AwsProfileCompleter))]
    public string? ProfileName { get; set; }

    /// <summary>A shared credentials file other than ~/.aws/credentials to read -ProfileName from.</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    [Alias("AWSProfilesLocation", "ProfilesLocation")]
    public string? ProfileLocation { get; set; }

    /// <summary>AWS credentials as Get-AWSCredential (AWS.Tools) returns them.</summary>
    /// <remarks>Typed object: AWS.Tools' AWSCredentials type lives in another load context, so it is read by its members.</remarks>
    [Parameter]
    [ValidateNotNull]
    public object? Credential { get; set; }

    /// <summary>AWS region, e.g. eu-west-1.</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    [ArgumentCompleter(typeof(AwsRegionCompleter))]
    public string? Region { get; set; }

    /// <summary>AWS access key id.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? AccessKey { get; set; }

    /// <summary>AWS secret access key.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? SecretKey { get; set; }

    /// <summary>Session token of temporary credentials.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? SessionToken { get; set; }

    /// <summary>Endpoint for every AWS service (testing, VPC endpoints).</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    public string? EndpointUrl { get; set; }

    /// <summary>Allow a plain http:// endpoint that is not on this machine.</summary>
    [Parameter]
    public SwitchParameter AllowInsecureEndpoint { get; set; }

    /// <summary>The seed's credentials YAML: AWS keys in it sign the AWS calls (after -AccessKey/-ProfileName); its other secrets go to the steps.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? CredentialsFile { get; set; }

    /// <summary>Whether this invocation only plans (a cmdlet's -WhatIf) and so may go on without credentials.</summary>
    protected virtual bool PlansWithoutCalls => false;

    /// <summary>What the session parameters and the shell defaults ask for, without resolving anything.</summary>
    protected AwsSessionOptions SessionOptions(string? credentialsFile)
    {
        Func<AwsKeys>? external = null;
        if (Credential is not null)
        {
            external = ForeignCredentials.Reader(Credential)
                ?? throw new PSArgumentException("-Credential is neither AWS credentials (Get-AWSCredential) nor an object with AccessKey and SecretKey.");
        }
        var stored = SessionState.PSVariable.GetValue(StoredCredentialsVariable);
        var storedRegion = SessionState.PSVariable.GetValue(StoredRegionVariable) as string ?? (SessionState.PSVariable.GetValue(StoredRegionVariable) as PSObject)?.BaseObject as string;
        return new AwsSessionOptions
        {
            ProfileName = ProfileName,
            ProfileLocation = string.IsNullOrWhiteSpace(ProfileLocation) ? null : ResolvePath(ProfileLocation),
            Region = Region,
            AccessKey = AccessKey,
            SecretKey = SecretKey,
            SessionToken = SessionToken,
            EndpointUrl = EndpointUrl,
            AllowInsecureEndpoint = AllowInsecureEndpoint,
            CredentialsFile = credentialsFile is null ? null : ResolvePath(credentialsFile),
            ExternalCredentials = external,
            ExternalCredentialsSource = external is null ? null : "-Credential",
            DefaultCredentials = stored is null ? null : ForeignCredentials.Reader(stored),
            DefaultCredentialsSource = "shell variable $" + StoredCredentialsVariable + (ForeignCredentials.Name(stored) is { } name ? $" (profile '{name}')" : string.Empty),
            DefaultRegion = string.IsNullOrWhiteSpace(storedRegion) ? null : storedRegion,
            AllowMissingCredentials = PlansWithoutCalls,
        };
    }

    /// <summary>Resolves the session; a missing region or bad credentials file is a terminating error.</summary>
    protected AwsSession CreateSession(string? credentialsFile)
    {
        try
        {
            var session = AwsSession.Create(SessionOptions(credentialsFile));
            WriteVerbose($"AWS session: region {session.Region}, credentials from the {session.CredentialSource}.");
            return session;
        }
        catch (Exception ex) when (ex is RlabsConfigException or AwsServiceException or ArgumentException or InvalidOperationException)
        {
            ThrowTerminatingError(ErrorMapping.Record(ex, "AwsSessionInvalid", credentialsFile));
            throw; // not reached: ThrowTerminatingError throws
        }
    }

    /// <summary>
    /// Reads AWS.Tools credentials by their members, never by their type: AWS.Tools loads its AWSSDK.Core into
    /// PowerShell's context and this module its own into a private one, so the two AWSCredentials types differ.
    /// </summary>
    internal static class ForeignCredentials
    {
        /// <summary>A reader of keys from <paramref name="value"/>, or null when it holds none.</summary>
        public static Func<AwsKeys>? Reader(object? value)
        {
            var target = value is PSObject ps ? ps.BaseObject : value;
            if (target is null)
            {
                return null;
            }
            // AWS.Tools' AWSPSCredentials ($StoredAWSCredentials) wraps the SDK credentials in .Credentials.
            if (target.GetType().GetMethod("GetCredentials", Type.EmptyTypes) is null
                && target.GetType().GetProperty("Credentials")?.GetValue(target) is { } inner)
            {
                target = inner;
            }
            if (target.GetType().GetMethod("GetCredentials", Type.EmptyTypes) is { } getCredentials)
            {
                var credentials = target;
                return () => Keys(getCredentials.Invoke(credentials, null));
            }
            // A plain object with the keys (e.g. [pscustomobject] from a vault), read once.
            return Keys(value) is { } keys ? () => keys : null;
        }

        /// <summary>The profile name AWS.Tools recorded for stored credentials, if any.</summary>
        public static string? Name(object? value)
        {
            var target = value is PSObject ps ? ps.BaseObject : value;
            return target?.GetType().GetProperty("Name")?.GetValue(target) as string;
        }

        private static AwsKeys Keys(object? immutable)
        {
            var accessKey = Member(immutable, "AccessKey");
            var secretKey = Member(immutable, "SecretKey");
            if (string.IsNullOrEmpty(accessKey) || string.IsNullOrEmpty(secretKey))
            {
                throw new InvalidOperationException("The credentials object has no AccessKey and SecretKey.");
            }
            var token = Member(immutable, "Token") ?? Member(immutable, "SessionToken");
            return new AwsKeys(accessKey, secretKey, string.IsNullOrEmpty(token) ? null : token);
        }

        private static string? Member(object? value, string name) => value switch
        {
            null => null,
            PSObject ps => ps.Properties[name]?.Value?.ToString(),
            _ => value.GetType().GetProperty(name, BindingFlags.Public | BindingFlags.Instance)?.GetValue(value)?.ToString(),
        };
    }
}
