using System.Net;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Rlabs.Pipelines.AwsEmulator.Protocols;

namespace Rlabs.Pipelines.AwsEmulator;

/// <summary>
/// Runs the emulator on Kestrel at 127.0.0.1 (never another interface). Tests start one per class with
/// <see cref="StartAsync"/>; the standalone program wraps the same host.
/// </summary>
public sealed class AwsEmulatorHost : IAsyncDisposable
{
    private readonly WebApplication _app;

    private AwsEmulatorHost(WebApplication app, EmulatorState emulator, Uri baseUrl)
    {
        _app = app;
        Emulator = emulator;
        BaseUrl = baseUrl;
    }

    /// <summary>e.g. <c>http://127.0.0.1:41234/</c>; the endpoint URL for every service.</summary>
    public Uri BaseUrl { get; }

    public EmulatorState Emulator { get; }

    public static async Task<AwsEmulatorHost> StartAsync(EmulatorOptions? options = null, CancellationToken cancellationToken = default)
    {
        options ??= new EmulatorOptions();
        var emulator = new EmulatorState(options);
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.Listen(IPAddress.Loopback, options.Port);
            kestrel.Limits.MaxRequestBodySize = 1L << 30;
        });
        var app = builder.Build();
        var dispatcher = new Dispatcher(emulator);
        var admin = new AdminApi(emulator);
        app.Run(async http =>
        {
            if (http.Request.Path.StartsWithSegments("/_emulator", StringComparison.Ordinal))
            {
                await admin.HandleAsync(http).ConfigureAwait(false);
                return;
            }

            try
            {
                await dispatcher.HandleAsync(http).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (http.RequestAborted.IsCancellationRequested)
            {
                // The client went away while its answer was delayed (a test killed it): nobody to answer.
            }
            catch (Exception ex) when (!http.Response.HasStarted)
            {
                // A bug in the emulator, not an AWS error: make it loud for the test that hit it.
                await Console.Error.WriteLineAsync($"Emulator failure on {http.Request.Method} {http.Request.Path}: {ex}").ConfigureAwait(false);
                http.Response.StatusCode = 500;
                http.Response.ContentType = "text/plain";
                await http.Response.WriteAsync("EmulatorBug: " + ex).ConfigureAwait(false);
            }
        });
        await app.StartAsync(cancellationToken).ConfigureAwait(false);
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        var port = new Uri(address).Port;
        return new AwsEmulatorHost(app, emulator, new Uri($"http://127.0.0.1:{port}/"));
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync().ConfigureAwait(false);
        if (Emulator.Options.StateFile is { } stateFile)
        {
            await File.WriteAllTextAsync(stateFile, JsonSerializer.Serialize(Emulator.Requests.All, AdminApi.JsonOptions)).ConfigureAwait(false);
        }

        await _app.DisposeAsync().ConfigureAwait(false);
    }
}
