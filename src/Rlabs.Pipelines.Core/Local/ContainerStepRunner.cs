using System.Globalization;
using System.Text;
using Docker.DotNet;
using Docker.DotNet.Models;
using Rlabs.Pipelines.Containers;
using Rlabs.Pipelines.Planning;
using Rlabs.Pipelines.Running;

namespace Rlabs.Pipelines.Local;

/// <summary>
/// Runs each step in a container of its image, as SageMaker Processing would: the staged workspace
/// bind-mounted read-only at /opt/ml/processing/input/..., the output folder writable at
/// /opt/ml/processing/output, and the entrypoint and arguments of <see cref="StepContract.ContainerCommand"/>.
/// </summary>
internal sealed class ContainerStepRunner : IStepRunner
{
    /// <summary>Label put on every container this module creates, with the run's job id as value.</summary>
    public const string JobIdLabel = "rlabs.pipelines.job-id";

    /// <summary>Label with the step's name.</summary>
    public const string StepLabel = "rlabs.pipelines.step";

    private static readonly TimeSpan s_cleanupTimeout = TimeSpan.FromSeconds(30);
    private readonly LocalRunLayout _plan;
    private readonly ContainerEngine _engine;
    private readonly ContainerEngineInfo _engineInfo;
    private readonly IRegistryLogin? _login;

    /// <summary>Creates a runner for a prepared plan on an engine that answered <see cref="ContainerEngine.ProbeAsync"/>.</summary>
    public ContainerStepRunner(LocalRunLayout plan, ContainerEngine engine, ContainerEngineInfo engineInfo, IRegistryLogin? login)
    {
        _plan = plan;
        _engine = engine;
        _engineInfo = engineInfo;
        _login = login;
    }

    /// <inheritdoc/>
    public string RuntimeName => "Container";

    /// <summary>
    /// The user the step runs as, so that what it writes to the output mount belongs to the invoking user:
    /// that user's uid:gid, except on a rootless engine, whose container root already maps to them.
    /// Null off Linux: Docker Desktop's file sharing (macOS, Windows) already gives files to the user.
    /// </summary>
    public string? ContainerUser => !OperatingSystem.IsLinux() ? null : _engineInfo.Rootless ? "0:0" : CurrentLinuxUser();

    /// <inheritdoc/>
    public async Task<StepOutcome> RunStepAsync(int index, RlabsPipelineStepRun stepRun, IRunReporter reporter, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(stepRun);
        ArgumentNullException.ThrowIfNull(reporter);
        var step = _plan.Steps[index];
        stepRun.Runtime = RuntimeName;
        stepRun.Command = [.. step.ContainerCommand.Entrypoint, .. step.ContainerCommand.Arguments];
        if (step.Image is not { } image)
        {
            return new StepOutcome(RlabsRunStatus.Failed, step.ImageProblem ?? "The step has no image.", []);
        }
        if (LocalWorkspace.Stage(_plan, step) is { } problem)
        {
            return new StepOutcome(RlabsRunStatus.Failed, problem, []);
        }
        StepOutcome outcome;
        try
        {
            await _engine.EnsureImageAsync(image, _login, reporter, $"Pipeline {_plan.Request.Pipeline.Name} (job {_plan.Request.JobId})", cancellationToken).ConfigureAwait(false);
            outcome = await RunContainerAsync(step, image, stepRun, reporter, cancellationToken).ConfigureAwait(false);
        }
        catch (ContainerEngineException ex)
        {
            return new StepOutcome(RlabsRunStatus.Failed, ex.Message, []) { Kind = RlabsFailureKind.Internal };
        }
        catch (Exception ex) when (ex is not OperationCanceledException && ContainerEngine.IsConnectionFailure(ex))
        {
            // The engine went away or refused mid-step (restarted, socket gone): this step fails, the run reports it.
            return new StepOutcome(RlabsRunStatus.Failed, $"The container engine at {_engine.Endpoint.Uri} failed during the step: {ex.GetBaseException().Message}", []) { Kind = RlabsFailureKind.Internal };
        }
        if (outcome.Status == RlabsRunStatus.Completed)
        {
            if (LocalWorkspace.PublishOutput(step.Step.Name, step.Paths.OutputDataPath, step.OutputDestination, out var published) is { } refused)
            {
                return new StepOutcome(RlabsRunStatus.Failed, refused, outcome.LogTail);
            }
            reporter.Verbose($"[{step.Step.Name}] output: {published} file(s) in {step.OutputDestination}");
        }
        return outcome;
    }

