using System.Globalization;
using System.Net.Http;
using System.Net.Sockets;
using Docker.DotNet;
using Docker.DotNet.Models;
using Rlabs.Pipelines.Running;

namespace Rlabs.Pipelines.Containers;

/// <summary>The container engine cannot be reached, or cannot do what a step needs (image, container).</summary>
public sealed class ContainerEngineException : Exception
{
    /// <summary>Creates the exception.</summary>
    public ContainerEngineException(string message, string errorId, Exception? inner = null)
        : base(message, inner)
    {
        ErrorId = errorId;
    }

    /// <summary>Creates the exception.</summary>
    public ContainerEngineException()
        : this("The container engine failed.", "ContainerEngineFailed")
    {
    }

    /// <summary>Creates the exception.</summary>
    public ContainerEngineException(string message)
        : this(message, "ContainerEngineFailed")
    {
    }

    /// <summary>Creates the exception.</summary>
    public ContainerEngineException(string message, Exception innerException)
        : this(message, "ContainerEngineFailed", innerException)
    {
    }

    /// <summary>Stable id for the cmdlet's ErrorRecord: ContainerEngineUnavailable, ContainerImageNotFound, ….</summary>
    public string ErrorId { get; }
}

/// <summary>What the engine said about itself.</summary>
/// <param name="Name">Docker Engine, Podman, ….</param>
/// <param name="Version">The server version.</param>
/// <param name="Rootless">Whether it runs rootless: container root is then the invoking user.</param>
public sealed record ContainerEngineInfo(string Name, string Version, bool Rootless);

/// <summary>Credentials for a registry, from an ECR login or elsewhere.</summary>
/// <param name="ServerAddress">The registry host.</param>
/// <param name="Username">User name (AWS for ECR).</param>
/// <param name="Password">Password or token. Never printed.</param>
public sealed record RegistryCredentials(string ServerAddress, string Username, string Password)
{
    /// <inheritdoc/>
    public override string ToString() => $"{Username}@{ServerAddress}"; // never the password
}

/// <summary>Logs in to the registry of an image before a pull (the ECR login for SageMaker images).</summary>
public interface IRegistryLogin
{
    /// <summary>Credentials for pulling <paramref name="image"/>, or null to pull anonymously.</summary>
    Task<RegistryCredentials?> GetCredentialsAsync(string image, CancellationToken cancellationToken);
}

/// <summary>A connection to a Docker-compatible engine (Docker, Podman) through its HTTP API.</summary>
public sealed class ContainerEngine : IDisposable
{
    private readonly DockerClientConfiguration _configuration;

    private ContainerEngine(ContainerEngineEndpoint endpoint)
    {
        Endpoint = endpoint;
        _configuration = new DockerClientConfiguration(endpoint.Uri, credentials: null, defaultTimeout: TimeSpan.FromSeconds(100));
        Client = _configuration.CreateClient();
    }

    /// <summary>Where the engine listens.</summary>
    public ContainerEngineEndpoint Endpoint { get; }

    internal DockerClient Client { get; }

    /// <summary>A client for the engine at <paramref name="endpoint"/>; nothing is sent until the first call.</summary>
    public static ContainerEngine Connect(ContainerEngineEndpoint endpoint)
    {
        ArgumentNullException.ThrowIfNull(endpoint);
        return new ContainerEngine(endpoint);
    }

