using Rlabs.Pipelines.Aws;
using Rlabs.Pipelines.Cloud;
using Rlabs.Pipelines.Packaging;
using Rlabs.Pipelines.Planning;
using Rlabs.Pipelines.Running;

namespace Rlabs.Pipelines.Scheduling;

/// <summary>
/// The serverless kind end to end: its executor is the SageMaker pipeline itself (compiled with the job id taken
/// from each execution, artifacts content-addressed in S3, upserted by definition hash, all through the engine of
/// <see cref="SageMakerPipelinesEngine"/>), its trigger the Scheduler schedule (<see cref="SchedulerTrigger"/>),
/// and no starter. The credentials file is kept encrypted at one fixed key per schedule, an S3 input of the steps
/// that the pipeline role reads; it never appears in the definition, its parameters, an environment value or the
/// schedule. Each part looks before it writes, so a re-run with nothing changed writes nothing.
/// </summary>
public sealed class ServerlessScheduleManager
{
    private readonly AwsSession _session;
    private readonly IRunReporter _reporter;

    /// <summary>Creates the manager over an AWS session.</summary>
    public ServerlessScheduleManager(AwsSession session, IRunReporter reporter)
    {
        _session = session;
        _reporter = reporter;
    }

    /// <summary>The fixed key of a schedule's credentials copy (under the project's prefix of the run bucket).</summary>
    public static string CredentialsKey(string projectName, string pipelineName) =>
        $"{CloudNaming.ProjectPrefix(projectName)}/schedules/{pipelineName}/credentials/{StepContract.CredentialsName}";

