using System.Management.Automation;
using Rlabs.Pipelines.Aws;

namespace Rlabs.Pipelines;

/// <summary>The AWS.Tools-style session parameters shared by every cmdlet that calls AWS.</summary>
public abstract class RlabsAwsCmdlet : RlabsCmdlet
{
    /// <summary>Named profile in the shared AWS config and credentials files.</summary>
    [Parameter]
    [Alias("StoredCredentials")]
    [ValidateNotNullOrEmpty]
    public string? ProfileName { get; set; }

    /// <summary>AWS region, e.g. eu-west-1.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
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
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? EndpointUrl { get; set; }

    /// <summary>The seed's credentials YAML: AWS keys in it sign the AWS calls (after -AccessKey/-ProfileName); its other secrets go to the steps.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? CredentialsFile { get; set; }

    /// <summary>The session parameters as the core's options, with <paramref name="credentialsFile"/> resolved.</summary>
    protected AwsSessionOptions SessionOptions(string? credentialsFile) => new()
    {
        ProfileName = ProfileName,
        Region = Region,
        AccessKey = AccessKey,
        SecretKey = SecretKey,
        SessionToken = SessionToken,
        EndpointUrl = EndpointUrl,
        CredentialsFile = credentialsFile is null ? null : ResolvePath(credentialsFile),
    };

    /// <summary>Resolves the session; a missing region or bad credentials file is a terminating error.</summary>
    protected AwsSession CreateSession(string? credentialsFile)
    {
        try
        {
            return AwsSession.Create(SessionOptions(credentialsFile));
        }
        catch (Exception ex) when (ex is RlabsConfigException or AwsServiceException or ArgumentException or InvalidOperationException)
        {
            ThrowTerminatingError(ErrorMapping.Record(ex, "AwsSessionInvalid", credentialsFile));
            throw; // not reached: ThrowTerminatingError throws
        }
    }
}
