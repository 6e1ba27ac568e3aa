using System.Management.Automation;
using Rlabs.Pipelines.Aws;
using Rlabs.Pipelines.Cloud;

namespace Rlabs.Pipelines;

/// <summary>Identifies a cloud run by job id, project and bucket, from parameters or from piped run objects.</summary>
public abstract class RlabsRunCmdlet : RlabsAwsCmdlet
{
    /// <summary>The parameter set that names one run by its job id.</summary>
    protected const string JobIdSet = "JobId";

    /// <summary>The run's job id.</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true, ParameterSetName = JobIdSet)]
    [ValidateNotNullOrEmpty]
    public string JobId { get; set; } = string.Empty;

    /// <summary>Project of the run; default: from -PipelinePath, else the current folder's name.</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    public string? ProjectName { get; set; }

    /// <summary>The run's bucket; default: from the pipeline file, else sagemaker-&lt;region&gt;-&lt;account&gt;.</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    public string? Bucket { get; set; }

    /// <summary>A pipeline file whose project and bucket identify the run (read with the current location as the repository).</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? PipelinePath { get; set; }

    /// <summary>
    /// Finds the run: by its manifest, else (no manifest) an execution a serverless schedule started, whose job id is
    /// its execution id; Manifest is null for such a run. Writes a RunNotFound error and returns null when there is none.
    /// </summary>
    protected (CloudRunManifest? Manifest, RlabsPipelineRun Run)? Locate(AwsSession session, CloudRunService service)
    {
        if (ProjectNaming.ValidateJobId(JobId) is { } problem)
        {
            WriteError(ErrorMapping.Record(new ArgumentException(problem), "InvalidJobId", ErrorCategory.InvalidArgument, JobId));
            return null;
        }
        var project = ProjectName;
        var bucket = string.IsNullOrEmpty(Bucket) ? null : Bucket;
        if (PipelinePath is not null)
        {
            var path = ResolvePath(PipelinePath);
            // The repository is the current location, as for Invoke-RlabsPipeline: it names the default project.
            var pipeline = ReadPipeline(path, SessionState.Path.CurrentFileSystemLocation.ProviderPath);
            project ??= pipeline.ProjectName;
            bucket ??= pipeline.Defaults.Bucket;
        }
        project ??= ProjectNaming.Sanitize(new DirectoryInfo(SessionState.Path.CurrentFileSystemLocation.ProviderPath).Name);
        var found = RunAsync(() => Task.Run(async () =>
        {
            if (bucket is null)
            {
                var account = await service.GetAccountAsync(CancellationToken).ConfigureAwait(false);
                bucket = CloudNaming.DefaultBucket(session.Region, account);
                service.ExpectBucketOwner(bucket, account);
            }
            if (await service.GetAsync(bucket, project, JobId, CancellationToken).ConfigureAwait(false) is { } recorded)
            {
                return ((CloudRunManifest? Manifest, RlabsPipelineRun Run)?)(recorded.Manifest, recorded.Run);
            }
            try
            {
                return await new PipelineRunHistory(session).FindScheduledAsync(project, JobId, CancellationToken).ConfigureAwait(false) is { } scheduled
                    ? (null, scheduled)
                    : null;
            }
            catch (AwsServiceException ex) when (ex.Kind == AwsErrorKind.AccessDenied)
            {
                // Who may not list SageMaker pipelines has no scheduled run to find: the run is simply not found.
                return null;
            }
        }));
        if (found is null)
        {
            WriteError(ErrorMapping.Record(
                new ItemNotFoundException($"No cloud run with job id '{JobId}' for project '{project}' in bucket '{bucket}'. Check -JobId, -ProjectName and -Bucket (or -PipelinePath)."),
                "RunNotFound", ErrorCategory.ObjectNotFound, JobId));
        }
        return found;
    }

    /// <summary>Runs AWS work, turning its failures into a non-terminating error for this item.</summary>
    protected T? RunAsync<T>(Func<Task<T>> work)
    {
        try
        {
            return work().GetAwaiter().GetResult();
        }
        catch (AwsServiceException ex)
        {
            WriteError(ErrorMapping.Record(ex, "AwsCallFailed", JobId));
            return default;
        }
    }
}
