using System.Management.Automation;
using Rlabs.Pipelines.Aws;
using Rlabs.Pipelines.Scheduling;

namespace Rlabs.Pipelines;

/// <summary>What the schedule cmdlets share: name checks, running the core on the queue, error ids.</summary>
public abstract class RlabsScheduleCmdlet : RlabsAwsCmdlet
{
    /// <summary>A random activity id would make nested progress bars flicker; one per cmdlet family is enough.</summary>
    private protected const int ProgressActivityId = 0x5C4ED;

    /// <summary>Sanitizes a project name the seed's way and stops when nothing valid is left.</summary>
    private protected string SanitizeProject(string projectName)
    {
        var sanitized = ProjectNaming.Sanitize(projectName);
        if (!ProjectNaming.IsValid(sanitized))
        {
            ThrowTerminatingError(ErrorMapping.Record(
                new ArgumentException($"The project name '{projectName}' gives '{sanitized}' after '.', '_' and other characters become '-'; it must be 1 to 32 letters, digits or hyphens."),
                "ProjectNameInvalid", ErrorCategory.InvalidArgument, projectName));
        }
        return sanitized;
    }

    /// <summary>The pipeline's short name from its path (the file need not exist here).</summary>
    private protected string PipelineNameOf(string pipelinePath)
    {
        try
        {
            return ScheduleNaming.PipelineName(pipelinePath);
        }
        catch (ArgumentException ex)
        {
            ThrowTerminatingError(ErrorMapping.Record(ex, "PipelinePathInvalid", ErrorCategory.InvalidArgument, pipelinePath));
            throw;
        }
    }

    /// <summary>ShouldProcess, except that -Force skips the prompt; -WhatIf always wins.</summary>
    private protected bool ShouldProcessOrForce(bool force, string target, string action)
    {
        var whatIf = MyInvocation.BoundParameters.TryGetValue("WhatIf", out var value) && value is SwitchParameter { IsPresent: true }
            || SessionState.PSVariable.GetValue("WhatIfPreference") is true or SwitchParameter { IsPresent: true };
        return force && !whatIf || ShouldProcess(target, action);
    }

    /// <summary>Runs core work off the pipeline thread while its reports are written here.</summary>
    private protected T RunCore<T>(Func<QueueReporter, Task<T>> work)
    {
        using var reporter = new QueueReporter(ProgressActivityId);
        return reporter.Drain(this, () => work(reporter));
    }

    /// <summary>A failure of the core as an ErrorRecord with a stable id.</summary>
    private protected static ErrorRecord ScheduleError(Exception exception, object? target) => exception switch
    {
        RemoteInstanceException remote => ErrorMapping.Record(remote, remote.Failure switch
        {
            RemoteFailure.KeyFileInvalid => "PemFileInvalid",
            RemoteFailure.HostKeyChanged => "HostKeyChanged",
            RemoteFailure.AuthenticationFailed => "SshAuthenticationFailed",
            RemoteFailure.Unreachable => "InstanceUnreachable",
            RemoteFailure.TransferFailed => "FileTransferFailed",
            _ => "InstanceSetupFailed",
        }, remote.Failure switch
        {
            RemoteFailure.KeyFileInvalid => ErrorCategory.InvalidArgument,
            RemoteFailure.HostKeyChanged => ErrorCategory.SecurityError,
            RemoteFailure.AuthenticationFailed => ErrorCategory.AuthenticationError,
            RemoteFailure.Unreachable => ErrorCategory.ConnectionError,
            RemoteFailure.TransferFailed => ErrorCategory.WriteError,
            _ => ErrorCategory.InvalidResult,
        }, target),
        ScheduleNotFoundException notFound => ErrorMapping.Record(notFound, "ScheduleNotFound", ErrorCategory.ObjectNotFound, notFound.RuleName),
        AwsServiceException aws => ErrorMapping.Record(aws, $"Aws{aws.Kind}", target),
        _ => ErrorMapping.Record(exception, "ScheduleFailed", target),
    };

    /// <summary>Whether a core failure is one this family reports (anything else is a bug and propagates).</summary>
    private protected static bool IsReported(Exception exception) =>
        exception is RemoteInstanceException or ScheduleNotFoundException or AwsServiceException or IOException or UnauthorizedAccessException or InvalidOperationException or ArgumentException or OperationCanceledException;
}
