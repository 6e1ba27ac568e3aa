using Rlabs.Pipelines.Aws;
using Rlabs.Pipelines.Packaging;
using Rlabs.Pipelines.Planning;
using Rlabs.Pipelines.Running;

namespace Rlabs.Pipelines.Cloud;

/// <summary>
/// The SageMaker Pipelines runtime: the run is compiled into a SageMaker pipeline
/// (<see cref="PipelineDefinitionCompiler"/>) and SageMaker drives its steps server-side, so the run finishes
/// whether or not the process that started it lives on. Preparation uploads what the client-driven runtime
/// uploads (the same <see cref="ProcessingJobBinder"/>), upserts the pipeline and starts the execution; the
/// run is always started without waiting (<see cref="RunEngine"/> returns at once) and
/// <see cref="FollowAsync"/> follows it when the caller waits.
/// </summary>
public sealed class SageMakerPipelinesRuntime : IPipelineRuntime
{
    private readonly AwsSession _session;
    private readonly CloudRunService _service;
    private readonly string _work = Path.Combine(Path.GetTempPath(), "rlabs-" + Guid.NewGuid().ToString("N"));
    private SourcePackage? _source;
    private CloudRunPlan? _bound;
    private CompiledPipelineDefinition? _compiled;
    private string? _account;
    private CloudRunManifest? _manifest;
    private BucketDataStore? _dataStore;

    /// <summary>Creates the runtime over a resolved session, which it owns from now on.</summary>
    public SageMakerPipelinesRuntime(AwsSession session)
    {
        ArgumentNullException.ThrowIfNull(session);
        _session = session;
        _service = new CloudRunService(session);
    }

    /// <inheritdoc/>
    public string Name => SageMakerPipelinesEngine.Name;

    /// <inheritdoc/>
    public string? Region => _session.Region;

    /// <summary>Where the credentials came from, for -WhatIf.</summary>
    public string CredentialSource => _session.CredentialSource;

    /// <summary>The compiled definition (after <see cref="Validate"/>; final once prepared).</summary>
    public CompiledPipelineDefinition Definition => _compiled ?? throw new InvalidOperationException("The runtime has no plan yet.");

    /// <summary>The run's manifest once prepared.</summary>
    public CloudRunManifest Manifest => _manifest ?? throw new InvalidOperationException("The run is not prepared.");

    /// <inheritdoc/>
    public IStepDataStore? DataStore => _dataStore ??= new BucketDataStore(_session, plan => ProcessingJobBinder.Bucket(plan.Request, _session.Region, _account), () => _account);

    /// <inheritdoc/>
    public bool SelectsSteps => true;

    /// <inheritdoc/>
    public async Task<IReadOnlyList<string>?> DescribeSelectionAsync(RunPlan plan, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(plan);
        // Without -Bucket the default bucket is named after the account, which -WhatIf does not ask STS for: reading
        // an index under a placeholder name would report every step a certain miss.
        var unknown = ProcessingJobBinder.NeedsAccount(plan.Request) && _account is null
            ? "the default bucket is named after the account, which -WhatIf does not look up; give -Bucket to see hits and misses"
            : null;
        return await EngineStepSelection.DescribeAsync(plan, Definition, CacheOf(plan), unknown, cancellationToken).ConfigureAwait(false);
    }

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
    public IStepRunner StepRunner => throw new InvalidOperationException("SageMaker Pipelines runs its steps itself: plan the run with NoWait and follow it with FollowAsync.");

    /// <inheritdoc/>
    public void Validate(RunPlan plan)
    {
        ArgumentNullException.ThrowIfNull(plan);
        _source ??= ProcessingJobBinder.Package(plan.Request, _work, CancellationToken.None);
        (_bound, _compiled) = Bind(plan, null);
    }

