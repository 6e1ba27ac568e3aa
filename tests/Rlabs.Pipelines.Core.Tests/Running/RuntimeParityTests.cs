using System.Text;
using System.Text.Json;
using Rlabs.Pipelines.AwsEmulator.Services;
using Rlabs.Pipelines.Cloud;
using Rlabs.Pipelines.Config;
using Rlabs.Pipelines.Core.Tests.Aws;
using Rlabs.Pipelines.Planning;
using Rlabs.Pipelines.Running;

namespace Rlabs.Pipelines.Tests.Running;

/// <summary>
/// The step contract is one promise kept by three runtimes: one probe pipeline runs as Python processes, in
/// containers of the test engine and as emulated SageMaker Processing jobs, and every probe must have seen
/// the same argv, variables, working directory and files, with paths differing only by the documented root
/// (the step workspace, /opt/ml/processing, the job's root).
/// </summary>
[Collection(ContainerEngineTests.Name)]
[Trait("Tier", "Container")]
[Trait("Tier", "Emulator")]
public sealed class RuntimeParityTests : IClassFixture<EmulatorFixture>, IDisposable
{
    private const string JobId = "parity";
    private const string Bucket = "sagemaker-eu-west-1-123456789012";

    // Everything it reports is made root-relative: <root> is three folders above the script (<root>/input/code/probe.py).
    private const string Probe = """
        import argparse, json, os, sys, zipfile
        root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        def rel(value):
            return value.replace(root, '<root>') if isinstance(value, str) else value
        def tree(folder):
            if not folder or not os.path.isdir(folder):
                return None
            found = []
            for base, _, files in os.walk(folder):
                for name in files:
                    found.append(os.path.relpath(os.path.join(base, name), folder).replace(os.sep, '/'))
            return sorted(found)
        p = argparse.ArgumentParser()
        p.add_argument('-j', '--job-id', required=True)
        p.add_argument('-i', '--input-data-zip')
        p.add_argument('-ip', '--input-data-path')
        p.add_argument('-o', '--output-data-path', required=True)
        p.add_argument('-s', '--source-code-zip', required=True)
        p.add_argument('-r', '--requirements-path', required=True)
        args, extra = p.parse_known_args()
        credentials = os.environ.get('RLABS_CREDENTIALS_FILE')
        record = {
            'argv': [rel(a) for a in sys.argv],
            'cwd': rel(os.getcwd()),
            'env': {k: rel(v) for k, v in os.environ.items()},
            'mandatory': {k: rel(v) for k, v in vars(args).items()},
            'extra': extra,
            'input_files': tree(args.input_data_path),
            'code_files': tree(os.path.dirname(os.path.abspath(__file__))),
            'source_zip': sorted(zipfile.ZipFile(args.source_code_zip).namelist()),
            'requirements': open(args.requirements_path, encoding='utf-8').read(),
            'credentials': open(credentials, encoding='utf-8').read() if credentials else None,
        }
        os.makedirs(args.output_data_path, exist_ok=True)
        name = os.environ['RLABS_STEP_NAME']
        with open(os.path.join(args.output_data_path, 'probe-' + name + '.json'), 'w', encoding='utf-8') as f:
            json.dump(record, f, ensure_ascii=False, sort_keys=True)
        with open(os.path.join(args.output_data_path, name + '-out.txt'), 'w', encoding='utf-8') as f:
            f.write('from ' + name)
        """;

    private const string Steps = """
        project: parity
        environment: { STAGE: "dev-<job_id>", CITY: "Zürich" }
        pipeline:
          - { name: load, job_suffix: L, code: probe.py, input_data: "raw/<job_id>", output_path: data, params: { title: "a b", run: "<job_id>-x" } }
          - { name: train, job_suffix: T, code: probe.py, input_data: "data/<job_id>", output_path: model, environment: { ONLY_TRAIN: "1" } }
          - { name: report, job_suffix: R, code: probe.py, input_data: "landing/<job_id>", output_path: reports }
        """;

    private static readonly string[] s_stepNames = ["load", "train", "report"];
    private static readonly (string Key, string Content)[] s_rawFiles = [("rows.csv", "a,b\n1,2\n"), ("sub/more.csv", "c\n3\n")];

    private readonly EmulatorFixture _fixture;
    private readonly List<TempRepository> _repositories = [];

    public RuntimeParityTests(EmulatorFixture fixture)
    {
        _fixture = fixture;
        _fixture.Emulator.Reset();
        _fixture.Emulator.SageMaker.SetBehaviour(null, new ProcessingJobBehaviour { Execute = true });
    }

    public void Dispose()
    {
        foreach (var repository in _repositories)
        {
            repository.Dispose();
        }
    }

