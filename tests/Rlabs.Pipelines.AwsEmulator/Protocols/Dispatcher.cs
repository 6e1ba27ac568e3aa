using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using System.Xml.Linq;
using Microsoft.AspNetCore.Http;
using Rlabs.Pipelines.AwsEmulator.Services;
using Rlabs.Pipelines.AwsEmulator.Model;

namespace Rlabs.Pipelines.AwsEmulator.Protocols;

/// <summary>
/// Routes a request by the service in its SigV4 credential scope and then by that service's protocol:
/// JSON 1.1 (X-Amz-Target), REST-JSON (method and path from the model), Query and EC2 (Action=), S3.
/// </summary>
public sealed partial class Dispatcher
{
    private readonly EmulatorState _emulator;
    private readonly AsyncLocal<bool> _currentHasToken = new();
    private readonly AsyncLocal<RawRequest?> _currentRaw = new();

    public Dispatcher(EmulatorState emulator)
    {
        _emulator = emulator;
    }

    public async Task HandleAsync(HttpContext http)
    {
        ArgumentNullException.ThrowIfNull(http);
        var request = http.Request;
        var body = await ReadBodyAsync(request).ConfigureAwait(false);
        var auth = ParseAuthorization(request);
        _currentHasToken.Value = request.Headers.ContainsKey("X-Amz-Security-Token") || request.Query.ContainsKey("X-Amz-Security-Token");
        _currentRaw.Value = _emulator.CaptureRawRequests
            ? new RawRequest
            {
                Method = request.Method,
                RawTarget = http.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpRequestFeature>()?.RawTarget ?? request.Path + request.QueryString,
                Headers = request.Headers.ToDictionary(h => h.Key, h => h.Value.ToString(), StringComparer.OrdinalIgnoreCase),
                BodyBase64 = Convert.ToBase64String(body),
            }
            : null;
        if (auth is null && UnsignedStsOperation(request, body))
        {
            // AssumeRoleWithWebIdentity is not signed: the caller has only its token. No signature, no region.
            auth = (string.Empty, "us-east-1", "sts");
        }

        if (auth is null)
        {
            await WriteAsync(http, 403, "application/xml",
                "<ErrorResponse><Error><Type>Sender</Type><Code>MissingAuthenticationToken</Code><Message>Request is missing Authentication Token</Message></Error><RequestId>none</RequestId></ErrorResponse>").ConfigureAwait(false);
            return;
        }

        if (auth.Value.Service == "s3")
        {
            await _emulator.S3.HandleAsync(http, body, auth.Value.Region, auth.Value.AccessKeyId, _emulator).ConfigureAwait(false);
            return;
        }

        if (!_emulator.Services.TryGetValue(auth.Value.Service, out var service))
        {
            await WriteAsync(http, 400, "application/xml",
                $"<ErrorResponse><Error><Type>Sender</Type><Code>UnknownService</Code><Message>The emulator does not serve '{auth.Value.Service}'.</Message></Error><RequestId>none</RequestId></ErrorResponse>").ConfigureAwait(false);
            return;
        }

        var protocol = service.Model.Protocol;
        var response = protocol switch
        {
            "json" => HandleJson(service, request, body, auth.Value),
            "rest-json" => HandleRestJson(service, request, body, auth.Value),
            "query" or "ec2" => HandleQuery(service, request, body, auth.Value, protocol == "ec2"),
            _ => throw new NotSupportedException(protocol),
        };

        if (response.DelayMs > 0)
        {
            await Task.Delay(response.DelayMs, http.RequestAborted).ConfigureAwait(false);
        }

        foreach (var header in response.Headers)
        {
            http.Response.Headers[header.Key] = header.Value;
        }

        await WriteAsync(http, response.Status, response.ContentType, response.Body).ConfigureAwait(false);
    }

    private sealed class Answer
    {
        public int Status { get; set; } = 200;

        public string ContentType { get; set; } = "application/json";

        public string Body { get; set; } = string.Empty;

        public Dictionary<string, string> Headers { get; } = new(StringComparer.OrdinalIgnoreCase);

        public int DelayMs { get; set; }
    }

