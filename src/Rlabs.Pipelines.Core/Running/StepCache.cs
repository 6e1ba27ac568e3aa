using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Rlabs.Pipelines.Packaging;
using Rlabs.Pipelines.Planning;

namespace Rlabs.Pipelines.Running;

/// <summary>
/// Where a runtime keeps step data, as the cache and resume need it: the content fingerprint of a step's
/// input, the cache index (next to the data: the data root locally, the bucket in the cloud) and reuse of an
/// earlier job's output for this job id without sending bytes where the storage allows.
/// </summary>
public interface IStepDataStore
{
    /// <summary>A hash of the content of the step's input as it is now ("none" without input, "empty" for an empty input).</summary>
    Task<string> InputFingerprintAsync(RunPlan plan, StepPlan stepPlan, CancellationToken cancellationToken);

    /// <summary>The text at <paramref name="key"/> of the cache index, or null.</summary>
    Task<string?> ReadIndexAsync(RunPlan plan, string key, CancellationToken cancellationToken);

    /// <summary>Writes <paramref name="text"/> at <paramref name="key"/> of the cache index.</summary>
    Task WriteIndexAsync(RunPlan plan, string key, string text, CancellationToken cancellationToken);

    /// <summary>Whether anything is stored under the output key (relative to the data root).</summary>
    Task<bool> OutputExistsAsync(RunPlan plan, string outputKey, CancellationToken cancellationToken);

    /// <summary>Makes what <paramref name="fromOutputKey"/> holds appear under <paramref name="toOutputKey"/> (hard links, server-side copies); returns the objects reused.</summary>
    Task<int> ReuseOutputAsync(RunPlan plan, string fromOutputKey, string toOutputKey, CancellationToken cancellationToken);
}

/// <summary>One entry of the cache index: a step's output for a key, and what the key was made of.</summary>
public sealed class StepCacheEntry
{
    /// <summary>The key.</summary>
    public required string Key { get; init; }

    /// <summary>The step's name.</summary>
    public required string Step { get; init; }

    /// <summary>The job id of the run that wrote the output.</summary>
    public required string JobId { get; init; }

    /// <summary>The output, relative to the data root.</summary>
    public required string OutputKey { get; init; }

    /// <summary>When the output was written (UTC).</summary>
    public required DateTimeOffset Created { get; init; }

    /// <summary>The hash of each part of the key: code, source, requirements, params, environment, image, input.</summary>
    public required SortedDictionary<string, string> Parts { get; init; }
}

/// <summary>
/// The content-keyed step cache, one implementation for every runtime. The key covers what decides a step's
/// output: its code script, the repository's files (without pipeline files, so editing a later step's params
/// keeps earlier keys), its requirements, params (as written, before &lt;job_id&gt;), environment, image and the
/// content of its input, so keys chain from upstream outputs. No secret is part of it: the credentials file
/// is never read and never packed.
/// </summary>
public sealed class StepCache
{
    /// <summary>Folder of the index, under the data root (locally) or the project prefix (in the bucket).</summary>
    public const string IndexFolder = "cache";

    private static readonly JsonSerializerOptions s_json = new() { WriteIndented = true };
    private readonly RunPlan _plan;
    private readonly IStepDataStore _store;
    private readonly Lazy<string> _source;

    /// <summary>Creates the cache of a run over its runtime's data store; <paramref name="excludedFromSource"/> are left out of the source hash (the work folder, the data root, the credentials file).</summary>
    public StepCache(RunPlan plan, IStepDataStore store, IReadOnlyList<string> excludedFromSource)
    {
        ArgumentNullException.ThrowIfNull(plan);
        _plan = plan;
        _store = store;
        _source = new Lazy<string>(() => SourceHash(plan, excludedFromSource), LazyThreadSafetyMode.ExecutionAndPublication);
    }

    /// <summary>Whether the step's output may come from the cache in this run.</summary>
    public bool Applies(StepPlan step) => step is { Cache.Enabled: true } && !_plan.Request.NoCache;

    /// <summary>The parts of the step's key, each a hash; the input's is read now.</summary>
    public async Task<SortedDictionary<string, string>> PartsAsync(StepPlan step, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(step);
        var parts = StaticParts(step);
        parts["input"] = await _store.InputFingerprintAsync(_plan, step, cancellationToken).ConfigureAwait(false);
        return parts;
    }

    /// <summary>The parts known without reading the input.</summary>
    public SortedDictionary<string, string> StaticParts(StepPlan step)
    {
        ArgumentNullException.ThrowIfNull(step);
        var repository = _plan.Pipeline.RepositoryPath;
        var requirements = Path.Combine(repository, step.Step.Requirements ?? StepContract.RequirementsName);
        var environment = _plan.Pipeline.Defaults.Environment.Concat(step.Step.Environment).Select(e => e.Key + "=" + e.Value);
        return new SortedDictionary<string, string>(StringComparer.Ordinal)
        {
            ["code"] = HashFile(Path.Combine(repository, step.Step.Code)),
            ["source"] = _source.Value,
            ["requirements"] = File.Exists(requirements) ? HashFile(requirements) : "none",
            ["params"] = HashText(string.Join('\u001f', step.Step.Params.Select(p => p.Key + "=" + p.Value))),
            ["environment"] = HashText(string.Join('\u001f', environment)),
            ["image"] = step.Image ?? "none",
        };
    }

