using System.Security.Cryptography;
using System.Text;
using Rlabs.Pipelines.Config;
using Rlabs.Pipelines.Containers;
using Rlabs.Pipelines.Local;
using Rlabs.Pipelines.Planning;
using Rlabs.Pipelines.Running;

namespace Rlabs.Pipelines.Tests.Running;

/// <summary>The container runtime's decisions that need no engine: images, commands, mounts, endpoints, fallbacks.</summary>
public sealed class ContainerPlanningTests : IDisposable
{
    private readonly TempRepository _repo = new();

    public ContainerPlanningTests()
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

    [Theory]
    [InlineData("us-east-1", "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3")]
    [InlineData("eu-west-1", "141502667606.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3")]
    [InlineData("cn-north-1", "450853457545.dkr.ecr.cn-north-1.amazonaws.com.cn/sagemaker-scikit-learn:1.2-1-cpu-py3")]
    [InlineData("us-gov-west-1", "414596584902.dkr.ecr.us-gov-west-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3")]
    public void Should_pick_the_scikit_learn_processing_image_of_the_region(string region, string expected)
    {
        var image = DefaultImages.ScikitLearn(region)!;
        Assert.Equal(expected, image);
        Assert.True(EcrImage.TryParse(image, out var ecr));
        Assert.Equal(region, ecr.Region);
        Assert.Equal(image.Split('/')[0], ecr.Registry);
    }

