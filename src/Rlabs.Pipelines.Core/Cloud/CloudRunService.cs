using System.Globalization;
using Rlabs.Pipelines.Aws;
using Rlabs.Pipelines.Planning;
using Rlabs.Pipelines.Running;

namespace Rlabs.Pipelines.Cloud;

/// <summary>Cloud runs end to end: upload, start, wait, look up, stop. One instance per AWS session.</summary>
public sealed class CloudRunService : IDisposable
{
    private readonly AwsSession _session;
    private readonly S3Storage _store;

    /// <summary>Creates the service over a resolved session.</summary>
    public CloudRunService(AwsSession session)
    {
        _session = session;
        _store = new S3Storage(session);
        SageMaker = new SageMakerClient(session);
        Logs = new CloudWatchLogsClient(session);
    }

    internal SageMakerClient SageMaker { get; }

    internal CloudWatchLogsClient Logs { get; }

    /// <summary>
    /// How long a job may go unobserved (every Describe failing with throttling, 5xx or timeouts) before the run
    /// gives up on watching it: the session's throttling budget, 15 minutes by default.
    /// </summary>
    internal TimeSpan ObservationBudget => _session.Options.ThrottlingBudget;

    /// <summary>Bytes of artifacts uploaded by this service so far (run files such as the manifest not counted).</summary>
    public long UploadedBytes { get; private set; }

    /// <inheritdoc/>
    public void Dispose() => _store.Dispose();

    /// <summary>Marks the default bucket (chosen by the module for <paramref name="accountId"/>) before reading a run from it.</summary>
    public void ExpectBucketOwner(string bucket, string accountId) => _store.ExpectOwner(bucket, accountId);

    /// <summary>The caller's account (STS), needed for the default bucket name.</summary>
    public async Task<string> GetAccountAsync(CancellationToken cancellationToken) =>
        (await _session.GetCallerIdentityAsync(cancellationToken).ConfigureAwait(false)).Account;

    /// <summary>Whether a step's input exists: the object itself for a zip, else anything under the folder.</summary>
    public async Task<bool> DataExistsAsync(string bucket, string key, bool isFile, CancellationToken cancellationToken) =>
        isFile
            ? await _store.ObjectExistsAsync(bucket, key, cancellationToken).ConfigureAwait(false)
            : await _store.AnyObjectAsync(bucket, key.TrimEnd('/') + "/", cancellationToken).ConfigureAwait(false);

