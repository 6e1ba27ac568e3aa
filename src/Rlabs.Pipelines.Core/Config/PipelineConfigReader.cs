using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace Rlabs.Pipelines.Config;

/// <summary>The outcome of reading a pipeline file: the pipeline when it has no errors, and every diagnostic.</summary>
public sealed class PipelineConfigResult
{
    internal PipelineConfigResult(RlabsPipeline? pipeline, IReadOnlyList<RlabsPipelineDiagnostic> diagnostics)
    {
        Pipeline = pipeline;
        Diagnostics = diagnostics;
    }

    /// <summary>The pipeline; null when there is any error.</summary>
    public RlabsPipeline? Pipeline { get; }

    /// <summary>Errors and warnings, in file order.</summary>
    public IReadOnlyList<RlabsPipelineDiagnostic> Diagnostics { get; }

    /// <summary>Whether any diagnostic is an error.</summary>
    public bool HasErrors => Diagnostics.Any(d => d.Severity == RlabsDiagnosticSeverity.Error);

    /// <summary>The errors as one message, for exceptions.</summary>
    public string ErrorSummary(int max = 10)
    {
        var errors = Diagnostics.Where(d => d.Severity == RlabsDiagnosticSeverity.Error).ToList();
        var text = new StringBuilder();
        text.Append(CultureInfo.InvariantCulture, $"The pipeline file has {errors.Count} error(s):");
        foreach (var error in errors.Take(max))
        {
            text.AppendLine().Append(CultureInfo.InvariantCulture, $"  {error.File}:{error.Line}:{error.Column}: {error.Message} {error.Hint}");
        }
        if (errors.Count > max)
        {
            text.AppendLine().Append(CultureInfo.InvariantCulture, $"  … and {errors.Count - max} more (run Test-RlabsPipeline to see them all).");
        }
        return text.ToString();
    }
}

/// <summary>Reads and validates the seed's pipeline YAML.</summary>
public static partial class PipelineConfigReader
{
    /// <summary>Files larger than this are refused before parsing.</summary>
    public const long MaxFileBytes = 1024 * 1024;

    internal static readonly string[] TopLevelKeys =
    [
        "pipeline", "project", "image", "instance_type", "instance_count", "volume_size_gb", "max_runtime",
        "environment", "tags", "bucket", "role_arn", "kms_key_id", "network_isolation", "vpc", "package_secrets",
        "parallelism", "retry", "cache",
    ];

    internal static readonly string[] StepKeys =
    [
        "name", "job_suffix", "code", "input_data", "output_path", "params", "depends_on", "requirements",
        "image", "instance_type", "instance_count", "volume_size_gb", "max_runtime", "environment",
        "input_distribution", "network_isolation", "network", "retry", "cache",
    ];

    private static readonly string[] s_retryKeys = ["attempts", "backoff", "on", "exit_codes"];

    private static readonly string[] s_cacheKeys = ["enabled", "expire_after"];

    private static readonly string[] s_vpcKeys = ["subnets", "security_group_ids"];

    /// <summary>Argument names the runner passes itself; params may not reuse them.</summary>
    internal static readonly string[] ReservedParams =
    [
        "job_id", "input_data_zip", "input_data_path", "output_data_path", "source_code_zip", "requirements_path",
    ];

    /// <summary>Reads <paramref name="path"/>; file checks resolve against <paramref name="repositoryPath"/>.</summary>
    public static PipelineConfigResult Read(string path, string repositoryPath)
    {
        var fullPath = System.IO.Path.GetFullPath(path);
        var repo = System.IO.Path.GetFullPath(repositoryPath);
        var context = new ReadContext(fullPath, repo);
        var pipeline = context.Run();
        var ordered = context.Diagnostics.OrderBy(d => d.Line).ThenBy(d => d.Column).ToList();
        return new PipelineConfigResult(context.Diagnostics.Any(d => d.Severity == RlabsDiagnosticSeverity.Error) ? null : pipeline, ordered);
    }

    /// <summary>Reads the file as UTF-8 text, refusing what cannot be a pipeline file.</summary>
    internal static string? ReadText(string fullPath, Action<string, string, string> fail)
    {
        FileInfo info;
        try
        {
            info = new FileInfo(fullPath);
            if (!info.Exists)
            {
                fail("FileNotFound", $"The pipeline file '{fullPath}' does not exist.", "Check the path; relative paths resolve against the current location.");
                return null;
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            fail("FileUnreadable", $"The pipeline file '{fullPath}' cannot be read: {ex.Message}", "Check the path and its permissions.");
            return null;
        }
        if (info.Length > MaxFileBytes)
        {
            fail("FileTooLarge", $"The pipeline file is {info.Length:N0} bytes; at most {MaxFileBytes:N0} are read.", "A pipeline file is a short YAML list of steps; check that the path points at the right file.");
            return null;
        }
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(fullPath);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            fail("FileUnreadable", $"The pipeline file '{fullPath}' cannot be read: {ex.Message}", "Check the file's permissions.");
            return null;
        }
        var span = bytes.AsSpan();
        if (span.StartsWith((ReadOnlySpan<byte>)[0xEF, 0xBB, 0xBF]))
        {
            span = span[3..];
        }
        else if (span.StartsWith((ReadOnlySpan<byte>)[0xFF, 0xFE]) || span.StartsWith((ReadOnlySpan<byte>)[0xFE, 0xFF]))
        {
            fail("NotUtf8", "The pipeline file is UTF-16 encoded.", "Save it as UTF-8 (for example: Get-Content file.yaml | Set-Content -Encoding utf8 file.yaml).");
            return null;
        }
        if (span.IndexOf((byte)0) >= 0)
        {
            fail("NotText", "The pipeline file holds binary data (NUL bytes), not YAML text.", "Check that the path points at the pipeline YAML file.");
            return null;
        }
        try
        {
            return new UTF8Encoding(false, true).GetString(span);
        }
        catch (DecoderFallbackException)
        {
            fail("NotUtf8", "The pipeline file is not valid UTF-8 text.", "Save it as UTF-8.");
            return null;
        }
    }

