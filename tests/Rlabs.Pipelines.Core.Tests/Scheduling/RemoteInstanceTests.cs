using Rlabs.Pipelines.Packaging;
using Rlabs.Pipelines.Running;
using Rlabs.Pipelines.Scheduling;

namespace Rlabs.Pipelines.Tests.Scheduling;

[Collection(SshServerGroup.Name)]
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
[Trait("Tier", "Ssh")]
public sealed class RemoteInstanceTests : IDisposable
{
    private readonly SshServerFixture _server;
    private readonly string _local = Path.Combine(Path.GetTempPath(), "rlabs-tests", "remote-" + Guid.NewGuid().ToString("N"));
    private readonly KnownHosts _knownHosts;
    private readonly RecordingReporter _reporter = new();

    public RemoteInstanceTests(SshServerFixture server)
    {
        _server = server;
        _server.ResetAccount();
        Directory.CreateDirectory(_local);
        _knownHosts = new KnownHosts(Path.Combine(_local, "config", "known_hosts"));
    }

    public void Dispose() => Directory.Delete(_local, recursive: true);

    [Theory]
    [InlineData("rsa-pem")]
    [InlineData("ed25519")]
    public async Task Should_log_in_with_RSA_PEM_and_OpenSSH_ed25519_keys_and_pin_the_host_key(string keyKind)
    {
        var key = keyKind == "rsa-pem" ? _server.RsaPemKey : _server.Ed25519Key;
        Assert.StartsWith(keyKind == "rsa-pem" ? "-----BEGIN RSA PRIVATE KEY-----" : "-----BEGIN OPENSSH PRIVATE KEY-----", await File.ReadAllTextAsync(key), StringComparison.Ordinal);

        using (var remote = await Connect(key))
        {
            var whoami = await remote.RunCheckedAsync("id -un", "id", CancellationToken.None);
            Assert.Equal(SshServerFixture.UserName + "\n", whoami.Output);
            Assert.Equal(_server.Home, remote.Home);
            Assert.Equal($"ssh-ed25519 {_server.HostKeySha256}", remote.HostKey);
        }
        var recorded = await File.ReadAllLinesAsync(_knownHosts.Path);
        Assert.Contains($"i-0123456789abcdef0 ssh-ed25519 {_server.HostKeySha256}", recorded);
        Assert.Contains(_reporter.Verbose, line => line.StartsWith("First contact with i-0123456789abcdef0", StringComparison.Ordinal));

        _reporter.Verbose.Clear();
        using (var again = await Connect(key))
        {
            Assert.Equal(0, (await again.RunAsync("true", CancellationToken.None)).ExitCode);
        }
        Assert.Equal(recorded, await File.ReadAllLinesAsync(_knownHosts.Path));
        Assert.DoesNotContain(_reporter.Verbose, line => line.StartsWith("First contact", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Should_refuse_a_changed_host_key_unless_forced()
    {
        _knownHosts.Record("i-0123456789abcdef0", "ssh-ed25519", "AAAAthisIsNotTheKeyTheServerHas");

        var refused = await Assert.ThrowsAsync<RemoteInstanceException>(() => Connect(_server.Ed25519Key));

        Assert.Equal(RemoteFailure.HostKeyChanged, refused.Failure);
        Assert.Contains("SHA256:AAAAthisIsNotTheKeyTheServerHas", refused.Message, StringComparison.Ordinal);
        Assert.Contains(_server.HostKeySha256, refused.Message, StringComparison.Ordinal);
        Assert.Contains("-AcceptChangedHostKey", refused.Message, StringComparison.Ordinal);
        Assert.Equal(HostKeyStatus.Changed, _knownHosts.Check("i-0123456789abcdef0", "ssh-ed25519", _server.HostKeySha256["SHA256:".Length..], out _));

        using (await Connect(_server.Ed25519Key, acceptChangedHostKey: true))
        {
        }
        Assert.Equal(HostKeyStatus.Matches, _knownHosts.Check("i-0123456789abcdef0", "ssh-ed25519", _server.HostKeySha256["SHA256:".Length..], out _));
        Assert.Contains(_reporter.Warnings, w => w.Contains("changed", StringComparison.Ordinal));
    }

    private static string Console(params string[] fingerprints) =>
        "[   12.3] cloud-init[1234]: Cloud-init v. 22.2 running 'modules:final'\n" +
        "<14>Dec  4 18:00:00 ec2: #############################################################\n" +
        "<14>Dec  4 18:00:00 ec2: -----BEGIN SSH HOST KEY FINGERPRINTS-----\n" +
        string.Concat(fingerprints.Select(f => $"<14>Dec  4 18:00:00 ec2: 256 {f} root@ip-172-31-1-2 (ED25519)\n")) +
        "<14>Dec  4 18:00:00 ec2: -----END SSH HOST KEY FINGERPRINTS-----\n" +
        "-----BEGIN SSH HOST KEY KEYS-----\nssh-ed25519 AAAAC3Nz root@ip\n-----END SSH HOST KEY KEYS-----\n";

    [Fact]
    public void Should_read_the_host_key_fingerprints_cloud_init_prints_to_the_console()
    {
        var text = Console("SHA256:Hn7Ykq1xYzQ0bFvDs9pC2q+abc/def", "SHA256:Other2") + "SHA256:NotInTheBlock (RSA)\n";

        Assert.Equal(["Hn7Ykq1xYzQ0bFvDs9pC2q+abc/def", "Other2"], KnownHosts.ConsoleFingerprints(text));
        Assert.Empty(KnownHosts.ConsoleFingerprints(null));
        Assert.Empty(KnownHosts.ConsoleFingerprints("booting...\n"));
    }

    [Fact]
    public async Task Should_refuse_a_first_contact_host_key_missing_from_the_console_fingerprints()
    {
        var endpoint = new SshEndpoint("127.0.0.1", _server.Port, SshServerFixture.UserName, _server.Ed25519Key, "i-0123456789abcdef0");
        var fingerprints = KnownHosts.ConsoleFingerprints(Console("SHA256:AAAAsomeOtherMachinesKeyAAAAAAAAAAAAAAAAAAA"));

        var refused = await Assert.ThrowsAsync<RemoteInstanceException>(() => RemoteInstance.ConnectAsync(endpoint, _knownHosts, false, fingerprints, TimeSpan.FromSeconds(20), _reporter, CancellationToken.None));

        Assert.Equal(RemoteFailure.HostKeyUnverified, refused.Failure);
        Assert.Contains(_server.HostKeySha256, refused.Message, StringComparison.Ordinal);
        Assert.Contains("SHA256:AAAAsomeOtherMachinesKey", refused.Message, StringComparison.Ordinal);
        Assert.False(File.Exists(_knownHosts.Path), "an unverified key is not recorded");

        var matching = KnownHosts.ConsoleFingerprints(Console("SHA256:AAAAsomeOtherMachinesKeyAAAAAAAAAAAAAAAAAAA", _server.HostKeySha256));
        using (await RemoteInstance.ConnectAsync(endpoint, _knownHosts, false, matching, TimeSpan.FromSeconds(20), _reporter, CancellationToken.None))
        {
        }
        Assert.Contains(_reporter.Verbose, l => l.Contains("matches the instance's console output", StringComparison.Ordinal));
        Assert.Equal(HostKeyStatus.Matches, _knownHosts.Check("i-0123456789abcdef0", "ssh-ed25519", _server.HostKeySha256["SHA256:".Length..], out _));
    }

    [Fact]
    public async Task Should_warn_when_a_first_contact_host_key_cannot_be_checked()
    {
        using (await Connect(_server.Ed25519Key))
        {
        }

        Assert.Contains(_reporter.Warnings, w => w.Contains("could not be checked", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Should_refuse_an_accepted_changed_key_that_the_console_does_not_list()
    {
        _knownHosts.Record("i-0123456789abcdef0", "ssh-ed25519", "AAAAthisIsNotTheKeyTheServerHas");
        var endpoint = new SshEndpoint("127.0.0.1", _server.Port, SshServerFixture.UserName, _server.Ed25519Key, "i-0123456789abcdef0");

        var refused = await Assert.ThrowsAsync<RemoteInstanceException>(() => RemoteInstance.ConnectAsync(endpoint, _knownHosts, true, ["AAAAyetAnotherKey"], TimeSpan.FromSeconds(20), _reporter, CancellationToken.None));

        Assert.Equal(RemoteFailure.HostKeyUnverified, refused.Failure);
        Assert.Equal(HostKeyStatus.Changed, _knownHosts.Check("i-0123456789abcdef0", "ssh-ed25519", _server.HostKeySha256["SHA256:".Length..], out _));
    }

    [Fact]
    public async Task Should_report_a_key_the_server_does_not_accept()
    {
        var refused = await Assert.ThrowsAsync<RemoteInstanceException>(() => Connect(_server.UnauthorizedKey));

        Assert.Equal(RemoteFailure.AuthenticationFailed, refused.Failure);
        Assert.Contains("-Ec2UserName", refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Should_give_up_on_a_port_where_nothing_answers_after_the_wait()
    {
        var endpoint = new SshEndpoint("127.0.0.1", SshServerFixture.FreePort(), SshServerFixture.UserName, _server.Ed25519Key, "i-gone");
        var started = DateTime.UtcNow;

        var failure = await Assert.ThrowsAsync<RemoteInstanceException>(() => RemoteInstance.ConnectAsync(endpoint, _knownHosts, false, TimeSpan.FromSeconds(5), _reporter, CancellationToken.None));

        Assert.Equal(RemoteFailure.Unreachable, failure.Failure);
        Assert.InRange(DateTime.UtcNow - started, TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(30));
        Assert.False(File.Exists(_knownHosts.Path));
    }

    [Fact]
    public void Should_check_key_files_without_showing_them()
    {
        var garbage = Path.Combine(_local, "garbage.pem");
        File.WriteAllText(garbage, "-----BEGIN RSA PRIVATE KEY-----\nc2VjcmV0LXZhbHVlLTEyMzQ=\n-----END RSA PRIVATE KEY-----\n");
        var open = Path.Combine(_local, "open.pem");
        File.Copy(_server.RsaPemKey, open);
        File.SetUnixFileMode(open, (UnixFileMode)0x1A4);
        File.SetUnixFileMode(_server.Ed25519Key, (UnixFileMode)0x180);

        var invalid = Assert.Throws<RemoteInstanceException>(() => RemoteInstance.CheckKeyFile(garbage));
        var missing = Assert.Throws<RemoteInstanceException>(() => RemoteInstance.CheckKeyFile(Path.Combine(_local, "nope.pem")));
        var warnings = RemoteInstance.CheckKeyFile(open);

        Assert.Equal(RemoteFailure.KeyFileInvalid, invalid.Failure);
        Assert.DoesNotContain("c2VjcmV0", invalid.Message, StringComparison.Ordinal);
        Assert.Equal(RemoteFailure.KeyFileInvalid, missing.Failure);
        Assert.Contains("does not exist", missing.Message, StringComparison.Ordinal);
        Assert.Contains(warnings, w => w.Contains("chmod 600", StringComparison.Ordinal) && w.Contains("644", StringComparison.Ordinal));
        Assert.Empty(RemoteInstance.CheckKeyFile(_server.Ed25519Key));
    }

    [Fact]
    public async Task Should_never_delete_outside_the_folder_for_a_tampered_manifest_or_through_a_planted_link()
    {
        var repo = Path.Combine(_local, "repo");
        Write(repo, "keep.py", "k\n");
        Write(repo, "src/churn/old.py", "print('old')\n");
        var remoteRepo = $"{_server.Home}/rlabs/p/repo";
        using var remote = await Connect(_server.Ed25519Key);
        await remote.SyncDirectoryAsync(Collect(repo), remoteRepo, CancellationToken.None);

        // Something on the instance rewrites the manifest and swaps a folder for a link.
        var victim = $"{_server.Home}/rlabs/p/victim.txt";
        await File.WriteAllTextAsync(victim, "precious");
        await File.AppendAllTextAsync(InstanceLayout.ManifestPathFor(remoteRepo), "0000 8 644 ../victim.txt\n0000 8 644 /etc/hostname\n");
        var elsewhere = $"{_server.Home}/rlabs/elsewhere";
        Directory.CreateDirectory(elsewhere);
        await File.WriteAllTextAsync($"{elsewhere}/old.py", "not ours");
        Directory.Delete($"{remoteRepo}/src/churn", recursive: true);
        Directory.CreateSymbolicLink($"{remoteRepo}/src/churn", elsewhere);
        File.Delete(Path.Combine(repo, "src/churn/old.py"));

        var sync = await remote.SyncDirectoryAsync(Collect(repo), remoteRepo, CancellationToken.None);

        Assert.Equal("precious", await File.ReadAllTextAsync(victim));
        Assert.Equal("not ours", await File.ReadAllTextAsync($"{elsewhere}/old.py"));
        Assert.DoesNotContain("../victim.txt", sync.Deleted);
        Assert.DoesNotContain("src/churn/old.py", sync.Deleted);
        Assert.Contains(_reporter.Warnings, w => w.Contains("'../victim.txt'", StringComparison.Ordinal));
        Assert.Contains(_reporter.Warnings, w => w.Contains("'src/churn' is a symbolic link", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Should_never_upload_through_a_folder_or_a_temporary_name_replaced_by_a_link_on_the_instance()
    {
        var repo = Path.Combine(_local, "repo");
        Write(repo, "keep.py", "k\n");
        Write(repo, "src/churn/step.py", "print('v1')\n");
        var remoteRepo = $"{_server.Home}/rlabs/p/repo";
        using var remote = await Connect(_server.Ed25519Key);
        await remote.SyncDirectoryAsync(Collect(repo), remoteRepo, CancellationToken.None);

        // Something on the instance swaps a folder for a link to a folder of the user's, and plants a link at
        // the temporary name of the next upload of keep.py.
        // Planted as the instance's user (what a step running there could do), so only the checks stop the writes.
        var elsewhere = $"{_server.Home}/rlabs/elsewhere";
        var victim = $"{_server.Home}/rlabs/victim.txt";
        await remote.RunCheckedAsync(
            $"mkdir -p {elsewhere} && printf \"the user's own file\" > {elsewhere}/step.py && printf precious > {victim} && rm -rf {remoteRepo}/src/churn && ln -s {elsewhere} {remoteRepo}/src/churn && ln -s {victim} {remoteRepo}/keep.py.rlabs-part",
            "plant links", CancellationToken.None);
        Write(repo, "keep.py", "k2\n");
        Write(repo, "src/churn/step.py", "print('v2')\n");

        var refused = await Assert.ThrowsAsync<RemoteInstanceException>(() => remote.SyncDirectoryAsync(Collect(repo), remoteRepo, CancellationToken.None));

        Assert.Equal(RemoteFailure.TransferFailed, refused.Failure);
        Assert.Contains("'src/churn'", refused.Message, StringComparison.Ordinal);
        Assert.Contains("symbolic link", refused.Message, StringComparison.Ordinal);
        Assert.Equal("the user's own file", await File.ReadAllTextAsync($"{elsewhere}/step.py"));
        Assert.Equal(["step.py"], Directory.GetFiles(elsewhere).Select(Path.GetFileName));
        Assert.Equal("precious", await File.ReadAllTextAsync(victim));
        Assert.Equal("k2\n", await File.ReadAllTextAsync($"{remoteRepo}/keep.py"));
        Assert.Null(new FileInfo($"{remoteRepo}/keep.py").LinkTarget);
    }

    [Fact]
    public async Task Should_write_a_file_such_as_the_credentials_never_through_a_link_planted_at_its_path()
    {
        using var remote = await Connect(_server.Ed25519Key);
        var folder = $"{_server.Home}/rlabs/p";
        var victim = $"{_server.Home}/rlabs/public-notes.txt";
        // Planted as the instance's user (what a step running there could do), so only the links stop the write.
        await remote.RunCheckedAsync($"mkdir -p {folder} && printf notes > {victim} && ln -s {victim} {folder}/credentials.yaml && ln -s {victim} {folder}/schedule.sh.rlabs-part", "plant links", CancellationToken.None);

        Assert.True(await remote.WriteFileAsync($"{folder}/credentials.yaml", "secret: s3cr3t\n"u8.ToArray(), 0x180, CancellationToken.None));
        Assert.True(await remote.WriteFileAsync($"{folder}/schedule.sh", "echo hi\n"u8.ToArray(), 0x1C0, CancellationToken.None));

        Assert.Equal("notes", await File.ReadAllTextAsync(victim));
        Assert.Null(new FileInfo($"{folder}/credentials.yaml").LinkTarget);
        Assert.Equal("secret: s3cr3t\n", await File.ReadAllTextAsync($"{folder}/credentials.yaml"));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode($"{folder}/credentials.yaml"));
        Assert.Equal("echo hi\n", await File.ReadAllTextAsync($"{folder}/schedule.sh"));
        Assert.Contains(_reporter.Warnings, w => w.Contains($"'{folder}/credentials.yaml'", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Should_sync_only_what_changed_and_leave_git_data_and_ignored_files_behind()
    {
        var repo = Path.Combine(_local, "repo");
        Write(repo, ".gitignore", "data/\n*.log\n");
        Write(repo, ".git/config", "[core]\n");
        Write(repo, "data/big.csv", "a,b\n");
        Write(repo, "debug.log", "noise");
        Write(repo, "credentials.yaml", "aws_secret_access_key: nope\n");
        Write(repo, "requirements.txt", "pandas\n");
        Write(repo, "src/churn/train.py", "print('train')\n");
        Write(repo, "src/churn/old.py", "print('old')\n");
        Write(repo, "pipelines/it's a \"pipeline\".yaml", "pipeline: []\n");
        var script = Write(repo, "bin/run.sh", "#!/bin/sh\necho hi\n");
        File.SetUnixFileMode(script, (UnixFileMode)0x1ED);
        var remoteRepo = $"{_server.Home}/rlabs/p/repo";

        using var remote = await Connect(_server.Ed25519Key);
        var first = await remote.SyncDirectoryAsync(Collect(repo), remoteRepo, CancellationToken.None);

        Assert.Equal([".gitignore", "bin/run.sh", "pipelines/it's a \"pipeline\".yaml", "requirements.txt", "src/churn/old.py", "src/churn/train.py"], first.Uploaded);
        Assert.Empty(first.Deleted);
        Assert.Equal(first.Uploaded, ListFiles(remoteRepo));
        Assert.Equal("print('train')\n", await File.ReadAllTextAsync($"{remoteRepo}/src/churn/train.py"));
        Assert.Equal((UnixFileMode)0x1ED, File.GetUnixFileMode($"{remoteRepo}/bin/run.sh"));
        Assert.Equal((UnixFileMode)0x1A4, File.GetUnixFileMode($"{remoteRepo}/requirements.txt"));
        Assert.True(File.Exists(InstanceLayout.ManifestPathFor(remoteRepo)));
        Assert.Equal(SshServerFixture.UserName, Owner($"{remoteRepo}/src/churn/train.py"));

        var second = await remote.SyncDirectoryAsync(Collect(repo), remoteRepo, CancellationToken.None);
        Assert.False(second.Changed);
        Assert.Equal(6, second.Unchanged);

        Write(repo, "src/churn/train.py", "print('train v2')\n");
        Write(repo, "src/churn/score.py", "print('score')\n");
        File.Delete(Path.Combine(repo, "src/churn/old.py"));
        Directory.Delete(Path.Combine(repo, "bin"), recursive: true);
        var third = await remote.SyncDirectoryAsync(Collect(repo), remoteRepo, CancellationToken.None);

        Assert.Equal(["src/churn/score.py", "src/churn/train.py"], third.Uploaded);
        Assert.Equal(["bin/run.sh", "src/churn/old.py"], third.Deleted);
        Assert.Equal("print('train v2')\n", await File.ReadAllTextAsync($"{remoteRepo}/src/churn/train.py"));
        Assert.Equal([".gitignore", "pipelines/it's a \"pipeline\".yaml", "requirements.txt", "src/churn/score.py", "src/churn/train.py"], ListFiles(remoteRepo));
        Assert.False(Directory.Exists($"{remoteRepo}/bin"));
        Assert.DoesNotContain(ListFiles(remoteRepo), f => f.EndsWith(".rlabs-part", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Should_write_the_credentials_file_with_mode_600_once()
    {
        var path = $"{_server.Home}/rlabs/p/credentials.yaml";
        var content = "aws:\n  aws_secret_access_key: s3cr3t\n"u8.ToArray();
        using var remote = await Connect(_server.RsaPemKey);

        Assert.True(await remote.WriteFileAsync(path, content, 0x180, CancellationToken.None));
        Assert.False(await remote.WriteFileAsync(path, content, 0x180, CancellationToken.None));

        Assert.Equal((UnixFileMode)0x180, File.GetUnixFileMode(path));
        Assert.Equal(content, await File.ReadAllBytesAsync(path));
        Assert.Equal(SshServerFixture.UserName, Owner(path));
        File.SetUnixFileMode(path, (UnixFileMode)0x1A4);
        Assert.True(await remote.WriteFileAsync(path, content, 0x180, CancellationToken.None));
        Assert.Equal((UnixFileMode)0x180, File.GetUnixFileMode(path));
        Assert.DoesNotContain(_reporter.All, line => line.Contains("s3cr3t", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Should_install_the_reboot_line_in_the_users_real_crontab_keeping_other_lines()
    {
        _server.SetCrontab("MAILTO=\"\"\n0 3 * * * /usr/bin/true # nightly\n@reboot /bin/bash '/x/run.sh' # rlabs-schedule:p/q:\n");
        var layout = new InstanceLayout(_server.Home, "p", "q");
        using var remote = await Connect(_server.Ed25519Key);
        var files = InstanceScripts.Generate(layout, "pipelines/q.yaml", "ml.t3.xlarge");
        var cron = $"{layout.ScheduleDirectory}/{InstanceScripts.CronScriptName}";
        await remote.WriteFileAsync(cron, System.Text.Encoding.UTF8.GetBytes(files[InstanceScripts.CronScriptName]), 0x1C0, CancellationToken.None);

        var first = await remote.RunCheckedAsync("bash " + ShellQuote.Quote(cron), "crontab", CancellationToken.None);
        var installed = SshServerFixture.Crontab();
        var second = await remote.RunCheckedAsync("bash " + ShellQuote.Quote(cron), "crontab", CancellationToken.None);
        var listed = await remote.RunCheckedAsync("crontab -l", "crontab -l", CancellationToken.None);

        Assert.Equal("rlabs-cron: updated\n", first.Output);
        Assert.Equal($"MAILTO=\"\"\n0 3 * * * /usr/bin/true # nightly\n@reboot /bin/bash '{layout.RunScript}' # rlabs-schedule:p/q:\n", installed);
        Assert.Equal("rlabs-cron: unchanged\n", second.Output);
        Assert.Equal(installed, listed.Output);

        await remote.RunCheckedAsync("bash -c " + ShellQuote.Quote(InstanceScripts.CronScript(layout, install: false)), "crontab removal", CancellationToken.None);
        Assert.Equal("MAILTO=\"\"\n0 3 * * * /usr/bin/true # nightly\n", SshServerFixture.Crontab());
    }

    [Fact]
    public async Task Should_fail_a_checked_command_with_its_last_output_lines()
    {
        using var remote = await Connect(_server.Ed25519Key);

        var failure = await Assert.ThrowsAsync<RemoteInstanceException>(() => remote.RunCheckedAsync("echo before; echo broken >&2; exit 7", "The probe", CancellationToken.None));

        Assert.Equal(RemoteFailure.CommandFailed, failure.Failure);
        Assert.Contains("exit code 7", failure.Message, StringComparison.Ordinal);
        Assert.Contains("broken", failure.Message, StringComparison.Ordinal);
    }

    private Task<RemoteInstance> Connect(string key, bool acceptChangedHostKey = false) =>
        RemoteInstance.ConnectAsync(new SshEndpoint("127.0.0.1", _server.Port, SshServerFixture.UserName, key, "i-0123456789abcdef0"), _knownHosts, acceptChangedHostKey, TimeSpan.FromSeconds(20), _reporter, CancellationToken.None);

    private static IReadOnlyList<(string, string)> Collect(string repo) => SourcePackager.CollectFiles(repo, [], out _);

    private static string Write(string root, string relative, string content)
    {
        var path = Path.Combine(root, relative);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, content);
        return path;
    }

    private static List<string> ListFiles(string directory) =>
        Directory.EnumerateFiles(directory, "*", SearchOption.AllDirectories)
            .Select(f => Path.GetRelativePath(directory, f).Replace('\\', '/'))
            .Order(StringComparer.Ordinal)
            .ToList();

    private static string Owner(string path) => ScriptHarness.Run("stat", ["-c", "%U", path]).Output.Trim();

    private sealed class RecordingReporter : IRunReporter
    {
        public List<string> Verbose { get; } = [];

        public List<string> Warnings { get; } = [];

        public IEnumerable<string> All => Verbose.Concat(Warnings);

        public void Progress(RunProgress progress)
        {
        }

        void IRunReporter.Verbose(string message) => Verbose.Add(message);

        public void Warning(string message) => Warnings.Add(message);
    }
}
