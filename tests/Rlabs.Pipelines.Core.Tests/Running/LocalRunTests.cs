using System.Diagnostics;
using System.Text.Json;
using Rlabs.Pipelines.Config;
using Rlabs.Pipelines.Local;
using Rlabs.Pipelines.Running;

namespace Rlabs.Pipelines.Tests.Running;

/// <summary>Local runs with real Python processes.</summary>
public sealed class LocalRunTests : IDisposable
{
    private const string StepScript = """
        import argparse, json, os, subprocess, sys, time, zipfile
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
        os.makedirs(args.output_data_path, exist_ok=True)
        creds = os.environ.get('RLABS_CREDENTIALS_FILE')
        record = {
            'argv': sys.argv[1:],
            'params': params,
            'cwd': os.getcwd(),
            'inputs': sorted(os.listdir(args.input_data_path)) if args.input_data_path else None,
            'zip': zipfile.ZipFile(args.input_data_zip).namelist() if args.input_data_zip else None,
            'source': sorted(zipfile.ZipFile(args.source_code_zip).namelist()),
            'requirements': open(args.requirements_path).read(),
            'credentials': open(creds).read() if creds else None,
            'env': os.environ.get('STAGE'),
            'stdin': sys.stdin.read(),
            'own_group': os.getpgrp() == os.getpid() if hasattr(os, 'getpgrp') else None,
        }
        with open(os.path.join(args.output_data_path, name + '.json'), 'w', encoding='utf-8') as f:
            json.dump(record, f, ensure_ascii=False)
        print('step', name, 'done with', len(params), 'params', flush=True)
        mode = params.get('mode')
        if mode == 'fail':
            print('something broke', file=sys.stderr, flush=True)
            sys.exit(3)
        if mode == 'link':
            os.makedirs(os.path.join(args.output_data_path, 'sub'), exist_ok=True)
            os.symlink(params['target'], os.path.join(args.output_data_path, 'sub', 'leak'))
        if mode == 'hang':
            child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)'])
            with open(params['pidfile'], 'w') as f:
                f.write(f'{os.getpid()} {child.pid}')
            time.sleep(120)
        """;

    private readonly TempRepository _repo = new();

    public LocalRunTests()
    {
        _repo.Write("step.py", StepScript);
        _repo.Write("requirements.txt", "# nothing\n");
        _repo.Write("lib/helpers.py", "X = 1\n");
        _repo.Write(".gitignore", "*.tmp\n");
        _repo.Write("junk.tmp", "x");
    }

    public void Dispose() => _repo.Dispose();

    private RlabsPipeline Pipeline(string yaml)
    {
        var result = PipelineConfigReader.Read(_repo.Write("pipeline.yaml", yaml), _repo.Root);
        Assert.False(result.HasErrors, string.Join(Environment.NewLine, result.Diagnostics));
        return result.Pipeline!;
    }

    private static async Task<(RlabsPipelineRun Run, LocalRunLayout Plan, RecordingReporter Reporter)> RunAsync(RlabsPipeline pipeline, string jobId, CredentialsFile? credentials = null, CancellationToken cancellationToken = default)
    {
        var reporter = new RecordingReporter();
        var (run, plan) = await LocalRuns.RunAsync(LocalRuns.Request(pipeline, jobId, credentials: credentials), reporter, cancellationToken: cancellationToken);
        return (run, plan, reporter);
    }

    private static JsonElement Record(LocalRunLayout plan, string step) =>
        JsonDocument.Parse(File.ReadAllText(Path.Combine(plan.DataRoot, "data", plan.Request.JobId, step + ".json"))).RootElement;

