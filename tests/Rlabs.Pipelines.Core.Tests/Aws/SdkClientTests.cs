using System.Security.Cryptography;
using Rlabs.Pipelines.Aws;
using Rlabs.Pipelines.AwsEmulator;
using Rlabs.Pipelines.AwsEmulator.Services;

namespace Rlabs.Pipelines.Core.Tests.Aws;

/// <summary>S3, EC2 and STS through the AWSSDK packages, configured by our session, against the emulator.</summary>
[Trait("Tier", "Emulator")]
public sealed class SdkClientTests : IClassFixture<EmulatorFixture>, IDisposable
{
    private readonly EmulatorFixture _fixture;
    private readonly string _directory = Directory.CreateTempSubdirectory("rlabs-s3-").FullName;

    public SdkClientTests(EmulatorFixture fixture)
    {
        _fixture = fixture;
        _fixture.Emulator.Faults.Clear();
    }

    public void Dispose()
    {
        _fixture.Emulator.Faults.Clear();
        Directory.Delete(_directory, recursive: true);
    }

    private static string Bucket() => "rlabs-" + Guid.NewGuid().ToString("N")[..20];

    private int Count(string operation, string bucket) =>
        _fixture.Emulator.Requests.For("s3", operation).Count(r => (string?)r.Parameters?["Bucket"] == bucket);

    [Fact]
    public async Task GetCallerIdentity_goes_to_the_STS_endpoint_variable()
    {
        var environment = new Dictionary<string, string> { ["AWS_ENDPOINT_URL"] = "http://127.0.0.1:1/", ["AWS_ENDPOINT_URL_STS"] = _fixture.Endpoint };
        using var session = AwsSession.Create(new AwsSessionOptions { AccessKey = "AKIDSTSCALLER", SecretKey = "s", Region = "eu-west-1" }, n => environment.GetValueOrDefault(n));

        var identity = await session.GetCallerIdentityAsync(CancellationToken.None);

        Assert.Equal("123456789012", identity.Account);
        Assert.Equal("AKIDSTSCALLER", identity.UserId);
        Assert.StartsWith("arn:aws:iam::123456789012:", identity.Arn, StringComparison.Ordinal);
        Assert.Contains(_fixture.Emulator.Requests.For("sts", "GetCallerIdentity"), r => r.AccessKeyId == "AKIDSTSCALLER");
    }

    [Fact]
    public async Task S3_and_EC2_clients_go_to_their_service_specific_endpoint_variables()
    {
        var environment = new Dictionary<string, string>
        {
            // Nothing listens on port 1: a client that ignored its own variable would fail.
            ["AWS_ENDPOINT_URL"] = "http://127.0.0.1:1/",
            ["AWS_ENDPOINT_URL_S3"] = _fixture.Endpoint,
            ["AWS_ENDPOINT_URL_EC2"] = _fixture.Endpoint,
        };
        using var session = AwsSession.Create(new AwsSessionOptions { AccessKey = "AKIDSDKENDPOINT", SecretKey = "s", Region = "eu-west-1", MaxAttempts = 1 }, n => environment.GetValueOrDefault(n));
        using var s3 = new S3Storage(session);
        using var ec2 = new Ec2Client(session);
        _fixture.Emulator.Ec2.Seed(new Ec2InstanceSeed { InstanceId = "i-0ddddddddddddddd4", State = "stopped" });

        var exists = await s3.BucketExistsAsync("rlabs-endpoint-check", CancellationToken.None);
        var instance = await ec2.DescribeInstanceAsync("i-0ddddddddddddddd4", CancellationToken.None);

        Assert.False(exists);
        Assert.Equal("stopped", instance.State);
        Assert.Contains(_fixture.Emulator.Requests.For("s3", "HeadBucket"), r => r.AccessKeyId == "AKIDSDKENDPOINT");
        Assert.Contains(_fixture.Emulator.Requests.For("ec2", "DescribeInstances"), r => r.AccessKeyId == "AKIDSDKENDPOINT" && r.Region == "eu-west-1");
    }

