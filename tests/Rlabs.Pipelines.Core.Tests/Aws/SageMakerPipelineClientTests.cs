using System.Text;
using System.Text.Json.Nodes;
using Rlabs.Pipelines.Aws;
using static Rlabs.Pipelines.Core.Tests.Aws.PipelineTestDefinitions;

namespace Rlabs.Pipelines.Core.Tests.Aws;

/// <summary>The pipeline calls of <see cref="SageMakerClient"/> against the emulator, and the emulator's
/// judgement of definitions: what SageMaker refuses, it refuses with a reason.</summary>
[Trait("Tier", "Emulator")]
public sealed class SageMakerPipelineClientTests : IClassFixture<EmulatorFixture>
{
    private const string Bucket = "validation-bucket";
    private readonly EmulatorFixture _fixture;

    public SageMakerPipelineClientTests(EmulatorFixture fixture)
    {
        _fixture = fixture;
    }

    [Fact]
    public async Task A_pipeline_is_created_described_updated_listed_tagged_and_deleted()
    {
        using var session = _fixture.Session();
        var client = new SageMakerClient(session);
        var name = EmulatorFixture.UniqueName("crud");
        var definition = Definition(RunStep("A", Bucket, [])).ToJsonString();
        var token = Guid.NewGuid().ToString();
        var request = new CreatePipelineRequest
        {
            PipelineName = name,
            PipelineDefinition = definition,
            PipelineDescription = "first",
            RoleArn = RoleArn,
            ClientRequestToken = token,
            Tags = [new AwsTag { Key = "rlabs:project", Value = "demo" }],
        };

        var created = await client.CreatePipelineAsync(request, CancellationToken.None);
        var repeated = await client.CreatePipelineAsync(request, CancellationToken.None);
        var duplicate = await Assert.ThrowsAsync<AwsServiceException>(() => client.CreatePipelineAsync(request with { ClientRequestToken = null }, CancellationToken.None));
        var described = await client.DescribePipelineAsync(name, CancellationToken.None);
        var changed = Definition(RunStep("A", Bucket, []), RunStep("B", Bucket, [OutputOf("A")])).ToJsonString();
        await client.UpdatePipelineAsync(new UpdatePipelineRequest { PipelineName = name, PipelineDefinition = changed, PipelineDescription = "second" }, CancellationToken.None);
        var updated = await client.DescribePipelineAsync(created.PipelineArn, CancellationToken.None);
        var listed = await client.ListPipelinesAsync(new ListPipelinesRequest { PipelineNamePrefix = name }, CancellationToken.None);
        await client.AddTagsAsync(created.PipelineArn, [new AwsTag { Key = "owner", Value = "data" }], CancellationToken.None);
        await client.DeleteTagsAsync(created.PipelineArn, ["rlabs:project"], CancellationToken.None);
        var tags = await client.ListTagsAsync(created.PipelineArn, CancellationToken.None);
        var deleted = await client.DeletePipelineAsync(name, null, CancellationToken.None);
        var gone = await Assert.ThrowsAsync<AwsServiceException>(() => client.DescribePipelineAsync(name, CancellationToken.None));

        Assert.Equal($"arn:aws:sagemaker:eu-west-1:123456789012:pipeline/{name}", created.PipelineArn);
        Assert.Equal(created.PipelineArn, repeated.PipelineArn);
        Assert.Equal("ValidationException", duplicate.ErrorCode);
        Assert.Equal(definition, described.PipelineDefinition);
        Assert.Equal("first", described.PipelineDescription);
        Assert.Equal(RoleArn, described.RoleArn);
        Assert.Equal("Active", described.PipelineStatus);
        Assert.True(Math.Abs((described.CreationTime!.Value - DateTimeOffset.UtcNow).TotalMinutes) < 1);
        Assert.Equal(changed, updated.PipelineDefinition);
        Assert.Equal("second", updated.PipelineDescription);
        Assert.Equal(name, Assert.Single(listed.PipelineSummaries).PipelineName);
        Assert.Equal(["owner=data"], tags.Select(t => $"{t.Key}={t.Value}"));
        Assert.Equal(created.PipelineArn, deleted.PipelineArn);
        Assert.Equal("ResourceNotFound", gone.ErrorCode);
        var recorded = _fixture.Emulator.Requests.For("sagemaker", "DeletePipeline")[^1];
        Assert.Equal(36, ((string)recorded.Parameters!["ClientRequestToken"]!).Length);
    }

