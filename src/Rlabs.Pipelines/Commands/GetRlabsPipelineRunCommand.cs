using System.Management.Automation;
using Rlabs.Pipelines.Cloud;

namespace Rlabs.Pipelines.Commands;

/// <summary>
/// Get-RlabsPipelineRun: the current state of a cloud run, rebuilt from its jobs; with -Last, the newest executions
/// of the project's SageMaker pipelines (those its serverless schedules started included), newest first.
/// </summary>
[Cmdlet(VerbsCommon.Get, "RlabsPipelineRun", DefaultParameterSetName = JobIdSet)]
[OutputType(typeof(RlabsPipelineRun))]
public sealed class GetRlabsPipelineRunCommand : RlabsRunCmdlet
{
    private const string RecentSet = "Recent";

    /// <summary>The newest this many executions of the project's SageMaker pipelines (scheduled ones included), newest first.</summary>
    [Parameter(Mandatory = true, ParameterSetName = RecentSet)]
    [ValidateRange(1, 1000)]
    public int Last { get; set; }

    /// <inheritdoc/>
    protected override void ProcessRecord()
    {
        using var session = CreateSession(CredentialsFile);
        if (ParameterSetName == RecentSet)
        {
            var (project, pipeline) = RecentScope();
            var runs = RunAsync(() => Task.Run(() => new PipelineRunHistory(session).RecentAsync(project, pipeline, Last, CancellationToken)));
            if (runs is not null)
            {
                WriteObject(runs, enumerateCollection: true);
            }
            return;
        }
        using var service = new CloudRunService(session);
        if (Locate(session, service) is { } found)
        {
            WriteObject(found.Run);
        }
    }

    /// <summary>The project (from -ProjectName, -PipelinePath or the current folder) and, with -PipelinePath, the one pipeline.</summary>
    private (string Project, string? Pipeline) RecentScope()
    {
        string? project = ProjectName is null ? null : ProjectNaming.Sanitize(ProjectName);
        string? pipeline = null;
        if (PipelinePath is not null)
        {
            var read = ReadPipeline(ResolvePath(PipelinePath), SessionState.Path.CurrentFileSystemLocation.ProviderPath);
            project ??= read.ProjectName;
            pipeline = read.Name;
        }
        project ??= ProjectNaming.Sanitize(new DirectoryInfo(SessionState.Path.CurrentFileSystemLocation.ProviderPath).Name);
        return (project, pipeline);
    }
}
