using System.Collections.Concurrent;
using System.Security.Cryptography;
using Amazon.S3;
using Amazon.S3.Model;
using Amazon.S3.Transfer;

namespace Rlabs.Pipelines.Aws;

/// <summary>One object in a listing.</summary>
public sealed record S3ObjectInfo(string Key, long Size, string ETag, DateTimeOffset? LastModified);

/// <summary>
/// The S3 work of a cloud run: a private, encrypted bucket; uploads and downloads through
/// AWSSDK.S3's TransferUtility (multipart above 16 MiB, parts in parallel); listings and batch deletes.
/// Every call to a bucket marked with <see cref="ExpectOwner"/> (one the module chose or created) carries
/// ExpectedBucketOwner, so a bucket of that name owned by someone else is refused instead of trusted.
/// Uploads carry a SHA-256 checksum that S3 verifies and keeps, and a reused object is trusted only when that
/// checksum matches the local file.
/// </summary>
public sealed class S3Storage : IDisposable
{
    private const int DeleteBatchSize = 1000;
    private readonly AwsSession _session;
    private readonly AmazonS3Client _client;
    private readonly TransferUtility _transfer;
    private readonly ConcurrentDictionary<string, string> _owners = new(StringComparer.Ordinal);

    /// <summary>An S3 client over the session.</summary>
    public S3Storage(AwsSession session)
    {
        ArgumentNullException.ThrowIfNull(session);
        _session = session;
        _client = session.CreateS3Client();
        _transfer = new TransferUtility(_client, new TransferUtilityConfig { ConcurrentServiceRequests = 4 });
    }

    /// <summary>Part size and the size from which uploads go multipart.</summary>
    public static long MultipartThreshold { get; } = 16L * 1024 * 1024;

    /// <summary>
    /// Marks <paramref name="bucket"/> as one the module chose or created for <paramref name="accountId"/>: every
    /// later call to it sends ExpectedBucketOwner (x-amz-expected-bucket-owner).
    /// </summary>
    public void ExpectOwner(string bucket, string accountId) => _owners[bucket] = accountId;

    /// <summary>The account expected to own <paramref name="bucket"/>, or null for a bucket the user named.</summary>
    public string? OwnerOf(string bucket) => _owners.GetValueOrDefault(bucket);

    /// <summary>Whether the bucket exists and the caller may use it (HeadBucket).</summary>
    public async Task<bool> BucketExistsAsync(string bucket, CancellationToken cancellationToken)
    {
        try
        {
            await AwsSdkCalls.RunAsync(AwsService.S3, "HeadBucket",
                () => _client.HeadBucketAsync(new HeadBucketRequest { BucketName = bucket, ExpectedBucketOwner = OwnerOf(bucket) }, cancellationToken)).ConfigureAwait(false);
            return true;
        }
        catch (AwsServiceException ex) when (ex.StatusCode == System.Net.HttpStatusCode.NotFound)
        {
            return false;
        }
        catch (AwsServiceException ex) when (ex.StatusCode == System.Net.HttpStatusCode.Forbidden && OwnerOf(bucket) is { } owner)
        {
            throw new AwsServiceException("S3", "HeadBucket", System.Net.HttpStatusCode.Forbidden, "BucketOwnedByAnotherAccount",
                $"The bucket '{bucket}' exists but is not owned by account {owner}: its name is taken by someone else (or you may not read it). Nothing was uploaded; pass -Bucket or set 'bucket:' to a bucket of your own.", ex.RequestId, ex);
        }
    }

