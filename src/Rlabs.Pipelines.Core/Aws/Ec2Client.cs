using Amazon.EC2;
using Amazon.EC2.Model;

namespace Rlabs.Pipelines.Aws;

/// <summary>What the scheduler needs to know about the instance that runs it.</summary>
public sealed record Ec2InstanceInfo(
    string InstanceId,
    string State,
    string? InstanceType,
    string? PublicIpAddress,
    string? PublicDnsName,
    string? PrivateIpAddress);

/// <summary>A state change reported by StartInstances/StopInstances.</summary>
public sealed record Ec2StateChange(string InstanceId, string PreviousState, string CurrentState);

/// <summary>EC2 calls of the scheduler through AWSSDK.EC2, returning our own records.</summary>
public sealed class Ec2Client : IDisposable
{
    private readonly AmazonEC2Client _client;

    public Ec2Client(AwsSession session)
    {
        ArgumentNullException.ThrowIfNull(session);
        _client = session.CreateEc2Client();
    }

    public async Task<Ec2InstanceInfo> DescribeInstanceAsync(string instanceId, CancellationToken cancellationToken)
    {
        var response = await AwsSdkCalls.RunAsync(AwsService.Ec2, "DescribeInstances",
            () => _client.DescribeInstancesAsync(new DescribeInstancesRequest { InstanceIds = [instanceId] }, cancellationToken)).ConfigureAwait(false);
        var instance = (response.Reservations ?? []).SelectMany(r => r.Instances ?? []).FirstOrDefault(i => i.InstanceId == instanceId)
            ?? throw new AwsServiceException("EC2", "DescribeInstances", System.Net.HttpStatusCode.BadRequest, "InvalidInstanceID.NotFound",
                $"The instance ID '{instanceId}' does not exist", null, null);
        return new Ec2InstanceInfo(
            instance.InstanceId,
            instance.State?.Name?.Value ?? "unknown",
            instance.InstanceType?.Value,
            string.IsNullOrEmpty(instance.PublicIpAddress) ? null : instance.PublicIpAddress,
            string.IsNullOrEmpty(instance.PublicDnsName) ? null : instance.PublicDnsName,
            string.IsNullOrEmpty(instance.PrivateIpAddress) ? null : instance.PrivateIpAddress);
    }

    /// <summary>
    /// The instance's console output (decoded), or null when EC2 has none yet: it appears a few minutes after
    /// a start, and holds the host key fingerprints cloud-init printed.
    /// </summary>
    public async Task<string?> GetConsoleOutputAsync(string instanceId, CancellationToken cancellationToken)
    {
        var response = await AwsSdkCalls.RunAsync(AwsService.Ec2, "GetConsoleOutput",
            () => _client.GetConsoleOutputAsync(new GetConsoleOutputRequest { InstanceId = instanceId, Latest = true }, cancellationToken)).ConfigureAwait(false);
        if (string.IsNullOrEmpty(response.Output))
        {
            return null;
        }
        try
        {
            return System.Text.Encoding.UTF8.GetString(Convert.FromBase64String(response.Output));
        }
        catch (FormatException)
        {
            return null;
        }
    }

    public async Task<Ec2StateChange> StartInstanceAsync(string instanceId, CancellationToken cancellationToken)
    {
        var response = await AwsSdkCalls.RunAsync(AwsService.Ec2, "StartInstances",
            () => _client.StartInstancesAsync(new StartInstancesRequest { InstanceIds = [instanceId] }, cancellationToken)).ConfigureAwait(false);
        return Change(response.StartingInstances, instanceId);
    }

    public async Task<Ec2StateChange> StopInstanceAsync(string instanceId, CancellationToken cancellationToken)
    {
        var response = await AwsSdkCalls.RunAsync(AwsService.Ec2, "StopInstances",
            () => _client.StopInstancesAsync(new StopInstancesRequest { InstanceIds = [instanceId] }, cancellationToken)).ConfigureAwait(false);
        return Change(response.StoppingInstances, instanceId);
    }

    /// <summary>Polls until the instance reaches <paramref name="state"/>.</summary>
    public async Task<Ec2InstanceInfo> WaitForStateAsync(string instanceId, string state, TimeSpan pollInterval, TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);
        while (true)
        {
            var info = await DescribeInstanceAsync(instanceId, cancellationToken).ConfigureAwait(false);
            if (info.State == state)
            {
                return info;
            }

            try
            {
                await Task.Delay(pollInterval, deadline.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                throw new AwsServiceException("EC2", "DescribeInstances", 0, "WaiterTimeout",
                    $"Instance {instanceId} did not reach '{state}' within {timeout.TotalSeconds:0} s (last state '{info.State}').", null, null);
            }
        }
    }

    public void Dispose() => _client.Dispose();

    private static Ec2StateChange Change(List<InstanceStateChange>? changes, string instanceId)
    {
        var change = changes?.FirstOrDefault(c => c.InstanceId == instanceId)
            ?? throw new AwsServiceException("EC2", "StateChange", 0, "MissingStateChange", $"EC2 reported no state change for {instanceId}.", null, null);
        return new Ec2StateChange(instanceId, change.PreviousState?.Name?.Value ?? "unknown", change.CurrentState?.Name?.Value ?? "unknown");
    }
}