    /// <summary>Bucket, artifacts (each uploaded once), credentials and manifest: everything before the first job.</summary>
    public async Task<CloudRunManifest> PrepareAsync(CloudRunPlan plan, IRunReporter reporter, CancellationToken cancellationToken)
    {
        var kms = plan.Request.Pipeline.Defaults.KmsKeyId;
        foreach (var secret in plan.Source.SkippedSecrets)
        {
            reporter.Warning($"Left '{secret}' out of the source zip: it looks like a key or credentials file (list it under 'package_secrets:' to pack it).");
        }
        foreach (var link in plan.Source.SkippedLinks)
        {
            reporter.Warning($"Left the link '{link}' out of the source zip: it points outside the repository (or nowhere).");
        }
        if (plan.BucketOwner is { } owner)
        {
            _store.ExpectOwner(plan.Bucket, owner);
        }
        if (await _store.EnsureBucketAsync(plan.Bucket, kms, cancellationToken).ConfigureAwait(false))
        {
            reporter.Verbose($"Created bucket {plan.Bucket} (public access blocked, default encryption on).");
        }
        foreach (var artifact in plan.Artifacts)
        {
            // Keys carry the content hash, but anyone who can write the bucket can put other bytes there: an
            // existing object is reused only when the checksum S3 keeps for it matches the local file.
            var matches = await _store.ObjectMatchesAsync(plan.Bucket, artifact.Key, artifact.LocalPath, cancellationToken).ConfigureAwait(false);
            if (matches == true)
            {
                reporter.Verbose($"Unchanged, not uploaded: s3://{plan.Bucket}/{artifact.Key}");
                continue;
            }
            if (matches == false)
            {
                reporter.Verbose($"s3://{plan.Bucket}/{artifact.Key} exists but its SHA-256 checksum does not match the local file (or it has none): uploading it again.");
            }
            await _store.UploadFileAsync(plan.Bucket, artifact.Key, artifact.LocalPath, kms, cancellationToken).ConfigureAwait(false);
            var sent = new FileInfo(artifact.LocalPath).Length;
            UploadedBytes += sent;
            reporter.Verbose(string.Create(CultureInfo.InvariantCulture, $"Uploaded {sent:N0} bytes to s3://{plan.Bucket}/{artifact.Key}"));
        }
        if (plan.CredentialsKey is not null)
        {
            // A run nobody waits for (-NoWait, a closed laptop) must not keep its credentials copy for ever: S3
            // deletes objects with this tag once the run cannot need them any more.
            var days = plan.CredentialsExpiryDays;
            var tag = new KeyValuePair<string, string>(CloudRunPlan.CredentialsExpiryTagKey, CloudRunPlan.CredentialsExpiryTagValue(days));
            try
            {
                if (await _store.EnsureTagExpiryRuleAsync(plan.Bucket, CloudRunPlan.CredentialsExpiryRuleId(days), tag, days, cancellationToken).ConfigureAwait(false))
                {
                    reporter.Verbose($"Added the lifecycle rule '{CloudRunPlan.CredentialsExpiryRuleId(days)}' to bucket {plan.Bucket}: objects tagged {tag.Key}={tag.Value} expire after {days} days (the bucket's other rules kept).");
                }
            }
            catch (AwsServiceException ex) when (ex.Kind is AwsErrorKind.AccessDenied or AwsErrorKind.Validation
                || ex.StatusCode is System.Net.HttpStatusCode.NotImplemented or System.Net.HttpStatusCode.MethodNotAllowed)
            {
                reporter.Warning($"Could not add the lifecycle rule that expires run credentials to bucket {plan.Bucket} ({ex.ErrorCode}: {ex.Message}). The credentials copy of this run is deleted when the run is waited for or stopped (Wait-RlabsPipelineRun, Stop-RlabsPipelineRun); grant s3:GetLifecycleConfiguration and s3:PutLifecycleConfiguration on the bucket to have S3 delete it otherwise.");
            }
            await _store.PutTextAsync(plan.Bucket, plan.CredentialsKey, plan.Request.Credentials!.StrippedYaml, kms, tag, cancellationToken).ConfigureAwait(false);
            reporter.Verbose($"Credentials without AWS keys stored encrypted at s3://{plan.Bucket}/{plan.CredentialsKey}");
        }
        var manifest = new CloudRunManifest
        {
            JobId = plan.Request.JobId,
            ProjectName = plan.Request.Pipeline.ProjectName,
            PipelineName = plan.Request.Pipeline.Name,
            PipelinePath = plan.Request.Pipeline.Path,
            RepositoryPath = plan.Request.Pipeline.RepositoryPath,
            Bucket = plan.Bucket,
            BucketOwner = plan.BucketOwner,
            KmsKeyId = kms,
            Region = plan.Region,
            CredentialsKey = plan.CredentialsKey,
            InstanceType = plan.Request.InstanceType ?? plan.Steps[0].Request.ProcessingResources.ClusterConfig.InstanceType,
            Steps = plan.Steps.Select(s => new CloudManifestStep { Name = s.Step.Name, Request = s.Request, InputUri = s.InputUri, OutputUri = s.OutputUri }).ToList(),
        };
        await SaveAsync(manifest, cancellationToken).ConfigureAwait(false);
        return manifest;
    }

    /// <summary>Drives a started run (e.g. after -NoWait) to its end: waits for running jobs, starts the rest.</summary>
    public async Task<RlabsPipelineRun> WaitAsync(CloudRunManifest manifest, RlabsPipelineRun run, IRunReporter reporter, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(manifest);
        if (manifest.IsEngineRun)
        {
            // SageMaker Pipelines drives it: waiting only follows, and Ctrl-C leaves it running.
            return await SageMakerPipelinesEngine.FollowAsync(this, manifest, run, reporter, stopOnCancel: false, cancellationToken).ConfigureAwait(false);
        }
        foreach (var step in run.Steps.Where(s => s.Status == RlabsRunStatus.Running))
        {
            step.Status = RlabsRunStatus.Pending; // the runner re-attaches to the started job instead of creating it
        }
        if (run.Status is not (RlabsRunStatus.Failed or RlabsRunStatus.Stopped or RlabsRunStatus.Completed))
        {
            await PipelineExecutor.RunAsync(run, StepRunner(manifest, stopOnCancel: false), reporter, cancellationToken).ConfigureAwait(false);
        }
        // Ctrl-C here only stops waiting: the job goes on and may still need the credentials.
        if (!cancellationToken.IsCancellationRequested && run.Status is RlabsRunStatus.Completed or RlabsRunStatus.Failed or RlabsRunStatus.Stopped)
        {
            await CleanupAsync(manifest, CancellationToken.None).ConfigureAwait(false);
        }
        return run;
    }

