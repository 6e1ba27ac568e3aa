using System.Management.Automation;
using Rlabs.Pipelines.Aws;

namespace Rlabs.Pipelines;

/// <summary>
/// The one place where exceptions become ErrorRecords with a stable id, a category and a RecommendedAction.
/// Every record of the module is built here, so every one says what to do next (the error view shows it as
/// "RecommendedAction", and scripts read it from <c>$error[0].ErrorDetails.RecommendedAction</c>).
/// </summary>
internal static class ErrorMapping
{
    // What to do, by error id. Ids not listed fall back to the AWS error code, then to the category.
    private static readonly Dictionary<string, string> s_actions = new(StringComparer.Ordinal)
    {
        ["PipelineConfigInvalid"] = "Run Test-RlabsPipeline -Path <file> to list every problem with its line, column and fix.",
        ["PipelineNotFound"] = "Check -Path (or -PipelinePath); relative paths are resolved against the current location.",
        ["PipelinePathInvalid"] = "Pass the pipeline file as a path inside -RepositoryPath.",
        ["RepositoryNotFound"] = "Pass -RepositoryPath with the data-apps repository, or Set-Location into it.",
        ["CredentialsFileInvalid"] = "Fix the credentials YAML at the line named in the message (keys: aws_access_key_id, aws_secret_access_key, region_name, ...).",
        ["CredentialsFileNotFound"] = "Check -CredentialsFile, or omit it to use -ProfileName, the AWS.Tools shell defaults or the default credential chain.",
        ["InvalidJobId"] = "Use letters, digits and hyphens only, e.g. -JobId 20261125-run1.",
        ["ResumeNeedsJobId"] = "Pass the -JobId of the run to continue (Get-RlabsPipelineRun lists it).",
        ["InvalidInstanceType"] = "Use 'local' or a SageMaker Processing instance type such as ml.t3.xlarge (Tab completes them).",
        ["InstanceTypeInvalid"] = "Use a SageMaker Processing instance type such as ml.t3.xlarge (Tab completes them).",
        ["MixedInstanceTypes"] = "Pass -InstanceType local, or one ml.* type, for the whole run.",
        ["PythonNotFound"] = "Install Python 3 or pass -PythonPath with the interpreter for local steps.",
        ["ContainerImageUnknown"] = "Set image_uri in the pipeline file, or pass -Region so the default SageMaker image can be chosen.",
        ["RunPreparationFailed"] = "Check that the repository and the data root are readable and writable, then run again.",
        ["CloudRunInvalid"] = "Fix the pipeline file or the parameters named in the message, then run again.",
        ["AwsSessionInvalid"] = "Pass -Region and credentials (-ProfileName, -Credential, -AccessKey/-SecretKey), or set them with Set-AWSCredential and Set-DefaultAWSRegion.",
        ["RunNotFound"] = "List the project's runs with Get-RlabsPipelineRun, and check -ProjectName, -Bucket and -Region.",
        ["EarlierJobStillRunning"] = "Wait until the named job has stopped (Get-RlabsPipelineRun shows it), then run the same command again.",
        ["RunWaitTimedOut"] = "The run goes on in SageMaker: wait again with Wait-RlabsPipelineRun -JobId <id>, or stop it with Stop-RlabsPipelineRun.",
        ["ScheduleNotFound"] = "List the schedules with Get-RlabsPipelineSchedule.",
        ["ScheduleExpressionInvalid"] = "Use an EventBridge expression such as 'cron(0 6 * * ? *)' or 'rate(1 day)'.",
        ["PemFileInvalid"] = "Pass an unencrypted RSA PEM or OpenSSH ed25519 private key as -PemFile.",
        ["HostKeyChanged"] = "If the instance was replaced on purpose, remove its line from ~/.config/rlabs/known_hosts and run again.",
        ["SshAuthenticationFailed"] = "Check -PemFile and -Ec2UserName (ubuntu, ec2-user, admin depending on the image).",
        ["InstanceUnreachable"] = "Check that the instance runs, has a public address and that its security group allows SSH from here.",
        ["CommandNotAvailable"] = "Update Rlabs.Pipelines (Update-PSResource Rlabs.Pipelines).",
        ["CommandLineInvalid"] = "Add --help to the command line to see its options.",
    };

