using Rlabs.Pipelines.Config;
using Rlabs.Pipelines.Containers;
using Rlabs.Pipelines.Local;
using Rlabs.Pipelines.Planning;
using Rlabs.Pipelines.Running;

namespace Rlabs.Pipelines.Tests.Running;

/// <summary>Local runs through the one engine, as Invoke-RlabsPipeline -InstanceType local starts them.</summary>
internal static class LocalRuns
{
    public static RunRequest Request(RlabsPipeline pipeline, string jobId, RlabsLocalRuntime runtime = RlabsLocalRuntime.Process, CredentialsFile? credentials = null, string? pythonPath = null, string? region = null) => new()
    {
        Pipeline = pipeline,
        JobId = jobId,
        InstanceType = InstanceTypes.Local,
        Credentials = credentials,
        Local = new LocalRunOptions { Runtime = runtime, PythonPath = pythonPath, Region = region },
    };

    /// <summary>The runtime with its plan bound (what -WhatIf shows).</summary>
    public static (LocalRuntime Runtime, RunPlan Plan) Plan(RunRequest request, IRegistryLogin? login = null, Func<ContainerEngineEndpoint>? locate = null)
    {
        var runtime = LocalRuntime.Create(request, login, locate ?? ContainerEngineLocator.Resolve);
        return (runtime, RunEngine.Plan(request, runtime));
    }

    /// <summary>Plans and runs the request to its end.</summary>
    public static async Task<(RlabsPipelineRun Run, LocalRunLayout Layout)> RunAsync(RunRequest request, IRunReporter reporter, IRegistryLogin? login = null, Func<ContainerEngineEndpoint>? locate = null, CancellationToken cancellationToken = default)
    {
        var (runtime, plan) = Plan(request, login, locate);
        using (runtime)
        {
            var run = await RunEngine.RunAsync(plan, runtime, reporter, cancellationToken);
            return (run, runtime.Layout);
        }
    }
}
