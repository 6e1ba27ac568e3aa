using Rlabs.Pipelines.Scheduling;

namespace Rlabs.Pipelines.Tests.Scheduling;

public sealed class ScheduleNamingTests
{
    [Theory]
    [InlineData("lead_scoring.test", "/repo/x", "lead-scoring-test")]
    [InlineData(null, "/work/my_data.app", "my-data-app")]
    [InlineData("", "/work/my_data.app/", "my-data-app")]
    public void Should_sanitize_project_names_the_seed_way(string? given, string repository, string expected) =>
        Assert.Equal(expected, ScheduleNaming.ProjectName(given, repository));

    [Fact]
    public void Should_name_rule_and_function_after_project_and_pipeline()
    {
        var pipeline = ScheduleNaming.PipelineName("pipelines/sample_pipeline.yaml");

        Assert.Equal("sample-pipeline", pipeline);
        Assert.Equal("rlabs-lead-scoring-sample-pipeline", ScheduleNaming.RuleName("lead-scoring", pipeline));
        Assert.Equal("rlabs-lead-scoring-sample-pipeline", ScheduleNaming.FunctionName("lead-scoring", pipeline));
        Assert.Equal("lead-scoring-sample-pipeline-lambda-role", ScheduleNaming.DefaultRoleName("lead-scoring", pipeline));
        Assert.NotEqual(ScheduleNaming.DefaultRoleName("lead-scoring", "daily"), ScheduleNaming.DefaultRoleName("lead-scoring", "weekly")); // one role per schedule
        Assert.Equal("/aws/lambda/rlabs-lead-scoring-sample-pipeline", ScheduleNaming.LogGroupName("rlabs-lead-scoring-sample-pipeline"));
    }

    [Fact]
    public void Should_give_two_pipelines_of_one_project_different_names() =>
        Assert.NotEqual(
            ScheduleNaming.RuleName("p", ScheduleNaming.PipelineName("daily.yaml")),
            ScheduleNaming.RuleName("p", ScheduleNaming.PipelineName("weekly.yaml")));

    [Fact]
    public void Should_shorten_long_names_with_a_hash_keeping_them_distinct()
    {
        var project = new string('p', 32);
        var a = ScheduleNaming.RuleName(project, "a-very-long-pipeline-name-for-the-nightly-scoring-run-one");
        var b = ScheduleNaming.RuleName(project, "a-very-long-pipeline-name-for-the-nightly-scoring-run-two");

        Assert.Equal(ScheduleNaming.MaxRuleNameLength, a.Length);
        Assert.True(b.Length <= ScheduleNaming.MaxRuleNameLength);
        Assert.NotEqual(a, b);
        Assert.StartsWith(ScheduleNaming.Prefix + project, a, StringComparison.Ordinal);
        Assert.Matches("^[A-Za-z0-9-]+$", a);
        Assert.Equal(a, ScheduleNaming.RuleName(project, "a-very-long-pipeline-name-for-the-nightly-scoring-run-one"));
        Assert.True(ScheduleNaming.DefaultRoleName(new string('r', 70), "pipeline").Length <= ScheduleNaming.MaxRoleNameLength);
    }

    [Fact]
    public void Should_refuse_a_pipeline_file_name_without_letters() =>
        Assert.Throws<ArgumentException>(() => ScheduleNaming.PipelineName("__.yaml"));

    [Theory]
    [InlineData("my-role", true)]
    [InlineData("Role_with+=,.@-", true)]
    [InlineData("", false)]
    [InlineData("has space", false)]
    [InlineData("semi;colon", false)]
    public void Should_validate_role_names_by_IAM_rules(string name, bool valid) =>
        Assert.Equal(valid, ScheduleNaming.ValidateRoleName(name) is null);
}
