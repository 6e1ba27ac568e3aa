using System.Runtime.CompilerServices;
using Rlabs.Pipelines.Aws;
using Rlabs.Pipelines.AwsEmulator;

namespace Rlabs.Pipelines.Core.Tests.Aws;

/// <summary>
/// Makes every test in this assembly hermetic towards AWS: no instance metadata calls, no reading of the
/// developer's ~/.aws, no keys or endpoints inherited from the shell.
/// </summary>
internal static class AwsTestEnvironment
{
    public static string Directory { get; } = Path.Combine(Path.GetTempPath(), $"rlabs-aws-tests-{Environment.ProcessId}");

    [ModuleInitializer]
    internal static void Initialize()
    {
        System.IO.Directory.CreateDirectory(Directory);
        Environment.SetEnvironmentVariable("AWS_EC2_METADATA_DISABLED", "true");
        // The emulator's jobs take milliseconds, not SageMaker's minutes: ask about them every 0.2 s, not every 5 s.
        Environment.SetEnvironmentVariable(AwsSession.JobPollIntervalVariable, "0.2");
        Environment.SetEnvironmentVariable("AWS_CONFIG_FILE", Path.Combine(Directory, "config"));
        Environment.SetEnvironmentVariable("AWS_SHARED_CREDENTIALS_FILE", Path.Combine(Directory, "credentials"));
        foreach (var name in new[]
        {
            "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_PROFILE",
            "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
            "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN",
        })
        {
            Environment.SetEnvironmentVariable(name, null);
        }

        foreach (var name in Environment.GetEnvironmentVariables().Keys.Cast<string>().Where(n => n.StartsWith("AWS_ENDPOINT_URL_", StringComparison.Ordinal)).ToList())
        {
            Environment.SetEnvironmentVariable(name, null);
        }
    }
}

/// <summary>One emulator per test class.</summary>
public sealed class EmulatorFixture : IAsyncLifetime
{
    public const string AccessKey = "AKIDEMULATORTEST";

    public AwsEmulatorHost Host { get; private set; } = null!;

    public EmulatorState Emulator => Host.Emulator;

    public string Endpoint => Host.BaseUrl.ToString();

    public async Task InitializeAsync() => Host = await AwsEmulatorHost.StartAsync();

    public async Task DisposeAsync() => await Host.DisposeAsync();

    /// <summary>A session with explicit keys pointed at the emulator; retries fast so fault tests stay quick.</summary>
    public AwsSession Session(int maxAttempts = 3, TimeSpan? requestTimeout = null, string accessKey = AccessKey, string? sessionToken = null, TimeSpan? throttlingBudget = null) =>
        AwsSession.Create(new AwsSessionOptions
        {
            AccessKey = accessKey,
            SecretKey = "emulator-secret",
            SessionToken = sessionToken,
            Region = "eu-west-1",
            EndpointUrl = Endpoint,
            MaxAttempts = maxAttempts,
            RetryBaseDelay = TimeSpan.FromMilliseconds(5),
            RetryMaxDelay = TimeSpan.FromMilliseconds(50),
            RequestTimeout = requestTimeout ?? TimeSpan.FromSeconds(30),
            ThrottlingBudget = throttlingBudget ?? TimeSpan.FromSeconds(30),
            JobPollInterval = TimeSpan.FromSeconds(0.2),
        }, _ => null);

    public static string UniqueName(string prefix) => $"{prefix}-{Guid.NewGuid():N}"[..Math.Min(prefix.Length + 13, 60)];
}

/// <summary>Tests that change process-wide environment variables run one at a time.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ProcessEnvironmentTests
{
    public const string Name = "Process environment";
}