    /// <summary>The steps every protocol shares: record, inject faults, validate, invoke.</summary>
    private JsonObject? Run(IEmulatedService service, string operation, JsonObject input, (string AccessKeyId, string Region, string Service) auth,
        string requestId, Answer answer, Func<EmulatorError, bool, EmulatorError> mapValidation, out EmulatorError? error)
    {
        var record = _emulator.Requests.Add(service.Name, operation, auth.Region, auth.AccessKeyId);
        record.Parameters = input.DeepClone();
        record.HasSessionToken = _currentHasToken.Value;
        record.Raw = _currentRaw.Value;
        error = null;
        try
        {
            if (_emulator.IsExpiredKey(auth.AccessKeyId))
            {
                throw service.Model.Protocol switch
                {
                    "query" or "ec2" => new EmulatorError("ExpiredToken", "The security token included in the request is expired", 400),
                    _ => new EmulatorError("ExpiredTokenException", "The security token included in the request is expired", 400),
                };
            }

            if (_emulator.IsUnknownKey(auth.AccessKeyId) && !(service.Name == "sts" && StsService.UnsignedOperations.Contains(operation)))
            {
                throw service.Model.Protocol switch
                {
                    "query" => new EmulatorError("InvalidClientTokenId", "The security token included in the request is invalid.", 403),
                    "ec2" => new EmulatorError("AuthFailure", "AWS was not able to validate the provided access credentials", 401),
                    "rest-json" => new EmulatorError("UnrecognizedClientException", "The security token included in the request is invalid.", 403),
                    _ => new EmulatorError("UnrecognizedClientException", "The security token included in the request is invalid.", 400),
                };
            }

            var (delay, fault) = _emulator.Faults.Take(service.Name, operation);
            answer.DelayMs = delay;
            if (fault is not null && !fault.AfterInvoke && fault.Kind != "AnswerLost")
            {
                throw FaultError(service, fault);
            }

            if (!service.Operations.Contains(operation))
            {
                throw service.Model.Operation(operation) is null
                    ? new EmulatorError("UnknownOperationException", $"Unknown operation {operation}.")
                    : new EmulatorError("NotImplemented", $"The emulator does not implement {service.Name} {operation}.", 501);
            }

            var inputShape = service.Model.InputShapeName(operation);
            if (inputShape is not null)
            {
                var validation = ModelValidator.Validate(service.Model, inputShape, input);
                if (!validation.IsValid)
                {
                    var typeError = validation.TypeErrors.Count > 0;
                    var missing = validation.ConstraintErrors.Any(e => e.EndsWith("Member must not be null", StringComparison.Ordinal));
                    throw mapValidation(new EmulatorError(typeError ? "SerializationException" : "ValidationException", validation.Message), missing);
                }
            }

            var context = new RequestContext
            {
                Service = service.Name,
                Operation = operation,
                Region = auth.Region,
                AccessKeyId = auth.AccessKeyId,
                RequestId = requestId,
                AccountId = _emulator.Options.AccountId,
            };
            var output = service.Invoke(operation, input, context);
            if (fault is not null)
            {
                // AfterInvoke / AnswerLost: the call took effect, but the caller sees an error (as when a connection
                // drops after the service acted): its retry must not act twice.
                throw FaultError(service, fault);
            }

            record.StatusCode = 200;
            return output;
        }
        catch (EmulatorError ex)
        {
            error = ex;
            record.StatusCode = ex.StatusCode ?? service.Model.ErrorStatus(ex.Code, 400);
            record.ErrorCode = ex.Code;
            record.ErrorMessage = ex.Message;
            return null;
        }
    }

    private static EmulatorError FaultError(IEmulatedService service, FaultRule fault)
    {
        var protocol = service.Model.Protocol;
        return fault.Kind switch
        {
            "Throttling" => new EmulatorError(
                fault.ErrorCode ?? (protocol switch { "query" => "Throttling", "ec2" => "RequestLimitExceeded", "rest-json" => "TooManyRequestsException", _ => "ThrottlingException" }),
                fault.Message ?? "Rate exceeded", fault.StatusCode ?? (protocol == "rest-json" ? 429 : protocol == "ec2" ? 503 : 400)),
            "AnswerLost" => new EmulatorError(fault.ErrorCode ?? "InternalFailure", fault.Message ?? "We encountered an internal error. Please try again.", fault.StatusCode ?? 500),
            "ServerError" => new EmulatorError(fault.ErrorCode ?? (protocol == "query" || protocol == "ec2" ? "InternalFailure" : "InternalFailure"),
                fault.Message ?? "We encountered an internal error. Please try again.", fault.StatusCode ?? 500),
            _ => new EmulatorError(fault.ErrorCode ?? "InternalFailure", fault.Message ?? "Injected fault.", fault.StatusCode),
        };
    }

