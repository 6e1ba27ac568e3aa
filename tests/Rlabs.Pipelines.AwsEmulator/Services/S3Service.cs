using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using System.Xml.Linq;
using Microsoft.AspNetCore.Http;
using Rlabs.Pipelines.AwsEmulator.Model;
using Rlabs.Pipelines.AwsEmulator.Protocols;

namespace Rlabs.Pipelines.AwsEmulator.Services;

/// <summary>
/// Path-style S3, enough for AWSSDK.S3's TransferUtility and boto3: buckets, objects (ranged GETs),
/// multipart uploads, listings, batch deletes, public-access-block and encryption settings. Requests
/// are bound to the model's input shapes (uri, querystring, header and XML payload members) and validated.
/// </summary>
public sealed partial class S3Service
{
    private const long MinimumPartSize = 5L * 1024 * 1024;
    private static readonly XNamespace s_ns = "http://s3.amazonaws.com/doc/2006-03-01/";

    private readonly Dictionary<string, Bucket> _buckets = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Upload> _uploads = new(StringComparer.Ordinal);

    public S3Service(BotocoreModel model)
    {
        Model = model;
    }

    public BotocoreModel Model { get; }

    /// <summary>The account that owns the buckets the emulator's callers create.</summary>
    public string AccountId { get; init; } = "123456789012";

    public void Reset()
    {
        lock (_buckets)
        {
            _buckets.Clear();
            _uploads.Clear();
        }
    }

    /// <summary>The bytes of an object, for tests and the job executor; null when absent.</summary>
    public byte[]? GetObjectBytes(string bucket, string key)
    {
        lock (_buckets)
        {
            return _buckets.TryGetValue(bucket, out var b) && b.Objects.TryGetValue(key, out var o) ? o.Data : null;
        }
    }

    /// <summary>Keys under a prefix, for tests and the job executor.</summary>
    public IReadOnlyList<string> ListKeys(string bucket, string prefix)
    {
        lock (_buckets)
        {
            return _buckets.TryGetValue(bucket, out var b)
                ? b.Objects.Keys.Where(k => k.StartsWith(prefix, StringComparison.Ordinal)).Order(StringComparer.Ordinal).ToList()
                : [];
        }
    }

    /// <summary>Writes an object directly, creating the bucket if needed (job executor outputs, test setup).</summary>
    public void PutObjectBytes(string bucket, string key, byte[] data)
    {
        lock (_buckets)
        {
            if (!_buckets.TryGetValue(bucket, out var b))
            {
                b = new Bucket(bucket, DateTimeOffset.UtcNow, AccountId);
                _buckets[bucket] = b;
            }

            b.Objects[key] = new S3Object(data, "application/octet-stream", new Dictionary<string, string>(), Md5ETag(data), DateTimeOffset.UtcNow);
        }
    }

    /// <summary>Creates a bucket that belongs to another account (a bucket name taken by someone else).</summary>
    public void CreateForeignBucket(string bucket, string ownerAccountId)
    {
        lock (_buckets)
        {
            _buckets[bucket] = new Bucket(bucket, DateTimeOffset.UtcNow, ownerAccountId);
        }
    }

    /// <summary>Replaces an object's bytes (as a writer with access to the bucket could); no checksum is kept.</summary>
    public void ReplaceObjectBytes(string bucket, string key, byte[] data)
    {
        lock (_buckets)
        {
            var objects = _buckets[bucket].Objects;
            objects[key] = objects[key] with { Data = data, ETag = Md5ETag(data), ChecksumSha256 = null };
        }
    }

    public bool BucketExists(string bucket)
    {
        lock (_buckets)
        {
            return _buckets.ContainsKey(bucket);
        }
    }

