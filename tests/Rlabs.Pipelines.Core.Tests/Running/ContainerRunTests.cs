using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Docker.DotNet.Models;
using Rlabs.Pipelines.Config;
using Rlabs.Pipelines.Containers;
using Rlabs.Pipelines.Local;
using Rlabs.Pipelines.Planning;
using Rlabs.Pipelines.Running;

namespace Rlabs.Pipelines.Tests.Running;

/// <summary>Local runs in containers on a real engine (build.ps1 Test starts one; see TestEngine).</summary>
[Collection(ContainerEngineTests.Name)]
[Trait("Tier", "Container")]
public sealed class ContainerRunTests : IDisposable
{
    // Runs in the test image (python3-minimal as user nobody unless the runner says otherwise).
    private const string StepScript = """
        import argparse, json, os, socket, sys, time, zipfile
        p = argparse.ArgumentParser()
        p.add_argument('-j', '--job-id', required=True)
        p.add_argument('-i', '--input-data-zip')
        p.add_argument('-ip', '--input-data-path')
        p.add_argument('-o', '--output-data-path', required=True)
        p.add_argument('-s', '--source-code-zip', required=True)
        p.add_argument('-r', '--requirements-path', required=True)
        args, extra = p.parse_known_args()
        params = dict(zip([e[2:] for e in extra[::2]], extra[1::2]))
        name = os.environ['RLABS_STEP_NAME']
        out = args.output_data_path
        def attempt(action):
            try:
                action()
                return 'ok'
            except OSError as error:
                return f'errno {error.errno}'
        def touch(path):
            open(path, 'a').close()
        creds = os.environ.get('RLABS_CREDENTIALS_FILE')
        record = {
            'argv': sys.argv,
            'uid': os.getuid(),
            'inputs': sorted(os.listdir(args.input_data_path)) if args.input_data_path else None,
            'zip': zipfile.ZipFile(args.input_data_zip).namelist() if args.input_data_zip else None,
            'source': sorted(zipfile.ZipFile(args.source_code_zip).namelist()),
            'requirements': open(args.requirements_path).read(),
            'credentials_path': creds,
            'credentials': open(creds).read() if creds else None,
            'env': {k: os.environ.get(k) for k in ('STAGE', 'RLABS_JOB_ID', 'HOME', 'AWS_REGION', 'PYTHONUNBUFFERED')},
            'interfaces': [line.split(':')[0].strip() for line in open('/proc/net/dev').read().splitlines()[2:]],
        }
        mode = params.get('mode')
        if mode == 'probe':
            record['writes'] = {
                'code': attempt(lambda: touch(os.path.join(os.path.dirname(sys.argv[0]), 'new.py'))),
                'code_script': attempt(lambda: touch(sys.argv[0])),
                'data': attempt(lambda: touch(os.path.join(args.input_data_path, 'new.csv'))),
                'data_file': attempt(lambda: touch(os.path.join(args.input_data_path, 'rows.csv'))),
                'source': attempt(lambda: touch(args.source_code_zip)),
                'requirements': attempt(lambda: touch(args.requirements_path)),
                'credentials': attempt(lambda: touch(creds)),
                'output': attempt(lambda: touch(os.path.join(out, 'probe.txt'))),
            }
        if mode == 'connect':
            def connect():
                s = socket.create_connection(('127.0.0.1', int(params['port'])), timeout=5)
                s.sendall(b'hello from ' + name.encode())
                s.close()
            record['connect'] = attempt(connect)
        os.makedirs(os.path.join(out, 'sub'), exist_ok=True)
        with open(os.path.join(out, 'sub', 'nested.txt'), 'w') as f:
            f.write(name)
        with open(os.path.join(out, name + '.json'), 'w', encoding='utf-8') as f:
            json.dump(record, f, ensure_ascii=False)
        print('step', name, 'in container done', flush=True)
        print('ünïcode ✓ on stderr', file=sys.stderr, flush=True)
        if mode == 'fail':
            print('something broke', file=sys.stderr, flush=True)
            sys.exit(3)
        if mode == 'hang':
            open(os.path.join(out, 'started'), 'w').close()
            time.sleep(120)
        """;

    private readonly TempRepository _repo = new();

    public ContainerRunTests()
    {
        _repo.Write("step.py", StepScript);
        _repo.Write("requirements.txt", "# nothing\n");
        _repo.Write("lib/helpers.py", "X = 1\n");
    }