    private Answer HandleJson(IEmulatedService service, HttpRequest request, byte[] body, (string AccessKeyId, string Region, string Service) auth)
    {
        var answer = new Answer { ContentType = "application/x-amz-json-1.1" };
        var requestId = Guid.NewGuid().ToString();
        answer.Headers["x-amzn-RequestId"] = requestId;
        var target = request.Headers["X-Amz-Target"].ToString();
        var dot = target.LastIndexOf('.');
        var operation = dot > 0 ? target[(dot + 1)..] : target;
        JsonObject input;
        EmulatorError? error;
        JsonObject? output;
        if (dot <= 0 || target[..dot] != service.Model.TargetPrefix)
        {
            _emulator.Requests.Add(service.Name, operation, auth.Region, auth.AccessKeyId).ErrorCode = "UnknownOperationException";
            error = new EmulatorError("UnknownOperationException", $"Unknown target '{target}'.");
            output = null;
        }
        else if (!TryParseObject(body, out input))
        {
            _emulator.Requests.Add(service.Name, operation, auth.Region, auth.AccessKeyId).ErrorCode = "SerializationException";
            error = new EmulatorError("SerializationException", "The request body is not a JSON object.");
            output = null;
        }
        else
        {
            // CloudWatch Logs answers model violations with its own code.
            output = Run(service, operation, input, auth, requestId, answer,
                (e, _) => service.Name == "logs" && e.Code == "ValidationException" ? new EmulatorError("InvalidParameterException", e.Message) : e,
                out error);
        }

        if (error is not null)
        {
            answer.Status = error.StatusCode ?? service.Model.ErrorStatus(error.Code, 400);
            answer.Headers["x-amzn-ErrorType"] = error.Code;
            answer.Body = new JsonObject { ["__type"] = error.Code, ["message"] = error.Message }.ToJsonString();
            return answer;
        }

        answer.Body = (output ?? []).ToJsonString();
        return answer;
    }

    private Answer HandleRestJson(IEmulatedService service, HttpRequest request, byte[] body, (string AccessKeyId, string Region, string Service) auth)
    {
        var answer = new Answer();
        var requestId = Guid.NewGuid().ToString();
        answer.Headers["x-amzn-RequestId"] = requestId;
        var path = request.Path.Value ?? "/";
        var route = RestRoute.Match(service.Model, request.Method, path, request.Query.Keys);
        EmulatorError? error;
        JsonObject? output = null;
        if (route is null)
        {
            _emulator.Requests.Add(service.Name, request.Method + " " + path, auth.Region, auth.AccessKeyId).ErrorCode = "UnknownOperationException";
            error = new EmulatorError("UnknownOperationException", $"No {service.Name} operation at {request.Method} {path}.", 404);
        }
        else if (!TryParseObject(body, out var input))
        {
            _emulator.Requests.Add(service.Name, route.Value.Operation, auth.Region, auth.AccessKeyId).ErrorCode = "SerializationException";
            error = new EmulatorError("SerializationException", "The request body is not a JSON object.");
        }
        else
        {
            RestRoute.Bind(service.Model, route.Value, input, request.Query.ToDictionary(q => q.Key, q => q.Value.ToString()),
                request.Headers.ToDictionary(h => h.Key, h => h.Value.ToString(), StringComparer.OrdinalIgnoreCase));
            output = Run(service, route.Value.Operation, input, auth, requestId, answer, (e, _) => e, out error);
        }

        if (error is not null)
        {
            answer.Status = error.StatusCode ?? service.Model.ErrorStatus(error.Code, 400);
            answer.Headers["x-amzn-ErrorType"] = error.Code;
            answer.Body = new JsonObject { ["Type"] = answer.Status >= 500 ? "Service" : "User", ["message"] = error.Message }.ToJsonString();
            return answer;
        }

        var operation = service.Model.Operation(route!.Value.Operation)!;
        answer.Status = (int?)operation["http"]?["responseCode"] ?? 200;
        var outputShape = service.Model.OutputShapeName(route.Value.Operation);
        if (outputShape is not null && output is not null)
        {
            foreach (var member in service.Model.Shape(outputShape)["members"]?.AsObject() ?? [])
            {
                if ((string?)member.Value!["location"] == "header" && output[member.Key] is JsonNode value)
                {
                    answer.Headers[(string)member.Value["locationName"]!] = value.ToString();
                    output.Remove(member.Key);
                }
                else if ((string?)member.Value["location"] == "statusCode")
                {
                    output.Remove(member.Key);
                }
            }
        }

        answer.Body = answer.Status == 204 ? string.Empty : (output ?? []).ToJsonString();
        return answer;
    }

    private Answer HandleQuery(IEmulatedService service, HttpRequest request, byte[] body, (string AccessKeyId, string Region, string Service) auth, bool ec2)
    {
        var answer = new Answer { ContentType = "text/xml" };
        var requestId = Guid.NewGuid().ToString();
        answer.Headers["x-amzn-RequestId"] = requestId;
        var parameters = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var pair in request.Query)
        {
            parameters[pair.Key] = pair.Value.ToString();
        }

        foreach (var pair in Microsoft.AspNetCore.WebUtilities.QueryHelpers.ParseQuery(Encoding.UTF8.GetString(body)))
        {
            parameters[pair.Key] = pair.Value.ToString();
        }

