using Rlabs.Pipelines.Config;
using Rlabs.Pipelines.Packaging;
using Rlabs.Pipelines.Planning;

namespace Rlabs.Pipelines.Running;

/// <summary>What the user asked for: a pipeline, a job id and where to run it.</summary>
public sealed class RunRequest
{
    /// <summary>The validated pipeline.</summary>
    public required RlabsPipeline Pipeline { get; init; }

    /// <summary>The run's job id (validated by the caller with <see cref="ProjectNaming.ValidateJobId"/>).</summary>
    public required string JobId { get; init; }

    /// <summary>-InstanceType when given explicitly: applies to every step.</summary>
    public string? InstanceType { get; init; }

    /// <summary>Local data root; default &lt;repository&gt;/.rlabs/data.</summary>
    public string? DataRoot { get; init; }

    /// <summary>The seed's credentials file, loaded.</summary>
    public CredentialsFile? Credentials { get; init; }

    /// <summary>The interpreter for local steps.</summary>
    public string? PythonPath { get; init; }

    /// <summary>How local steps run: a Python process (the default), a container, or whichever is available.</summary>
    public RlabsLocalRuntime LocalRuntime { get; init; } = RlabsLocalRuntime.Process;

    /// <summary>AWS region, which picks the default image of container steps; null when unknown.</summary>
    public string? Region { get; init; }
}

/// <summary>One planned local step: its folders, input, output and command.</summary>
public sealed class LocalStepPlan
{
    internal LocalStepPlan(RlabsPipelineStep step, string jobName, string stepDirectory, string? inputSource, string outputDestination, StepPaths paths, IReadOnlyList<string> command, IReadOnlyDictionary<string, string> environment, ProcessingCommand containerCommand, string? image, string? imageProblem)
    {
        ContainerCommand = containerCommand;
        Image = image;
        ImageProblem = imageProblem;
        Step = step;
        JobName = jobName;
        StepDirectory = stepDirectory;
        InputSource = inputSource;
        OutputDestination = outputDestination;
        Paths = paths;
        Command = command;
        Environment = environment;
    }

    /// <summary>The step.</summary>
    public RlabsPipelineStep Step { get; }

    /// <summary>Its job name.</summary>
    public string JobName { get; }

    /// <summary>The step workspace, laid out like /opt/ml/processing.</summary>
    public string StepDirectory { get; }

    /// <summary>The input under the data root, or null.</summary>
    public string? InputSource { get; }

    /// <summary>&lt;data root&gt;/&lt;output_path&gt;/&lt;job_id&gt;.</summary>
    public string OutputDestination { get; }

    /// <summary>The files handed to the script, in the workspace.</summary>
    public StepPaths Paths { get; }

    /// <summary>Interpreter, script and arguments.</summary>
    public IReadOnlyList<string> Command { get; }

    /// <summary>Variables set for the step (on top of the inherited environment).</summary>
    public IReadOnlyDictionary<string, string> Environment { get; }

    /// <summary>The step log.</summary>
    public string LogPath => System.IO.Path.Combine(StepDirectory, "step.log");

    /// <summary>Entrypoint and arguments in a container: those CreateProcessingJob would send.</summary>
    public ProcessingCommand ContainerCommand { get; }

    /// <summary>The step's container image; null when it cannot be resolved (see <see cref="ImageProblem"/>).</summary>
    public string? Image { get; }

    /// <summary>Why the image is unknown (no region, no image in that region), else null.</summary>
    public string? ImageProblem { get; }
}

/// <summary>A planned local run: everything -WhatIf shows and the runner then does.</summary>
public sealed class LocalRunPlan
{
    internal LocalRunPlan(RunRequest request, string dataRoot, string runDirectory, string? python, string? pythonProblem, IReadOnlyList<LocalStepPlan> steps)
    {
        PythonProblem = pythonProblem;
        Request = request;
        DataRoot = dataRoot;
        RunDirectory = runDirectory;
        Python = python;
        Steps = steps;
    }

    /// <summary>The request.</summary>
    public RunRequest Request { get; }

    /// <summary>The data root.</summary>
    public string DataRoot { get; }

    /// <summary>&lt;repository&gt;/.rlabs/runs/&lt;job_id&gt;.</summary>
    public string RunDirectory { get; }

    /// <summary>The interpreter; null when none was found and the run may not need one (Container, Auto).</summary>
    public string? Python { get; }

