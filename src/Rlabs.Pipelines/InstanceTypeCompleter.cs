using System.Collections;
using System.Management.Automation;
using System.Management.Automation.Language;

namespace Rlabs.Pipelines;

/// <summary>Tab completion for -InstanceType and -SageMakerInstanceType: local and the SageMaker Processing instance types.</summary>
public sealed class InstanceTypeCompleter : IArgumentCompleter
{
    /// <inheritdoc/>
    public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName, string wordToComplete, CommandAst commandAst, IDictionary fakeBoundParameters) =>
        Complete(wordToComplete);

    // A separate method: the core's list is touched only here, after the module's load context answers for it.
    private static IEnumerable<CompletionResult> Complete(string? wordToComplete)
    {
        var prefix = (wordToComplete ?? string.Empty).Trim('\'', '"');
        return InstanceTypes.Known.Prepend(InstanceTypes.Local)
            .Where(t => t.StartsWith(prefix, StringComparison.OrdinalIgnoreCase))
            .Select(t => new CompletionResult(t, t, CompletionResultType.ParameterValue, t == InstanceTypes.Local ? "Run every step on this machine" : $"SageMaker instance {t}"));
    }
}
