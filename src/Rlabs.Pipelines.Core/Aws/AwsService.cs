namespace Rlabs.Pipelines.Aws;

/// <summary>The AWS services this module calls.</summary>
public enum AwsService
{
    /// <summary>Amazon S3.</summary>
    S3,

    /// <summary>Amazon EC2.</summary>
    Ec2,

    /// <summary>AWS STS.</summary>
    Sts,

    /// <summary>Amazon SageMaker.</summary>
    SageMaker,

    /// <summary>Amazon CloudWatch Logs.</summary>
    CloudWatchLogs,

    /// <summary>Amazon EventBridge.</summary>
    EventBridge,

    /// <summary>AWS Lambda.</summary>
    Lambda,

    /// <summary>AWS IAM.</summary>
    Iam,

    /// <summary>Amazon ECR.</summary>
    Ecr,

    /// <summary>Amazon EventBridge Scheduler.</summary>
    Scheduler,
}

/// <summary>Per-service constants: signing name, endpoint prefix and the service id of the SDK's
/// "service-specific endpoints" setting (<c>AWS_ENDPOINT_URL_&lt;ID&gt;</c>).</summary>
internal static class AwsServiceInfo
{
    public static string SigningName(AwsService service) => service switch
    {
        AwsService.S3 => "s3",
        AwsService.Ec2 => "ec2",
        AwsService.Sts => "sts",
        AwsService.SageMaker => "sagemaker",
        AwsService.CloudWatchLogs => "logs",
        AwsService.EventBridge => "events",
        AwsService.Lambda => "lambda",
        AwsService.Iam => "iam",
        AwsService.Ecr => "ecr",
        AwsService.Scheduler => "scheduler",
        _ => throw new ArgumentOutOfRangeException(nameof(service)),
    };

    public static string EndpointPrefix(AwsService service) => service switch
    {
        AwsService.SageMaker => "api.sagemaker",
        AwsService.Ecr => "api.ecr",
        _ => SigningName(service),
    };

    /// <summary>The service id upper-cased with spaces as underscores, per the SDK spec
    /// (SageMaker's id is "SageMaker", CloudWatch Logs' is "CloudWatch Logs").</summary>
    public static string EnvironmentId(AwsService service) => service switch
    {
        AwsService.S3 => "S3",
        AwsService.Ec2 => "EC2",
        AwsService.Sts => "STS",
        AwsService.SageMaker => "SAGEMAKER",
        AwsService.CloudWatchLogs => "CLOUDWATCH_LOGS",
        AwsService.EventBridge => "EVENTBRIDGE",
        AwsService.Lambda => "LAMBDA",
        AwsService.Iam => "IAM",
        AwsService.Ecr => "ECR",
        AwsService.Scheduler => "SCHEDULER",
        _ => throw new ArgumentOutOfRangeException(nameof(service)),
    };

    /// <summary>IAM is global: one endpoint, signed for the partition's home region.</summary>
    public static bool IsGlobal(AwsService service) => service == AwsService.Iam;
}
