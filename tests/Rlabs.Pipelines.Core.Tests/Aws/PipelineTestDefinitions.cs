using System.Text;
using System.Text.Json.Nodes;
using Rlabs.Pipelines.Aws;
using Rlabs.Pipelines.AwsEmulator;

namespace Rlabs.Pipelines.Core.Tests.Aws;

/// <summary>Pipeline definitions whose Processing steps run a small Python script on the emulator: each step
/// concatenates the files of its data inputs, appends its name and writes the result to its output.</summary>
internal static class PipelineTestDefinitions
{
    public const string RoleArn = "arn:aws:iam::123456789012:role/rlabs-pipelines";

    private const string Script = """
        import argparse, pathlib, sys, time
        parser = argparse.ArgumentParser()
        parser.add_argument("--name")
        parser.add_argument("--inputs")
        parser.add_argument("--out")
        parser.add_argument("--sleep", type=float, default=0)
        parser.add_argument("--fail", default="")
        args = parser.parse_args()
        print(f"step {args.name} starting", flush=True)
        time.sleep(args.sleep)
        if args.fail:
            print(args.fail, file=sys.stderr, flush=True)
            sys.exit(3)
        parts = [f.read_text() for f in sorted(pathlib.Path(args.inputs).glob("data-*/*.txt"))]
        pathlib.Path(args.out, args.name + ".txt").write_text("+".join(parts + [args.name]))
        print(f"step {args.name} done", flush=True)
        """;

    /// <summary>A fresh bucket holding the step script.</summary>
    public static string SeedBucket(EmulatorState emulator)
    {
        var bucket = "pipe-" + Guid.NewGuid().ToString("N")[..16];
        emulator.S3.PutObjectBytes(bucket, "code/step.py", Encoding.UTF8.GetBytes(Script));
        return bucket;
    }

    public static JsonObject Get(string reference) => new() { ["Get"] = reference };

    public static JsonObject Join(params JsonNode[] values) => new()
    {
        ["Std:Join"] = new JsonObject { ["On"] = "/", ["Values"] = new JsonArray(values) },
    };

    /// <summary>The output URI a step reads from another: <c>Steps.S.ProcessingOutputConfig.Outputs['out'].S3Output.S3Uri</c>.</summary>
    public static JsonObject OutputOf(string step) => Get($"Steps.{step}.ProcessingOutputConfig.Outputs['out'].S3Output.S3Uri");

    /// <summary>A Processing step; <paramref name="inputs"/> are S3 URIs (or expressions) mounted as data-&lt;n&gt;.</summary>
    public static JsonObject Step(string name, string bucket, JsonNode output, IEnumerable<JsonNode> inputs, params string[] extraArguments)
    {
        var processingInputs = new JsonArray
        {
            new JsonObject
            {
                ["InputName"] = "code",
                ["S3Input"] = new JsonObject
                {
                    ["S3Uri"] = $"s3://{bucket}/code/step.py", ["LocalPath"] = "/opt/ml/processing/input/code", ["S3DataType"] = "S3Prefix", ["S3InputMode"] = "File",
                },
            },
        };
        var index = 0;
        foreach (var input in inputs)
        {
            index++;
            processingInputs.Add(new JsonObject
            {
                ["InputName"] = $"data-{index}",
                ["S3Input"] = new JsonObject
                {
                    ["S3Uri"] = input.DeepClone(), ["LocalPath"] = $"/opt/ml/processing/input/data-{index}", ["S3DataType"] = "S3Prefix", ["S3InputMode"] = "File",
                },
            });
        }

        var arguments = new JsonArray("--name", name, "--inputs", "/opt/ml/processing/input", "--out", "/opt/ml/processing/output");
        foreach (var extra in extraArguments)
        {
            arguments.Add(extra);
        }

        return new JsonObject
        {
            ["Name"] = name,
            ["Type"] = "Processing",
            ["Arguments"] = new JsonObject
            {
                ["ProcessingResources"] = new JsonObject
                {
                    ["ClusterConfig"] = new JsonObject { ["InstanceCount"] = 1, ["InstanceType"] = "ml.t3.medium", ["VolumeSizeInGB"] = 30 },
                },
                ["AppSpecification"] = new JsonObject
                {
                    ["ImageUri"] = "141502667606.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3",
                    ["ContainerEntrypoint"] = new JsonArray("/usr/bin/python3", "/opt/ml/processing/input/code/step.py"),
                    ["ContainerArguments"] = arguments,
                },
                ["RoleArn"] = RoleArn,
                ["ProcessingInputs"] = processingInputs,
                ["ProcessingOutputConfig"] = new JsonObject
                {
                    ["Outputs"] = new JsonArray(new JsonObject
                    {
                        ["OutputName"] = "out",
                        ["S3Output"] = new JsonObject { ["S3Uri"] = output.DeepClone(), ["LocalPath"] = "/opt/ml/processing/output", ["S3UploadMode"] = "EndOfJob" },
                    }),
                },
                ["StoppingCondition"] = new JsonObject { ["MaxRuntimeInSeconds"] = 600 },
            },
        };
    }

