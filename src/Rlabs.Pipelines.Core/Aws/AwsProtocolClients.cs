using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using System.Xml.Linq;

namespace Rlabs.Pipelines.Aws;

/// <summary>JSON conventions shared by the JSON 1.1 and REST-JSON protocols.</summary>
internal static class AwsJson
{
    public static readonly JsonSerializerOptions Options = CreateOptions();

    private static JsonSerializerOptions CreateOptions()
    {
        var options = new JsonSerializerOptions
        {
            DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
            PropertyNameCaseInsensitive = false,
        };
        options.Converters.Add(new EpochSecondsConverter());
        return options;
    }

    /// <summary>Both JSON error shapes: <c>__type</c> (JSON 1.1) or <c>x-amzn-ErrorType</c> (REST-JSON), with the
    /// namespace before '#' and the URI after ':' stripped as the SDKs do.</summary>
    public static AwsErrorDetails ParseError(HttpStatusCode status, IReadOnlyDictionary<string, string> headers, byte[] body)
    {
        string? code = AwsHttpSender.Header(headers, "x-amzn-ErrorType");
        string? message = null;
        try
        {
            if (body.Length > 0 && JsonNode.Parse(body) is JsonObject json)
            {
                code ??= (string?)json["__type"] ?? (string?)json["code"] ?? (string?)json["Code"];
                message = (string?)json["message"] ?? (string?)json["Message"] ?? (string?)json["errorMessage"];
            }
        }
        catch (JsonException)
        {
            message = Encoding.UTF8.GetString(body);
        }

        code = Sanitize(code) ?? status.ToString();
        return new AwsErrorDetails(code, message ?? $"HTTP {(int)status}", null);
    }

    private static string? Sanitize(string? code)
    {
        if (string.IsNullOrEmpty(code))
        {
            return null;
        }

        var colon = code.IndexOf(':', StringComparison.Ordinal);
        if (colon >= 0)
        {
            code = code[..colon];
        }

        var hash = code.LastIndexOf('#');
        return hash >= 0 ? code[(hash + 1)..] : code;
    }

    /// <summary>JSON 1.1 and REST-JSON send timestamps as epoch seconds with a fraction.</summary>
    private sealed class EpochSecondsConverter : JsonConverter<DateTimeOffset>
    {
        public override DateTimeOffset Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
        {
            if (reader.TokenType == JsonTokenType.String)
            {
                return DateTimeOffset.Parse(reader.GetString()!, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal);
            }

            return DateTimeOffset.FromUnixTimeMilliseconds((long)Math.Round(reader.GetDouble() * 1000));
        }

        public override void Write(Utf8JsonWriter writer, DateTimeOffset value, JsonSerializerOptions options) =>
            writer.WriteNumberValue(value.ToUnixTimeMilliseconds() / 1000.0);
    }
}

/// <summary>The JSON 1.1 protocol (SageMaker, CloudWatch Logs, EventBridge): POST / with X-Amz-Target.</summary>
internal sealed class AwsJsonProtocolClient
{
    private readonly AwsHttpSender _sender;
    private readonly string _targetPrefix;

    public AwsJsonProtocolClient(AwsSession session, AwsService service, string serviceName, string targetPrefix)
    {
        ArgumentNullException.ThrowIfNull(session);
        _sender = new AwsHttpSender(session, service, serviceName, AwsJson.ParseError);
        _targetPrefix = targetPrefix;
    }

    public async Task<TResponse> InvokeAsync<TRequest, TResponse>(string operation, TRequest request, CancellationToken cancellationToken)
        where TResponse : new()
    {
        var response = await _sender.SendAsync(new AwsHttpRequest
        {
            Operation = operation,
            Method = HttpMethod.Post,
            Body = JsonSerializer.SerializeToUtf8Bytes(request, AwsJson.Options),
            ContentType = "application/x-amz-json-1.1",
            Headers = new Dictionary<string, string> { ["X-Amz-Target"] = $"{_targetPrefix}.{operation}" },
        }, cancellationToken).ConfigureAwait(false);
        return response.Body.Length == 0 ? new TResponse() : JsonSerializer.Deserialize<TResponse>(response.Body, AwsJson.Options) ?? new TResponse();
    }
}

/// <summary>The REST-JSON protocol (Lambda): the operation is the method and path, members go in the body.</summary>
internal sealed class AwsRestJsonClient
{
    private readonly AwsHttpSender _sender;

