using System.Text;
using System.Text.RegularExpressions;
using Rlabs.Pipelines.Cli;

namespace Rlabs.Pipelines.Tests.Cli;

public sealed class SeedCommandLineTests
{
    // The seed's placeholders: '<x>' would be a redirection in bash, so a user types a value there.
    private static readonly Dictionary<string, string> s_placeholders = new()
    {
        ["<instance_id>"] = "i-0123456789abcdef0",
        ["<path_to_pem_file>"] = "/keys/instance.pem",
        ["<aws_instance_user_name>"] = "ubuntu",
        ["<project_name>"] = "lead-scoring",
        ["<aws_role_name>"] = "lead-scoring-role",
        ["<path_to_pipeline_file>"] = "pipelines/sample_pipeline.yaml",
    };

    private static SeedCommandLineResult Parse(params string[] args) => SeedCommandLine.Parse(args);

    private static SeedCommandLineResult ParseLine(string line) => SeedCommandLine.Parse(BashWords(line).Skip(1).ToArray());

    /// <summary>The '$ rlabs …' lines of the seed's example blocks, continuation lines joined.</summary>
    internal static List<string> SeedExampleLines()
    {
        var path = Path.Combine(AppContext.BaseDirectory, "seed", "original-rlabs-pipeline-cli.rst");
        var lines = File.ReadAllLines(path);
        var examples = new List<string>();
        for (var i = 0; i < lines.Length; i++)
        {
            var line = lines[i].Trim();
            if (!line.StartsWith("$ rlabs ", StringComparison.Ordinal))
            {
                continue;
            }
            var command = new StringBuilder(line[2..]);
            while (command[^1] == '\\')
            {
                command.Length--;
                command.Append(' ').Append(lines[++i].Trim());
            }
            examples.Add(Regex.Replace(command.ToString(), @"\s+", " "));
        }
        return examples;
    }

    /// <summary>Splits a command line as bash does for these lines: blanks separate words, double quotes group.</summary>
    internal static List<string> BashWords(string line)
    {
        foreach (var (placeholder, value) in s_placeholders)
        {
            line = line.Replace(placeholder, value, StringComparison.Ordinal);
        }
        var words = new List<string>();
        var word = new StringBuilder();
        var quoted = false;
        var inWord = false;
        foreach (var c in line)
        {
            if (c == '"')
            {
                quoted = !quoted;
                inWord = true;
            }
            else if (c == ' ' && !quoted)
            {
                if (inWord)
                {
                    words.Add(word.ToString());
                    word.Clear();
                    inWord = false;
                }
            }
            else
            {
                word.Append(c);
                inWord = true;
            }
        }
        if (inWord)
        {
            words.Add(word.ToString());
        }
        return words;
    }

    [Fact]
    public void Should_find_every_example_of_the_seed_document()
    {
        var examples = SeedExampleLines();

        Assert.Equal(6, examples.Count);
        Assert.Equal(
            ["run", "run", "schedule", "schedule", "enable-scheduling", "disable-scheduling"],
            examples.Select(e => BashWords(e)[3]));
    }

    [Fact]
    public void Should_map_run_example_1_to_Invoke_RlabsPipeline_on_the_cloud()
    {
        var result = ParseLine(SeedExampleLines()[0]);

        Assert.Equal(SeedCommandLineOutcome.Invoke, result.Outcome);
        Assert.Equal("Invoke-RlabsPipeline", result.CmdletName);
        Assert.Equal(
            new Dictionary<string, object>
            {
                ["Path"] = "pipeline.yaml",
                ["CredentialsFile"] = "credentials.yaml",
                ["RepositoryPath"] = "/path/to/repository",
                ["InstanceType"] = "ml.t3.xlarge",
                ["JobId"] = "my-job-id",
            },
            result.Parameters);
    }

