using System.Collections;
using System.Management.Automation;
using System.Management.Automation.Language;
using Rlabs.Pipelines.Config;

namespace Rlabs.Pipelines;

/// <summary>Completes -Step, -FromStep and -ToStep with the step names of the pipeline file given by -Path.</summary>
public sealed class StepNameCompleter : IArgumentCompleter
{
    /// <inheritdoc/>
    public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName, string wordToComplete, CommandAst commandAst, IDictionary fakeBoundParameters)
    {
        ArgumentNullException.ThrowIfNull(fakeBoundParameters);
        var path = fakeBoundParameters["Path"] as string ?? (fakeBoundParameters["Path"] as PSObject)?.BaseObject as string;
        if (string.IsNullOrWhiteSpace(path))
        {
            return [];
        }
        var repository = fakeBoundParameters["RepositoryPath"] as string;
        return Complete(path, repository, wordToComplete);
    }

    // A separate method: the core's reader is touched only here, after the module's load context answers for it.
    private static IEnumerable<CompletionResult> Complete(string path, string? repository, string? wordToComplete)
    {
        string full;
        try
        {
            full = System.IO.Path.GetFullPath(path);
        }
        catch (ArgumentException)
        {
            return [];
        }
        if (!File.Exists(full))
        {
            return [];
        }
        var result = PipelineConfigReader.Read(full, repository ?? Environment.CurrentDirectory);
        var prefix = (wordToComplete ?? string.Empty).Trim('\'', '"');
        var steps = result.Pipeline?.Steps.Select(s => (s.Name, s.Code)) ?? [];
        return steps
            .Where(s => s.Name.StartsWith(prefix, StringComparison.OrdinalIgnoreCase))
            .Select(s => new CompletionResult(s.Name, s.Name, CompletionResultType.ParameterValue, $"Step {s.Name} ({s.Code})"));
    }
}