    /// <summary>Why there is no interpreter: the step fails with it if it has to run as a process.</summary>
    public string? PythonProblem { get; }

    /// <summary>The steps.</summary>
    public IReadOnlyList<LocalStepPlan> Steps { get; }

    /// <summary>The source zip every step gets.</summary>
    public string SourceZip => Path.Combine(RunDirectory, StepContract.SourceFolder, StepContract.SourceZipName);

    /// <summary>The stripped credentials file, when one was given.</summary>
    public string? CredentialsCopy => Request.Credentials is null ? null : Path.Combine(RunDirectory, StepContract.CredentialsFolder, StepContract.CredentialsName);

    /// <summary>A fresh run object for this plan, every step Pending.</summary>
    public RlabsPipelineRun NewRun() => new(
        Request.JobId,
        Request.Pipeline,
        "local",
        DataRoot,
        Steps.Select(s => new RlabsPipelineStepRun(Request.JobId, s.Step.Name, s.JobName, Request.LocalRuntime.ToString())
        {
            InputLocation = s.InputSource,
            OutputLocation = s.OutputDestination,
            LogPath = s.LogPath,
            Command = Request.LocalRuntime == RlabsLocalRuntime.Container ? [.. s.ContainerCommand.Entrypoint, .. s.ContainerCommand.Arguments] : s.Command,
        }).ToList());

    /// <summary>Human-readable plan, one line per fact, for -WhatIf.</summary>
    public IEnumerable<string> Describe()
    {
        yield return $"Pipeline {Request.Pipeline.Path} ({Steps.Count} steps), job id {Request.JobId}, project {Request.Pipeline.ProjectName}";
        yield return $"Repository {Request.Pipeline.RepositoryPath} zipped to {SourceZip}";
        yield return $"Data root {DataRoot}";
        yield return Request.LocalRuntime switch
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
        foreach (var step in Steps)
        {
            number++;
            yield return $"Step {number} '{step.Step.Name}' (job {step.JobName}): input {step.InputSource ?? "(none)"} -> output {step.OutputDestination}";
            if (Request.LocalRuntime != RlabsLocalRuntime.Process)
            {
                yield return "  image " + (step.Image ?? step.ImageProblem) + (step.Step.Network ? " (with network)" : " (network none)");
                yield return "  " + CommandLine.Format([.. step.ContainerCommand.Entrypoint, .. step.ContainerCommand.Arguments]);
            }
            if (Request.LocalRuntime != RlabsLocalRuntime.Container)
            {
                yield return "  " + CommandLine.Format(step.Command);
            }
        }
    }
}

/// <summary>Plans local runs.</summary>
public static class LocalRunPlanner
{
    /// <summary>Name of the module's working folder inside the repository.</summary>
    public const string WorkFolder = ".rlabs";