    [Fact]
    public void Should_map_run_example_2_to_a_local_run()
    {
        var result = ParseLine(SeedExampleLines()[1]);

        Assert.Equal("Invoke-RlabsPipeline", result.CmdletName);
        Assert.Equal(
            new Dictionary<string, object>
            {
                ["Path"] = "pipeline.yaml",
                ["CredentialsFile"] = "credentials.yaml",
                ["RepositoryPath"] = "/path/to/repository",
                ["InstanceType"] = "local",
                ["JobId"] = "345687",
            },
            result.Parameters);
    }

    [Fact]
    public void Should_map_schedule_example_1_with_the_unquoted_rate_joined()
    {
        var line = SeedExampleLines()[2];
        Assert.Contains("rate(1 hour) --role-name", line, StringComparison.Ordinal); // two words in bash

        var result = ParseLine(line);

        Assert.Equal(SeedCommandLineOutcome.Invoke, result.Outcome);
        Assert.Equal("New-RlabsPipelineSchedule", result.CmdletName);
        Assert.Equal(
            new Dictionary<string, object>
            {
                ["InstanceId"] = "i-0123456789abcdef0",
                ["SageMakerInstanceType"] = "ml.t3.xlarge",
                ["PemFile"] = "/keys/instance.pem",
                ["Ec2UserName"] = "ubuntu",
                ["RepositoryPath"] = "/path/to/repository",
                ["ProjectName"] = "lead-scoring",
                ["PipelinePath"] = "pipeline.yaml",
                ["CredentialsFile"] = "credentials.yaml",
                ["ScheduleExpression"] = "rate(1 hour)",
                ["RoleName"] = "lead-scoring-role",
                ["Verbose"] = true,
            },
            result.Parameters);
    }

    [Fact]
    public void Should_map_schedule_example_2_short_flags_without_a_repository_path()
    {
        var result = ParseLine(SeedExampleLines()[3]);

        Assert.Equal("New-RlabsPipelineSchedule", result.CmdletName);
        Assert.Equal(
            new Dictionary<string, object>
            {
                ["InstanceId"] = "i-07c3cedbe6988ed49",
                ["PemFile"] = "~/.ssh/instance.pem",
                ["Ec2UserName"] = "ubuntu",
                ["RepositoryPath"] = ".",
                ["ProjectName"] = "lead-scoring-test",
                ["PipelinePath"] = "pipelines/sample_pipeline.yaml",
                ["CredentialsFile"] = "credentials_modified.yaml",
                ["ScheduleExpression"] = "rate(10 minutes)",
                ["Verbose"] = true,
            },
            result.Parameters);
    }

    [Theory]
    [InlineData(4, "Enable-RlabsPipelineSchedule")]
    [InlineData(5, "Disable-RlabsPipelineSchedule")]
    public void Should_map_the_enable_and_disable_examples(int example, string cmdlet)
    {
        var result = ParseLine(SeedExampleLines()[example]);

        Assert.Equal(cmdlet, result.CmdletName);
        Assert.Equal(
            new Dictionary<string, object>
            {
                ["CredentialsFile"] = "credentials.yaml",
                ["PipelinePath"] = "pipelines/sample_pipeline.yaml",
                ["ProjectName"] = "lead-scoring",
                ["Verbose"] = true,
            },
            result.Parameters);
    }

    [Theory]
    [InlineData("-pc")]
    [InlineData("-pn")]
    [InlineData("--project-name")]
    public void Should_take_the_project_name_of_enable_scheduling_from_every_spelling(string flag)
    {
        var result = Parse("aws", "pipeline", "enable-scheduling", "-c", "c.yaml", "-p", "p.yaml", flag, "my_project");

        Assert.Equal(SeedCommandLineOutcome.Invoke, result.Outcome);
        Assert.Equal("my_project", result.Parameters["ProjectName"]);
    }

    [Fact]
    public void Should_leave_out_what_run_was_not_given_so_the_cmdlet_defaults_apply()
    {
        var result = Parse("aws", "pipeline", "run", "-p", "pipeline.yaml");

        Assert.Equal(SeedCommandLineOutcome.Invoke, result.Outcome);
        Assert.Equal(new Dictionary<string, object> { ["Path"] = "pipeline.yaml" }, result.Parameters);
    }

