using Rlabs.Pipelines.Containers;
using Rlabs.Pipelines.Packaging;
using Rlabs.Pipelines.Planning;
using Rlabs.Pipelines.Running;

namespace Rlabs.Pipelines.Local;

/// <summary>One step of a local run bound to this computer: its folders, input, output and commands.</summary>
public sealed class LocalStepLayout
{
    internal LocalStepLayout(LocalRunLayout run, StepPlan plan)
    {
        Plan = plan;
        StepDirectory = Path.Combine(run.RunDirectory, plan.Step.Name);
        InputSource = plan.InputKey is null ? null : Path.GetFullPath(Path.Combine(run.DataRoot, plan.InputKey));
        OutputDestination = Path.GetFullPath(Path.Combine(run.DataRoot, plan.OutputKey));
        var dataFolder = Path.Combine(StepDirectory, StepContract.DataFolder);
        Paths = new StepPaths(
            Path.Combine(StepDirectory, StepContract.CodeFolder, StepContract.CodeFileName(plan.Step)),
            plan.InputIsZip ? Path.Combine(dataFolder, StepContract.InputZipName(plan.InputKey)!) : null,
            plan.InputKey is not null && !plan.InputIsZip ? dataFolder : null,
            Path.Combine(StepDirectory, StepContract.OutputFolder),
            Path.Combine(StepDirectory, StepContract.SourceFolder, StepContract.SourceZipName),
            Path.Combine(StepDirectory, StepContract.RequirementsFolder, StepContract.RequirementsName));
        Command = [run.Python ?? StepContract.ContainerInterpreter, Paths.CodeFile, .. plan.Arguments(Paths)];
        _run = run;
        var environment = new Dictionary<string, string>(plan.Environment, StringComparer.Ordinal);
        if (run.CredentialsCopy is not null)
        {
            CredentialsPath = Path.Combine(StepDirectory, StepContract.CredentialsFolder, StepContract.CredentialsName);
            environment[StepContract.CredentialsVariable] = CredentialsPath;
        }
        Environment = environment;
    }

    private readonly LocalRunLayout _run;

    /// <summary>The runtime-neutral step.</summary>
    public StepPlan Plan { get; }

    /// <summary>The executable a process step starts: the interpreter, resolved through a version manager's shim once per run.</summary>
    internal string Interpreter => _run.RealPython ?? Command[0];

    /// <summary>The step as written in the pipeline file.</summary>
    public RlabsPipelineStep Step => Plan.Step;

    /// <summary>Its job name: &lt;project&gt;-&lt;job_id&gt;-&lt;job_suffix&gt;, also the container name's stem.</summary>
    public string JobName => Plan.JobName;

    /// <summary>The step workspace, laid out like /opt/ml/processing.</summary>
    public string StepDirectory { get; }

    /// <summary>The input under the data root, or null.</summary>
    public string? InputSource { get; }

    /// <summary>&lt;data root&gt;/&lt;output_path&gt;/&lt;job_id&gt;.</summary>
    public string OutputDestination { get; }

    /// <summary>The files handed to the script, in the workspace.</summary>
    public StepPaths Paths { get; }

    /// <summary>Interpreter, script and arguments of the process runtime.</summary>
    public IReadOnlyList<string> Command { get; }

    /// <summary>Variables set for the step process (on top of the inherited environment).</summary>
    public IReadOnlyDictionary<string, string> Environment { get; }

    /// <summary>The step's copy of the stripped credentials file, in its workspace; null without credentials.</summary>
    public string? CredentialsPath { get; }

    /// <summary>The step log.</summary>
    public string LogPath => System.IO.Path.Combine(StepDirectory, "step.log");

    /// <summary>Entrypoint and arguments in a container: those CreateProcessingJob would send.</summary>
    public ProcessingCommand ContainerCommand => Plan.Command;

