using Amazon.S3;
using Amazon.S3.Model;
using Amazon.S3.Transfer;

namespace Rlabs.Pipelines.Aws;

/// <summary>One object in a listing.</summary>
public sealed record S3ObjectInfo(string Key, long Size, string ETag, DateTimeOffset? LastModified);

/// <summary>
/// The S3 work of a cloud run: a private, encrypted bucket; uploads and downloads through
/// AWSSDK.S3's TransferUtility (multipart above 16 MiB, parts in parallel); listings and batch deletes.
/// </summary>
public sealed class S3Storage : IDisposable
{
    private const int DeleteBatchSize = 1000;
    private readonly AwsSession _session;
    private readonly AmazonS3Client _client;
    private readonly TransferUtility _transfer;

    public S3Storage(AwsSession session)
    {
        ArgumentNullException.ThrowIfNull(session);
        _session = session;
        _client = session.CreateS3Client();
        _transfer = new TransferUtility(_client, new TransferUtilityConfig { ConcurrentServiceRequests = 4 });
    }

    /// <summary>Part size and the size from which uploads go multipart.</summary>
    public static long MultipartThreshold { get; } = 16L * 1024 * 1024;

    public async Task<bool> BucketExistsAsync(string bucket, CancellationToken cancellationToken)
    {
        try
        {
            await AwsSdkCalls.RunAsync(AwsService.S3, "HeadBucket",
                () => _client.HeadBucketAsync(new HeadBucketRequest { BucketName = bucket }, cancellationToken)).ConfigureAwait(false);
            return true;
        }
        catch (AwsServiceException ex) when (ex.StatusCode == System.Net.HttpStatusCode.NotFound)
        {
            return false;
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
            ServerSideEncryptionConfiguration = new ServerSideEncryptionConfiguration
            {
                ServerSideEncryptionRules = [new ServerSideEncryptionRule { ServerSideEncryptionByDefault = encryption }],
            },
        }, cancellationToken)).ConfigureAwait(false);
        return true;
    }

    /// <summary>Whether the object exists (HeadObject).</summary>
    public async Task<bool> ObjectExistsAsync(string bucket, string key, CancellationToken cancellationToken)
    {
        try
        {
            await AwsSdkCalls.RunAsync(AwsService.S3, "HeadObject",
                () => _client.GetObjectMetadataAsync(new GetObjectMetadataRequest { BucketName = bucket, Key = key }, cancellationToken)).ConfigureAwait(false);
            return true;
        }
        catch (AwsServiceException ex) when (ex.StatusCode == System.Net.HttpStatusCode.NotFound)
        {
            return false;
        }
    }

    /// <summary>Whether any object lies under the prefix (one ListObjectsV2 of one key); false when the bucket does not exist.</summary>
    public async Task<bool> AnyObjectAsync(string bucket, string prefix, CancellationToken cancellationToken)
    {
        try
        {
            var page = await AwsSdkCalls.RunAsync(AwsService.S3, "ListObjectsV2",
                () => _client.ListObjectsV2Async(new ListObjectsV2Request { BucketName = bucket, Prefix = prefix, MaxKeys = 1 }, cancellationToken)).ConfigureAwait(false);
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
            ServerSideEncryptionMethod = kmsKeyId is null ? ServerSideEncryptionMethod.AES256 : ServerSideEncryptionMethod.AWSKMS,
        };
        if (kmsKeyId is not null)
        {
            request.ServerSideEncryptionKeyManagementServiceKeyId = kmsKeyId;
        }
        return AwsSdkCalls.RunAsync(AwsService.S3, "PutObject", () => _transfer.UploadAsync(request, cancellationToken));
    }

    /// <summary>Writes a small object encrypted at rest (SSE-KMS with <paramref name="kmsKeyId"/>, else SSE-S3).</summary>
    public async Task PutTextAsync(string bucket, string key, string content, string? kmsKeyId, CancellationToken cancellationToken)
    {
        var request = new PutObjectRequest
        {
            BucketName = bucket,
            Key = key,
            ContentBody = content,
            ServerSideEncryptionMethod = kmsKeyId is null ? ServerSideEncryptionMethod.AES256 : ServerSideEncryptionMethod.AWSKMS,
        };
        if (kmsKeyId is not null)
        {
            request.ServerSideEncryptionKeyManagementServiceKeyId = kmsKeyId;
        }
        await AwsSdkCalls.RunAsync(AwsService.S3, "PutObject", () => _client.PutObjectAsync(request, cancellationToken)).ConfigureAwait(false);
    }

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

    public Task DownloadFileAsync(string bucket, string key, string filePath, CancellationToken cancellationToken) =>
        AwsSdkCalls.RunAsync(AwsService.S3, "GetObject", () => _transfer.DownloadAsync(new TransferUtilityDownloadRequest
        {
            BucketName = bucket,
            Key = key,
            FilePath = filePath,
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

    public Task PutTextAsync(string bucket, string key, string content, CancellationToken cancellationToken) =>
        PutTextAsync(bucket, key, content, null, cancellationToken);

    public async Task<string> GetTextAsync(string bucket, string key, CancellationToken cancellationToken)
    {
        using var response = await AwsSdkCalls.RunAsync(AwsService.S3, "GetObject", () => _client.GetObjectAsync(bucket, key, cancellationToken)).ConfigureAwait(false);
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

    public void Dispose()
    {
        _transfer.Dispose();
        _client.Dispose();
    }

    private static string JoinKey(string prefix, string relative) =>
        prefix.Length == 0 ? relative : prefix.TrimEnd('/') + "/" + relative;
}