    [Fact]
    public void Should_schedule_the_current_directory_and_leave_the_credentials_file_to_the_cmdlet_when_not_given()
    {
        var schedule = SeedCommandLine.Parse(["aws", "pipeline", "schedule", "-id", "i-07c3cedbe6988ed49", "-p", "k.pem", "-pc", "p.yaml", "-es", "rate(5 minutes)"], _ => true);

        Assert.Equal(
            new Dictionary<string, object>
            {
                ["InstanceId"] = "i-07c3cedbe6988ed49",
                ["PemFile"] = "k.pem",
                ["PipelinePath"] = "p.yaml",
                ["ScheduleExpression"] = "rate(5 minutes)",
                ["RepositoryPath"] = ".",
            },
            schedule.Parameters);
    }

    [Theory]
    [InlineData("enable-scheduling", true)]
    [InlineData("disable-scheduling", true)]
    [InlineData("enable-scheduling", false)]
    [InlineData("disable-scheduling", false)]
    public void Should_pass_the_seed_default_credentials_yaml_only_when_the_current_directory_has_one(string subcommand, bool exists)
    {
        var asked = new List<string>();

        var result = SeedCommandLine.Parse(["aws", "pipeline", subcommand, "-p", "p.yaml", "-pc", "proj"], file =>
        {
            asked.Add(file);
            return exists;
        });

        Assert.Equal(["credentials.yaml"], asked);
        Assert.Equal(exists, result.Parameters.ContainsKey("CredentialsFile"));
        if (exists)
        {
            Assert.Equal("credentials.yaml", result.Parameters["CredentialsFile"]);
        }
    }

    [Fact]
    public void Should_not_look_for_credentials_yaml_when_c_is_given()
    {
        var result = SeedCommandLine.Parse(["aws", "pipeline", "enable-scheduling", "-c", "other.yaml", "-p", "p.yaml", "-pn", "proj"], _ => throw new InvalidOperationException("not asked"));

        Assert.Equal("other.yaml", result.Parameters["CredentialsFile"]);
    }

    [Theory]
    [InlineData("local")]
    [InlineData("ml.m5.2xlarge")]
    public void Should_accept_the_sagemaker_instance_types_New_RlabsPipelineSchedule_accepts(string type)
    {
        var result = Parse("aws", "pipeline", "schedule", "-id", "i-07c3cedbe6988ed49", "-p", "k.pem", "-pc", "p.yaml", "-es", "cron(0 6 ? * MON-FRI *)", "-sit", type);

        Assert.Equal(SeedCommandLineOutcome.Invoke, result.Outcome);
        Assert.Equal(type, result.Parameters["SageMakerInstanceType"]);
    }

    [Fact]
    public void Should_take_an_ssh_port_for_schedule_beyond_the_seed()
    {
        var result = Parse("aws", "pipeline", "schedule", "-id", "i-07c3cedbe6988ed49", "-p", "k.pem", "-pc", "p.yaml", "-es", "rate(1 day)", "--ssh-port", "2222");

        Assert.Equal("2222", result.Parameters["SshPort"]);
    }

    [Theory]
    [InlineData("-v")]
    [InlineData("-vv")]
    [InlineData("--verbose")]
    public void Should_map_every_verbose_flag_to_Verbose(string flag)
    {
        var result = Parse("aws", "pipeline", "run", flag, "-p", "pipeline.yaml");

        Assert.Equal(true, result.Parameters["Verbose"]);
    }

    [Fact]
    public void Should_accept_long_options_with_an_equals_sign()
    {
        var result = Parse("aws", "pipeline", "run", "--pipeline-config-file=p.yaml", "--instance-type=local", "--job-id=a-1");

        Assert.Equal(
            new Dictionary<string, object> { ["Path"] = "p.yaml", ["InstanceType"] = "local", ["JobId"] = "a-1" },
            result.Parameters);
    }

