using Rlabs.Pipelines.Aws;
using Rlabs.Pipelines.Cloud;

namespace Rlabs.Pipelines.Tests.Cloud;

/// <summary>How often a client-driven run asks SageMaker about a job: the schedule alone, no clock.</summary>
public sealed class SageMakerPollingTests
{
    /// <summary>
    /// The times (seconds after CreateProcessingJob) of the Describe calls the runner makes for a job that ends
    /// <paramref name="jobSeconds"/> after it was created: the last one is the call that sees it ended.
    /// </summary>
    private static List<double> Calls(double jobSeconds, TimeSpan interval)
    {
        var calls = new List<double>();
        var now = SageMakerStepRunner.FirstPollDelay(interval, justCreated: true).TotalSeconds;
        while (true)
        {
            calls.Add(now);
            if (now >= jobSeconds)
            {
                return calls;
            }
            now += interval.TotalSeconds;
        }
    }

    [Theory]
    [InlineData(6)]
    [InlineData(59.5)]
    [InlineData(60)]
    [InlineData(60.3)]
    [InlineData(61)]
    [InlineData(64.9)]
    [InlineData(600)]
    [InlineData(3600.01)]
    public void Should_notice_a_jobs_end_within_five_seconds_at_no_more_than_twelve_calls_per_job_minute(double jobSeconds)
    {
        var calls = Calls(jobSeconds, AwsSession.DefaultJobPollInterval);

        Assert.InRange(calls[^1] - jobSeconds, 0, 5);
        Assert.True(calls.Count / (jobSeconds / 60) <= 12, $"{calls.Count} calls in a job of {jobSeconds} s");
    }

    [Fact]
    public void Should_wait_two_intervals_before_asking_about_a_job_it_just_created_and_none_for_one_it_found()
    {
        var interval = TimeSpan.FromSeconds(5);
        Assert.Equal(TimeSpan.FromSeconds(10), SageMakerStepRunner.FirstPollDelay(interval, justCreated: true));
        Assert.Equal(TimeSpan.Zero, SageMakerStepRunner.FirstPollDelay(interval, justCreated: false));
    }

    [Fact]
    public void Should_poll_an_execution_from_one_second_up_to_the_interval()
    {
        var interval = TimeSpan.FromSeconds(5);
        var waits = new List<double>();
        TimeSpan? delay = null;
        for (var i = 0; i < 6; i++)
        {
            delay = SageMakerStepRunner.ExecutionPoll(delay, interval);
            waits.Add(delay.Value.TotalSeconds);
        }
        Assert.Equal([1, 1.5, 2.25, 3.375, 5, 5], waits);
        Assert.Equal(TimeSpan.FromSeconds(0.2), SageMakerStepRunner.ExecutionPoll(null, TimeSpan.FromSeconds(0.2)));
    }

    [Theory]
    [InlineData(null, 5)]
    [InlineData("", 5)]
    [InlineData("0.2", 0.2)]
    [InlineData("30", 30)]
    public void Should_take_the_poll_interval_from_RLABS_JOB_POLL_INTERVAL(string? value, double seconds)
    {
        using var session = AwsSession.Create(
            new AwsSessionOptions { AccessKey = "AKIDPOLL", SecretKey = "secret", Region = "eu-west-1" },
            name => name == AwsSession.JobPollIntervalVariable ? value : null);

        Assert.Equal(TimeSpan.FromSeconds(seconds), session.JobPollInterval);
    }

    [Fact]
    public void Should_prefer_the_options_poll_interval_to_the_environment()
    {
        using var session = AwsSession.Create(
            new AwsSessionOptions { AccessKey = "AKIDPOLL", SecretKey = "secret", Region = "eu-west-1", JobPollInterval = TimeSpan.FromSeconds(2) },
            name => name == AwsSession.JobPollIntervalVariable ? "0.2" : null);

        Assert.Equal(TimeSpan.FromSeconds(2), session.JobPollInterval);
    }

    [Theory]
    [InlineData("five")]
    [InlineData("0")]
    [InlineData("-1")]
    [InlineData("301")]
    [InlineData("NaN")]
    [InlineData("0,5")]
    public void Should_refuse_a_poll_interval_that_is_not_a_number_of_seconds_from_0_05_to_300(string value)
    {
        var ex = Assert.Throws<AwsServiceException>(() => AwsSession.Create(
            new AwsSessionOptions { AccessKey = "AKIDPOLL", SecretKey = "secret", Region = "eu-west-1" },
            name => name == AwsSession.JobPollIntervalVariable ? value : null));

        Assert.Equal("JobPollIntervalInvalid", ex.ErrorCode);
        Assert.Contains(AwsSession.JobPollIntervalVariable, ex.Message, StringComparison.Ordinal);
        Assert.Contains($"'{value}'", ex.Message, StringComparison.Ordinal);
    }
}