    /// <summary>The most processes (threads included) a step's container may run at once.</summary>
    public const long PidsLimit = 4096;

    /// <summary>What the engine is asked to create for a step.</summary>
    internal CreateContainerParameters CreateParameters(LocalStepLayout step, string image)
    {
        var command = step.ContainerCommand;
        var root = StepContract.ContainerRoot;
        var mounts = new List<Mount>
        {
            ReadOnly(Path.GetDirectoryName(step.Paths.CodeFile)!, $"{root}/{StepContract.CodeFolder}"),
            ReadOnly(Path.GetDirectoryName(_plan.SourceZip)!, $"{root}/{StepContract.SourceFolder}"),
            ReadOnly(Path.GetDirectoryName(step.Paths.RequirementsPath)!, $"{root}/{StepContract.RequirementsFolder}"),
        };
        if (step.InputSource is not null)
        {
            mounts.Add(ReadOnly(Path.Combine(step.StepDirectory, StepContract.DataFolder), $"{root}/{StepContract.DataFolder}"));
        }
        if (_plan.CredentialsCopy is { } credentials)
        {
            mounts.Add(ReadOnly(Path.GetDirectoryName(credentials)!, $"{root}/{StepContract.CredentialsFolder}"));
        }
        mounts.Add(new Mount { Type = "bind", Source = Path.GetFullPath(step.Paths.OutputDataPath), Target = command.Paths.OutputDataPath, ReadOnly = false });

        var environment = new Dictionary<string, string>(
            step.Plan.Environment,
            StringComparer.Ordinal);
        if (_plan.CredentialsCopy is not null)
        {
            environment[StepContract.CredentialsVariable] = StepContract.ContainerCredentialsPath;
        }
        if (_plan.Region is { Length: > 0 } region)
        {
            // SageMaker sets the job's region in the container; boto3 in a step relies on it.
            environment.TryAdd("AWS_REGION", region);
            environment.TryAdd("AWS_DEFAULT_REGION", region);
        }
        var user = ContainerUser;
        if (user is not null && !user.StartsWith("0:", StringComparison.Ordinal))
        {
            // A uid with no passwd entry gets HOME=/, where pip --user and caches cannot write.
            environment.TryAdd("HOME", "/tmp");
        }

        return new CreateContainerParameters
        {
            Name = $"rlabs-{step.JobName}-{Guid.NewGuid().ToString("N")[..6]}".ToLowerInvariant(),
            Image = image,
            Entrypoint = [.. command.Entrypoint],
            WorkingDir = root, // as the process runtime, which runs in the step workspace laid out like /opt/ml/processing
            Cmd = [.. command.Arguments],
            Env = [.. environment.Select(e => $"{e.Key}={e.Value}")],
            User = user,
            Labels = new Dictionary<string, string>
            {
                [JobIdLabel] = _plan.Request.JobId,
                [StepLabel] = step.Step.Name,
            },
            AttachStdout = false,
            AttachStderr = false,
            Tty = false,
            HostConfig = new HostConfig
            {
                Mounts = mounts,
                // No network, as a network-isolated job. A step that asks for it gets the engine's default bridge,
                // never the host's network: that would reach the instance metadata service's loopback peers and
                // every service listening on this computer's loopback.
                NetworkMode = step.Step.Network ? "bridge" : "none",
                // The step needs no privilege: drop every capability, forbid gaining any (setuid binaries), and
                // bound the processes a runaway step can fork.
                CapDrop = ["ALL"],
                SecurityOpt = ["no-new-privileges"],
                PidsLimit = PidsLimit,
                AutoRemove = false, // removed by us after wait and logs: exit codes stay reliable on podman too
            },
        };
    }

    private static Mount ReadOnly(string source, string target) => new() { Type = "bind", Source = Path.GetFullPath(source), Target = target, ReadOnly = true };

