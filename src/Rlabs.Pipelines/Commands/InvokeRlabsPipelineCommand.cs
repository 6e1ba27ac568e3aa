using System.Management.Automation;
using System.Text;
using Rlabs.Pipelines.Aws;
using Rlabs.Pipelines.Cloud;
using Rlabs.Pipelines.Containers;
using Rlabs.Pipelines.Planning;
using Rlabs.Pipelines.Running;
using Rlabs.Pipelines.Runtimes;

namespace Rlabs.Pipelines.Commands;

/// <summary>Invoke-RlabsPipeline: runs every step of a pipeline, locally or as SageMaker Processing jobs.</summary>
[Cmdlet(VerbsLifecycle.Invoke, "RlabsPipeline", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
[OutputType(typeof(RlabsPipelineRun))]
public sealed class InvokeRlabsPipelineCommand : RlabsAwsCmdlet
{
    internal const int ProgressActivityId = 0x524C; // fixed per run so every step updates the same bar

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
    public string InstanceType { get; set; } = InstanceTypes.Default;

    /// <summary>The run's job id; generated when omitted.</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    public string? JobId { get; set; }

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

    /// <summary>IAM role SageMaker jobs run as; default: role_arn in the pipeline file.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? RoleArn { get; set; }

    /// <summary>S3 bucket of a cloud run; default: bucket in the pipeline file, else sagemaker-&lt;region&gt;-&lt;account&gt;.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? Bucket { get; set; }

    /// <summary>Cloud runs: start the run and return at once (on SageMaker Pipelines unless -Engine Client says otherwise).</summary>
    [Parameter]
    public SwitchParameter NoWait { get; set; }

    /// <summary>Cloud runs: who drives the steps, Client (this session, job by job) or SageMakerPipelines (server-side); default: SageMakerPipelines with -NoWait, else Client.</summary>
    /// <remarks>A string with a fixed set, not the core's enum, for the reason given at <see cref="LocalRuntime"/>.</remarks>
    [Parameter]
    [ValidateSet("Client", "SageMakerPipelines")]
    public string? Engine { get; set; }

    /// <summary>Cloud runs: skip steps that already completed for this job id with the same inputs.</summary>
    [Parameter]
    public SwitchParameter Resume { get; set; }

    /// <summary>The most steps in flight at once; default: the file's 'parallelism:', else 4 locally and 10 on SageMaker.</summary>
    [Parameter]
    [ValidateRange(1, 100)]
    public int ThrottleLimit { get; set; }

    /// <summary>Run only these steps; the others' outputs come from -ReferenceJobId's run (or this job id's own).</summary>
    [Parameter]
    [ArgumentCompleter(typeof(StepNameCompleter))]
    [ValidateNotNullOrEmpty]
    public string[]? Step { get; set; }

    /// <summary>Run this step and every step that depends on it (with -ToStep: up to that step).</summary>
    [Parameter]
    [ArgumentCompleter(typeof(StepNameCompleter))]
    [ValidateNotNullOrEmpty]
    public string? FromStep { get; set; }

    /// <summary>Run this step and every step it depends on (with -FromStep: from that step on).</summary>
    [Parameter]
    [ArgumentCompleter(typeof(StepNameCompleter))]
    [ValidateNotNullOrEmpty]
    public string? ToStep { get; set; }

    /// <summary>The run whose outputs stand in for the steps a partial run leaves out.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? ReferenceJobId { get; set; }

    /// <summary>Run every step, neither reading nor writing the step cache that 'cache:' turns on.</summary>
    [Parameter]
    public SwitchParameter NoCache { get; set; }

    /// <summary>Also write the run as JUnit XML (one test case per step) to this file, for CI test tabs.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? JUnitPath { get; set; }

    /// <inheritdoc/>
    /// <remarks>-WhatIf of a cloud run shows the plan without credentials: no call is made, the account shows as unknown.</remarks>
    protected override bool PlansWithoutCalls =>
        MyInvocation.BoundParameters.TryGetValue("WhatIf", out var whatIf)
            ? whatIf is SwitchParameter { IsPresent: true }
            : LanguagePrimitives.IsTrue(SessionState.PSVariable.GetValue("WhatIfPreference"));

    /// <inheritdoc/>
    protected override void ProcessRecord()
    {
        var path = ResolvePath(Path);
        var pipeline = ReadPipeline(path, ResolveRepository(RepositoryPath));
        if (Resume && JobId is null)
        {
            ThrowTerminatingError(ErrorMapping.Record(new ArgumentException("-Resume continues an earlier run: pass its -JobId."), "ResumeNeedsJobId", ErrorCategory.InvalidArgument, null));
        }
        var jobId = JobId ?? ProjectNaming.NewJobId(DateTimeOffset.UtcNow);
        if (ProjectNaming.ValidateJobId(jobId) is { } jobIdProblem)
        {
            ThrowTerminatingError(ErrorMapping.Record(new ArgumentException(jobIdProblem + " Example: -JobId 20261125-run1."), "InvalidJobId", ErrorCategory.InvalidArgument, jobId));
        }
        if (Step is { Length: > 0 } && (FromStep is not null || ToStep is not null))
        {
            ThrowTerminatingError(ErrorMapping.Record(new ArgumentException("-Step names the steps to run; -FromStep and -ToStep give a range. Use one or the other."), "StepSelectionConflict", ErrorCategory.InvalidArgument, null));
        }
        if (ReferenceJobId is not null && ProjectNaming.ValidateJobId(ReferenceJobId) is { } referenceProblem)
        {
            ThrowTerminatingError(ErrorMapping.Record(new ArgumentException("-ReferenceJobId: " + referenceProblem), "InvalidJobId", ErrorCategory.InvalidArgument, ReferenceJobId));
        }
        IReadOnlyList<string>? slice = null;
        try
        {
            slice = RunSlice.Select(pipeline, Step, FromStep, ToStep);
        }
        catch (RlabsRunException ex)
        {
            ThrowTerminatingError(ErrorMapping.Record(ex, ex.ErrorId, ex.Target));
        }
        var credentials = LoadCredentials();
        // A client-driven -NoWait run cannot finish alone, so -NoWait means the server-side engine unless told otherwise.
        var engine = Engine is null ? (NoWait ? CloudEngine.SageMakerPipelines : CloudEngine.Client) : Enum.Parse<CloudEngine>(Engine, ignoreCase: true);
        var request = new RunRequest
        {
            Pipeline = pipeline,
            JobId = jobId,
            // Only an explicit -InstanceType beats the file's instance_type.
            InstanceType = MyInvocation.BoundParameters.ContainsKey(nameof(InstanceType)) ? InstanceType : null,
            ThrottleLimit = MyInvocation.BoundParameters.ContainsKey(nameof(ThrottleLimit)) ? ThrottleLimit : null,
            NoCache = NoCache,
            Steps = slice,
            ReferenceJobId = ReferenceJobId,
            Resume = Resume,
            Credentials = credentials,
            Local = new LocalRunOptions
            {
                DataRoot = DataRoot is null ? null : ResolvePath(DataRoot),
                PythonPath = PythonPath,
                Runtime = Enum.Parse<RlabsLocalRuntime>(LocalRuntime, ignoreCase: true),
                Region = LocalRegion(credentials),
            },
            // The engine always starts without waiting; this cmdlet follows the execution unless -NoWait.
            Cloud = new CloudRunOptions { RoleArn = RoleArn, Bucket = Bucket, Resume = Resume, NoWait = NoWait || engine == CloudEngine.SageMakerPipelines, Engine = engine },
        };

        try
        {
            using var runtime = PipelineRuntimes.Create(request, new RuntimeServices { Session = SessionOptions(CredentialsFile), CreateSession = () => CreateSession(CredentialsFile) });
            var plan = RunEngine.Plan(request, runtime);
            WarnAboutOtherTargetsParameters(plan.Target);
            var where = plan.Target == RunTarget.Local ? "locally" : "on SageMaker";
            // The cache's per-step hit or miss costs hashing: said under -WhatIf, decided by the run otherwise.
            var description = RunEngine.DescribeAsync(plan, runtime, withCache: PlansWithoutCalls, CancellationToken).GetAwaiter().GetResult();
            if (!ShouldProcess(Describe($"Run pipeline {where} ({runtime.Name}):", description), $"Run {plan.Steps.Count} step(s) of {pipeline.Name} {where} with job id {jobId}?", "Invoke-RlabsPipeline"))
            {
                return;
            }
            using var reporter = new QueueReporter(ProgressActivityId);
            var run = reporter.Drain(this, async () =>
            {
                await Task.Yield();
                var started = await RunEngine.RunAsync(plan, runtime, reporter, CancellationToken).ConfigureAwait(false);
                return runtime is SageMakerPipelinesRuntime engineRuntime && !NoWait
                    ? await engineRuntime.FollowAsync(plan, started, reporter, CancellationToken).ConfigureAwait(false)
                    : started;
            });
            // The run goes out first, so a caller with -ErrorAction Stop still gets it before the error terminates.
            WriteObject(run);
            RunReport.Write(this, run, JUnitPath);
        }
        catch (OperationCanceledException)
        {
            // Ctrl-C before a step started: nothing ran yet.
        }
        catch (RlabsRunException ex)
        {
            ThrowTerminatingError(ErrorMapping.Record(ex, ex.ErrorId, ex.Target));
        }
        catch (ContainerEngineException ex)
        {
            ThrowTerminatingError(ErrorMapping.Record(ex, ex.ErrorId, ErrorCategory.ResourceUnavailable, Environment.GetEnvironmentVariable("DOCKER_HOST")));
        }
        catch (AwsServiceException ex)
        {
            ThrowTerminatingError(ErrorMapping.Record(ex, "AwsCallFailed", pipeline.Path));
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            ThrowTerminatingError(ErrorMapping.Record(ex, "RunPreparationFailed", pipeline.RepositoryPath));
        }
    }

    private Config.CredentialsFile? LoadCredentials()
    {
        if (CredentialsFile is null)
        {
            return null;
        }
        var credentialsPath = ResolvePath(CredentialsFile);
        try
        {
            return Config.CredentialsFile.Load(credentialsPath);
        }
        catch (RlabsConfigException ex)
        {
            ThrowTerminatingError(ErrorMapping.Record(ex, "CredentialsFileInvalid", ErrorCategory.InvalidData, credentialsPath));
            return null;
        }
    }

    private void WarnAboutOtherTargetsParameters(RunTarget target)
    {
        if (target == RunTarget.Local && (NoWait || Engine is not null))
        {
            WriteWarning("-NoWait and -Engine apply to cloud runs; a local run always waits.");
        }
        if (target == RunTarget.Cloud && (DataRoot is not null || PythonPath is not null))
        {
            WriteWarning("-DataRoot and -PythonPath apply to local runs; a cloud run keeps its data under the bucket's rlabs/<project>/data/ prefix.");
        }
    }

    /// <summary>The region of a local run (it only picks the default image): -Region, else the credentials file's, else AWS_REGION / AWS_DEFAULT_REGION.</summary>
    private string? LocalRegion(Config.CredentialsFile? credentials) =>
        new[] { Region, credentials?.Region, Environment.GetEnvironmentVariable("AWS_REGION"), Environment.GetEnvironmentVariable("AWS_DEFAULT_REGION") }
            .FirstOrDefault(r => !string.IsNullOrWhiteSpace(r));

    private static string Describe(string title, IEnumerable<string> lines)
    {
        var description = new StringBuilder(title);
        foreach (var line in lines)
        {
            description.AppendLine().Append("  ").Append(line);
        }
        return description.ToString();
    }
}