    /// <summary>Creates the bucket if it does not exist, with public access blocked and default encryption
    /// (SSE-KMS with <paramref name="kmsKeyId"/>, else SSE-S3). An existing bucket is left as its owner set it.
    /// Returns whether it was created.</summary>
    public async Task<bool> EnsureBucketAsync(string bucket, string? kmsKeyId, CancellationToken cancellationToken)
    {
        if (await BucketExistsAsync(bucket, cancellationToken).ConfigureAwait(false))
        {
            return false;
        }

        var request = new PutBucketRequest { BucketName = bucket };
        if (_session.Region != "us-east-1")
        {
            // us-east-1 is the one region that rejects an explicit location constraint.
            request.BucketRegion = S3Region.FindValue(_session.Region);
        }

        try
        {
            await AwsSdkCalls.RunAsync(AwsService.S3, "CreateBucket", () => _client.PutBucketAsync(request, cancellationToken)).ConfigureAwait(false);
        }
        catch (AwsServiceException ex) when (ex.ErrorCode == "BucketAlreadyOwnedByYou")
        {
            // Another run created it between our check and our create; it applies the settings.
            return false;
        }

        await AwsSdkCalls.RunAsync(AwsService.S3, "PutPublicAccessBlock", () => _client.PutPublicAccessBlockAsync(new PutPublicAccessBlockRequest
        {
            BucketName = bucket,
            ExpectedBucketOwner = OwnerOf(bucket),
            PublicAccessBlockConfiguration = new PublicAccessBlockConfiguration
            {
                BlockPublicAcls = true,
                IgnorePublicAcls = true,
                BlockPublicPolicy = true,
                RestrictPublicBuckets = true,
            },
        }, cancellationToken)).ConfigureAwait(false);
        var encryption = kmsKeyId is null
            ? new ServerSideEncryptionByDefault { ServerSideEncryptionAlgorithm = ServerSideEncryptionMethod.AES256 }
            : new ServerSideEncryptionByDefault { ServerSideEncryptionAlgorithm = ServerSideEncryptionMethod.AWSKMS, ServerSideEncryptionKeyManagementServiceKeyId = kmsKeyId };
        await AwsSdkCalls.RunAsync(AwsService.S3, "PutBucketEncryption", () => _client.PutBucketEncryptionAsync(new PutBucketEncryptionRequest
        {
            BucketName = bucket,
            ExpectedBucketOwner = OwnerOf(bucket),
            ServerSideEncryptionConfiguration = new ServerSideEncryptionConfiguration
            {
                ServerSideEncryptionRules = [new ServerSideEncryptionRule { ServerSideEncryptionByDefault = encryption }],
            },
        }, cancellationToken)).ConfigureAwait(false);
        return true;
    }

    /// <summary>Whether the object exists (HeadObject).</summary>
    public async Task<bool> ObjectExistsAsync(string bucket, string key, CancellationToken cancellationToken) =>
        await HeadAsync(bucket, key, cancellationToken).ConfigureAwait(false) is not null;

    /// <summary>
    /// Whether the object exists with the SHA-256 checksum S3 computed for <paramref name="filePath"/>'s bytes:
    /// a content-addressed key is reused only when it really holds these bytes. Null when there is no object,
    /// false when it differs or has no SHA-256 checksum (uploaded without one, or written by someone else).
    /// </summary>
    public async Task<bool?> ObjectMatchesAsync(string bucket, string key, string filePath, CancellationToken cancellationToken)
    {
        var head = await HeadAsync(bucket, key, cancellationToken).ConfigureAwait(false);
        if (head is null)
        {
            return null;
        }
        return head.ChecksumSHA256 is { Length: > 0 } checksum && ExpectedChecksums(filePath).Contains(checksum, StringComparer.Ordinal);
    }

    private async Task<GetObjectMetadataResponse?> HeadAsync(string bucket, string key, CancellationToken cancellationToken)
    {
        try
        {
            return await AwsSdkCalls.RunAsync(AwsService.S3, "HeadObject",
                () => _client.GetObjectMetadataAsync(new GetObjectMetadataRequest { BucketName = bucket, Key = key, ExpectedBucketOwner = OwnerOf(bucket), ChecksumMode = ChecksumMode.ENABLED }, cancellationToken)).ConfigureAwait(false);
        }
        catch (AwsServiceException ex) when (ex.StatusCode == System.Net.HttpStatusCode.NotFound)
        {
            return null;
        }
    }

    /// <summary>
    /// The checksums S3 reports for this file uploaded by <see cref="UploadFileAsync(string, string, string, string?, CancellationToken)"/>:
    /// the whole file's SHA-256 (single part), and the composite one of a multipart upload in
    /// <see cref="MultipartThreshold"/> parts (SHA-256 of the parts' SHA-256s, then "-&lt;parts&gt;").
    /// </summary>
    internal static IReadOnlyList<string> ExpectedChecksums(string filePath)
    {
        using var stream = File.OpenRead(filePath);
        using var whole = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        using var parts = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = new byte[1 << 20];
        var count = 0;
        while (stream.Position < stream.Length || count == 0)
        {
            using var part = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            long inPart = 0;
            int read;
            while (inPart < MultipartThreshold && (read = stream.Read(buffer, 0, (int)Math.Min(buffer.Length, MultipartThreshold - inPart))) > 0)
            {
                whole.AppendData(buffer, 0, read);
                part.AppendData(buffer, 0, read);
                inPart += read;
            }
            parts.AppendData(part.GetHashAndReset());
            count++;
            if (inPart == 0)
            {
                break;
            }
        }
        return [Convert.ToBase64String(whole.GetHashAndReset()), $"{Convert.ToBase64String(parts.GetHashAndReset())}-{count}"];
    }

