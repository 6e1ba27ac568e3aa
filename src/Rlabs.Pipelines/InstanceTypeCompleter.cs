using System.Collections;
using System.Management.Automation;
using System.Management.Automation.Language;

namespace Rlabs.Pipelines;

/// <summary>Tab completion for -InstanceType: local and common SageMaker Processing instance types.</summary>
public sealed class InstanceTypeCompleter : IArgumentCompleter
{
    private static readonly string[] s_types =
    [
        "local", "ml.t3.medium", "ml.t3.large", "ml.t3.xlarge", "ml.t3.2xlarge", "ml.m5.large", "ml.m5.xlarge",
        "ml.m5.2xlarge", "ml.m5.4xlarge", "ml.m5.12xlarge", "ml.m5.24xlarge", "ml.c5.xlarge", "ml.c5.2xlarge",
        "ml.c5.4xlarge", "ml.r5.large", "ml.r5.xlarge", "ml.r5.2xlarge", "ml.g4dn.xlarge", "ml.g4dn.2xlarge",
        "ml.p3.2xlarge",
    ];

    /// <inheritdoc/>
    public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName, string wordToComplete, CommandAst commandAst, IDictionary fakeBoundParameters)
    {
        var prefix = (wordToComplete ?? string.Empty).Trim('\'', '"');
        return s_types
            .Where(t => t.StartsWith(prefix, StringComparison.OrdinalIgnoreCase))
            .Select(t => new CompletionResult(t, t, CompletionResultType.ParameterValue, t == "local" ? "Run every step on this machine" : $"SageMaker instance {t}"));
    }
}