    internal async Task HandleAsync(HttpContext http, byte[] rawBody, string region, string accessKeyId, EmulatorState emulator)
    {
        var request = http.Request;
        var requestId = Convert.ToHexString(RandomNumberGenerator.GetBytes(8));
        http.Response.Headers["x-amz-request-id"] = requestId;
        http.Response.Headers["x-amz-id-2"] = requestId;
        var path = request.Path.Value ?? "/";
        var segments = path.TrimStart('/').Split('/', 2);
        var bucket = Uri.UnescapeDataString(segments[0]);
        // SDKs send bucket-level calls both as "/bucket" and "/bucket/".
        var key = segments.Length > 1 && segments[1].Length > 0 ? Uri.UnescapeDataString(segments[1]) : null;
        var query = request.Query.ToDictionary(q => q.Key, q => q.Value.ToString(), StringComparer.Ordinal);
        var headers = request.Headers.ToDictionary(h => h.Key, h => h.Value.ToString(), StringComparer.OrdinalIgnoreCase);
        var operation = Operation(request.Method, bucket, key, query, headers);
        var record = emulator.Requests.Add("s3", operation, region, accessKeyId);
        try
        {
            var body = DecodeBody(rawBody, headers);
            var input = new JsonObject();
            if (Model.Operation(operation) is not null)
            {
                var route = new RestRoute.Matched(operation, new Dictionary<string, string>(StringComparer.Ordinal)
                {
                    ["Bucket"] = bucket,
                    ["Key"] = key ?? string.Empty,
                });
                if (key is null)
                {
                    ((Dictionary<string, string>)route.PathValues).Remove("Key");
                }

                RestRoute.Bind(Model, route, input, query, headers);
                BindPayload(operation, input, body);
            }

            record.Parameters = input.DeepClone();
            if (emulator.IsExpiredKey(accessKeyId))
            {
                throw new EmulatorError("ExpiredToken", "The provided token has expired.", 400);
            }

            if (emulator.IsUnknownKey(accessKeyId))
            {
                throw new EmulatorError("InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records.", 403);
            }

            var (delay, fault) = emulator.Faults.Take("s3", operation);
            if (delay > 0)
            {
                await Task.Delay(delay, http.RequestAborted).ConfigureAwait(false);
            }

            if (fault is not null)
            {
                throw fault.Kind switch
                {
                    "Throttling" => new EmulatorError(fault.ErrorCode ?? "SlowDown", fault.Message ?? "Please reduce your request rate.", fault.StatusCode ?? 503),
                    "ServerError" => new EmulatorError(fault.ErrorCode ?? "InternalError", fault.Message ?? "We encountered an internal error. Please try again.", fault.StatusCode ?? 500),
                    _ => new EmulatorError(fault.ErrorCode ?? "InternalError", fault.Message ?? "Injected fault.", fault.StatusCode ?? 500),
                };
            }

            if (Model.InputShapeName(operation) is { } inputShape)
            {
                var validation = ModelValidator.Validate(Model, inputShape, input);
                if (!validation.IsValid)
                {
                    throw new EmulatorError(validation.TypeErrors.Count > 0 ? "MalformedXML" : "InvalidArgument", validation.Message, 400);
                }
            }

            if (!BucketNamePattern().IsMatch(bucket) && operation == "CreateBucket")
            {
                throw new EmulatorError("InvalidBucketName", "The specified bucket is not valid.", 400);
            }

            await ExecuteAsync(http, operation, bucket, key, query, headers, body, input).ConfigureAwait(false);
            record.StatusCode = http.Response.StatusCode;
        }
        catch (EmulatorError ex)
        {
            record.StatusCode = ex.StatusCode ?? 400;
            record.ErrorCode = ex.Code;
            record.ErrorMessage = ex.Message;
            http.Response.StatusCode = record.StatusCode;
            if (!HttpMethods.IsHead(request.Method))
            {
                http.Response.ContentType = "application/xml";
                await http.Response.WriteAsync(new XElement("Error",
                    new XElement("Code", ex.Code),
                    new XElement("Message", ex.Message),
                    new XElement("BucketName", bucket),
                    new XElement("RequestId", requestId)).ToString(SaveOptions.DisableFormatting)).ConfigureAwait(false);
            }
        }
    }

