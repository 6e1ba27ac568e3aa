using Rlabs.Pipelines.Aws;
using Rlabs.Pipelines.Planning;
using Rlabs.Pipelines.Running;

namespace Rlabs.Pipelines.Cloud;

/// <summary>
/// The step cache of runs SageMaker Pipelines drives, in one place. The process that starts an execution may be
/// gone when its steps succeed (-NoWait, a killed client), so the start writes each cached step's key, as far as
/// it is known, into the run manifest (<see cref="Plan"/>), and whoever next sees a step succeed (the attached
/// follow, Wait-RlabsPipelineRun or Get-RlabsPipelineRun, from any machine) adds its input's fingerprint and
/// writes the entry into the bucket's index (<see cref="RecordAsync"/>), the same entry the client-driven
/// engine writes, once.
/// </summary>
internal static class EngineCacheRecorder
{
    /// <summary>Writes down, before the start, the key of every cached step the execution will run; the others get none.</summary>
    public static void Plan(RunPlan plan, StepCache? cache, CloudRunManifest manifest)
    {
        ArgumentNullException.ThrowIfNull(plan);
        ArgumentNullException.ThrowIfNull(manifest);
        foreach (var step in plan.Steps)
        {
            var manifestStep = manifest.Steps[step.Index];
            manifestStep.Cache = cache is not null && cache.Applies(step) && manifestStep.CachedFrom is null
                ? new EngineCacheRecord
                {
                    Parts = cache.StaticParts(step),
                    InputKey = step.InputKey,
                    InputIsZip = step.InputIsZip,
                    InputEmpty = step.InputEmpty,
                    OutputKey = step.OutputKey,
                }
                : null;
        }
    }

    /// <summary>
    /// Records the key of every step the execution ran that <paramref name="run"/> shows Completed and whose key is
    /// not recorded yet (its input is final then: the steps it reads completed before it), and saves the manifest
    /// when it recorded any. A reader that may not write the index is told so and goes on.
    /// </summary>
    public static async Task<int> RecordAsync(CloudRunService service, CloudRunManifest manifest, RlabsPipelineRun run, IRunReporter reporter, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(service);
        ArgumentNullException.ThrowIfNull(manifest);
        ArgumentNullException.ThrowIfNull(run);
        ArgumentNullException.ThrowIfNull(reporter);
        var recorded = 0;
        try
        {
            for (var index = 0; index < manifest.Steps.Count && index < run.Steps.Count; index++)
            {
                var step = manifest.Steps[index];
                if (step.Cache is not { Recorded: false } record || step.CachedFrom is not null || run.Steps[index].Status != RlabsRunStatus.Completed)
                {
                    continue;
                }
                var parts = new SortedDictionary<string, string>(record.Parts, StringComparer.Ordinal)
                {
                    ["input"] = await BucketDataStore.InputFingerprintAsync(service.Storage, manifest.Bucket, manifest.ProjectName, record.InputKey, record.InputIsZip, record.InputEmpty, cancellationToken).ConfigureAwait(false),
                };
                foreach (var (key, json) in StepCache.IndexWrites(step.Name, manifest.JobId, record.OutputKey, parts))
                {
                    await service.Storage.PutTextAsync(manifest.Bucket, $"{CloudNaming.ProjectPrefix(manifest.ProjectName)}/{key}", json, manifest.KmsKeyId, cancellationToken).ConfigureAwait(false);
                }
                record.Recorded = true;
                recorded++;
                reporter.Verbose($"[{step.Name}] cache key {StepCache.Key(parts)} recorded for later runs.");
            }
            if (recorded > 0)
            {
                await service.SaveAsync(manifest, cancellationToken).ConfigureAwait(false);
            }
        }
        catch (AwsServiceException ex) when (ex.Kind == AwsErrorKind.AccessDenied)
        {
            reporter.Warning($"The cache keys of run {manifest.JobId} could not be recorded ({ex.ErrorCode}: {ex.AwsMessage}); a reader allowed to write the bucket's rlabs/{manifest.ProjectName}/{StepCache.IndexFolder}/ records them.");
        }
        return recorded;
    }
}