    public AwsRestJsonClient(AwsSession session, AwsService service, string serviceName)
    {
        ArgumentNullException.ThrowIfNull(session);
        _sender = new AwsHttpSender(session, service, serviceName, AwsJson.ParseError);
    }

    public async Task<TResponse> InvokeAsync<TResponse>(
        string operation, HttpMethod method, string path, IReadOnlyDictionary<string, string> pathResources, object? body, CancellationToken cancellationToken,
        IReadOnlyDictionary<string, string>? query = null)
        where TResponse : new()
    {
        var response = await SendAsync(operation, method, path, pathResources, body, cancellationToken, query).ConfigureAwait(false);
        return response.Body.Length == 0 ? new TResponse() : JsonSerializer.Deserialize<TResponse>(response.Body, AwsJson.Options) ?? new TResponse();
    }

    public Task<AwsHttpResponse> SendAsync(
        string operation, HttpMethod method, string path, IReadOnlyDictionary<string, string> pathResources, object? body, CancellationToken cancellationToken,
        IReadOnlyDictionary<string, string>? query = null) =>
        _sender.SendAsync(new AwsHttpRequest
        {
            Operation = operation,
            Method = method,
            Path = path,
            PathResources = pathResources,
            Query = query ?? new Dictionary<string, string>(),
            Body = body is null ? [] : JsonSerializer.SerializeToUtf8Bytes(body, body.GetType(), AwsJson.Options),
            ContentType = body is null ? null : "application/json",
        }, cancellationToken);
}

/// <summary>The Query protocol (IAM): form-encoded POST, XML responses.</summary>
internal sealed class AwsQueryClient
{
    private readonly AwsHttpSender _sender;
    private readonly string _apiVersion;
    private readonly XNamespace _namespace;

    public AwsQueryClient(AwsSession session, AwsService service, string serviceName, string apiVersion, string xmlNamespace)
    {
        ArgumentNullException.ThrowIfNull(session);
        _sender = new AwsHttpSender(session, service, serviceName, ParseError);
        _apiVersion = apiVersion;
        _namespace = xmlNamespace;
    }

    /// <summary>Calls <paramref name="action"/> and returns its <c>&lt;ActionResult&gt;</c> element (empty for actions without one).</summary>
    public async Task<XElement> InvokeAsync(string action, IEnumerable<KeyValuePair<string, string>> parameters, CancellationToken cancellationToken)
    {
        var form = new StringBuilder();
        form.Append("Action=").Append(Uri.EscapeDataString(action)).Append("&Version=").Append(Uri.EscapeDataString(_apiVersion));
        foreach (var parameter in parameters)
        {
            form.Append('&').Append(Uri.EscapeDataString(parameter.Key)).Append('=').Append(Uri.EscapeDataString(parameter.Value));
        }

        var response = await _sender.SendAsync(new AwsHttpRequest
        {
            Operation = action,
            Method = HttpMethod.Post,
            Body = Encoding.UTF8.GetBytes(form.ToString()),
            ContentType = "application/x-www-form-urlencoded; charset=utf-8",
        }, cancellationToken).ConfigureAwait(false);

        var document = XDocument.Parse(Encoding.UTF8.GetString(response.Body));
        return document.Root?.Element(_namespace + action + "Result") ?? new XElement(_namespace + action + "Result");
    }

    public XName Name(string localName) => _namespace + localName;

    private static AwsErrorDetails ParseError(HttpStatusCode status, IReadOnlyDictionary<string, string> headers, byte[] body)
    {
        try
        {
            var root = XDocument.Parse(Encoding.UTF8.GetString(body)).Root;
            // Namespaces differ between services and are sometimes absent: match local names only.
            var error = root?.Descendants().FirstOrDefault(e => e.Name.LocalName == "Error");
            var code = error?.Elements().FirstOrDefault(e => e.Name.LocalName == "Code")?.Value;
            var message = error?.Elements().FirstOrDefault(e => e.Name.LocalName == "Message")?.Value;
            var requestId = root?.Descendants().FirstOrDefault(e => e.Name.LocalName is "RequestId" or "RequestID")?.Value;
            return new AwsErrorDetails(code ?? status.ToString(), message ?? $"HTTP {(int)status}", requestId);
        }
        catch (System.Xml.XmlException)
        {
            return new AwsErrorDetails(status.ToString(), Encoding.UTF8.GetString(body), null);
        }
    }
}
