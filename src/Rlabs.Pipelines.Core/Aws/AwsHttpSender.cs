using System.Net;
using System.Net.Http.Headers;
using Amazon.Runtime;
using Amazon.Runtime.Internal;
using Amazon.Runtime.Internal.Auth;
using Amazon.Runtime.Internal.Util;
using Amazon.SecurityToken;

namespace Rlabs.Pipelines.Aws;

/// <summary>One HTTP call to an AWS service, before signing.</summary>
internal sealed class AwsHttpRequest
{
    public required string Operation { get; init; }

    public required HttpMethod Method { get; init; }

    /// <summary>Path starting with '/', with <c>{Name}</c> markers for the values in <see cref="PathResources"/>.</summary>
    public string Path { get; init; } = "/";

    /// <summary>Unencoded values of the path markers; the signer and the URL encode them the same way.</summary>
    public IReadOnlyDictionary<string, string> PathResources { get; init; } = new Dictionary<string, string>();

    public IReadOnlyDictionary<string, string> Headers { get; init; } = new Dictionary<string, string>();

    /// <summary>Query-string members (REST protocols' <c>location: querystring</c>), unencoded.</summary>
    public IReadOnlyDictionary<string, string> Query { get; init; } = new Dictionary<string, string>();

    public byte[] Body { get; init; } = [];

    public string? ContentType { get; init; }
}

/// <summary>A successful (2xx) response.</summary>
internal sealed class AwsHttpResponse
{
    public required HttpStatusCode StatusCode { get; init; }

    public required byte[] Body { get; init; }

    public required IReadOnlyDictionary<string, string> Headers { get; init; }
}

/// <summary>A service's error code and message, pulled out of an error response by its protocol.</summary>
internal readonly record struct AwsErrorDetails(string Code, string Message, string? RequestId);

/// <summary>
/// Signs (SigV4 via AWSSDK.Core's <see cref="AWS4Signer"/>), sends and retries requests for the
/// services whose SDK packages are not available here. The protocol clients build the request and
/// parse bodies; this class owns everything that is the same for all of them.
/// </summary>
internal sealed class AwsHttpSender
{
    private readonly AwsSession _session;
    private readonly AwsService _service;
    private readonly string _serviceName;
    private readonly Func<HttpStatusCode, IReadOnlyDictionary<string, string>, byte[], AwsErrorDetails> _parseError;
    private readonly ClientConfig _signingConfig;

    public AwsHttpSender(
        AwsSession session,
        AwsService service,
        string serviceName,
        Func<HttpStatusCode, IReadOnlyDictionary<string, string>, byte[], AwsErrorDetails> parseError)
    {
        _session = session;
        _service = service;
        _serviceName = serviceName;
        _parseError = parseError;
        // The signer reads only the signing name and region from its config; any concrete ClientConfig
        // serves, and AWSSDK.Core alone ships none that can be constructed.
        _signingConfig = new AmazonSecurityTokenServiceConfig
        {
            AuthenticationServiceName = AwsServiceInfo.SigningName(service),
            AuthenticationRegion = session.GetSigningRegion(service),
        };
    }