    [Fact]
    public async Task A_definition_can_come_from_S3_and_an_update_applies_to_later_executions_only()
    {
        using var session = _fixture.Session();
        var client = new SageMakerClient(session);
        var bucket = SeedBucket(_fixture.Emulator);
        var name = EmulatorFixture.UniqueName("s3def");
        _fixture.Emulator.S3.PutObjectBytes(bucket, "definitions/p.json", Encoding.UTF8.GetBytes(Definition(RunStep("One", bucket, [], "--sleep", "1")).ToJsonString()));
        await client.CreatePipelineAsync(new CreatePipelineRequest
        {
            PipelineName = name,
            PipelineDefinitionS3Location = new PipelineDefinitionS3Location { Bucket = bucket, ObjectKey = "definitions/p.json" },
            RoleArn = RoleArn,
        }, CancellationToken.None);

        var first = await StartAsync(client, name, "1");
        await client.UpdatePipelineAsync(new UpdatePipelineRequest { PipelineName = name, PipelineDefinition = Definition(RunStep("Two", bucket, [])).ToJsonString() }, CancellationToken.None);
        var second = await StartAsync(client, name, "2");
        await WaitAsync(client, first);
        await WaitAsync(client, second);

        Assert.Equal(["One"], (await StepsAsync(client, first)).Keys);
        Assert.Equal(["Two"], (await StepsAsync(client, second)).Keys);
        Assert.Equal("One", Read(_fixture.Emulator, bucket, $"runs/1/{ExecutionId(first)}/One/One.txt"));
    }

    [Fact]
    public async Task Parameters_reach_typed_arguments_and_unknown_or_mistyped_parameters_are_refused()
    {
        using var session = _fixture.Session();
        var client = new SageMakerClient(session);
        var bucket = SeedBucket(_fixture.Emulator);
        var name = EmulatorFixture.UniqueName("params");
        var definition = Definition(RunStep("A", bucket, []));
        definition["Parameters"]!.AsArray().Add(new JsonObject { ["Name"] = "Count", ["Type"] = "Integer", ["DefaultValue"] = 1 });
        definition["Steps"]![0]!["Arguments"]!["ProcessingResources"]!["ClusterConfig"]!["InstanceCount"] = Get("Parameters.Count");
        await CreateAsync(client, name, definition);

        var arn = (await client.StartPipelineExecutionAsync(new StartPipelineExecutionRequest
        {
            PipelineName = name,
            PipelineParameters = [new PipelineParameter { Name = "JobId", Value = "p1" }, new PipelineParameter { Name = "Count", Value = "2" }],
        }, CancellationToken.None)).PipelineExecutionArn;
        var unknown = await Assert.ThrowsAsync<AwsServiceException>(() => client.StartPipelineExecutionAsync(
            new StartPipelineExecutionRequest { PipelineName = name, PipelineParameters = [new PipelineParameter { Name = "Nope", Value = "1" }] }, CancellationToken.None));
        var mistyped = await Assert.ThrowsAsync<AwsServiceException>(() => client.StartPipelineExecutionAsync(
            new StartPipelineExecutionRequest { PipelineName = name, PipelineParameters = [new PipelineParameter { Name = "Count", Value = "two" }] }, CancellationToken.None));
        await WaitAsync(client, arn);

        var arguments = _fixture.Emulator.SageMaker.Pipelines.Snapshot(name)[0]!["steps"]![0]!["arguments"]!;
        Assert.Equal(2, (long)arguments["ProcessingResources"]!["ClusterConfig"]!["InstanceCount"]!);
        Assert.Equal($"s3://{bucket}/runs/p1/{ExecutionId(arn)}/A", (string?)arguments["ProcessingOutputConfig"]!["Outputs"]![0]!["S3Output"]!["S3Uri"]);
        Assert.Contains("Nope", unknown.AwsMessage, StringComparison.Ordinal);
        Assert.Contains("Integer", mistyped.AwsMessage, StringComparison.Ordinal);
    }

    public static TheoryData<string, string> InvalidDefinitions => new()
    {
        { "cycle", "cycle" },
        { "dependsOnMissing", "depends on 'Nowhere'" },
        { "unknownParameter", "Parameters.Missing names no parameter" },
        { "unknownStepProperty", "'OutputBucket' is not a member" },
        { "stepReadsItself", "reads its own properties" },
        { "badInstanceType", "processingResources.clusterConfig.instanceType" },
        { "namedJob", "must not name the job" },
        { "trainingStep", "Processing steps only" },
        { "badExpireAfter", "not an ISO 8601 duration" },
        { "badRetryType", "'Step.ANYTHING' is not a retry exception type" },
        { "joinWithoutOn", "Std:Join takes exactly" },
        { "unknownMember", "'Timeout' is not a member of step 'A'" },
        { "wrongVersion", "Version must be" },
        { "duplicateStep", "unique" },
        { "notJson", "not valid JSON" },
    };

