using Rlabs.Pipelines.Aws;
using Rlabs.Pipelines.Cloud;
using Rlabs.Pipelines.Containers;
using Rlabs.Pipelines.Local;
using Rlabs.Pipelines.Planning;
using Rlabs.Pipelines.Running;

namespace Rlabs.Pipelines.Runtimes;

/// <summary>What a runtime may need from the caller: the AWS session options (a cloud run, and ECR pulls of a local container run).</summary>
public sealed class RuntimeServices
{
    /// <summary>Profile, region, keys, endpoint and credentials file of the user's AWS session.</summary>
    public AwsSessionOptions Session { get; init; } = new();

    /// <summary>Creates the session of a cloud run; default: <see cref="AwsSession.Create(AwsSessionOptions)"/> with <see cref="Session"/>.</summary>
    public Func<AwsSession>? CreateSession { get; init; }
}

/// <summary>
/// The one place that turns a request into its runtime. A new runtime (AWS Batch, Kubernetes, a
/// server-side engine) is a new folder implementing <see cref="IPipelineRuntime"/> plus one case here.
/// </summary>
public static class PipelineRuntimes
{
    /// <summary>The runtime of the request's target (see <see cref="RunPlanner.Target"/>): local or SageMaker.</summary>
    public static IPipelineRuntime Create(RunRequest request, RuntimeServices services)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(services);
        return RunPlanner.Target(request) switch
        {
            // ECR images (the SageMaker defaults) are pulled with a login from the user's AWS session, made only
            // when an image is missing: a run whose images are present needs no AWS credentials at all.
            RunTarget.Local => LocalRuntime.Create(request, EcrRegistryLogin.FromOptions(services.Session)),
            _ when request.Cloud.Engine == CloudEngine.SageMakerPipelines => new SageMakerPipelinesRuntime(services.CreateSession?.Invoke() ?? AwsSession.Create(services.Session)),
            _ => new SageMakerRuntime(services.CreateSession?.Invoke() ?? AwsSession.Create(services.Session)),
        };
    }
}
