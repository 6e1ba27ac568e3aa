using System.Net;

namespace Rlabs.Pipelines.Aws;

/// <summary>How the cmdlet layer should categorise a failed AWS call.</summary>
public enum AwsErrorKind
{
    Other,
    AccessDenied,
    NotFound,
    Throttling,
    Validation,
    Conflict,
}

/// <summary>
/// One exception for every failed AWS call, whichever protocol or SDK made it. It carries what a
/// user or a support ticket needs (service, operation, status, AWS code, request id) and never a key.
/// </summary>
public sealed class AwsServiceException : Exception
{
    public AwsServiceException()
        : this("AWS", "Unknown", 0, "Unknown", "The AWS call failed.", null, null)
    {
    }

    public AwsServiceException(string message)
        : this("AWS", "Unknown", 0, "Unknown", message, null, null)
    {
    }

    public AwsServiceException(string message, Exception innerException)
        : this("AWS", "Unknown", 0, "Unknown", message, null, innerException)
    {
    }

    public AwsServiceException(
        string service,
        string operation,
        HttpStatusCode statusCode,
        string errorCode,
        string awsMessage,
        string? requestId,
        Exception? innerException)
        : base(Format(service, operation, statusCode, errorCode, awsMessage, requestId), innerException)
    {
        Service = service;
        Operation = operation;
        StatusCode = statusCode;
        ErrorCode = errorCode;
        AwsMessage = awsMessage;
        RequestId = requestId;
    }

    /// <summary>Service name, e.g. <c>SageMaker</c>.</summary>
    public string Service { get; }

    /// <summary>Operation name, e.g. <c>CreateProcessingJob</c>.</summary>
    public string Operation { get; }

    /// <summary>HTTP status; 0 when no response was received.</summary>
    public HttpStatusCode StatusCode { get; }

    /// <summary>AWS error code, e.g. <c>ValidationException</c>.</summary>
    public string ErrorCode { get; }

    /// <summary>The service's own message, without our prefix.</summary>
    public string AwsMessage { get; }

    /// <summary>AWS request id for support cases, when the service sent one.</summary>
    public string? RequestId { get; }

    /// <summary>The category the cmdlet layer maps to an ErrorRecord category.</summary>
    public AwsErrorKind Kind => Classify(ErrorCode, StatusCode);

    /// <summary>Whether another attempt may succeed (throttling, 5xx, timeouts).</summary>
    public bool IsRetryable => AwsRetryPolicy.IsRetryable(ErrorCode, StatusCode);

    /// <summary>AWS asked the caller to slow down (throttling codes, HTTP 429).</summary>
    public bool IsThrottling => Kind == AwsErrorKind.Throttling;

    /// <summary>The HTTP status as written in messages: <c>HTTP 400</c>, or <c>no response</c>.</summary>
    internal string StatusCodeText => StatusCode == 0 ? "no response" : $"HTTP {(int)StatusCode}";

    /// <summary>The same failure, its message saying that retries went on for the whole throttling budget.</summary>
    internal AwsServiceException WithRetryBudgetSpent(int attempts, TimeSpan elapsed) =>
        new(Service, Operation, StatusCode, ErrorCode,
            $"{AwsMessage} (still throttled after {attempts} attempts over {elapsed.TotalMinutes:0.#} min, the throttling budget)", RequestId, InnerException);

    public static AwsErrorKind Classify(string errorCode, HttpStatusCode statusCode)
    {
        ArgumentNullException.ThrowIfNull(errorCode);
        if (AwsRetryPolicy.IsThrottlingCode(errorCode) || statusCode == HttpStatusCode.TooManyRequests)
        {
            return AwsErrorKind.Throttling;
        }

        if (errorCode.Contains("AccessDenied", StringComparison.OrdinalIgnoreCase)
            || errorCode is "UnauthorizedOperation" or "UnrecognizedClientException" or "InvalidClientTokenId"
                or "SignatureDoesNotMatch" or "ExpiredToken" or "ExpiredTokenException" or "AuthFailure"
                or "InvalidAccessKeyId" or "MissingAuthenticationToken" or "NoCredentials"
            || statusCode == HttpStatusCode.Forbidden)
        {
            return AwsErrorKind.AccessDenied;
        }

        if (errorCode.StartsWith("NoSuch", StringComparison.Ordinal)
            || errorCode.EndsWith(".NotFound", StringComparison.Ordinal)
            || errorCode is "ResourceNotFoundException" or "ResourceNotFound" or "NotFound" or "NoSuchEntity"
            || statusCode == HttpStatusCode.NotFound)
        {
            return AwsErrorKind.NotFound;
        }

        if (errorCode.EndsWith(".Malformed", StringComparison.Ordinal)
            || errorCode is "ValidationException" or "ValidationError" or "InvalidParameterException"
                or "InvalidParameterValueException" or "InvalidParameterValue" or "InvalidParameterCombination"
                or "MissingParameter" or "SerializationException" or "MalformedPolicyDocument"
                or "InvalidRequestContentException" or "InvalidArgument" or "InvalidInput" or "InvalidEventPatternException"
                or "NoRegion" or "IncompleteCredentials" or "InvalidEndpointUrl" or "ProfileNotFound")
        {
            return AwsErrorKind.Validation;
        }

        if (errorCode is "ResourceConflictException" or "ResourceInUse" or "ResourceInUseException"
                or "ConflictException" or "EntityAlreadyExists" or "ResourceAlreadyExistsException"
                or "DeleteConflict" or "IncorrectInstanceState" or "BucketAlreadyExists" or "BucketAlreadyOwnedByYou"
            || statusCode == HttpStatusCode.Conflict)
        {
            return AwsErrorKind.Conflict;
        }

        return AwsErrorKind.Other;
    }

    private static string Format(
        string service, string operation, HttpStatusCode statusCode, string errorCode, string message, string? requestId)
    {
        var status = statusCode == 0 ? "no response" : $"HTTP {(int)statusCode}";  // as StatusCodeText
        var id = string.IsNullOrEmpty(requestId) ? string.Empty : $" (request id {requestId})";
        return $"{service} {operation} failed: {errorCode}: {message} [{status}]{id}";
    }
}