    /// <summary>Copies an object inside a bucket on the server side (no bytes go through this machine), encrypted at rest like the other objects.</summary>
    public async Task CopyObjectAsync(string bucket, string sourceKey, string destinationKey, string? kmsKeyId, CancellationToken cancellationToken)
    {
        var request = new CopyObjectRequest
        {
            SourceBucket = bucket,
            SourceKey = sourceKey,
            DestinationBucket = bucket,
            DestinationKey = destinationKey,
            ExpectedBucketOwner = OwnerOf(bucket),
            ExpectedSourceBucketOwner = OwnerOf(bucket),
            ServerSideEncryptionMethod = kmsKeyId is null ? ServerSideEncryptionMethod.AES256 : ServerSideEncryptionMethod.AWSKMS,
        };
        if (kmsKeyId is not null)
        {
            request.ServerSideEncryptionKeyManagementServiceKeyId = kmsKeyId;
        }
        await AwsSdkCalls.RunAsync(AwsService.S3, "CopyObject", () => _client.CopyObjectAsync(request, cancellationToken)).ConfigureAwait(false);
    }

    /// <summary>Whether any object lies under the prefix (one ListObjectsV2 of one key); false when the bucket does not exist.</summary>
    public async Task<bool> AnyObjectAsync(string bucket, string prefix, CancellationToken cancellationToken)
    {
        try
        {
            var page = await AwsSdkCalls.RunAsync(AwsService.S3, "ListObjectsV2",
                () => _client.ListObjectsV2Async(new ListObjectsV2Request { BucketName = bucket, Prefix = prefix, MaxKeys = 1, ExpectedBucketOwner = OwnerOf(bucket) }, cancellationToken)).ConfigureAwait(false);
            return page.S3Objects is { Count: > 0 };
        }
        catch (AwsServiceException ex) when (ex.StatusCode == System.Net.HttpStatusCode.NotFound)
        {
            return false;
        }
    }

    /// <summary>Uploads a file encrypted at rest (SSE-KMS with <paramref name="kmsKeyId"/>, else SSE-S3).</summary>
    public Task UploadFileAsync(string bucket, string key, string filePath, string? kmsKeyId, CancellationToken cancellationToken)
    {
        var request = new TransferUtilityUploadRequest
        {
            BucketName = bucket,
            Key = key,
            FilePath = filePath,
            PartSize = MultipartThreshold,
            ExpectedBucketOwner = OwnerOf(bucket),
            ChecksumAlgorithm = ChecksumAlgorithm.SHA256,
            ServerSideEncryptionMethod = kmsKeyId is null ? ServerSideEncryptionMethod.AES256 : ServerSideEncryptionMethod.AWSKMS,
        };
        if (kmsKeyId is not null)
        {
            request.ServerSideEncryptionKeyManagementServiceKeyId = kmsKeyId;
        }
        return AwsSdkCalls.RunAsync(AwsService.S3, "PutObject", () => _transfer.UploadAsync(request, cancellationToken));
    }

    /// <summary>Writes a small object encrypted at rest (SSE-KMS with <paramref name="kmsKeyId"/>, else SSE-S3).</summary>
    public Task PutTextAsync(string bucket, string key, string content, string? kmsKeyId, CancellationToken cancellationToken) =>
        PutTextAsync(bucket, key, content, kmsKeyId, null, cancellationToken);

    /// <summary>Stores text encrypted at rest, with one object tag (e.g. the one an expiry lifecycle rule matches).</summary>
    public async Task PutTextAsync(string bucket, string key, string content, string? kmsKeyId, KeyValuePair<string, string>? tag, CancellationToken cancellationToken)
    {
        var request = new PutObjectRequest
        {
            BucketName = bucket,
            Key = key,
            ContentBody = content,
            ExpectedBucketOwner = OwnerOf(bucket),
            ChecksumAlgorithm = ChecksumAlgorithm.SHA256,
            ServerSideEncryptionMethod = kmsKeyId is null ? ServerSideEncryptionMethod.AES256 : ServerSideEncryptionMethod.AWSKMS,
        };
        if (tag is { } t)
        {
            request.TagSet = [new Tag { Key = t.Key, Value = t.Value }];
        }
        if (kmsKeyId is not null)
        {
            request.ServerSideEncryptionKeyManagementServiceKeyId = kmsKeyId;
        }
        await AwsSdkCalls.RunAsync(AwsService.S3, "PutObject", () => _client.PutObjectAsync(request, cancellationToken)).ConfigureAwait(false);
    }

