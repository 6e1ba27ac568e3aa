using Rlabs.Pipelines.Aws;
using Rlabs.Pipelines.Cloud;
using Rlabs.Pipelines.Scheduling;

namespace Rlabs.Pipelines.Tests.Scheduling;

/// <summary>The kind names the cmdlets take, and how an execution becomes a run's job id and status.</summary>
public sealed class ScheduleKindsTests
{
    [Theory]
    [InlineData("Ec2", RlabsScheduleKind.Ec2)]
    [InlineData("serverless", RlabsScheduleKind.Serverless)]
    public void Should_read_a_kind_name_in_any_case(string name, RlabsScheduleKind expected) =>
        Assert.Equal(expected, ScheduleKinds.Parse(name));

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    public void Should_read_no_kind_as_every_kind(string? name) => Assert.Null(ScheduleKinds.Parse(name));

    [Theory]
    [InlineData("Lambda")]
    [InlineData("1")]
    public void Should_refuse_another_name_naming_the_kinds(string name)
    {
        var error = Assert.Throws<ArgumentException>(() => ScheduleKinds.Parse(name));
        Assert.Contains("Ec2 or Serverless", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Should_offer_exactly_the_kinds_of_the_enum_as_names() =>
        Assert.Equal(["Ec2", "Serverless"], ScheduleKinds.Names);

    [Theory]
    // A scheduled pipeline's steps ran under the execution id, whatever display name the Scheduler gave it.
    [InlineData("rlabs-p-daily-0a1b2c3d-scheduled", "scheduled-abc", "abc123")]
    [InlineData("rlabs-p-daily-0a1b2c3d-scheduled", null, "abc123")]
    // An engine run's display name is the job id it was started with.
    [InlineData("rlabs-p-daily-0a1b2c3d", "20261206-0600-a1b2", "20261206-0600-a1b2")]
    [InlineData("rlabs-p-daily-0a1b2c3d", null, "abc123")]
    public void Should_take_the_job_id_from_the_execution(string pipeline, string? displayName, string expected)
    {
        var execution = new PipelineExecutionSummary
        {
            PipelineExecutionArn = $"arn:aws:sagemaker:eu-west-1:123456789012:pipeline/{pipeline}/execution/abc123",
            PipelineExecutionDisplayName = displayName,
        };

        Assert.Equal(expected, PipelineRunHistory.JobIdOf(pipeline, execution));
    }

    [Theory]
    [InlineData("Succeeded", RlabsRunStatus.Completed)]
    [InlineData("Failed", RlabsRunStatus.Failed)]
    [InlineData("Stopped", RlabsRunStatus.Stopped)]
    [InlineData("Stopping", RlabsRunStatus.Running)]
    [InlineData("Executing", RlabsRunStatus.Running)]
    [InlineData("Starting", RlabsRunStatus.Pending)]
    public void Should_map_the_execution_status(string status, RlabsRunStatus expected) =>
        Assert.Equal(expected, PipelineRunHistory.StatusOf(status));
}