    public async Task<AwsHttpResponse> SendAsync(AwsHttpRequest request, CancellationToken cancellationToken)
    {
        var options = _session.Options;
        var maxAttempts = Math.Max(1, options.MaxAttempts);
        var started = TimeProvider.System.GetTimestamp();
        // Throttled and other retryable failures are counted apart: throttling is AWS asking for patience and
        // is retried until the time budget runs out; a 5xx or a timeout only up to MaxAttempts.
        var otherFailures = 0;
        for (var attempt = 1; ; attempt++)
        {
            AwsServiceException failure;
            try
            {
                using var message = await BuildSignedMessageAsync(request, cancellationToken).ConfigureAwait(false);
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                timeout.CancelAfter(options.RequestTimeout);
                using var response = await _session.Http.SendAsync(message, HttpCompletionOption.ResponseContentRead, timeout.Token).ConfigureAwait(false);
                var body = await response.Content.ReadAsByteArrayAsync(timeout.Token).ConfigureAwait(false);
                var headers = CollectHeaders(response);
                if (response.IsSuccessStatusCode)
                {
                    return new AwsHttpResponse { StatusCode = response.StatusCode, Body = body, Headers = headers };
                }

                var details = _parseError(response.StatusCode, headers, body);
                var requestId = details.RequestId ?? Header(headers, "x-amzn-RequestId") ?? Header(headers, "x-amz-request-id");
                failure = new AwsServiceException(_serviceName, request.Operation, response.StatusCode, details.Code, details.Message, requestId, null);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                failure = new AwsServiceException(_serviceName, request.Operation, 0, "RequestTimeout",
                    $"No response within {options.RequestTimeout.TotalSeconds:0.#} s.", null, null);
            }
            catch (HttpRequestException ex)
            {
                // Connection refused/reset: the same transient class as a 5xx.
                failure = new AwsServiceException(_serviceName, request.Operation, 0, "RequestTimeout",
                    $"The request could not be sent to {_session.GetEndpoint(_service).Authority}: {ex.Message}", null, ex);
            }

            if (!failure.IsRetryable)
            {
                throw failure;
            }

            TimeSpan delay;
            if (failure.IsThrottling)
            {
                // Equal jitter: at least half the ceiling, so a throttled account is not hammered by short draws.
                delay = AwsRetryPolicy.ThrottlingBackoff(attempt, options.RetryBaseDelay, options.RetryMaxDelay);
                var elapsed = TimeProvider.System.GetElapsedTime(started);
                if (elapsed + delay > options.ThrottlingBudget)
                {
                    throw failure.WithRetryBudgetSpent(attempt, elapsed);
                }
            }
            else
            {
                if (++otherFailures >= maxAttempts)
                {
                    throw failure;
                }
                delay = AwsRetryPolicy.Backoff(otherFailures, options.RetryBaseDelay, options.RetryMaxDelay);
            }

            _session.RetryReported?.Invoke(
                $"AWS {_serviceName} {request.Operation}: {failure.ErrorCode} ({failure.StatusCodeText}); retrying in {delay.TotalSeconds:0.0} s (attempt {attempt + 1}" +
                (failure.IsThrottling ? $", throttled for {TimeProvider.System.GetElapsedTime(started).TotalSeconds:0} s of a {options.ThrottlingBudget.TotalMinutes:0.#} min budget)." : $" of {maxAttempts}).") );
            await Task.Delay(delay, cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task<HttpRequestMessage> BuildSignedMessageAsync(AwsHttpRequest request, CancellationToken cancellationToken)
    {
        var credentials = await _session.GetImmutableCredentialsAsync(cancellationToken).ConfigureAwait(false);
        var endpoint = _session.GetEndpoint(_service);
        var basePath = endpoint.AbsolutePath.TrimEnd('/');
        var path = basePath + request.Path;
        var encodedPath = path;
        foreach (var resource in request.PathResources)
        {
            encodedPath = encodedPath.Replace(resource.Key, Uri.EscapeDataString(resource.Value), StringComparison.Ordinal);
        }

        using var signable = new DefaultRequest(SignableRequest.Instance, _serviceName)
        {
            HttpMethod = request.Method.Method,
            Endpoint = new Uri(endpoint.GetLeftPart(UriPartial.Authority)),
            ResourcePath = path,
            Content = request.Body,
            AuthenticationRegion = _session.GetSigningRegion(_service),
        };
        foreach (var resource in request.PathResources)
        {
            // As the SDK's marshallers do: the signer builds the canonical URI from the template and
            // the raw values, encoding them twice for SigV4 (once for the URL, once for the canonical form).
            signable.AddPathResource(resource.Key, resource.Value);
        }

        if (request.Query.Count > 0)
        {
            signable.UseQueryString = true;
            foreach (var member in request.Query)
            {
                signable.Parameters[member.Key] = member.Value;
            }
        }

        foreach (var header in request.Headers)
        {
            signable.Headers[header.Key] = header.Value;
        }

        if (request.ContentType is not null)
        {
            signable.Headers["Content-Type"] = request.ContentType;
        }

        if (credentials.UseToken)
        {
            // The SDK pipeline adds this before signing; the signer alone does not.
            signable.Headers["X-Amz-Security-Token"] = credentials.Token;
        }

        new AWS4Signer().Sign(signable, _signingConfig, new RequestMetrics(), new BasicAWSCredentials(credentials.AccessKey, credentials.SecretKey));

        var query = request.Query.Count == 0 ? string.Empty
            : "?" + string.Join('&', request.Query.OrderBy(q => q.Key, StringComparer.Ordinal).Select(q => $"{Uri.EscapeDataString(q.Key)}={Uri.EscapeDataString(q.Value)}"));
        var message = new HttpRequestMessage(request.Method, new Uri(endpoint.GetLeftPart(UriPartial.Authority) + encodedPath + query));
        var content = new ByteArrayContent(request.Body);
        foreach (var header in signable.Headers)
        {
            if (string.Equals(header.Key, "Content-Type", StringComparison.OrdinalIgnoreCase))
            {
                content.Headers.ContentType = MediaTypeHeaderValue.Parse(header.Value);
            }
            else if (string.Equals(header.Key, "host", StringComparison.OrdinalIgnoreCase))
            {
                // HttpClient derives Host from the URI, the same value that was signed.
            }
            else if (string.Equals(header.Key, "Authorization", StringComparison.OrdinalIgnoreCase))
            {
                message.Headers.TryAddWithoutValidation("Authorization", header.Value);
            }
            else
            {
                message.Headers.TryAddWithoutValidation(header.Key, header.Value);
            }
        }

        if (request.Body.Length > 0 || request.Method != HttpMethod.Get && request.Method != HttpMethod.Delete)
        {
            message.Content = content;
        }
        else
        {
            content.Dispose();
        }

        return message;
    }

    private static Dictionary<string, string> CollectHeaders(HttpResponseMessage response)
    {
        var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var header in response.Headers.Concat(response.Content.Headers))
        {
            headers[header.Key] = string.Join(",", header.Value);
        }

        return headers;
    }

    internal static string? Header(IReadOnlyDictionary<string, string> headers, string name) =>
        headers.TryGetValue(name, out var value) && value.Length > 0 ? value : null;

    /// <summary>DefaultRequest wants the SDK request object it was marshalled from; we have none.</summary>
    private sealed class SignableRequest : AmazonWebServiceRequest
    {
        public static readonly SignableRequest Instance = new();
    }
}
