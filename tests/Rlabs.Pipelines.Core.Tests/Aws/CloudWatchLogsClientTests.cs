using Rlabs.Pipelines.Aws;
using Rlabs.Pipelines.AwsEmulator.Services;

namespace Rlabs.Pipelines.Core.Tests.Aws;

[Trait("Tier", "Emulator")]
public sealed class CloudWatchLogsClientTests : IClassFixture<EmulatorFixture>
{
    private readonly EmulatorFixture _fixture;

    public CloudWatchLogsClientTests(EmulatorFixture fixture)
    {
        _fixture = fixture;
    }

    [Fact]
    public async Task A_processing_job_writes_a_stream_that_DescribeLogStreams_finds_by_prefix()
    {
        using var session = _fixture.Session();
        var name = EmulatorFixture.UniqueName("logs");
        await new SageMakerClient(session).CreateProcessingJobAsync(SageMakerClientTests.Job(name), CancellationToken.None);
        var logs = new CloudWatchLogsClient(session);

        var streams = await logs.DescribeLogStreamsAsync(
            new DescribeLogStreamsRequest { LogGroupName = SageMakerService.LogGroup, LogStreamNamePrefix = name + "/" }, CancellationToken.None);

        var stream = Assert.Single(streams.LogStreams);
        Assert.StartsWith(name + "/algo-1-", stream.LogStreamName, StringComparison.Ordinal);
        Assert.NotNull(stream.LastEventTimestamp);
        Assert.EndsWith(":log-stream:" + stream.LogStreamName, stream.Arn, StringComparison.Ordinal);
    }

    [Fact]
    public async Task GetLogEvents_follows_a_stream_with_the_forward_token()
    {
        using var session = _fixture.Session();
        var logs = new CloudWatchLogsClient(session);
        var group = "/rlabs/" + EmulatorFixture.UniqueName("group");
        _fixture.Emulator.Logs.Append(group, "s1", DateTimeOffset.UtcNow, ["one", "two", "three"]);

        var first = await logs.GetLogEventsAsync(new GetLogEventsRequest { LogGroupName = group, LogStreamName = "s1", StartFromHead = true, Limit = 2 }, CancellationToken.None);
        var second = await logs.GetLogEventsAsync(new GetLogEventsRequest { LogGroupName = group, LogStreamName = "s1", NextToken = first.NextForwardToken }, CancellationToken.None);
        var idle = await logs.GetLogEventsAsync(new GetLogEventsRequest { LogGroupName = group, LogStreamName = "s1", NextToken = second.NextForwardToken }, CancellationToken.None);
        _fixture.Emulator.Logs.Append(group, "s1", DateTimeOffset.UtcNow, ["four"]);
        var resumed = await logs.GetLogEventsAsync(new GetLogEventsRequest { LogGroupName = group, LogStreamName = "s1", NextToken = idle.NextForwardToken }, CancellationToken.None);

        Assert.Equal(["one", "two"], first.Events.Select(e => e.Message));
        Assert.Equal(["three"], second.Events.Select(e => e.Message));
        Assert.Empty(idle.Events);
        Assert.Equal(second.NextForwardToken, idle.NextForwardToken);
        Assert.Equal(["four"], resumed.Events.Select(e => e.Message));
        Assert.True(first.Events[0].Timestamp > 0 && first.Events[0].IngestionTime >= first.Events[0].Timestamp);
    }

    [Fact]
    public async Task An_unknown_log_group_maps_to_NotFound()
    {
        using var session = _fixture.Session();
        var logs = new CloudWatchLogsClient(session);

        var ex = await Assert.ThrowsAsync<AwsServiceException>(() =>
            logs.DescribeLogStreamsAsync(new DescribeLogStreamsRequest { LogGroupName = "/no/such/group" }, CancellationToken.None));

        Assert.Equal("ResourceNotFoundException", ex.ErrorCode);
        Assert.Equal(AwsErrorKind.NotFound, ex.Kind);
        Assert.Equal("CloudWatchLogs", ex.Service);
        Assert.Equal("DescribeLogStreams", ex.Operation);
    }
}