    [Fact]
    public async Task EnsureBucket_creates_a_private_encrypted_bucket_once()
    {
        using var session = _fixture.Session();
        using var s3 = new S3Storage(session);
        var bucket = Bucket();

        Assert.False(await s3.BucketExistsAsync(bucket, CancellationToken.None));
        Assert.True(await s3.EnsureBucketAsync(bucket, null, CancellationToken.None));
        Assert.False(await s3.EnsureBucketAsync(bucket, null, CancellationToken.None));

        Assert.True(await s3.BucketExistsAsync(bucket, CancellationToken.None));
        Assert.Equal(1, Count("CreateBucket", bucket));
        var block = _fixture.Emulator.Requests.For("s3", "PutPublicAccessBlock").Last(r => (string?)r.Parameters!["Bucket"] == bucket);
        Assert.True((bool)block.Parameters!["PublicAccessBlockConfiguration"]!["BlockPublicAcls"]!);
        Assert.True((bool)block.Parameters["PublicAccessBlockConfiguration"]!["RestrictPublicBuckets"]!);
        var encryption = _fixture.Emulator.Requests.For("s3", "PutBucketEncryption").Last(r => (string?)r.Parameters!["Bucket"] == bucket);
        Assert.Equal("AES256", (string?)encryption.Parameters!["ServerSideEncryptionConfiguration"]!["Rules"]![0]!["ApplyServerSideEncryptionByDefault"]!["SSEAlgorithm"]);
        var create = _fixture.Emulator.Requests.For("s3", "CreateBucket").Single(r => (string?)r.Parameters!["Bucket"] == bucket);
        Assert.Equal("eu-west-1", (string?)create.Parameters!["CreateBucketConfiguration"]!["LocationConstraint"]);
    }

    [Fact]
    public async Task A_large_file_goes_up_in_parts_and_comes_back_identical()
    {
        using var session = _fixture.Session();
        using var s3 = new S3Storage(session);
        var bucket = Bucket();
        await s3.EnsureBucketAsync(bucket, null, CancellationToken.None);
        var source = Path.Combine(_directory, "big.bin");
        var data = RandomNumberGenerator.GetBytes((int)(S3Storage.MultipartThreshold * 2) + 12345);
        await File.WriteAllBytesAsync(source, data);

        await s3.UploadFileAsync(bucket, "runs/42/big.bin", source, CancellationToken.None);
        var copy = Path.Combine(_directory, "copy.bin");
        await s3.DownloadFileAsync(bucket, "runs/42/big.bin", copy, CancellationToken.None);

        Assert.Equal(1, Count("CreateMultipartUpload", bucket));
        Assert.Equal(3, Count("UploadPart", bucket));
        Assert.Equal(1, Count("CompleteMultipartUpload", bucket));
        Assert.Equal(SHA256.HashData(data), SHA256.HashData(await File.ReadAllBytesAsync(copy)));
        Assert.Equal(data.Length, _fixture.Emulator.S3.GetObjectBytes(bucket, "runs/42/big.bin")!.Length);
    }

    [Fact]
    public async Task A_directory_round_trips_with_its_layout()
    {
        using var session = _fixture.Session();
        using var s3 = new S3Storage(session);
        var bucket = Bucket();
        await s3.EnsureBucketAsync(bucket, null, CancellationToken.None);
        var source = Directory.CreateDirectory(Path.Combine(_directory, "out")).FullName;
        Directory.CreateDirectory(Path.Combine(source, "nested", "deeper"));
        await File.WriteAllTextAsync(Path.Combine(source, "a.csv"), "x,y\n1,2\n");
        await File.WriteAllTextAsync(Path.Combine(source, "nested", "b.txt"), "b");
        await File.WriteAllTextAsync(Path.Combine(source, "nested", "deeper", "c d.txt"), "c with space");

        var uploaded = await s3.UploadDirectoryAsync(bucket, "data/42/step1", source, CancellationToken.None);
        var target = Path.Combine(_directory, "in");
        var downloaded = await s3.DownloadDirectoryAsync(bucket, "data/42/step1/", target, CancellationToken.None);

        Assert.Equal(3, uploaded);
        Assert.Equal(3, downloaded);
        Assert.Equal(["data/42/step1/a.csv", "data/42/step1/nested/b.txt", "data/42/step1/nested/deeper/c d.txt"], _fixture.Emulator.S3.ListKeys(bucket, "data/42/"));
        Assert.Equal("c with space", await File.ReadAllTextAsync(Path.Combine(target, "nested", "deeper", "c d.txt")));
        Assert.Equal("x,y\n1,2\n", await File.ReadAllTextAsync(Path.Combine(target, "a.csv")));
    }

    [Fact]
    public async Task Listing_and_deleting_follow_pages_and_batches()
    {
        using var session = _fixture.Session();
        using var s3 = new S3Storage(session);
        var bucket = Bucket();
        await s3.EnsureBucketAsync(bucket, null, CancellationToken.None);
        for (var i = 0; i < 1005; i++)
        {
            _fixture.Emulator.S3.PutObjectBytes(bucket, $"p/{i:D4}", [(byte)i]);
        }

        var listed = await s3.ListObjectsAsync(bucket, "p/", CancellationToken.None);
        var deleted = await s3.DeleteObjectsAsync(bucket, listed.Select(o => o.Key), CancellationToken.None);

        Assert.Equal(1005, listed.Count);
        Assert.Equal("p/1004", listed[^1].Key);
        Assert.Equal(1, listed[0].Size);
        Assert.Equal(2, Count("ListObjectsV2", bucket));
        Assert.Equal(1005, deleted);
        Assert.Equal(2, Count("DeleteObjects", bucket));
        Assert.Empty(_fixture.Emulator.S3.ListKeys(bucket, "p/"));
    }