    [Fact]
    public async Task Should_run_steps_in_order_and_hand_data_through_the_job_id_folder()
    {
        var pipeline = Pipeline("""
            pipeline:
              - { name: prepare, job_suffix: P, code: step.py, output_path: data }
              - { name: train, job_suffix: T, code: step.py, input_data: "data/<job_id>", output_path: data }
              - { name: score, job_suffix: S, code: step.py, input_data: "data/<job_id>", output_path: data }
            """);

        var (run, plan, reporter) = await RunAsync(pipeline, "job-1");

        Assert.True(run.Status == RlabsRunStatus.Completed, string.Join(" | ", run.Steps.Select(s => s.FailureReason)));
        Assert.All(run.Steps, s => Assert.Equal(RlabsRunStatus.Completed, s.Status));
        Assert.All(run.Steps, s => Assert.Equal(0, s.ExitCode));
        Assert.Equal(JsonValueKind.Null, Record(plan, "prepare").GetProperty("inputs").ValueKind);
        Assert.Equal(["prepare.json"], Record(plan, "train").GetProperty("inputs").EnumerateArray().Select(e => e.GetString()));
        Assert.Equal(["prepare.json", "train.json"], Record(plan, "score").GetProperty("inputs").EnumerateArray().Select(e => e.GetString()));
        Assert.Equal(Path.Combine(plan.DataRoot, "data", "job-1"), run.Steps[2].OutputLocation);
        Assert.Contains(reporter.Lines, l => l == "[train] step train done with 0 params");
        Assert.Contains("step train done", File.ReadAllText(run.Steps[1].LogPath!), StringComparison.Ordinal);
        Assert.True(reporter.Progress.Last().Completed);
    }

    [Fact]
    public async Task Should_pass_the_mandatory_arguments_then_params_in_file_order()
    {
        var pipeline = Pipeline("""
            pipeline:
              - name: only
                job_suffix: O
                code: step.py
                output_path: out
                params:
                  notebook_path: "lib/helpers.py"
                  train_id: "1"
                  run: "<job_id>-x"
            """);

        var (run, plan, _) = await RunAsync(pipeline, "j2");

        Assert.Equal(RlabsRunStatus.Completed, run.Status);
        var json = File.ReadAllText(Path.Combine(plan.DataRoot, "out", "j2", "only.json"));
        var argv = JsonDocument.Parse(json).RootElement.GetProperty("argv").EnumerateArray().Select(e => e.GetString()).ToList();
        var step = Path.Combine(plan.RunDirectory, "only");
        Assert.Equal(
            ["--job-id", "j2", "--output-data-path", Path.Combine(step, "output"), "--source-code-zip", Path.Combine(step, "input", "source", "source.zip"),
             "--requirements-path", Path.Combine(step, "input", "requirements", "requirements.txt"),
             "--notebook_path", "lib/helpers.py", "--train_id", "1", "--run", "j2-x"],
            argv);
    }

    [Fact]
    public async Task Should_pass_params_with_spaces_quotes_and_unicode_unchanged()
    {
        var pipeline = Pipeline("""
            pipeline:
              - name: only
                job_suffix: O
                code: step.py
                output_path: out
                params:
                  title: "it's a \"quoted\" value; $(rm -rf /) `x`"
                  city: "Zürich – 東京 🚀"
                  spaced: "  two  spaces  "
                  empty: ""
            """);

        var (run, plan, _) = await RunAsync(pipeline, "j3");

        Assert.Equal(RlabsRunStatus.Completed, run.Status);
        var parameters = JsonDocument.Parse(File.ReadAllText(Path.Combine(plan.DataRoot, "out", "j3", "only.json"))).RootElement.GetProperty("params");
        Assert.Equal("it's a \"quoted\" value; $(rm -rf /) `x`", parameters.GetProperty("title").GetString());
        Assert.Equal("Zürich – 東京 🚀", parameters.GetProperty("city").GetString());
        Assert.Equal("  two  spaces  ", parameters.GetProperty("spaced").GetString());
        Assert.Equal(string.Empty, parameters.GetProperty("empty").GetString());
    }

