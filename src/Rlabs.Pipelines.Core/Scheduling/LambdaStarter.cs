using System.Security.Cryptography;
using System.Text;
using Rlabs.Pipelines.Aws;
using Rlabs.Pipelines.Packaging;
using Rlabs.Pipelines.Running;

namespace Rlabs.Pipelines.Scheduling;

/// <summary>
/// The EC2 kind's starter: a Lambda function, invokable by the one rule only, whose role may start the one
/// instance and write its own log group. Each part is read and compared before it is written.
/// </summary>
public sealed class LambdaStarter
{
    private readonly AwsSession _session;
    private readonly IRunReporter _reporter;
    private readonly ScheduleOptions _options;

    /// <summary>Creates the part over an AWS session.</summary>
    public LambdaStarter(AwsSession session, IRunReporter reporter, ScheduleOptions options)
    {
        _session = session;
        _reporter = reporter;
        _options = options;
    }

    internal async Task<string> EnsureRoleAsync(ScheduleRequest request, string partition, string region, string account, string functionName, List<string> changes, CancellationToken cancellationToken)
    {
        var iam = new IamClient(_session);
        var role = await iam.FindRoleAsync(request.RoleName, cancellationToken).ConfigureAwait(false);
        var ours = role is null || role.Description?.StartsWith(ScheduleManager.RoleDescriptionPrefix, StringComparison.Ordinal) == true;
        if (role is null)
        {
            role = await iam.CreateRoleAsync(new CreateRoleRequest
            {
                RoleName = request.RoleName,
                AssumeRolePolicyDocument = ScheduleManager.TrustPolicy(),
                Description = $"{ScheduleManager.RoleDescriptionPrefix}: lets the schedule {request.ProjectName}/{request.PipelineName} start its EC2 instance",
                Tags =
                [
                    new AwsTag { Key = ScheduleNaming.CreatedByTag, Value = ScheduleNaming.CreatedByValue },
                    new AwsTag { Key = ScheduleNaming.ProjectTag, Value = request.ProjectName },
                ],
            }, cancellationToken).ConfigureAwait(false);
            changes.Add($"role {request.RoleName} created");
        }
        if (ours)
        {
            // Look before writing: IAM gives the document back re-serialised, so compare what it grants.
            var wanted = ScheduleManager.StartInstancePolicy(partition, region, account, request.InstanceId, functionName);
            var current = await iam.FindRolePolicyAsync(request.RoleName, functionName, cancellationToken).ConfigureAwait(false);
            if (!PolicyDocuments.AreEquivalent(current, wanted))
            {
                await iam.PutRolePolicyAsync(request.RoleName, functionName, wanted, cancellationToken).ConfigureAwait(false);
                changes.Add(current is null ? $"inline policy {functionName} of role {request.RoleName} put" : $"inline policy {functionName} of role {request.RoleName} updated");
            }
        }
        else
        {
            _reporter.Warning($"The role '{request.RoleName}' was not created by this module, so it is used as it is: it must let Lambda call ec2:StartInstances on {request.InstanceId}.");
        }
        return role.Arn;
    }

    internal async Task<string> EnsureFunctionAsync(ScheduleRequest request, string functionName, string roleArn, string ruleArn, List<string> changes, CancellationToken cancellationToken)
    {
        var lambda = new LambdaClient(_session);
        var zip = ScheduleManager.HandlerZip();
        var codeSha256 = Convert.ToBase64String(SHA256.HashData(zip));
        var environment = new FunctionEnvironment { Variables = new Dictionary<string, string> { [ScheduleManager.InstanceIdVariable] = request.InstanceId } };
        var description = $"Rlabs.Pipelines: starts {request.InstanceId} for {request.ProjectName}/{request.PipelineName}";
        var existing = await lambda.FindFunctionAsync(functionName, cancellationToken).ConfigureAwait(false);
        string functionArn;
        if (existing is null)
        {
            var deadline = DateTimeOffset.UtcNow + _options.RolePropagationTimeout;
            while (true)
            {
                try
                {
                    functionArn = (await lambda.CreateFunctionAsync(new CreateFunctionRequest
                    {
                        FunctionName = functionName,
                        Runtime = _options.LambdaRuntime,
                        Role = roleArn,
                        Handler = ScheduleManager.LambdaHandler,
                        Code = new FunctionCode { ZipFile = zip },
                        Description = description,
                        Timeout = 30,
                        MemorySize = 128,
                        Environment = environment,
                        Tags = new Dictionary<string, string>
                        {
                            [ScheduleNaming.ProjectTag] = request.ProjectName,
                            [ScheduleNaming.PipelineTag] = request.PipelineName,
                            [ScheduleNaming.InstanceTag] = request.InstanceId,
                        },
                    }, cancellationToken).ConfigureAwait(false)).FunctionArn;
                    break;
                }
                catch (AwsServiceException ex) when (ex.Kind == AwsErrorKind.Validation && ex.AwsMessage.Contains("assume", StringComparison.OrdinalIgnoreCase) && DateTimeOffset.UtcNow < deadline)
                {
                    _reporter.Verbose("Lambda cannot assume the new role yet (IAM propagates in seconds); retrying.");
                    await Task.Delay(TimeSpan.FromSeconds(5), cancellationToken).ConfigureAwait(false);
                }
            }
            changes.Add($"function {functionName} created");
        }
        else
        {
            var configuration = existing.Configuration;
            functionArn = configuration.FunctionArn;
            if (configuration.CodeSha256 != codeSha256)
            {
                await lambda.UpdateFunctionCodeAsync(functionName, zip, cancellationToken).ConfigureAwait(false);
                changes.Add($"function {functionName} code updated");
            }
            var variables = configuration.Environment?.Variables;
            if (configuration.Role != roleArn || configuration.Handler != ScheduleManager.LambdaHandler || configuration.Runtime != _options.LambdaRuntime || configuration.Description != description
                || variables is null || variables.Count != 1 || !variables.TryGetValue(ScheduleManager.InstanceIdVariable, out var id) || id != request.InstanceId)
            {
                await lambda.UpdateFunctionConfigurationAsync(new UpdateFunctionConfigurationRequest
                {
                    FunctionName = functionName,
                    Role = roleArn,
                    Handler = ScheduleManager.LambdaHandler,
                    Runtime = _options.LambdaRuntime,
                    Description = description,
                    Environment = environment,
                }, cancellationToken).ConfigureAwait(false);
                changes.Add($"function {functionName} configuration updated");
            }
        }
        // Look before writing: a second AddPermission with the same statement id is answered 409.
        var policy = await lambda.FindPolicyAsync(functionName, cancellationToken).ConfigureAwait(false);
        if (!PolicyDocuments.HasPermission(policy, ScheduleManager.PermissionStatementId, "events.amazonaws.com", "lambda:InvokeFunction", ruleArn))
        {
            if (PolicyDocuments.HasStatement(policy, ScheduleManager.PermissionStatementId))
            {
                // A statement of that id grants something else (edited by hand): replace it.
                await lambda.RemovePermissionAsync(functionName, ScheduleManager.PermissionStatementId, cancellationToken).ConfigureAwait(false);
            }
            await lambda.AddPermissionAsync(new AddPermissionRequest
            {
                FunctionName = functionName,
                StatementId = ScheduleManager.PermissionStatementId,
                Action = "lambda:InvokeFunction",
                Principal = "events.amazonaws.com",
                SourceArn = ruleArn,
            }, cancellationToken).ConfigureAwait(false);
            changes.Add($"permission for rule {ruleArn.Split('/')[^1]} to invoke {functionName}");
        }
        return functionArn;
    }
}