    [SkippableFact]
    public async Task Should_hand_a_step_the_same_contract_in_the_process_container_and_SageMaker_runtimes()
    {
        await TestEngine.RequireAsync();

        var process = await RunLocalAsync(RlabsLocalRuntime.Process);
        var container = await RunLocalAsync(RlabsLocalRuntime.Container);
        var sageMaker = await RunSageMakerAsync();

        foreach (var step in s_stepNames)
        {
            var expected = process[step];
            Assert.Equal("<root>", expected.GetProperty("cwd").GetString());
            Assert.Equal("<root>/input/code/probe.py", expected.GetProperty("argv")[0].GetString());
            foreach (var (runtime, records) in new[] { ("Container", container), ("SageMaker", sageMaker) })
            {
                var actual = records[step];
                foreach (var part in new[] { "argv", "cwd", "mandatory", "extra", "input_files", "code_files", "source_zip", "requirements", "credentials" })
                {
                    Assert.True(
                        JsonElement.DeepEquals(expected.GetProperty(part), actual.GetProperty(part)),
                        $"step '{step}', {part}: Process saw {expected.GetProperty(part)}, {runtime} saw {actual.GetProperty(part)}");
                }
                Assert.Equal(ContractVariables(step, expected), ContractVariables(step, actual));
            }
        }

        // What the contract promises, seen the same way by all three.
        Assert.Equal(["rows.csv", "sub/more.csv"], process["load"].GetProperty("input_files").EnumerateArray().Select(e => e.GetString()));
        Assert.Equal(["load-out.txt", "probe-load.json"], process["train"].GetProperty("input_files").EnumerateArray().Select(e => e.GetString()));
        Assert.Empty(process["report"].GetProperty("input_files").EnumerateArray());
        Assert.Equal("<root>/input/data", process["report"].GetProperty("mandatory").GetProperty("input_data_path").GetString());
        Assert.Equal(["--title", "a b", "--run", "parity-x"], process["load"].GetProperty("extra").EnumerateArray().Select(e => e.GetString()));
        Assert.Contains("pw-parity", process["load"].GetProperty("credentials").GetString(), StringComparison.Ordinal);
        Assert.DoesNotContain("AKIAPARITY", process["load"].GetProperty("credentials").GetString(), StringComparison.Ordinal);
        var variables = ContractVariables("train", process["train"]);
        Assert.Equal("dev-parity", variables["STAGE"]);
        Assert.Equal("Zürich", variables["CITY"]);
        Assert.Equal("1", variables["ONLY_TRAIN"]);
        Assert.Equal("pipeline", variables["RLABS_PIPELINE"]);
        Assert.Equal("utf-8", variables["PYTHONIOENCODING"]);
        Assert.Equal("<root>/input/credentials/credentials.yaml", variables["RLABS_CREDENTIALS_FILE"]);
    }

    [Fact]
    public async Task Should_hand_a_step_the_same_contract_whether_the_client_or_SageMaker_Pipelines_drives_the_jobs()
    {
        var client = await RunSageMakerAsync();
        _fixture.Emulator.Reset();
        _fixture.Emulator.SageMaker.SetBehaviour(null, new ProcessingJobBehaviour { Execute = true });
        var engine = await RunSageMakerAsync(CloudEngine.SageMakerPipelines);

        Assert.Empty(_fixture.Emulator.Requests.For("sagemaker", "CreateProcessingJob"));
        Assert.Single(_fixture.Emulator.Requests.For("sagemaker", "StartPipelineExecution"));
        foreach (var step in s_stepNames)
        {
            foreach (var part in new[] { "argv", "cwd", "mandatory", "extra", "input_files", "code_files", "source_zip", "requirements", "credentials" })
            {
                Assert.True(
                    JsonElement.DeepEquals(client[step].GetProperty(part), engine[step].GetProperty(part)),
                    $"step '{step}', {part}: the client-driven job saw {client[step].GetProperty(part)}, the SageMaker Pipelines job saw {engine[step].GetProperty(part)}");
            }
            Assert.Equal(ContractVariables(step, client[step]), ContractVariables(step, engine[step]));
        }
        Assert.Equal("parity", ContractVariables("load", engine["load"])["RLABS_JOB_ID"]);
    }

    /// <summary>
    /// The variables the planner promises for the step, plus the credentials path, as the probe saw them: every one
    /// must be there. (A process also inherits this computer's variables, and a SageMaker job carries
    /// RLABS_INPUTS_HASH for -Resume; neither is part of the contract.)
    /// </summary>
    private static SortedDictionary<string, string?> ContractVariables(string step, JsonElement record)
    {
        var promised = new[] { "STAGE", "CITY", "PYTHONUNBUFFERED", "PYTHONIOENCODING", "PYTHONUTF8", "RLABS_JOB_ID", "RLABS_STEP_NAME", "RLABS_PIPELINE", "RLABS_CREDENTIALS_FILE" }
            .Concat(step == "train" ? ["ONLY_TRAIN"] : []);
        var environment = record.GetProperty("env");
        var seen = new SortedDictionary<string, string?>(StringComparer.Ordinal);
        foreach (var name in promised)
        {
            seen[name] = environment.TryGetProperty(name, out var value) ? value.GetString() : null;
        }
        Assert.DoesNotContain(seen, v => v.Value is null);
        return seen;
    }

