using Rlabs.Pipelines.Aws;

namespace Rlabs.Pipelines.Core.Tests.Aws;

/// <summary>Endpoint and region rules, read through an injected environment.</summary>
[Trait("Tier", "Emulator")]
public sealed class AwsSessionEndpointTests : IClassFixture<EmulatorFixture>
{
    private readonly EmulatorFixture _fixture;

    public AwsSessionEndpointTests(EmulatorFixture fixture)
    {
        _fixture = fixture;
    }

    private static AwsSession Create(Dictionary<string, string> environment, string? endpointUrl = null, string region = "eu-west-1") =>
        AwsSession.Create(new AwsSessionOptions { AccessKey = "AKIDENDPOINT", SecretKey = "s", Region = region, EndpointUrl = endpointUrl, MaxAttempts = 1 },
            name => environment.GetValueOrDefault(name));

    [Fact]
    public void Without_overrides_each_service_gets_its_public_endpoint()
    {
        using var session = Create([]);

        Assert.Equal(new Uri("https://api.sagemaker.eu-west-1.amazonaws.com/"), session.GetEndpoint(AwsService.SageMaker));
        Assert.Equal(new Uri("https://logs.eu-west-1.amazonaws.com/"), session.GetEndpoint(AwsService.CloudWatchLogs));
        Assert.Equal(new Uri("https://events.eu-west-1.amazonaws.com/"), session.GetEndpoint(AwsService.EventBridge));
        Assert.Equal(new Uri("https://lambda.eu-west-1.amazonaws.com/"), session.GetEndpoint(AwsService.Lambda));
        Assert.Equal(new Uri("https://iam.amazonaws.com/"), session.GetEndpoint(AwsService.Iam));
        Assert.Equal("us-east-1", session.GetSigningRegion(AwsService.Iam));
        Assert.Equal("eu-west-1", session.GetSigningRegion(AwsService.SageMaker));
        Assert.False(session.HasCustomEndpoint(AwsService.S3));
    }

    [Fact]
    public void China_regions_use_their_partition()
    {
        using var session = Create([], region: "cn-north-1");

        Assert.Equal(new Uri("https://api.sagemaker.cn-north-1.amazonaws.com.cn/"), session.GetEndpoint(AwsService.SageMaker));
        Assert.Equal(new Uri("https://iam.cn-north-1.amazonaws.com.cn/"), session.GetEndpoint(AwsService.Iam));
        Assert.Equal("cn-north-1", session.GetSigningRegion(AwsService.Iam));
    }

    [Fact]
    public void A_service_specific_variable_beats_the_global_one_and_the_option_beats_both()
    {
        var environment = new Dictionary<string, string>
        {
            ["AWS_ENDPOINT_URL"] = "http://global.test:1/",
            ["AWS_ENDPOINT_URL_SAGEMAKER"] = "http://sagemaker.test:2/",
            ["AWS_ENDPOINT_URL_CLOUDWATCH_LOGS"] = "http://logs.test:3/",
            ["AWS_ENDPOINT_URL_EVENTBRIDGE"] = "http://events.test:4/",
            ["AWS_ENDPOINT_URL_LAMBDA"] = "http://lambda.test:5/",
            ["AWS_ENDPOINT_URL_IAM"] = "http://iam.test:6/",
            ["AWS_ENDPOINT_URL_S3"] = "http://s3.test:7/",
            ["AWS_ENDPOINT_URL_EC2"] = "http://ec2.test:8/",
        };
        using var session = Create(environment);
        using var explicitSession = Create(environment, endpointUrl: "http://explicit.test:9/");

        Assert.Equal(new Uri("http://sagemaker.test:2/"), session.GetEndpoint(AwsService.SageMaker));
        Assert.Equal(new Uri("http://logs.test:3/"), session.GetEndpoint(AwsService.CloudWatchLogs));
        Assert.Equal(new Uri("http://events.test:4/"), session.GetEndpoint(AwsService.EventBridge));
        Assert.Equal(new Uri("http://lambda.test:5/"), session.GetEndpoint(AwsService.Lambda));
        Assert.Equal(new Uri("http://iam.test:6/"), session.GetEndpoint(AwsService.Iam));
        Assert.Equal(new Uri("http://s3.test:7/"), session.GetEndpoint(AwsService.S3));
        Assert.Equal(new Uri("http://ec2.test:8/"), session.GetEndpoint(AwsService.Ec2));
        Assert.Equal(new Uri("http://global.test:1/"), session.GetEndpoint(AwsService.Sts));
        Assert.All(Enum.GetValues<AwsService>(), s => Assert.Equal(new Uri("http://explicit.test:9/"), explicitSession.GetEndpoint(s)));
    }

