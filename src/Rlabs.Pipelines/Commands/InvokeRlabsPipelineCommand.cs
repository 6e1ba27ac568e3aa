using System.Management.Automation;
using System.Text;
using Rlabs.Pipelines.Aws;
using Rlabs.Pipelines.Cloud;
using Rlabs.Pipelines.Config;
using Rlabs.Pipelines.Running;
using Rlabs.Pipelines.Running.Containers;

namespace Rlabs.Pipelines.Commands;

/// <summary>Invoke-RlabsPipeline: runs every step of a pipeline, locally or as SageMaker Processing jobs.</summary>
[Cmdlet(VerbsLifecycle.Invoke, "RlabsPipeline", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
[OutputType(typeof(RlabsPipelineRun))]
public sealed class InvokeRlabsPipelineCommand : RlabsAwsCmdlet
{
    internal const int ProgressActivityId = 0x524C; // fixed per run so every step updates the same bar

    internal const string DefaultInstanceType = "ml.t3.xlarge";

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

    /// <summary>IAM role SageMaker jobs run as; default: role_arn in the pipeline file.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? RoleArn { get; set; }

    /// <summary>S3 bucket of a cloud run; default: bucket in the pipeline file, else sagemaker-&lt;region&gt;-&lt;account&gt;.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? Bucket { get; set; }

    /// <summary>Cloud runs: start the first step and return; Wait-RlabsPipelineRun finishes the run.</summary>
    [Parameter]
    public SwitchParameter NoWait { get; set; }

    /// <summary>Cloud runs: skip steps that already completed for this job id with the same inputs.</summary>
    [Parameter]
    public SwitchParameter Resume { get; set; }

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
        var repository = ResolveRepository(RepositoryPath);
        var config = PipelineConfigReader.Read(path, repository);
        RunReport.Annotate(this, config.Diagnostics);
        foreach (var warning in config.Diagnostics.Where(d => d.Severity == RlabsDiagnosticSeverity.Warning))
        {
            WriteWarning(warning.ToString());
        }
        if (config.Pipeline is not { } pipeline)
        {
            ThrowTerminatingError(ErrorMapping.Record(new RlabsConfigException(config.ErrorSummary(), path), "PipelineConfigInvalid", ErrorCategory.InvalidData, path));
            return;
        }

        if (Resume && JobId is null)
        {
            ThrowTerminatingError(ErrorMapping.Record(new ArgumentException("-Resume continues an earlier run: pass its -JobId."), "ResumeNeedsJobId", ErrorCategory.InvalidArgument, null));
        }
        var jobId = JobId ?? ProjectNaming.NewJobId(DateTimeOffset.UtcNow);
        if (ProjectNaming.ValidateJobId(jobId) is { } jobIdProblem)
        {
            ThrowTerminatingError(ErrorMapping.Record(new ArgumentException(jobIdProblem + " Example: -JobId 20261125-run1."), "InvalidJobId", ErrorCategory.InvalidArgument, jobId));
        }

        var explicitType = MyInvocation.BoundParameters.ContainsKey(nameof(InstanceType)) ? InstanceType : null;
        if (explicitType is not null && Planning.InstanceTypes.Validate(explicitType) is { } typeProblem)
        {
            ThrowTerminatingError(ErrorMapping.Record(new ArgumentException($"-InstanceType {typeProblem}"), "InvalidInstanceType", ErrorCategory.InvalidArgument, explicitType));
        }
        var effective = pipeline.Steps
            .Select(s => explicitType ?? s.InstanceType ?? pipeline.Defaults.InstanceType ?? DefaultInstanceType)
            .ToList();
        var local = effective.Count(t => t.Equals("local", StringComparison.OrdinalIgnoreCase));
        if (local > 0 && local < effective.Count)
        {
            ThrowTerminatingError(ErrorMapping.Record(
                new ArgumentException($"Some steps of {path} run locally and some on SageMaker ({string.Join(", ", effective.Distinct(StringComparer.OrdinalIgnoreCase))}); one run is either. Pass -InstanceType local, or an ml.* type, for the whole run."),
                "MixedInstanceTypes", ErrorCategory.InvalidArgument, path));
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

        RlabsPipelineRun? run = local > 0 ? RunLocal(pipeline, jobId, explicitType, credentials) : RunCloud(pipeline, jobId, explicitType, credentials);
        if (run is null)
        {
            return;
        }
        // The run goes out first, so a caller with -ErrorAction Stop still gets it before the error terminates.
        WriteObject(run);
        RunReport.Write(this, run, JUnitPath);
    }

    private RlabsPipelineRun? RunLocal(RlabsPipeline pipeline, string jobId, string? explicitType, CredentialsFile? credentials)
    {
        if (NoWait || Resume)
        {
            WriteWarning("-NoWait and -Resume apply to cloud runs; a local run always runs every step and waits.");
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
                Region = LocalRegion(credentials),
            });
        }
        catch (RlabsConfigException ex) when (runtime == RlabsLocalRuntime.Container)
        {
            ThrowTerminatingError(ErrorMapping.Record(ex, "ContainerImageUnknown", ErrorCategory.InvalidArgument, pipeline.Path));
            return null;
        }
        catch (RlabsConfigException ex)
        {
            ThrowTerminatingError(ErrorMapping.Record(ex, "PythonNotFound", ErrorCategory.ObjectNotFound, PythonPath));
            return null;
        }

        if (!ShouldProcess(Describe("Run pipeline locally:", plan.Describe()), $"Run {plan.Steps.Count} step(s) of {pipeline.Name} locally with job id {jobId}?", "Invoke-RlabsPipeline"))
        {
            return null;
        }

        // ECR images (the SageMaker defaults) are pulled with a login from the user's AWS session, made only when
        // an image is missing: a run whose images are present needs no AWS credentials at all.
        var login = EcrRegistryLogin.FromOptions(SessionOptions(CredentialsFile));
        using var reporter = new QueueReporter(ProgressActivityId);
        var run = plan.NewRun();
        try
        {
            reporter.Drain(this, async () =>
            {
                await Task.Yield();
                // The engine is asked first, so a missing engine stops the run before anything is written.
                using var runner = await LocalStepRunner.CreateAsync(plan, login, reporter, CancellationToken).ConfigureAwait(false);
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
            return null; // Ctrl-C while packaging: nothing ran yet.
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            ThrowTerminatingError(ErrorMapping.Record(ex, "RunPreparationFailed", plan.RunDirectory));
        }
        catch (ContainerEngineException ex)
        {
            ThrowTerminatingError(ErrorMapping.Record(ex, ex.ErrorId, ErrorCategory.ResourceUnavailable, Environment.GetEnvironmentVariable("DOCKER_HOST")));
        }
        return run;
    }

    /// <summary>The region of a local run (it only picks the default image): -Region, else the credentials file's, else AWS_REGION / AWS_DEFAULT_REGION.</summary>
    private string? LocalRegion(CredentialsFile? credentials) =>
        new[] { Region, credentials?.Region, Environment.GetEnvironmentVariable("AWS_REGION"), Environment.GetEnvironmentVariable("AWS_DEFAULT_REGION") }
            .FirstOrDefault(r => !string.IsNullOrWhiteSpace(r));

    private RlabsPipelineRun? RunCloud(RlabsPipeline pipeline, string jobId, string? explicitType, CredentialsFile? credentials)
    {
        if (DataRoot is not null || PythonPath is not null)
        {
            WriteWarning("-DataRoot and -PythonPath apply to local runs; a cloud run keeps its data under the bucket's rlabs/<project>/data/ prefix.");
        }
        using var session = CreateSession(CredentialsFile);
        var request = new CloudRunRequest
        {
            Pipeline = pipeline,
            JobId = jobId,
            InstanceType = explicitType,
            Credentials = credentials,
            RoleArn = RoleArn,
            Bucket = Bucket,
            Resume = Resume,
        };
        var work = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "rlabs-" + Guid.NewGuid().ToString("N"));
        try
        {
            CloudRunPlan plan;
            Packaging.SourcePackage source;
            try
            {
                source = CloudRunPlanner.Package(request, work, CancellationToken);
                plan = CloudRunPlanner.Plan(request, session.Region, null, source);
            }
            catch (RlabsConfigException ex)
            {
                ThrowTerminatingError(ErrorMapping.Record(ex, "CloudRunInvalid", ErrorCategory.InvalidArgument, pipeline.Path));
                return null;
            }
            if (!ShouldProcess(Describe($"Run pipeline on SageMaker ({session.CredentialSource}):", plan.Describe()), $"Start {plan.Steps.Count} SageMaker Processing job(s) for {pipeline.Name} with job id {jobId}?", "Invoke-RlabsPipeline"))
            {
                return null;
            }

            using var service = new CloudRunService(session);
            using var reporter = new QueueReporter(ProgressActivityId);
            try
            {
                return reporter.Drain(this, async () =>
                {
                    await Task.Yield();
                    if (CloudRunPlanner.NeedsAccount(request))
                    {
                        plan = CloudRunPlanner.Plan(request, session.Region, await service.GetAccountAsync(CancellationToken).ConfigureAwait(false), source);
                    }
                    return await service.RunAsync(plan, NoWait, reporter, CancellationToken).ConfigureAwait(false);
                });
            }
            catch (OperationCanceledException)
            {
                return null;
            }
            catch (AwsServiceException ex)
            {
                ThrowTerminatingError(ErrorMapping.Record(ex, "AwsCallFailed", pipeline.Path));
                return null;
            }
        }
        finally
        {
            try
            {
                Directory.Delete(work, recursive: true);
            }
            catch (DirectoryNotFoundException)
            {
            }
        }
    }

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