    [Fact]
    public void Should_keep_values_with_spaces_and_equals_signs_as_given()
    {
        var result = Parse("aws", "pipeline", "run", "-p", "my pipelines/a=b.yaml", "-r", "C:\\repo dir");

        Assert.Equal("my pipelines/a=b.yaml", result.Parameters["Path"]);
        Assert.Equal("C:\\repo dir", result.Parameters["RepositoryPath"]);
    }

    [Theory]
    [InlineData(new[] { "rate(1", "hour)" }, "rate(1 hour)")]
    [InlineData(new[] { "rate(10 minutes)" }, "rate(10 minutes)")]
    [InlineData(new[] { "cron(0", "6", "*", "*", "?", "*)" }, "cron(0 6 * * ? *)")]
    [InlineData(new[] { "cron(0 6 * * ? *)" }, "cron(0 6 * * ? *)")]
    public void Should_join_schedule_words_until_the_parentheses_balance(string[] words, string expected)
    {
        string[] args = ["aws", "pipeline", "schedule", "-id", "i-07c3cedbe6988ed49", "-p", "k.pem", "-pc", "p.yaml", "--event-schedule", .. words, "-vv"];

        var result = Parse(args);

        Assert.Equal(SeedCommandLineOutcome.Invoke, result.Outcome);
        Assert.Equal(expected, result.Parameters["ScheduleExpression"]);
        Assert.Equal(true, result.Parameters["Verbose"]);
    }

    [Theory]
    [InlineData(new string[0], "rlabs")]
    [InlineData(new[] { "aws" }, "rlabs aws")]
    [InlineData(new[] { "aws", "pipeline" }, "rlabs aws pipeline")]
    public void Should_print_group_help_at_every_level(string[] words, string path)
    {
        var result = Parse([.. words, "--help"]);

        Assert.Equal(SeedCommandLineOutcome.Help, result.Outcome);
        Assert.StartsWith($"Usage: {path} [OPTIONS] COMMAND [ARGS]...", result.HelpText, StringComparison.Ordinal);
        Assert.Contains("Commands:", result.HelpText, StringComparison.Ordinal);
    }

    [Fact]
    public void Should_list_every_subcommand_in_the_pipeline_help()
    {
        var help = Parse("aws", "pipeline", "-h").HelpText!;

        foreach (var name in new[] { "run", "schedule", "enable-scheduling", "disable-scheduling" })
        {
            Assert.Matches(new Regex($@"(?m)^  {Regex.Escape(name)} +\S"), help);
        }
    }