    private static string Operation(string method, string bucket, string? key, Dictionary<string, string> query, Dictionary<string, string> headers)
    {
        if (bucket.Length == 0)
        {
            return "ListBuckets";
        }

        if (key is null)
        {
            return method switch
            {
                "PUT" when query.ContainsKey("publicAccessBlock") => "PutPublicAccessBlock",
                "PUT" when query.ContainsKey("encryption") => "PutBucketEncryption",
                "PUT" when query.ContainsKey("lifecycle") => "PutBucketLifecycleConfiguration",
                "GET" when query.ContainsKey("lifecycle") => "GetBucketLifecycleConfiguration",
                "DELETE" when query.ContainsKey("lifecycle") => "DeleteBucketLifecycle",
                "PUT" => "CreateBucket",
                "HEAD" => "HeadBucket",
                "GET" when query.GetValueOrDefault("list-type") == "2" => "ListObjectsV2",
                "GET" => "ListObjects",
                "POST" when query.ContainsKey("delete") => "DeleteObjects",
                "DELETE" => "DeleteBucket",
                _ => method + " bucket",
            };
        }

        return method switch
        {
            "PUT" when query.ContainsKey("partNumber") && query.ContainsKey("uploadId") => "UploadPart",
            "PUT" when headers.ContainsKey("x-amz-copy-source") => "CopyObject",
            "PUT" => "PutObject",
            "GET" when query.ContainsKey("tagging") => "GetObjectTagging",
            "GET" => "GetObject",
            "HEAD" => "HeadObject",
            "POST" when query.ContainsKey("uploads") => "CreateMultipartUpload",
            "POST" when query.ContainsKey("uploadId") => "CompleteMultipartUpload",
            "DELETE" when query.ContainsKey("uploadId") => "AbortMultipartUpload",
            "DELETE" => "DeleteObject",
            _ => method + " object",
        };
    }

    private void BindPayload(string operation, JsonObject input, byte[] body)
    {
        var shapeName = Model.InputShapeName(operation);
        if (shapeName is null)
        {
            return;
        }

        var shape = Model.Shape(shapeName);
        var payload = (string?)shape["payload"];
        if (payload is null)
        {
            return;
        }

        var member = shape["members"]![payload]!;
        var memberShape = Model.Shape((string)member["shape"]!);
        if ((string)memberShape["type"]! == "structure")
        {
            if (body.Length == 0)
            {
                return;
            }

            XElement root;
            try
            {
                root = XDocument.Parse(Encoding.UTF8.GetString(body)).Root!;
            }
            catch (System.Xml.XmlException)
            {
                throw new EmulatorError("MalformedXML", "The XML you provided was not well-formed or did not validate against our published schema.", 400);
            }

            input[payload] = XmlDecode((string)member["shape"]!, root);
        }
    }

    private JsonNode? XmlDecode(string shapeName, XElement element)
    {
        var shape = Model.Shape(shapeName);
        switch ((string)shape["type"]!)
        {
            case "structure":
                var obj = new JsonObject();
                foreach (var member in shape["members"]?.AsObject() ?? [])
                {
                    var memberShapeName = (string)member.Value!["shape"]!;
                    var memberShape = Model.Shape(memberShapeName);
                    var name = (string?)member.Value["locationName"] ?? member.Key;
                    if ((string)memberShape["type"]! == "list" && (bool?)memberShape["flattened"] == true)
                    {
                        var itemShape = (string)memberShape["member"]!["shape"]!;
                        var items = element.Elements().Where(e => e.Name.LocalName == name).Select(e => XmlDecode(itemShape, e)).ToArray();
                        if (items.Length > 0)
                        {
                            obj[member.Key] = new JsonArray(items);
                        }

                        continue;
                    }

                    var child = element.Elements().FirstOrDefault(e => e.Name.LocalName == name);
                    if (child is not null)
                    {
                        obj[member.Key] = XmlDecode(memberShapeName, child);
                    }
                }

                return obj;
            case "list":
                var itemName = (string?)shape["member"]!["locationName"] ?? "member";
                return new JsonArray(element.Elements().Where(e => e.Name.LocalName == itemName)
                    .Select(e => XmlDecode((string)shape["member"]!["shape"]!, e)).ToArray());
            case "integer" or "long":
                return long.TryParse(element.Value, CultureInfo.InvariantCulture, out var l) ? JsonValue.Create(l) : JsonValue.Create(element.Value);
            case "boolean":
                return element.Value is "true" or "false" ? JsonValue.Create(element.Value == "true") : JsonValue.Create(element.Value);
            default:
                return JsonValue.Create(element.Value);
        }
    }

