using Rlabs.Pipelines.Aws;
using Rlabs.Pipelines.Containers;

namespace Rlabs.Pipelines.Core.Tests.Aws;

/// <summary>The ECR login the container runtime makes before pulling a SageMaker image, against the emulator.</summary>
[Trait("Tier", "Emulator")]
public sealed class EcrClientTests : IClassFixture<EmulatorFixture>
{
    private const string SageMakerImage = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3";
    private readonly EmulatorFixture _fixture;

    public EcrClientTests(EmulatorFixture fixture)
    {
        _fixture = fixture;
        _fixture.Emulator.Faults.Clear();
    }

    private AwsSession SessionIn(string region) => AwsSession.Create(new AwsSessionOptions
    {
        AccessKey = "AKIDECRLOGIN",
        SecretKey = "ecr-secret",
        Region = region,
        EndpointUrl = _fixture.Endpoint,
        MaxAttempts = 2,
        RetryBaseDelay = TimeSpan.FromMilliseconds(5),
    }, _ => null);

    [Fact]
    public async Task The_login_of_an_ECR_image_is_a_signed_GetAuthorizationToken_in_the_registry_region_kept_until_it_expires()
    {
        var regions = new List<string>();
        var login = new EcrRegistryLogin(region =>
        {
            regions.Add(region);
            return SessionIn(region);
        });
        var before = _fixture.Emulator.Ecr.Issued.Count;

        var credentials = await login.GetCredentialsAsync(SageMakerImage, CancellationToken.None);
        var again = await login.GetCredentialsAsync(SageMakerImage, CancellationToken.None);

        Assert.NotNull(credentials);
        Assert.Equal("683313688378.dkr.ecr.us-east-1.amazonaws.com", credentials.ServerAddress);
        Assert.Equal("AWS", credentials.Username);
        var issued = _fixture.Emulator.Ecr.Issued.Skip(before).ToList();
        Assert.Equal(("us-east-1", credentials.Password), Assert.Single(issued));
        Assert.Same(credentials, again);
        Assert.Equal(["us-east-1"], regions);
        var request = _fixture.Emulator.Requests.For("ecr", "GetAuthorizationToken").Last(r => r.AccessKeyId == "AKIDECRLOGIN");
        Assert.Equal("us-east-1", request.Region);
        Assert.Equal("683313688378", (string?)request.Parameters?["registryIds"]?[0]);
        Assert.DoesNotContain(credentials.Password, credentials.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Images_outside_ECR_are_pulled_without_a_login()
    {
        var login = new EcrRegistryLogin(region => throw new InvalidOperationException("no session may be made for " + region));

        Assert.Null(await login.GetCredentialsAsync("python:3.11", CancellationToken.None));
        Assert.Null(await login.GetCredentialsAsync("registry.example.com/team/image:1", CancellationToken.None));
    }

    [Fact]
    public async Task A_refused_login_surfaces_as_the_AWS_error()
    {
        _fixture.Emulator.Faults.Add(new Rlabs.Pipelines.AwsEmulator.FaultRule { Service = "ecr", Operation = "GetAuthorizationToken", Kind = "Error", ErrorCode = "AccessDeniedException", Message = "not allowed", StatusCode = 400, Count = 1 });
        var login = new EcrRegistryLogin(SessionIn);

        var error = await Assert.ThrowsAsync<AwsServiceException>(() => login.GetCredentialsAsync(SageMakerImage, CancellationToken.None));

        Assert.Equal("AccessDeniedException", error.ErrorCode);
    }
}