    [Fact]
    public async Task Should_stop_at_a_failing_step_and_skip_the_rest()
    {
        var pipeline = Pipeline("""
            pipeline:
              - { name: a, job_suffix: A, code: step.py, output_path: data }
              - { name: b, job_suffix: B, code: step.py, output_path: data, params: { mode: fail } }
              - { name: c, job_suffix: C, code: step.py, output_path: data }
            """);

        var (run, plan, _) = await RunAsync(pipeline, "j4");

        Assert.Equal(RlabsRunStatus.Failed, run.Status);
        Assert.Equal([RlabsRunStatus.Completed, RlabsRunStatus.Failed, RlabsRunStatus.Skipped], run.Steps.Select(s => s.Status));
        Assert.Equal(3, run.Steps[1].ExitCode);
        Assert.Contains("exited with code 3", run.Steps[1].FailureReason, StringComparison.Ordinal);
        Assert.Contains("something broke", run.Steps[1].LogTail);
        Assert.Contains("'b' failed", run.Steps[2].FailureReason, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(plan.DataRoot, "data", "j4", "b.json")), "a failed step's output is not published");
    }

    [Fact]
    public async Task Should_run_a_first_step_whose_input_does_not_exist_with_an_empty_input_folder_and_one_warning()
    {
        var pipeline = Pipeline("""
            pipeline:
              - { name: a, job_suffix: A, code: step.py, input_data: "raw/<job_id>", output_path: data }
            """);

        var (run, plan, reporter) = await RunAsync(pipeline, "j5");

        Assert.Equal(RlabsRunStatus.Completed, run.Status);
        Assert.Empty(Record(plan, "a").GetProperty("inputs").EnumerateArray());
        var warning = Assert.Single(reporter.Warnings);
        Assert.Contains("'a'", warning, StringComparison.Ordinal);
        Assert.Contains(Path.Combine(plan.DataRoot, "raw", "j5"), warning, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Should_fail_a_step_whose_input_an_earlier_step_was_to_write_but_did_not()
    {
        var pipeline = Pipeline("""
            pipeline:
              - { name: a, job_suffix: A, code: step.py, output_path: data }
              - { name: b, job_suffix: B, code: step.py, input_data: "data/<job_id>/batch.zip", output_path: data }
            """);

        var (run, plan, reporter) = await RunAsync(pipeline, "j5b");

        Assert.Equal(RlabsRunStatus.Failed, run.Status);
        Assert.Equal(RlabsRunStatus.Completed, run.Steps[0].Status);
        Assert.Contains(Path.Combine(plan.DataRoot, "data", "j5b", "batch.zip"), run.Steps[1].FailureReason, StringComparison.Ordinal);
        Assert.Contains("Step 'a' writes its output there", run.Steps[1].FailureReason, StringComparison.Ordinal);
        Assert.Null(run.Steps[1].ExitCode);
        Assert.Empty(reporter.Warnings);
    }

    [Fact]
    public async Task Should_pass_a_zip_input_as_input_data_zip()
    {
        var pipeline = Pipeline("""
            pipeline:
              - { name: a, job_suffix: A, code: step.py, input_data: "raw/batch.zip", output_path: data }
            """);
        var dataRoot = Path.Combine(_repo.Root, ".rlabs", "data", "raw");
        Directory.CreateDirectory(dataRoot);
        using (var zip = System.IO.Compression.ZipFile.Open(Path.Combine(dataRoot, "batch.zip"), System.IO.Compression.ZipArchiveMode.Create))
        {
            zip.CreateEntry("rows.csv");
        }

        var (run, plan, _) = await RunAsync(pipeline, "j6");

        Assert.Equal(RlabsRunStatus.Completed, run.Status);
        var record = Record(plan, "a");
        Assert.Equal(["rows.csv"], record.GetProperty("zip").EnumerateArray().Select(e => e.GetString()));
        Assert.DoesNotContain("--input-data-path", record.GetProperty("argv").EnumerateArray().Select(e => e.GetString()));
    }

    [Fact]
    public async Task Should_ship_the_repository_zip_without_ignored_files_or_run_folders()
    {
        var pipeline = Pipeline("""
            pipeline:
              - { name: a, job_suffix: A, code: step.py, output_path: data }
            """);

        var (_, plan, _) = await RunAsync(pipeline, "j7");
        var (_, plan2, _) = await RunAsync(pipeline, "j8");

        var source = Record(plan2, "a").GetProperty("source").EnumerateArray().Select(e => e.GetString()).ToList();
        Assert.Equal([".gitignore", "lib/helpers.py", "pipeline.yaml", "requirements.txt", "step.py"], source);
        Assert.Equal("# nothing\n", Record(plan, "a").GetProperty("requirements").GetString());
        Assert.Equal("*\n", File.ReadAllText(Path.Combine(_repo.Root, ".rlabs", ".gitignore")).Split('\n', 2)[1]);
    }

    [Fact]
    public async Task Should_hand_steps_the_credentials_without_aws_keys_and_delete_the_copy_afterwards()
    {
        var credentialsPath = _repo.Write("credentials.yaml", "aws:\n  aws_access_key_id: AKIAXXX\n  aws_secret_access_key: SECRETXXX\nwarehouse:\n  password: pw123\n");
        var pipeline = Pipeline("""
            environment: { STAGE: "dev-<job_id>" }
            pipeline:
              - { name: a, job_suffix: A, code: step.py, output_path: data }
            """);

        var (run, plan, reporter) = await RunAsync(pipeline, "j9", CredentialsFile.Load(credentialsPath));

        Assert.Equal(RlabsRunStatus.Completed, run.Status);
        var record = Record(plan, "a");
        var handed = record.GetProperty("credentials").GetString()!;
        Assert.Contains("pw123", handed, StringComparison.Ordinal);
        Assert.DoesNotContain("SECRETXXX", handed, StringComparison.Ordinal);
        Assert.DoesNotContain("AKIAXXX", handed, StringComparison.Ordinal);
        Assert.Equal("dev-j9", record.GetProperty("env").GetString());
        Assert.DoesNotContain("credentials.yaml", record.GetProperty("source").EnumerateArray().Select(e => e.GetString()));
        Assert.False(File.Exists(plan.CredentialsCopy));
        Assert.All(plan.Steps, s => Assert.False(File.Exists(s.CredentialsPath), s.CredentialsPath));
        Assert.DoesNotContain(reporter.Lines.Concat(reporter.Warnings), l => l.Contains("SECRETXXX", StringComparison.Ordinal) || l.Contains("pw123", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Should_refuse_a_symbolic_link_in_a_step_output_and_leave_its_target_alone(bool directory)
    {
        using var outside = new TempRepository();
        var secret = outside.Write("secret/id_rsa", "PRIVATE");
        var target = directory ? Path.GetDirectoryName(secret)! : secret;
        var pipeline = Pipeline($$"""
            pipeline:
              - { name: a, job_suffix: A, code: step.py, output_path: data, params: { mode: link, target: "{{target}}" } }
              - { name: b, job_suffix: B, code: step.py, input_data: "data/<job_id>", output_path: data }
            """);

        var (run, plan, _) = await RunAsync(pipeline, "jl" + directory);

        Assert.Equal([RlabsRunStatus.Failed, RlabsRunStatus.Skipped], run.Steps.Select(s => s.Status));
        Assert.Contains("Step 'a'", run.Steps[0].FailureReason, StringComparison.Ordinal);
        Assert.Contains($"'sub/leak' -> '{target}'", run.Steps[0].FailureReason, StringComparison.Ordinal);
        Assert.Equal("PRIVATE", File.ReadAllText(secret));
        Assert.False(Directory.Exists(Path.Combine(plan.DataRoot, "data", "jl" + directory)), "nothing of a refused output is published");
    }

    [Fact]
    public async Task Should_refuse_to_stage_input_data_holding_a_symbolic_link()
    {
        using var outside = new TempRepository();
        var secret = outside.Write("id_rsa", "PRIVATE");
        var pipeline = Pipeline("""
            pipeline:
              - { name: b, job_suffix: B, code: step.py, input_data: "raw", output_path: data }
            """);
        string dataRoot;
        var (runtime, _) = LocalRuns.Plan(LocalRuns.Request(pipeline, "js"));
        using (runtime)
        {
            dataRoot = runtime.Layout.DataRoot;
        }
        Directory.CreateDirectory(Path.Combine(dataRoot, "raw"));
        File.WriteAllText(Path.Combine(dataRoot, "raw", "ok.csv"), "a,b\n");
        File.CreateSymbolicLink(Path.Combine(dataRoot, "raw", "leak"), secret);

        var (run, _, _) = await RunAsync(pipeline, "js");

        Assert.Equal(RlabsRunStatus.Failed, run.Status);
        Assert.Contains("Step 'b'", run.Steps[0].FailureReason, StringComparison.Ordinal);
        Assert.Contains($"-> '{secret}'", run.Steps[0].FailureReason, StringComparison.Ordinal);
        Assert.Null(run.Steps[0].ExitCode);
    }

    [Fact]
    public async Task Should_refuse_a_code_script_that_links_outside_the_repository()
    {
        using var outside = new TempRepository();
        var script = outside.Write("evil.py", "print('x')\n");
        File.CreateSymbolicLink(Path.Combine(_repo.Root, "linked.py"), script);
        var pipeline = Pipeline("""
            pipeline:
              - { name: a, job_suffix: A, code: linked.py, output_path: data }
            """);

        var (run, _, _) = await RunAsync(pipeline, "jc");

        Assert.Equal(RlabsRunStatus.Failed, run.Status);
        Assert.Contains("outside the repository", run.Steps[0].FailureReason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Should_start_a_step_in_a_process_group_of_its_own_with_an_empty_stdin()
    {
        var pipeline = Pipeline("""
            pipeline:
              - { name: a, job_suffix: A, code: step.py, output_path: data }
            """);

        var (run, plan, _) = await RunAsync(pipeline, "grp1");

        Assert.Equal(RlabsRunStatus.Completed, run.Status);
        var record = Record(plan, "a");
        Assert.Equal(string.Empty, record.GetProperty("stdin").GetString());
        if (!OperatingSystem.IsWindows())
        {
            // Its own group: the watchdog can kill everything the step started, and only that.
            Assert.True(record.GetProperty("own_group").GetBoolean());
        }
    }

    [Fact]
    public async Task Should_kill_the_whole_process_tree_and_return_stopped_when_cancelled()
    {
        var pidFile = Path.Combine(_repo.Root, "pids.txt");
        var pipeline = Pipeline($$"""
            pipeline:
              - { name: a, job_suffix: A, code: step.py, output_path: data, params: { mode: hang, pidfile: "{{pidFile.Replace("\\", "/", StringComparison.Ordinal)}}" } }
              - { name: b, job_suffix: B, code: step.py, output_path: data }
            """);
        using var cancellation = new CancellationTokenSource();
        var running = RunAsync(pipeline, "j10", cancellationToken: cancellation.Token);
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!File.Exists(pidFile) || File.ReadAllText(pidFile).Split(' ').Length < 2)
        {
            Assert.True(DateTime.UtcNow < deadline, "the step never started");
            await Task.Delay(50);
        }
        var pids = File.ReadAllText(pidFile).Split(' ').Select(int.Parse).ToList();

        var watch = Stopwatch.StartNew();
        cancellation.Cancel();
        var (run, _, _) = await running;

        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(10), $"took {watch.Elapsed}");
        Assert.Equal(RlabsRunStatus.Stopped, run.Status);
        Assert.Equal([RlabsRunStatus.Stopped, RlabsRunStatus.Skipped], run.Steps.Select(s => s.Status));
        foreach (var pid in pids)
        {
            Assert.True(await ExitedAsync(pid), $"process {pid} is still running");
        }
    }

    [Fact]
    public async Task Should_fail_a_step_that_exceeds_its_max_runtime()
    {
        var pidFile = Path.Combine(_repo.Root, "pids2.txt");
        var pipeline = Pipeline($$"""
            pipeline:
              - { name: a, job_suffix: A, code: step.py, output_path: data, max_runtime: 6, params: { mode: hang, pidfile: "{{pidFile.Replace("\\", "/", StringComparison.Ordinal)}}" } }
            """);

        var (run, _, _) = await RunAsync(pipeline, "j11");

        Assert.Equal(RlabsRunStatus.Failed, run.Status);
        Assert.Contains("max_runtime", run.Steps[0].FailureReason, StringComparison.Ordinal);
        foreach (var pid in File.ReadAllText(pidFile).Split(' ').Select(int.Parse))
        {
            Assert.True(await ExitedAsync(pid), $"process {pid} is still running");
        }
    }

    [Fact]
    public async Task Should_stop_a_local_step_at_the_pipelines_top_level_max_runtime()
    {
        // The defaults block's max_runtime applies to every runtime, not only to SageMaker (issue 11's first drift).
        var pidFile = Path.Combine(_repo.Root, "pids3.txt");
        var pipeline = Pipeline($$"""
            max_runtime: 5
            pipeline:
              - { name: a, job_suffix: A, code: step.py, output_path: data, params: { mode: hang, pidfile: "{{pidFile.Replace("\\", "/", StringComparison.Ordinal)}}" } }
            """);

        var watch = Stopwatch.StartNew();
        var (run, _, _) = await RunAsync(pipeline, "j11b");

        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(60), $"took {watch.Elapsed}");
        Assert.Equal(RlabsRunStatus.Failed, run.Status);
        Assert.Contains("max_runtime (00:00:05)", run.Steps[0].FailureReason, StringComparison.Ordinal);
        foreach (var pid in File.ReadAllText(pidFile).Split(' ').Select(int.Parse))
        {
            Assert.True(await ExitedAsync(pid), $"process {pid} is still running");
        }
    }

    [Fact]
    public void Should_describe_the_plan_without_touching_disk()
    {
        var pipeline = Pipeline("""
            pipeline:
              - { name: a, job_suffix: A, code: step.py, output_path: data, params: { title: "a b" } }
            """);

        var (runtime, plan) = LocalRuns.Plan(LocalRuns.Request(pipeline, "j12"));
        using var _ = runtime;
        var lines = runtime.Describe(plan).ToList();

        Assert.Contains(lines, l => l.Contains("job id j12", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.Contains("--title 'a b'", StringComparison.Ordinal));
        Assert.False(Directory.Exists(Path.Combine(_repo.Root, ".rlabs")));
    }

    [Fact]
    public void Should_explain_when_the_python_interpreter_is_missing()
    {
        var error = Assert.Throws<RlabsConfigException>(() => PythonLocator.Resolve(Path.Combine(_repo.Root, "no", "python3")));

        Assert.Contains("-PythonPath", error.Message, StringComparison.Ordinal);
    }

    private static async Task<bool> ExitedAsync(int pid)
    {
        for (var i = 0; i < 100; i++)
        {
            try
            {
                using var process = Process.GetProcessById(pid);
                if (process.HasExited || IsZombie(pid))
                {
                    return true;
                }
            }
            catch (ArgumentException)
            {
                return true;
            }
            await Task.Delay(50);
        }
        return false;
    }

    private static bool IsZombie(int pid)
    {
        var status = $"/proc/{pid}/stat";
        return OperatingSystem.IsLinux() && File.Exists(status) && File.ReadAllText(status).Split(' ')[2] == "Z";
    }

    private sealed class RecordingReporter : IRunReporter
    {
        private readonly object _gate = new();

        public List<string> Lines { get; } = [];

        public List<string> Warnings { get; } = [];

        public List<RunProgress> Progress { get; } = [];

        void IRunReporter.Progress(RunProgress progress)
        {
            lock (_gate)
            {
                Progress.Add(progress);
            }
        }

        public void Verbose(string message)
        {
            lock (_gate)
            {
                Lines.Add(message);
            }
        }

        public void Warning(string message)
        {
            lock (_gate)
            {
                Warnings.Add(message);
            }
        }
    }
}