        var operation = parameters.GetValueOrDefault("Action") ?? string.Empty;
        var input = service.Model.Operation(operation) is null
            ? []
            : QueryCodec.Decode(service.Model, service.Model.InputShapeName(operation), parameters, ec2);
        var output = Run(service, operation, input, auth, requestId, answer, (e, missing) => ec2
                ? new EmulatorError(missing ? "MissingParameter" : "InvalidParameterValue", e.Message)
                : new EmulatorError("ValidationError", e.Message),
            out var error);
        XNamespace ns = ec2 ? "http://ec2.amazonaws.com/doc/2016-11-15/" : service.Model.XmlNamespace ?? string.Empty;
        if (error is not null)
        {
            if (error.Code == "UnknownOperationException")
            {
                error = new EmulatorError("InvalidAction", $"The action {operation} is not valid for this web service.");
            }

            answer.Status = error.StatusCode ?? service.Model.ErrorStatus(error.Code, 400);
            answer.Body = ec2
                ? new XElement("Response",
                    new XElement("Errors", new XElement("Error", new XElement("Code", error.Code), new XElement("Message", error.Message))),
                    new XElement("RequestID", requestId)).ToString(SaveOptions.DisableFormatting)
                : new XElement(ns + "ErrorResponse",
                    new XElement(ns + "Error",
                        new XElement(ns + "Type", answer.Status >= 500 ? "Receiver" : "Sender"),
                        new XElement(ns + "Code", error.Code),
                        new XElement(ns + "Message", error.Message)),
                    new XElement(ns + "RequestId", requestId)).ToString(SaveOptions.DisableFormatting);
            return answer;
        }

        var root = new XElement(ns + operation + "Response");
        var outputShape = service.Model.OutputShapeName(operation);
        if (ec2)
        {
            root.Add(new XElement(ns + "requestId", requestId));
            if (outputShape is not null)
            {
                QueryCodec.Encode(service.Model, outputShape, output ?? [], root, ec2: true);
            }
        }
        else
        {
            var wrapper = (string?)service.Model.Operation(operation)!["output"]?["resultWrapper"];
            if (wrapper is not null && outputShape is not null)
            {
                var result = new XElement(ns + wrapper);
                QueryCodec.Encode(service.Model, outputShape, output ?? [], result, ec2: false);
                root.Add(result);
            }

            root.Add(new XElement(ns + "ResponseMetadata", new XElement(ns + "RequestId", requestId)));
        }

        answer.Body = new XDocument(new XDeclaration("1.0", "UTF-8", null), root).ToString(SaveOptions.DisableFormatting);
        return answer;
    }

    private static bool TryParseObject(byte[] body, out JsonObject input)
    {
        input = [];
        if (body.Length == 0)
        {
            return true;
        }

        try
        {
            if (JsonNode.Parse(body) is JsonObject obj)
            {
                input = obj;
                return true;
            }
        }
        catch (JsonException)
        {
        }

        return false;
    }

    internal static async Task<byte[]> ReadBodyAsync(HttpRequest request)
    {
        using var buffer = new MemoryStream();
        await request.Body.CopyToAsync(buffer).ConfigureAwait(false);
        return buffer.ToArray();
    }

    internal static async Task WriteAsync(HttpContext http, int status, string contentType, string body)
    {
        http.Response.StatusCode = status;
        if (body.Length > 0 || status != 204)
        {
            http.Response.ContentType = contentType;
        }

        if (body.Length > 0)
        {
            await http.Response.WriteAsync(body).ConfigureAwait(false);
        }
    }

    private static bool UnsignedStsOperation(HttpRequest request, byte[] body)
    {
        if (!HttpMethods.IsPost(request.Method) || !(request.ContentType?.StartsWith("application/x-www-form-urlencoded", StringComparison.OrdinalIgnoreCase) ?? false))
        {
            return false;
        }
        var form = Microsoft.AspNetCore.WebUtilities.QueryHelpers.ParseQuery(Encoding.UTF8.GetString(body));
        return form.TryGetValue("Action", out var action) && StsService.UnsignedOperations.Contains(action.ToString());
    }

    /// <summary>Service, region and access key from "AWS4-HMAC-SHA256 Credential=AKID/date/region/service/aws4_request, …"
    /// or from a presigned URL's X-Amz-Credential.</summary>
    internal static (string AccessKeyId, string Region, string Service)? ParseAuthorization(HttpRequest request)
    {
        var credential = request.Query["X-Amz-Credential"].ToString();
        var header = request.Headers.Authorization.ToString();
        var match = CredentialPattern().Match(header);
        if (match.Success)
        {
            credential = match.Groups[1].Value;
        }

        var parts = credential.Split('/');
        return parts.Length == 5 ? (parts[0], parts[2], parts[3]) : null;
    }

    [GeneratedRegex(@"Credential=([^,\s]+)")]
    private static partial Regex CredentialPattern();
}