    [Theory]
    [InlineData("run", new[] { "-p, --pipeline-config-file FILE", "-c, --credentials-file FILE", "-r, --repository-path PATH", "-i, --instance-type TYPE", "-j, --job-id ID", "[default: ml.t3.xlarge", "-v, -vv, --verbose" })]
    [InlineData("schedule", new[] { "-id, --instance-id ID", "-sit, --sagemaker-instance-type TYPE", "-p, --pem-file FILE", "-u, --ec2-username NAME", "-r, --repository-path PATH", "-pn, --project-name NAME", "-pc, --pipeline-config-file FILE", "-c, --credentials-file FILE", "-es, --event-schedule EXPR", "  --role-name NAME", "-vv" })]
    [InlineData("enable-scheduling", new[] { "-c, --credentials-file FILE", "-p, --pipeline FILE", "-pc, -pn, --project-name NAME", "[default: credentials.yaml, when the current directory has one]" })]
    [InlineData("disable-scheduling", new[] { "-c, --credentials-file FILE", "-p, --pipeline FILE", "-pc, -pn, --project-name NAME" })]
    public void Should_print_subcommand_help_in_the_seed_style(string subcommand, string[] expected)
    {
        var result = Parse("aws", "pipeline", subcommand, "--help");

        Assert.Equal(SeedCommandLineOutcome.Help, result.Outcome);
        Assert.StartsWith($"Usage: rlabs aws pipeline {subcommand} [OPTIONS]", result.HelpText, StringComparison.Ordinal);
        Assert.Contains(SeedCommandLine.CmdletFor(subcommand), result.HelpText, StringComparison.Ordinal);
        Assert.Contains("--help", result.HelpText, StringComparison.Ordinal);
        foreach (var text in expected)
        {
            Assert.Contains(text, result.HelpText, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Should_say_in_the_schedule_help_that_the_role_name_is_long_form_only()
    {
        var help = SeedCommandLine.HelpFor("rlabs aws pipeline schedule");

        Assert.Contains("-r is the repository path, and the role name has only the long form --role-name", help, StringComparison.Ordinal);
        Assert.DoesNotContain("-r, --role-name", help, StringComparison.Ordinal);
        Assert.Matches(new Regex(@"(?m)^  -id, --instance-id ID +EC2 machine instance id  \[required without --serverless\]$"), help);
    }

    [Fact]
    public void Should_print_help_when_help_follows_other_options_or_incomplete_ones()
    {
        var result = Parse("aws", "pipeline", "schedule", "-id", "--help");

        Assert.Equal(SeedCommandLineOutcome.Help, result.Outcome);
        Assert.Equal("rlabs aws pipeline schedule", result.CommandPath);
    }

    [Theory]
    [InlineData(new[] { "aws", "pipeline", "run", "-p", "p.yaml", "--bogus" }, "--bogus", "No such option: --bogus.")]
    [InlineData(new[] { "aws", "pipeline", "run", "-p", "p.yaml", "--instance-typ", "local" }, "--instance-typ", "Did you mean --instance-type?")]
    [InlineData(new[] { "aws", "pipeline", "run", "-c", "c.yaml" }, "--pipeline-config-file", "Missing option -p/--pipeline-config-file FILE: path to the pipeline configuration file.")]
    [InlineData(new[] { "aws", "pipeline", "run", "-p" }, "-p", "Option -p/--pipeline-config-file requires a value: FILE")]
    [InlineData(new[] { "aws", "pipeline", "run", "-p", "-c", "c.yaml" }, "-p", "Option -p/--pipeline-config-file requires a value: FILE")]
    [InlineData(new[] { "aws", "pipeline", "run", "-p", "" }, "-p", "requires a non-empty value")]
    [InlineData(new[] { "aws", "pipeline", "run", "-p", "p.yaml", "-i", "t3.xlarge" }, "-i", "'t3.xlarge' is not an instance type: expected 'local' or a SageMaker instance type such as ml.t3.xlarge.")]
    [InlineData(new[] { "aws", "pipeline", "run", "-p", "p.yaml", "-j", "my job" }, "-j", "'my job' is not a valid job id.")]
    [InlineData(new[] { "aws", "pipeline", "run", "-p", "p.yaml", "extra" }, "extra", "Unexpected argument 'extra'")]
    [InlineData(new[] { "aws", "pipeline", "run", "-p", "a.yaml", "-p", "b.yaml" }, "-p", "is given more than once")]
    [InlineData(new[] { "aws", "pipeline", "run", "-p", "a.yaml", "--verbose=yes" }, "--verbose", "does not take a value")]
    [InlineData(new[] { "aws", "pipeline", "schedule", "-id", "i-1", "-p", "k.pem", "-pc", "p.yaml", "-es", "rate(1 hour)" }, "-id", "'i-1' is not an EC2 instance id")]
    [InlineData(new[] { "aws", "pipeline", "schedule", "-id", "i-07c3cedbe6988ed49", "-p", "k.pem", "-pc", "p.yaml", "-es", "rate(1", "hours" }, "-es", "unbalanced parentheses in 'rate(1 hours'")]
    [InlineData(new[] { "aws", "pipeline", "schedule", "-id", "i-07c3cedbe6988ed49", "-p", "k.pem", "-pc", "p.yaml", "-es", "rate(2 hour)" }, "-es", "Option -es/--event-schedule: ")]
    [InlineData(new[] { "aws", "pipeline", "schedule", "-id", "i-07c3cedbe6988ed49", "-p", "k.pem", "-pc", "p.yaml", "-es", "every hour" }, "-es", "Examples: 'rate(1 hour)'")]
    [InlineData(new[] { "aws", "pipeline", "schedule", "-id", "i-07c3cedbe6988ed49", "-p", "k.pem", "-pc", "p.yaml", "-es", "rate(1 hour)", "-sit", "t3.xlarge" }, "-sit", "The SageMaker instance type 't3.xlarge' is not valid")]
    [InlineData(new[] { "aws", "pipeline", "schedule", "-id", "i-07c3cedbe6988ed49", "-p", "k.pem", "-pc", "p.yaml" }, "--event-schedule", "Missing option -es/--event-schedule EXPR")]
    [InlineData(new[] { "aws", "pipeline", "schedule", "-id", "i-07c3cedbe6988ed49", "-p", "k.pem", "-pc", "p.yaml", "-es", "rate(1 hour)", "-r", "/repo", "-r", "my-role" }, "-r", "give the role name with --role-name")]
    [InlineData(new[] { "aws", "pipeline", "enable-scheduling", "-c", "c.yaml", "-p", "p.yaml" }, "--project-name", "Missing option -pc/-pn/--project-name NAME")]
    [InlineData(new[] { "aws", "pipeline", "schedule", "-id", "i-07c3cedbe6988ed49", "-p", "k.pem", "-pc", "p.yaml", "-es", "rate(1 day)", "--ssh-port", "0" }, "--ssh-port", "'0' is not a port: expected a number from 1 to 65535.")]
    [InlineData(new[] { "aws", "pipeline", "schedule", "-id", "i-07c3cedbe6988ed49", "-p", "k.pem", "-pc", "p.yaml", "-es", "rate(1 day)", "--ssh-port", "ssh" }, "--ssh-port", "'ssh' is not a port")]
    [InlineData(new[] { "aws", "pipeline", "rn" }, "rn", "No such command 'rn': expected one of run, schedule, enable-scheduling, disable-scheduling. Did you mean 'run'?")]
    [InlineData(new[] { "aws", "pipelines", "run" }, "pipelines", "No such command 'pipelines': expected 'pipeline'.")]
    [InlineData(new[] { "gcp" }, "gcp", "No such command 'gcp': expected 'aws'.")]
    [InlineData(new[] { "-v", "aws" }, "-v", "No such option: -v.")]
    [InlineData(new string[0], null, "Missing command: expected 'aws'.")]
    [InlineData(new[] { "aws", "pipeline" }, null, "Missing command: expected one of run, schedule")]
    public void Should_refuse_a_wrong_command_line_with_one_line_naming_the_flag(string[] args, string? flag, string expected)
    {
        var result = Parse(args);

        Assert.Equal(SeedCommandLineOutcome.UsageError, result.Outcome);
        Assert.Equal(flag, result.Flag);
        Assert.Contains(expected, result.ErrorMessage, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', result.ErrorMessage!);
        Assert.EndsWith($"See '{result.CommandPath} --help'.", result.ErrorMessage, StringComparison.Ordinal);
        Assert.Null(result.CmdletName);
        Assert.Empty(result.Parameters);
    }

    [Fact]
    public void Should_treat_null_arguments_as_empty_words()
    {
        var result = SeedCommandLine.Parse(["aws", "pipeline", "run", "-p", null]);

        Assert.Equal(SeedCommandLineOutcome.UsageError, result.Outcome);
        Assert.Contains("requires a non-empty value", result.ErrorMessage, StringComparison.Ordinal);
    }

    [Fact]
    public void Should_name_the_cmdlet_of_each_subcommand()
    {
        Assert.Equal(
            ["Invoke-RlabsPipeline", "New-RlabsPipelineSchedule", "Enable-RlabsPipelineSchedule", "Disable-RlabsPipelineSchedule"],
            SeedCommandLine.Subcommands.Select(SeedCommandLine.CmdletFor));
        Assert.Throws<ArgumentException>(() => SeedCommandLine.CmdletFor("stop"));
    }
}
