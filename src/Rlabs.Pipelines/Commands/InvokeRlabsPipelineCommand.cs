using System.Management.Automation;
using System.Text;
using Rlabs.Pipelines.Config;
using Rlabs.Pipelines.Running;
using Rlabs.Pipelines.Running.Containers;

namespace Rlabs.Pipelines.Commands;

/// <summary>Invoke-RlabsPipeline: runs every step of a pipeline, locally or (later) on SageMaker.</summary>
[Cmdlet(VerbsLifecycle.Invoke, "RlabsPipeline", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
[OutputType(typeof(RlabsPipelineRun))]
public sealed class InvokeRlabsPipelineCommand : RlabsCmdlet
{
    private const int ProgressActivityId = 0x524C; // fixed per run so every step updates the same bar

    /// <summary>The pipeline YAML file.</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
    [Alias("FullName", "PipelineConfigFile")]
    [ValidateNotNullOrEmpty]
    public string Path { get; set; } = string.Empty;

    /// <summary>The data-apps repository; default: the current location.</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    public string? RepositoryPath { get; set; }

    /// <summary>'local' runs every step on this machine; an ml.* type runs them on SageMaker.</summary>
    [Parameter]
    [ArgumentCompleter(typeof(InstanceTypeCompleter))]
    [ValidateNotNullOrEmpty]
    public string InstanceType { get; set; } = DefaultInstanceType;

    /// <summary>The run's job id; generated when omitted.</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    public string? JobId { get; set; }

    /// <summary>The credentials YAML (AWS keys and data-warehouse secrets).</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? CredentialsFile { get; set; }

    /// <summary>Local data root; default &lt;repository&gt;/.rlabs/data.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? DataRoot { get; set; }

    /// <summary>The Python interpreter for local steps.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? PythonPath { get; set; }

    /// <summary>How local steps run: Process (default), Container (the step's SageMaker image) or Auto.</summary>
    /// <remarks>
    /// A string with a fixed set, not the core's enum: a value-type field of a core type would make the runtime
    /// load the core while PowerShell inspects this class, before the module's load context can answer for it.
    /// </remarks>
    [Parameter]
    [ValidateSet(nameof(RlabsLocalRuntime.Process), nameof(RlabsLocalRuntime.Container), nameof(RlabsLocalRuntime.Auto))]
    public string LocalRuntime { get; set; } = nameof(RlabsLocalRuntime.Process);

    /// <summary>AWS region: picks the default SageMaker image of container steps.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? Region { get; set; }

    internal const string DefaultInstanceType = "ml.t3.xlarge";

    /// <summary>-Region, else the credentials file's, else AWS_REGION / AWS_DEFAULT_REGION; null when none.</summary>
    private string? ResolveRegion(CredentialsFile? credentials) =>
        new[] { Region, credentials?.Region, Environment.GetEnvironmentVariable("AWS_REGION"), Environment.GetEnvironmentVariable("AWS_DEFAULT_REGION") }
            .FirstOrDefault(r => !string.IsNullOrWhiteSpace(r));

    /// <inheritdoc/>
    protected override void ProcessRecord()
    {
        var path = ResolvePath(Path);
        var repository = ResolveRepository(RepositoryPath);
        var config = PipelineConfigReader.Read(path, repository);
        foreach (var warning in config.Diagnostics.Where(d => d.Severity == RlabsDiagnosticSeverity.Warning))
        {
            WriteWarning(warning.ToString());
        }
        if (config.Pipeline is not { } pipeline)
        {
            ThrowTerminatingError(ErrorMapping.Record(new RlabsConfigException(config.ErrorSummary(), path), "PipelineConfigInvalid", ErrorCategory.InvalidData, path));
            return;
        }

        var jobId = JobId ?? ProjectNaming.NewJobId(DateTimeOffset.UtcNow);
        if (ProjectNaming.ValidateJobId(jobId) is { } jobIdProblem)
        {
            ThrowTerminatingError(ErrorMapping.Record(new ArgumentException(jobIdProblem + " Example: -JobId 20261125-run1."), "InvalidJobId", ErrorCategory.InvalidArgument, jobId));
        }

        var explicitType = MyInvocation.BoundParameters.ContainsKey(nameof(InstanceType)) ? InstanceType : null;
        var effective = pipeline.Steps
            .Select(s => explicitType ?? s.InstanceType ?? pipeline.Defaults.InstanceType ?? DefaultInstanceType)
            .ToList();
        if (explicitType is not null && !Config.PipelineConfigReader.IsValidInstanceType(explicitType))
        {
            ThrowTerminatingError(ErrorMapping.Record(new ArgumentException($"-InstanceType '{explicitType}' is not valid. Use 'local' or a SageMaker instance type such as ml.t3.xlarge."), "InvalidInstanceType", ErrorCategory.InvalidArgument, explicitType));
        }
        if (effective.Any(t => !t.Equals("local", StringComparison.OrdinalIgnoreCase)))
        {
            ThrowTerminatingError(ErrorMapping.Record(
                new NotSupportedException($"This version runs pipelines locally only; {string.Join(", ", effective.Distinct(StringComparer.OrdinalIgnoreCase))} needs the SageMaker runner. Pass -InstanceType local."),
                "CloudRunNotAvailable", ErrorCategory.NotImplemented, path));
        }

        CredentialsFile? credentials = null;
        if (CredentialsFile is not null)
        {
            var credentialsPath = ResolvePath(CredentialsFile);
            try
            {
                credentials = Config.CredentialsFile.Load(credentialsPath);
            }
            catch (RlabsConfigException ex)
            {
                ThrowTerminatingError(ErrorMapping.Record(ex, "CredentialsFileInvalid", ErrorCategory.InvalidData, credentialsPath));
            }
        }

        var runtime = Enum.Parse<RlabsLocalRuntime>(LocalRuntime, ignoreCase: true);
        LocalRunPlan plan;
        try
        {
            plan = LocalRunPlanner.Plan(new RunRequest
            {
                Pipeline = pipeline,
                JobId = jobId,
                InstanceType = explicitType,
                DataRoot = DataRoot is null ? null : ResolvePath(DataRoot),
                Credentials = credentials,
                PythonPath = PythonPath,
                LocalRuntime = runtime,
                Region = ResolveRegion(credentials),
            });
        }
        catch (RlabsConfigException ex) when (runtime == RlabsLocalRuntime.Container)
        {
            ThrowTerminatingError(ErrorMapping.Record(ex, "ContainerImageUnknown", ErrorCategory.InvalidArgument, path));
            return;
        }
        catch (RlabsConfigException ex)
        {
            ThrowTerminatingError(ErrorMapping.Record(ex, "PythonNotFound", ErrorCategory.ObjectNotFound, PythonPath));
            return;
        }

        var description = new StringBuilder("Run pipeline locally:");
        foreach (var line in plan.Describe())
        {
            description.AppendLine().Append("  ").Append(line);
        }
        if (!ShouldProcess(description.ToString(), $"Run {plan.Steps.Count} step(s) of {pipeline.Name} locally with job id {jobId}?", "Invoke-RlabsPipeline"))
        {
            return;
        }

        using var reporter = new QueueReporter(ProgressActivityId);
        var run = plan.NewRun();
        try
        {
            reporter.Drain(this, async () =>
            {
                await Task.Yield();
                // The engine is asked first, so a missing engine stops the run before anything is written.
                using var runner = await LocalStepRunner.CreateAsync(plan, login: null, reporter, CancellationToken).ConfigureAwait(false);
                try
                {
                    LocalRunPlanner.Prepare(plan, reporter, CancellationToken);
                    return await PipelineExecutor.RunAsync(run, runner, reporter, CancellationToken).ConfigureAwait(false);
                }
                finally
                {
                    LocalRunPlanner.Cleanup(plan);
                }
            });
        }
        catch (OperationCanceledException)
        {
            // Ctrl-C while packaging: nothing ran yet.
            return;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            ThrowTerminatingError(ErrorMapping.Record(ex, "RunPreparationFailed", plan.RunDirectory));
        }
        catch (ContainerEngineException ex)
        {
            ThrowTerminatingError(ErrorMapping.Record(ex, ex.ErrorId, ErrorCategory.ResourceUnavailable, Environment.GetEnvironmentVariable("DOCKER_HOST")));
        }

        // The run goes out first, so a caller with -ErrorAction Stop still gets it before the error terminates.
        WriteObject(run);
        foreach (var failed in run.Steps.Where(s => s.Status == RlabsRunStatus.Failed))
        {
            var message = new StringBuilder($"Step '{failed.StepName}' of pipeline '{run.PipelineName}' (job {run.JobId}) failed");
            message.Append(failed.ExitCode is { } code ? $" with exit code {code}" : string.Empty).Append(": ").Append(failed.FailureReason);
            if (failed.LogTail.Count > 0)
            {
                message.AppendLine().Append("Last log lines:");
                foreach (var line in failed.LogTail)
                {
                    message.AppendLine().Append("  ").Append(line);
                }
            }
            message.AppendLine().Append("Full log: ").Append(failed.LogPath);
            WriteError(ErrorMapping.Record(new InvalidOperationException(message.ToString()), "StepFailed", ErrorCategory.InvalidResult, failed));
        }
    }
}
