using System.Diagnostics;
using System.Net;
using Rlabs.Pipelines.Aws;
using Rlabs.Pipelines.AwsEmulator;

namespace Rlabs.Pipelines.Core.Tests.Aws;

[Trait("Tier", "Emulator")]
public sealed class RetryAndErrorTests : IClassFixture<EmulatorFixture>, IDisposable
{
    private readonly EmulatorFixture _fixture;

    public RetryAndErrorTests(EmulatorFixture fixture)
    {
        _fixture = fixture;
        _fixture.Emulator.Faults.Clear();
    }

    public void Dispose() => _fixture.Emulator.Faults.Clear();

    private async Task<(string Name, SageMakerClient Client, AwsSession Session)> JobAsync(int maxAttempts, TimeSpan? timeout = null, TimeSpan? throttlingBudget = null)
    {
        var session = _fixture.Session(maxAttempts, timeout, throttlingBudget: throttlingBudget);
        var client = new SageMakerClient(session);
        var name = EmulatorFixture.UniqueName("retry");
        await client.CreateProcessingJobAsync(SageMakerClientTests.Job(name), CancellationToken.None);
        return (name, client, session);
    }

    private int Attempts(string name) =>
        _fixture.Emulator.Requests.For("sagemaker", "DescribeProcessingJob").Count(r => (string?)r.Parameters!["ProcessingJobName"] == name);

    [Fact]
    public async Task Throttling_is_retried_until_it_clears()
    {
        var (name, client, session) = await JobAsync(maxAttempts: 4);
        using var _ = session;
        _fixture.Emulator.Faults.Add(new FaultRule { Service = "sagemaker", Operation = "DescribeProcessingJob", Kind = "Throttling", Count = 2 });

        var job = await client.DescribeProcessingJobAsync(name, CancellationToken.None);

        Assert.Equal(name, job.ProcessingJobName);
        Assert.Equal(3, Attempts(name));
        Assert.Equal(["ThrottlingException", "ThrottlingException", null],
            _fixture.Emulator.Requests.For("sagemaker", "DescribeProcessingJob").Where(r => (string?)r.Parameters!["ProcessingJobName"] == name).Select(r => r.ErrorCode));
    }

    [Fact]
    public async Task Throttling_is_not_limited_by_the_attempts_but_by_the_throttling_budget()
    {
        // Five throttled CreateProcessingJob answers must not end a run (a strict checker sends exactly that).
        using var session = _fixture.Session(maxAttempts: 3);
        var waits = new List<string>();
        session.RetryReported = line => { lock (waits) { waits.Add(line); } };
        var client = new SageMakerClient(session);
        var name = EmulatorFixture.UniqueName("throttled");
        _fixture.Emulator.Faults.Add(new FaultRule { Service = "sagemaker", Operation = "CreateProcessingJob", Kind = "Throttling", Count = 5 });

        await client.CreateProcessingJobAsync(SageMakerClientTests.Job(name), CancellationToken.None);

        var attempts = _fixture.Emulator.Requests.For("sagemaker", "CreateProcessingJob").Where(r => (string?)r.Parameters!["ProcessingJobName"] == name).Select(r => r.ErrorCode).ToList();
        Assert.Equal(["ThrottlingException", "ThrottlingException", "ThrottlingException", "ThrottlingException", "ThrottlingException", null], attempts);
        Assert.Equal(5, waits.Count);
        Assert.All(waits, line => Assert.Matches(@"^AWS \S+ CreateProcessingJob: ThrottlingException \(HTTP 400\); retrying in \d+\.\d s \(attempt \d, throttled for \d+ s of a 0\.5 min budget\)\.$", line));
    }

    [Fact]
    public async Task Throttling_that_outlasts_the_budget_surfaces_as_a_Throttling_error()
    {
        var (name, client, session) = await JobAsync(maxAttempts: 3, throttlingBudget: TimeSpan.FromMilliseconds(400));
        using var _ = session;
        _fixture.Emulator.Faults.Add(new FaultRule { Service = "sagemaker", Operation = "DescribeProcessingJob", Kind = "Throttling", Count = 1000 });

        var ex = await Assert.ThrowsAsync<AwsServiceException>(() => client.DescribeProcessingJobAsync(name, CancellationToken.None));

        Assert.Equal("ThrottlingException", ex.ErrorCode);
        Assert.Equal(AwsErrorKind.Throttling, ex.Kind);
        Assert.Contains("the throttling budget", ex.Message, StringComparison.Ordinal);
        // 5 ms base, 50 ms cap, equal jitter: at least ~8 attempts fit in 400 ms, and the budget ended them.
        Assert.InRange(Attempts(name), 4, 200);
    }