    /// <summary>Undoes aws-chunked framing ("size;chunk-signature=…\r\ndata\r\n…0\r\ntrailers").</summary>
    private static byte[] DecodeBody(byte[] body, Dictionary<string, string> headers)
    {
        var sha = headers.GetValueOrDefault("x-amz-content-sha256") ?? string.Empty;
        var encoding = headers.GetValueOrDefault("Content-Encoding") ?? string.Empty;
        if (!sha.StartsWith("STREAMING-", StringComparison.Ordinal) && !encoding.Contains("aws-chunked", StringComparison.Ordinal))
        {
            return body;
        }

        using var output = new MemoryStream();
        var position = 0;
        while (position < body.Length)
        {
            var lineEnd = IndexOfCrLf(body, position);
            if (lineEnd < 0)
            {
                throw new EmulatorError("IncompleteBody", "The aws-chunked body is truncated.", 400);
            }

            var header = Encoding.ASCII.GetString(body, position, lineEnd - position);
            var size = int.Parse(header.Split(';')[0], NumberStyles.HexNumber, CultureInfo.InvariantCulture);
            position = lineEnd + 2;
            if (size == 0)
            {
                // Trailing headers (flexible checksums) follow the last chunk, one "name:value" per line.
                foreach (var line in Encoding.ASCII.GetString(body, position, body.Length - position).Split("\r\n", StringSplitOptions.RemoveEmptyEntries))
                {
                    var colon = line.IndexOf(':', StringComparison.Ordinal);
                    if (colon > 0 && !line.StartsWith("x-amz-trailer-signature", StringComparison.OrdinalIgnoreCase))
                    {
                        headers[line[..colon].Trim()] = line[(colon + 1)..].Trim();
                    }
                }

                break;
            }

            output.Write(body, position, size);
            position += size + 2;
        }

        return output.ToArray();
    }

    private static int IndexOfCrLf(byte[] data, int start)
    {
        for (var i = start; i + 1 < data.Length; i++)
        {
            if (data[i] == '\r' && data[i + 1] == '\n')
            {
                return i;
            }
        }

        return -1;
    }