    /// <summary>
    /// Every call <see cref="ScheduleAsync(RunRequest, Func{string, ServerlessScheduleRequest}, string?, CancellationToken)"/> may make, part by part, without making any (for -WhatIf and
    /// ShouldProcess): the pipeline's ARN is written with a placeholder account, as no call has read it.
    /// </summary>
    public IReadOnlyList<ServerlessSchedulePart> Describe(RunRequest run, Func<string, ServerlessScheduleRequest> schedule, string? projectName = null)
    {
        ArgumentNullException.ThrowIfNull(run);
        ArgumentNullException.ThrowIfNull(schedule);
        var pipelineName = ScheduleNaming.PipelineName(Path.GetRelativePath(run.Pipeline.RepositoryPath, run.Pipeline.Path).Replace('\\', '/'));
        var needsAccount = run.Cloud.Bucket is null && run.Pipeline.Defaults.Bucket is null;
        var bucket = run.Cloud.Bucket ?? run.Pipeline.Defaults.Bucket ?? $"sagemaker-{_session.Region}-<account id>";
        var sageMakerName = PipelineDefinitionCompiler.ScheduledPipelineName(run.Pipeline);
        var pipelineArn = $"arn:aws:sagemaker:{_session.Region}:<account id>:pipeline/{sageMakerName.ToLowerInvariant()}";
        var encryption = run.Pipeline.Defaults.KmsKeyId is { } kms ? $"SSE-KMS with {kms}" : "SSE-S3";
        var parts = new List<ServerlessSchedulePart>
        {
            new($"s3://{bucket}", (needsAccount ? "sts:GetCallerIdentity (the default bucket's account); " : string.Empty)
                + "s3:HeadBucket, s3:CreateBucket with public access blocked and default encryption when missing; "
                + $"per artifact (source zip, requirements, step code): s3:HeadObject, s3:PutObject ({encryption}) only when S3 holds other bytes"),
        };
        if (run.Credentials is not null)
        {
            parts.Add(new($"s3://{bucket}/{CredentialsKey(projectName ?? run.Pipeline.ProjectName, pipelineName)}",
                $"s3:HeadObject, s3:PutObject of the credentials file ({encryption}) only when it differs; readable by the pipeline role, never in the definition, a parameter or the schedule"));
        }
        parts.Add(new($"SageMaker pipeline {sageMakerName}",
            $"sagemaker:DescribePipeline, sagemaker:CreatePipeline when missing or sagemaker:UpdatePipeline when the definition hash or role differ (runs as {run.Cloud.RoleArn ?? run.Pipeline.Defaults.RoleArn ?? "the file's role_arn"}; job id from each execution)"));
        var request = schedule(pipelineArn);
        foreach (var line in SchedulerTrigger.Describe(request))
        {
            var target = line.StartsWith("iam:", StringComparison.Ordinal) ? $"IAM role {SchedulerTrigger.RoleName(request.ProjectName, request.PipelineName)}"
                : line.Contains("ScheduleGroup", StringComparison.Ordinal) ? $"Scheduler group {SchedulerTrigger.GroupName}"
                : $"Scheduler schedule {SchedulerTrigger.GroupName}/{SchedulerTrigger.ScheduleName(request.ProjectName, request.PipelineName)}";
            if (parts[^1].Target == target)
            {
                parts[^1] = parts[^1] with { Action = parts[^1].Action + "; " + line };
            }
            else
            {
                parts.Add(new(target, line));
            }
        }
        return parts;
    }

    /// <summary>
    /// Compiles and upserts the scheduled pipeline, uploads what it needs, keeps the credentials copy, then creates
    /// or updates the schedule; <paramref name="schedule"/> builds the schedule's request from the pipeline's ARN.
    /// Returns the schedule as read back, its <c>Changes</c> naming every write (none on an unchanged re-run).
    /// </summary>
    public Task<ServerlessScheduleState> ScheduleAsync(RunRequest run, Func<string, ServerlessScheduleRequest> schedule, CancellationToken cancellationToken) =>
        ScheduleAsync(run, schedule, null, cancellationToken);

    /// <summary>
    /// As <see cref="ScheduleAsync(RunRequest, Func{string, ServerlessScheduleRequest}, CancellationToken)"/>, with
    /// <paramref name="projectName"/> the schedule's project, under which the credentials copy is kept (where removing
    /// the schedule looks for it); null: the pipeline's.
    /// </summary>
    public async Task<ServerlessScheduleState> ScheduleAsync(RunRequest run, Func<string, ServerlessScheduleRequest> schedule, string? projectName, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(run);
        ArgumentNullException.ThrowIfNull(schedule);
        var pipelineName = ScheduleNaming.PipelineName(Path.GetRelativePath(run.Pipeline.RepositoryPath, run.Pipeline.Path).Replace('\\', '/'));
        var credentialsKey = run.Credentials is null ? null : CredentialsKey(projectName ?? run.Pipeline.ProjectName, pipelineName);
        var request = new RunRequest
        {
            Pipeline = run.Pipeline,
            JobId = "scheduled",
            InstanceType = run.InstanceType,
            Credentials = run.Credentials,
            Cloud = new CloudRunOptions { RoleArn = run.Cloud.RoleArn, Bucket = run.Cloud.Bucket, NoWait = true, Engine = CloudEngine.SageMakerPipelines, CredentialsKey = credentialsKey },
        };
        var work = Path.Combine(Path.GetTempPath(), "rlabs-schedule-" + Guid.NewGuid().ToString("N"));
        using var service = new CloudRunService(_session);
        try
        {
            var account = ProcessingJobBinder.NeedsAccount(request) ? await service.GetAccountAsync(cancellationToken).ConfigureAwait(false) : null;
            var source = ProcessingJobBinder.Package(request, work, cancellationToken);
            CompiledPipelineDefinition compiled;
            try
            {
                compiled = PipelineDefinitionCompiler.Compile(RunPlanner.Plan(request, _session.Region), _session.Region, account, source, jobIdFromExecution: true);
            }
            catch (RlabsConfigException ex)
            {
                throw new RlabsRunException(ex.Message, "CloudRunInvalid", RlabsRunErrorKind.InvalidArgument, run.Pipeline.Path, ex);
            }
            var bound = compiled.Bound;
            var changes = new List<string>();
            var uploaded = await service.UploadArtifactsAsync(bound, _reporter, cancellationToken).ConfigureAwait(false);
            if (uploaded > 0)
            {
                changes.Add($"{uploaded} artifact(s) uploaded to s3://{bound.Bucket}");
            }
            if (credentialsKey is not null)
            {
                var copy = Path.Combine(work, "credentials", StepContract.CredentialsName);
                run.Credentials!.WriteStripped(copy);
                if (await service.KeepFileAsync(bound.Bucket, credentialsKey, copy, run.Pipeline.Defaults.KmsKeyId, cancellationToken).ConfigureAwait(false))
                {
                    changes.Add($"credentials stored encrypted at s3://{bound.Bucket}/{credentialsKey}");
                }
            }
            var before = await SageMakerPipelinesEngine.DescribeOrNullAsync(service.SageMaker, compiled.PipelineName, cancellationToken).ConfigureAwait(false);
            var roleArn = bound.Steps[0].Request.RoleArn;
            var tags = new List<AwsTag>
            {
                new() { Key = "rlabs:project", Value = run.Pipeline.ProjectName },
                new() { Key = "rlabs:pipeline", Value = run.Pipeline.Name },
                new() { Key = ScheduleNaming.CreatedByTag, Value = ScheduleNaming.CreatedByValue },
            };
            var pipelineArn = await SageMakerPipelinesEngine.UpsertAsync(service.SageMaker, compiled, roleArn, tags, _reporter, cancellationToken).ConfigureAwait(false);
            if (before is null)
            {
                changes.Add($"SageMaker pipeline {compiled.PipelineName} created");
            }
            else if (CompiledPipelineDefinition.HashOf(before.PipelineDescription) != compiled.Hash || before.RoleArn != roleArn)
            {
                changes.Add($"SageMaker pipeline {compiled.PipelineName} updated");
            }
            var state = await new SchedulerTrigger(_session, _reporter).EnsureAsync(schedule(pipelineArn), cancellationToken).ConfigureAwait(false);
            return state with { Changes = [.. changes, .. state.Changes] };
        }
        finally
        {
            if (Directory.Exists(work))
            {
                Directory.Delete(work, recursive: true);
            }
        }
    }

    /// <summary>
    /// Deletes the schedule, the role it created and the stored credentials copy; the pipeline and its executions
    /// stay unless <paramref name="includePipeline"/>. Everything is read first, so a missing permission or bucket
    /// stops the removal before anything is deleted; then the schedule goes first (nothing fires any more), the
    /// credentials, (asked for) the pipeline, and the created role last. Each part may already be gone, so a removal that failed
    /// half-way finishes when run again. <paramref name="sageMakerPipelineName"/> defaults to the schedule's target.
    /// </summary>
    public async Task<ServerlessScheduleRemoval> RemoveAsync(string projectName, string pipelineName, string bucket, string? sageMakerPipelineName, bool includePipeline, CancellationToken cancellationToken)
    {
        var trigger = new SchedulerTrigger(_session, _reporter);
        var plan = await trigger.PlanRemovalAsync(projectName, pipelineName, cancellationToken).ConfigureAwait(false);
        sageMakerPipelineName ??= plan.PipelineName;
        using var service = new CloudRunService(_session);
        var key = CredentialsKey(projectName, pipelineName);
        var credentialsStored = await service.DataExistsAsync(bucket, key, isFile: true, cancellationToken).ConfigureAwait(false);
        var pipelineExists = sageMakerPipelineName is not null
            && await SageMakerPipelinesEngine.DescribeOrNullAsync(service.SageMaker, sageMakerPipelineName, cancellationToken).ConfigureAwait(false) is not null;

        var removed = new List<string>();
        var kept = new List<string>();
        if (plan.RoleKeptBecause is not null)
        {
            kept.Add(plan.RoleKeptBecause);
        }
        try
        {
            await trigger.RemoveScheduleAsync(plan, removed, cancellationToken).ConfigureAwait(false);
            if (credentialsStored && await service.DeleteObjectAsync(bucket, key, cancellationToken).ConfigureAwait(false))
            {
                removed.Add($"credentials s3://{bucket}/{key}");
            }
            if (pipelineExists && includePipeline)
            {
                await service.SageMaker.DeletePipelineAsync(sageMakerPipelineName!, null, cancellationToken).ConfigureAwait(false);
                removed.Add($"SageMaker pipeline {sageMakerPipelineName}");
            }
            // The created role last: while anything else is left, the role is too, and tells a later Remove there is more to do.
            await trigger.RemoveRoleAsync(plan, removed, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is AwsServiceException or IOException)
        {
            _reporter.Warning(removed.Count == 0
                ? "Nothing was removed. Run Remove-RlabsPipelineSchedule again once the cause is fixed."
                : $"Removed {string.Join(", ", removed)} before the failure; run Remove-RlabsPipelineSchedule again to remove the rest (each part may already be gone).");
            throw;
        }
        if (pipelineExists && !includePipeline)
        {
            kept.Add($"SageMaker pipeline {sageMakerPipelineName} and its executions (-IncludePipeline deletes it)");
        }
        return new ServerlessScheduleRemoval(plan.ScheduleName, removed, kept);
    }
}

/// <summary>One part of a serverless schedule, as ShouldProcess asks for it: what it touches and the calls it may make.</summary>
/// <param name="Target">The resource.</param>
/// <param name="Action">The calls, in order, and when each is made.</param>
public sealed record ServerlessSchedulePart(string Target, string Action);
