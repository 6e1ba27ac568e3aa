using System.Security.Cryptography;
using System.Text;
using Rlabs.Pipelines.Aws;
using Rlabs.Pipelines.Packaging;
using Rlabs.Pipelines.Running;

namespace Rlabs.Pipelines.Scheduling;

/// <summary>The EC2 kind's trigger: an EventBridge rule (UTC) whose one target is the starter function.</summary>
public sealed class EventBridgeRuleTrigger
{
    private readonly AwsSession _session;

    /// <summary>Creates the trigger over an AWS session.</summary>
    public EventBridgeRuleTrigger(AwsSession session)
    {
        _session = session;
    }

    internal async Task EnsureRuleAsync(ScheduleRequest request, string ruleName, string functionName, string functionArn, List<string> changes, CancellationToken cancellationToken)
    {
        var events = new EventBridgeClient(_session);
        var description = ScheduleManager.WriteDescription(new ScheduleDescription(request.ProjectName, request.PipelineRelativePath, request.InstanceId, request.RoleName, functionName));
        var rule = await events.FindRuleAsync(ruleName, cancellationToken).ConfigureAwait(false);
        if (rule is null || rule.ScheduleExpression != request.Schedule.Expression || !rule.IsEnabled || rule.Description != description)
        {
            await events.PutRuleAsync(new PutRuleRequest
            {
                Name = ruleName,
                ScheduleExpression = request.Schedule.Expression,
                State = "ENABLED",
                Description = description,
                Tags = rule is null
                    ?
                    [
                        new AwsTag { Key = ScheduleNaming.ProjectTag, Value = request.ProjectName },
                        new AwsTag { Key = ScheduleNaming.PipelineTag, Value = request.PipelineName },
                        new AwsTag { Key = ScheduleNaming.InstanceTag, Value = request.InstanceId },
                    ]
                    : null,
            }, cancellationToken).ConfigureAwait(false);
            changes.Add(rule is null ? $"rule {ruleName} created" : $"rule {ruleName} updated");
        }
        var targets = await events.ListTargetsByRuleAsync(ruleName, cancellationToken).ConfigureAwait(false);
        if (targets.Targets.Count != 1 || targets.Targets[0].Id != ScheduleManager.TargetId || targets.Targets[0].Arn != functionArn || targets.Targets[0].Input is not null)
        {
            var stale = targets.Targets.Where(t => t.Id != ScheduleManager.TargetId).Select(t => t.Id).ToList();
            if (stale.Count > 0)
            {
                await events.RemoveTargetsAsync(ruleName, stale, cancellationToken).ConfigureAwait(false);
            }
            await events.PutTargetsAsync(ruleName, [new EventTarget { Id = ScheduleManager.TargetId, Arn = functionArn }], cancellationToken).ConfigureAwait(false);
            changes.Add($"rule {ruleName} targets {functionName}");
        }
    }
}
