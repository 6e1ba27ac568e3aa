using Rlabs.Pipelines.Config;
using Rlabs.Pipelines.Planning;

namespace Rlabs.Pipelines.Tests.Planning;

/// <summary>The one planner: every rule resolved once, for every runtime.</summary>
public sealed class RunPlannerTests : IDisposable
{
    private readonly TempRepository _repo = new();

    public RunPlannerTests()
    {
        _repo.Write("step.py", "print('hi')\n");
    }

    public void Dispose() => _repo.Dispose();

    private RlabsPipeline Pipeline(string yaml)
    {
        var result = PipelineConfigReader.Read(_repo.Write("pipeline.yaml", yaml), _repo.Root);
        Assert.False(result.HasErrors, string.Join(Environment.NewLine, result.Diagnostics));
        return result.Pipeline!;
    }

    [Fact]
    public void Should_resolve_resources_from_the_step_then_the_defaults_then_the_built_in_values()
    {
        var pipeline = Pipeline("""
            max_runtime: 90m
            instance_count: 2
            pipeline:
              - { name: a, job_suffix: A, code: step.py, output_path: data }
              - { name: b, job_suffix: B, code: step.py, output_path: data, max_runtime: 30, instance_type: ml.m5.large, volume_size_gb: 50 }
            """);
        var noDefaults = Pipeline("""
            pipeline:
              - { name: a, job_suffix: A, code: step.py, output_path: data }
            """);

        var steps = RunPlanner.Plan(new RunRequest { Pipeline = pipeline, JobId = "r1" }, "eu-west-1").Steps;
        var bare = RunPlanner.Plan(new RunRequest { Pipeline = noDefaults, JobId = "r1" }, "eu-west-1").Steps[0];

        Assert.Equal(new StepResources(InstanceTypes.Default, 2, 30, TimeSpan.FromMinutes(90)), steps[0].Resources);
        Assert.Equal(new StepResources("ml.m5.large", 2, 50, TimeSpan.FromSeconds(30)), steps[1].Resources);
        Assert.Equal(new StepResources(InstanceTypes.Default, 1, 30, RunPlanner.DefaultMaxRuntime), bare.Resources);
    }

    [Fact]
    public void Should_give_every_step_the_same_contract_variables()
    {
        var pipeline = Pipeline("""
            environment: { STAGE: "dev-<job_id>" }
            pipeline:
              - { name: a, job_suffix: A, code: step.py, output_path: data, environment: { ONLY_A: "1" } }
            """);

        var environment = RunPlanner.Plan(new RunRequest { Pipeline = pipeline, JobId = "e1", InstanceType = "local" }, null).Steps[0].Environment;

        Assert.Equal(
            new Dictionary<string, string>
            {
                ["ONLY_A"] = "1",
                ["PYTHONIOENCODING"] = "utf-8",
                ["PYTHONUNBUFFERED"] = "1",
                ["PYTHONUTF8"] = "1",
                ["RLABS_JOB_ID"] = "e1",
                ["RLABS_PIPELINE"] = "pipeline",
                ["RLABS_STEP_NAME"] = "a",
                ["STAGE"] = "dev-e1",
            },
            environment);
    }

    [Fact]
    public void Should_refuse_a_run_that_is_partly_local_and_an_instance_type_that_is_not_one()
    {
        var mixed = Pipeline("""
            pipeline:
              - { name: a, job_suffix: A, code: step.py, output_path: data, instance_type: local }
              - { name: b, job_suffix: B, code: step.py, output_path: data }
            """);

        var error = Assert.Throws<RlabsRunException>(() => RunPlanner.Target(new RunRequest { Pipeline = mixed, JobId = "m1" }));
        var invalid = Assert.Throws<RlabsRunException>(() => RunPlanner.Target(new RunRequest { Pipeline = mixed, JobId = "m1", InstanceType = "t3.large" }));

        Assert.Equal("MixedInstanceTypes", error.ErrorId);
        Assert.Equal("InvalidInstanceType", invalid.ErrorId);
        Assert.Equal(RunTarget.Local, RunPlanner.Target(new RunRequest { Pipeline = mixed, JobId = "m1", InstanceType = "local" }));
        Assert.Equal(RunTarget.Cloud, RunPlanner.Target(new RunRequest { Pipeline = mixed, JobId = "m1", InstanceType = "ml.m5.large" }));
    }

    [Fact]
    public void Should_name_the_earlier_step_that_writes_an_input_and_none_for_a_first_input()
    {
        var pipeline = Pipeline("""
            pipeline:
              - { name: load, job_suffix: L, code: step.py, input_data: "data/<job_id>", output_path: data }
              - { name: train, job_suffix: T, code: step.py, input_data: "data/<job_id>", output_path: model }
              - { name: score, job_suffix: S, code: step.py, input_data: "model/<job_id>/best.zip", output_path: scores }
              - { name: report, job_suffix: R, code: step.py, input_data: "raw/<job_id>", output_path: reports }
            """);

        var steps = RunPlanner.Plan(new RunRequest { Pipeline = pipeline, JobId = "p1", InstanceType = "local" }, null).Steps;

        Assert.Equal([null, "load", "train", null], steps.Select(s => s.InputProducer));
        Assert.True(steps[2].InputIsZip);
        Assert.Equal("--input-data-zip", steps[2].Command.Arguments[2]);
    }
}
