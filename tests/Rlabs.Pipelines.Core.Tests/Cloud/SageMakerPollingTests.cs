using Rlabs.Pipelines.Cloud;

namespace Rlabs.Pipelines.Tests.Cloud;

/// <summary>How often a client-driven run asks SageMaker about a job: the schedule alone, no clock.</summary>
public sealed class SageMakerPollingTests
{
    /// <summary>The times of the Describe calls for a job whose state never changes, over <paramref name="seconds"/>.</summary>
    private static List<double> Calls(double seconds)
    {
        var calls = new List<double> { 0 };
        string? state = null;
        var delay = SageMakerStepRunner.MinPollInterval;
        var now = 0.0;
        while (true)
        {
            delay = SageMakerStepRunner.NextPollInterval(delay, ref state, "InProgress|started");
            now += delay.TotalSeconds;
            if (now > seconds)
            {
                return calls;
            }
            calls.Add(now);
        }
    }

    [Fact]
    public void Should_poll_fast_first_and_grow_to_five_seconds()
    {
        string? state = null;
        var delay = SageMakerStepRunner.MinPollInterval;
        var waits = new List<double>();
        for (var i = 0; i < 7; i++)
        {
            delay = SageMakerStepRunner.NextPollInterval(delay, ref state, "InProgress");
            waits.Add(delay.TotalSeconds);
        }
        Assert.Equal([1, 1.5, 2.25, 3.375, 5, 5, 5], waits);
    }

    [Fact]
    public void Should_poll_fast_again_when_the_job_changes_state()
    {
        string? state = null;
        var delay = SageMakerStepRunner.MinPollInterval;
        for (var i = 0; i < 6; i++)
        {
            delay = SageMakerStepRunner.NextPollInterval(delay, ref state, "InProgress|");
        }
        Assert.Equal(5, delay.TotalSeconds);
        delay = SageMakerStepRunner.NextPollInterval(delay, ref state, "InProgress|1733450000000"); // the container started
        Assert.Equal(1, delay.TotalSeconds);
        delay = SageMakerStepRunner.NextPollInterval(delay, ref state, "InProgress|1733450000000");
        Assert.Equal(1.5, delay.TotalSeconds);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(10)]
    [InlineData(60)]
    public void Should_notice_a_jobs_end_within_five_seconds_at_twelve_calls_per_job_minute(int minutes)
    {
        var calls = Calls(minutes * 60);
        var gaps = calls.Zip(calls.Skip(1), (a, b) => b - a).ToList();

        Assert.True(gaps.Max() <= 5, $"a gap of {gaps.Max()} s");
        // 12 a minute, plus the 4 quick calls of the first seconds (a job that just started may fail fast).
        Assert.True(calls.Count <= (12 * minutes) + 4, $"{calls.Count} calls in {minutes} min");
    }
}