    /// <inheritdoc/>
    public IEnumerable<string> Describe(RunPlan plan)
    {
        ArgumentNullException.ThrowIfNull(plan);
        var bound = _bound ?? throw new InvalidOperationException("The runtime has no plan yet.");
        var compiled = Definition;
        var request = plan.Request;
        yield return $"AWS credentials from the {CredentialSource}";
        yield return $"Pipeline {plan.Pipeline.Path} ({bound.Steps.Count} steps) on SageMaker Pipelines in {bound.Region}, job id {request.JobId}, project {plan.Pipeline.ProjectName}";
        yield return $"SageMaker pipeline {compiled.PipelineName}: definition sha256 {compiled.Hash[..12]}, {compiled.Steps.Count} Processing steps, parameter {PipelineDefinitionCompiler.JobIdParameter}={request.JobId}";
        foreach (var (step, index) in compiled.Steps.Select((s, i) => (s, i)))
        {
            var job = bound.Steps[index].Request;
            var cluster = job.ProcessingResources.ClusterConfig;
            var after = step.DependsOn.Count == 0 ? "first" : "after " + string.Join(", ", step.DependsOn);
            yield return $"  step {step.DefinitionName} ({after}): image {job.AppSpecification.ImageUri}, {cluster.InstanceCount} x {cluster.InstanceType}, input {bound.Steps[index].InputUri ?? "(none)"} -> output {bound.Steps[index].OutputUri}";
            yield return "    " + CommandLine.Format((job.AppSpecification.ContainerEntrypoint ?? []).Concat(job.AppSpecification.ContainerArguments ?? []));
        }
        if (!bound.BucketKnown)
        {
            yield return "sts:GetCallerIdentity (to name the default bucket)";
        }
        yield return $"s3:HeadBucket {bound.Bucket} (created with public access blocked and default encryption when missing)";
        foreach (var artifact in bound.Artifacts)
        {
            yield return $"s3:PutObject s3://{bound.Bucket}/{artifact.Key} from {artifact.LocalPath} (skipped when already there)";
        }
        if (bound.CredentialsKey is not null)
        {
            yield return $"s3:PutObject s3://{bound.Bucket}/{bound.CredentialsKey} (credentials without AWS keys, encrypted at rest; an S3 input of the steps, never in the definition)";
        }
        yield return $"s3:PutObject s3://{bound.Bucket}/{bound.ManifestKey} (run manifest: engine and execution ARN)";
        if (request.Cloud.Resume)
        {
            yield return $"sagemaker:DescribePipelineExecution of run {request.JobId}, then, when it failed or was stopped: sagemaker:RetryPipelineExecution while its definition is this one (sha256 {compiled.Hash[..12]}); once the pipeline file changed, sagemaker:UpdatePipeline and one sagemaker:StartPipelineExecution selective execution from it (SelectiveExecutionConfig.SourcePipelineExecutionArn) of the steps that did not succeed and those after them";
        }
        else
        {
            yield return $"sagemaker:DescribePipeline {compiled.PipelineName}, then sagemaker:CreatePipeline or sagemaker:UpdatePipeline (only when the definition hash differs) with role {bound.Steps[0].Request.RoleArn} (it must trust sagemaker.amazonaws.com)";
            yield return $"sagemaker:StartPipelineExecution {compiled.PipelineName} JobId={request.JobId} (ClientRequestToken {SageMakerPipelinesEngine.StartToken(compiled.PipelineName, request.JobId)}: a retried start starts nothing twice)";
        }
        yield return "sagemaker:DescribePipelineExecution and sagemaker:ListPipelineExecutionSteps (polled while following; -NoWait returns at once), logs:GetLogEvents /aws/sagemaker/ProcessingJobs for each step's job";
    }

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
            return dryRun ? null : true;
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
        _session.RetryReported ??= reporter.Verbose;
        await LearnAccountAsync(plan, cancellationToken).ConfigureAwait(false);
        _source ??= ProcessingJobBinder.Package(plan.Request, _work, cancellationToken);
        (_bound, _compiled) = Bind(plan, _account);
        var request = plan.Request;

        CloudRunManifest? previous = null;
        ResumeDecision? decision = null;
        if (request.Cloud.Resume)
        {
            if (_bound.BucketOwner is { } owner)
            {
                _service.ExpectBucketOwner(_bound.Bucket, owner);
            }
            previous = await _service.ReadManifestAsync(_bound.Bucket, plan.Pipeline.ProjectName, request.JobId, cancellationToken).ConfigureAwait(false);
            if (previous is { IsEngineRun: false })
            {
                throw new RlabsRunException($"Run {request.JobId} was driven by the client, not SageMaker Pipelines; resume it with -Engine Client.", "ResumeEngineMismatch", RlabsRunErrorKind.InvalidArgument, request.JobId);
            }
            if (previous?.SageMakerPipelineName is not null)
            {
                decision = await DecideResumeAsync(plan, previous, cancellationToken).ConfigureAwait(false);
            }
        }

        // Artifacts and the credentials copy (again, for a resumed run: the first run's end deleted it).
        _manifest = await _service.PrepareAsync(_bound, reporter, cancellationToken).ConfigureAwait(false);
        _manifest.Engine = Name;
        _manifest.SageMakerPipelineName = _compiled.PipelineName;
        for (var index = 0; index < _manifest.Steps.Count; index++)
        {
            _manifest.Steps[index].DefinitionStepName = _compiled.Steps[index].DefinitionName;
        }

