using System.Text.Json.Nodes;
using Rlabs.Pipelines.Aws;
using Rlabs.Pipelines.AwsEmulator.Model;

namespace Rlabs.Pipelines.Core.Tests.Aws;

/// <summary>The emulator rejects what AWS rejects, judged by botocore's models rather than by us.</summary>
[Trait("Tier", "Emulator")]
public sealed class ModelValidationTests : IClassFixture<EmulatorFixture>
{
    private static readonly string[] s_services = ["sagemaker", "logs", "events", "lambda", "iam", "sts", "ec2", "s3"];
    private readonly EmulatorFixture _fixture;

    public ModelValidationTests(EmulatorFixture fixture)
    {
        _fixture = fixture;
    }

    [Fact]
    public async Task A_request_missing_a_required_member_is_rejected_with_ValidationException()
    {
        using var session = _fixture.Session();
        var client = new SageMakerClient(session);
        var name = EmulatorFixture.UniqueName("norole");
        var request = SageMakerClientTests.Job(name);
        var withoutRole = new CreateProcessingJobRequest
        {
            ProcessingJobName = request.ProcessingJobName,
            AppSpecification = request.AppSpecification,
            ProcessingResources = request.ProcessingResources,
            RoleArn = null!,
        };

        var ex = await Assert.ThrowsAsync<AwsServiceException>(() => client.CreateProcessingJobAsync(withoutRole, CancellationToken.None));

        Assert.Equal("ValidationException", ex.ErrorCode);
        Assert.Equal(AwsErrorKind.Validation, ex.Kind);
        Assert.Equal("1 validation error detected: Value null at 'roleArn' failed to satisfy constraint: Member must not be null", ex.AwsMessage);
        Assert.Equal(1, _fixture.Emulator.Requests.For("sagemaker", "CreateProcessingJob").Count(r => (string?)r.Parameters!["ProcessingJobName"] == name));
    }

    [Fact]
    public async Task A_request_with_a_value_outside_the_enum_is_rejected_and_not_retried()
    {
        using var session = _fixture.Session(maxAttempts: 4);
        var client = new SageMakerClient(session);
        var name = EmulatorFixture.UniqueName("enum");

        var ex = await Assert.ThrowsAsync<AwsServiceException>(() => client.CreateProcessingJobAsync(SageMakerClientTests.Job(name, "ml.t3.gigantic"), CancellationToken.None));

        Assert.Equal("ValidationException", ex.ErrorCode);
        Assert.Contains("Value 'ml.t3.gigantic' at 'processingResources.clusterConfig.instanceType' failed to satisfy constraint: Member must satisfy enum value set", ex.AwsMessage, StringComparison.Ordinal);
        Assert.Single(_fixture.Emulator.Requests.For("sagemaker", "CreateProcessingJob"), r => (string?)r.Parameters!["ProcessingJobName"] == name);
    }

    [Fact]
    public async Task A_name_breaking_the_pattern_and_length_is_rejected()
    {
        using var session = _fixture.Session();
        var client = new SageMakerClient(session);

        var ex = await Assert.ThrowsAsync<AwsServiceException>(() => client.CreateProcessingJobAsync(SageMakerClientTests.Job("bad_name_" + new string('x', 70)), CancellationToken.None));

        Assert.StartsWith("2 validation errors detected:", ex.AwsMessage, StringComparison.Ordinal);
        Assert.Contains("Member must satisfy regular expression pattern: ^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}", ex.AwsMessage, StringComparison.Ordinal);
        Assert.Contains("Member must have length less than or equal to 63", ex.AwsMessage, StringComparison.Ordinal);
    }

    [Fact]
    public async Task CloudWatch_Logs_answers_constraint_violations_with_its_own_code()
    {
        using var session = _fixture.Session();
        var client = new CloudWatchLogsClient(session);

        var ex = await Assert.ThrowsAsync<AwsServiceException>(() => client.GetLogEventsAsync(
            new GetLogEventsRequest { LogGroupName = "/aws/sagemaker/ProcessingJobs", LogStreamName = "s:*", Limit = 0 }, CancellationToken.None));

        Assert.Equal("InvalidParameterException", ex.ErrorCode);
        Assert.Contains("Member must have value greater than or equal to 1", ex.AwsMessage, StringComparison.Ordinal);
        Assert.Contains("Member must satisfy regular expression pattern: [^:*]*", ex.AwsMessage, StringComparison.Ordinal);
    }

