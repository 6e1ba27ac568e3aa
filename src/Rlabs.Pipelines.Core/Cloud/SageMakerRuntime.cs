using Rlabs.Pipelines.Aws;
using Rlabs.Pipelines.Packaging;
using Rlabs.Pipelines.Planning;
using Rlabs.Pipelines.Running;

namespace Rlabs.Pipelines.Cloud;

/// <summary>
/// The SageMaker runtime: each step a Processing job. It binds the run plan to CreateProcessingJob requests
/// (<see cref="ProcessingJobBinder"/>), uploads once, and runs the jobs through <see cref="CloudRunService"/>.
/// </summary>
public sealed class SageMakerRuntime : IPipelineRuntime
{
    private readonly AwsSession _session;
    private readonly CloudRunService _service;
    private readonly string _work = Path.Combine(Path.GetTempPath(), "rlabs-" + Guid.NewGuid().ToString("N"));
    private SourcePackage? _source;
    private CloudRunPlan? _bound;
    private string? _account;
    private CloudRunManifest? _manifest;
    private BucketDataStore? _dataStore;

    /// <summary>Creates the runtime over a resolved session, which it owns from now on.</summary>
    public SageMakerRuntime(AwsSession session)
    {
        ArgumentNullException.ThrowIfNull(session);
        _session = session;
        _service = new CloudRunService(session);
    }

    /// <inheritdoc/>
    public string Name => "SageMaker";

    /// <inheritdoc/>
    public string? Region => _session.Region;

    /// <summary>Where the credentials came from, for -WhatIf.</summary>
    public string CredentialSource => _session.CredentialSource;

    /// <summary>The requests the run sends (after <see cref="Validate"/>; final once prepared).</summary>
    public CloudRunPlan Bound => _bound ?? throw new InvalidOperationException("The runtime has no plan yet.");

    /// <inheritdoc/>
    public IStepRunner StepRunner => new RetryingRunner(this, _service.StepRunner(_manifest ?? throw new InvalidOperationException("The run is not prepared."), stopOnCancel: true));

    /// <summary>Packages the repository and binds the plan without calling AWS; a plan SageMaker cannot run is <see cref="RlabsRunException"/> CloudRunInvalid.</summary>
    public void Validate(RunPlan plan)
    {
        ArgumentNullException.ThrowIfNull(plan);
        _source ??= ProcessingJobBinder.Package(plan.Request, _work, CancellationToken.None);
        _bound = Bind(plan, null);
    }

    /// <inheritdoc/>
    public IEnumerable<string> Describe(RunPlan plan) => Bound.Describe().Prepend($"AWS credentials from the {CredentialSource}");

    /// <inheritdoc/>
    public string InputLocation(RunPlan plan, StepPlan stepPlan)
    {
        ArgumentNullException.ThrowIfNull(plan);
        ArgumentNullException.ThrowIfNull(stepPlan);
        return ProcessingJobBinder.DataUri(plan.Request, ProcessingJobBinder.Bucket(plan.Request, _session.Region, _account), stepPlan.InputKey ?? string.Empty);
    }

