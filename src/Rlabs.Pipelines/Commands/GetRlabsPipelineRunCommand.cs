using System.Management.Automation;
using Rlabs.Pipelines.Cloud;

namespace Rlabs.Pipelines.Commands;

/// <summary>Get-RlabsPipelineRun: the current state of a cloud run, rebuilt from its jobs.</summary>
[Cmdlet(VerbsCommon.Get, "RlabsPipelineRun")]
[OutputType(typeof(RlabsPipelineRun))]
public sealed class GetRlabsPipelineRunCommand : RlabsRunCmdlet
{
    /// <inheritdoc/>
    protected override void ProcessRecord()
    {
        using var session = CreateSession(CredentialsFile);
        using var service = new CloudRunService(session);
        if (Locate(session, service) is { } found)
        {
            WriteObject(found.Run);
        }
    }
}
