using System.Management.Automation;
using Rlabs.Pipelines.Aws;

namespace Rlabs.Pipelines;

/// <summary>The one place where exceptions become ErrorRecords with a stable id and a category.</summary>
internal static class ErrorMapping
{
    public static ErrorRecord Record(Exception exception, string errorId, object? target) =>
        new(exception, errorId, Category(exception), target);

    public static ErrorRecord Record(Exception exception, string errorId, ErrorCategory category, object? target) =>
        new(exception, errorId, category, target);

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