    /// <summary>The step's container image; null when it cannot be resolved (see <see cref="ImageProblem"/>).</summary>
    public string? Image => Plan.Image;

    /// <summary>Why the image is unknown (no region, no image in that region), else null.</summary>
    public string? ImageProblem => Plan.ImageProblem;

    /// <summary>How long the step may run: the step's max_runtime, else the pipeline's, else a day.</summary>
    public TimeSpan MaxRuntime => Plan.Resources.MaxRuntime;
}

/// <summary>A local run bound to this computer: data root, run folder, interpreter and each step's folders.</summary>
public sealed class LocalRunLayout
{
    internal LocalRunLayout(RunPlan plan, string? python, string? pythonProblem)
    {
        Run = plan;
        var repository = plan.Pipeline.RepositoryPath;
        DataRoot = Path.GetFullPath(plan.Request.Local.DataRoot ?? Path.Combine(repository, RunPlanner.WorkFolder, "data"));
        RunDirectory = Path.Combine(repository, RunPlanner.WorkFolder, "runs", plan.JobId);
        Python = python;
        PythonProblem = pythonProblem;
        _realPython = new Lazy<string?>(() => python is null ? null : PythonLocator.RealExecutable(python, plan.Pipeline.RepositoryPath), LazyThreadSafetyMode.ExecutionAndPublication);
    }

    private readonly Lazy<string?> _realPython;
    private Lazy<SourcePackage>? _package;

    /// <summary>The interpreter behind <see cref="Python"/> when that is a version manager's shim; asked when the first process step starts.</summary>
    internal string? RealPython => _realPython.Value;

    /// <summary>The runtime-neutral plan.</summary>
    public RunPlan Run { get; }

    /// <summary>The request the run was planned from.</summary>
    public RunRequest Request => Run.Request;

    /// <summary>The local runtime: Process, Container or Auto.</summary>
    public RlabsLocalRuntime Runtime => Request.Local.Runtime;

    /// <summary>AWS region handed to containers; null when unknown.</summary>
    public string? Region => Request.Local.Region;

    /// <summary>The data root.</summary>
    public string DataRoot { get; }

    /// <summary>&lt;repository&gt;/.rlabs/runs/&lt;job_id&gt;.</summary>
    public string RunDirectory { get; }

    /// <summary>The interpreter; null when none was found and the run may not need one (Container, Auto).</summary>
    public string? Python { get; }

    /// <summary>Why there is no interpreter: the step fails with it if it has to run as a process.</summary>
    public string? PythonProblem { get; }

    /// <summary>The steps, bound now (so an input the engine found empty is bound as an empty folder).</summary>
    public IReadOnlyList<LocalStepLayout> Steps => Run.Steps.Select(s => new LocalStepLayout(this, s)).ToList();

    /// <summary>What is never packed nor hashed as source: the data root, the work folder, the credentials file.</summary>
    internal IReadOnlyList<string> SourceExclusions
    {
        get
        {
            var excluded = new List<string> { DataRoot, Path.Combine(Request.Pipeline.RepositoryPath, RunPlanner.WorkFolder) };
            if (Request.Credentials is not null)
            {
                excluded.Add(Request.Credentials.Path);
            }
            return excluded;
        }
    }

    /// <summary>The source zip every step gets.</summary>
    public string SourceZip => Path.Combine(RunDirectory, StepContract.SourceFolder, StepContract.SourceZipName);

    /// <summary>The stripped credentials file, when one was given.</summary>
    public string? CredentialsCopy => Request.Credentials is null ? null : Path.Combine(RunDirectory, StepContract.CredentialsFolder, StepContract.CredentialsName);

