using System.Text.Json;
using System.Text.Json.Nodes;
using Rlabs.Pipelines.Cloud;
using Rlabs.Pipelines.Config;
using Rlabs.Pipelines.Planning;

namespace Rlabs.Pipelines.Tests.Cloud;

/// <summary>RunPlan → SageMaker pipeline definition: the same job requests as the client-driven runtime, the job id a parameter.</summary>
public sealed class PipelineDefinitionCompilerTests : IDisposable
{
    private const string Region = "eu-west-1";
    private const string Account = "123456789012";
    private const string RoleArn = "arn:aws:iam::123456789012:role/rlabs-sagemaker";
    private static readonly JsonSerializerOptions s_json = new() { DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull };
    private readonly TempRepository _repo = new();
    private readonly string _work = Path.Combine(Path.GetTempPath(), "rlabs-compiler-" + Guid.NewGuid().ToString("N"));

    public PipelineDefinitionCompilerTests()
    {
        _repo.Write("step.py", "print('hi')\n");
        _repo.Write("other.py", "print('other')\n");
        _repo.Write("requirements.txt", "# none\n");
    }

    public void Dispose()
    {
        _repo.Dispose();
        if (Directory.Exists(_work))
        {
            Directory.Delete(_work, recursive: true);
        }
    }

    private const string FourSteps = """
          - { name: prepare, job_suffix: P, code: step.py, output_path: data, environment: { RUN_TAG: "run-<job_id>" } }
          - { name: train, job_suffix: T, code: step.py, input_data: "data/<job_id>", output_path: models, params: { rate: "0.1", tag: "t-<job_id>-x" } }
          - { name: evaluate, job_suffix: E, code: other.py, input_data: "models/<job_id>", output_path: reports }
          - { name: publish, job_suffix: U, code: step.py, input_data: "reports/<job_id>", output_path: out }
        """;

    private RunPlan Plan(string steps, string jobId = "job-1", string extra = "", CredentialsFile? credentials = null)
    {
        var path = _repo.Write("pipelines/train.yaml", $"project: churn\nrole_arn: {RoleArn}\n{extra}pipeline:\n{steps}");
        var result = PipelineConfigReader.Read(path, _repo.Root);
        Assert.False(result.HasErrors, string.Join(Environment.NewLine, result.Diagnostics));
        return RunPlanner.Plan(new RunRequest { Pipeline = result.Pipeline!, JobId = jobId, Credentials = credentials }, Region);
    }

    /// <summary>Compiles the plan; every definition a test compiles must validate (schema and botocore), whatever else it checks.</summary>
    private CompiledPipelineDefinition Compile(RunPlan plan)
    {
        var compiled = PipelineDefinitionCompiler.Compile(plan, Region, Account, ProcessingJobBinder.Package(plan.Request, _work, CancellationToken.None));
        PipelineDefinitionValidation.AssertValid(compiled.Json);
        return compiled;
    }

    private static JsonObject Steps(CompiledPipelineDefinition compiled, string name) =>
        JsonNode.Parse(compiled.Json)!["Steps"]!.AsArray().Single(s => (string)s!["Name"]! == name)!.AsObject();

    [SkippableFact]
    public void Should_compile_one_processing_step_per_yaml_step_each_depending_on_the_one_before()
    {
        var compiled = Compile(Plan(FourSteps));
        var definition = JsonNode.Parse(compiled.Json)!;

        Assert.Equal("2020-12-01", (string)definition["Version"]!);
        var parameter = Assert.Single(definition["Parameters"]!.AsArray())!;
        Assert.Equal("JobId", (string)parameter["Name"]!);
        Assert.Equal("String", (string)parameter["Type"]!);
        var steps = definition["Steps"]!.AsArray();
        Assert.Equal(["prepare", "train", "evaluate", "publish"], steps.Select(s => (string)s!["Name"]!));
        Assert.All(steps, s => Assert.Equal("Processing", (string)s!["Type"]!));
        Assert.Null(steps[0]!["DependsOn"]);
        Assert.Equal(["prepare"], steps[1]!["DependsOn"]!.AsArray().Select(d => (string)d!));
        Assert.Equal(["train"], steps[2]!["DependsOn"]!.AsArray().Select(d => (string)d!));
        Assert.Equal(["evaluate"], steps[3]!["DependsOn"]!.AsArray().Select(d => (string)d!));
        Assert.All(steps, s => Assert.Null(s!["Arguments"]!["ProcessingJobName"]));
        Assert.Matches("^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,255}$", compiled.PipelineName);
        Assert.StartsWith("rlabs-churn-train-", compiled.PipelineName, StringComparison.Ordinal);
        PipelineDefinitionValidation.AssertValid(compiled.Json);
    }