    /// <summary>A step writing under s3://bucket/runs/&lt;JobId parameter&gt;/&lt;execution id&gt;/&lt;name&gt;.</summary>
    public static JsonObject RunStep(string name, string bucket, IEnumerable<JsonNode> inputs, params string[] extraArguments) =>
        Step(name, bucket, Join($"s3://{bucket}/runs", Get("Parameters.JobId"), Get("Execution.PipelineExecutionId"), name), inputs, extraArguments);

    public static JsonObject Definition(params JsonObject[] steps) => new()
    {
        ["Version"] = "2020-12-01",
        ["Parameters"] = new JsonArray(new JsonObject { ["Name"] = "JobId", ["Type"] = "String", ["DefaultValue"] = "0" }),
        ["Steps"] = new JsonArray(steps),
    };

    public static async Task<string> CreateAsync(SageMakerClient client, string name, JsonObject definition) =>
        (await client.CreatePipelineAsync(new CreatePipelineRequest
        {
            PipelineName = name,
            PipelineDefinition = definition.ToJsonString(),
            RoleArn = RoleArn,
        }, CancellationToken.None)).PipelineArn;

    public static async Task<string> StartAsync(SageMakerClient client, string pipeline, string jobId, string? token = null) =>
        (await client.StartPipelineExecutionAsync(new StartPipelineExecutionRequest
        {
            PipelineName = pipeline,
            PipelineParameters = [new PipelineParameter { Name = "JobId", Value = jobId }],
            ClientRequestToken = token,
        }, CancellationToken.None)).PipelineExecutionArn;

    public static async Task<DescribePipelineExecutionResponse> WaitAsync(SageMakerClient client, string executionArn, Func<DescribePipelineExecutionResponse, bool>? until = null)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(90));
        until ??= e => e.IsTerminal;
        while (true)
        {
            var execution = await client.DescribePipelineExecutionAsync(executionArn, timeout.Token);
            if (until(execution))
            {
                return execution;
            }

            await Task.Delay(50, timeout.Token);
        }
    }

    /// <summary>The steps of an execution by name.</summary>
    public static async Task<Dictionary<string, PipelineExecutionStep>> StepsAsync(SageMakerClient client, string executionArn) =>
        (await client.ListAllPipelineExecutionStepsAsync(executionArn, "Ascending", CancellationToken.None)).ToDictionary(s => s.StepName);

    public static string? Read(EmulatorState emulator, string bucket, string key) =>
        emulator.S3.GetObjectBytes(bucket, key) is { } bytes ? Encoding.UTF8.GetString(bytes) : null;

    public static string ExecutionId(string executionArn) => executionArn[(executionArn.LastIndexOf('/') + 1)..];
}