    public void Dispose() => _repo.Dispose();

    private RlabsPipeline Pipeline(string steps, TempRepository? repository = null)
    {
        var repo = repository ?? _repo;
        var yaml = $"image: \"{TestEngine.Image}\"\npipeline:\n{steps}";
        var result = PipelineConfigReader.Read(repo.Write("pipeline.yaml", yaml), repo.Root);
        Assert.False(result.HasErrors, string.Join(Environment.NewLine, result.Diagnostics));
        return result.Pipeline!;
    }

    private static async Task<(RlabsPipelineRun Run, LocalRunLayout Plan, RecordingReporter Reporter)> RunAsync(
        RlabsPipeline pipeline, string jobId, RlabsLocalRuntime runtime = RlabsLocalRuntime.Container, CredentialsFile? credentials = null, IRegistryLogin? login = null, CancellationToken cancellationToken = default)
    {
        var reporter = new RecordingReporter();
        var (run, plan) = await LocalRuns.RunAsync(LocalRuns.Request(pipeline, jobId, runtime, credentials, region: "eu-west-1"), reporter, login, cancellationToken: cancellationToken);
        return (run, plan, reporter);
    }

    private static JsonElement Record(LocalRunLayout plan, string step, string output = "data") =>
        JsonDocument.Parse(File.ReadAllText(Path.Combine(plan.DataRoot, output, plan.Request.JobId, step + ".json"))).RootElement;

    private static async Task<IList<ContainerListResponse>> ContainersOfAsync(string jobId)
    {
        using var engine = ContainerEngine.Connect(ContainerEngineLocator.Resolve());
        return await engine.Client.Containers.ListContainersAsync(
            new ContainersListParameters
            {
                All = true,
                Filters = new Dictionary<string, IDictionary<string, bool>> { ["label"] = new Dictionary<string, bool> { [$"{ContainerStepRunner.JobIdLabel}={jobId}"] = true } },
            },
            CancellationToken.None);
    }

    [SkippableFact]
    public async Task Should_run_the_examples_pipeline_in_containers_with_the_same_outputs_as_processes()
    {
        await TestEngine.RequireAsync();
        using var examples = new TempRepository();
        CopyTree(Path.Combine(RepositoryRoot(), "examples"), examples.Root);
        var sample = File.ReadAllText(Path.Combine(examples.Root, "pipelines", "sample_pipeline.yaml"));
        var result = PipelineConfigReader.Read(examples.Write("pipelines/sample_pipeline.yaml", $"image: \"{TestEngine.Image}\"\n{sample}"), examples.Root);
        Assert.False(result.HasErrors, string.Join(Environment.NewLine, result.Diagnostics));

        var (processRun, processPlan, _) = await RunAsync(result.Pipeline!, "same-p", RlabsLocalRuntime.Process);
        var (containerRun, containerPlan, reporter) = await RunAsync(result.Pipeline!, "same-c", RlabsLocalRuntime.Container);

        Assert.Equal(RlabsRunStatus.Completed, processRun.Status);
        Assert.Equal(RlabsRunStatus.Completed, containerRun.Status);
        Assert.All(containerRun.Steps, s => Assert.Equal("Container", s.Runtime));
        Assert.All(processRun.Steps, s => Assert.Equal("Process", s.Runtime));
        Assert.All(containerRun.Steps, s => Assert.Equal(0, s.ExitCode));
        var processFiles = Snapshot(Path.Combine(processPlan.DataRoot, "data", "same-p"), "same-p");
        var containerFiles = Snapshot(Path.Combine(containerPlan.DataRoot, "data", "same-c"), "same-c");
        Assert.Equal(processFiles.Keys.Order(), containerFiles.Keys.Order());
        Assert.Contains("scores/metrics.json", processFiles.Keys);
        foreach (var (file, content) in processFiles)
        {
            Assert.True(content == containerFiles[file], $"{file} differs:\n{content}\n---\n{containerFiles[file]}");
        }
        Assert.Contains(reporter.Lines, l => l.StartsWith("[score] [sagemaker_code_script]", StringComparison.Ordinal));
        Assert.Contains("/opt/ml/processing/input/code/sagemaker_code_script.py", containerRun.Steps[0].Command);
        Assert.Empty(await ContainersOfAsync("same-c"));
    }