    /// <summary>Parses max_runtime: seconds, or a duration such as 90m, 2h, 1h30m, 45s.</summary>
    internal static bool TryParseDuration(string text, out TimeSpan value)
    {
        value = default;
        text = text.Trim();
        if (long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var seconds))
        {
            if (seconds > 10L * 365 * 24 * 3600)
            {
                return false;
            }
            value = TimeSpan.FromSeconds(seconds);
            return true;
        }
        var match = DurationRegex().Match(text);
        if (!match.Success || text.Length == 0)
        {
            return false;
        }
        double total = 0;
        foreach (var (group, unit) in new[] { ("d", 86400), ("h", 3600), ("m", 60), ("s", 1) })
        {
            if (match.Groups[group].Success)
            {
                total += double.Parse(match.Groups[group].Value, CultureInfo.InvariantCulture) * unit;
            }
        }
        if (total <= 0 || total > 10.0 * 365 * 24 * 3600)
        {
            return false;
        }
        value = TimeSpan.FromSeconds(total);
        return true;
    }

    /// <summary>Parses an ISO-8601 duration ("PT30S", "P7D"), as SageMaker Pipelines' CacheConfig takes, or plain seconds / a max_runtime-style duration.</summary>
    internal static bool TryParseIsoDuration(string text, out TimeSpan value)
    {
        text = text.Trim();
        if (text.StartsWith('P') || text.StartsWith('p'))
        {
            try
            {
                value = System.Xml.XmlConvert.ToTimeSpan(text.ToUpperInvariant());
                return value >= TimeSpan.Zero;
            }
            catch (FormatException)
            {
                value = default;
                return false;
            }
            catch (OverflowException)
            {
                value = default;
                return false;
            }
        }
        if (text == "0")
        {
            value = TimeSpan.Zero;
            return true;
        }
        return TryParseDuration(text, out value);
    }

    [GeneratedRegex(@"^(?:(?<d>\d{1,4})d)?(?:(?<h>\d{1,6})h)?(?:(?<m>\d{1,8})m)?(?:(?<s>\d{1,9})s)?$", RegexOptions.CultureInvariant)]
    private static partial Regex DurationRegex();

    [GeneratedRegex(@"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$", RegexOptions.CultureInvariant)]
    internal static partial Regex StepNameRegex();

    [GeneratedRegex(@"^[A-Za-z0-9](-*[A-Za-z0-9]){0,15}$", RegexOptions.CultureInvariant)]
    internal static partial Regex JobSuffixRegex();

    [GeneratedRegex(@"^[A-Za-z][A-Za-z0-9_-]{0,63}$", RegexOptions.CultureInvariant)]
    internal static partial Regex ParamNameRegex();

    [GeneratedRegex(@"^[A-Za-z_][A-Za-z0-9_]{0,127}$", RegexOptions.CultureInvariant)]
    internal static partial Regex EnvNameRegex();

    [GeneratedRegex(@"<[^<>]*>", RegexOptions.CultureInvariant)]
    internal static partial Regex PlaceholderRegex();

    /// <summary>Closest known word within a small edit distance, for "did you mean".</summary>
    internal static string? Suggest(string word, IEnumerable<string> known)
    {
        string? best = null;
        var bestDistance = int.MaxValue;
        foreach (var candidate in known)
        {
            var distance = EditDistance(word.ToLowerInvariant().Replace('-', '_'), candidate);
            if (distance < bestDistance)
            {
                bestDistance = distance;
                best = candidate;
            }
        }
        var limit = Math.Max(2, word.Length / 3);
        return bestDistance <= limit ? best : null;
    }

    private static int EditDistance(string a, string b)
    {
        if (a.Length > 64 || b.Length > 64)
        {
            return int.MaxValue;
        }
        var previous = new int[b.Length + 1];
        var current = new int[b.Length + 1];
        for (var j = 0; j <= b.Length; j++)
        {
            previous[j] = j;
        }
        for (var i = 1; i <= a.Length; i++)
        {
            current[0] = i;
            for (var j = 1; j <= b.Length; j++)
            {
                var cost = a[i - 1] == b[j - 1] ? 0 : 1;
                current[j] = Math.Min(Math.Min(current[j - 1] + 1, previous[j] + 1), previous[j - 1] + cost);
            }
            (previous, current) = (current, previous);
        }
        return previous[b.Length];
    }
}
