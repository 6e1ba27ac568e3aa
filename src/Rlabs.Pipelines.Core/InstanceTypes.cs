using System.Text.RegularExpressions;
using Rlabs.Pipelines.Config;

namespace Rlabs.Pipelines;

/// <summary>
/// The one source of the instance-type rules: the default, 'local', what a valid name looks like, and the one
/// check every place that takes a type calls (pipeline file, -InstanceType, the rlabs command line, schedules,
/// the run planner). A misspelling is refused here, before a bucket is created or a byte uploaded, with the
/// nearest known type suggested.
/// </summary>
public static partial class InstanceTypes
{
    /// <summary>The instance type that runs every step on this computer.</summary>
    public const string Local = "local";

    /// <summary>The instance type of a step that names none (nor does the pipeline nor the caller).</summary>
    public const string Default = "ml.t3.xlarge";

    /// <summary>
    /// SageMaker Processing instance types: the <c>ProcessingInstanceType</c> enum of botocore's SageMaker model
    /// (an xunit test compares the two, so a newer model shows what to add). Types AWS adds later are accepted
    /// when well formed; this list feeds suggestions and tab completion.
    /// </summary>
    public static readonly IReadOnlyList<string> Known =
    [
        "ml.t3.medium", "ml.t3.large", "ml.t3.xlarge", "ml.t3.2xlarge",
        "ml.m4.xlarge", "ml.m4.2xlarge", "ml.m4.4xlarge", "ml.m4.10xlarge", "ml.m4.16xlarge",
        "ml.c4.xlarge", "ml.c4.2xlarge", "ml.c4.4xlarge", "ml.c4.8xlarge",
        "ml.p2.xlarge", "ml.p2.8xlarge", "ml.p2.16xlarge",
        "ml.p3.2xlarge", "ml.p3.8xlarge", "ml.p3.16xlarge",
        "ml.c5.xlarge", "ml.c5.2xlarge", "ml.c5.4xlarge", "ml.c5.9xlarge", "ml.c5.18xlarge",
        "ml.m5.large", "ml.m5.xlarge", "ml.m5.2xlarge", "ml.m5.4xlarge", "ml.m5.12xlarge", "ml.m5.24xlarge",
        "ml.r5.large", "ml.r5.xlarge", "ml.r5.2xlarge", "ml.r5.4xlarge", "ml.r5.8xlarge", "ml.r5.12xlarge", "ml.r5.16xlarge", "ml.r5.24xlarge",
        "ml.g4dn.xlarge", "ml.g4dn.2xlarge", "ml.g4dn.4xlarge", "ml.g4dn.8xlarge", "ml.g4dn.12xlarge", "ml.g4dn.16xlarge",
    ];

    private static readonly HashSet<string> s_known = new(Known, StringComparer.Ordinal);

    /// <summary>Whether an instance type is 'local' or a SageMaker one (known, or of a well-formed shape).</summary>
    public static bool IsValid(string instanceType) => Validate(instanceType) is null;

    /// <summary>Whether the type runs the step on this computer.</summary>
    public static bool IsLocal(string instanceType) => string.Equals(instanceType, Local, StringComparison.OrdinalIgnoreCase);

    /// <summary>Null when <paramref name="instanceType"/> is 'local' or a SageMaker type; otherwise what is wrong, with a did-you-mean.</summary>
    /// <param name="instanceType">The value as the user typed it.</param>
    /// <param name="allowLocal">Whether 'local' is allowed where the value is used.</param>
    public static string? Validate(string instanceType, bool allowLocal = true)
    {
        ArgumentNullException.ThrowIfNull(instanceType);
        if ((allowLocal && instanceType == Local) || s_known.Contains(instanceType))
        {
            return null;
        }
        // A type AWS added after this list: family letters with a generation digit, and a size SageMaker uses.
        if (Shape().IsMatch(instanceType))
        {
            return null;
        }
        var candidates = allowLocal ? Known.Prepend(Local) : Known;
        var near = PipelineConfigReader.Suggest(instanceType, candidates);
        var expected = allowLocal ? "'local' or a SageMaker instance type" : "a SageMaker instance type";
        return $"'{instanceType}' is not an instance type: expected {expected} such as {Default}."
            + (near is null ? string.Empty : $" Did you mean '{near}'?");
    }

    // ml.<family><generation><options>.<size>: ml.m5.large, ml.g4dn.12xlarge, ml.m6i.metal, ml.t3.medium.
    [GeneratedRegex(@"^ml\.[a-z]{1,3}[0-9][a-z0-9]{0,4}\.(nano|micro|small|medium|large|xlarge|[1-9][0-9]?xlarge|metal)$", RegexOptions.CultureInvariant)]
    private static partial Regex Shape();
}

/// <summary>The one source of the EC2 instance-id rule (schedules run on an instance).</summary>
public static partial class InstanceIds
{
    /// <summary>Whether the text is an EC2 instance id: i- and 8 or 17 hexadecimal digits.</summary>
    public static bool IsValid(string instanceId) => Pattern().IsMatch(instanceId);

    [GeneratedRegex(@"^i-(?:[0-9a-f]{8}|[0-9a-f]{17})$", RegexOptions.CultureInvariant)]
    private static partial Regex Pattern();
}