    [Fact]
    public async Task S3_errors_and_throttling_map_like_the_hand_called_services()
    {
        using var session = _fixture.Session(maxAttempts: 4);
        using var s3 = new S3Storage(session);
        var bucket = Bucket();
        await s3.EnsureBucketAsync(bucket, null, CancellationToken.None);
        _fixture.Emulator.Faults.Add(new FaultRule { Service = "s3", Operation = "PutObject", Kind = "Throttling", Count = 2 });

        await s3.PutTextAsync(bucket, "config/pipeline.yaml", "pipeline: []", CancellationToken.None);
        var missing = await Assert.ThrowsAsync<AwsServiceException>(() => s3.GetTextAsync(bucket, "config/none.yaml", CancellationToken.None));

        Assert.Equal("pipeline: []", await s3.GetTextAsync(bucket, "config/pipeline.yaml", CancellationToken.None));
        Assert.Equal(3, Count("PutObject", bucket));
        Assert.Equal("NoSuchKey", missing.ErrorCode);
        Assert.Equal(AwsErrorKind.NotFound, missing.Kind);
        Assert.Equal("S3", missing.Service);
        Assert.Equal("GetObject", missing.Operation);
    }

    [Fact]
    public async Task An_instance_starts_with_a_public_address_and_stops()
    {
        using var session = _fixture.Session();
        using var ec2 = new Ec2Client(session);
        var id = "i-" + Convert.ToHexString(RandomNumberGenerator.GetBytes(8)).ToLowerInvariant()[..16] + "a";
        _fixture.Emulator.Ec2.Seed(new Ec2InstanceSeed { InstanceId = id, State = "stopped", PublicIpAddress = "127.0.0.1", PublicDnsName = "localhost", TransitionMs = 200 });

        var before = await ec2.DescribeInstanceAsync(id, CancellationToken.None);
        var start = await ec2.StartInstanceAsync(id, CancellationToken.None);
        var running = await ec2.WaitForStateAsync(id, "running", TimeSpan.FromMilliseconds(50), TimeSpan.FromSeconds(10), CancellationToken.None);
        var stop = await ec2.StopInstanceAsync(id, CancellationToken.None);
        var stopped = await ec2.WaitForStateAsync(id, "stopped", TimeSpan.FromMilliseconds(50), TimeSpan.FromSeconds(10), CancellationToken.None);

        Assert.Equal(("stopped", null), (before.State, before.PublicIpAddress));
        Assert.Equal(new Ec2StateChange(id, "stopped", "pending"), start);
        Assert.Equal(("127.0.0.1", "localhost", "t3.medium"), (running.PublicIpAddress, running.PublicDnsName, running.InstanceType));
        Assert.Equal(new Ec2StateChange(id, "running", "stopping"), stop);
        Assert.Equal("stopped", stopped.State);
    }

    [Fact]
    public async Task EC2_errors_and_throttling_map_to_categories()
    {
        using var session = _fixture.Session(maxAttempts: 3);
        using var ec2 = new Ec2Client(session);
        var id = "i-0aaaaaaaaaaaaaaa1";
        _fixture.Emulator.Ec2.Seed(new Ec2InstanceSeed { InstanceId = id, State = "running" });
        _fixture.Emulator.Faults.Add(new FaultRule { Service = "ec2", Operation = "DescribeInstances", Kind = "Throttling", Count = 1 });

        var info = await ec2.DescribeInstanceAsync(id, CancellationToken.None);
        var missing = await Assert.ThrowsAsync<AwsServiceException>(() => ec2.DescribeInstanceAsync("i-0bbbbbbbbbbbbbbb2", CancellationToken.None));
        var malformed = await Assert.ThrowsAsync<AwsServiceException>(() => ec2.StartInstanceAsync("not-an-id", CancellationToken.None));

        Assert.Equal("running", info.State);
        Assert.Equal("RequestLimitExceeded", _fixture.Emulator.Requests.For("ec2", "DescribeInstances").First(r => r.ErrorCode is not null).ErrorCode);
        Assert.Equal("InvalidInstanceID.NotFound", missing.ErrorCode);
        Assert.Equal(AwsErrorKind.NotFound, missing.Kind);
        Assert.Equal("InvalidInstanceID.Malformed", malformed.ErrorCode);
    }
}