    /// <inheritdoc/>
    public async Task<bool?> InputExistsAsync(RunPlan plan, StepPlan stepPlan, bool dryRun, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(plan);
        ArgumentNullException.ThrowIfNull(stepPlan);
        if (dryRun || stepPlan.InputKey is null)
        {
            return dryRun ? null : true; // -WhatIf calls nothing it does not list
        }
        await LearnAccountAsync(plan, cancellationToken).ConfigureAwait(false);
        var bucket = ProcessingJobBinder.Bucket(plan.Request, _session.Region, _account);
        var key = $"{CloudNaming.ProjectPrefix(plan.Pipeline.ProjectName)}/data/{stepPlan.InputKey}";
        return await _service.DataExistsAsync(bucket, key, StepContract.IsZipInput(stepPlan.InputKey), cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc/>
    public async Task<RlabsPipelineRun> PrepareAsync(RunPlan plan, IRunReporter reporter, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(plan);
        ArgumentNullException.ThrowIfNull(reporter);
        // Every wait before a retry (throttling above all) shows in -Verbose while the run goes on.
        _session.RetryReported ??= reporter.Verbose;
        await LearnAccountAsync(plan, cancellationToken).ConfigureAwait(false);
        _source ??= ProcessingJobBinder.Package(plan.Request, _work, cancellationToken);
        _bound = Bind(plan, _account); // again: the bucket is known now, and so are the empty inputs
        if (plan.Request.Cloud.Resume)
        {
            await SageMakerPipelinesEngine.RefuseClientResumeAsync(_service, _bound, cancellationToken).ConfigureAwait(false);
        }
        _manifest = await _service.PrepareAsync(_bound, reporter, cancellationToken).ConfigureAwait(false);
        var run = CloudRunService.NewRun(_manifest, plan.Pipeline);
        // -Resume keeps completed steps and adopts a job still running; any other job an earlier invocation with
        // this job id left running is stopped first (a new job id calls nothing here).
        await _service.ReconcileAsync(_manifest, run, plan.Request.Cloud.Resume, reporter, cancellationToken).ConfigureAwait(false);
        return run;
    }

    /// <inheritdoc/>
    public IStepDataStore? DataStore => _dataStore ??= new BucketDataStore(_session, plan => ProcessingJobBinder.Bucket(plan.Request, _session.Region, _account), () => _account);

    /// <inheritdoc/>
    public IReadOnlyList<string> SourceExclusions(RunPlan plan)
    {
        ArgumentNullException.ThrowIfNull(plan);
        var excluded = new List<string> { Path.Combine(plan.Pipeline.RepositoryPath, RunPlanner.WorkFolder) };
        if (plan.Request.Credentials is not null)
        {
            excluded.Add(plan.Request.Credentials.Path);
        }
        return excluded;
    }

    /// <inheritdoc/>
    public async Task<bool> StartWithoutWaitingAsync(RunPlan plan, RlabsPipelineRun run, IRunReporter reporter, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(run);
        await _service.StartNextAsync(_manifest!, run, reporter, cancellationToken).ConfigureAwait(false);
        run.UploadedBytes = _service.UploadedBytes;
        return true;
    }

    /// <inheritdoc/>
    public async Task CleanupAsync(RunPlan plan, RlabsPipelineRun? run)
    {
        await _service.DrainLogsAsync().ConfigureAwait(false);
        if (run is not null)
        {
            run.UploadedBytes = _service.UploadedBytes;
        }
        if (_manifest is not null)
        {
            await _service.CleanupAsync(_manifest, CancellationToken.None).ConfigureAwait(false);
        }
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        _dataStore?.Dispose();
        _service.Dispose();
        _session.Dispose();
        try
        {
            Directory.Delete(_work, recursive: true);
        }
        catch (DirectoryNotFoundException)
        {
        }
    }

    private CloudRunPlan Bind(RunPlan plan, string? account)
    {
        try
        {
            return ProcessingJobBinder.Bind(plan, _session.Region, account, _source!);
        }
        catch (RlabsConfigException ex)
        {
            throw new RlabsRunException(ex.Message, "CloudRunInvalid", RlabsRunErrorKind.InvalidArgument, plan.Pipeline.Path, ex);
        }
    }

    private async Task LearnAccountAsync(RunPlan plan, CancellationToken cancellationToken)
    {
        if (_account is null && ProcessingJobBinder.NeedsAccount(plan.Request))
        {
            _account = await _service.GetAccountAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// A retry is a new job: SageMaker job names are unique, so the step gets a fresh attempt suffix
    /// (&lt;project&gt;-&lt;job_id&gt;-&lt;job_suffix&gt;-&lt;attempt&gt;), recorded in the manifest before the job is created.
    /// </summary>
    private sealed class RetryingRunner : IStepRunner
    {
        private readonly SageMakerRuntime _runtime;
        private readonly IStepRunner _inner;

        public RetryingRunner(SageMakerRuntime runtime, IStepRunner inner)
        {
            _runtime = runtime;
            _inner = inner;
        }

        public string RuntimeName => _inner.RuntimeName;

        public Task<StepOutcome> RunStepAsync(int index, RlabsPipelineStepRun stepRun, IRunReporter reporter, CancellationToken cancellationToken) =>
            _inner.RunStepAsync(index, stepRun, reporter, cancellationToken);

        public async Task PrepareRetryAsync(int index, int attempt, RlabsPipelineStepRun stepRun, CancellationToken cancellationToken)
        {
            var manifest = _runtime._manifest!;
            var step = manifest.Steps[index];
            var planned = _runtime.Bound.Steps[index];
            var name = ProjectNaming.JobName(manifest.ProjectName, manifest.JobId, planned.Step.JobSuffix, Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(2)));
            step.Request = CloudRunService.WithName(step.Request, name);
            step.Started = false;
            stepRun.JobName = name;
            await _runtime._service.SaveAsync(manifest, cancellationToken).ConfigureAwait(false);
        }
    }
}