    [SkippableFact]
    public void Should_send_the_same_job_request_as_the_client_driven_runtime_once_the_job_id_is_given()
    {
        var plan = Plan(FourSteps, "job-77");
        var compiled = Compile(plan);
        var clientRun = ProcessingJobBinder.Bind(plan, Region, Account, ProcessingJobBinder.Package(plan.Request, _work + "-client", CancellationToken.None));

        foreach (var (step, index) in clientRun.Steps.Select((s, i) => (s, i)))
        {
            var expected = JsonSerializer.SerializeToNode(step.Request, s_json)!.AsObject();
            expected.Remove("ProcessingJobName");
            var actual = PipelineDefinitionValidation.Resolve(Steps(compiled, compiled.Steps[index].DefinitionName)["Arguments"], new Dictionary<string, string> { ["JobId"] = "job-77" })!.AsObject();
            // Only the inputs hash differs: it is the definition's, the same for every execution.
            Assert.NotNull(actual["Environment"]!["RLABS_INPUTS_HASH"]);
            expected["Environment"]!.AsObject().Remove("RLABS_INPUTS_HASH");
            actual["Environment"]!.AsObject().Remove("RLABS_INPUTS_HASH");
            Assert.True(JsonNode.DeepEquals(expected, actual), $"step {step.Step.Name}:\n{expected}\n---\n{actual}");
        }
        Directory.Delete(_work + "-client", recursive: true);
    }

    [SkippableFact]
    public void Should_reach_data_paths_the_job_id_argument_and_the_environment_through_the_JobId_parameter()
    {
        var compiled = Compile(Plan(FourSteps, "job-1"));
        var train = Steps(compiled, "train")["Arguments"]!;

        Assert.DoesNotContain("job-1", compiled.Json, StringComparison.Ordinal);
        Assert.DoesNotContain("rlabsjobidparameter", compiled.Json, StringComparison.Ordinal);
        var arguments = train["AppSpecification"]!["ContainerArguments"]!.AsArray();
        Assert.Equal("--job-id", (string)arguments[0]!);
        Assert.Equal("""{"Get":"Parameters.JobId"}""", arguments[1]!.ToJsonString());
        Assert.Equal("""{"Std:Join":{"On":"","Values":["t-",{"Get":"Parameters.JobId"},"-x"]}}""", arguments[arguments.Count - 1]!.ToJsonString());
        Assert.Equal("""{"Get":"Parameters.JobId"}""", train["Environment"]!["RLABS_JOB_ID"]!.ToJsonString());
        var output = train["ProcessingOutputConfig"]!["Outputs"]![0]!["S3Output"]!["S3Uri"]!;
        Assert.Equal("""{"Std:Join":{"On":"","Values":["s3://sagemaker-eu-west-1-123456789012/rlabs/churn/data/models/",{"Get":"Parameters.JobId"},"/"]}}""", output.ToJsonString());
        var env = Steps(compiled, "prepare")["Arguments"]!["Environment"]!;
        Assert.Equal("""{"Std:Join":{"On":"","Values":["run-",{"Get":"Parameters.JobId"}]}}""", env["RUN_TAG"]!.ToJsonString());
    }