    private async Task ExecuteAsync(HttpContext http, string operation, string bucketName, string? key,
        Dictionary<string, string> query, Dictionary<string, string> headers, byte[] body, JsonObject input)
    {
        var response = http.Response;
        string? xml = null;
        byte[]? content = null;
        lock (_buckets)
        {
            var now = DateTimeOffset.UtcNow;
            Bucket RequireBucket()
            {
                var found = _buckets.GetValueOrDefault(bucketName) ?? throw new EmulatorError("NoSuchBucket", "The specified bucket does not exist", 404);
                // S3 answers 403 when the bucket exists but belongs to another account than x-amz-expected-bucket-owner.
                if (headers.GetValueOrDefault("x-amz-expected-bucket-owner") is { Length: > 0 } expected && expected != found.Owner)
                {
                    throw new EmulatorError("AccessDenied", "Access Denied", 403);
                }
                return found;
            }

            switch (operation)
            {
                case "CreateBucket":
                    if (_buckets.ContainsKey(bucketName))
                    {
                        throw new EmulatorError("BucketAlreadyOwnedByYou", "Your previous request to create the named bucket succeeded and you already own it.", 409);
                    }

                    _buckets[bucketName] = new Bucket(bucketName, now, AccountId);
                    response.Headers.Location = "/" + bucketName;
                    break;
                case "HeadBucket":
                    RequireBucket();
                    break;
                case "DeleteBucket":
                    if (RequireBucket().Objects.Count > 0)
                    {
                        throw new EmulatorError("BucketNotEmpty", "The bucket you tried to delete is not empty", 409);
                    }

                    _buckets.Remove(bucketName);
                    response.StatusCode = 204;
                    break;
                case "PutPublicAccessBlock":
                    RequireBucket().PublicAccessBlock = input["PublicAccessBlockConfiguration"]?.DeepClone();
                    break;
                case "PutBucketEncryption":
                    RequireBucket().Encryption = input["ServerSideEncryptionConfiguration"]?.DeepClone();
                    break;
                case "PutBucketLifecycleConfiguration":
                {
                    // Kept as sent (validated against the model above) and answered back whole by Get.
                    var bucket = RequireBucket();
                    var rules = input["LifecycleConfiguration"]?["Rules"]?.AsArray();
                    var ids = rules?.Select(r => (string?)r?["ID"]).Where(id => id is not null).ToList() ?? [];
                    if (ids.Count != ids.Distinct(StringComparer.Ordinal).Count())
                    {
                        throw new EmulatorError("InvalidArgument", "Rule ID must be unique. Found same ID for more than one rule", 400);
                    }
                    bucket.Lifecycle = XDocument.Parse(Encoding.UTF8.GetString(body)).Root!;
                    break;
                }

                case "GetBucketLifecycleConfiguration":
                {
                    var lifecycle = RequireBucket().Lifecycle
                        ?? throw new EmulatorError("NoSuchLifecycleConfiguration", "The lifecycle configuration does not exist", 404);
                    xml = new XElement(s_ns + "LifecycleConfiguration", lifecycle.Elements().Select(Namespaced)).ToString(SaveOptions.DisableFormatting);
                    break;
                }

                case "DeleteBucketLifecycle":
                    RequireBucket().Lifecycle = null;
                    response.StatusCode = 204;
                    break;
                case "GetObjectTagging":
                {
                    var found = RequireBucket().Objects.GetValueOrDefault(key!)
                        ?? throw new EmulatorError("NoSuchKey", "The specified key does not exist.", 404);
                    var tags = System.Web.HttpUtility.ParseQueryString(found.Tagging ?? string.Empty);
                    xml = new XElement(s_ns + "Tagging", new XElement(s_ns + "TagSet",
                        tags.AllKeys.Where(k => k is not null).Select(k => new XElement(s_ns + "Tag",
                            new XElement(s_ns + "Key", k), new XElement(s_ns + "Value", tags[k]))))).ToString(SaveOptions.DisableFormatting);
                    break;
                }

                case "ListObjectsV2":
                    xml = List(RequireBucket(), query);
                    break;
                case "DeleteObjects":
                    xml = DeleteMany(RequireBucket(), input);
                    break;
                case "PutObject":
                {
                    var bucket = RequireBucket();
                    var metadata = headers.Where(h => h.Key.StartsWith("x-amz-meta-", StringComparison.OrdinalIgnoreCase))
                        .ToDictionary(h => h.Key.ToLowerInvariant(), h => h.Value, StringComparer.Ordinal);
                    var stored = new S3Object(body, headers.GetValueOrDefault("Content-Type") ?? "binary/octet-stream", metadata, Md5ETag(body), now, Sha256Checksum(headers, body, headers.ContainsKey("x-amz-checksum-sha256") || IsSha256(headers)), headers.GetValueOrDefault("x-amz-tagging"));
                    bucket.Objects[key!] = stored;
                    response.Headers.ETag = stored.ETag;
                    break;
                }

                case "CopyObject":
                {
                    var bucket = RequireBucket();
                    var source = Uri.UnescapeDataString(headers["x-amz-copy-source"]).TrimStart('/').Split('/', 2);
                    var copied = _buckets.GetValueOrDefault(source[0])?.Objects.GetValueOrDefault(source.Length > 1 ? source[1] : string.Empty)
                        ?? throw new EmulatorError("NoSuchKey", "The specified key does not exist.", 404);
                    bucket.Objects[key!] = copied with { LastModified = now };
                    xml = new XElement(s_ns + "CopyObjectResult", new XElement(s_ns + "LastModified", Iso(now)), new XElement(s_ns + "ETag", copied.ETag)).ToString(SaveOptions.DisableFormatting);
                    break;
                }

                case "GetObject" or "HeadObject":
                {
                    var stored = RequireBucket().Objects.GetValueOrDefault(key!) ?? throw new EmulatorError("NoSuchKey", "The specified key does not exist.", 404);
                    response.Headers.ETag = stored.ETag;
                    response.Headers.LastModified = stored.LastModified.ToString("R", CultureInfo.InvariantCulture);
                    response.Headers.AcceptRanges = "bytes";
                    foreach (var meta in stored.Metadata)
                    {
                        response.Headers[meta.Key] = meta.Value;
                    }

                    if (stored.ChecksumSha256 is { } checksum && string.Equals(headers.GetValueOrDefault("x-amz-checksum-mode"), "ENABLED", StringComparison.Ordinal))
                    {
                        response.Headers["x-amz-checksum-sha256"] = checksum;
                        response.Headers["x-amz-checksum-type"] = checksum.Contains('-', StringComparison.Ordinal) ? "COMPOSITE" : "FULL_OBJECT";
                    }

                    response.ContentType = stored.ContentType;
                    var data = stored.Data;
                    if (headers.GetValueOrDefault("Range") is { } range && RangePattern().Match(range) is { Success: true } m)
                    {
                        var first = long.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture);
                        var last = m.Groups[2].Success ? Math.Min(long.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture), data.Length - 1) : data.Length - 1;
                        if (first >= data.Length)
                        {
                            throw new EmulatorError("InvalidRange", "The requested range is not satisfiable", 416);
                        }

                        response.StatusCode = 206;
                        response.Headers.ContentRange = $"bytes {first}-{last}/{data.Length}";
                        data = data[(int)first..(int)(last + 1)];
                    }

                    response.ContentLength = data.Length;
                    if (operation == "GetObject")
                    {
                        content = data;
                    }

                    break;
                }

                case "DeleteObject":
                    RequireBucket().Objects.Remove(key!);
                    response.StatusCode = 204;
                    break;
                case "CreateMultipartUpload":
                {
                    RequireBucket();
                    var uploadId = Convert.ToHexString(RandomNumberGenerator.GetBytes(16));
                    _uploads[uploadId] = new Upload(bucketName, key!, headers.GetValueOrDefault("Content-Type") ?? "binary/octet-stream")
                    {
                        Sha256 = string.Equals(headers.GetValueOrDefault("x-amz-checksum-algorithm"), "SHA256", StringComparison.OrdinalIgnoreCase),
                    };
                    if (_uploads[uploadId].Sha256)
                    {
                        response.Headers["x-amz-checksum-algorithm"] = "SHA256";
                    }
                    xml = new XElement(s_ns + "InitiateMultipartUploadResult",
                        new XElement(s_ns + "Bucket", bucketName), new XElement(s_ns + "Key", key), new XElement(s_ns + "UploadId", uploadId)).ToString(SaveOptions.DisableFormatting);
                    break;
                }

                case "UploadPart":
                {
                    var upload = FindUpload(query, bucketName, key!);
                    var partNumber = int.Parse(query["partNumber"], CultureInfo.InvariantCulture);
                    if (partNumber is < 1 or > 10000)
                    {
                        throw new EmulatorError("InvalidArgument", "Part number must be an integer between 1 and 10000, inclusive", 400);
                    }

                    var etag = Md5ETag(body);
                    var partChecksum = Sha256Checksum(headers, body, upload.Sha256);
                    upload.Parts[partNumber] = (body, etag, partChecksum);
                    response.Headers.ETag = etag;
                    if (partChecksum is not null)
                    {
                        response.Headers["x-amz-checksum-sha256"] = partChecksum;
                    }
                    break;
                }

                case "CompleteMultipartUpload":
                {
                    var upload = FindUpload(query, bucketName, key!);
                    var requested = input["MultipartUpload"]?["Parts"]?.AsArray() ?? [];
                    if (requested.Count == 0)
                    {
                        throw new EmulatorError("MalformedXML", "The XML you provided was not well-formed or did not validate against our published schema.", 400);
                    }

                    using var combined = new MemoryStream();
                    using var md5s = new MemoryStream();
                    using var sha256s = new MemoryStream();
                    var previous = 0;
                    for (var i = 0; i < requested.Count; i++)
                    {
                        var number = (int)(long)requested[i]!["PartNumber"]!;
                        var etag = (string?)requested[i]!["ETag"];
                        if (number <= previous)
                        {
                            throw new EmulatorError("InvalidPartOrder", "The list of parts was not in ascending order.", 400);
                        }

                        previous = number;
                        if (!upload.Parts.TryGetValue(number, out var part) || (etag is not null && etag.Trim('"') != part.ETag.Trim('"')))
                        {
                            throw new EmulatorError("InvalidPart", "One or more of the specified parts could not be found.", 400);
                        }

                        if (i < requested.Count - 1 && part.Data.Length < MinimumPartSize)
                        {
                            throw new EmulatorError("EntityTooSmall", "Your proposed upload is smaller than the minimum allowed object size.", 400);
                        }

                        combined.Write(part.Data);
                        md5s.Write(Convert.FromHexString(part.ETag.Trim('"')));
                        if (part.Sha256 is { } partSum)
                        {
                            sha256s.Write(Convert.FromBase64String(partSum));
                        }
                    }

                    var finalETag = $"\"{Convert.ToHexString(MD5.HashData(md5s.ToArray())).ToLowerInvariant()}-{requested.Count}\"";
                    // A composite checksum, as S3 computes it: the checksum of the parts' checksums, then "-<parts>".
                    var composite = upload.Sha256 ? $"{Convert.ToBase64String(SHA256.HashData(sha256s.ToArray()))}-{requested.Count}" : null;
                    RequireBucket().Objects[key!] = new S3Object(combined.ToArray(), upload.ContentType, new Dictionary<string, string>(), finalETag, now, composite);
                    _uploads.Remove(query["uploadId"]);
                    xml = new XElement(s_ns + "CompleteMultipartUploadResult",
                        new XElement(s_ns + "Location", $"/{bucketName}/{key}"), new XElement(s_ns + "Bucket", bucketName),
                        new XElement(s_ns + "Key", key), new XElement(s_ns + "ETag", finalETag)).ToString(SaveOptions.DisableFormatting);
                    break;
                }

                case "AbortMultipartUpload":
                    FindUpload(query, bucketName, key!);
                    _uploads.Remove(query["uploadId"]);
                    response.StatusCode = 204;
                    break;
                default:
                    throw new EmulatorError("NotImplemented", $"The emulator does not implement S3 {operation}.", 501);
            }
        }

        if (xml is not null)
        {
            response.ContentType = "application/xml";
            await response.WriteAsync("<?xml version=\"1.0\" encoding=\"UTF-8\"?>" + xml).ConfigureAwait(false);
        }
        else if (content is not null)
        {
            await response.Body.WriteAsync(content).ConfigureAwait(false);
        }
    }

    private Upload FindUpload(Dictionary<string, string> query, string bucket, string key)
    {
        if (!_uploads.TryGetValue(query.GetValueOrDefault("uploadId") ?? string.Empty, out var upload) || upload.Bucket != bucket || upload.Key != key)
        {
            throw new EmulatorError("NoSuchUpload", "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.", 404);
        }

        return upload;
    }

    private static string List(Bucket bucket, Dictionary<string, string> query)
    {
        var prefix = query.GetValueOrDefault("prefix") ?? string.Empty;
        var delimiter = query.GetValueOrDefault("delimiter");
        var maxKeys = query.TryGetValue("max-keys", out var mk) ? int.Parse(mk, CultureInfo.InvariantCulture) : 1000;
        var token = query.GetValueOrDefault("continuation-token");
        var startAfter = token is not null ? Encoding.UTF8.GetString(Convert.FromBase64String(token)) : query.GetValueOrDefault("start-after");
        var urlEncode = query.GetValueOrDefault("encoding-type") == "url";
        string Enc(string value) => urlEncode ? Uri.EscapeDataString(value).Replace("%2F", "/", StringComparison.Ordinal) : value;

        var entries = new List<(string Key, S3Object? Object)>();
        var prefixes = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (key, obj) in bucket.Objects.OrderBy(o => o.Key, StringComparer.Ordinal))
        {
            if (!key.StartsWith(prefix, StringComparison.Ordinal) || (startAfter is not null && string.CompareOrdinal(key, startAfter) <= 0))
            {
                continue;
            }

            if (!string.IsNullOrEmpty(delimiter))
            {
                var index = key.IndexOf(delimiter, prefix.Length, StringComparison.Ordinal);
                if (index >= 0)
                {
                    var common = key[..(index + delimiter.Length)];
                    if (prefixes.Add(common))
                    {
                        entries.Add((common, null));
                    }

                    continue;
                }
            }

            entries.Add((key, obj));
        }

        var page = entries.Take(maxKeys).ToList();
        var truncated = entries.Count > page.Count;
        var result = new XElement(s_ns + "ListBucketResult",
            new XElement(s_ns + "Name", bucket.Name),
            new XElement(s_ns + "Prefix", Enc(prefix)),
            new XElement(s_ns + "KeyCount", page.Count),
            new XElement(s_ns + "MaxKeys", maxKeys),
            new XElement(s_ns + "IsTruncated", truncated ? "true" : "false"));
        if (delimiter is not null)
        {
            result.Add(new XElement(s_ns + "Delimiter", Enc(delimiter)));
        }

        if (urlEncode)
        {
            result.Add(new XElement(s_ns + "EncodingType", "url"));
        }

        if (token is not null)
        {
            result.Add(new XElement(s_ns + "ContinuationToken", token));
        }

        if (truncated)
        {
            result.Add(new XElement(s_ns + "NextContinuationToken", Convert.ToBase64String(Encoding.UTF8.GetBytes(page[^1].Key))));
        }

        foreach (var (key, obj) in page)
        {
            result.Add(obj is null
                ? new XElement(s_ns + "CommonPrefixes", new XElement(s_ns + "Prefix", Enc(key)))
                : new XElement(s_ns + "Contents",
                    new XElement(s_ns + "Key", Enc(key)),
                    new XElement(s_ns + "LastModified", Iso(obj.LastModified)),
                    new XElement(s_ns + "ETag", obj.ETag),
                    new XElement(s_ns + "Size", obj.Data.Length),
                    new XElement(s_ns + "StorageClass", "STANDARD")));
        }

        return result.ToString(SaveOptions.DisableFormatting);
    }

    private static string DeleteMany(Bucket bucket, JsonObject input)
    {
        var delete = input["Delete"] ?? throw new EmulatorError("MalformedXML", "The XML you provided was not well-formed or did not validate against our published schema.", 400);
        var quiet = (bool?)delete["Quiet"] == true;
        var result = new XElement(s_ns + "DeleteResult");
        foreach (var item in delete["Objects"]?.AsArray() ?? [])
        {
            var key = (string)item!["Key"]!;
            bucket.Objects.Remove(key);
            if (!quiet)
            {
                result.Add(new XElement(s_ns + "Deleted", new XElement(s_ns + "Key", key)));
            }
        }

        return result.ToString(SaveOptions.DisableFormatting);
    }

    private static bool IsSha256(Dictionary<string, string> headers) =>
        string.Equals(headers.GetValueOrDefault("x-amz-sdk-checksum-algorithm"), "SHA256", StringComparison.OrdinalIgnoreCase)
        || (headers.GetValueOrDefault("x-amz-trailer") ?? string.Empty).Contains("x-amz-checksum-sha256", StringComparison.OrdinalIgnoreCase);

    /// <summary>The body's SHA-256 (base64) when asked for; a sent value that differs is refused like S3 does.</summary>
    private static string? Sha256Checksum(Dictionary<string, string> headers, byte[] body, bool wanted)
    {
        var sent = headers.GetValueOrDefault("x-amz-checksum-sha256");
        if (!wanted && sent is null && !IsSha256(headers))
        {
            return null;
        }

        var actual = Convert.ToBase64String(SHA256.HashData(body));
        if (sent is not null && sent != actual)
        {
            throw new EmulatorError("BadDigest", "The SHA256 you specified did not match the calculated checksum.", 400);
        }

        return actual;
    }

    private static string Md5ETag(byte[] data) => $"\"{Convert.ToHexString(MD5.HashData(data)).ToLowerInvariant()}\"";

    private static string Iso(DateTimeOffset time) => time.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);

    // The S3 rules for new bucket names: 3-63 characters, lower-case letters, digits, dots and hyphens.
    [GeneratedRegex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")]
    private static partial Regex BucketNamePattern();

    [GeneratedRegex(@"^bytes=(\d+)-(\d+)?$")]
    private static partial Regex RangePattern();

    private sealed class Bucket(string name, DateTimeOffset created, string owner)
    {
        public string Owner { get; } = owner;

        public string Name { get; } = name;

        public DateTimeOffset Created { get; } = created;

        public Dictionary<string, S3Object> Objects { get; } = new(StringComparer.Ordinal);

        public JsonNode? PublicAccessBlock { get; set; }

        public JsonNode? Encryption { get; set; }

        public XElement? Lifecycle { get; set; }
    }

    private sealed record S3Object(byte[] Data, string ContentType, Dictionary<string, string> Metadata, string ETag, DateTimeOffset LastModified, string? ChecksumSha256 = null, string? Tagging = null);

    // An element of a stored request body, re-rooted in the S3 namespace for an answer.
    private static XElement Namespaced(XElement element) => new(
        s_ns + element.Name.LocalName,
        element.HasElements ? element.Elements().Select(Namespaced) : element.Value);

    private sealed class Upload(string bucket, string key, string contentType)
    {
        public string Bucket { get; } = bucket;

        public string Key { get; } = key;

        public string ContentType { get; } = contentType;

        public bool Sha256 { get; init; }

        public Dictionary<int, (byte[] Data, string ETag, string? Sha256)> Parts { get; } = [];
    }
}
