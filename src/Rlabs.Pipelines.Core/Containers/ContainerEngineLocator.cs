using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace Rlabs.Pipelines.Containers;

/// <summary>Where a container engine's API listens, and how that was decided (for messages).</summary>
/// <param name="Uri">unix://, npipe://, tcp:// or http:// address of the engine's HTTP API.</param>
/// <param name="Source">Why this address: DOCKER_HOST, a docker context, the default socket, podman's socket.</param>
public sealed record ContainerEngineEndpoint(Uri Uri, string Source)
{
    /// <inheritdoc/>
    public override string ToString() => $"{Uri} ({Source})";
}

/// <summary>
/// Finds the engine the way the docker CLI does: DOCKER_HOST, else the context named by DOCKER_CONTEXT or the
/// CLI config's currentContext, else the default socket. Podman's Docker-compatible socket is tried when the
/// default socket does not exist, so a podman-only machine needs no setting.
/// </summary>
public static class ContainerEngineLocator
{
    /// <summary>The default socket of the docker CLI on Linux and macOS.</summary>
    public const string DefaultUnixSocket = "/var/run/docker.sock";

    /// <summary>The default named pipe of Docker on Windows.</summary>
    public const string DefaultWindowsPipe = "npipe://./pipe/docker_engine";

    /// <summary>Resolves the endpoint from this process's environment and the user's docker CLI config.</summary>
    public static ContainerEngineEndpoint Resolve() => Resolve(Environment.GetEnvironmentVariable, File.Exists, OperatingSystem.IsWindows());

    /// <summary>Resolves the endpoint from the given environment and file probe (testable without touching the machine).</summary>
    internal static ContainerEngineEndpoint Resolve(Func<string, string?> environment, Func<string, bool> fileExists, bool isWindows)
    {
        if (environment("DOCKER_HOST") is { Length: > 0 } host)
        {
            return new ContainerEngineEndpoint(ParseHost(host, "DOCKER_HOST"), "DOCKER_HOST");
        }

        var configDirectory = environment("DOCKER_CONFIG") is { Length: > 0 } configured
            ? configured
            : Path.Combine(environment(isWindows ? "USERPROFILE" : "HOME") ?? Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".docker");
        var context = environment("DOCKER_CONTEXT") is { Length: > 0 } named ? named : CurrentContext(configDirectory, fileExists);
        if (context is not null && !context.Equals("default", StringComparison.Ordinal))
        {
            var meta = Path.Combine(configDirectory, "contexts", "meta", Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(context))), "meta.json");
            if (ContextHost(meta, fileExists) is { } contextHost)
            {
                return new ContainerEngineEndpoint(ParseHost(contextHost, $"docker context '{context}'"), $"docker context '{context}'");
            }
            throw new RlabsConfigException($"The docker context '{context}' (from {(environment("DOCKER_CONTEXT") is { Length: > 0 } ? "DOCKER_CONTEXT" : "the docker CLI config")}) has no docker endpoint in {meta}. Run 'docker context ls', or set DOCKER_HOST.", meta);
        }

        if (isWindows)
        {
            return new ContainerEngineEndpoint(new Uri(DefaultWindowsPipe), "the default named pipe");
        }
        if (fileExists(DefaultUnixSocket))
        {
            return new ContainerEngineEndpoint(new Uri("unix://" + DefaultUnixSocket), "the default socket");
        }
        // Podman's Docker-compatible API: rootless first (per user), then the system service.
        var runtimeDirectory = environment("XDG_RUNTIME_DIR");
        foreach (var podman in new[] { runtimeDirectory is null ? null : Path.Combine(runtimeDirectory, "podman", "podman.sock"), "/run/podman/podman.sock" })
        {
            if (podman is not null && fileExists(podman))
            {
                return new ContainerEngineEndpoint(new Uri("unix://" + podman), "podman's socket");
            }
        }
        return new ContainerEngineEndpoint(new Uri("unix://" + DefaultUnixSocket), "the default socket");
    }

    private static Uri ParseHost(string host, string source)
    {
        if (!Uri.TryCreate(host, UriKind.Absolute, out var uri) || uri.Scheme is not ("unix" or "npipe" or "tcp" or "http" or "https"))
        {
            throw new RlabsConfigException($"{source} is '{host}', which is not an engine address this module can use. Use unix:///path/to/docker.sock, npipe://./pipe/docker_engine or tcp://host:port (ssh:// is not supported: forward the socket instead).", file: null);
        }
        return uri;
    }

    private static string? CurrentContext(string configDirectory, Func<string, bool> fileExists)
    {
        var config = Path.Combine(configDirectory, "config.json");
        if (!fileExists(config))
        {
            return null;
        }
        try
        {
            using var document = JsonDocument.Parse(File.ReadAllText(config));
            return document.RootElement.ValueKind == JsonValueKind.Object && document.RootElement.TryGetProperty("currentContext", out var current) && current.ValueKind == JsonValueKind.String
                ? current.GetString()
                : null;
        }
        catch (JsonException)
        {
            return null; // the docker CLI would complain; the default endpoint is the best guess
        }
        catch (IOException)
        {
            return null;
        }
    }

    private static string? ContextHost(string meta, Func<string, bool> fileExists)
    {
        if (!fileExists(meta))
        {
            return null;
        }
        try
        {
            using var document = JsonDocument.Parse(File.ReadAllText(meta));
            return document.RootElement.TryGetProperty("Endpoints", out var endpoints)
                && endpoints.TryGetProperty("docker", out var docker)
                && docker.TryGetProperty("Host", out var host)
                && host.ValueKind == JsonValueKind.String
                ? host.GetString()
                : null;
        }
        catch (JsonException)
        {
            return null;
        }
        catch (IOException)
        {
            return null;
        }
    }
}