    /// <summary>-Resume: marks steps done whose completed job had the same inputs hash, up to the first that differs.</summary>
    public async Task ApplyResumeAsync(CloudRunManifest manifest, RlabsPipelineRun run, IRunReporter reporter, CancellationToken cancellationToken)
    {
        var completed = new Dictionary<string, DescribeProcessingJobResponse>(StringComparer.Ordinal);
        await foreach (var summary in SageMaker.ListAllProcessingJobsAsync(new ListProcessingJobsRequest { NameContains = manifest.JobId, StatusEquals = "Completed", SortBy = "CreationTime", SortOrder = "Descending" }, cancellationToken).ConfigureAwait(false))
        {
            var job = await SageMaker.DescribeProcessingJobAsync(summary.ProcessingJobName, cancellationToken).ConfigureAwait(false);
            if (job.Environment is { } env && env.GetValueOrDefault(StepContract.JobIdVariable) == manifest.JobId
                && env.GetValueOrDefault(StepContract.PipelineVariable) == manifest.PipelineName
                && env.TryGetValue(CloudNaming.InputsHashVariable, out var hash))
            {
                completed.TryAdd(hash, job);
            }
        }
        for (var index = 0; index < manifest.Steps.Count; index++)
        {
            var step = manifest.Steps[index];
            if (!completed.TryGetValue(step.Request.Environment![CloudNaming.InputsHashVariable], out var done))
            {
                reporter.Verbose($"-Resume: step '{step.Name}' and the steps after it run again (no completed job with the same inputs).");
                break;
            }
            step.Request = WithName(step.Request, done.ProcessingJobName);
            step.Started = true;
            var stepRun = run.Steps[index];
            stepRun.JobName = done.ProcessingJobName;
            stepRun.Status = RlabsRunStatus.Completed;
            stepRun.StartTime = done.ProcessingStartTime;
            stepRun.EndTime = done.ProcessingEndTime;
            stepRun.FailureReason = null;
            reporter.Verbose($"-Resume: step '{step.Name}' already completed as {done.ProcessingJobName} with the same inputs; skipped.");
        }
        await SaveAsync(manifest, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>A run object for a manifest, every step Pending.</summary>
    public static RlabsPipelineRun NewRun(CloudRunManifest manifest, RlabsPipeline? pipeline)
    {
        var steps = manifest.Steps.Select(s => new RlabsPipelineStepRun(manifest.JobId, s.Name, s.Request.ProcessingJobName, "SageMaker")
        {
            InputLocation = s.InputUri,
            OutputLocation = s.OutputUri,
            Command = (s.Request.AppSpecification.ContainerEntrypoint ?? []).Concat(s.Request.AppSpecification.ContainerArguments ?? []).ToList(),
        }).ToList();
        return new RlabsPipelineRun(manifest.JobId, manifest.PipelineName, manifest.PipelinePath, manifest.RepositoryPath, manifest.ProjectName, manifest.InstanceType, manifest.DataRoot, steps)
        {
            Bucket = manifest.Bucket,
            Region = manifest.Region,
        };
    }

    /// <summary>The step runner that drives jobs; Ctrl-C stops the running job when <paramref name="stopOnCancel"/>.</summary>
    public IStepRunner StepRunner(CloudRunManifest manifest, bool stopOnCancel) => new SageMakerStepRunner(this, manifest, stopOnCancel);

    /// <summary>-NoWait: starts the first step that has not run and returns.</summary>
    public async Task StartNextAsync(CloudRunManifest manifest, RlabsPipelineRun run, IRunReporter reporter, CancellationToken cancellationToken)
    {
        var index = run.Steps.ToList().FindIndex(s => s.Status == RlabsRunStatus.Pending);
        if (index < 0)
        {
            run.Status = RlabsRunStatus.Completed;
            return;
        }
        await StartStepAsync(manifest, index, reporter, cancellationToken).ConfigureAwait(false);
        run.Steps[index].Status = RlabsRunStatus.Running;
        run.Steps[index].StartTime = DateTimeOffset.Now;
        run.Status = RlabsRunStatus.Running;
        run.StartTime ??= DateTimeOffset.Now;
    }

    internal async Task StartStepAsync(CloudRunManifest manifest, int index, IRunReporter reporter, CancellationToken cancellationToken)
    {
        var step = manifest.Steps[index];
        await SageMaker.CreateProcessingJobAsync(step.Request, cancellationToken).ConfigureAwait(false);
        step.Started = true;
        reporter.Verbose($"[{step.Name}] created processing job {step.Request.ProcessingJobName}");
        await SaveAsync(manifest, CancellationToken.None).ConfigureAwait(false);
    }

    /// <summary>Sends StopProcessingJob, even when the caller's token is already cancelled (that is when it matters).</summary>
    internal async Task StopJobAsync(string jobName, IRunReporter reporter)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        try
        {
            await SageMaker.StopProcessingJobAsync(jobName, timeout.Token).ConfigureAwait(false);
            reporter.Verbose($"Sent StopProcessingJob for {jobName}.");
        }
        catch (AwsServiceException ex) when (ex.Kind is AwsErrorKind.Validation or AwsErrorKind.NotFound)
        {
            // Already finished, or never created: nothing left to stop.
        }
    }

    /// <summary>A run's manifest alone (no job is described), or null when there is none.</summary>
    internal async Task<CloudRunManifest?> ReadManifestAsync(string bucket, string projectName, string jobId, CancellationToken cancellationToken)
    {
        var json = await _store.TryGetTextAsync(bucket, CloudNaming.ManifestKey(CloudNaming.ProjectPrefix(projectName), jobId), cancellationToken).ConfigureAwait(false);
        return json is null ? null : CloudRunManifest.FromJson(json);
    }

    /// <summary>Reads a run back: its manifest, then the state of each started job.</summary>
    public async Task<(CloudRunManifest Manifest, RlabsPipelineRun Run)?> GetAsync(string bucket, string projectName, string jobId, CancellationToken cancellationToken)
    {
        var json = await _store.TryGetTextAsync(bucket, CloudNaming.ManifestKey(CloudNaming.ProjectPrefix(projectName), jobId), cancellationToken).ConfigureAwait(false);
        if (json is null)
        {
            return null;
        }
        var manifest = CloudRunManifest.FromJson(json);
        if (manifest.BucketOwner is { } owner && manifest.Bucket == bucket)
        {
            _store.ExpectOwner(bucket, owner);
        }
        if (manifest.IsEngineRun)
        {
            return (manifest, await SageMakerPipelinesEngine.ReadAsync(this, manifest, cancellationToken).ConfigureAwait(false));
        }
        var run = NewRun(manifest, null);
        RlabsPipelineStepRun? blocking = null;
        for (var index = 0; index < manifest.Steps.Count; index++)
        {
            var step = manifest.Steps[index];
            var stepRun = run.Steps[index];
            if (!step.Started)
            {
                stepRun.Status = blocking is null ? RlabsRunStatus.Pending : RlabsRunStatus.Skipped;
                continue;
            }
            var job = await SageMaker.DescribeProcessingJobAsync(step.Request.ProcessingJobName, cancellationToken).ConfigureAwait(false);
            stepRun.StartTime = job.ProcessingStartTime ?? job.CreationTime;
            stepRun.EndTime = job.ProcessingEndTime;
            stepRun.Status = job.ProcessingJobStatus switch
            {
                "Completed" => RlabsRunStatus.Completed,
                "Failed" => RlabsRunStatus.Failed,
                "Stopped" => RlabsRunStatus.Stopped,
                _ => RlabsRunStatus.Running,
            };
            stepRun.FailureReason = job.FailureReason;
            if (stepRun.Status is RlabsRunStatus.Failed or RlabsRunStatus.Stopped)
            {
                blocking ??= stepRun;
            }
        }
        run.StartTime = run.Steps.Select(s => s.StartTime).FirstOrDefault(t => t is not null);
        run.Status = blocking?.Status
            ?? (manifest.Stopped ? RlabsRunStatus.Stopped
            : run.Steps.All(s => s.Status == RlabsRunStatus.Completed) ? RlabsRunStatus.Completed
            : run.Steps.Any(s => s.Status == RlabsRunStatus.Running) || run.Steps.Any(s => s.Status == RlabsRunStatus.Completed) ? RlabsRunStatus.Running
            : RlabsRunStatus.Pending);
        if (run.Status is RlabsRunStatus.Completed or RlabsRunStatus.Failed or RlabsRunStatus.Stopped)
        {
            run.EndTime = run.Steps.Select(s => s.EndTime).LastOrDefault(t => t is not null);
        }
        return (manifest, run);
    }

    /// <summary>Stops the run's running jobs and marks it so no later step starts.</summary>
    public async Task StopAsync(CloudRunManifest manifest, RlabsPipelineRun run, IRunReporter reporter, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(manifest);
        if (manifest.IsEngineRun)
        {
            await SageMakerPipelinesEngine.StopAsync(this, manifest, run, reporter, cancellationToken).ConfigureAwait(false);
            return;
        }
        if (run.Status is RlabsRunStatus.Completed or RlabsRunStatus.Failed or RlabsRunStatus.Stopped)
        {
            reporter.Verbose($"Run {run.JobId} already ended ({run.Status}); nothing to stop.");
            return;
        }
        manifest.Stopped = true;
        await SaveAsync(manifest, cancellationToken).ConfigureAwait(false);
        foreach (var step in run.Steps.Where(s => s.Status == RlabsRunStatus.Running))
        {
            await StopJobAsync(step.JobName, reporter).ConfigureAwait(false);
            step.Status = RlabsRunStatus.Stopped;
        }
        foreach (var step in run.Steps.Where(s => s.Status == RlabsRunStatus.Pending))
        {
            step.Status = RlabsRunStatus.Skipped;
            step.FailureReason = "Not run because the run was stopped.";
        }
        run.Status = RlabsRunStatus.Stopped;
        run.EndTime = DateTimeOffset.Now;
        await CleanupAsync(manifest, CancellationToken.None).ConfigureAwait(false);
    }

    /// <summary>Whether someone stopped the run since this manifest was read (another session's Stop).</summary>
    internal async Task<bool> WasStoppedAsync(CloudRunManifest manifest, CancellationToken cancellationToken)
    {
        var json = await _store.TryGetTextAsync(manifest.Bucket, CloudNaming.ManifestKey(CloudNaming.ProjectPrefix(manifest.ProjectName), manifest.JobId), cancellationToken).ConfigureAwait(false);
        return json is not null && CloudRunManifest.FromJson(json).Stopped;
    }

    /// <summary>Deletes the credentials copy once no step needs it any more.</summary>
    public async Task CleanupAsync(CloudRunManifest manifest, CancellationToken cancellationToken)
    {
        if (manifest.CredentialsKey is not null)
        {
            await _store.DeleteObjectsAsync(manifest.Bucket, [manifest.CredentialsKey], cancellationToken).ConfigureAwait(false);
        }
    }

    internal Task SaveAsync(CloudRunManifest manifest, CancellationToken cancellationToken) =>
        _store.PutTextAsync(manifest.Bucket, CloudNaming.ManifestKey(CloudNaming.ProjectPrefix(manifest.ProjectName), manifest.JobId), manifest.ToJson(), manifest.KmsKeyId, cancellationToken);

    private static CreateProcessingJobRequest WithName(CreateProcessingJobRequest request, string name) => new()
    {
        ProcessingJobName = name,
        ProcessingInputs = request.ProcessingInputs,
        ProcessingOutputConfig = request.ProcessingOutputConfig,
        ProcessingResources = request.ProcessingResources,
        StoppingCondition = request.StoppingCondition,
        AppSpecification = request.AppSpecification,
        Environment = request.Environment,
        RoleArn = request.RoleArn,
        Tags = request.Tags,
        NetworkConfig = request.NetworkConfig,
    };
}