    // What to do, by AWS error code (AwsSession's own codes and common service codes).
    private static readonly Dictionary<string, string> s_awsActions = new(StringComparer.Ordinal)
    {
        ["NoRegion"] = "Pass -Region, run Set-DefaultAWSRegion, or set AWS_REGION.",
        ["NoCredentials"] = "Pass -ProfileName, -Credential or -AccessKey/-SecretKey, run Set-AWSCredential, or set AWS_WEB_IDENTITY_TOKEN_FILE and AWS_ROLE_ARN (CI with OIDC).",
        ["ProfileNotFound"] = "List the profiles with Get-AWSCredential -ListProfileDetail (AWS.Tools) or 'aws configure list-profiles'; -ProfileLocation names another credentials file.",
        ["ProfileNotUsable"] = "Give the profile keys, a role to assume or an SSO session, or choose another with -ProfileName.",
        ["IncompleteCredentials"] = "Pass both -AccessKey and -SecretKey (and -SessionToken for temporary keys).",
        ["InvalidEndpointUrl"] = "Pass -EndpointUrl as an absolute http(s) URL, or unset AWS_ENDPOINT_URL.",
        ["InvalidCredential"] = "Pass the object Get-AWSCredential returns, or use -ProfileName.",
        ["WebIdentityInvalid"] = "Check AWS_WEB_IDENTITY_TOKEN_FILE (a readable OIDC token) and AWS_ROLE_ARN (a role that trusts the token's issuer).",
    };

    public static ErrorRecord Record(Exception exception, string errorId, object? target) =>
        Record(exception, errorId, Category(exception), target);

    public static ErrorRecord Record(Exception exception, string errorId, ErrorCategory category, object? target) =>
        Record(exception, errorId, category, target, null);

    /// <summary>A record whose RecommendedAction is <paramref name="recommendedAction"/>, else the one known for its id.</summary>
    public static ErrorRecord Record(Exception exception, string errorId, ErrorCategory category, object? target, string? recommendedAction) =>
        new(exception, errorId, category, target)
        {
            ErrorDetails = new ErrorDetails(exception.Message) { RecommendedAction = recommendedAction ?? RecommendedAction(exception, errorId, category) },
        };

    /// <summary>What to do about an error: by id, then by AWS error code or kind, then by category.</summary>
    public static string RecommendedAction(Exception exception, string errorId, ErrorCategory category)
    {
        if (s_actions.TryGetValue(errorId, out var action))
        {
            return action;
        }
        if (exception is AwsServiceException aws)
        {
            if (s_awsActions.TryGetValue(aws.ErrorCode, out action))
            {
                return action;
            }
            return aws.Kind switch
            {
                AwsErrorKind.AccessDenied => $"Grant the identity in use {aws.Service}:{aws.Operation} (Get-STSCallerIdentity shows who it is), or use another -ProfileName.",
                AwsErrorKind.NotFound => "Check the resource's name and -Region.",
                AwsErrorKind.Throttling => "Run again in a minute; AWS is throttling this account.",
                AwsErrorKind.Validation => "Fix the value AWS names in the message, then run again.",
                AwsErrorKind.Conflict => "The resource exists or is busy: wait for it, or use another name.",
                _ => $"Run again; if it persists, give AWS support the request id{(aws.RequestId is null ? string.Empty : " " + aws.RequestId)}.",
            };
        }
        return category switch
        {
            ErrorCategory.OperationStopped => "Nothing to do: the operation was stopped on request.",
            ErrorCategory.ObjectNotFound => "Check the path or name in the message.",
            ErrorCategory.PermissionDenied => "Check the permissions of the file or resource in the message.",
            ErrorCategory.InvalidArgument => "Fix the parameter value named in the message.",
            ErrorCategory.InvalidData => "Fix the file at the line named in the message.",
            ErrorCategory.OperationTimeout => "Run again with a longer timeout.",
            ErrorCategory.ResourceUnavailable => "Start the service named in the message (e.g. the container engine), then run again.",
            ErrorCategory.ConnectionError => "Check the network path to the host in the message.",
            ErrorCategory.WriteError => "Check free space and write permission where the message points.",
            _ => "Read the message and run again with -Verbose for the details.",
        };
    }

    public static ErrorCategory Category(Exception exception) => exception switch
    {
        OperationCanceledException => ErrorCategory.OperationStopped,
        AwsServiceException aws => aws.Kind switch
        {
            AwsErrorKind.AccessDenied => ErrorCategory.PermissionDenied,
            AwsErrorKind.NotFound => ErrorCategory.ObjectNotFound,
            AwsErrorKind.Throttling => ErrorCategory.LimitsExceeded,
            AwsErrorKind.Validation => ErrorCategory.InvalidArgument,
            AwsErrorKind.Conflict => ErrorCategory.ResourceExists,
            _ => ErrorCategory.NotSpecified,
        },
        RlabsRunException run => run.Kind switch
        {
            RlabsRunErrorKind.NotFound => ErrorCategory.ObjectNotFound,
            RlabsRunErrorKind.InvalidData => ErrorCategory.InvalidData,
            _ => ErrorCategory.InvalidArgument,
        },
        UnauthorizedAccessException => ErrorCategory.PermissionDenied,
        FileNotFoundException or DirectoryNotFoundException => ErrorCategory.ObjectNotFound,
        RlabsConfigException => ErrorCategory.InvalidData,
        ArgumentException => ErrorCategory.InvalidArgument,
        TimeoutException => ErrorCategory.OperationTimeout,
        IOException => ErrorCategory.WriteError,
        _ => ErrorCategory.NotSpecified,
    };
}