    /// <summary>A fresh run object for this plan, every step Pending.</summary>
    public RlabsPipelineRun NewRun() => new(
        Request.JobId,
        Request.Pipeline,
        InstanceTypes.Local,
        DataRoot,
        Steps.Select(s => new RlabsPipelineStepRun(Request.JobId, s.Step.Name, s.JobName, Runtime.ToString())
        {
            InputLocation = s.InputSource,
            OutputLocation = s.OutputDestination,
            LogPath = s.LogPath,
            Command = Runtime == RlabsLocalRuntime.Container ? [.. s.ContainerCommand.Entrypoint, .. s.ContainerCommand.Arguments] : s.Command,
        }).ToList());

    /// <summary>Human-readable plan, one line per fact, for -WhatIf.</summary>
    public IEnumerable<string> Describe()
    {
        var steps = Steps;
        yield return $"Pipeline {Request.Pipeline.Path} ({steps.Count} steps), job id {Request.JobId}, project {Request.Pipeline.ProjectName}";
        yield return $"Repository {Request.Pipeline.RepositoryPath} zipped to {SourceZip}";
        yield return $"Data root {DataRoot}";
        yield return Runtime switch
        {
            RlabsLocalRuntime.Container => "Runtime Container: each step in a container of its image, inputs read-only at /opt/ml/processing/input, output at /opt/ml/processing/output, no network unless the step has 'network: true'",
            RlabsLocalRuntime.Auto => "Runtime Auto: a step runs in a container when the container engine answers and has its image, else as a Python process",
            _ => $"Runtime Process: each step as a process of {Python}",
        };
        if (Request.Credentials is not null)
        {
            yield return $"Credentials {Request.Credentials.Path} handed to steps without AWS keys as {CredentialsCopy} (${StepContract.CredentialsVariable})";
        }
        var number = 0;
        foreach (var step in steps)
        {
            number++;
            yield return $"Step {number} '{step.Step.Name}' (job {step.JobName}): input {step.InputSource ?? "(none)"} -> output {step.OutputDestination}, max runtime {step.MaxRuntime}";
            if (Runtime != RlabsLocalRuntime.Process)
            {
                yield return "  image " + (step.Image ?? step.ImageProblem) + (step.Step.Network ? " (with network)" : " (network none)");
                yield return "  " + CommandLine.Format([.. step.ContainerCommand.Entrypoint, .. step.ContainerCommand.Arguments]);
            }
            if (Runtime != RlabsLocalRuntime.Container)
            {
                yield return "  " + CommandLine.Format(step.Command);
            }
        }
    }

    /// <summary>
    /// Creates the run folder and the stripped credentials; called once before the steps. The source zip is built
    /// when the first step that runs needs it (<see cref="EnsureSourceZip"/>): a run whose steps all come from the
    /// cache, or are kept by -Resume, never packs the repository.
    /// </summary>
    internal void Prepare(IRunReporter reporter, CancellationToken cancellationToken)
    {
        var repository = Request.Pipeline.RepositoryPath;
        var work = Path.Combine(repository, RunPlanner.WorkFolder);
        Directory.CreateDirectory(work);
        var ignore = Path.Combine(work, ".gitignore");
        if (!File.Exists(ignore))
        {
            // Keeps runs and data out of git without touching the user's own .gitignore.
            File.WriteAllText(ignore, "# Created by Rlabs.Pipelines: local runs and data.\n*\n");
        }
        Directory.CreateDirectory(RunDirectory);
        Directory.CreateDirectory(DataRoot);
        _reporter = reporter;
        _package = new Lazy<SourcePackage>(() => Package(reporter, cancellationToken), LazyThreadSafetyMode.ExecutionAndPublication);
        if (CredentialsCopy is { } copy)
        {
            Request.Credentials!.WriteStripped(copy);
        }
    }