    [SkippableFact]
    public async Task Should_send_the_entrypoint_and_arguments_of_CreateProcessingJob_and_the_cloud_environment()
    {
        await TestEngine.RequireAsync();
        var credentialsPath = _repo.Write("credentials.yaml", "aws:\n  aws_access_key_id: AKIAXXX\n  aws_secret_access_key: SECRETXXX\nwarehouse:\n  password: pw123\n");
        var pipeline = Pipeline("""
              - { name: first, job_suffix: F, code: step.py, output_path: data, environment: { STAGE: "dev-<job_id>" } }
              - name: second
                job_suffix: S
                code: step.py
                input_data: "data/<job_id>"
                output_path: data
                params: { title: "it's a \"quoted\" value; $(rm -rf /)", city: "Zürich – 東京", run: "<job_id>-x" }
            """);

        var (run, plan, reporter) = await RunAsync(pipeline, "c-args", credentials: CredentialsFile.Load(credentialsPath));

        Assert.Equal(RlabsRunStatus.Completed, run.Status);
        var expected = RunPlanner.Plan(LocalRuns.Request(pipeline, "c-args"), region: null).Steps[1].Command;
        var argv = Record(plan, "second").GetProperty("argv").EnumerateArray().Select(e => e.GetString()).ToList();
        Assert.Equal([expected.Entrypoint[1], .. expected.Arguments], argv);
        Assert.Equal(
            ["/opt/ml/processing/input/code/step.py", "--job-id", "c-args", "--input-data-path", "/opt/ml/processing/input/data",
             "--output-data-path", "/opt/ml/processing/output", "--source-code-zip", "/opt/ml/processing/input/source/source.zip",
             "--requirements-path", "/opt/ml/processing/input/requirements/requirements.txt",
             "--title", "it's a \"quoted\" value; $(rm -rf /)", "--city", "Zürich – 東京", "--run", "c-args-x"],
            argv);
        Assert.Equal([.. expected.Entrypoint, .. expected.Arguments], run.Steps[1].Command);
        var first = Record(plan, "first");
        Assert.Equal(["first.json", "sub"], Record(plan, "second").GetProperty("inputs").EnumerateArray().Select(e => e.GetString()));
        Assert.Equal("dev-c-args", first.GetProperty("env").GetProperty("STAGE").GetString());
        Assert.Equal("c-args", first.GetProperty("env").GetProperty("RLABS_JOB_ID").GetString());
        Assert.Equal("eu-west-1", first.GetProperty("env").GetProperty("AWS_REGION").GetString());
        Assert.Equal("/opt/ml/processing/input/credentials/credentials.yaml", first.GetProperty("credentials_path").GetString());
        var handed = first.GetProperty("credentials").GetString()!;
        Assert.Contains("pw123", handed, StringComparison.Ordinal);
        Assert.DoesNotContain("SECRETXXX", handed, StringComparison.Ordinal);
        Assert.DoesNotContain("AKIAXXX", handed, StringComparison.Ordinal);
        Assert.Equal("# nothing\n", first.GetProperty("requirements").GetString());
        Assert.Contains("lib/helpers.py", first.GetProperty("source").EnumerateArray().Select(e => e.GetString()));
        Assert.Contains(reporter.Lines, l => l == "[first] step first in container done");
        Assert.Contains(reporter.Lines, l => l == "[first] ünïcode ✓ on stderr");
        Assert.Contains("step first in container done", File.ReadAllText(run.Steps[0].LogPath!), StringComparison.Ordinal);
        Assert.Contains(reporter.Lines, l => l.StartsWith("[first] runtime Container: image " + TestEngine.Image, StringComparison.Ordinal));
        Assert.False(File.Exists(plan.CredentialsCopy));
    }

