using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Rlabs.Pipelines.Tests.Scheduling;

/// <summary>
/// A real OpenSSH sshd on 127.0.0.1, started for the tests (Debian openssh-server) and stopped by its pid.
/// It logs in a dedicated user created here, so crontab and files land in that user's account, never in
/// root's. Keys are generated with ssh-keygen: an RSA key in PEM (as EC2 hands out) and an ed25519
/// key in OpenSSH format, both authorized, plus a third key that is not.
/// </summary>
public sealed class SshServerFixture : IDisposable
{
    public const string UserName = "rlabs-ssh-test";

    private readonly Process _sshd;

    public SshServerFixture()
    {
        if (OperatingSystem.IsWindows() || Environment.UserName != "root")
        {
            throw new InvalidOperationException("The SSH tests start sshd with a dedicated test user and need root on Linux (build.ps1 Test runs them as root).");
        }
        if (!File.Exists("/usr/sbin/sshd") || ScriptHarness.Which("crontab") is null)
        {
            throw new InvalidOperationException("The SSH tests need Debian's openssh-server and cron: apt-get install openssh-server cron (build.ps1 Test installs them when run as root).");
        }
        Directory = Path.Combine(Path.GetTempPath(), "rlabs-sshd-" + Guid.NewGuid().ToString("N"));
        System.IO.Directory.CreateDirectory(Directory);
        File.SetUnixFileMode(Directory, (UnixFileMode)0x1ED);
        EnsureUser();
        Home = Run("getent", "passwd", UserName).Split(':')[5];
        ResetAccount();

        Run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", HostKeyPath);
        Run("ssh-keygen", "-q", "-t", "rsa", "-b", "2048", "-m", "PEM", "-N", "", "-C", "", "-f", RsaPemKey);
        Run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "", "-f", Ed25519Key);
        Run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "", "-f", UnauthorizedKey);
        HostKeySha256 = Run("ssh-keygen", "-l", "-E", "sha256", "-f", HostKeyPath + ".pub").Split(' ')[1];
        var authorized = Path.Combine(Directory, "authorized_keys");
        File.WriteAllText(authorized, File.ReadAllText(RsaPemKey + ".pub") + File.ReadAllText(Ed25519Key + ".pub"));
        File.SetUnixFileMode(authorized, (UnixFileMode)0x1A4);

        Port = FreePort();
        var config = Path.Combine(Directory, "sshd_config");
        File.WriteAllText(config, $"""
            Port {Port}
            ListenAddress 127.0.0.1
            HostKey {HostKeyPath}
            PidFile {Path.Combine(Directory, "sshd.pid")}
            AuthorizedKeysFile {authorized}
            AllowUsers {UserName}
            PermitRootLogin no
            PasswordAuthentication no
            KbdInteractiveAuthentication no
            PubkeyAuthentication yes
            StrictModes no
            UsePAM no
            Subsystem sftp internal-sftp
            """);
        System.IO.Directory.CreateDirectory("/run/sshd");
        var info = new ProcessStartInfo("/usr/sbin/sshd") { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var argument in new[] { "-D", "-e", "-f", config })
        {
            info.ArgumentList.Add(argument);
        }
        _sshd = Process.Start(info)!;
        _sshd.ErrorDataReceived += (_, e) => { if (e.Data is not null) { lock (Log) { Log.Add(e.Data); } } };
        _sshd.BeginErrorReadLine();
        WaitForPort();
    }

    public string Directory { get; }

    public string Home { get; }

    public int Port { get; }

    public string HostKeyPath => Path.Combine(Directory, "host_ed25519");

    public string HostKeySha256 { get; }

    public string RsaPemKey => Path.Combine(Directory, "user_rsa.pem");

    public string Ed25519Key => Path.Combine(Directory, "user_ed25519");

    public string UnauthorizedKey => Path.Combine(Directory, "other_ed25519");

    public List<string> Log { get; } = [];

    /// <summary>The test user's crontab as `crontab -l` prints it ('' when there is none).</summary>
    public static string Crontab()
    {
        var (exit, output) = ScriptHarness.Run("crontab", ["-l", "-u", UserName]);
        return exit == 0 ? output : string.Empty;
    }

    /// <summary>Sets the test user's crontab.</summary>
    public void SetCrontab(string content)
    {
        var file = Path.Combine(Directory, "crontab-seed");
        File.WriteAllText(file, content);
        Run("crontab", "-u", UserName, file);
    }

    /// <summary>
    /// Gives the test user PowerShell the way the setup script looks for it (~/.dotnet/tools/pwsh): a copy
    /// of the PowerShell tool package this repository restores (read from root's NuGet cache, which the test
    /// user cannot read), cached under /var/tmp.
    /// </summary>
    public void InstallPowerShellForTestUser()
    {
        var packages = ScriptHarness.Run("dotnet", ["nuget", "locals", "global-packages", "--list"]).Output.Trim();
        packages = packages[(packages.IndexOf(':', StringComparison.Ordinal) + 1)..].Trim();
        var version = System.Text.RegularExpressions.Regex.Match(File.ReadAllText(Path.Combine(RepositoryRoot(), ".config", "dotnet-tools.json")), "\"version\":\\s*\"([^\"]+)\"").Groups[1].Value;
        var source = Path.Combine(packages, "powershell", version, "tools", "net10.0", "any");
        if (!System.IO.Directory.Exists(source))
        {
            throw new InvalidOperationException($"PowerShell {version} is not in the NuGet cache ({source}): run 'dotnet tool restore'.");
        }
        var cache = $"/var/tmp/rlabs-test-powershell-{version}";
        if (!File.Exists(Path.Combine(cache, "Microsoft.PowerShell.GlobalTool.Shim.dll")))
        {
            var partial = cache + ".partial";
            if (System.IO.Directory.Exists(partial))
            {
                System.IO.Directory.Delete(partial, recursive: true);
            }
            Run("cp", "-r", source, partial);
            Run("chmod", "-R", "a+rX", partial);
            System.IO.Directory.Move(partial, cache);
        }
        var tools = Path.Combine(Home, ".dotnet", "tools");
        System.IO.Directory.CreateDirectory(tools);
        ScriptHarness.WriteExecutable(tools, "pwsh", $"#!/bin/sh\nexec /usr/bin/dotnet {cache}/Microsoft.PowerShell.GlobalTool.Shim.dll \"$@\"\n");
        Run("chmod", "755", Path.Combine(tools, "pwsh"));
        Run("chown", "-R", $"{UserName}:", Path.Combine(Home, ".dotnet"));
    }

    private static string RepositoryRoot()
    {
        var directory = new DirectoryInfo(AppContext.BaseDirectory);
        while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "Rlabs.Pipelines.slnx")))
        {
            directory = directory.Parent;
        }
        return directory?.FullName ?? throw new InvalidOperationException("The repository root (Rlabs.Pipelines.slnx) is not above the test assembly.");
    }

    /// <summary>Removes what earlier tests left in the test account.</summary>
    public void ResetAccount()
    {
        ScriptHarness.Run("crontab", ["-r", "-u", UserName]);
        var rlabs = Path.Combine(Home, "rlabs");
        if (System.IO.Directory.Exists(rlabs))
        {
            System.IO.Directory.Delete(rlabs, recursive: true);
        }
    }

    public void Dispose()
    {
        try
        {
            if (!_sshd.HasExited)
            {
                _sshd.Kill();
                _sshd.WaitForExit(5000);
            }
        }
        finally
        {
            _sshd.Dispose();
            ResetAccount();
            System.IO.Directory.Delete(Directory, recursive: true);
        }
    }

    private static void EnsureUser()
    {
        if (ScriptHarness.Run("id", ["-u", UserName]).ExitCode != 0)
        {
            Run("useradd", "--create-home", "--shell", "/bin/bash", UserName);
        }
        // '*': no password, but not locked ('!'), which sshd without PAM would refuse.
        Run("usermod", "-p", "*", UserName);
    }

    private void WaitForPort()
    {
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (DateTime.UtcNow < deadline)
        {
            if (_sshd.HasExited)
            {
                throw new InvalidOperationException($"sshd exited with {_sshd.ExitCode}: {string.Join('\n', Log)}");
            }
            try
            {
                using var client = new TcpClient();
                client.Connect(IPAddress.Loopback, Port);
                return;
            }
            catch (SocketException)
            {
                Thread.Sleep(100);
            }
        }
        throw new TimeoutException($"sshd did not listen on {Port}: {string.Join('\n', Log)}");
    }

    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static string Run(string command, params string[] arguments)
    {
        var (exit, output) = ScriptHarness.Run(command, arguments);
        if (exit != 0)
        {
            throw new InvalidOperationException($"{command} {string.Join(' ', arguments)} failed ({exit}): {output}");
        }
        return output;
    }
}

[CollectionDefinition(Name)]
public sealed class SshServerGroup : ICollectionFixture<SshServerFixture>
{
    public const string Name = "sshd";
}