    /// <summary>Resolves folders, interpreter and commands; touches nothing on disk.</summary>
    public static LocalRunPlan Plan(RunRequest request)
    {
        var pipeline = request.Pipeline;
        var repository = pipeline.RepositoryPath;
        var dataRoot = Path.GetFullPath(request.DataRoot ?? Path.Combine(repository, WorkFolder, "data"));
        var runDirectory = Path.Combine(repository, WorkFolder, "runs", request.JobId);
        string? python = null;
        string? pythonProblem = null;
        try
        {
            python = PythonLocator.Resolve(request.PythonPath);
        }
        catch (RlabsConfigException ex) when (request.LocalRuntime != RlabsLocalRuntime.Process)
        {
            // Containers bring their own Python; Auto only needs this one for steps it cannot containerise.
            pythonProblem = ex.Message;
        }
        var steps = new List<LocalStepPlan>();
        foreach (var step in pipeline.Steps)
        {
            var stepDirectory = Path.Combine(runDirectory, step.Name);
            var inputKey = StepContract.InputKey(step, request.JobId);
            var inputSource = inputKey is null ? null : Path.GetFullPath(Path.Combine(dataRoot, inputKey));
            var inputIsZip = inputKey is not null && inputKey.EndsWith(".zip", StringComparison.OrdinalIgnoreCase);
            var dataFolder = Path.Combine(stepDirectory, StepContract.DataFolder);
            var paths = new StepPaths(
                Path.Combine(stepDirectory, StepContract.CodeFolder, StepContract.CodeFileName(step)),
                inputIsZip ? Path.Combine(dataFolder, Path.GetFileName(inputKey!)) : null,
                inputKey is not null && !inputIsZip ? dataFolder : null,
                Path.Combine(stepDirectory, StepContract.OutputFolder),
                Path.Combine(runDirectory, StepContract.SourceFolder, StepContract.SourceZipName),
                Path.Combine(stepDirectory, StepContract.RequirementsFolder, StepContract.RequirementsName));
            var command = new List<string> { python ?? StepContract.ContainerInterpreter, paths.CodeFile };
            command.AddRange(StepContract.Arguments(request.JobId, paths, step.Params));
            var environment = StepContract.Environment(
                pipeline,
                step,
                request.JobId,
                request.Credentials is null ? null : Path.Combine(runDirectory, StepContract.CredentialsFolder, StepContract.CredentialsName));
            string? image = null;
            string? imageProblem = null;
            if (request.LocalRuntime != RlabsLocalRuntime.Process)
            {
                try
                {
                    image = DefaultImages.ForStep(pipeline, step, request.Region);
                }
                catch (RlabsConfigException ex) when (request.LocalRuntime == RlabsLocalRuntime.Auto)
                {
                    imageProblem = ex.Message; // Auto then runs the step as a process
                }
            }
            steps.Add(new LocalStepPlan(
                step,
                ProjectNaming.JobName(pipeline.ProjectName, request.JobId, step.JobSuffix),
                stepDirectory,
                inputSource,
                Path.GetFullPath(Path.Combine(dataRoot, StepContract.OutputKey(step, request.JobId))),
                paths,
                command,
                environment,
                StepContract.ContainerCommand(step, request.JobId),
                image,
                imageProblem));
        }
        return new LocalRunPlan(request, dataRoot, runDirectory, python, pythonProblem, steps);
    }

    /// <summary>Creates the run folder, the source zip and the stripped credentials; called once before the steps.</summary>
    public static SourcePackage Prepare(LocalRunPlan plan, IRunReporter reporter, CancellationToken cancellationToken)
    {
        var repository = plan.Request.Pipeline.RepositoryPath;
        var work = Path.Combine(repository, WorkFolder);
        Directory.CreateDirectory(work);
        var ignore = Path.Combine(work, ".gitignore");
        if (!File.Exists(ignore))
        {
            // Keeps runs and data out of git without touching the user's own .gitignore.
            File.WriteAllText(ignore, "# Created by Rlabs.Pipelines: local runs and data.\n*\n");
        }
        Directory.CreateDirectory(plan.RunDirectory);
        Directory.CreateDirectory(plan.DataRoot);
        var excluded = new List<string> { plan.DataRoot, work };
        if (plan.Request.Credentials is not null)
        {
            excluded.Add(plan.Request.Credentials.Path);
        }
        var package = SourcePackager.CreateZip(repository, plan.SourceZip, excluded, plan.Request.Pipeline.Defaults.PackageSecrets, cancellationToken);
        reporter.Verbose($"Packed {package.FileCount} files ({package.UncompressedBytes:N0} bytes) from {repository} into {package.ZipPath}");
        if (package.SkippedSecrets.Count > 0)
        {
            reporter.Warning($"Left {package.SkippedSecrets.Count} key or credentials file(s) out of the source zip: {string.Join(", ", package.SkippedSecrets.Take(5))}{(package.SkippedSecrets.Count > 5 ? ", …" : string.Empty)}. Add them to .gitignore to silence this, or list them under 'package_secrets:' to pack them.");
        }
        if (package.SkippedLinks.Count > 0)
        {
            reporter.Warning($"Left {package.SkippedLinks.Count} link(s) pointing outside the repository (or nowhere) out of the source zip: {string.Join(", ", package.SkippedLinks.Take(5))}{(package.SkippedLinks.Count > 5 ? ", …" : string.Empty)}.");
        }
        if (plan.CredentialsCopy is { } copy)
        {
            plan.Request.Credentials!.WriteStripped(copy);
        }
        return package;
    }

    /// <summary>Removes the stripped credentials copy once the run is over: secrets do not linger on disk.</summary>
    public static void Cleanup(LocalRunPlan plan)
    {
        if (plan.CredentialsCopy is { } copy && File.Exists(copy))
        {
            File.Delete(copy);
        }
    }
}
