using System.Collections;
using System.Globalization;
using System.Management.Automation;
using System.Management.Automation.Language;

namespace Rlabs.Pipelines;

/// <summary>Tab completion for -TimeZone: the IANA names EventBridge Scheduler takes, as this machine knows them, with their current offset.</summary>
public sealed class TimeZoneCompleter : IArgumentCompleter
{
    /// <inheritdoc/>
    public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName, string wordToComplete, CommandAst commandAst, IDictionary fakeBoundParameters)
    {
        var prefix = (wordToComplete ?? string.Empty).Trim('\'', '"');
        var now = DateTimeOffset.UtcNow;
        return IanaNames()
            .Where(n => n.StartsWith(prefix, StringComparison.OrdinalIgnoreCase) || (prefix.Length > 0 && n.Contains("/" + prefix, StringComparison.OrdinalIgnoreCase)))
            .Order(StringComparer.Ordinal)
            .Select(n => new CompletionResult(Quote(n), n, CompletionResultType.ParameterValue, $"{n}, now UTC{Offset(n, now)}"));
    }

    /// <summary>IANA ids: the system's own on Linux and macOS, converted from Windows ids on Windows.</summary>
    private static HashSet<string> IanaNames()
    {
        var names = new HashSet<string>(StringComparer.Ordinal) { "UTC" };
        foreach (var zone in TimeZoneInfo.GetSystemTimeZones())
        {
            if (zone.HasIanaId)
            {
                names.Add(zone.Id);
            }
            else if (TimeZoneInfo.TryConvertWindowsIdToIanaId(zone.Id, out var iana))
            {
                names.Add(iana);
            }
        }
        return names;
    }

    private static string Offset(string id, DateTimeOffset now)
    {
        try
        {
            var offset = TimeZoneInfo.FindSystemTimeZoneById(id).GetUtcOffset(now);
            return (offset < TimeSpan.Zero ? "-" : "+") + offset.ToString(@"hh\:mm", CultureInfo.InvariantCulture);
        }
        catch (TimeZoneNotFoundException)
        {
            return string.Empty;
        }
    }

    // America/Argentina/Buenos_Aires needs no quotes, but a name with a '+' or '-' (Etc/GMT+5) reads as an operator.
    private static string Quote(string name) => name.Any(c => c is '+' or '-') ? $"'{name}'" : name;
}