    /// <summary>
    /// The run's source zip, built on first use (once, whichever step asks first). Steps get hard links to it, so a
    /// step that wrote into its zip changed it for every later step: that is noticed (size or modification time no
    /// longer those it was built with) and the zip is built again.
    /// </summary>
    internal string EnsureSourceZip()
    {
        var lazy = _package ??= new Lazy<SourcePackage>(() => Package(NullRunReporter.Instance, CancellationToken.None), LazyThreadSafetyMode.ExecutionAndPublication);
        _ = lazy.Value;
        if (SourceZipCache.Stamp(SourceZip) != _zipStamp)
        {
            lock (_zipLock)
            {
                if (SourceZipCache.Stamp(SourceZip) != _zipStamp)
                {
                    File.Delete(SourceZip); // never rewritten in place: other steps' links keep their bytes
                    _reporter.Warning($"A step wrote into its source zip ({SourceZip}); packed the repository again for the steps after it.");
                    _package = new Lazy<SourcePackage>(() => Package(_reporter, CancellationToken.None), LazyThreadSafetyMode.ExecutionAndPublication);
                    _ = _package.Value;
                }
            }
        }
        return SourceZip;
    }

    private readonly object _zipLock = new();
    private IRunReporter _reporter = NullRunReporter.Instance;
    private string? _zipStamp;

    private SourcePackage Package(IRunReporter reporter, CancellationToken cancellationToken)
    {
        var repository = Request.Pipeline.RepositoryPath;
        var work = Path.Combine(repository, RunPlanner.WorkFolder);
        var excluded = SourceExclusions;
        var stamp = SourceTreeStamp.ForRun(Run, excluded);
        var package = SourceZipCache.Reuse(work, SourceZip, stamp);
        if (package is not null)
        {
            reporter.Verbose($"Reused the source zip of an earlier run ({package.FileCount} files): no file under {repository} changed since");
        }
        else
        {
            package = SourcePackager.CreateZip(repository, SourceZip, excluded, Request.Pipeline.Defaults.PackageSecrets, cancellationToken);
            SourceZipCache.Keep(work, package, stamp);
            reporter.Verbose($"Packed {package.FileCount} files ({package.UncompressedBytes:N0} bytes) from {repository} into {package.ZipPath}");
        }
        _zipStamp = SourceZipCache.Stamp(SourceZip);
        if (package.SkippedSecrets.Count > 0)
        {
            reporter.Warning($"Left {package.SkippedSecrets.Count} key or credentials file(s) out of the source zip: {string.Join(", ", package.SkippedSecrets.Take(5))}{(package.SkippedSecrets.Count > 5 ? ", …" : string.Empty)}. Add them to .gitignore to silence this, or list them under 'package_secrets:' to pack them.");
        }
        if (package.SkippedLinks.Count > 0)
        {
            reporter.Warning($"Left {package.SkippedLinks.Count} link(s) pointing outside the repository (or nowhere) out of the source zip: {string.Join(", ", package.SkippedLinks.Take(5))}{(package.SkippedLinks.Count > 5 ? ", …" : string.Empty)}.");
        }
        return package;
    }

    /// <summary>Removes the stripped credentials copies (the run's and each step's) once the run is over: secrets do not linger on disk.</summary>
    internal void Cleanup()
    {
        foreach (var copy in Steps.Select(s => s.CredentialsPath).Prepend(CredentialsCopy))
        {
            if (copy is not null && File.Exists(copy))
            {
                File.Delete(copy);
            }
        }
    }
}

/// <summary>
/// The local runtime: steps run on this computer as Python processes, in containers of their image, or
/// (Auto) whichever is available per step, in a workspace laid out like /opt/ml/processing.
/// </summary>
public sealed class LocalRuntime : IPipelineRuntime
{
    private readonly RunRequest _request;
    private readonly IRegistryLogin? _login;
    private readonly Func<ContainerEngineEndpoint> _locate;
    private readonly string? _python;
    private readonly string? _pythonProblem;
    private LocalRunLayout? _layout;
    private LocalStepRunner? _runner;

    private LocalRuntime(RunRequest request, IRegistryLogin? login, Func<ContainerEngineEndpoint> locate, string? python, string? pythonProblem)
    {
        _request = request;
        _login = login;
        _locate = locate;
        _python = python;
        _pythonProblem = pythonProblem;
    }