    /// <summary>
    /// Makes sure the bucket has an enabled lifecycle rule <paramref name="ruleId"/> that expires objects carrying the
    /// tag <paramref name="tag"/> after <paramref name="days"/> days. The bucket's other rules are kept as they are;
    /// nothing is written when the rule is already there. Returns whether the configuration was written.
    /// </summary>
    public async Task<bool> EnsureTagExpiryRuleAsync(string bucket, string ruleId, KeyValuePair<string, string> tag, int days, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(days, 1);
        List<LifecycleRule> rules;
        try
        {
            var current = await AwsSdkCalls.RunAsync(AwsService.S3, "GetBucketLifecycleConfiguration",
                () => _client.GetLifecycleConfigurationAsync(new GetLifecycleConfigurationRequest { BucketName = bucket, ExpectedBucketOwner = OwnerOf(bucket) }, cancellationToken)).ConfigureAwait(false);
            rules = current.Configuration?.Rules ?? [];
        }
        catch (AwsServiceException ex) when (ex.ErrorCode == "NoSuchLifecycleConfiguration")
        {
            rules = [];
        }
        var existing = rules.FirstOrDefault(r => r.Id == ruleId);
        if (existing is not null && existing.Status == LifecycleRuleStatus.Enabled && existing.Expiration?.Days == days
            && FilterTag(existing.Filter) is { } present && present.Key == tag.Key && present.Value == tag.Value)
        {
            return false;
        }
        rules = [.. rules.Where(r => r.Id != ruleId), new LifecycleRule
        {
            Id = ruleId,
            Status = LifecycleRuleStatus.Enabled,
            Filter = new LifecycleFilter { Tag = new Tag { Key = tag.Key, Value = tag.Value } },
            Expiration = new LifecycleRuleExpiration { Days = days },
        }];
        await AwsSdkCalls.RunAsync(AwsService.S3, "PutBucketLifecycleConfiguration",
            () => _client.PutLifecycleConfigurationAsync(new PutLifecycleConfigurationRequest
            {
                BucketName = bucket,
                ExpectedBucketOwner = OwnerOf(bucket),
                Configuration = new LifecycleConfiguration { Rules = rules },
            }, cancellationToken)).ConfigureAwait(false);
        return true;
    }

    // The SDK reads a rule's tag filter into either shape of LifecycleFilter.
    private static Tag? FilterTag(LifecycleFilter? filter) =>
        filter?.Tag ?? (filter?.LifecycleFilterPredicate as LifecycleTagPredicate)?.Tag;

    /// <summary>The object's text, or null when there is no such key.</summary>
    public async Task<string?> TryGetTextAsync(string bucket, string key, CancellationToken cancellationToken)
    {
        try
        {
            return await GetTextAsync(bucket, key, cancellationToken).ConfigureAwait(false);
        }
        catch (AwsServiceException ex) when (ex.StatusCode == System.Net.HttpStatusCode.NotFound || ex.ErrorCode == "NoSuchKey")
        {
            return null;
        }
    }

    /// <summary>Uploads a file encrypted at rest with SSE-S3.</summary>
    public Task UploadFileAsync(string bucket, string key, string filePath, CancellationToken cancellationToken) =>
        UploadFileAsync(bucket, key, filePath, null, cancellationToken);

