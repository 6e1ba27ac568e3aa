using Rlabs.Pipelines.Containers;
using Rlabs.Pipelines.Running;

namespace Rlabs.Pipelines.Local;

/// <summary>
/// The runner of a local run: runs each step with the runtime of <see cref="LocalRunLayout.Runtime"/>, and
/// for Auto picks per step: Container when the engine answered and already has the step's image, else Process.
/// </summary>
internal sealed class LocalStepRunner : IStepRunner, IDisposable
{
    /// <summary>How long Auto waits for an engine before it settles for processes.</summary>
    public static readonly TimeSpan AutoProbeTimeout = TimeSpan.FromSeconds(3);

    /// <summary>How long Container waits for the engine before it gives up.</summary>
    public static readonly TimeSpan ContainerProbeTimeout = TimeSpan.FromSeconds(20);

    private readonly LocalRunLayout _plan;
    private readonly LocalProcessRunner _process;
    private readonly ContainerEngine? _engine;
    private readonly ContainerStepRunner? _container;
    private readonly string? _noContainerReason;

    private LocalStepRunner(LocalRunLayout plan, ContainerEngine? engine, ContainerStepRunner? container, string? noContainerReason)
    {
        _plan = plan;
        _process = new LocalProcessRunner(plan);
        _engine = engine;
        _container = container;
        _noContainerReason = noContainerReason;
    }

    /// <inheritdoc/>
    public string RuntimeName => _plan.Runtime.ToString();

    /// <summary>The engine in use, when containers run.</summary>
    public ContainerEngineInfo? Engine { get; private set; }

    /// <summary>
    /// Connects to the engine when the runtime needs one. With Container, an engine that does not answer is a
    /// <see cref="ContainerEngineException"/> (nothing has run yet); with Auto it only means processes.
    /// </summary>
    public static async Task<LocalStepRunner> CreateAsync(LocalRunLayout plan, IRegistryLogin? login, IRunReporter reporter, Func<ContainerEngineEndpoint> locate, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(plan);
        ArgumentNullException.ThrowIfNull(reporter);
        var runtime = plan.Runtime;
        if (runtime == RlabsLocalRuntime.Process)
        {
            return new LocalStepRunner(plan, null, null, null);
        }
        ContainerEngine? engine = null;
        try
        {
            engine = ContainerEngine.Connect(locate());
            var info = await engine.ProbeAsync(runtime == RlabsLocalRuntime.Auto ? AutoProbeTimeout : ContainerProbeTimeout, cancellationToken).ConfigureAwait(false);
            reporter.Verbose($"Container engine: {info.Name} {info.Version}{(info.Rootless ? " (rootless)" : string.Empty)} at {engine.Endpoint}");
            var runner = new LocalStepRunner(plan, engine, new ContainerStepRunner(plan, engine, info, login), null) { Engine = info };
            engine = null; // owned by the runner now
            return runner;
        }
        catch (Exception ex) when (runtime == RlabsLocalRuntime.Auto && ex is ContainerEngineException or RlabsConfigException)
        {
            reporter.Verbose($"Runtime Auto: steps run as processes: {ex.Message}");
            return new LocalStepRunner(plan, null, null, ex.Message);
        }
        catch (RlabsConfigException ex)
        {
            // A DOCKER_HOST or docker context that cannot be used: for -LocalRuntime Container, the engine is unavailable.
            throw new ContainerEngineException(ex.Message, "ContainerEngineUnavailable", ex);
        }
        finally
        {
            engine?.Dispose();
        }
    }

    /// <inheritdoc/>
    public async Task<StepOutcome> RunStepAsync(int index, RlabsPipelineStepRun stepRun, IRunReporter reporter, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(stepRun);
        ArgumentNullException.ThrowIfNull(reporter);
        var runner = await ChooseAsync(index, reporter, cancellationToken).ConfigureAwait(false);
        stepRun.Runtime = runner.RuntimeName;
        return await runner.RunStepAsync(index, stepRun, reporter, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc/>
    public void Dispose() => _engine?.Dispose();

    private async Task<IStepRunner> ChooseAsync(int index, IRunReporter reporter, CancellationToken cancellationToken)
    {
        switch (_plan.Runtime)
        {
            case RlabsLocalRuntime.Process:
                return _process;
            case RlabsLocalRuntime.Container:
                return _container!;
        }
        var step = _plan.Steps[index];
        string reason;
        if (_container is null)
        {
            reason = _noContainerReason ?? "no container engine";
        }
        else if (step.Image is not { } image)
        {
            reason = step.ImageProblem ?? "no image";
        }
        else
        {
            bool present;
            try
            {
                present = await _engine!.HasImageAsync(image, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not OperationCanceledException && ContainerEngine.IsConnectionFailure(ex))
            {
                reporter.Verbose($"[{step.Step.Name}] runtime Auto chose Process: the engine did not answer: {ex.GetBaseException().Message}");
                return _process;
            }
            if (present)
            {
                reporter.Verbose($"[{step.Step.Name}] runtime Auto chose Container: the engine has {image}");
                return _container;
            }
            reason = $"the engine does not have {image} (Auto does not pull; use -LocalRuntime Container to pull it)";
        }
        reporter.Verbose($"[{step.Step.Name}] runtime Auto chose Process: {reason}");
        return _process;
    }
}
