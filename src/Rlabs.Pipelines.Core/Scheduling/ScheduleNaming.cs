using System.Security.Cryptography;
using System.Text;

namespace Rlabs.Pipelines.Scheduling;

/// <summary>
/// Names of the AWS resources behind one schedule, derived from project and pipeline the seed's way
/// ('.' and '_' become '-'), so one project can schedule several pipelines and Get-RlabsPipelineSchedule
/// finds ours by <see cref="Prefix"/>.
/// </summary>
public static class ScheduleNaming
{
    /// <summary>Starts every rule and function name this module creates.</summary>
    public const string Prefix = "rlabs-";

    /// <summary>EventBridge rule names: 1-64 of [.-_A-Za-z0-9].</summary>
    public const int MaxRuleNameLength = 64;

    /// <summary>Lambda function names: 1-64 of [A-Za-z0-9-_].</summary>
    public const int MaxFunctionNameLength = 64;

    /// <summary>IAM role names: 1-64 of [\w+=,.@-].</summary>
    public const int MaxRoleNameLength = 64;

    /// <summary>Tag and environment keys that mark a resource as this module's.</summary>
    public const string ProjectTag = "rlabs:project";

    /// <summary>The pipeline name tag.</summary>
    public const string PipelineTag = "rlabs:pipeline";

    /// <summary>The EC2 instance the schedule starts.</summary>
    public const string InstanceTag = "rlabs:instance";

    /// <summary>Set on a role this module created, so Remove deletes only those.</summary>
    public const string CreatedByTag = "rlabs:created-by";

    /// <summary>The value of <see cref="CreatedByTag"/>.</summary>
    public const string CreatedByValue = "Rlabs.Pipelines";

    /// <summary>The project name as rules and jobs use it: sanitized; the repository folder name when none is given.</summary>
    public static string ProjectName(string? projectName, string repositoryPath)
    {
        var raw = string.IsNullOrWhiteSpace(projectName)
            ? Path.GetFileName(Path.GetFullPath(repositoryPath).TrimEnd(Path.DirectorySeparatorChar, Path.AltDirectorySeparatorChar))
            : projectName;
        return ProjectNaming.Sanitize(raw);
    }

    /// <summary>The pipeline's short name: its file name without extension, sanitized (pipelines/sample_pipeline.yaml → sample-pipeline).</summary>
    public static string PipelineName(string pipelinePath)
    {
        var name = ProjectNaming.Sanitize(Path.GetFileNameWithoutExtension(pipelinePath));
        if (name.Length == 0)
        {
            throw new ArgumentException($"The pipeline file name '{pipelinePath}' has no letters or digits to name a schedule after.", nameof(pipelinePath));
        }
        return name;
    }

    /// <summary>The EventBridge rule: rlabs-project-pipeline.</summary>
    public static string RuleName(string projectName, string pipelineName) => Fit($"{Prefix}{projectName}-{pipelineName}", MaxRuleNameLength);

    /// <summary>The Lambda function that starts the instance; the same name as the rule (they live in different namespaces).</summary>
    public static string FunctionName(string projectName, string pipelineName) => Fit($"{Prefix}{projectName}-{pipelineName}", MaxFunctionNameLength);

    /// <summary>
    /// The default role name: project-pipeline-lambda-role, one per schedule. (The seed shared project-lambda-role
    /// between every schedule of a project, so each function could start every instance of the project.)
    /// </summary>
    public static string DefaultRoleName(string projectName, string pipelineName) => Fit($"{projectName}-{pipelineName}-lambda-role", MaxRoleNameLength);

    /// <summary>The CloudWatch Logs group Lambda writes the function's logs to.</summary>
    public static string LogGroupName(string functionName) => $"/aws/lambda/{functionName}";

    /// <summary>Checks a role name given by the user; returns null when valid, else why not.</summary>
    public static string? ValidateRoleName(string roleName)
    {
        if (roleName.Length is 0 or > MaxRoleNameLength)
        {
            return $"The role name '{roleName}' must be 1 to {MaxRoleNameLength} characters long.";
        }
        if (!roleName.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '+' or '=' or ',' or '.' or '@' or '-'))
        {
            return $"The role name '{roleName}' may hold only letters, digits and _+=,.@- (IAM's rule).";
        }
        return null;
    }

    /// <summary>
    /// <paramref name="name"/> when it fits; otherwise cut and ended with 8 hex digits of its SHA-256,
    /// so two long names that share a beginning still differ.
    /// </summary>
    internal static string Fit(string name, int maxLength)
    {
        if (name.Length <= maxLength)
        {
            return name;
        }
        var hash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(name)))[..8];
        return $"{name[..(maxLength - hash.Length - 1)].TrimEnd('-')}-{hash}";
    }
}