    [SkippableFact]
    public void Should_take_a_scheduled_definitions_job_id_from_the_execution_and_name_its_pipeline_apart()
    {
        var plan = Plan(FourSteps, "job-1");
        var package = ProcessingJobBinder.Package(plan.Request, _work, CancellationToken.None);
        var onDemand = PipelineDefinitionCompiler.Compile(plan, Region, Account, package);
        var scheduled = PipelineDefinitionCompiler.Compile(plan, Region, Account, package, jobIdFromExecution: true);
        var train = Steps(scheduled, "train")["Arguments"]!;

        Assert.DoesNotContain("Parameters.JobId", scheduled.Json, StringComparison.Ordinal);
        Assert.DoesNotContain("rlabsjobidparameter", scheduled.Json, StringComparison.Ordinal);
        Assert.Empty(JsonNode.Parse(scheduled.Json)!["Parameters"]!.AsArray());
        Assert.Equal("""{"Get":"Execution.PipelineExecutionId"}""", train["AppSpecification"]!["ContainerArguments"]![1]!.ToJsonString());
        Assert.Equal("""{"Get":"Execution.PipelineExecutionId"}""", train["Environment"]!["RLABS_JOB_ID"]!.ToJsonString());
        PipelineDefinitionValidation.AssertValid(onDemand.Json, scheduled.Json);
        Assert.Equal(onDemand.PipelineName + "-scheduled", scheduled.PipelineName);
        Assert.NotEqual(onDemand.Hash, scheduled.Hash);
        Assert.Equal(onDemand.Json.Replace("{\"Get\":\"Parameters.JobId\"}", "{\"Get\":\"Execution.PipelineExecutionId\"}", StringComparison.Ordinal), scheduled.Json.Replace("\"Parameters\":[]", JsonNode.Parse(onDemand.Json)!["Parameters"]!.ToJsonString().Insert(0, "\"Parameters\":"), StringComparison.Ordinal));
    }

    [SkippableFact]
    public void Should_compile_the_same_definition_for_every_job_id_and_another_when_the_step_changes()
    {
        var first = Compile(Plan(FourSteps, "a1"));
        var second = Compile(Plan(FourSteps, "b2"));
        var changed = Compile(Plan(FourSteps.Replace("rate: \"0.1\"", "rate: \"0.2\"", StringComparison.Ordinal), "a1"));

        Assert.Equal(first.Json, second.Json);
        Assert.Equal(first.Hash, second.Hash);
        Assert.NotEqual(first.Hash, changed.Hash);
        Assert.Equal(first.Hash, CompiledPipelineDefinition.HashOf(first.Description));
        Assert.Equal(first.PipelineName, changed.PipelineName);
    }

    [SkippableFact]
    public void Should_take_dependencies_from_depends_on_so_branches_can_run_at_once()
    {
        var compiled = Compile(Plan("""
              - { name: a, job_suffix: A, code: step.py, output_path: a }
              - { name: b, job_suffix: B, code: step.py, output_path: b, depends_on: [a] }
              - { name: c, job_suffix: C, code: step.py, output_path: c, depends_on: [a] }
              - { name: d, job_suffix: D, code: step.py, output_path: d, depends_on: [b, c] }
            """));

        Assert.Equal(["a"], compiled.Steps[1].DependsOn);
        Assert.Equal(["a"], compiled.Steps[2].DependsOn);
        Assert.Equal(["b", "c"], compiled.Steps[3].DependsOn);
        PipelineDefinitionValidation.AssertValid(compiled.Json);
    }

    [SkippableFact]
    public void Should_let_an_empty_depends_on_start_a_step_at_once_as_every_runtime_does()
    {
        var compiled = Compile(Plan("""
              - { name: a, job_suffix: A, code: step.py, output_path: a }
              - { name: b, job_suffix: B, code: step.py, output_path: b, depends_on: [] }
              - { name: c, job_suffix: C, code: step.py, output_path: c }
            """));

        Assert.Empty(compiled.Steps[0].DependsOn);
        Assert.Empty(compiled.Steps[1].DependsOn);
        Assert.Equal(["b"], compiled.Steps[2].DependsOn);
        Assert.Null(Steps(compiled, "b")["DependsOn"]);
        PipelineDefinitionValidation.AssertValid(compiled.Json);
    }