    [Fact]
    public void AWS_IGNORE_CONFIGURED_ENDPOINT_URLS_turns_the_variables_off()
    {
        using var session = Create(new() { ["AWS_ENDPOINT_URL"] = "http://global.test:1/", ["AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"] = "true" });

        Assert.Equal(new Uri("https://logs.eu-west-1.amazonaws.com/"), session.GetEndpoint(AwsService.CloudWatchLogs));
    }

    [Fact]
    public void A_malformed_endpoint_is_a_clear_error()
    {
        using var session = Create(new() { ["AWS_ENDPOINT_URL_LAMBDA"] = "not a url" });

        var ex = Assert.Throws<AwsServiceException>(() => session.GetEndpoint(AwsService.Lambda));

        Assert.Equal("InvalidEndpointUrl", ex.ErrorCode);
    }

    [Fact]
    public async Task Hand_called_services_send_to_their_service_specific_endpoint()
    {
        var environment = new Dictionary<string, string>
        {
            // Nothing listens on port 1: a call that ignored the service-specific variable would fail.
            ["AWS_ENDPOINT_URL"] = "http://127.0.0.1:1/",
            ["AWS_ENDPOINT_URL_CLOUDWATCH_LOGS"] = _fixture.Endpoint,
        };
        using var session = Create(environment);
        var group = "/rlabs/" + EmulatorFixture.UniqueName("endpoint");
        _fixture.Emulator.Logs.Append(group, "s", DateTimeOffset.UtcNow, ["hello"]);

        var events = await new CloudWatchLogsClient(session).GetLogEventsAsync(new GetLogEventsRequest { LogGroupName = group, LogStreamName = "s" }, CancellationToken.None);
        var unreachable = await Assert.ThrowsAsync<AwsServiceException>(() => new SageMakerClient(session).DescribeProcessingJobAsync("x", CancellationToken.None));

        Assert.Equal("hello", Assert.Single(events.Events).Message);
        Assert.Equal("RequestTimeout", unreachable.ErrorCode);
    }

    [Fact]
    public void Region_comes_from_AWS_REGION_when_nothing_else_names_one()
    {
        using var session = AwsSession.Create(new AwsSessionOptions { AccessKey = "A", SecretKey = "s" },
            name => name == "AWS_REGION" ? "ap-south-1" : name == "AWS_DEFAULT_REGION" ? "us-west-2" : null);

        Assert.Equal("ap-south-1", session.Region);
    }
}

/// <summary>Credential sources; these change process-wide variables the SDK chain reads.</summary>
[Collection(ProcessEnvironmentTests.Name)]
[Trait("Tier", "Emulator")]
public sealed class AwsSessionCredentialTests : IClassFixture<EmulatorFixture>, IDisposable
{
    private readonly EmulatorFixture _fixture;
    private readonly string _directory;
    private readonly Dictionary<string, string?> _saved = [];

    public AwsSessionCredentialTests(EmulatorFixture fixture)
    {
        _fixture = fixture;
        _directory = Directory.CreateTempSubdirectory("rlabs-creds-").FullName;
    }

    public void Dispose()
    {
        foreach (var (name, value) in _saved)
        {
            Environment.SetEnvironmentVariable(name, value);
        }

        Directory.Delete(_directory, recursive: true);

    }

    private void SetEnvironment(string name, string? value)
    {
        if (!_saved.ContainsKey(name))
        {
            _saved[name] = Environment.GetEnvironmentVariable(name);
        }

        Environment.SetEnvironmentVariable(name, value);
    }

    private string Write(string fileName, string content)
    {
        var path = Path.Combine(_directory, fileName);
        File.WriteAllText(path, content);
        return path;
    }