    /// <summary>The key made of <paramref name="parts"/>.</summary>
    public static string Key(IReadOnlyDictionary<string, string> parts)
    {
        ArgumentNullException.ThrowIfNull(parts);
        return HashText(string.Join('\n', parts.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => p.Key + "=" + p.Value)))[..32];
    }

    /// <summary>The entry for the step and key when it is valid now (not expired, its output still there), else null with why.</summary>
    public async Task<(StepCacheEntry? Entry, string Why)> LookupAsync(StepPlan step, string key, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(step);
        var entry = Parse(await _store.ReadIndexAsync(_plan, EntryKey(step.Step.Name, key), cancellationToken).ConfigureAwait(false));
        if (entry is null)
        {
            return (null, await ChangedSinceLastAsync(step, key, cancellationToken).ConfigureAwait(false));
        }
        if (step.Cache?.ExpireAfter is { } expire && entry.Created + expire < DateTimeOffset.UtcNow)
        {
            return (null, string.Create(CultureInfo.InvariantCulture, $"the entry of job {entry.JobId} expired ({entry.Created:u} + {expire})"));
        }
        if (entry.JobId == _plan.JobId || !await _store.OutputExistsAsync(_plan, entry.OutputKey, cancellationToken).ConfigureAwait(false))
        {
            return (null, $"the output of job {entry.JobId} is gone ({entry.OutputKey})");
        }
        return (entry, $"job {entry.JobId}");
    }

    /// <summary>Which parts changed since the step's last entry, for the message of a miss.</summary>
    public async Task<string> ChangedSinceLastAsync(StepPlan step, string key, CancellationToken cancellationToken) =>
        await ChangedSinceLastAsync(step, withInput: true, cancellationToken).ConfigureAwait(false);

    /// <summary>Which parts changed since the step's last entry; without <paramref name="withInput"/>, only those known before its input is written.</summary>
    public async Task<string> ChangedSinceLastAsync(StepPlan step, bool withInput, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(step);
        var last = Parse(await _store.ReadIndexAsync(_plan, EntryKey(step.Step.Name, "last"), cancellationToken).ConfigureAwait(false));
        if (last is null)
        {
            return "no earlier run of this step is in the cache";
        }
        var parts = withInput ? await PartsAsync(step, cancellationToken).ConfigureAwait(false) : StaticParts(step);
        var changed = parts.Where(p => !last.Parts.TryGetValue(p.Key, out var before) || before != p.Value).Select(p => p.Key).ToList();
        return changed.Count == 0
            ? withInput ? $"same key as job {last.JobId}, whose entry is missing" : $"everything but its input is as in job {last.JobId}"
            : $"{string.Join(", ", changed)} changed since job {last.JobId}";
    }

    /// <summary>Makes the entry's output this job's output.</summary>
    public Task<int> ReuseAsync(StepPlan step, StepCacheEntry entry, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(step);
        ArgumentNullException.ThrowIfNull(entry);
        return _store.ReuseOutputAsync(_plan, entry.OutputKey, step.OutputKey, cancellationToken);
    }

    /// <summary>Records the step's output of this run under its key, and as the step's last entry.</summary>
    public async Task RecordAsync(StepPlan step, SortedDictionary<string, string> parts, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(step);
        ArgumentNullException.ThrowIfNull(parts);
        foreach (var (key, json) in IndexWrites(step.Step.Name, _plan.JobId, step.OutputKey, parts))
        {
            await _store.WriteIndexAsync(_plan, key, json, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>What recording a step's output writes to the index (keys relative to its root): the entry under its key, and as the step's last entry.</summary>
    internal static IReadOnlyList<(string Key, string Json)> IndexWrites(string stepName, string jobId, string outputKey, SortedDictionary<string, string> parts)
    {
        var entry = new StepCacheEntry { Key = Key(parts), Step = stepName, JobId = jobId, OutputKey = outputKey, Created = DateTimeOffset.UtcNow, Parts = parts };
        var json = JsonSerializer.Serialize(entry, s_json);
        return [(EntryKey(stepName, entry.Key), json), (EntryKey(stepName, "last"), json)];
    }

    /// <summary>Records that the step completed in this run with this key (runs/&lt;job_id&gt;/&lt;step&gt;.json), for -Resume.</summary>
    public Task RecordRunAsync(StepPlan step, SortedDictionary<string, string> parts, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(step);
        ArgumentNullException.ThrowIfNull(parts);
        var entry = new StepCacheEntry { Key = Key(parts), Step = step.Step.Name, JobId = _plan.JobId, OutputKey = step.OutputKey, Created = DateTimeOffset.UtcNow, Parts = parts };
        return _store.WriteIndexAsync(_plan, RunKey(step.Step.Name), JsonSerializer.Serialize(entry, s_json), cancellationToken);
    }

    /// <summary>Null when the step completed in this job id with the key it would have now and its output is there; else why not.</summary>
    public async Task<string?> ResumeMismatchAsync(StepPlan step, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(step);
        var recorded = Parse(await _store.ReadIndexAsync(_plan, RunKey(step.Step.Name), cancellationToken).ConfigureAwait(false));
        if (recorded is null)
        {
            return "it did not complete in this job id";
        }
        var parts = await PartsAsync(step, cancellationToken).ConfigureAwait(false);
        var changed = parts.Where(p => !recorded.Parts.TryGetValue(p.Key, out var before) || before != p.Value).Select(p => p.Key).ToList();
        if (changed.Count > 0)
        {
            return $"{string.Join(", ", changed)} changed since it completed";
        }
        return await _store.OutputExistsAsync(_plan, step.OutputKey, cancellationToken).ConfigureAwait(false) ? null : $"its output {step.OutputKey} is gone";
    }

    private string RunKey(string step) => $"runs/{_plan.JobId}/{step}.json";

    /// <summary>The content hash of a folder's files (relative paths and contents), or of one file; links are not followed.</summary>
    public static string HashTree(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (File.Exists(path))
        {
            return HashFile(path);
        }
        if (!Directory.Exists(path))
        {
            return "empty";
        }
        var lines = Directory.EnumerateFiles(path, "*", new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = FileAttributes.ReparsePoint })
            .Select(f => (Relative: Path.GetRelativePath(path, f).Replace('\\', '/'), File: f))
            .OrderBy(f => f.Relative, StringComparer.Ordinal)
            .Select(f => f.Relative + "\u001f" + HashFile(f.File));
        return HashText(string.Join('\n', lines));
    }

    /// <summary>A hash of a list of (name, version) pairs such as S3 keys and ETags.</summary>
    public static string HashListing(IEnumerable<(string Name, string Version)> items) =>
        HashText(string.Join('\n', items.OrderBy(i => i.Name, StringComparer.Ordinal).Select(i => i.Name + "\u001f" + i.Version)));

    private static string EntryKey(string step, string key) => $"{IndexFolder}/{step}/{key}.json";

    private static StepCacheEntry? Parse(string? json)
    {
        if (json is null)
        {
            return null;
        }
        try
        {
            return JsonSerializer.Deserialize<StepCacheEntry>(json, s_json);
        }
        catch (JsonException)
        {
            return null; // a damaged entry is a miss
        }
    }

    /// <summary>
    /// The repository's files as the source zip holds them, without the pipeline's own file and the YAML files beside
    /// it. Kept with the tree's stamp (per pipeline file): an unchanged tree is stat-walked, not read.
    /// </summary>
    private static string SourceHash(RunPlan plan, IReadOnlyList<string> excluded)
    {
        var pipeline = plan.Pipeline;
        var stamp = SourceTreeStamp.ForRun(plan, excluded);
        var name = "tree-hash-" + HashText(pipeline.Path)[..16];
        return SourceTreeStamp.Remember(pipeline.RepositoryPath, name, stamp, () => SourceHash(pipeline, excluded));
    }

    private static string SourceHash(RlabsPipeline pipeline, IReadOnlyList<string> excluded)
    {
        var pipelineFolder = Path.GetDirectoryName(pipeline.Path)!;
        var files = SourcePackager.Select(pipeline.RepositoryPath, excluded, pipeline.Defaults.PackageSecrets).Files
            .Where(f => !IsPipelineFile(f.FullPath, pipeline.Path, pipelineFolder));
        return HashListing(files.Select(f => (f.RelativePath, HashFile(f.FullPath))));
    }

    private static bool IsPipelineFile(string file, string pipelinePath, string pipelineFolder)
    {
        var comparison = OperatingSystem.IsWindows() ? StringComparison.OrdinalIgnoreCase : StringComparison.Ordinal;
        if (string.Equals(Path.GetFullPath(file), pipelinePath, comparison))
        {
            return true;
        }
        var extension = Path.GetExtension(file);
        return string.Equals(Path.GetDirectoryName(Path.GetFullPath(file)), pipelineFolder, comparison)
            && (extension.Equals(".yaml", StringComparison.OrdinalIgnoreCase) || extension.Equals(".yml", StringComparison.OrdinalIgnoreCase));
    }

    /// <summary>Hashes already computed, by path, size and modification time: an unchanged file is not read again (a large repository's second run).</summary>
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<(string Path, long Length, DateTime Modified), string> s_hashes = new();

    private static string HashFile(string file)
    {
        var info = new FileInfo(file);
        if (!info.Exists)
        {
            return "missing";
        }
        var memo = (info.FullName, info.Length, info.LastWriteTimeUtc);
        if (s_hashes.TryGetValue(memo, out var known))
        {
            return known;
        }
        using var stream = File.OpenRead(file);
        var hash = Convert.ToHexStringLower(SHA256.HashData(stream));
        if (s_hashes.Count > 200_000)
        {
            s_hashes.Clear();
        }
        s_hashes[memo] = hash;
        return hash;
    }

    private static string HashText(string text) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)));
}
