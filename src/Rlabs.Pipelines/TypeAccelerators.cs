using System.Management.Automation;
using System.Reflection;

namespace Rlabs.Pipelines;

/// <summary>
/// Makes the module's output types and enums nameable in scripts (<c>[Rlabs.Pipelines.RlabsPipelineRun]</c>).
/// PowerShell resolves a type name only in assemblies of the default load context, and the core lives in a
/// private one; a type accelerator maps the name to the type object itself, so nothing else of the core (and
/// none of its AWSSDK) becomes visible to the session.
/// </summary>
internal static class TypeAccelerators
{
    /// <summary>The public namespace of the core's model: runs, steps, pipelines, diagnostics, schedules.</summary>
    private const string ModelNamespace = "Rlabs.Pipelines";

    // System.Management.Automation.TypeAccelerators is internal; PowerShell documents using it through
    // [psobject].Assembly.GetType(...), which is what modules that expose classes (PSReadLine, Pester) do.
    private static readonly Type? s_accelerators = typeof(PSObject).Assembly.GetType("System.Management.Automation.TypeAccelerators");

    private static readonly List<string> s_registered = [];

    /// <summary>The types that get a name: every public, non-static type of the model namespace.</summary>
    internal static IEnumerable<Type> ModelTypes(Assembly core) =>
        core.GetExportedTypes().Where(t => t.Namespace == ModelNamespace && !(t.IsAbstract && t.IsSealed));

    public static void Register(Assembly core)
    {
        if (s_accelerators?.GetProperty("Get")?.GetValue(null) is not IDictionary<string, Type> existing)
        {
            return; // a PowerShell without the table: scripts keep using the objects, only not the names.
        }
        var add = s_accelerators.GetMethod("Add", [typeof(string), typeof(Type)]);
        lock (s_registered)
        {
            foreach (var type in ModelTypes(core))
            {
                // Another module (or an earlier import of a different copy) may own the name: leave it alone.
                if (type.FullName is { } name && !existing.ContainsKey(name))
                {
                    add?.Invoke(null, [name, type]);
                    s_registered.Add(name);
                }
            }
        }
    }

    public static void Unregister()
    {
        var remove = s_accelerators?.GetMethod("Remove", [typeof(string)]);
        lock (s_registered)
        {
            foreach (var name in s_registered)
            {
                remove?.Invoke(null, [name]);
            }
            s_registered.Clear();
        }
    }
}