    /// <summary>
    /// Creates the runtime for a local request: finds the interpreter (a Process run without one is a
    /// <see cref="RlabsRunException"/> PythonNotFound; Container and Auto may not need it).
    /// </summary>
    public static LocalRuntime Create(RunRequest request, IRegistryLogin? login) => Create(request, login, ContainerEngineLocator.Resolve);

    internal static LocalRuntime Create(RunRequest request, IRegistryLogin? login, Func<ContainerEngineEndpoint> locate)
    {
        ArgumentNullException.ThrowIfNull(request);
        string? python = null;
        string? pythonProblem = null;
        try
        {
            python = PythonLocator.Resolve(request.Local.PythonPath);
        }
        catch (RlabsConfigException ex) when (request.Local.Runtime != RlabsLocalRuntime.Process)
        {
            // Containers bring their own Python; Auto only needs this one for steps it cannot containerise.
            pythonProblem = ex.Message;
        }
        catch (RlabsConfigException ex)
        {
            throw new RlabsRunException(ex.Message, "PythonNotFound", RlabsRunErrorKind.NotFound, request.Local.PythonPath, ex);
        }
        return new LocalRuntime(request, login, locate, python, pythonProblem);
    }

    /// <inheritdoc/>
    public string Name => _request.Local.Runtime.ToString();

    /// <inheritdoc/>
    public string? Region => _request.Local.Region;

    /// <summary>The run bound to this computer (after <see cref="Validate"/>).</summary>
    public LocalRunLayout Layout => _layout ?? throw new InvalidOperationException("The runtime has no plan yet.");

    /// <inheritdoc/>
    public IStepRunner StepRunner => _runner ?? throw new InvalidOperationException("The run is not prepared.");

    /// <inheritdoc/>
    public void Validate(RunPlan plan)
    {
        ArgumentNullException.ThrowIfNull(plan);
        if (_request.Local.Runtime == RlabsLocalRuntime.Container && plan.Steps.FirstOrDefault(s => s.ImageProblem is not null) is { } noImage)
        {
            throw new RlabsRunException(noImage.ImageProblem!, "ContainerImageUnknown", RlabsRunErrorKind.InvalidArgument, plan.Pipeline.Path);
        }
        _layout = new LocalRunLayout(plan, _python, _pythonProblem);
    }

    /// <inheritdoc/>
    public IEnumerable<string> Describe(RunPlan plan) => Layout.Describe();

    /// <inheritdoc/>
    public string InputLocation(RunPlan plan, StepPlan stepPlan)
    {
        ArgumentNullException.ThrowIfNull(stepPlan);
        return Path.GetFullPath(Path.Combine(Layout.DataRoot, stepPlan.InputKey ?? string.Empty));
    }

    /// <inheritdoc/>
    public Task<bool?> InputExistsAsync(RunPlan plan, StepPlan stepPlan, bool dryRun, CancellationToken cancellationToken)
    {
        var location = InputLocation(plan, stepPlan);
        return Task.FromResult<bool?>(Directory.Exists(location) || File.Exists(location));
    }

    /// <inheritdoc/>
    public async Task<RlabsPipelineRun> PrepareAsync(RunPlan plan, IRunReporter reporter, CancellationToken cancellationToken)
    {
        // The engine is asked first, so a missing engine stops the run before anything is written.
        _runner = await LocalStepRunner.CreateAsync(Layout, _login, reporter, _locate, cancellationToken).ConfigureAwait(false);
        Layout.Prepare(reporter, cancellationToken);
        return Layout.NewRun();
    }

    /// <inheritdoc/>
    public Task<bool> StartWithoutWaitingAsync(RunPlan plan, RlabsPipelineRun run, IRunReporter reporter, CancellationToken cancellationToken) => Task.FromResult(false);

