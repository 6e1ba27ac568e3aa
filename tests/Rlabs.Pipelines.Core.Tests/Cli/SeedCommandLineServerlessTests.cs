using Rlabs.Pipelines.Cli;

namespace Rlabs.Pipelines.Tests.Cli;

/// <summary>rlabs aws pipeline schedule --serverless: an addition to the original CLI that leaves its EC2 behaviour as it was.</summary>
public sealed class SeedCommandLineServerlessTests
{
    private static SeedCommandLineResult Parse(params string[] args) => SeedCommandLine.Parse(["aws", "pipeline", "schedule", .. args]);

    [Fact]
    public void Should_map_serverless_flags_to_the_Serverless_parameter_set_without_the_EC2_ones()
    {
        var result = Parse("--serverless", "-pc", "p.yaml", "-es", "cron(0", "6", "*", "*", "?", "*)", "--time-zone", "Europe/Amsterdam",
            "--role-arn", "arn:aws:iam::123456789012:role/sm", "--scheduler-role-arn", "arn:aws:iam::123456789012:role/sched", "-sit", "ml.m5.xlarge");

        Assert.Equal(SeedCommandLineOutcome.Invoke, result.Outcome);
        Assert.Equal("New-RlabsPipelineSchedule", result.CmdletName);
        Assert.Equal(
            new Dictionary<string, object>
            {
                ["Serverless"] = true,
                ["PipelinePath"] = "p.yaml",
                ["ScheduleExpression"] = "cron(0 6 * * ? *)",
                ["TimeZone"] = "Europe/Amsterdam",
                ["RoleArn"] = "arn:aws:iam::123456789012:role/sm",
                ["SchedulerRoleArn"] = "arn:aws:iam::123456789012:role/sched",
                ["SageMakerInstanceType"] = "ml.m5.xlarge",
                ["RepositoryPath"] = ".",
            },
            result.Parameters);
    }

    [Fact]
    public void Should_take_a_one_time_at_expression_only_with_serverless()
    {
        var serverless = Parse("--serverless", "-pc", "p.yaml", "-es", "at(2027-01-31T06:00:00)");
        var ec2 = Parse("-id", "i-07c3cedbe6988ed49", "-p", "k.pem", "-pc", "p.yaml", "-es", "at(2027-01-31T06:00:00)");

        Assert.Equal(SeedCommandLineOutcome.Invoke, serverless.Outcome);
        Assert.Equal(SeedCommandLineOutcome.UsageError, ec2.Outcome);
        Assert.Equal("-es", ec2.Flag);
    }

    [Theory]
    [InlineData("-id", "i-07c3cedbe6988ed49")]
    [InlineData("-p", "k.pem")]
    [InlineData("-u", "ubuntu")]
    [InlineData("--ssh-port", "2222")]
    [InlineData("--role-name", "my-lambda-role")]
    public void Should_refuse_an_EC2_option_with_serverless(string flag, string value)
    {
        var result = Parse("--serverless", "-pc", "p.yaml", "-es", "rate(1 day)", flag, value);

        Assert.Equal(SeedCommandLineOutcome.UsageError, result.Outcome);
        Assert.Equal(flag, result.Flag);
        Assert.Contains("does not apply with --serverless", result.ErrorMessage, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--time-zone", "Europe/Amsterdam")]
    [InlineData("--role-arn", "arn:aws:iam::123456789012:role/sm")]
    [InlineData("--scheduler-role-arn", "arn:aws:iam::123456789012:role/sched")]
    public void Should_refuse_a_serverless_option_without_serverless_and_keep_the_seed_behaviour(string flag, string value)
    {
        var seed = Parse("-id", "i-07c3cedbe6988ed49", "-p", "k.pem", "-pc", "p.yaml", "-es", "rate(1 day)");
        var result = Parse("-id", "i-07c3cedbe6988ed49", "-p", "k.pem", "-pc", "p.yaml", "-es", "rate(1 day)", flag, value);

        Assert.Equal(SeedCommandLineOutcome.Invoke, seed.Outcome);
        Assert.False(seed.Parameters.ContainsKey("Serverless"));
        Assert.Equal(SeedCommandLineOutcome.UsageError, result.Outcome);
        Assert.Contains("applies only with --serverless", result.ErrorMessage, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(new[] { "--time-zone", "Mars/Olympus" }, "--time-zone", "not an IANA time zone")]
    [InlineData(new[] { "--role-arn", "sagemaker-role" }, "--role-arn", "not an IAM role ARN")]
    [InlineData(new[] { "-sit", "local" }, "-sit", "not local")]
    [InlineData(new[] { "-es", "cron(0 6 * * *)" }, "-es", "six")]
    public void Should_refuse_a_bad_serverless_value_as_a_usage_error(string[] extra, string flag, string expected)
    {
        string[] line = extra[0] == "-es" ? ["--serverless", "-pc", "p.yaml", .. extra] : ["--serverless", "-pc", "p.yaml", "-es", "rate(1 day)", .. extra];
        var result = Parse(line);

        Assert.Equal(SeedCommandLineOutcome.UsageError, result.Outcome);
        Assert.Equal(flag, result.Flag);
        Assert.Contains(expected, result.ErrorMessage, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public void Should_still_require_the_instance_and_pem_file_without_serverless()
    {
        var result = Parse("-pc", "p.yaml", "-es", "rate(1 day)");

        Assert.Equal(SeedCommandLineOutcome.UsageError, result.Outcome);
        Assert.Equal("--instance-id", result.Flag);
    }

    [Fact]
    public void Should_document_serverless_in_the_help_as_an_addition_to_the_original()
    {
        var help = SeedCommandLine.HelpFor("rlabs aws pipeline schedule");

        Assert.Contains("Added to the original CLI: --serverless", help, StringComparison.Ordinal);
        foreach (var flag in new[] { "--serverless", "--time-zone ZONE", "--role-arn ARN", "--scheduler-role-arn ARN" })
        {
            Assert.Contains(flag, help, StringComparison.Ordinal);
        }
        Assert.Contains("[required without --serverless]", help, StringComparison.Ordinal);
    }
}
