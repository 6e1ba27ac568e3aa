using System.Collections;
using System.Management.Automation;
using System.Reflection;
using Rlabs.Pipelines.Cli;

namespace Rlabs.Pipelines.CommandLine;

/// <summary>
/// The bridge between the <c>rlabs</c> function (Rlabs.Pipelines.Cli.psm1) and the core's
/// <see cref="SeedCommandLine"/>: parses the words typed and hands back the cmdlet to run with its
/// parameters, the help text, or the usage error.
/// </summary>
/// <remarks>
/// Why a static class in this assembly rather than a type of the core or a cmdlet: the core lives in the
/// module's private load context, which PowerShell's type lookup cannot load on demand, while this assembly
/// is loaded by Import-Module and resolves the core the same way the cmdlets do. A cmdlet
/// (ConvertFrom-RlabsCommandLine) would add public surface, with help to maintain, for an internal step.
/// The cmdlet is handed back as its type, which the function finds among its module's exported cmdlets:
/// a session that imported the module with -Prefix, shadowed Invoke-RlabsPipeline with a function or
/// loaded two versions of the module still runs this module's cmdlet, bound to the module.
/// </remarks>
public static class RlabsCommandLine
{
    /// <summary>Error id of a command line that does not parse.</summary>
    public const string UsageErrorId = "CommandLineInvalid";

    private static readonly Dictionary<string, Type> s_cmdlets = typeof(RlabsCommandLine).Assembly.GetTypes()
        .Select(t => (Type: t, Attribute: t.GetCustomAttribute<CmdletAttribute>()))
        .Where(c => c.Attribute is not null && typeof(Cmdlet).IsAssignableFrom(c.Type))
        .ToDictionary(c => c.Attribute!.VerbName + "-" + c.Attribute.NounName, c => c.Type, StringComparer.OrdinalIgnoreCase);

    /// <summary>Tab completion for the rlabs command (registered by Rlabs.Pipelines.Cli.psm1).</summary>
    /// <param name="typed">The complete words after <c>rlabs</c>, before the one being completed.</param>
    /// <param name="wordToComplete">The word being completed.</param>
    public static CompletionResult[] Complete(string[]? typed, string? wordToComplete) =>
        SeedCommandLine.Complete(typed ?? [], wordToComplete ?? string.Empty)
            .Select(c => new CompletionResult(c.Text, c.Text, c.Text.StartsWith('-') ? CompletionResultType.ParameterName : CompletionResultType.ParameterValue, string.IsNullOrEmpty(c.Description) ? c.Text : c.Description))
            .ToArray();

    /// <summary>Parses the words after <c>rlabs</c>, e.g. <c>aws pipeline run -p pipeline.yaml -i local</c>.</summary>
    /// <param name="arguments">The words as typed.</param>
    /// <param name="currentDirectory">The current file-system location, where default files such as credentials.yaml are looked for.</param>
    public static RlabsCommandLineRequest Parse(string[]? arguments, string currentDirectory)
    {
        var result = SeedCommandLine.Parse(arguments, file => File.Exists(Path.Combine(currentDirectory, file)));
        switch (result.Outcome)
        {
            case SeedCommandLineOutcome.Help:
                return new RlabsCommandLineRequest(RlabsCommandLineOutcome.Help, result.CommandPath) { HelpText = result.HelpText!.TrimEnd() };
            case SeedCommandLineOutcome.UsageError:
                return new RlabsCommandLineRequest(RlabsCommandLineOutcome.UsageError, result.CommandPath)
                {
                    Error = ErrorMapping.Record(new ArgumentException($"{result.CommandPath}: {result.ErrorMessage}"), UsageErrorId, ErrorCategory.InvalidArgument, result.Flag,
                        $"Run {result.CommandPath} --help for its options."),
                };
            default:
                if (!s_cmdlets.TryGetValue(result.CmdletName!, out var type))
                {
                    return new RlabsCommandLineRequest(RlabsCommandLineOutcome.Failed, result.CommandPath)
                    {
                        Error = ErrorMapping.Record(
                            new NotSupportedException($"{result.CommandPath}: this version of Rlabs.Pipelines has no {result.CmdletName} cmdlet to run it."),
                            "CommandNotAvailable", ErrorCategory.NotImplemented, result.CmdletName),
                    };
                }
                var parameters = new Hashtable(StringComparer.OrdinalIgnoreCase);
                foreach (var (name, value) in result.Parameters)
                {
                    parameters[name] = value is bool on ? new SwitchParameter(on) : value;
                }
                return new RlabsCommandLineRequest(RlabsCommandLineOutcome.Invoke, result.CommandPath)
                {
                    CmdletName = result.CmdletName,
                    CmdletType = type,
                    Parameters = parameters,
                };
        }
    }
}

/// <summary>What the <c>rlabs</c> function does with a command line.</summary>
public enum RlabsCommandLineOutcome
{
    /// <summary>Run <see cref="RlabsCommandLineRequest.CmdletType"/> with <see cref="RlabsCommandLineRequest.Parameters"/>.</summary>
    Invoke,

    /// <summary>Write <see cref="RlabsCommandLineRequest.HelpText"/>.</summary>
    Help,

    /// <summary>The command line is wrong: throw <see cref="RlabsCommandLineRequest.Error"/>.</summary>
    UsageError,

    /// <summary>The command line is right but cannot run here: throw <see cref="RlabsCommandLineRequest.Error"/>.</summary>
    Failed,
}

/// <summary>A parsed <c>rlabs</c> command line, ready for the function to act on.</summary>
public sealed class RlabsCommandLineRequest
{
    internal RlabsCommandLineRequest(RlabsCommandLineOutcome outcome, string commandPath)
    {
        Outcome = outcome;
        CommandPath = commandPath;
    }

    /// <summary>Invoke, Help, UsageError or Failed.</summary>
    public RlabsCommandLineOutcome Outcome { get; }

    /// <summary>The command the line reached, e.g. "rlabs aws pipeline run".</summary>
    public string CommandPath { get; }

    /// <summary>The name of the cmdlet to run, without a prefix (Invoke).</summary>
    public string? CmdletName { get; internal init; }

    /// <summary>The class of the cmdlet to run (Invoke).</summary>
    public Type? CmdletType { get; internal init; }

    /// <summary>The cmdlet's parameters, ready to splat (Invoke).</summary>
    public Hashtable Parameters { get; internal init; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>The usage text (Help).</summary>
    public string? HelpText { get; internal init; }

    /// <summary>The error to throw (UsageError, Failed).</summary>
    public ErrorRecord? Error { get; internal init; }
}