    /// <summary>Asks the engine who it is; throws <see cref="ContainerEngineException"/> (ContainerEngineUnavailable) when it does not answer within <paramref name="timeout"/>.</summary>
    public async Task<ContainerEngineInfo> ProbeAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        limit.CancelAfter(timeout);
        try
        {
            var version = await Client.System.GetVersionAsync(limit.Token).ConfigureAwait(false);
            var info = await Client.System.GetSystemInfoAsync(limit.Token).ConfigureAwait(false);
            var rootless = info.SecurityOptions?.Any(o => o.Contains("name=rootless", StringComparison.Ordinal)) == true;
            var name = version.Components?.FirstOrDefault()?.Name ?? "Docker Engine";
            return new ContainerEngineInfo(name, version.Version ?? "unknown", rootless);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw Unavailable($"it did not answer within {timeout.TotalSeconds.ToString("0", CultureInfo.InvariantCulture)} s", null);
        }
        catch (Exception ex) when (IsConnectionFailure(ex))
        {
            throw Unavailable(ex.GetBaseException().Message, ex);
        }
    }

    /// <summary>Whether the engine already has <paramref name="image"/>.</summary>
    public async Task<bool> HasImageAsync(string image, CancellationToken cancellationToken)
    {
        try
        {
            await Client.Images.InspectImageAsync(image, cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (DockerImageNotFoundException)
        {
            return false;
        }
    }

    /// <summary>
    /// Pulls <paramref name="image"/> unless the engine has it, logging in through <paramref name="login"/>
    /// first; progress goes to <paramref name="reporter"/>. A pull that fails names the image and how to get it.
    /// </summary>
    public async Task EnsureImageAsync(string image, IRegistryLogin? login, IRunReporter reporter, string activity, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(image);
        ArgumentNullException.ThrowIfNull(reporter);
        if (await HasImageAsync(image, cancellationToken).ConfigureAwait(false))
        {
            return;
        }
        reporter.Verbose($"Pulling image {image} from its registry");
        RegistryCredentials? credentials = null;
        if (login is not null)
        {
            try
            {
                credentials = await login.GetCredentialsAsync(image, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                throw NotAvailable(image, $"the registry login failed: {ex.Message}", ex);
            }
        }

        var (repository, tag) = SplitReference(image);
        var progress = new PullProgress(image, activity, reporter);
        try
        {
            await Client.Images.CreateImageAsync(
                new ImagesCreateParameters { FromImage = repository, Tag = tag },
                credentials is null ? null : new AuthConfig { ServerAddress = credentials.ServerAddress, Username = credentials.Username, Password = credentials.Password },
                progress,
                cancellationToken).ConfigureAwait(false);
        }
        catch (DockerApiException ex)
        {
            throw NotAvailable(image, ApiMessage(ex), ex);
        }
        finally
        {
            progress.Finish();
        }
        if (progress.Error is { } error || !await HasImageAsync(image, cancellationToken).ConfigureAwait(false))
        {
            throw NotAvailable(image, progress.Error ?? "the engine reported no error but does not have the image", null);
        }
        reporter.Verbose($"Pulled image {image}");
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        Client.Dispose();
        _configuration.Dispose();
    }

    /// <summary>The message of an API error: the engine's JSON "message" when there is one.</summary>
    internal static string ApiMessage(DockerApiException exception)
    {
        var body = exception.ResponseBody;
        if (!string.IsNullOrWhiteSpace(body))
        {
            try
            {
                using var document = System.Text.Json.JsonDocument.Parse(body);
                if (document.RootElement.ValueKind == System.Text.Json.JsonValueKind.Object && document.RootElement.TryGetProperty("message", out var message))
                {
                    return message.GetString() ?? body.Trim();
                }
            }
            catch (System.Text.Json.JsonException)
            {
            }
            return body.Trim();
        }
        return exception.Message;
    }

    internal static bool IsConnectionFailure(Exception exception) =>
        exception is HttpRequestException or SocketException or IOException or TimeoutException or DockerApiException
        || exception.InnerException is SocketException or IOException;

    private ContainerEngineException Unavailable(string reason, Exception? inner) => new(
        $"No container engine answered at {Endpoint.Uri} ({Endpoint.Source}): {reason}. Start Docker or Podman ('systemctl --user start podman.socket'), or set DOCKER_HOST to the engine's socket; or run the steps as processes with -LocalRuntime Process.",
        "ContainerEngineUnavailable",
        inner);

    private static ContainerEngineException NotAvailable(string image, string reason, Exception? inner)
    {
        var how = EcrImageHint(image);
        return new ContainerEngineException(
            $"The image '{image}' is not on this computer and could not be pulled: {reason}. {how}Or load it from a saved archive ('docker load -i image.tar'), or name an image you have with 'image:' in the pipeline file.",
            "ContainerImageNotFound",
            inner);
    }

    private static string EcrImageHint(string image) => Planning.EcrImage.TryParse(image, out var ecr)
        ? $"It is in Amazon ECR: pull it while online with AWS credentials that may read it (for example 'aws ecr get-login-password --region {ecr.Region} | docker login --username AWS --password-stdin {ecr.Registry}' then 'docker pull {image}'), or let Invoke-RlabsPipeline pull it with -Region {ecr.Region} and your AWS credentials. "
        : $"Pull it while online ('docker pull {image}'). ";

    /// <summary>Splits name[:tag] or name@digest into what the create-image call wants.</summary>
    internal static (string Repository, string Tag) SplitReference(string image)
    {
        if (image.Contains('@', StringComparison.Ordinal))
        {
            return (image, string.Empty); // a digest reference is pulled as a whole
        }
        var slash = image.LastIndexOf('/');
        var colon = image.LastIndexOf(':');
        return colon > slash ? (image[..colon], image[(colon + 1)..]) : (image, "latest");
    }

    /// <summary>Turns the engine's pull messages into throttled progress records and keeps the first error.</summary>
    private sealed class PullProgress : IProgress<JSONMessage>
    {
        private readonly object _gate = new();
        private readonly Dictionary<string, (long Current, long Total, bool Done)> _layers = new(StringComparer.Ordinal);
        private readonly string _image;
        private readonly string _activity;
        private readonly IRunReporter _reporter;
        private long _lastReport;

        public PullProgress(string image, string activity, IRunReporter reporter)
        {
            _image = image;
            _activity = activity;
            _reporter = reporter;
        }

        public string? Error { get; private set; }

        public void Report(JSONMessage value)
        {
            string status;
            int percent;
            lock (_gate)
            {
                if ((value.Error?.Message ?? value.ErrorMessage) is { Length: > 0 } error)
                {
                    Error ??= error;
                    return;
                }
                if (value.ID is { Length: > 0 } id && value.Status is not null)
                {
                    var done = value.Status.StartsWith("Pull complete", StringComparison.Ordinal) || value.Status.StartsWith("Already exists", StringComparison.Ordinal);
                    _layers.TryGetValue(id, out var layer);
                    _layers[id] = value.Progress is { Total: > 0 } p && value.Status.StartsWith("Downloading", StringComparison.Ordinal)
                        ? (p.Current, p.Total, done)
                        : (done ? layer.Total : layer.Current, layer.Total, done || layer.Done);
                }
                var now = Environment.TickCount64;
                if (now - _lastReport < 250)
                {
                    return; // the engine sends hundreds of messages a second; progress bars need a few
                }
                _lastReport = now;
                long total = _layers.Values.Sum(l => l.Total), current = _layers.Values.Sum(l => l.Done ? l.Total : l.Current);
                percent = total > 0 ? (int)(100 * current / total) : 0;
                status = string.Create(CultureInfo.InvariantCulture, $"{_layers.Values.Count(l => l.Done)}/{_layers.Count} layers, {current / 1048576.0:0.0}/{total / 1048576.0:0.0} MB");
            }
            _reporter.Progress(new RunProgress(_activity, $"Pulling image {_image}", percent, status, false));
        }

        public void Finish() => _reporter.Progress(new RunProgress(_activity, $"Pulled image {_image}", 100, null, false));
    }
}
