using System.Net;
using Amazon.S3;
using Amazon.S3.Model;
using Amazon.S3.Transfer;
using Rlabs.Pipelines.Aws;

namespace Rlabs.Pipelines.Cloud;

/// <summary>The S3 side of a cloud run: the bucket, content-addressed artifacts, run files and step data.</summary>
internal sealed class S3ArtifactStore : IDisposable
{
    private readonly AmazonS3Client _s3;
    private readonly string _region;

    public S3ArtifactStore(AwsSession session)
    {
        _s3 = session.CreateS3Client();
        _region = session.Region;
    }

    /// <summary>Bytes of artifacts actually sent (run files such as the manifest are not counted).</summary>
    public long UploadedBytes { get; private set; }

    public void Dispose() => _s3.Dispose();

    /// <summary>Creates the bucket when missing, with public access blocked and default encryption; true when created.</summary>
    public async Task<bool> EnsureBucketAsync(string bucket, string? kmsKeyId, CancellationToken cancellationToken)
    {
        try
        {
            await AwsSdkCalls.RunAsync(AwsService.S3, "HeadBucket", () => _s3.HeadBucketAsync(new HeadBucketRequest { BucketName = bucket }, cancellationToken)).ConfigureAwait(false);
            return false;
        }
        catch (AwsServiceException ex) when (ex.StatusCode == HttpStatusCode.NotFound || ex.ErrorCode == "NoSuchBucket")
        {
        }
        var create = new PutBucketRequest { BucketName = bucket };
        if (_region != "us-east-1")
        {
            create.BucketRegion = new S3Region(_region);
        }
        await AwsSdkCalls.RunAsync(AwsService.S3, "CreateBucket", () => _s3.PutBucketAsync(create, cancellationToken)).ConfigureAwait(false);
        await AwsSdkCalls.RunAsync(AwsService.S3, "PutPublicAccessBlock", () => _s3.PutPublicAccessBlockAsync(new PutPublicAccessBlockRequest
        {
            BucketName = bucket,
            PublicAccessBlockConfiguration = new PublicAccessBlockConfiguration
            {
                BlockPublicAcls = true,
                BlockPublicPolicy = true,
                IgnorePublicAcls = true,
                RestrictPublicBuckets = true,
            },
        }, cancellationToken)).ConfigureAwait(false);
        var rule = kmsKeyId is null
            ? new ServerSideEncryptionByDefault { ServerSideEncryptionAlgorithm = ServerSideEncryptionMethod.AES256 }
            : new ServerSideEncryptionByDefault { ServerSideEncryptionAlgorithm = ServerSideEncryptionMethod.AWSKMS, ServerSideEncryptionKeyManagementServiceKeyId = kmsKeyId };
        await AwsSdkCalls.RunAsync(AwsService.S3, "PutBucketEncryption", () => _s3.PutBucketEncryptionAsync(new PutBucketEncryptionRequest
        {
            BucketName = bucket,
            ServerSideEncryptionConfiguration = new ServerSideEncryptionConfiguration
            {
                ServerSideEncryptionRules = [new ServerSideEncryptionRule { ServerSideEncryptionByDefault = rule }],
            },
        }, cancellationToken)).ConfigureAwait(false);
        return true;
    }

    public async Task<bool> ExistsAsync(string bucket, string key, CancellationToken cancellationToken)
    {
        try
        {
            await AwsSdkCalls.RunAsync(AwsService.S3, "HeadObject", () => _s3.GetObjectMetadataAsync(new GetObjectMetadataRequest { BucketName = bucket, Key = key }, cancellationToken)).ConfigureAwait(false);
            return true;
        }
        catch (AwsServiceException ex) when (ex.StatusCode == HttpStatusCode.NotFound || ex.ErrorCode is "NoSuchKey" or "NotFound")
        {
            return false;
        }
    }

    /// <summary>Uploads a file unless the key exists (keys carry the content hash); returns bytes sent.</summary>
    public async Task<long> UploadOnceAsync(string bucket, string key, string file, string? kmsKeyId, CancellationToken cancellationToken)
    {
        if (await ExistsAsync(bucket, key, cancellationToken).ConfigureAwait(false))
        {
            return 0;
        }
        var length = new FileInfo(file).Length;
        using var transfer = new TransferUtility(_s3, new TransferUtilityConfig { ConcurrentServiceRequests = 4 });
        var request = new TransferUtilityUploadRequest
        {
            BucketName = bucket,
            Key = key,
            FilePath = file,
            PartSize = 16 * 1024 * 1024,
        };
        Encrypt(request, kmsKeyId);
        await AwsSdkCalls.RunAsync(AwsService.S3, "PutObject", () => transfer.UploadAsync(request, cancellationToken)).ConfigureAwait(false);
        UploadedBytes += length;
        return length;
    }

    /// <summary>Writes a small object, encrypted at rest (KMS when a key is given).</summary>
    public async Task PutTextAsync(string bucket, string key, string text, string? kmsKeyId, CancellationToken cancellationToken)
    {
        var request = new PutObjectRequest { BucketName = bucket, Key = key, ContentBody = text, ContentType = "application/octet-stream" };
        request.ServerSideEncryptionMethod = kmsKeyId is null ? ServerSideEncryptionMethod.AES256 : ServerSideEncryptionMethod.AWSKMS;
        if (kmsKeyId is not null)
        {
            request.ServerSideEncryptionKeyManagementServiceKeyId = kmsKeyId;
        }
        await AwsSdkCalls.RunAsync(AwsService.S3, "PutObject", () => _s3.PutObjectAsync(request, cancellationToken)).ConfigureAwait(false);
    }

    public async Task<string?> GetTextAsync(string bucket, string key, CancellationToken cancellationToken)
    {
        try
        {
            using var response = await AwsSdkCalls.RunAsync(AwsService.S3, "GetObject", () => _s3.GetObjectAsync(new GetObjectRequest { BucketName = bucket, Key = key }, cancellationToken)).ConfigureAwait(false);
            using var reader = new StreamReader(response.ResponseStream);
            return await reader.ReadToEndAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (AwsServiceException ex) when (ex.StatusCode == HttpStatusCode.NotFound || ex.ErrorCode == "NoSuchKey")
        {
            return null;
        }
    }

    public async Task DeleteAsync(string bucket, string key, CancellationToken cancellationToken) =>
        await AwsSdkCalls.RunAsync(AwsService.S3, "DeleteObject", () => _s3.DeleteObjectAsync(new DeleteObjectRequest { BucketName = bucket, Key = key }, cancellationToken)).ConfigureAwait(false);

    private static void Encrypt(TransferUtilityUploadRequest request, string? kmsKeyId)
    {
        request.ServerSideEncryptionMethod = kmsKeyId is null ? ServerSideEncryptionMethod.AES256 : ServerSideEncryptionMethod.AWSKMS;
        if (kmsKeyId is not null)
        {
            request.ServerSideEncryptionKeyManagementServiceKeyId = kmsKeyId;
        }
    }
}