    /// <inheritdoc/>
    public IStepDataStore? DataStore => _layout is null ? null : new LocalDataStore(_layout);

    /// <inheritdoc/>
    public IReadOnlyList<string> SourceExclusions(RunPlan plan)
    {
        ArgumentNullException.ThrowIfNull(plan);
        return Layout.SourceExclusions;
    }

    /// <inheritdoc/>
    public Task CleanupAsync(RunPlan plan, RlabsPipelineRun? run)
    {
        _layout?.Cleanup();
        return Task.CompletedTask;
    }

    /// <inheritdoc/>
    public void Dispose() => _runner?.Dispose();
}

/// <summary>The data root as the step cache and resume see it: inputs hashed, the index under &lt;data root&gt;/.rlabs-index, outputs hard-linked.</summary>
internal sealed class LocalDataStore : IStepDataStore
{
    /// <summary>Folder of the cache index under the data root.</summary>
    public const string IndexRoot = ".rlabs-index";

    private readonly LocalRunLayout _layout;

    public LocalDataStore(LocalRunLayout layout)
    {
        _layout = layout;
    }

    public Task<string> InputFingerprintAsync(RunPlan plan, StepPlan stepPlan, CancellationToken cancellationToken) =>
        Task.FromResult(stepPlan.InputKey is null ? "none" : stepPlan.InputEmpty ? "empty" : StepCache.HashTree(Path.Combine(_layout.DataRoot, stepPlan.InputKey)));

    public async Task<string?> ReadIndexAsync(RunPlan plan, string key, CancellationToken cancellationToken)
    {
        var file = IndexPath(key);
        return File.Exists(file) ? await File.ReadAllTextAsync(file, cancellationToken).ConfigureAwait(false) : null;
    }

    public async Task WriteIndexAsync(RunPlan plan, string key, string text, CancellationToken cancellationToken)
    {
        var file = IndexPath(key);
        Directory.CreateDirectory(Path.GetDirectoryName(file)!);
        var aside = file + "." + Guid.NewGuid().ToString("N")[..8] + ".tmp";
        await File.WriteAllTextAsync(aside, text, cancellationToken).ConfigureAwait(false);
        File.Move(aside, file, overwrite: true); // a reader never sees half an entry
    }

    public Task<bool> OutputExistsAsync(RunPlan plan, string outputKey, CancellationToken cancellationToken)
    {
        var folder = Path.Combine(_layout.DataRoot, outputKey);
        return Task.FromResult(Directory.Exists(folder) && Directory.EnumerateFiles(folder, "*", SearchOption.AllDirectories).Any());
    }

    public Task<int> ReuseOutputAsync(RunPlan plan, string fromOutputKey, string toOutputKey, CancellationToken cancellationToken)
    {
        var from = Path.Combine(_layout.DataRoot, fromOutputKey);
        var to = Path.Combine(_layout.DataRoot, toOutputKey);
        var count = 0;
        foreach (var file in Directory.EnumerateFiles(from, "*", new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = FileAttributes.ReparsePoint }))
        {
            cancellationToken.ThrowIfCancellationRequested();
            HardLink.LinkOrCopy(file, Path.Combine(to, Path.GetRelativePath(from, file)));
            count++;
        }
        return Task.FromResult(count);
    }

    // A run's own records (runs/<job_id>/<step>.json, for -Resume) stay with its run folder under the repository's
    // .rlabs; the cache index lives with the data, so a shared data root shares it.
    private string IndexPath(string key) => key.StartsWith("runs/", StringComparison.Ordinal)
        ? Path.Combine(_layout.Request.Pipeline.RepositoryPath, RunPlanner.WorkFolder, key.Replace('/', Path.DirectorySeparatorChar))
        : Path.Combine(_layout.DataRoot, IndexRoot, key.Replace('/', Path.DirectorySeparatorChar));
}