    [SkippableFact]
    public async Task Should_stop_at_a_failing_step_with_its_exit_code_and_log_and_remove_its_container()
    {
        await TestEngine.RequireAsync();
        var pipeline = Pipeline("""
              - { name: a, job_suffix: A, code: step.py, output_path: data }
              - { name: b, job_suffix: B, code: step.py, output_path: data, params: { mode: fail } }
              - { name: c, job_suffix: C, code: step.py, output_path: data }
            """);

        var (run, plan, _) = await RunAsync(pipeline, "c-fail");

        Assert.Equal(RlabsRunStatus.Failed, run.Status);
        Assert.Equal([RlabsRunStatus.Completed, RlabsRunStatus.Failed, RlabsRunStatus.Skipped], run.Steps.Select(s => s.Status));
        Assert.Equal(3, run.Steps[1].ExitCode);
        Assert.Contains("exited with code 3", run.Steps[1].FailureReason, StringComparison.Ordinal);
        Assert.Contains("something broke", run.Steps[1].LogTail);
        Assert.Contains("# exit code 3", File.ReadAllText(run.Steps[1].LogPath!), StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(plan.DataRoot, "data", "c-fail", "b.json")), "a failed step's output is not published");
        Assert.Empty(await ContainersOfAsync("c-fail"));
    }

    [SkippableFact]
    public async Task Should_kill_and_remove_the_running_container_when_cancelled()
    {
        await TestEngine.RequireAsync();
        var pipeline = Pipeline("""
              - { name: a, job_suffix: A, code: step.py, output_path: data, params: { mode: hang } }
              - { name: b, job_suffix: B, code: step.py, output_path: data }
            """);
        using var cancellation = new CancellationTokenSource();
        var running = RunAsync(pipeline, "c-stop", cancellationToken: cancellation.Token);
        var started = Path.Combine(_repo.Root, ".rlabs", "runs", "c-stop", "a", "output", "started");
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (!File.Exists(started))
        {
            Assert.True(DateTime.UtcNow < deadline, "the step's container never started");
            Assert.False(running.IsCompleted, "the run ended before the step started");
            await Task.Delay(50);
        }
        Assert.Single(await ContainersOfAsync("c-stop"));

        var watch = Stopwatch.StartNew();
        cancellation.Cancel();
        var (run, _, _) = await running;

        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(10), $"took {watch.Elapsed}");
        Assert.Equal(RlabsRunStatus.Stopped, run.Status);
        Assert.Equal([RlabsRunStatus.Stopped, RlabsRunStatus.Skipped], run.Steps.Select(s => s.Status));
        Assert.Contains("container was killed and removed", run.Steps[0].FailureReason, StringComparison.Ordinal);
        Assert.Empty(await ContainersOfAsync("c-stop"));
    }

    [SkippableFact]
    public async Task Should_mount_inputs_read_only_and_only_the_output_writable()
    {
        await TestEngine.RequireAsync();
        var credentialsPath = _repo.Write("credentials.yaml", "warehouse:\n  password: pw123\n");
        var raw = Path.Combine(_repo.Root, ".rlabs", "data", "raw", "ro");
        Directory.CreateDirectory(raw);
        File.WriteAllText(Path.Combine(raw, "rows.csv"), "a,b\n");
        var pipeline = Pipeline("""
              - { name: probe, job_suffix: P, code: step.py, input_data: "raw/<job_id>", output_path: data, params: { mode: probe } }
            """);

        var (run, plan, _) = await RunAsync(pipeline, "ro", credentials: CredentialsFile.Load(credentialsPath));

        Assert.Equal(RlabsRunStatus.Completed, run.Status);
        var writes = Record(plan, "probe").GetProperty("writes");
        const string ReadOnlyFileSystem = "errno 30"; // EROFS: the mount itself refuses, whoever the user is
        foreach (var input in new[] { "code", "code_script", "data", "data_file", "source", "requirements", "credentials" })
        {
            Assert.Equal(ReadOnlyFileSystem, writes.GetProperty(input).GetString());
        }
        Assert.Equal("ok", writes.GetProperty("output").GetString());
        Assert.Equal("a,b\n", File.ReadAllText(Path.Combine(raw, "rows.csv")));
        Assert.True(File.Exists(Path.Combine(plan.DataRoot, "data", "ro", "probe.txt")));
    }

    [SkippableFact]
    public async Task Should_cut_the_network_unless_the_step_asks_for_it()
    {
        await TestEngine.RequireAsync();
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        var received = new List<string>();
        using var stop = new CancellationTokenSource();
        var accepting = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                using var client = await listener.AcceptTcpClientAsync(stop.Token);
                using var reader = new StreamReader(client.GetStream());
                received.Add(await reader.ReadToEndAsync(stop.Token));
            }
        });
        var pipeline = Pipeline($$"""
              - { name: isolated, job_suffix: I, code: step.py, output_path: data, params: { mode: connect, port: "{{port}}" } }
              - { name: networked, job_suffix: N, code: step.py, output_path: data, network: true, params: { mode: connect, port: "{{port}}" } }
            """);

        var (run, plan, _) = await RunAsync(pipeline, "net");
        await stop.CancelAsync();
        listener.Stop();
        await Task.WhenAny(accepting, Task.Delay(2000));

        Assert.Equal(RlabsRunStatus.Completed, run.Status);
        var isolated = Record(plan, "isolated");
        Assert.StartsWith("errno", isolated.GetProperty("connect").GetString(), StringComparison.Ordinal);
        Assert.Equal(["lo"], isolated.GetProperty("interfaces").EnumerateArray().Select(e => e.GetString()));
        Assert.Equal("ok", Record(plan, "networked").GetProperty("connect").GetString());
        Assert.Equal(["hello from networked"], received);
    }

    [SkippableFact]
    public async Task Should_leave_the_output_owned_by_the_invoking_user_although_the_image_runs_as_nobody()
    {
        await TestEngine.RequireAsync();
        Skip.IfNot(OperatingSystem.IsLinux(), "Unix owners of bind mounts are a Linux matter; Docker Desktop maps them itself.");
        var pipeline = Pipeline("""
              - { name: owner, job_suffix: O, code: step.py, output_path: data }
            """);

        var (run, plan, _) = await RunAsync(pipeline, "own");

        Assert.Equal(RlabsRunStatus.Completed, run.Status);
        var me = ContainerStepRunner.CurrentLinuxUser()!;
        Assert.Equal(int.Parse(me.Split(':')[0], System.Globalization.CultureInfo.InvariantCulture), Record(plan, "owner").GetProperty("uid").GetInt32());
        var output = Path.Combine(plan.DataRoot, "data", "own");
        foreach (var path in new[] { Path.Combine(output, "owner.json"), Path.Combine(output, "sub"), Path.Combine(output, "sub", "nested.txt") })
        {
            Assert.Equal(me, Owner(path));
        }
    }

    [SkippableFact]
    public async Task Should_fail_a_step_whose_image_is_missing_offline_naming_the_image_and_how_to_get_it()
    {
        await TestEngine.RequireAsync();
        var missing = "683313688378.dkr.ecr.us-east-1.amazonaws.com/rlabs-no-such-image:0.0-test";
        var result = PipelineConfigReader.Read(_repo.Write("pipeline.yaml", $"pipeline:\n  - {{ name: a, job_suffix: A, code: step.py, output_path: data, image: \"{missing}\" }}\n"), _repo.Root);
        Assert.False(result.HasErrors);

        var (run, _, _) = await RunAsync(result.Pipeline!, "noimg");

        Assert.Equal(RlabsRunStatus.Failed, run.Status);
        var reason = run.Steps[0].FailureReason!;
        Assert.Contains($"The image '{missing}' is not on this computer and could not be pulled", reason, StringComparison.Ordinal);
        Assert.Contains("aws ecr get-login-password --region us-east-1", reason, StringComparison.Ordinal);
        Assert.Contains("docker load", reason, StringComparison.Ordinal);
        Assert.Null(run.Steps[0].ExitCode);
    }

    [SkippableFact]
    public async Task Should_pick_the_container_in_Auto_only_for_steps_whose_image_is_present()
    {
        await TestEngine.RequireAsync();
        var pipeline = Pipeline("""
              - { name: here, job_suffix: H, code: step.py, output_path: data }
              - { name: absent, job_suffix: A, code: step.py, output_path: data, image: "rlabs-not-pulled:never" }
            """);

        var (run, plan, reporter) = await RunAsync(pipeline, "auto", RlabsLocalRuntime.Auto);

        Assert.Equal(RlabsRunStatus.Completed, run.Status);
        Assert.Equal(["Container", "Process"], run.Steps.Select(s => s.Runtime));
        Assert.Equal("/opt/ml/processing/output", Record(plan, "here").GetProperty("argv")[4].GetString());
        Assert.Contains(reporter.Lines, l => l.Contains("[absent] runtime Auto chose Process: the engine does not have rlabs-not-pulled:never", StringComparison.Ordinal));
    }

    [SkippableFact]
    public async Task Should_pull_a_missing_image_with_the_registry_login_and_show_the_pull_progress()
    {
        await TestEngine.RequireAsync();
        var (image, user, password) = TestEngine.RequireRegistry();
        using var engine = ContainerEngine.Connect(ContainerEngineLocator.Resolve());
        await ForgetImageAsync(engine, image);
        var result = PipelineConfigReader.Read(_repo.Write("pipeline.yaml", $"pipeline:\n  - {{ name: a, job_suffix: A, code: step.py, output_path: data, image: \"{image}\" }}\n"), _repo.Root);
        Assert.False(result.HasErrors);
        try
        {
            var (anonymous, _, _) = await RunAsync(result.Pipeline!, "pull-1");
            var login = new FixedLogin(new RegistryCredentials(image.Split('/')[0], user, password));
            var (run, plan, reporter) = await RunAsync(result.Pipeline!, "pull-2", login: login);

            Assert.Equal(RlabsRunStatus.Failed, anonymous.Status);
            Assert.Contains($"The image '{image}' is not on this computer and could not be pulled", anonymous.Steps[0].FailureReason, StringComparison.Ordinal);
            Assert.Contains("docker pull " + image, anonymous.Steps[0].FailureReason, StringComparison.Ordinal);
            Assert.True(run.Status == RlabsRunStatus.Completed, run.Steps[0].FailureReason);
            Assert.Equal("Container", run.Steps[0].Runtime);
            Assert.Equal([image], login.Asked);
            Assert.Contains(reporter.ProgressRecords, p => p.Status == $"Pulling image {image}" && p.CurrentOperation!.Contains("layers", StringComparison.Ordinal));
            Assert.Contains(reporter.ProgressRecords, p => p.Status == $"Pulled image {image}" && p.PercentComplete == 100);
            Assert.Contains(reporter.Lines, l => l == $"Pulled image {image}");
            Assert.Equal("/opt/ml/processing/output", Record(plan, "a").GetProperty("argv")[4].GetString());
        }
        finally
        {
            await ForgetImageAsync(engine, image);
        }
    }

    private static async Task ForgetImageAsync(ContainerEngine engine, string image)
    {
        try
        {
            await engine.Client.Images.DeleteImageAsync(image, new ImageDeleteParameters { Force = true }, CancellationToken.None);
        }
        catch (Docker.DotNet.DockerImageNotFoundException)
        {
        }
    }

    private sealed class FixedLogin(RegistryCredentials credentials) : IRegistryLogin
    {
        public List<string> Asked { get; } = [];

        public Task<RegistryCredentials?> GetCredentialsAsync(string image, CancellationToken cancellationToken)
        {
            Asked.Add(image);
            return Task.FromResult<RegistryCredentials?>(credentials);
        }
    }

    private static string Owner(string path)
    {
        using var stat = Process.Start(new ProcessStartInfo("stat", ["-c", "%u:%g", path]) { RedirectStandardOutput = true })!;
        var owner = stat.StandardOutput.ReadToEnd().Trim();
        stat.WaitForExit();
        return owner;
    }

    private static Dictionary<string, string> Snapshot(string folder, string jobId) =>
        Directory.EnumerateFiles(folder, "*", SearchOption.AllDirectories).ToDictionary(
            f => Path.GetRelativePath(folder, f).Replace('\\', '/'),
            f => File.ReadAllText(f).Replace(jobId, "<job>", StringComparison.Ordinal));

    internal static string RepositoryRoot()
    {
        var directory = AppContext.BaseDirectory;
        while (directory is not null && !File.Exists(Path.Combine(directory, "Rlabs.Pipelines.slnx")))
        {
            directory = Path.GetDirectoryName(directory);
        }
        return directory ?? throw new InvalidOperationException("The repository root (Rlabs.Pipelines.slnx) was not found above the test binaries.");
    }

    private static void CopyTree(string source, string destination)
    {
        foreach (var file in Directory.EnumerateFiles(source, "*", SearchOption.AllDirectories))
        {
            var relative = Path.GetRelativePath(source, file);
            if (relative.StartsWith(".rlabs", StringComparison.Ordinal))
            {
                continue;
            }
            var target = Path.Combine(destination, relative);
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(file, target, overwrite: true);
        }
    }
}

/// <summary>Container tests share one engine and two cores: they run one at a time.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ContainerEngineTests
{
    /// <summary>The collection's name.</summary>
    public const string Name = "Container engine";
}
