using System.Security.Cryptography;
using System.Text;
using Rlabs.Pipelines.Aws;
using Rlabs.Pipelines.Packaging;
using Rlabs.Pipelines.Running;

namespace Rlabs.Pipelines.Scheduling;

/// <summary>
/// The EC2 kind's executor: the instance that runs the pipeline at boot. Starts it when stopped (and only
/// then waits for SSH), sends the repository, module, scripts and credentials, and puts the @reboot line.
/// </summary>
public sealed class Ec2InstanceExecutor
{
    private readonly AwsSession _session;
    private readonly IRunReporter _reporter;
    private readonly ScheduleOptions _options;

    /// <summary>Creates the part over an AWS session.</summary>
    public Ec2InstanceExecutor(AwsSession session, IRunReporter reporter, ScheduleOptions options)
    {
        _session = session;
        _reporter = reporter;
        _options = options;
    }

    internal async Task PrepareAsync(ScheduleRequest request, ScheduleSteps approved, List<string> changes, CancellationToken cancellationToken)
    {
        using var ec2 = new Ec2Client(_session);
        var instance = await ec2.DescribeInstanceAsync(request.InstanceId, cancellationToken).ConfigureAwait(false);
        // Only an instance that is booting gets time for sshd to come up; one that already ran must answer
        // at once, so a closed or filtered port fails within the connect timeout, not after the boot wait.
        var booting = instance.State != "running";
        if (booting)
        {
            if ((approved & ScheduleSteps.StartInstance) == 0)
            {
                _reporter.Warning($"The instance {request.InstanceId} is {instance.State} and starting it was not approved; its set-up and the file transfer are skipped.");
                return;
            }
            if (instance.State is "stopping" or "shutting-down")
            {
                _reporter.Verbose($"The instance {request.InstanceId} is {instance.State}; waiting for it to stop before starting it.");
                await ec2.WaitForStateAsync(request.InstanceId, "stopped", _options.PollInterval, _options.InstanceStartTimeout, cancellationToken).ConfigureAwait(false);
            }
            if (instance.State != "pending")
            {
                await ec2.StartInstanceAsync(request.InstanceId, cancellationToken).ConfigureAwait(false);
                changes.Add($"instance {request.InstanceId} started");
            }
            _reporter.Verbose($"Waiting for {request.InstanceId} to run.");
            instance = await ec2.WaitForStateAsync(request.InstanceId, "running", _options.PollInterval, _options.InstanceStartTimeout, cancellationToken).ConfigureAwait(false);
        }
        var host = instance.PublicIpAddress ?? instance.PublicDnsName ?? instance.PrivateIpAddress
            ?? throw new InvalidOperationException($"The instance {request.InstanceId} has no address to connect to.");
        if ((approved & (ScheduleSteps.SetUpInstance | ScheduleSteps.TransferFiles)) == 0)
        {
            return;
        }
        var endpoint = new SshEndpoint(host, request.SshPort, request.Ec2UserName, request.PemFile, request.InstanceId);
        var fingerprints = await ConsoleFingerprintsAsync(ec2, request.InstanceId, cancellationToken).ConfigureAwait(false);
        using var remote = await RemoteInstance.ConnectAsync(endpoint, request.KnownHosts, request.AcceptChangedHostKey, fingerprints, booting ? _options.SshWaitTimeout : TimeSpan.Zero, _reporter, cancellationToken).ConfigureAwait(false);
        var layout = new InstanceLayout(remote.Home, request.ProjectName, request.PipelineName);
        await remote.EnsureDirectoryAsync(layout.ProjectDirectory, cancellationToken, mode: 0x1C0).ConfigureAwait(false);

        if ((approved & ScheduleSteps.TransferFiles) != 0)
        {
            // The key the module logs in with never goes to the instance, even when it sits in the repository.
            var excluded = new List<string> { request.PemFile };
            if (request.CredentialsFile is not null)
            {
                excluded.Add(request.CredentialsFile);
            }
            var selection = SourcePackager.Select(request.RepositoryPath, excluded, request.PackageSecrets);
            foreach (var secret in selection.SkippedSecrets)
            {
                _reporter.Warning($"Not transferring '{secret}': it looks like a key or credentials file (list it under 'package_secrets:' to send it).");
            }
            foreach (var link in selection.SkippedLinks)
            {
                _reporter.Warning($"Not transferring the link '{link}': it points outside the repository.");
            }
            var sync = await remote.SyncDirectoryAsync(selection.Files, layout.RepositoryDirectory, cancellationToken).ConfigureAwait(false);
            if (sync.Changed)
            {
                changes.Add($"repository: {sync.Uploaded.Count} file(s) sent, {sync.Deleted.Count} removed");
            }
            _reporter.Verbose($"Repository on the instance: {sync.Uploaded.Count} sent, {sync.Deleted.Count} removed, {sync.Unchanged} unchanged.");
            if (request.CredentialsFile is not null)
            {
                var content = await File.ReadAllBytesAsync(request.CredentialsFile, cancellationToken).ConfigureAwait(false);
                if (await remote.WriteFileAsync(layout.CredentialsFile, content, 0x180, cancellationToken).ConfigureAwait(false))
                {
                    changes.Add("credentials file (mode 600)");
                }
            }
        }

        if ((approved & ScheduleSteps.SetUpInstance) != 0)
        {
            var moduleFiles = Directory.EnumerateFiles(request.ModuleDirectory, "*", SearchOption.AllDirectories)
                .Select(f => (Path.GetRelativePath(request.ModuleDirectory, f).Replace('\\', '/'), f))
                .OrderBy(f => f.Item1, StringComparer.Ordinal)
                .ToList();
            var module = await remote.SyncDirectoryAsync(moduleFiles, layout.ModuleDirectory, cancellationToken).ConfigureAwait(false);
            if (module.Changed)
            {
                changes.Add($"module: {module.Uploaded.Count} file(s) sent, {module.Deleted.Count} removed");
            }
            await remote.EnsureDirectoryAsync(layout.ScheduleDirectory, cancellationToken).ConfigureAwait(false);
            foreach (var (name, content) in InstanceScripts.Generate(layout, request.PipelineRelativePath, request.SageMakerInstanceType))
            {
                var mode = name.EndsWith(".sh", StringComparison.Ordinal) ? 0x1C0 : 0x180;
                if (await remote.WriteFileAsync($"{layout.ScheduleDirectory}/{name}", Encoding.UTF8.GetBytes(content), mode, cancellationToken).ConfigureAwait(false))
                {
                    changes.Add($"instance script {name}");
                }
            }
            var setup = await remote.RunCheckedAsync("bash " + ShellQuote.Quote($"{layout.ScheduleDirectory}/{InstanceScripts.SetupScriptName}"), "The instance set-up", cancellationToken).ConfigureAwait(false);
            foreach (var line in setup.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries))
            {
                _reporter.Verbose(line);
                if (line.StartsWith("rlabs-cron: ", StringComparison.Ordinal) && !line.EndsWith("unchanged", StringComparison.Ordinal))
                {
                    changes.Add($"crontab {line["rlabs-cron: ".Length..]}");
                }
                else if (line.StartsWith("rlabs-setup: ", StringComparison.Ordinal) && (line.Contains("created", StringComparison.Ordinal) || line.Contains("installed", StringComparison.Ordinal)))
                {
                    changes.Add(line["rlabs-setup: ".Length..]);
                }
            }
        }
    }


    /// <summary>
    /// Removes this pipeline's @reboot line from the instance's crontab when the instance runs and answers
    /// SSH; returns what happened. A stopped instance is not started just for this.
    /// </summary>
    public async Task<string> RemoveCronEntryAsync(string instanceId, string pemFile, string userName, int sshPort, KnownHosts knownHosts, bool acceptChangedHostKey, string projectName, string pipelineName, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(knownHosts);
        using var ec2 = new Ec2Client(_session);
        var instance = await ec2.DescribeInstanceAsync(instanceId, cancellationToken).ConfigureAwait(false);
        var host = instance.PublicIpAddress ?? instance.PublicDnsName ?? instance.PrivateIpAddress;
        if (instance.State != "running" || host is null)
        {
            return $"kept: the instance {instanceId} is {instance.State}; its crontab line '# {new InstanceLayout("/home/x", projectName, pipelineName).CronMarker}' stays until you remove it (crontab -e) or run Remove-RlabsPipelineSchedule again while it runs";
        }
        var fingerprints = await ConsoleFingerprintsAsync(ec2, instanceId, cancellationToken).ConfigureAwait(false);
        using var remote = await RemoteInstance.ConnectAsync(new SshEndpoint(host, sshPort, userName, pemFile, instanceId), knownHosts, acceptChangedHostKey, fingerprints, TimeSpan.Zero, _reporter, cancellationToken).ConfigureAwait(false);
        var layout = new InstanceLayout(remote.Home, projectName, pipelineName);
        var result = await remote.RunCheckedAsync("bash -c " + ShellQuote.Quote(InstanceScripts.CronScript(layout, install: false)), "Removing the crontab line", cancellationToken).ConfigureAwait(false);
        return result.Output.Contains("unchanged", StringComparison.Ordinal) ? "no crontab line on the instance" : $"crontab line removed on {instanceId}";
    }

    /// <summary>The host key fingerprints in the instance's console output; empty when it has none (yet) or may not be read.</summary>
    internal async Task<IReadOnlyList<string>> ConsoleFingerprintsAsync(Ec2Client ec2, string instanceId, CancellationToken cancellationToken)
    {
        try
        {
            var fingerprints = KnownHosts.ConsoleFingerprints(await ec2.GetConsoleOutputAsync(instanceId, cancellationToken).ConfigureAwait(false));
            _reporter.Verbose(fingerprints.Count == 0
                ? $"The console output of {instanceId} holds no SSH host key fingerprints (yet): a first-contact key cannot be checked against it."
                : $"The console output of {instanceId} lists {fingerprints.Count} SSH host key fingerprint(s); a first-contact key must be one of them.");
            return fingerprints;
        }
        catch (AwsServiceException ex) when (ex.Kind is AwsErrorKind.AccessDenied)
        {
            _reporter.Warning($"Cannot read the console output of {instanceId} ({ex.ErrorCode}): a first-contact host key cannot be checked. Allow ec2:GetConsoleOutput to have it checked.");
            return [];
        }
    }
}
