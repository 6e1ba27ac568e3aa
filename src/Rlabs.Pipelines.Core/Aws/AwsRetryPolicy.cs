using System.Net;
using System.Security.Cryptography;

namespace Rlabs.Pipelines.Aws;

/// <summary>
/// Which failures are worth another attempt and how long to wait: the AWS SDKs' "standard" retry
/// mode, i.e. throttling codes, transient codes and 5xx, with full-jitter exponential backoff.
/// </summary>
internal static class AwsRetryPolicy
{
    // The throttling codes of the SDKs' standard retry mode (botocore retries/standard.py).
    private static readonly HashSet<string> s_throttlingCodes = new(StringComparer.Ordinal)
    {
        "Throttling", "ThrottlingException", "ThrottledException", "RequestThrottledException",
        "TooManyRequestsException", "ProvisionedThroughputExceededException", "TransactionInProgressException",
        "RequestLimitExceeded", "BandwidthLimitExceeded", "LimitExceededException", "RequestThrottled",
        "SlowDown", "PriorRequestNotComplete", "EC2ThrottledException",
    };

    private static readonly HashSet<string> s_transientCodes = new(StringComparer.Ordinal)
    {
        "RequestTimeout", "RequestTimeoutException", "InternalError", "InternalFailure", "ServiceUnavailable",
        "InternalServerError", "InternalServerException", "ServiceException",
    };

    public static bool IsThrottlingCode(string errorCode) => s_throttlingCodes.Contains(errorCode);

    public static bool IsRetryable(string errorCode, HttpStatusCode statusCode) =>
        s_throttlingCodes.Contains(errorCode)
        || s_transientCodes.Contains(errorCode)
        || statusCode == HttpStatusCode.TooManyRequests
        || (int)statusCode is >= 500 and <= 599;

    /// <summary>Equal jitter for throttling: a uniform draw in [ceiling/2, ceiling], ceiling = min(cap, base * 2^(attempt-1)).</summary>
    public static TimeSpan ThrottlingBackoff(int attempt, TimeSpan baseDelay, TimeSpan maxDelay)
    {
        var full = Backoff(attempt, baseDelay, maxDelay);
        var ceilingMs = Math.Min(maxDelay.TotalMilliseconds, baseDelay.TotalMilliseconds * Math.Pow(2, Math.Min(attempt - 1, 30)));
        return TimeSpan.FromMilliseconds((ceilingMs / 2) + (full.TotalMilliseconds / 2));
    }

    /// <summary>Full jitter: a uniform draw in [0, min(cap, base * 2^(attempt-1))].</summary>
    public static TimeSpan Backoff(int attempt, TimeSpan baseDelay, TimeSpan maxDelay)
    {
        var exponent = Math.Min(attempt - 1, 30);
        var ceilingMs = Math.Min(maxDelay.TotalMilliseconds, baseDelay.TotalMilliseconds * Math.Pow(2, exponent));
        // RandomNumberGenerator keeps the analyzers quiet about weak randomness; jitter needs no secrecy.
        var fraction = RandomNumberGenerator.GetInt32(0, 10_001) / 10_000.0;
        return TimeSpan.FromMilliseconds(ceilingMs * fraction);
    }
}
