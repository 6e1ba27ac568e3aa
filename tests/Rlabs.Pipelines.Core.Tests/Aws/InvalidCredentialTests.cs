using System.Net;
using Rlabs.Pipelines.Aws;

namespace Rlabs.Pipelines.Core.Tests.Aws;

/// <summary>A key AWS does not know surfaces as AccessDenied, whichever protocol or SDK made the call.</summary>
[Trait("Tier", "Emulator")]
public sealed class InvalidCredentialTests : IClassFixture<EmulatorFixture>, IDisposable
{
    private readonly EmulatorFixture _fixture;

    public InvalidCredentialTests(EmulatorFixture fixture)
    {
        _fixture = fixture;
        lock (_fixture.Emulator.KnownAccessKeys)
        {
            _fixture.Emulator.KnownAccessKeys.Add(EmulatorFixture.AccessKey);
        }
    }

    public void Dispose()
    {
        lock (_fixture.Emulator.KnownAccessKeys)
        {
            _fixture.Emulator.KnownAccessKeys.Clear();
        }
    }

    public static TheoryData<string, string, HttpStatusCode> Calls => new()
    {
        { "SageMaker", "UnrecognizedClientException", HttpStatusCode.BadRequest },
        { "Lambda", "UnrecognizedClientException", HttpStatusCode.Forbidden },
        { "IAM", "InvalidClientTokenId", HttpStatusCode.Forbidden },
        { "EC2", "AuthFailure", HttpStatusCode.Unauthorized },
        { "S3", "InvalidAccessKeyId", HttpStatusCode.Forbidden },
        { "STS", "InvalidClientTokenId", HttpStatusCode.Forbidden },
    };

    [Theory]
    [MemberData(nameof(Calls))]
    public async Task An_unknown_access_key_is_AccessDenied(string service, string code, HttpStatusCode status)
    {
        using var session = _fixture.Session(maxAttempts: 3, accessKey: "AKIDUNKNOWN" + service.ToUpperInvariant());
        Func<Task> call = service switch
        {
            "SageMaker" => () => new SageMakerClient(session).DescribeProcessingJobAsync("x", CancellationToken.None),
            "Lambda" => () => new LambdaClient(session).GetFunctionAsync("x", CancellationToken.None),
            "IAM" => () => new IamClient(session).GetRoleAsync("x", CancellationToken.None),
            "EC2" => async () =>
            {
                using var ec2 = new Ec2Client(session);
                await ec2.DescribeInstanceAsync("i-0123456789abcdef0", CancellationToken.None);
            },
            "S3" => async () =>
            {
                using var s3 = new S3Storage(session);
                await s3.GetTextAsync("bucket", "key", CancellationToken.None);
            },
            _ => () => session.GetCallerIdentityAsync(CancellationToken.None),
        };

        var ex = await Assert.ThrowsAsync<AwsServiceException>(call);

        Assert.Equal(code, ex.ErrorCode);
        Assert.Equal(status, ex.StatusCode);
        Assert.Equal(AwsErrorKind.AccessDenied, ex.Kind);
        Assert.False(ex.IsRetryable);
    }

    [Fact]
    public async Task The_known_key_still_works()
    {
        using var session = _fixture.Session();

        var identity = await session.GetCallerIdentityAsync(CancellationToken.None);

        Assert.Equal(EmulatorFixture.AccessKey, identity.UserId);
    }
}
