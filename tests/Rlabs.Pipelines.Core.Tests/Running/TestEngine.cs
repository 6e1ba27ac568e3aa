using Rlabs.Pipelines.Containers;
using Rlabs.Pipelines.Local;

namespace Rlabs.Pipelines.Tests.Running;

/// <summary>
/// The container engine of the tests (build.ps1 Test starts one and sets DOCKER_HOST). Where none answers, the
/// container tests are skipped with the reason, except in CI as root on Linux, where an engine can always be
/// started and its absence is a failure.
/// </summary>
internal static class TestEngine
{
    private static readonly Lazy<Task<(ContainerEngineInfo? Info, string? Problem)>> s_probe = new(ProbeAsync);

    /// <summary>The image the tests' pipelines name (Start-TestEngine.ps1 imports it).</summary>
    public static string Image => Environment.GetEnvironmentVariable("RLABS_TEST_IMAGE") is { Length: > 0 } image ? image : "rlabs-test-python:bookworm";

    /// <summary>Skips the calling test when no engine with the test image answers (fails instead in CI as root on Linux).</summary>
    public static async Task<ContainerEngineInfo> RequireAsync()
    {
        var (info, problem) = await s_probe.Value;
        if (info is not null)
        {
            return info;
        }
        if (MustRun())
        {
            Assert.Fail($"Container tests must run in CI as root on Linux, but {problem}");
        }
        Skip.If(true, problem);
        throw new InvalidOperationException("unreachable");
    }

    /// <summary>The test registry's image, user and password (Start-TestEngine.ps1 pushes it); skips or fails like <see cref="RequireAsync"/>.</summary>
    public static (string Image, string User, string Password) RequireRegistry()
    {
        var image = Environment.GetEnvironmentVariable("RLABS_TEST_REGISTRY_IMAGE");
        var user = Environment.GetEnvironmentVariable("RLABS_TEST_REGISTRY_USER");
        var password = Environment.GetEnvironmentVariable("RLABS_TEST_REGISTRY_PASSWORD");
        if (image is { Length: > 0 } && user is { Length: > 0 } && password is { Length: > 0 })
        {
            return (image, user, password);
        }
        const string Problem = "no test registry (RLABS_TEST_REGISTRY_IMAGE/_USER/_PASSWORD; tests/container/Start-TestEngine.ps1 starts one).";
        if (MustRun())
        {
            Assert.Fail("Registry tests must run in CI as root on Linux, but there is " + Problem);
        }
        Skip.If(true, "There is " + Problem);
        throw new InvalidOperationException("unreachable");
    }

    private static bool MustRun() => OperatingSystem.IsLinux()
        && string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase)
        && ContainerStepRunner.CurrentLinuxUser()?.StartsWith("0:", StringComparison.Ordinal) == true;

    private static async Task<(ContainerEngineInfo?, string?)> ProbeAsync()
    {
        try
        {
            using var engine = ContainerEngine.Connect(ContainerEngineLocator.Resolve());
            var info = await engine.ProbeAsync(TimeSpan.FromSeconds(10), CancellationToken.None);
            if (!await engine.HasImageAsync(Image, CancellationToken.None))
            {
                return (null, $"the engine at {engine.Endpoint} has no image {Image} (tests/container/Start-TestEngine.ps1 imports it).");
            }
            return (info, null);
        }
        catch (Exception ex) when (ex is ContainerEngineException or RlabsConfigException)
        {
            var reason = Environment.GetEnvironmentVariable("RLABS_TEST_ENGINE_SKIP_REASON");
            return (null, $"no container engine: {ex.Message}{(reason is null ? string.Empty : " Test engine: " + reason)}");
        }
    }
}