    [Fact]
    public async Task A_5xx_is_retried_but_a_client_error_is_not()
    {
        var (name, client, session) = await JobAsync(maxAttempts: 3);
        using var _ = session;
        _fixture.Emulator.Faults.Add(new FaultRule { Service = "sagemaker", Operation = "DescribeProcessingJob", Kind = "ServerError", Count = 1 });
        await client.DescribeProcessingJobAsync(name, CancellationToken.None);
        Assert.Equal(2, Attempts(name));

        _fixture.Emulator.Faults.Add(new FaultRule { Service = "sagemaker", Operation = "DescribeProcessingJob", Kind = "Error", ErrorCode = "AccessDeniedException", StatusCode = 400, Message = "not allowed", Count = 1 });
        var ex = await Assert.ThrowsAsync<AwsServiceException>(() => client.DescribeProcessingJobAsync(name, CancellationToken.None));

        Assert.Equal(3, Attempts(name));
        Assert.Equal(AwsErrorKind.AccessDenied, ex.Kind);
        Assert.Equal("not allowed", ex.AwsMessage);
        Assert.Equal(HttpStatusCode.BadRequest, ex.StatusCode);
    }

    [Fact]
    public async Task A_slow_answer_times_out_and_the_next_attempt_succeeds()
    {
        var (name, client, session) = await JobAsync(maxAttempts: 2, timeout: TimeSpan.FromSeconds(1));
        using var _ = session;
        _fixture.Emulator.Faults.Add(new FaultRule { Service = "sagemaker", Operation = "DescribeProcessingJob", Kind = "Latency", DelayMs = 10_000, Count = 1 });

        var job = await client.DescribeProcessingJobAsync(name, CancellationToken.None);

        Assert.Equal(name, job.ProcessingJobName);
        Assert.Equal(2, Attempts(name));
    }

    [Fact]
    public async Task Cancellation_interrupts_a_call_promptly()
    {
        var (name, client, session) = await JobAsync(maxAttempts: 5);
        using var _ = session;
        _fixture.Emulator.Faults.Add(new FaultRule { Service = "sagemaker", Operation = "DescribeProcessingJob", Kind = "Latency", DelayMs = 10_000 });
        using var cancel = new CancellationTokenSource(TimeSpan.FromMilliseconds(200));
        var watch = Stopwatch.StartNew();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => client.DescribeProcessingJobAsync(name, cancel.Token));

        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(3), $"took {watch.Elapsed}");
        Assert.Equal(1, Attempts(name));
    }

    [Fact]
    public async Task An_unreachable_endpoint_is_retried_then_reported_without_secrets()
    {
        using var session = AwsSession.Create(new AwsSessionOptions
        {
            AccessKey = "AKIDUNREACHABLE",
            SecretKey = "very-secret-value",
            SessionToken = "very-secret-token",
            Region = "eu-west-1",
            EndpointUrl = "http://127.0.0.1:1/",
            MaxAttempts = 2,
            RetryBaseDelay = TimeSpan.FromMilliseconds(1),
        }, _ => null);

        var ex = await Assert.ThrowsAsync<AwsServiceException>(() => new SageMakerClient(session).DescribeProcessingJobAsync("x", CancellationToken.None));

        Assert.Equal("RequestTimeout", ex.ErrorCode);
        Assert.Equal((HttpStatusCode)0, ex.StatusCode);
        Assert.IsType<HttpRequestException>(ex.InnerException);
        Assert.DoesNotContain("very-secret", ex.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("very-secret", session.ToString(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("ThrottlingException", 400, AwsErrorKind.Throttling)]
    [InlineData("RequestLimitExceeded", 503, AwsErrorKind.Throttling)]
    [InlineData("SlowDown", 503, AwsErrorKind.Throttling)]
    [InlineData("AccessDeniedException", 400, AwsErrorKind.AccessDenied)]
    [InlineData("UnauthorizedOperation", 403, AwsErrorKind.AccessDenied)]
    [InlineData("NoSuchEntity", 404, AwsErrorKind.NotFound)]
    [InlineData("InvalidInstanceID.NotFound", 400, AwsErrorKind.NotFound)]
    [InlineData("InvalidInstanceID.Malformed", 400, AwsErrorKind.Validation)]
    [InlineData("ResourceNotFoundException", 404, AwsErrorKind.NotFound)]
    [InlineData("ValidationError", 400, AwsErrorKind.Validation)]
    [InlineData("InvalidParameterValueException", 400, AwsErrorKind.Validation)]
    [InlineData("EntityAlreadyExists", 409, AwsErrorKind.Conflict)]
    [InlineData("InternalFailure", 500, AwsErrorKind.Other)]
    public void Error_codes_map_to_one_category_each(string code, int status, AwsErrorKind kind)
    {
        Assert.Equal(kind, AwsServiceException.Classify(code, (HttpStatusCode)status));
    }
}