    private static string Invalid(string kind)
    {
        var a = RunStep("A", Bucket, []);
        var b = RunStep("B", Bucket, [OutputOf("A")]);
        JsonObject Def() => Definition(a, b);
        switch (kind)
        {
            case "cycle":
                a["DependsOn"] = new JsonArray("B");
                return Def().ToJsonString();
            case "dependsOnMissing":
                b["DependsOn"] = new JsonArray("Nowhere");
                return Def().ToJsonString();
            case "unknownParameter":
                b["Arguments"]!["Environment"] = new JsonObject { ["X"] = Get("Parameters.Missing") };
                return Def().ToJsonString();
            case "unknownStepProperty":
                b["Arguments"]!["Environment"] = new JsonObject { ["X"] = Get("Steps.A.OutputBucket") };
                return Def().ToJsonString();
            case "stepReadsItself":
                a["Arguments"]!["Environment"] = new JsonObject { ["X"] = Get("Steps.A.ProcessingJobName") };
                return Def().ToJsonString();
            case "badInstanceType":
                a["Arguments"]!["ProcessingResources"]!["ClusterConfig"]!["InstanceType"] = "ml.huge";
                return Def().ToJsonString();
            case "namedJob":
                a["Arguments"]!["ProcessingJobName"] = "mine";
                return Def().ToJsonString();
            case "trainingStep":
                a["Type"] = "Training";
                return Def().ToJsonString();
            case "badExpireAfter":
                a["CacheConfig"] = new JsonObject { ["Enabled"] = true, ["ExpireAfter"] = "one hour" };
                return Def().ToJsonString();
            case "badRetryType":
                a["RetryPolicies"] = new JsonArray(new JsonObject { ["ExceptionType"] = new JsonArray("Step.ANYTHING") });
                return Def().ToJsonString();
            case "joinWithoutOn":
                a["Arguments"]!["Environment"] = new JsonObject { ["X"] = new JsonObject { ["Std:Join"] = new JsonObject { ["Values"] = new JsonArray("a") } } };
                return Def().ToJsonString();
            case "unknownMember":
                a["Timeout"] = 5;
                return Def().ToJsonString();
            case "wrongVersion":
                var old = Def();
                old["Version"] = "2019-01-01";
                return old.ToJsonString();
            case "duplicateStep":
                return Definition(a, RunStep("A", Bucket, [])).ToJsonString();
            default:
                return "{\"Steps\": [";
        }
    }

    [Theory]
    [MemberData(nameof(InvalidDefinitions))]
    public async Task CreatePipeline_refuses_an_invalid_definition_and_says_why(string kind, string expected)
    {
        using var session = _fixture.Session();
        var client = new SageMakerClient(session);
        var name = EmulatorFixture.UniqueName(kind.ToLowerInvariant()[..Math.Min(kind.Length, 12)]);

        var error = await Assert.ThrowsAsync<AwsServiceException>(() => client.CreatePipelineAsync(
            new CreatePipelineRequest { PipelineName = name, PipelineDefinition = Invalid(kind), RoleArn = RoleArn }, CancellationToken.None));

        Assert.Equal("ValidationException", error.ErrorCode);
        Assert.Contains(expected, error.AwsMessage, StringComparison.Ordinal);
        await Assert.ThrowsAsync<AwsServiceException>(() => client.DescribePipelineAsync(name, CancellationToken.None));
    }

    [Fact]
    public async Task The_valid_definition_the_invalid_ones_are_made_from_is_accepted()
    {
        using var session = _fixture.Session();
        var client = new SageMakerClient(session);
        var definition = Definition(RunStep("A", Bucket, []), RunStep("B", Bucket, [OutputOf("A")]));
        definition["Steps"]![1]!["CacheConfig"] = new JsonObject { ["Enabled"] = true, ["ExpireAfter"] = "P30D" };
        definition["Steps"]![1]!["RetryPolicies"] = new JsonArray(new JsonObject { ["ExceptionType"] = new JsonArray("SageMaker.CAPACITY_ERROR"), ["ExpireAfterMin"] = 10 });

        var arn = await CreateAsync(client, EmulatorFixture.UniqueName("valid"), definition);

        Assert.StartsWith("arn:aws:sagemaker:eu-west-1:123456789012:pipeline/valid-", arn, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Pipeline_calls_on_missing_resources_answer_ResourceNotFound()
    {
        using var session = _fixture.Session();
        var client = new SageMakerClient(session);
        const string missingExecution = "arn:aws:sagemaker:eu-west-1:123456789012:pipeline/none/execution/abcdefabcdef";

        var start = await Assert.ThrowsAsync<AwsServiceException>(() => StartAsync(client, "no-such-pipeline", "1"));
        var describe = await Assert.ThrowsAsync<AwsServiceException>(() => client.DescribePipelineExecutionAsync(missingExecution, CancellationToken.None));
        var stop = await Assert.ThrowsAsync<AwsServiceException>(() => client.StopPipelineExecutionAsync(missingExecution, null, CancellationToken.None));
        var delete = await Assert.ThrowsAsync<AwsServiceException>(() => client.DeletePipelineAsync("no-such-pipeline", null, CancellationToken.None));

        Assert.All(new[] { start, describe, stop, delete }, e => Assert.Equal("ResourceNotFound", e.ErrorCode));
    }
}
