using Rlabs.Pipelines.Scheduling;

namespace Rlabs.Pipelines.Tests.Scheduling;

public sealed class InstanceScriptsTests : IDisposable
{
    private const string Hostile = "it's \"q\" $(touch PWNED) `touch PWNED2` ; & | %p * ~ \\";

    private readonly string _root = Path.Combine(Path.GetTempPath(), "rlabs-tests", "scripts-" + Guid.NewGuid().ToString("N"));

    public InstanceScriptsTests() => Directory.CreateDirectory(_root);

    public void Dispose()
    {
        try
        {
            Directory.Delete(_root, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    [Fact]
    public void Should_generate_scripts_that_parse_with_bash_n()
    {
        var files = InstanceScripts.Generate(new InstanceLayout("/home/ec2-user", "lead-scoring", "sample-pipeline"), "pipelines/sample_pipeline.yaml", "ml.t3.xlarge");

        Assert.Equal(["cron.sh", "run-pipeline.ps1", "run.sh", "setup.sh"], files.Keys.Order(StringComparer.Ordinal));
        foreach (var name in files.Keys.Where(n => n.EndsWith(".sh", StringComparison.Ordinal)))
        {
            var path = Write(name, files[name]);
            var (exit, output) = ScriptHarness.Run("bash", ["-n", path]);
            Assert.True(exit == 0, $"bash -n {name}: {output}");
            Assert.DoesNotContain("@@", files[name], StringComparison.Ordinal);
        }
    }

    [Theory]
    [InlineData("ml.t3.xlarge")]
    [InlineData("local")]
    public void Should_generate_scripts_that_pass_shellcheck(string instanceType)
    {
        var shellcheck = ScriptHarness.Which("shellcheck") ?? throw new InvalidOperationException("shellcheck is not installed: apt-get install shellcheck (build.ps1 Test installs it when run as root).");
        var files = InstanceScripts.Generate(new InstanceLayout("/home/ubuntu", "p", "q"), "daily.yaml", instanceType);

        foreach (var name in files.Keys.Where(n => n.EndsWith(".sh", StringComparison.Ordinal)))
        {
            var (exit, output) = ScriptHarness.Run(shellcheck, ["--shell=bash", "--severity=style", Write(name, files[name])]);
            Assert.True(exit == 0, $"shellcheck {name}:\n{output}");
        }
        var removal = Write("cron-remove.sh", InstanceScripts.CronScript(new InstanceLayout("/home/ubuntu", "p", "q"), install: false));
        Assert.Equal(0, ScriptHarness.Run(shellcheck, ["--shell=bash", removal]).ExitCode);
    }

    [Fact]
    public void Should_keep_hostile_paths_literal_in_every_assignment()
    {
        var home = Path.Combine(_root, Hostile);
        var layout = new InstanceLayout(home, "p", "q");
        // A backslash in a pipeline path is a Windows separator, so it is left out here.
        var relative = $"pipelines/{Hostile.Replace("\\", string.Empty, StringComparison.Ordinal)}.yaml";
        var files = InstanceScripts.Generate(layout, relative, "local");
        var script = files["run.sh"];
        var start = script.IndexOf("schedule_dir=", StringComparison.Ordinal);
        var assignments = script[start..script.IndexOf("\nmkdir -p", start, StringComparison.Ordinal)];
        var probe = Write("probe.sh", assignments + "\nprintf '%s\\n' \"$schedule_dir\" \"$pipeline_path\" \"$python_env\" \"$credentials_file\" \"$module_path\"\n");

        var (exit, output) = ScriptHarness.Run("bash", [probe], workingDirectory: _root);

        Assert.Equal(0, exit);
        Assert.Equal(
            [layout.ScheduleDirectory, $"{layout.RepositoryDirectory}/{relative}", layout.PythonEnvironment, layout.CredentialsFile, layout.ModulePath],
            output.TrimEnd('\n').Split('\n'));
        Assert.False(File.Exists(Path.Combine(_root, "PWNED")));
        Assert.False(File.Exists(Path.Combine(_root, "PWNED2")));
    }

    [Theory]
    [InlineData("x'y")]
    [InlineData("'")]
    [InlineData("")]
    [InlineData("$HOME `id` \"a b\" \\n")]
    [InlineData("line\nbreak")]
    public void Should_quote_any_string_into_one_literal_word(string value)
    {
        var (exit, output) = ScriptHarness.Run("bash", ["-c", $"printf '%s|' {ShellQuote.Quote(value)} {ShellQuote.Join(value, "second")}"]);

        Assert.Equal(0, exit);
        Assert.Equal($"{value}|{value}|second|", output);
    }

    [Fact]
    public void Should_refuse_NUL_in_a_shell_word() =>
        Assert.Throws<ArgumentException>(() => ShellQuote.Quote("a\0b"));

    [Fact]
    public void Should_write_a_marked_reboot_line_with_cron_percent_escaped()
    {
        var layout = new InstanceLayout("/home/a%b", "p", "q");

        Assert.Equal("@reboot /bin/bash '/home/a\\%b/rlabs/p/schedules/q/run.sh' # rlabs-schedule:p/q:", InstanceScripts.CronLine(layout));
    }

    [Fact]
    public void Should_replace_only_this_pipelines_crontab_line_and_keep_the_others()
    {
        var fake = FakeCrontab();
        File.WriteAllText(fake.File, "MAILTO=ops@example.com\n# a comment\n*/5 * * * * /usr/bin/backup --quiet\n@reboot /old/run.sh # rlabs-schedule:p/q:\n@reboot /other.sh # rlabs-schedule:p/qq:\n\n0 1 * * * echo '100%'\n");
        var layout = new InstanceLayout("/home/u", "p", "q");
        var install = Write("cron.sh", InstanceScripts.CronScript(layout, install: true));

        var first = ScriptHarness.Run("bash", [install], fake.Environment);
        var afterFirst = File.ReadAllText(fake.File);
        var second = ScriptHarness.Run("bash", [install], fake.Environment);

        Assert.Equal((0, "rlabs-cron: updated\n"), first);
        Assert.Equal("MAILTO=ops@example.com\n# a comment\n*/5 * * * * /usr/bin/backup --quiet\n@reboot /other.sh # rlabs-schedule:p/qq:\n\n0 1 * * * echo '100%'\n" + InstanceScripts.CronLine(layout) + "\n", afterFirst);
        Assert.Equal((0, "rlabs-cron: unchanged\n"), second);
        Assert.Equal(afterFirst, File.ReadAllText(fake.File));
    }

    [Fact]
    public void Should_install_into_an_empty_crontab_and_remove_it_again()
    {
        var fake = FakeCrontab();
        var layout = new InstanceLayout("/home/u", "p", "q");
        var install = Write("cron.sh", InstanceScripts.CronScript(layout, install: true));
        var remove = Write("cron-remove.sh", InstanceScripts.CronScript(layout, install: false));

        Assert.Equal(0, ScriptHarness.Run("bash", [install], fake.Environment).ExitCode);
        Assert.Equal(InstanceScripts.CronLine(layout) + "\n", File.ReadAllText(fake.File));
        Assert.Equal((0, "rlabs-cron: removed\n"), ScriptHarness.Run("bash", [remove], fake.Environment));
        Assert.False(File.Exists(fake.File));
        Assert.Equal((0, "rlabs-cron: unchanged\n"), ScriptHarness.Run("bash", [remove], fake.Environment));
    }

    [Fact]
    public void Should_remove_only_the_marked_line_on_unschedule()
    {
        var fake = FakeCrontab();
        File.WriteAllText(fake.File, "0 1 * * * keep-me\n@reboot x # rlabs-schedule:p/q:\n");
        var remove = Write("cron-remove.sh", InstanceScripts.CronScript(new InstanceLayout("/home/u", "p", "q"), install: false));

        Assert.Equal((0, "rlabs-cron: updated\n"), ScriptHarness.Run("bash", [remove], fake.Environment));
        Assert.Equal("0 1 * * * keep-me\n", File.ReadAllText(fake.File));
    }

    [Theory]
    [InlineData(0, false)]
    [InlineData(1, false)]
    [InlineData(0, true)]
    public void Should_run_the_pipeline_log_it_and_shut_down_five_minutes_later(int pwshExit, bool noShutdown)
    {
        var home = Path.Combine(_root, "home dir");
        var layout = new InstanceLayout(home, "p", "q");
        var (bin, calls) = InstallRunScripts(layout, "ml.m5.large", pwshExit);
        if (noShutdown)
        {
            File.WriteAllText(layout.NoShutdownFile, string.Empty);
        }

        var (exit, output) = ScriptHarness.Run("bash", [layout.RunScript], new Dictionary<string, string> { ["PATH"] = $"{bin}:/usr/bin:/bin", ["HOME"] = home });

        Assert.True(exit == pwshExit, output);
        var pwshArgs = File.ReadAllText(Path.Combine(calls, "pwsh")).Split('\0')[..^1];
        Assert.Equal(
            ["-NoProfile", "-NonInteractive", "-File", $"{layout.ScheduleDirectory}/run-pipeline.ps1", "-ModulePath", layout.ModulePath, "-Path", $"{layout.RepositoryDirectory}/pipelines/daily pipe.yaml", "-RepositoryPath", layout.RepositoryDirectory, "-InstanceType", "ml.m5.large", "-CredentialsFile", layout.CredentialsFile],
            pwshArgs);
        var log = File.ReadAllText(Path.Combine(layout.LogDirectory, "latest.log"));
        Assert.Contains("pipeline output line", log, StringComparison.Ordinal);
        Assert.Contains($"with exit code {pwshExit}", log, StringComparison.Ordinal);
        var sudo = Path.Combine(calls, "sudo");
        if (noShutdown)
        {
            Assert.False(File.Exists(sudo));
            Assert.Contains("not shutting down", log, StringComparison.Ordinal);
        }
        else
        {
            Assert.Equal(["-n", "shutdown", "-h", "+5"], File.ReadAllText(sudo).Split('\0')[..4]);
        }
    }

    [Fact]
    public void Should_not_start_a_second_run_while_one_holds_the_lock()
    {
        var home = Path.Combine(_root, "h");
        var layout = new InstanceLayout(home, "p", "q");
        var (bin, calls) = InstallRunScripts(layout, "ml.m5.large", 0);
        var environment = new Dictionary<string, string> { ["PATH"] = $"{bin}:/usr/bin:/bin", ["HOME"] = home };

        var (exit, output) = ScriptHarness.Run("flock", [$"{layout.ScheduleDirectory}/run.lock", "bash", layout.RunScript], environment);

        Assert.True(exit == 75, output);
        Assert.False(File.Exists(Path.Combine(calls, "pwsh")));
        Assert.Contains("not starting a second one", File.ReadAllText(Path.Combine(layout.LogDirectory, "latest.log")), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("../outside.yaml")]
    [InlineData("/etc/passwd")]
    [InlineData("a//b.yaml")]
    [InlineData("")]
    public void Should_refuse_pipeline_paths_outside_the_repository(string relative) =>
        Assert.Throws<ArgumentException>(() => InstanceScripts.Generate(new InstanceLayout("/home/u", "p", "q"), relative, "ml.t3.xlarge"));

    [Theory]
    [InlineData("ml.t3.xlarge", true)]
    [InlineData("local", true)]
    [InlineData("t3.xlarge", false)]
    [InlineData("ml.t3.xlarge; reboot", false)]
    public void Should_validate_the_sagemaker_instance_type(string instanceType, bool valid) =>
        Assert.Equal(valid, InstanceScripts.ValidateInstanceType(instanceType) is null);

    [Theory]
    [InlineData("relative/home", "p", "q")]
    [InlineData("/home/u\nx", "p", "q")]
    [InlineData("/home/u", "p q", "q")]
    [InlineData("/home/u", "p", "q;x")]
    [InlineData("/home/u", "p", "")]
    public void Should_refuse_layouts_that_could_break_a_line(string home, string project, string pipeline) =>
        Assert.Throws<ArgumentException>(() => new InstanceLayout(home, project, pipeline));

    private (string Bin, string Calls) InstallRunScripts(InstanceLayout layout, string instanceType, int pwshExit)
    {
        foreach (var (name, content) in InstanceScripts.Generate(layout, "pipelines/daily pipe.yaml", instanceType))
        {
            Directory.CreateDirectory(layout.ScheduleDirectory);
            File.WriteAllText(Path.Combine(layout.ScheduleDirectory, name), content);
        }
        var bin = Path.Combine(_root, "bin");
        var calls = Path.Combine(_root, "calls");
        Directory.CreateDirectory(calls);
        ScriptHarness.WriteExecutable(bin, "pwsh", $"#!/bin/bash\nprintf '%s\\0' \"$@\" > '{calls}/pwsh'\necho pipeline output line\nexit {pwshExit}\n");
        ScriptHarness.WriteExecutable(bin, "sudo", $"#!/bin/bash\nprintf '%s\\0' \"$@\" > '{calls}/sudo'\n");
        return (bin, calls);
    }

    private (string File, Dictionary<string, string> Environment) FakeCrontab()
    {
        var bin = Path.Combine(_root, "cronbin");
        var file = Path.Combine(_root, "crontab.txt");
        ScriptHarness.WriteExecutable(bin, "crontab", """
            #!/bin/bash
            case "$1" in
              -l) if [ -f "$FAKE_CRONTAB" ]; then cat "$FAKE_CRONTAB"; else echo "no crontab for $USER" >&2; exit 1; fi ;;
              -r) if [ -f "$FAKE_CRONTAB" ]; then rm -f "$FAKE_CRONTAB"; else echo "no crontab for $USER" >&2; exit 1; fi ;;
              -) cat > "$FAKE_CRONTAB" ;;
              *) echo "unexpected crontab arguments: $*" >&2; exit 2 ;;
            esac
            """);
        return (file, new Dictionary<string, string> { ["PATH"] = $"{bin}:/usr/bin:/bin", ["FAKE_CRONTAB"] = file });
    }

    private string Write(string name, string content)
    {
        var path = Path.Combine(_root, name);
        File.WriteAllText(path, content);
        return path;
    }
}