    [Fact]
    public void Should_prefer_the_step_image_then_the_pipeline_image_then_the_default()
    {
        var pipeline = Pipeline("""
            image: "pipeline/image:1"
            pipeline:
              - { name: a, job_suffix: A, code: step.py, output_path: data, image: "step/image:2" }
              - { name: b, job_suffix: B, code: step.py, output_path: data }
            """);
        var plain = Pipeline("""
            pipeline:
              - { name: c, job_suffix: C, code: step.py, output_path: data }
            """);

        Assert.Equal("step/image:2", DefaultImages.ForStep(pipeline, pipeline.Steps[0], null));
        Assert.Equal("pipeline/image:1", DefaultImages.ForStep(pipeline, pipeline.Steps[1], null));
        Assert.StartsWith("257758044811.dkr.ecr.us-east-2.", DefaultImages.ForStep(plain, plain.Steps[0], "us-east-2"), StringComparison.Ordinal);
        var noRegion = Assert.Throws<RlabsConfigException>(() => DefaultImages.ForStep(plain, plain.Steps[0], null));
        Assert.Contains("-Region", noRegion.Message, StringComparison.Ordinal);
        Assert.Contains("'image:'", noRegion.Message, StringComparison.Ordinal);
        var unknown = Assert.Throws<RlabsConfigException>(() => DefaultImages.ForStep(plain, plain.Steps[0], "xx-nowhere-9"));
        Assert.Contains("no prebuilt scikit-learn image in region 'xx-nowhere-9'", unknown.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("python:3.11")]
    [InlineData("123456789012.dkr.ecr.us-east-1.amazonaws.com")]
    [InlineData("registry.example.com/team/image:1")]
    [InlineData("12345.dkr.ecr.us-east-1.amazonaws.com/x:1")]
    public void Should_not_take_other_images_for_ECR_images(string image) => Assert.False(EcrImage.TryParse(image, out _));

    [Fact]
    public void Should_build_the_CreateProcessingJob_command_for_zip_and_folder_inputs()
    {
        var pipeline = Pipeline("""
            pipeline:
              - { name: a, job_suffix: A, code: scripts/step.py, input_data: "raw/batch.zip", output_path: data, params: { n: "<job_id>" } }
              - { name: b, job_suffix: B, code: step.py, input_data: "data/<job_id>", output_path: data }
              - { name: c, job_suffix: C, code: step.py, output_path: data }
            """.Replace("scripts/step.py", "step.py", StringComparison.Ordinal));

        var steps = RunPlanner.Plan(LocalRuns.Request(pipeline, "j1"), region: null).Steps;
        var zip = steps[0].Command;
        var folder = steps[1].Command;
        var none = steps[2].Command;

        Assert.Equal(["python3", "/opt/ml/processing/input/code/step.py"], zip.Entrypoint);
        Assert.Equal(
            ["--job-id", "j1", "--input-data-zip", "/opt/ml/processing/input/data/batch.zip", "--output-data-path", "/opt/ml/processing/output",
             "--source-code-zip", "/opt/ml/processing/input/source/source.zip", "--requirements-path", "/opt/ml/processing/input/requirements/requirements.txt", "--n", "j1"],
            zip.Arguments);
        Assert.Equal("/opt/ml/processing/input/data", folder.Paths.InputDataPath);
        Assert.DoesNotContain("--input-data-zip", folder.Arguments);
        Assert.DoesNotContain("--input-data-path", none.Arguments);
        Assert.DoesNotContain("--input-data-zip", none.Arguments);
    }

    [Fact]
    public void Should_mount_the_workspace_read_only_and_only_the_output_writable()
    {
        var credentials = CredentialsFile.Load(_repo.Write("credentials.yaml", "warehouse:\n  password: x\n"));
        var pipeline = Pipeline("""
            pipeline:
              - { name: a, job_suffix: A, code: step.py, input_data: "data/<job_id>", output_path: data }
              - { name: b, job_suffix: B, code: step.py, output_path: data, network: true }
            """);
        var (runtime, _) = LocalRuns.Plan(LocalRuns.Request(pipeline, "m1", RlabsLocalRuntime.Container, credentials, region: "eu-west-1"));
        using var _runtime = runtime;
        var plan = runtime.Layout;
        using var engine = ContainerEngine.Connect(new ContainerEngineEndpoint(new Uri("unix:///nonexistent.sock"), "test"));
        var runner = new ContainerStepRunner(plan, engine, new ContainerEngineInfo("Docker Engine", "1", Rootless: false), login: null);
        var rootless = new ContainerStepRunner(plan, engine, new ContainerEngineInfo("Docker Engine", "1", Rootless: true), login: null);

        var first = runner.CreateParameters(plan.Steps[0], "img:1");
        var second = runner.CreateParameters(plan.Steps[1], "img:1");

        var mounts = first.HostConfig.Mounts.ToDictionary(m => m.Target);
        Assert.Equal(
            ["/opt/ml/processing/input/code", "/opt/ml/processing/input/credentials", "/opt/ml/processing/input/data", "/opt/ml/processing/input/requirements", "/opt/ml/processing/input/source", "/opt/ml/processing/output"],
            mounts.Keys.Order(StringComparer.Ordinal));
        Assert.All(mounts.Values, m => Assert.Equal("bind", m.Type));
        Assert.All(mounts.Values.Where(m => m.Target != "/opt/ml/processing/output"), m => Assert.True(m.ReadOnly, m.Target));
        Assert.False(mounts["/opt/ml/processing/output"].ReadOnly);
        Assert.Equal(plan.Steps[0].Paths.OutputDataPath, mounts["/opt/ml/processing/output"].Source);
        Assert.Equal(Path.GetDirectoryName(plan.SourceZip), mounts["/opt/ml/processing/input/source"].Source);
        Assert.DoesNotContain(second.HostConfig.Mounts, m => m.Target == "/opt/ml/processing/input/data");
        Assert.Equal("none", first.HostConfig.NetworkMode);
        Assert.Equal("host", second.HostConfig.NetworkMode);
        Assert.False(first.HostConfig.AutoRemove);
        Assert.Equal([.. plan.Steps[0].ContainerCommand.Entrypoint], first.Entrypoint);
        Assert.Equal([.. plan.Steps[0].ContainerCommand.Arguments], first.Cmd);
        Assert.Contains("RLABS_CREDENTIALS_FILE=/opt/ml/processing/input/credentials/credentials.yaml", first.Env);
        Assert.Contains("AWS_REGION=eu-west-1", first.Env);
        Assert.Equal("m1", first.Labels[ContainerStepRunner.JobIdLabel]);
        if (OperatingSystem.IsLinux())
        {
            Assert.Equal(ContainerStepRunner.CurrentLinuxUser(), first.User);
            Assert.Equal("0:0", rootless.CreateParameters(plan.Steps[0], "img:1").User);
            Assert.Equal(!first.User!.StartsWith("0:", StringComparison.Ordinal), first.Env.Contains("HOME=/tmp"));
        }
    }

    [Fact]
    public async Task Should_fall_back_to_processes_in_Auto_and_stop_before_anything_runs_in_Container_when_no_engine_answers()
    {
        var pipeline = Pipeline("""
            image: "img:1"
            pipeline:
              - { name: a, job_suffix: A, code: step.py, output_path: data }
            """);
        var missing = new ContainerEngineEndpoint(new Uri("unix://" + Path.Combine(_repo.Root, "no-engine.sock")), "test");
        var reporter = new RecordingReporter();
        var containerRequest = LocalRuns.Request(pipeline, "f2", RlabsLocalRuntime.Container);
        var (container, containerPlan) = LocalRuns.Plan(containerRequest, locate: () => missing);
        using var _container = container;

        var (run, _) = await LocalRuns.RunAsync(LocalRuns.Request(pipeline, "f1", RlabsLocalRuntime.Auto), reporter, locate: () => missing);
        var error = await Assert.ThrowsAsync<ContainerEngineException>(() => RunEngine.RunAsync(containerPlan, container, reporter, CancellationToken.None));

        Assert.Equal(RlabsRunStatus.Completed, run.Status);
        Assert.Equal("Process", run.Steps[0].Runtime);
        Assert.Contains(reporter.Lines, l => l.StartsWith("[a] runtime Auto chose Process: No container engine answered at unix://", StringComparison.Ordinal));
        Assert.Equal("ContainerEngineUnavailable", error.ErrorId);
        Assert.Contains("no-engine.sock (test)", error.Message, StringComparison.Ordinal);
        Assert.Contains("-LocalRuntime Process", error.Message, StringComparison.Ordinal);
        Assert.False(Directory.Exists(container.Layout.RunDirectory), "nothing is prepared for a container run without an engine");
        var (sshHost, sshPlan) = LocalRuns.Plan(containerRequest, locate: () => ContainerEngineLocator.Resolve(k => k == "DOCKER_HOST" ? "ssh://me@host" : null, _ => false, isWindows: false));
        using var _sshHost = sshHost;
        var badHost = await Assert.ThrowsAsync<ContainerEngineException>(() => RunEngine.RunAsync(sshPlan, sshHost, reporter, CancellationToken.None));
        Assert.Equal("ContainerEngineUnavailable", badHost.ErrorId);
        Assert.Contains("ssh:// is not supported", badHost.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Should_need_no_python_for_container_runs_but_explain_it_for_processes()
    {
        var pipeline = Pipeline("""
            image: "img:1"
            pipeline:
              - { name: a, job_suffix: A, code: step.py, output_path: data }
            """);
        var noPython = Path.Combine(_repo.Root, "no", "python3");

        var (runtime, plan) = LocalRuns.Plan(LocalRuns.Request(pipeline, "p1", RlabsLocalRuntime.Container, pythonPath: noPython));
        using var _ = runtime;
        var container = runtime.Layout;

        Assert.Null(container.Python);
        Assert.Contains("-PythonPath", container.PythonProblem, StringComparison.Ordinal);
        Assert.Equal(["python3", "/opt/ml/processing/input/code/step.py"], container.NewRun().Steps[0].Command.Take(2));
        var noInterpreter = Assert.Throws<RlabsRunException>(() => LocalRuns.Plan(LocalRuns.Request(pipeline, "p1", pythonPath: noPython)));
        Assert.Equal("PythonNotFound", noInterpreter.ErrorId);
        Assert.Contains(runtime.Describe(plan), l => l.Contains("image img:1 (network none)", StringComparison.Ordinal));
    }

    [Fact]
    public void Should_find_the_engine_as_the_docker_CLI_does()
    {
        var home = _repo.Root;
        var none = new Dictionary<string, string?> { ["HOME"] = home };
        Func<string, bool> nothing = _ => false;

        Assert.Equal("unix:///run/user/1000/docker.sock", Resolve(new() { ["DOCKER_HOST"] = "unix:///run/user/1000/docker.sock" }, nothing).Uri.ToString());
        Assert.Equal("DOCKER_HOST", Resolve(new() { ["DOCKER_HOST"] = "tcp://127.0.0.1:2375" }, nothing).Source);
        Assert.Equal("unix:///var/run/docker.sock", Resolve(none, nothing).Uri.ToString());
        Assert.Equal("npipe://./pipe/docker_engine", ContainerEngineLocator.Resolve(k => none.GetValueOrDefault(k), nothing, isWindows: true).Uri.ToString());
        var podman = Resolve(new() { ["HOME"] = home, ["XDG_RUNTIME_DIR"] = "/run/user/1000" }, p => p == "/run/user/1000/podman/podman.sock");
        Assert.Equal(("unix:///run/user/1000/podman/podman.sock", "podman's socket"), (podman.Uri.ToString(), podman.Source));
        Assert.Equal("the default socket", Resolve(none, p => p == "/var/run/docker.sock" || p.EndsWith("podman.sock", StringComparison.Ordinal)).Source);
        var ssh = Assert.Throws<RlabsConfigException>(() => Resolve(new() { ["DOCKER_HOST"] = "ssh://me@host" }, nothing));
        Assert.Contains("ssh:// is not supported", ssh.Message, StringComparison.Ordinal);

        // A docker context chosen with 'docker context use' (config.json) or DOCKER_CONTEXT.
        var hash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes("colima")));
        _repo.Write($".docker/contexts/meta/{hash}/meta.json", """{"Name":"colima","Endpoints":{"docker":{"Host":"unix:///home/me/.colima/docker.sock"}}}""");
        _repo.Write(".docker/config.json", """{"currentContext":"colima"}""");
        Assert.Equal("unix:///home/me/.colima/docker.sock", Resolve(none, File.Exists).Uri.ToString());
        Assert.Equal("docker context 'colima'", Resolve(none, File.Exists).Source);
        Assert.Equal("unix:///var/run/docker.sock", Resolve(new() { ["HOME"] = home, ["DOCKER_CONTEXT"] = "default" }, p => File.Exists(p) || p == "/var/run/docker.sock").Uri.ToString());
        Assert.Throws<RlabsConfigException>(() => Resolve(new() { ["HOME"] = home, ["DOCKER_CONTEXT"] = "gone" }, File.Exists));
        Assert.Equal("DOCKER_HOST", Resolve(new() { ["HOME"] = home, ["DOCKER_HOST"] = "unix:///x.sock" }, File.Exists).Source);
    }

    private static ContainerEngineEndpoint Resolve(Dictionary<string, string?> environment, Func<string, bool> fileExists) =>
        ContainerEngineLocator.Resolve(k => environment.GetValueOrDefault(k), fileExists, isWindows: false);

    [Theory]
    [InlineData("python:3.11", "python", "3.11")]
    [InlineData("registry:5000/team/image", "registry:5000/team/image", "latest")]
    [InlineData("registry:5000/team/image:1.2", "registry:5000/team/image", "1.2")]
    [InlineData("image@sha256:abc", "image@sha256:abc", "")]
    public void Should_split_image_references_for_the_pull(string image, string repository, string tag) =>
        Assert.Equal((repository, tag), ContainerEngine.SplitReference(image));

    [Fact]
    public void Should_read_the_network_key_and_refuse_it_with_network_isolation()
    {
        var pipeline = Pipeline("""
            pipeline:
              - { name: a, job_suffix: A, code: step.py, output_path: data, network: true }
              - { name: b, job_suffix: B, code: step.py, output_path: data }
            """);
        var conflict = PipelineConfigReader.Read(_repo.Write("conflict.yaml", """
            pipeline:
              - { name: a, job_suffix: A, code: step.py, output_path: data, network: true, network_isolation: true }
            """), _repo.Root);
        var wrongType = PipelineConfigReader.Read(_repo.Write("wrong.yaml", """
            pipeline:
              - { name: a, job_suffix: A, code: step.py, output_path: data, network: sometimes }
            """), _repo.Root);

        Assert.True(pipeline.Steps[0].Network);
        Assert.False(pipeline.Steps[1].Network);
        var diagnostic = Assert.Single(conflict.Diagnostics, d => d.Severity == RlabsDiagnosticSeverity.Error);
        Assert.Equal(("InvalidValue", 2), (diagnostic.RuleName, diagnostic.Line));
        Assert.Contains("network_isolation", diagnostic.Message, StringComparison.Ordinal);
        Assert.True(wrongType.HasErrors);
    }
}