    [Fact]
    public void Validator_checks_nested_lists_maps_ranges_and_types()
    {
        var model = BotocoreModel.Load(BotocoreModel.DefaultDataDirectory, "sagemaker");
        var request = JsonNode.Parse("""
            {
              "ProcessingJobName": "ok",
              "RoleArn": "arn:aws:iam::123456789012:role/r",
              "AppSpecification": { "ImageUri": "i", "ContainerArguments": [] },
              "ProcessingResources": { "ClusterConfig": { "InstanceCount": 0, "InstanceType": "ml.t3.medium", "VolumeSizeInGB": 30 } },
              "ProcessingInputs": [ { "InputName": "a", "S3Input": { "S3Uri": "ftp://x", "LocalPath": "/opt", "S3InputMode": "File" } } ],
              "Environment": { "1BAD": "v" }
            }
            """);

        var result = ModelValidator.Validate(model, "CreateProcessingJobRequest", request);

        Assert.Contains("Value '0' at 'processingResources.clusterConfig.instanceCount' failed to satisfy constraint: Member must have value greater than or equal to 1", result.ConstraintErrors);
        Assert.Contains("Value at 'appSpecification.containerArguments' failed to satisfy constraint: Member must have length greater than or equal to 1", result.ConstraintErrors);
        Assert.Contains(result.ConstraintErrors, e => e.StartsWith("Value 'ftp://x' at 'processingInputs.1.member.s3Input.s3Uri'", StringComparison.Ordinal));
        Assert.Contains("Value null at 'processingInputs.1.member.s3Input.s3DataType' failed to satisfy constraint: Member must not be null", result.ConstraintErrors);
        Assert.Contains(result.ConstraintErrors, e => e.StartsWith("Value '1BAD' at 'environment.1BAD.key'", StringComparison.Ordinal));
        Assert.Empty(result.TypeErrors);

        var wrongType = ModelValidator.Validate(model, "DescribeProcessingJobRequest", JsonNode.Parse("""{ "ProcessingJobName": 5 }"""));
        Assert.Single(wrongType.TypeErrors);
    }

    [Fact]
    public void Every_pattern_in_the_models_compiles_after_translation_from_Java()
    {
        var count = 0;
        foreach (var service in s_services)
        {
            var model = BotocoreModel.Load(BotocoreModel.DefaultDataDirectory, service);
            foreach (var shapeName in model.ShapeNames)
            {
                if ((string?)model.Shape(shapeName)["pattern"] is { } pattern)
                {
                    var regex = JavaRegex.Compile(pattern);
                    Assert.NotNull(regex);
                    count++;
                }
            }
        }

        Assert.True(count > 400, $"only {count} patterns found: are the botocore models installed?");
    }

    [Theory]
    [InlineData(@"[\w+=,.@-]+", "role-name_1", true)]
    [InlineData(@"[\w+=,.@-]+", "rôle", false)]
    [InlineData(@"\d{12}", "١٢٣٤٥٦٧٨٩٠١٢", false)]
    [InlineData(@"[\p{L}\p{Z}\p{N}_.:/=+\-@]*", "Ünïcode ok", true)]
    [InlineData(@"[\u0020-\uD7FF\uE000-\uFFFD\uD800\uDC00-\uDBFF\uDFFF\t]*", "emoji 😀 ok", true)]
    [InlineData(@"[\u0020-\uD7FF\uE000-\uFFFD\uD800\uDC00-\uDBFF\uDFFF\t]*", "bell \u0007", false)]
    [InlineData(@"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}", "a-b", true)]
    [InlineData(@"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}", "a-b-", false)]
    [InlineData(@"\p{Alpha}+", "abc", true)]
    public void Java_patterns_keep_their_Java_meaning(string pattern, string value, bool matches)
    {
        Assert.Equal(matches, JavaRegex.Compile(pattern).IsMatch(value));
    }
}
