using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Rlabs.Pipelines.AwsEmulator;
using Rlabs.Pipelines.AwsEmulator.Services;

namespace Rlabs.Pipelines.Core.Tests.Aws;

/// <summary>
/// The emulator judged by clients we did not write: boto3 (Debian's python3-boto3, run with /usr/bin/python3)
/// drives every implemented operation; and the standalone process works the way Pester will use it.
/// </summary>
[Trait("Tier", "Emulator")]
public sealed class EmulatorConformanceTests : IClassFixture<EmulatorFixture>
{
    private const string Python = "/usr/bin/python3";
    private static readonly string s_script = Path.Combine(AppContext.BaseDirectory, "conformance", "boto3_conformance.py");
    private readonly EmulatorFixture _fixture;

    public EmulatorConformanceTests(EmulatorFixture fixture)
    {
        _fixture = fixture;
    }

    private static async Task<(int ExitCode, string Output, string Errors)> RunAsync(string fileName, IEnumerable<string> arguments, TimeSpan timeout)
    {
        var start = new ProcessStartInfo(fileName) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        // Keys for the emulator only; never the developer's files.
        start.Environment["AWS_CONFIG_FILE"] = "/dev/null";
        start.Environment["AWS_SHARED_CREDENTIALS_FILE"] = "/dev/null";
        start.Environment["AWS_EC2_METADATA_DISABLED"] = "true";
        using var process = Process.Start(start)!;
        using var cancel = new CancellationTokenSource(timeout);
        var output = process.StandardOutput.ReadToEndAsync(cancel.Token);
        var errors = process.StandardError.ReadToEndAsync(cancel.Token);
        try
        {
            await process.WaitForExitAsync(cancel.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw;
        }

        return (process.ExitCode, await output, await errors);
    }

    [Fact]
    public async Task Boto3_accepts_every_implemented_operation_and_its_error_codes()
    {
        Assert.True(File.Exists(Python), $"{Python} is missing: install Debian's python3-boto3 (apt-get install python3-boto3).");
        Assert.True(File.Exists(s_script), $"{s_script} was not copied next to the tests.");
        _fixture.Emulator.Ec2.Seed(new Ec2InstanceSeed { InstanceId = "i-0c0f0000000000001", State = "stopped", PublicIpAddress = "127.0.0.1" });

        var (exitCode, output, errors) = await RunAsync(Python, [s_script, _fixture.Endpoint], TimeSpan.FromMinutes(3));

        Assert.True(output.Length > 0, $"no output; is python3-boto3 installed? stderr: {errors}");
        var report = JsonNode.Parse(output)!;
        var failures = report["failures"]!.AsArray().Select(f => (string)f!).ToList();
        Assert.True(failures.Count == 0, "boto3 found problems:\n" + string.Join("\n", failures));
        Assert.Equal(0, exitCode);
        var covered = report["operations"]!.AsArray().Select(o => (string)o!).ToHashSet();
        var implemented = _fixture.Emulator.Services.Values.SelectMany(s => s.Operations.Select(o => $"{s.Name}.{o}"))
            .Concat(new[]
            {
                "PutObject", "GetObject", "HeadObject", "CreateMultipartUpload", "UploadPart", "CompleteMultipartUpload", "AbortMultipartUpload",
                "ListObjectsV2", "CreateBucket", "HeadBucket", "PutPublicAccessBlock", "PutBucketEncryption", "DeleteObject", "DeleteObjects",
            }.Select(o => "s3." + o))
            .ToHashSet();
        Assert.Empty(implemented.Except(covered).Order());
        Assert.True(_fixture.Emulator.Requests.All.Count(r => r.AccessKeyId == "AKIDCONFORMANCE") >= implemented.Count);
    }

    [Fact]
    public async Task The_conformance_run_fails_when_the_emulator_answers_wrongly()
    {
        _fixture.Emulator.Ec2.Seed(new Ec2InstanceSeed { InstanceId = "i-0c0f0000000000001", State = "stopped", PublicIpAddress = "127.0.0.1" });
        _fixture.Emulator.Faults.Add(new FaultRule { Service = "iam", Operation = "GetRole", Kind = "Error", ErrorCode = "AccessDenied", StatusCode = 403 });
        try
        {
            var (exitCode, output, _) = await RunAsync(Python, [s_script, _fixture.Endpoint], TimeSpan.FromMinutes(3));

            Assert.Equal(1, exitCode);
            Assert.Contains("GetRole.missing: expected NoSuchEntity, got AccessDenied", output, StringComparison.Ordinal);
        }
        finally
        {
            _fixture.Emulator.Faults.Clear();
        }
    }

    [Fact]
    public async Task The_standalone_emulator_stops_cleanly_on_SIGTERM()
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardInput = true, RedirectStandardOutput = true, UseShellExecute = false };
        start.ArgumentList.Add(typeof(AwsEmulatorHost).Assembly.Location);
        using var process = Process.Start(start)!;
        try
        {
            using var cancel = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            Assert.StartsWith("Listening on http://127.0.0.1:", await process.StandardOutput.ReadLineAsync(cancel.Token), StringComparison.Ordinal);

            using (var kill = Process.Start("kill", ["-TERM", process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
            {
                await kill.WaitForExitAsync(cancel.Token);
            }

            await process.WaitForExitAsync(cancel.Token);
            Assert.Equal(0, process.ExitCode);
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }
        }
    }

    [Fact]
    public async Task The_standalone_emulator_prints_its_address_serves_the_admin_API_and_stops_when_stdin_closes()
    {
        var dll = typeof(AwsEmulatorHost).Assembly.Location;
        var stateFile = Path.Combine(Path.GetTempPath(), $"rlabs-emulator-state-{Guid.NewGuid():N}.json");
        var start = new ProcessStartInfo("dotnet") { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in new[] { dll, "--port", "0", "--state-file", stateFile })
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start)!;
        try
        {
            using var cancel = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            var line = await process.StandardOutput.ReadLineAsync(cancel.Token);
            Assert.NotNull(line);
            Assert.Matches(@"^Listening on http://127\.0\.0\.1:\d+$", line);
            using var http = new HttpClient { BaseAddress = new Uri(line!["Listening on ".Length..] + "/") };

            using var seeded = await http.PostAsJsonAsync("_emulator/ec2/instances", new { instanceId = "i-0123456789abcdef0", state = "running" }, cancel.Token);
            using var fault = await http.PostAsJsonAsync("_emulator/faults", new { service = "sagemaker", kind = "Throttling", count = 1 }, cancel.Token);
            using var behaviour = await http.PostAsJsonAsync("_emulator/sagemaker/job-behaviour", new { durationMs = 1000, outcome = "Failed", failureReason = "x" }, cancel.Token);
            var requests = await http.GetStringAsync("_emulator/requests", cancel.Token);
            using var unknown = await http.GetAsync("_emulator/nothing-here", cancel.Token);
            using var reset = await http.PostAsync("_emulator/reset", null, cancel.Token);

            Assert.Equal(System.Net.HttpStatusCode.NoContent, seeded.StatusCode);
            Assert.Equal(System.Net.HttpStatusCode.NoContent, fault.StatusCode);
            Assert.Equal(System.Net.HttpStatusCode.NoContent, behaviour.StatusCode);
            Assert.Equal("[]", requests);
            Assert.Equal(System.Net.HttpStatusCode.NotFound, unknown.StatusCode);
            Assert.Equal(System.Net.HttpStatusCode.NoContent, reset.StatusCode);

            process.StandardInput.Close();
            await process.WaitForExitAsync(cancel.Token);
            Assert.Equal(0, process.ExitCode);
            Assert.Equal("[]", (await File.ReadAllTextAsync(stateFile, cancel.Token)).Trim());
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }

            File.Delete(stateFile);
        }
    }
}