    private TempRepository Repository()
    {
        var repository = new TempRepository();
        _repositories.Add(repository);
        repository.Write("probe.py", Probe);
        repository.Write("requirements.txt", "# parity\n");
        repository.Write("lib/helpers.py", "X = 1\n");
        return repository;
    }

    private static RlabsPipeline Pipeline(TempRepository repository, string? image)
    {
        var yaml = (image is null ? string.Empty : $"image: \"{image}\"\n") + Steps;
        var result = PipelineConfigReader.Read(repository.Write("pipeline.yaml", yaml), repository.Root);
        Assert.False(result.HasErrors, string.Join(Environment.NewLine, result.Diagnostics));
        return result.Pipeline!;
    }

    private static CredentialsFile Credentials(TempRepository repository) =>
        CredentialsFile.Load(repository.Write("credentials.yaml", "aws_access_key_id: AKIAPARITY\naws_secret_access_key: SECRETPARITY\nwarehouse:\n  password: pw-parity\n"));

    private async Task<Dictionary<string, JsonElement>> RunLocalAsync(RlabsLocalRuntime runtime)
    {
        var repository = Repository();
        var pipeline = Pipeline(repository, TestEngine.Image);
        foreach (var (key, content) in s_rawFiles)
        {
            repository.Write($".rlabs/data/raw/{JobId}/{key}", content);
        }
        var (run, layout) = await LocalRuns.RunAsync(LocalRuns.Request(pipeline, JobId, runtime, Credentials(repository), region: "eu-west-1"), NullRunReporter.Instance);
        Assert.True(run.Status == RlabsRunStatus.Completed, $"{runtime}: " + string.Join(" | ", run.Steps.Select(s => $"{s.StepName} {s.Status} {s.FailureReason} {string.Join(" / ", s.LogTail)}")));
        return new Dictionary<string, JsonElement>
        {
            ["load"] = Read(File.ReadAllBytes(Path.Combine(layout.DataRoot, "data", JobId, "probe-load.json"))),
            ["train"] = Read(File.ReadAllBytes(Path.Combine(layout.DataRoot, "model", JobId, "probe-train.json"))),
            ["report"] = Read(File.ReadAllBytes(Path.Combine(layout.DataRoot, "reports", JobId, "probe-report.json"))),
        };
    }

    private async Task<Dictionary<string, JsonElement>> RunSageMakerAsync(CloudEngine engine = CloudEngine.Client)
    {
        var repository = Repository();
        var request = new RunRequest
        {
            Pipeline = Pipeline(repository, image: null),
            JobId = JobId,
            Credentials = Credentials(repository),
            Cloud = new CloudRunOptions { RoleArn = "arn:aws:iam::123456789012:role/rlabs-sagemaker", Engine = engine, NoWait = engine == CloudEngine.SageMakerPipelines },
        };
        foreach (var (key, content) in s_rawFiles)
        {
            _fixture.Emulator.S3.PutObjectBytes(Bucket, $"rlabs/parity/data/raw/{JobId}/{key}", Encoding.UTF8.GetBytes(content));
        }
        RlabsPipelineRun run;
        if (engine == CloudEngine.SageMakerPipelines)
        {
            using var pipelines = new SageMakerPipelinesRuntime(_fixture.Session());
            var plan = RunEngine.Plan(request, pipelines);
            var started = await RunEngine.RunAsync(plan, pipelines, NullRunReporter.Instance, CancellationToken.None);
            run = await pipelines.FollowAsync(plan, started, NullRunReporter.Instance, CancellationToken.None);
        }
        else
        {
            using var runtime = new SageMakerRuntime(_fixture.Session());
            run = await RunEngine.RunAsync(RunEngine.Plan(request, runtime), runtime, NullRunReporter.Instance, CancellationToken.None);
        }
        Assert.True(run.Status == RlabsRunStatus.Completed, "SageMaker: " + string.Join(" | ", run.Steps.Select(s => $"{s.StepName} {s.Status} {s.FailureReason} {string.Join(" / ", s.LogTail)}")));
        return new Dictionary<string, JsonElement>
        {
            ["load"] = Read(_fixture.Emulator.S3.GetObjectBytes(Bucket, $"rlabs/parity/data/data/{JobId}/probe-load.json")!),
            ["train"] = Read(_fixture.Emulator.S3.GetObjectBytes(Bucket, $"rlabs/parity/data/model/{JobId}/probe-train.json")!),
            ["report"] = Read(_fixture.Emulator.S3.GetObjectBytes(Bucket, $"rlabs/parity/data/reports/{JobId}/probe-report.json")!),
        };
    }

    private static JsonElement Read(byte[] json) => JsonDocument.Parse(json).RootElement.Clone();
}