    /// <summary>Uploads every file under <paramref name="directory"/> to <paramref name="prefix"/>, keeping relative paths.</summary>
    public async Task<int> UploadDirectoryAsync(string bucket, string prefix, string directory, CancellationToken cancellationToken)
    {
        var files = Directory.GetFiles(directory, "*", SearchOption.AllDirectories);
        using var limit = new SemaphoreSlim(4);
        var uploads = files.Select(async file =>
        {
            await limit.WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                var relative = Path.GetRelativePath(directory, file).Replace(Path.DirectorySeparatorChar, '/');
                await UploadFileAsync(bucket, JoinKey(prefix, relative), file, cancellationToken).ConfigureAwait(false);
            }
            finally
            {
                limit.Release();
            }
        });
        await Task.WhenAll(uploads).ConfigureAwait(false);
        return files.Length;
    }

    /// <summary>Downloads an object to a file.</summary>
    public Task DownloadFileAsync(string bucket, string key, string filePath, CancellationToken cancellationToken) =>
        AwsSdkCalls.RunAsync(AwsService.S3, "GetObject", () => _transfer.DownloadAsync(new TransferUtilityDownloadRequest
        {
            BucketName = bucket,
            Key = key,
            FilePath = filePath,
            ExpectedBucketOwner = OwnerOf(bucket),
        }, cancellationToken));

    /// <summary>Downloads every object under <paramref name="prefix"/> into <paramref name="directory"/>.</summary>
    public async Task<int> DownloadDirectoryAsync(string bucket, string prefix, string directory, CancellationToken cancellationToken)
    {
        var objects = await ListObjectsAsync(bucket, prefix, cancellationToken).ConfigureAwait(false);
        var root = Path.GetFullPath(directory);
        foreach (var item in objects.Where(o => !o.Key.EndsWith('/')))
        {
            var relative = item.Key[prefix.Length..].TrimStart('/');
            var target = Path.GetFullPath(Path.Combine(root, relative));
            if (!target.StartsWith(root + Path.DirectorySeparatorChar, StringComparison.Ordinal))
            {
                // A key like "../x" must not write outside the target directory.
                throw new AwsServiceException("S3", "GetObject", 0, "InvalidObjectKey", $"The key '{item.Key}' points outside the download directory.", null, null);
            }

            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            await DownloadFileAsync(bucket, item.Key, target, cancellationToken).ConfigureAwait(false);
        }

        return objects.Count;
    }

    /// <summary>Every object under the prefix, all pages.</summary>
    public async Task<IReadOnlyList<S3ObjectInfo>> ListObjectsAsync(string bucket, string prefix, CancellationToken cancellationToken)
    {
        var result = new List<S3ObjectInfo>();
        string? token = null;
        do
        {
            var page = await AwsSdkCalls.RunAsync(AwsService.S3, "ListObjectsV2", () => _client.ListObjectsV2Async(new ListObjectsV2Request
            {
                BucketName = bucket,
                Prefix = prefix,
                ContinuationToken = token,
                ExpectedBucketOwner = OwnerOf(bucket),
            }, cancellationToken)).ConfigureAwait(false);
            foreach (var item in page.S3Objects ?? [])
            {
                result.Add(new S3ObjectInfo(item.Key, item.Size ?? 0, item.ETag, item.LastModified is { } modified ? new DateTimeOffset(modified.ToUniversalTime()) : null));
            }

            token = page.IsTruncated == true ? page.NextContinuationToken : null;
        }
        while (token is not null);
        return result;
    }

    /// <summary>Writes a text object encrypted at rest with SSE-S3.</summary>
    public Task PutTextAsync(string bucket, string key, string content, CancellationToken cancellationToken) =>
        PutTextAsync(bucket, key, content, null, cancellationToken);

    /// <summary>Reads a text object; a missing one is an <see cref="AwsServiceException"/> NotFound.</summary>
    public async Task<string> GetTextAsync(string bucket, string key, CancellationToken cancellationToken)
    {
        using var response = await AwsSdkCalls.RunAsync(AwsService.S3, "GetObject", () => _client.GetObjectAsync(new GetObjectRequest { BucketName = bucket, Key = key, ExpectedBucketOwner = OwnerOf(bucket) }, cancellationToken)).ConfigureAwait(false);
        using var reader = new StreamReader(response.ResponseStream);
        return await reader.ReadToEndAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Deletes keys in batches of 1000 (the DeleteObjects limit); returns how many were deleted.</summary>
    public async Task<int> DeleteObjectsAsync(string bucket, IEnumerable<string> keys, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(keys);
        var deleted = 0;
        foreach (var batch in keys.Chunk(DeleteBatchSize))
        {
            var response = await AwsSdkCalls.RunAsync(AwsService.S3, "DeleteObjects", () => _client.DeleteObjectsAsync(new DeleteObjectsRequest
            {
                BucketName = bucket,
                ExpectedBucketOwner = OwnerOf(bucket),
                Objects = batch.Select(k => new KeyVersion { Key = k }).ToList(),
            }, cancellationToken)).ConfigureAwait(false);
            if (response.DeleteErrors is { Count: > 0 } errors)
            {
                var first = errors[0];
                throw new AwsServiceException("S3", "DeleteObjects", 0, first.Code, $"{errors.Count} object(s) could not be deleted; first '{first.Key}': {first.Message}", null, null);
            }

            deleted += batch.Length;
        }

        return deleted;
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        _transfer.Dispose();
        _client.Dispose();
    }

    private static string JoinKey(string prefix, string relative) =>
        prefix.Length == 0 ? relative : prefix.TrimEnd('/') + "/" + relative;
}
