using System.Collections;
using System.Management.Automation;
using System.Management.Automation.Language;
using Rlabs.Pipelines.Aws;

namespace Rlabs.Pipelines;

/// <summary>Tab completion for -Region: the regions the module's AWS SDK knows.</summary>
public sealed class AwsRegionCompleter : IArgumentCompleter
{
    /// <inheritdoc/>
    public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName, string wordToComplete, CommandAst commandAst, IDictionary fakeBoundParameters) =>
        Complete(wordToComplete);

    // Separate, so the core is touched only once the module's load context answers for it.
    private static List<CompletionResult> Complete(string? wordToComplete)
    {
        var prefix = (wordToComplete ?? string.Empty).Trim('\'', '"');
        return AwsSession.KnownRegions()
            .Where(r => r.Name.StartsWith(prefix, StringComparison.OrdinalIgnoreCase))
            .Select(r => new CompletionResult(r.Name, r.Name, CompletionResultType.ParameterValue, r.DisplayName))
            .ToList();
    }
}

/// <summary>Tab completion for -ProfileName: the profiles of the shared config and credentials files (or -ProfileLocation's).</summary>
public sealed class AwsProfileCompleter : IArgumentCompleter
{
    /// <inheritdoc/>
    public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName, string wordToComplete, CommandAst commandAst, IDictionary fakeBoundParameters)
    {
        var location = fakeBoundParameters?["ProfileLocation"] as string;
        return Complete(wordToComplete, location);
    }

    private static List<CompletionResult> Complete(string? wordToComplete, string? location)
    {
        var prefix = (wordToComplete ?? string.Empty).Trim('\'', '"');
        IReadOnlyList<string> names;
        try
        {
            names = AwsSession.ProfileNames(location);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException)
        {
            return []; // an unreadable file completes nothing rather than breaking the prompt
        }
        return names
            .Where(n => n.StartsWith(prefix, StringComparison.OrdinalIgnoreCase))
            .Select(n => new CompletionResult(n.Contains(' ', StringComparison.Ordinal) ? $"'{n}'" : n, n, CompletionResultType.ParameterValue, $"AWS profile {n}"))
            .ToList();
    }
}
