using System.Management.Automation;
using System.Reflection;
using System.Runtime.Loader;

namespace Rlabs.Pipelines;

/// <summary>
/// Loads Rlabs.Pipelines.Core and its dependencies (AWSSDK, YamlDotNet) from Dependencies/ into a private
/// load context, so a session that already loaded other versions (AWS.Tools) can still use this module.
/// Only the core's own name is answered from the default context; everything else stays private.
/// </summary>
public sealed class ModuleInitializer : IModuleAssemblyInitializer, IModuleAssemblyCleanup
{
    private const string CoreAssemblyName = "Rlabs.Pipelines.Core";

    private static readonly string s_dependencyFolder = Path.Combine(
        Path.GetDirectoryName(typeof(ModuleInitializer).Assembly.Location)!, "Dependencies");

    private static readonly DependencyLoadContext s_context = new(s_dependencyFolder);

    /// <inheritdoc/>
    public void OnImport()
    {
        AssemblyLoadContext.Default.Resolving += ResolveCore;
        TypeAccelerators.Register(s_context.LoadFromAssemblyName(new AssemblyName(CoreAssemblyName)));
    }

    /// <inheritdoc/>
    public void OnRemove(PSModuleInfo psModuleInfo)
    {
        TypeAccelerators.Unregister();
        AssemblyLoadContext.Default.Resolving -= ResolveCore;
    }

    private static Assembly? ResolveCore(AssemblyLoadContext context, AssemblyName name) =>
        string.Equals(name.Name, CoreAssemblyName, StringComparison.Ordinal) ? s_context.LoadFromAssemblyName(name) : null;

    private sealed class DependencyLoadContext : AssemblyLoadContext
    {
        private readonly string _folder;

        public DependencyLoadContext(string folder)
            : base("Rlabs.Pipelines", isCollectible: false)
        {
            _folder = folder;
        }

        protected override Assembly? Load(AssemblyName assemblyName)
        {
            var candidate = Path.Combine(_folder, assemblyName.Name + ".dll");
            // Framework assemblies are not shipped in Dependencies/, so they fall through to the shared runtime.
            return File.Exists(candidate) ? LoadFromAssemblyPath(candidate) : null;
        }
    }
}