    /// <summary>Makes one signed call and returns the access key and region the emulator saw.</summary>
    private async Task<(string AccessKeyId, string Region, bool HasToken)> SignedCallAsync(AwsSession session)
    {
        var marker = Guid.NewGuid().ToString("N");
        await new SageMakerClient(session).ListProcessingJobsAsync(new ListProcessingJobsRequest { NameContains = marker }, CancellationToken.None);
        var request = Assert.Single(_fixture.Emulator.Requests.For("sagemaker", "ListProcessingJobs"), r => (string?)r.Parameters!["NameContains"] == marker);
        return (request.AccessKeyId, request.Region, request.HasSessionToken);
    }

    [Fact]
    public async Task Explicit_keys_with_a_session_token_sign_the_request()
    {
        using var session = _fixture.Session(accessKey: "AKIDEXPLICIT", sessionToken: "token-value");

        var seen = await SignedCallAsync(session);

        Assert.Equal(("AKIDEXPLICIT", "eu-west-1", true), seen);
        Assert.Equal("explicit keys", session.CredentialSource);
    }

    [Fact]
    public async Task A_named_profile_supplies_keys_and_region_from_the_shared_files()
    {
        // The region sits in the credentials file: AWSSDK.Core fixes the config file's path once per process.
        SetEnvironment("AWS_SHARED_CREDENTIALS_FILE", Write("credentials",
            "[default]\naws_access_key_id = AKIDDEFAULT\naws_secret_access_key = d\n\n[rlabs-test]\naws_access_key_id = AKIDPROFILE\naws_secret_access_key = profile-secret\nregion = ap-southeast-2\n"));

        using var session = AwsSession.Create(new AwsSessionOptions { ProfileName = "rlabs-test", EndpointUrl = _fixture.Endpoint });
        var seen = await SignedCallAsync(session);

        Assert.Equal(("AKIDPROFILE", "ap-southeast-2", false), seen);
        Assert.Equal("profile 'rlabs-test'", session.CredentialSource);
    }

    [Fact]
    public async Task AWS_PROFILE_selects_a_profile_from_AWS_SHARED_CREDENTIALS_FILE()
    {
        SetEnvironment("AWS_SHARED_CREDENTIALS_FILE", Write("credentials",
            "[default]\naws_access_key_id = AKIDDEFAULT\naws_secret_access_key = d\n\n[ci]\naws_access_key_id = AKIDCIPROFILE\naws_secret_access_key = c\n"));
        SetEnvironment("AWS_PROFILE", "ci");

        using var session = AwsSession.Create(new AwsSessionOptions { Region = "eu-north-1", EndpointUrl = _fixture.Endpoint });
        var seen = await SignedCallAsync(session);

        Assert.Equal(("AKIDCIPROFILE", "eu-north-1", false), seen);
    }

    [Fact]
    public async Task The_default_profile_of_AWS_SHARED_CREDENTIALS_FILE_is_used_when_nothing_else_is_given()
    {
        SetEnvironment("AWS_SHARED_CREDENTIALS_FILE", Write("credentials", "[default]\naws_access_key_id = AKIDDEFAULTPROFILE\naws_secret_access_key = d\nregion = ca-central-1\n"));

        using var session = AwsSession.Create(new AwsSessionOptions { EndpointUrl = _fixture.Endpoint });

        Assert.Equal(("AKIDDEFAULTPROFILE", "ca-central-1", false), await SignedCallAsync(session));
        Assert.Equal("profile 'default'", session.CredentialSource);
    }

    [Fact]
    public async Task An_AWS_PROFILE_that_does_not_exist_does_not_block_explicit_keys()
    {
        SetEnvironment("AWS_SHARED_CREDENTIALS_FILE", Write("credentials", "[other]\naws_access_key_id = A\naws_secret_access_key = B\n"));
        SetEnvironment("AWS_PROFILE", "gone");

        using var session = AwsSession.Create(new AwsSessionOptions { AccessKey = "AKIDBEATSENV", SecretKey = "s", Region = "eu-west-1", EndpointUrl = _fixture.Endpoint });
        var ex = Assert.Throws<AwsServiceException>(() => AwsSession.Create(new AwsSessionOptions { Region = "eu-west-1" }));

        Assert.Equal("AKIDBEATSENV", (await SignedCallAsync(session)).AccessKeyId);
        Assert.Equal("ProfileNotFound", ex.ErrorCode);
    }