    private async Task<StepOutcome> RunContainerAsync(LocalStepLayout step, string image, RlabsPipelineStepRun stepRun, IRunReporter reporter, CancellationToken cancellationToken)
    {
        var parameters = CreateParameters(step, image);
        using var log = new StepLog(step.LogPath, step.Step.Name, reporter);
        log.Note($"# {DateTimeOffset.Now:O} container {parameters.Name} of {image} (user {parameters.User ?? "image default"}, network {parameters.HostConfig.NetworkMode}): {CommandLine.Format(stepRun.Command)}");
        reporter.Verbose($"[{step.Step.Name}] runtime Container: image {image}, network {parameters.HostConfig.NetworkMode}, user {parameters.User ?? "image default"}");

        var clock = System.Diagnostics.Stopwatch.StartNew();
        string id;
        try
        {
            id = (await _engine.Client.Containers.CreateContainerAsync(parameters, cancellationToken).ConfigureAwait(false)).ID;
        }
        catch (DockerApiException ex)
        {
            return new StepOutcome(RlabsRunStatus.Failed, $"The engine could not create the step's container: {ContainerEngine.ApiMessage(ex)}", []) { Kind = RlabsFailureKind.Internal };
        }

        using var timeout = new CancellationTokenSource(step.MaxRuntime);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token);
        Task pump = Task.CompletedTask;
        try
        {
            try
            {
                await _engine.Client.Containers.StartContainerAsync(id, new ContainerStartParameters(), linked.Token).ConfigureAwait(false);
            }
            catch (DockerApiException ex)
            {
                return new StepOutcome(RlabsRunStatus.Failed, $"The engine could not start the step's container: {ContainerEngine.ApiMessage(ex)}", []) { Kind = RlabsFailureKind.Internal };
            }
            // Logs from the start (follow also replays what was written before it attached), until the container ends.
            var started = clock.ElapsedMilliseconds;
            pump = PumpLogsAsync(id, log.Line, linked.Token);
            var wait = await _engine.Client.Containers.WaitContainerAsync(id, linked.Token).ConfigureAwait(false);
            var exited = clock.ElapsedMilliseconds;
            await Task.WhenAny(pump, Task.Delay(TimeSpan.FromSeconds(5), CancellationToken.None)).ConfigureAwait(false);
            var exitCode = (int)wait.StatusCode;
            stepRun.ExitCode = exitCode;
            log.Note(string.Create(CultureInfo.InvariantCulture, $"# exit code {exitCode} (container created and started in {started} ms, exited at {exited} ms, logs drained at {clock.ElapsedMilliseconds} ms)"));
            return exitCode == 0
                ? StepOutcome.Completed
                : new StepOutcome(RlabsRunStatus.Failed, string.Create(CultureInfo.InvariantCulture, $"The code script exited with code {exitCode}."), log.Tail);
        }
        catch (OperationCanceledException) when (linked.IsCancellationRequested)
        {
            // Removing with force kills the container first; done below in finally, then the outcome is decided.
            var byUser = cancellationToken.IsCancellationRequested;
            log.Note(byUser ? "# container killed: stopped by the user" : "# container killed: max_runtime exceeded");
            await RemoveAsync(id, reporter, step).ConfigureAwait(false);
            id = string.Empty;
            return byUser
                ? new StepOutcome(RlabsRunStatus.Stopped, "Stopped by the user; the step's container was killed and removed.", log.Tail)
                : new StepOutcome(RlabsRunStatus.Failed, string.Create(CultureInfo.InvariantCulture, $"The step ran longer than its max_runtime ({step.MaxRuntime}) and its container was killed."), log.Tail) { Kind = RlabsFailureKind.Timeout };
        }
        finally
        {
            if (id.Length > 0)
            {
                await RemoveAsync(id, reporter, step).ConfigureAwait(false);
            }
            await Task.WhenAny(pump, Task.Delay(TimeSpan.FromSeconds(2), CancellationToken.None)).ConfigureAwait(false);
        }
    }

    private async Task RemoveAsync(string id, IRunReporter reporter, LocalStepLayout step)
    {
        // Not the run's token: Ctrl-C must still clean up what it interrupted.
        using var limit = new CancellationTokenSource(s_cleanupTimeout);
        try
        {
            await _engine.Client.Containers.RemoveContainerAsync(id, new ContainerRemoveParameters { Force = true, RemoveVolumes = true }, limit.Token).ConfigureAwait(false);
        }
        catch (DockerContainerNotFoundException)
        {
            // Already gone.
        }
        catch (Exception ex) when (ex is DockerApiException or OperationCanceledException || ContainerEngine.IsConnectionFailure(ex))
        {
            reporter.Warning($"[{step.Step.Name}] could not remove container {id[..Math.Min(12, id.Length)]}: {ex.Message}. Remove it with 'docker rm -f {id[..Math.Min(12, id.Length)]}'.");
        }
    }

    private async Task PumpLogsAsync(string id, Action<string> onLine, CancellationToken cancellationToken)
    {
        var parameters = new ContainerLogsParameters { Follow = true, ShowStdout = true, ShowStderr = true };
        using var stream = await _engine.Client.Containers.GetContainerLogsAsync(id, tty: false, parameters, cancellationToken).ConfigureAwait(false);
        var splitters = new Dictionary<MultiplexedStream.TargetStream, LineSplitter>
        {
            [MultiplexedStream.TargetStream.StandardOut] = new(onLine),
            [MultiplexedStream.TargetStream.StandardError] = new(onLine),
        };
        var buffer = new byte[16384];
        try
        {
            while (true)
            {
                var read = await stream.ReadOutputAsync(buffer, 0, buffer.Length, cancellationToken).ConfigureAwait(false);
                if (read.EOF)
                {
                    break;
                }
                if (splitters.TryGetValue(read.Target, out var splitter))
                {
                    splitter.Add(buffer.AsSpan(0, read.Count));
                }
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or IOException or ObjectDisposedException)
        {
            // The container was removed (Ctrl-C, max_runtime) or the engine closed the stream.
        }
        foreach (var splitter in splitters.Values)
        {
            splitter.Flush();
        }
    }

    /// <summary>Turns a byte stream into lines, keeping UTF-8 characters split across chunks intact.</summary>
    private sealed class LineSplitter
    {
        private readonly Decoder _decoder = new UTF8Encoding(false).GetDecoder();
        private readonly StringBuilder _line = new();
        private readonly Action<string> _onLine;
        private char[] _chars = new char[4096];

        public LineSplitter(Action<string> onLine)
        {
            _onLine = onLine;
        }

        public void Add(ReadOnlySpan<byte> bytes)
        {
            var needed = _decoder.GetCharCount(bytes, flush: false);
            if (needed > _chars.Length)
            {
                _chars = new char[needed];
            }
            var count = _decoder.GetChars(bytes, _chars, flush: false);
            foreach (var c in _chars.AsSpan(0, count))
            {
                if (c == '\n')
                {
                    Emit();
                }
                else
                {
                    _line.Append(c);
                }
            }
        }

        public void Flush()
        {
            if (_line.Length > 0)
            {
                Emit();
            }
        }

        private void Emit()
        {
            var length = _line.Length > 0 && _line[^1] == '\r' ? _line.Length - 1 : _line.Length;
            _onLine(_line.ToString(0, length));
            _line.Clear();
        }
    }

    /// <summary>This process's effective uid:gid from /proc (Linux), without native calls.</summary>
    internal static string? CurrentLinuxUser()
    {
        if (!OperatingSystem.IsLinux())
        {
            return null;
        }
        string? uid = null, gid = null;
        foreach (var line in File.ReadLines("/proc/self/status"))
        {
            // "Uid:\treal\teffective\tsaved\tfs": files are created with the effective ids.
            var fields = line.Split(['\t', ' '], StringSplitOptions.RemoveEmptyEntries);
            if (fields.Length > 2 && fields[0] == "Uid:")
            {
                uid = fields[2];
            }
            else if (fields.Length > 2 && fields[0] == "Gid:")
            {
                gid = fields[2];
            }
        }
        return uid is null || gid is null ? null : $"{uid}:{gid}";
    }
}
