using Rlabs.Pipelines.Aws;
using Rlabs.Pipelines.Planning;
using Rlabs.Pipelines.Running;

namespace Rlabs.Pipelines.Cloud;

/// <summary>
/// The run's bucket as the step cache sees it, for both cloud engines: inputs fingerprinted by their keys and
/// ETags, the index under rlabs/&lt;project&gt;/cache/ (so a teammate's run can hit it), outputs reused by
/// server-side copies.
/// </summary>
internal sealed class BucketDataStore : IStepDataStore, IDisposable
{
    private readonly S3Storage _store;
    private readonly Func<RunPlan, string> _bucketOf;
    private readonly Func<string?> _account;

    /// <summary>Creates the store; <paramref name="bucketOf"/> names the run's bucket, <paramref name="account"/> the account that must own a bucket the module chose.</summary>
    public BucketDataStore(AwsSession session, Func<RunPlan, string> bucketOf, Func<string?> account)
    {
        _store = new S3Storage(session);
        _bucketOf = bucketOf;
        _account = account;
    }

    public void Dispose() => _store.Dispose();

    public async Task<string> InputFingerprintAsync(RunPlan plan, StepPlan stepPlan, CancellationToken cancellationToken)
    {
        return await InputFingerprintAsync(_store, Bucket(plan), plan.Pipeline.ProjectName, stepPlan.InputKey, stepPlan.InputIsZip, stepPlan.InputEmpty, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The input's fingerprint from its keys and ETags; the one algorithm for the run and for <see cref="EngineCacheRecorder"/>.</summary>
    internal static async Task<string> InputFingerprintAsync(S3Storage store, string bucket, string projectName, string? inputKey, bool isZip, bool isEmpty, CancellationToken cancellationToken)
    {
        if (inputKey is null)
        {
            return "none";
        }
        if (isEmpty)
        {
            return "empty";
        }
        var key = $"{CloudNaming.ProjectPrefix(projectName)}/data/{inputKey}";
        var prefix = isZip ? key : key + "/";
        var objects = await store.ListObjectsAsync(bucket, prefix, cancellationToken).ConfigureAwait(false);
        var listed = objects.Where(o => !isZip || o.Key == key).Select(o => (o.Key[prefix.Length..], o.ETag)).ToList();
        return listed.Count == 0 ? "empty" : StepCache.HashListing(listed);
    }

    public Task<string?> ReadIndexAsync(RunPlan plan, string key, CancellationToken cancellationToken) =>
        _store.TryGetTextAsync(Bucket(plan), $"{CloudNaming.ProjectPrefix(plan.Pipeline.ProjectName)}/{key}", cancellationToken);

    public Task WriteIndexAsync(RunPlan plan, string key, string text, CancellationToken cancellationToken) =>
        _store.PutTextAsync(Bucket(plan), $"{CloudNaming.ProjectPrefix(plan.Pipeline.ProjectName)}/{key}", text, plan.Pipeline.Defaults.KmsKeyId, cancellationToken);

    public Task<bool> OutputExistsAsync(RunPlan plan, string outputKey, CancellationToken cancellationToken) =>
        _store.AnyObjectAsync(Bucket(plan), DataKey(plan, outputKey) + "/", cancellationToken);

    public async Task<int> ReuseOutputAsync(RunPlan plan, string fromOutputKey, string toOutputKey, CancellationToken cancellationToken)
    {
        var from = DataKey(plan, fromOutputKey) + "/";
        var to = DataKey(plan, toOutputKey) + "/";
        var bucket = Bucket(plan);
        var objects = await _store.ListObjectsAsync(bucket, from, cancellationToken).ConfigureAwait(false);
        foreach (var item in objects)
        {
            await _store.CopyObjectAsync(bucket, item.Key, to + item.Key[from.Length..], plan.Pipeline.Defaults.KmsKeyId, cancellationToken).ConfigureAwait(false);
        }
        return objects.Count;
    }

    private string Bucket(RunPlan plan)
    {
        var bucket = _bucketOf(plan);
        if (ProcessingJobBinder.NeedsAccount(plan.Request) && _account() is { } account)
        {
            _store.ExpectOwner(bucket, account);
        }
        return bucket;
    }

    private static string DataKey(RunPlan plan, string key) => $"{CloudNaming.ProjectPrefix(plan.Pipeline.ProjectName)}/data/{key}";
}