    [Fact]
    public void An_unknown_profile_is_a_clear_error()
    {
        SetEnvironment("AWS_SHARED_CREDENTIALS_FILE", Write("credentials", "[other]\naws_access_key_id = A\naws_secret_access_key = B\n"));

        var ex = Assert.Throws<AwsServiceException>(() => AwsSession.Create(new AwsSessionOptions { ProfileName = "missing", Region = "eu-west-1" }));

        Assert.Equal("ProfileNotFound", ex.ErrorCode);
    }

    [Fact]
    public async Task Environment_keys_are_found_by_the_default_chain()
    {
        SetEnvironment("AWS_ACCESS_KEY_ID", "AKIDFROMENV");
        SetEnvironment("AWS_SECRET_ACCESS_KEY", "env-secret");
        SetEnvironment("AWS_SESSION_TOKEN", "env-token");
        SetEnvironment("AWS_REGION", "us-west-2");

        using var session = AwsSession.Create(new AwsSessionOptions { EndpointUrl = _fixture.Endpoint });
        var seen = await SignedCallAsync(session);

        Assert.Equal(("AKIDFROMENV", "us-west-2", true), seen);
        Assert.Equal("default credential chain", session.CredentialSource);
    }

    [Fact]
    public async Task The_seed_credentials_file_supplies_keys_under_an_aws_mapping()
    {
        var file = Write("credentials.yaml", """
            aws:
              aws_access_key_id: AKIDYAMLNESTED
              aws_secret_access_key: yaml-secret
              region_name: eu-central-1
            snowflake:
              user: analyst
              password: hunter2
            """);

        using var session = AwsSession.Create(new AwsSessionOptions { CredentialsFile = file, EndpointUrl = _fixture.Endpoint });
        var seen = await SignedCallAsync(session);

        Assert.Equal(("AKIDYAMLNESTED", "eu-central-1", false), seen);
        Assert.Equal("credentials file 'credentials.yaml'", session.CredentialSource);
    }

    [Fact]
    public async Task The_seed_credentials_file_supplies_top_level_keys_and_explicit_values_win()
    {
        var file = Write("creds.yaml", """
            aws_access_key_id: AKIDYAMLTOP
            aws_secret_access_key: yaml-secret
            aws_session_token: yaml-token
            aws_region: sa-east-1
            """);

        using var fromFile = AwsSession.Create(new AwsSessionOptions { CredentialsFile = file, EndpointUrl = _fixture.Endpoint });
        using var overridden = AwsSession.Create(new AwsSessionOptions
        {
            CredentialsFile = file, AccessKey = "AKIDOVERRIDE", SecretKey = "s", Region = "eu-west-3", EndpointUrl = _fixture.Endpoint,
        });

        Assert.Equal(("AKIDYAMLTOP", "sa-east-1", true), await SignedCallAsync(fromFile));
        Assert.Equal(("AKIDOVERRIDE", "eu-west-3", false), await SignedCallAsync(overridden));
    }

    [Fact]
    public void Half_a_key_pair_is_refused_and_no_credentials_at_all_is_reported()
    {
        var half = Assert.Throws<AwsServiceException>(() => AwsSession.Create(new AwsSessionOptions { AccessKey = "AKIDHALF", Region = "eu-west-1" }));
        var none = Assert.Throws<AwsServiceException>(() => AwsSession.Create(new AwsSessionOptions { Region = "eu-west-1" }));

        Assert.Equal("IncompleteCredentials", half.ErrorCode);
        Assert.Equal("NoCredentials", none.ErrorCode);
        Assert.Equal(AwsErrorKind.AccessDenied, none.Kind);
    }

    [Fact]
    public void No_region_anywhere_is_reported()
    {
        var ex = Assert.Throws<AwsServiceException>(() => AwsSession.Create(new AwsSessionOptions { AccessKey = "A", SecretKey = "B" }));

        Assert.Equal("NoRegion", ex.ErrorCode);
    }

    [Fact]
    public void Options_never_print_secrets()
    {
        var options = new AwsSessionOptions { AccessKey = "AKIDPRINT", SecretKey = "top-secret", SessionToken = "secret-token", Region = "eu-west-1" };

        Assert.DoesNotContain("top-secret", options.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("secret-token", options.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("AKIDPRINT", options.ToString(), StringComparison.Ordinal);
    }
}