        var resumed = previous?.SageMakerPipelineName is not null && await ResumeAsync(plan, previous, decision!, reporter, cancellationToken).ConfigureAwait(false);
        if (!resumed)
        {
            // Nothing to resume (no execution was ever started): a new start decides every step afresh.
            _manifest.PipelineExecutionArn = null;
            foreach (var step in _manifest.Steps)
            {
                step.CachedFrom = null;
                step.CachedBecause = null;
                step.Cache = null;
            }
        }
        if (!resumed)
        {
            // Recorded before the start, so a reader finds the execution by the job id even if this process dies
            // between the start and the next write.
            _manifest.SageMakerPipelineName = _compiled.PipelineName;
            await _service.SaveAsync(_manifest, cancellationToken).ConfigureAwait(false);
            await SageMakerPipelinesEngine.UpsertAsync(_service.SageMaker, _compiled, _bound.Steps[0].Request.RoleArn, Tags(plan), reporter, cancellationToken).ConfigureAwait(false);
            await StartSelectedAsync(plan, reporter, cancellationToken).ConfigureAwait(false);
        }
        var run = SageMakerPipelinesEngine.NewRun(_manifest);
        run.UploadedBytes = _service.UploadedBytes;
        return run;
    }

    /// <inheritdoc/>
    public async Task<bool> StartWithoutWaitingAsync(RunPlan plan, RlabsPipelineRun run, IRunReporter reporter, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(run);
        SageMakerPipelinesEngine.ApplyStart(Manifest, run);
        if (run.Status == RlabsRunStatus.Completed)
        {
            // Every step was a cache hit (or outside the slice): nothing runs that needs the credentials copy.
            await _service.CleanupAsync(Manifest, CancellationToken.None).ConfigureAwait(false);
        }
        return true;
    }

    /// <summary>
    /// Follows the started execution to its end (Ctrl-C stops it); the cache keys of the steps it ran are recorded
    /// as they are seen to succeed (<see cref="EngineCacheRecorder"/>), as Wait- and Get-RlabsPipelineRun do.
    /// </summary>
    public Task<RlabsPipelineRun> FollowAsync(RunPlan plan, RlabsPipelineRun run, IRunReporter reporter, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(plan);
        ArgumentNullException.ThrowIfNull(run);
        return SageMakerPipelinesEngine.FollowAsync(_service, Manifest, run, reporter, stopOnCancel: true, cancellationToken);
    }

    private static List<AwsTag> Tags(RunPlan plan) =>
    [
        new() { Key = "rlabs:project", Value = plan.Pipeline.ProjectName },
        new() { Key = "rlabs:pipeline", Value = plan.Pipeline.Name },
    ];

    /// <summary>What a -Resume of an engine run does, decided (and refused) before anything is written.</summary>
    private sealed record ResumeDecision(bool Changed, string? Source, string? Status, List<int> Selected, List<string> Needed);

    /// <summary>
    /// -Resume of an engine run. While the pipeline file compiles to the definition the execution ran,
    /// RetryPipelineExecution reruns its failed and stopped steps under the same ARN. Once the definition changed,
    /// a retry would mix the two, so a selective execution of the new definition starts from the failed one: the
    /// steps that did not succeed and every step after them run, the rest keep their results. Refused here, before
    /// the manifest is touched, when the file moved (ResumePipelineMoved) or the execution cannot be the source
    /// (ResumeSourceMissing).
    /// </summary>
    private async Task<ResumeDecision> DecideResumeAsync(RunPlan plan, CloudRunManifest previous, CancellationToken cancellationToken)
    {
        var compiled = Definition;
        var previousPipeline = previous.SageMakerPipelineName!;
        // A manifest from before definition hashes were recorded resumes as it always did: by retrying.
        var changed = previous.DefinitionHash is { } before && before != compiled.Hash;
        if (!changed)
        {
            return new ResumeDecision(false, previous.PipelineExecutionArn, null, [], []);
        }
        if (previousPipeline != compiled.PipelineName)
        {
            throw new RlabsRunException($"Run {plan.JobId} ran SageMaker pipeline {previousPipeline} from {previous.PipelinePath}; {plan.Pipeline.Path} compiles to {compiled.PipelineName} with another definition: the pipeline file moved or was renamed since. Resume it from {previous.PipelinePath}, or start a new job id.",
                "ResumePipelineMoved", RlabsRunErrorKind.InvalidArgument, plan.Pipeline.Path);
        }
        if (previous.PipelineExecutionArn is not { } source)
        {
            return new ResumeDecision(true, null, null, [], []);
        }
        var (status, succeeded) = await SageMakerPipelinesEngine.ResumeSourceAsync(_service, previous, source, cancellationToken).ConfigureAwait(false);
        if (status is not ("Failed" or "Stopped"))
        {
            return new ResumeDecision(true, source, status, [], []);
        }
        // Steps the run kept from an earlier resume count as succeeded: their output under this job id stands.
        var kept = new HashSet<string>(succeeded, StringComparer.Ordinal);
        kept.UnionWith(previous.Steps.Where(s => s.CachedFrom is not null).Select(s => s.DefinitionStepName ?? s.Name));
        var selected = EngineStepSelection.ResumeSelection(compiled, kept);
        // SageMaker takes the results of the steps left out that a selected step reads from the source execution.
        var needed = EngineStepSelection.NeededUpstream(compiled, selected);
        if (needed.Count > 0 && (status != "Failed" || !needed.All(succeeded.Contains)))
        {
            throw new RlabsRunException($"Run {plan.JobId} cannot be resumed: its pipeline changed since execution {source} ran, so the resume is a selective execution from it, and SageMaker takes only a Failed or Succeeded execution in which the steps left out succeeded as the source (this one is {status}). Resume without changing the pipeline file (RetryPipelineExecution), or rerun under a new job id with -FromStep {compiled.Steps[selected[0]].StepName} -ReferenceJobId {plan.JobId}.",
                "ResumeSourceMissing", RlabsRunErrorKind.InvalidArgument, source);
        }
        return new ResumeDecision(true, source, status, selected, needed);
    }

    /// <summary>Carries the run over from its manifest and retries or resumes it as decided; false when it never started an execution (it starts as a new run).</summary>
    private async Task<bool> ResumeAsync(RunPlan plan, CloudRunManifest previous, ResumeDecision decision, IRunReporter reporter, CancellationToken cancellationToken)
    {
        var manifest = Manifest;
        var compiled = Definition;
        manifest.SageMakerPipelineName = previous.SageMakerPipelineName;
        manifest.PipelineExecutionArn = previous.PipelineExecutionArn;
        manifest.DefinitionHash = previous.DefinitionHash;
        manifest.ResumeAttempt = previous.ResumeAttempt;
        for (var index = 0; index < manifest.Steps.Count && index < previous.Steps.Count; index++)
        {
            manifest.Steps[index].CachedFrom = previous.Steps[index].CachedFrom;
            manifest.Steps[index].CachedBecause = previous.Steps[index].CachedBecause;
            manifest.Steps[index].Cache = previous.Steps[index].Cache;
        }
        if (!decision.Changed)
        {
            await _service.SaveAsync(manifest, cancellationToken).ConfigureAwait(false);
            var retried = await SageMakerPipelinesEngine.RetryAsync(_service, manifest, reporter, cancellationToken).ConfigureAwait(false);
            await _service.SaveAsync(manifest, CancellationToken.None).ConfigureAwait(false);
            return retried;
        }
        if (decision.Source is not { } source)
        {
            return false;
        }
        if (decision.Selected.Count == 0)
        {
            reporter.Verbose($"-Resume: execution {source} is {decision.Status}; nothing to resume.");
            await _service.SaveAsync(manifest, cancellationToken).ConfigureAwait(false);
            return true;
        }

        var names = decision.Selected.Select(i => compiled.Steps[i].DefinitionName).ToList();
        reporter.Warning($"-Resume: the pipeline changed since execution {source} ran; steps {string.Join(", ", names)} run again with the new definition as a selective execution, the others keep the results they had.");
        await SageMakerPipelinesEngine.UpsertAsync(_service.SageMaker, compiled, _bound!.Steps[0].Request.RoleArn, Tags(plan), reporter, cancellationToken).ConfigureAwait(false);
        for (var index = 0; index < manifest.Steps.Count; index++)
        {
            if (decision.Selected.Contains(index))
            {
                manifest.Steps[index].CachedFrom = null;
                manifest.Steps[index].CachedBecause = null;
            }
            else if (manifest.Steps[index].CachedFrom is null)
            {
                manifest.Steps[index].CachedFrom = plan.JobId;
                manifest.Steps[index].CachedBecause = "resume";
            }
        }
        EngineCacheRecorder.Plan(plan, CacheOf(plan), manifest);
        manifest.SageMakerPipelineName = compiled.PipelineName;
        manifest.DefinitionHash = compiled.Hash;
        manifest.ResumeAttempt++;
        // Saved before the start: a process that dies after it leaves this attempt number, so a retry sends the same token.
        await _service.SaveAsync(manifest, cancellationToken).ConfigureAwait(false);
        var selective = new SelectiveExecutionConfig
        {
            SourcePipelineExecutionArn = decision.Needed.Count > 0 ? source : null,
            SelectedSteps = names.Select(n => new SelectedStep { StepName = n }).ToList(),
        };
        var token = SageMakerPipelinesEngine.ResumeToken(compiled.PipelineName, plan.JobId, manifest.ResumeAttempt);
        await SageMakerPipelinesEngine.StartAsync(_service, manifest, selective, token, reporter, cancellationToken).ConfigureAwait(false);
        return true;
    }

    /// <summary>
    /// Starts what must run: nothing when every step is taken from the cache or a reference run (the run is then
    /// complete at once), a selective execution of the rest when some are, else the whole pipeline.
    /// </summary>
    private async Task StartSelectedAsync(RunPlan plan, IRunReporter reporter, CancellationToken cancellationToken)
    {
        var manifest = Manifest;
        var compiled = Definition;
        var cache = CacheOf(plan);
        var selected = await EngineStepSelection.DecideAsync(plan, compiled, manifest, DataStore!, cache, reporter, cancellationToken).ConfigureAwait(false);
        if (selected.Count == 0)
        {
            manifest.PipelineExecutionArn = null;
            await _service.SaveAsync(manifest, cancellationToken).ConfigureAwait(false);
            reporter.Verbose($"Every step of run {plan.JobId} reuses an earlier output; no execution of {compiled.PipelineName} was started.");
            return;
        }
        SelectiveExecutionConfig? selective = null;
        if (selected.Count < plan.Steps.Count)
        {
            string? referenceExecution = null;
            if (plan.Request.ReferenceJobId is { } reference)
            {
                var referenceManifest = await _service.ReadManifestAsync(manifest.Bucket, plan.Pipeline.ProjectName, reference, cancellationToken).ConfigureAwait(false);
                referenceExecution = referenceManifest is { IsEngineRun: true } && referenceManifest.SageMakerPipelineName == compiled.PipelineName ? referenceManifest.PipelineExecutionArn : null;
            }
            var (found, source) = await EngineStepSelection.SourceAsync(_service, compiled, selected, referenceExecution, cancellationToken).ConfigureAwait(false);
            if (!found)
            {
                if (plan.Request.Steps is not null)
                {
                    throw new RlabsRunException($"A partial run on SageMaker Pipelines needs an earlier Succeeded or Failed execution of {compiled.PipelineName} in which the steps left out succeeded (SelectiveExecutionConfig.SourcePipelineExecutionArn); none was found. Run the whole pipeline once with -Engine SageMakerPipelines, or run this slice with -Engine Client.",
                        "SelectiveExecutionSourceMissing", RlabsRunErrorKind.NotFound, compiled.PipelineName);
                }
                reporter.Verbose($"No earlier execution of {compiled.PipelineName} can stand in for the cached steps; the whole pipeline runs.");
                foreach (var step in manifest.Steps)
                {
                    step.CachedFrom = null;
                    step.CachedBecause = null;
                }
            }
            else
            {
                selective = new SelectiveExecutionConfig
                {
                    SourcePipelineExecutionArn = source,
                    SelectedSteps = selected.Select(i => new SelectedStep { StepName = compiled.Steps[i].DefinitionName }).ToList(),
                };
                reporter.Verbose($"Selective execution of {string.Join(", ", selected.Select(i => compiled.Steps[i].DefinitionName))}{(source is null ? string.Empty : $"; the other steps' results from {source}")}.");
            }
        }
        // The keys to record and the steps left out are in the manifest before the start: a reader finds them even
        // if this process dies right after it.
        EngineCacheRecorder.Plan(plan, cache, manifest);
        manifest.DefinitionHash = compiled.Hash;
        await _service.SaveAsync(manifest, cancellationToken).ConfigureAwait(false);
        await SageMakerPipelinesEngine.StartAsync(_service, manifest, selective, reporter, cancellationToken).ConfigureAwait(false);
    }

    private StepCache? CacheOf(RunPlan plan) =>
        !plan.Request.NoCache && plan.Steps.Any(s => s.Cache is not null) ? new StepCache(plan, DataStore!, SourceExclusions(plan)) : null;

    /// <inheritdoc/>
    public async Task CleanupAsync(RunPlan plan, RlabsPipelineRun? run)
    {
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

    private (CloudRunPlan Bound, CompiledPipelineDefinition Compiled) Bind(RunPlan plan, string? account)
    {
        try
        {
            return (ProcessingJobBinder.Bind(plan, _session.Region, account, _source!), PipelineDefinitionCompiler.Compile(plan, _session.Region, account, _source!));
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
}
