using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using Rlabs.Pipelines.Aws;
using Rlabs.Pipelines.AwsEmulator;

namespace Rlabs.Pipelines.Core.Tests.Aws;

/// <summary>
/// Our hand-called clients sign with AWSSDK.Core's AWS4Signer; botocore's SigV4Auth, an implementation we
/// did not write, recomputes every signature from the bytes that arrived and must agree.
/// </summary>
[Trait("Tier", "Emulator")]
public sealed class SignatureTests : IClassFixture<EmulatorFixture>
{
    private static readonly string s_script = Path.Combine(AppContext.BaseDirectory, "conformance", "verify_sigv4.py");
    private readonly EmulatorFixture _fixture;

    public SignatureTests(EmulatorFixture fixture)
    {
        _fixture = fixture;
        _fixture.Emulator.CaptureRawRequests = true;
    }

    private static async Task IgnoreAwsErrorAsync(Func<Task> call)
    {
        try
        {
            await call();
        }
        catch (AwsServiceException)
        {
            // Only the signature matters here; the emulator's answer does not.
        }
    }

    private static async Task<(int ExitCode, JsonNode Report)> VerifyAsync(JsonArray requests)
    {
        var start = new ProcessStartInfo("/usr/bin/python3") { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(s_script);
        using var process = Process.Start(start)!;
        await process.StandardInput.WriteAsync(requests.ToJsonString());
        process.StandardInput.Close();
        var output = await process.StandardOutput.ReadToEndAsync();
        var errors = await process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        Assert.True(output.Length > 0, "verify_sigv4.py printed nothing (is python3-botocore installed?): " + errors);
        return (process.ExitCode, JsonNode.Parse(output)!);
    }

    private JsonArray Captured(string accessKey, string secretKey, string? sessionToken) =>
        new(_fixture.Emulator.Requests.All.Where(r => r.AccessKeyId == accessKey && r.Raw is not null).Select(r => (JsonNode)new JsonObject
        {
            ["endpoint"] = _fixture.Endpoint,
            ["method"] = r.Raw!.Method,
            ["rawTarget"] = r.Raw.RawTarget,
            ["headers"] = JsonSerializer.SerializeToNode(r.Raw.Headers),
            ["bodyBase64"] = r.Raw.BodyBase64,
            ["accessKey"] = accessKey,
            ["secretKey"] = secretKey,
            ["sessionToken"] = sessionToken,
        }).ToArray());

    [Fact]
    public async Task Every_hand_called_protocol_produces_signatures_botocore_accepts()
    {
        using var session = _fixture.Session(accessKey: "AKIDSIGNATURE", sessionToken: "session-token/with+chars=");
        var functionArn = "arn:aws:lambda:eu-west-1:123456789012:function:sig-check";

        await new SageMakerClient(session).ListProcessingJobsAsync(new ListProcessingJobsRequest { NameContains = "ü-unicode" }, CancellationToken.None);
        await IgnoreAwsErrorAsync(() => new CloudWatchLogsClient(session).GetLogEventsAsync(new GetLogEventsRequest { LogGroupName = "/g", LogStreamName = "s" }, CancellationToken.None));
        await new EventBridgeClient(session).ListRulesAsync(new ListRulesRequest { NamePrefix = "sig" }, CancellationToken.None);
        await IgnoreAwsErrorAsync(() => new LambdaClient(session).GetFunctionAsync(functionArn, CancellationToken.None));
        await IgnoreAwsErrorAsync(() => new LambdaClient(session).RemovePermissionAsync("sig-check", "statement id", CancellationToken.None));
        await IgnoreAwsErrorAsync(() => new LambdaClient(session).AddPermissionAsync(new AddPermissionRequest
        {
            FunctionName = "sig-check", StatementId = "s1", Action = "lambda:InvokeFunction", Principal = "events.amazonaws.com",
        }, CancellationToken.None));
        await new IamClient(session).CreateRoleAsync(new CreateRoleRequest
        {
            RoleName = EmulatorFixture.UniqueName("sig-role"),
            AssumeRolePolicyDocument = """{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}""",
            Description = "spaces & symbols: *+/=~",
        }, CancellationToken.None);

        var captured = Captured("AKIDSIGNATURE", "emulator-secret", "session-token/with+chars=");
        var (exitCode, report) = await VerifyAsync(captured);

        Assert.Equal(7, captured.Count);
        Assert.True(exitCode == 0, string.Join("\n", report["mismatches"]!.AsArray().Select(m => (string?)m)));
        Assert.Equal(7, (int)report["checked"]!);
        Assert.Contains(captured, r => ((string)r!["rawTarget"]!).Contains("arn%3Aaws%3Alambda", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_tampered_signature_or_a_wrong_secret_is_caught()
    {
        using var session = _fixture.Session(accessKey: "AKIDTAMPER");
        await new EventBridgeClient(session).ListRulesAsync(new ListRulesRequest(), CancellationToken.None);
        var good = Captured("AKIDTAMPER", "emulator-secret", null);
        var wrongSecret = Captured("AKIDTAMPER", "not-the-secret", null);
        var tampered = Captured("AKIDTAMPER", "emulator-secret", null);
        var headers = tampered[0]!["headers"]!.AsObject();
        var authorization = (string)headers["Authorization"]!;
        headers["Authorization"] = authorization[..^1] + (authorization[^1] == '0' ? '1' : '0');

        Assert.Equal(0, (await VerifyAsync(good)).ExitCode);
        Assert.Equal(1, (await VerifyAsync(wrongSecret)).ExitCode);
        Assert.Equal(1, (await VerifyAsync(tampered)).ExitCode);
    }
}
