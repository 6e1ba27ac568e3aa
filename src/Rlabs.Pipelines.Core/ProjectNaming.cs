using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;

namespace Rlabs.Pipelines;

/// <summary>Names derived from project, job id and step, valid for SageMaker, S3 and file paths.</summary>
public static partial class ProjectNaming
{
    /// <summary>Longest SageMaker processing job name.</summary>
    public const int MaxJobNameLength = 63;

    /// <summary>Longest job id accepted.</summary>
    public const int MaxJobIdLength = 40;

    /// <summary>The seed's rule: '.' and '_' become '-'; anything else not alphanumeric too.</summary>
    public static string Sanitize(string name)
    {
        var builder = new StringBuilder(name.Length);
        foreach (var c in name.Trim())
        {
            builder.Append(char.IsAsciiLetterOrDigit(c) ? c : '-');
        }
        return MultiHyphen().Replace(builder.ToString(), "-").Trim('-');
    }

    /// <summary>Whether a sanitized project name can start job and rule names.</summary>
    public static bool IsValid(string projectName) => projectName.Length is > 0 and <= 32 && NameRegex().IsMatch(projectName);

    /// <summary>Checks a job id; returns null when valid, else why not.</summary>
    public static string? ValidateJobId(string jobId)
    {
        if (string.IsNullOrEmpty(jobId))
        {
            return "The job id is empty.";
        }
        if (jobId.Length > MaxJobIdLength)
        {
            return $"The job id '{jobId}' is {jobId.Length} characters long; at most {MaxJobIdLength} are allowed.";
        }
        if (!NameRegex().IsMatch(jobId))
        {
            return $"The job id '{jobId}' may hold only letters, digits and hyphens, and must start and end with a letter or digit (it becomes part of folder names, S3 keys and SageMaker job names).";
        }
        return null;
    }

    /// <summary>A new job id: UTC time plus randomness, e.g. 20261125-221500-a1b2.</summary>
    public static string NewJobId(DateTimeOffset now) =>
        $"{now.UtcDateTime:yyyyMMdd-HHmmss}-{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(2))}";

    /// <summary>
    /// The job name for a step: project-jobid-suffix, shortened with a hash when too long so it stays
    /// unique and within SageMaker's 63 characters; <paramref name="attempt"/> keeps re-runs from colliding.
    /// </summary>
    public static string JobName(string projectName, string jobId, string jobSuffix, string? attempt = null)
    {
        var tail = attempt is null ? $"{jobId}-{jobSuffix}" : $"{jobId}-{jobSuffix}-{attempt}";
        var full = $"{projectName}-{tail}";
        if (full.Length <= MaxJobNameLength)
        {
            return full;
        }
        var hash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(full)))[..8];
        var room = MaxJobNameLength - hash.Length - 1;
        return $"{full[..room].TrimEnd('-')}-{hash}";
    }

    /// <summary>
    /// What every job name of the run <paramref name="jobId"/> of <paramref name="projectName"/> contains, even one
    /// that <see cref="JobName"/> shortened: project-jobid (cut where a shortened name is cut). ListProcessingJobs
    /// NameContains finds a run's jobs with it; the job's own environment then tells runs with similar ids apart.
    /// </summary>
    public static string JobNamePrefix(string projectName, string jobId)
    {
        var prefix = $"{projectName}-{jobId}";
        var room = MaxJobNameLength - 8 - 1;
        return (prefix.Length <= room ? prefix : prefix[..room]).TrimEnd('-');
    }

    /// <summary>A new random attempt token for <see cref="JobName"/>.</summary>
    public static string NewAttempt() => Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(2));

    [GeneratedRegex(@"^[A-Za-z0-9](-*[A-Za-z0-9])*$", RegexOptions.CultureInvariant)]
    private static partial Regex NameRegex();

    [GeneratedRegex("-{2,}", RegexOptions.CultureInvariant)]
    private static partial Regex MultiHyphen();
}