    [SkippableFact]
    public void Should_compile_cache_and_retry_into_CacheConfig_and_RetryPolicies()
    {
        var plan = Plan("""
              - { name: load, job_suffix: L, code: step.py, output_path: a, cache: false, retry: { attempts: 4, backoff: "PT30S", on: [capacity, throttling] } }
              - { name: train, job_suffix: T, code: step.py, output_path: b, cache: { expire_after: "P7D" } }
              - { name: score, job_suffix: S, code: step.py, output_path: c, retry: { attempts: 1 } }
            """, extra: "cache: true\n");
        var compiled = Compile(plan);

        var load = Steps(compiled, "load");
        Assert.Null(load["CacheConfig"]);
        Assert.Equal("""[{"ExceptionType":["Step.THROTTLING"],"IntervalSeconds":30,"BackoffRate":2,"MaxAttempts":3},{"ExceptionType":["SageMaker.CAPACITY_ERROR","SageMaker.RESOURCE_LIMIT"],"IntervalSeconds":30,"BackoffRate":2,"MaxAttempts":3}]""", load["RetryPolicies"]!.ToJsonString());
        Assert.Equal("""{"Enabled":true,"ExpireAfter":"P7D"}""", Steps(compiled, "train")["CacheConfig"]!.ToJsonString());
        Assert.Equal("""{"Enabled":true}""", Steps(compiled, "score")["CacheConfig"]!.ToJsonString());
        Assert.Null(Steps(compiled, "score")["RetryPolicies"]);
        PipelineDefinitionValidation.AssertValid(compiled.Json);

        // -NoCache: no step asks SageMaker for a cached result.
        var uncached = PipelineDefinitionCompiler.Compile(
            RunPlanner.Plan(new RunRequest { Pipeline = plan.Request.Pipeline, JobId = "job-1", NoCache = true }, Region),
            Region, Account, ProcessingJobBinder.Package(plan.Request, _work, CancellationToken.None));
        Assert.DoesNotContain("CacheConfig", uncached.Json, StringComparison.Ordinal);
        PipelineDefinitionValidation.AssertValid(uncached.Json);
    }

    [SkippableFact]
    public void Should_name_steps_as_SageMaker_allows_and_keep_them_unique()
    {
        var compiled = Compile(Plan("""
              - { name: "load.data", job_suffix: A, code: step.py, output_path: a }
              - { name: "load-data", job_suffix: B, code: step.py, output_path: b }
            """));

        Assert.Equal("load-data", compiled.Steps[0].DefinitionName);
        Assert.Equal("load-data-2", compiled.Steps[1].DefinitionName);
        Assert.Equal("load.data", compiled.Steps[0].StepName);
        PipelineDefinitionValidation.AssertValid(compiled.Json);
    }

    [SkippableFact]
    public void Should_hand_the_credentials_file_as_an_S3_input_never_its_content()
    {
        var credentialsPath = _repo.Write("credentials.yaml", "db:\n  password: s3cr3t-value\n");
        var credentials = CredentialsFile.Load(credentialsPath);
        var compiled = Compile(Plan(FourSteps, credentials: credentials));

        Assert.DoesNotContain("s3cr3t-value", compiled.Json, StringComparison.Ordinal);
        var input = Steps(compiled, "prepare")["Arguments"]!["ProcessingInputs"]!.AsArray().Single(i => (string)i!["InputName"]! == "credentials")!;
        Assert.Equal("""{"Std:Join":{"On":"","Values":["s3://sagemaker-eu-west-1-123456789012/rlabs/churn/runs/",{"Get":"Parameters.JobId"},"/credentials/"]}}""", input["S3Input"]!["S3Uri"]!.ToJsonString());
        PipelineDefinitionValidation.AssertValid(compiled.Json);
    }

    [SkippableFact]
    public void Should_find_violations_when_a_definition_breaks_the_schema()
    {
        // The validator must be able to fail: a step type that does not exist, and an unknown argument.
        var broken = """{"Version":"2020-12-01","Steps":[{"Name":"a","Type":"Processing","Arguments":{"Bogus":1}}]}""";
        Assert.NotEmpty(PipelineDefinitionValidation.SchemaViolations(broken));
        Assert.NotEmpty(PipelineDefinitionValidation.ServiceViolations(broken));
    }
}
