using System.Text.RegularExpressions;

namespace Rlabs.Pipelines;

/// <summary>The one source of the instance-type rules: the default, 'local', and what a valid name looks like.</summary>
public static partial class InstanceTypes
{
    /// <summary>The instance type that runs every step on this computer.</summary>
    public const string Local = "local";

    /// <summary>The instance type of a step that names none (nor does the pipeline nor the caller).</summary>
    public const string Default = "ml.t3.xlarge";

    /// <summary>Whether an instance type is 'local' or looks like a SageMaker one (ml.family.size).</summary>
    public static bool IsValid(string instanceType) => Pattern().IsMatch(instanceType);

    /// <summary>Whether the type runs the step on this computer.</summary>
    public static bool IsLocal(string instanceType) => string.Equals(instanceType, Local, StringComparison.OrdinalIgnoreCase);

    [GeneratedRegex(@"^(local|ml\.[a-z0-9]+\.[a-z0-9]+)$", RegexOptions.CultureInvariant)]
    private static partial Regex Pattern();
}

/// <summary>The one source of the EC2 instance-id rule (schedules run on an instance).</summary>
public static partial class InstanceIds
{
    /// <summary>Whether the text is an EC2 instance id: i- and 8 or 17 hexadecimal digits.</summary>
    public static bool IsValid(string instanceId) => Pattern().IsMatch(instanceId);

    [GeneratedRegex(@"^i-(?:[0-9a-f]{8}|[0-9a-f]{17})$", RegexOptions.CultureInvariant)]
    private static partial Regex Pattern();
}
