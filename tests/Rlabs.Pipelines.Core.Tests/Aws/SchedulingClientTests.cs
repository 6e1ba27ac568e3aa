using System.IO.Compression;
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using Rlabs.Pipelines.Aws;
using Rlabs.Pipelines.AwsEmulator;

namespace Rlabs.Pipelines.Core.Tests.Aws;

/// <summary>IAM, Lambda and EventBridge: the calls the scheduler makes, in the order it makes them.</summary>
[Trait("Tier", "Emulator")]
public sealed class SchedulingClientTests : IClassFixture<EmulatorFixture>, IDisposable
{
    private const string LambdaTrust = """{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}""";
    private const string StartInstancePolicy = """{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["ec2:StartInstances"],"Resource":"*"}]}""";
    private readonly EmulatorFixture _fixture;

    public SchedulingClientTests(EmulatorFixture fixture)
    {
        _fixture = fixture;
        _fixture.Emulator.Faults.Clear();
    }

    public void Dispose() => _fixture.Emulator.Faults.Clear();

    private static byte[] Zip(string handlerSource)
    {
        using var buffer = new MemoryStream();
        using (var archive = new ZipArchive(buffer, ZipArchiveMode.Create, leaveOpen: true))
        {
            using var writer = new StreamWriter(archive.CreateEntry("lambda_function.py").Open());
            writer.Write(handlerSource);
        }

        return buffer.ToArray();
    }

    private static async Task<IamRole> CreateLambdaRoleAsync(IamClient iam, string name) =>
        await iam.CreateRoleAsync(new CreateRoleRequest { RoleName = name, AssumeRolePolicyDocument = LambdaTrust }, CancellationToken.None);

    [Fact]
    public async Task A_role_is_created_found_given_a_policy_and_deleted_in_order()
    {
        using var session = _fixture.Session();
        var iam = new IamClient(session);
        var name = EmulatorFixture.UniqueName("proj-lambda-role");

        Assert.Null(await iam.FindRoleAsync(name, CancellationToken.None));
        var created = await iam.CreateRoleAsync(new CreateRoleRequest
        {
            RoleName = name,
            AssumeRolePolicyDocument = LambdaTrust,
            Description = "Starts the pipeline instance",
            Tags = [new AwsTag { Key = "rlabs:project", Value = "proj" }],
        }, CancellationToken.None);
        var found = await iam.GetRoleAsync(name, CancellationToken.None);
        await iam.PutRolePolicyAsync(name, "start-instance", StartInstancePolicy, CancellationToken.None);
        var conflict = await Assert.ThrowsAsync<AwsServiceException>(() => iam.DeleteRoleAsync(name, CancellationToken.None));
        await iam.DeleteRolePolicyAsync(name, "start-instance", CancellationToken.None);
        await iam.DeleteRoleAsync(name, CancellationToken.None);

        Assert.Equal($"arn:aws:iam::123456789012:role/{name}", created.Arn);
        Assert.StartsWith("AROA", created.RoleId, StringComparison.Ordinal);
        Assert.Equal(LambdaTrust, found.AssumeRolePolicyDocument);
        Assert.Equal("Starts the pipeline instance", found.Description);
        Assert.True(Math.Abs((found.CreateDate - DateTimeOffset.UtcNow).TotalMinutes) < 1);
        Assert.Equal(("DeleteConflict", AwsErrorKind.Conflict), (conflict.ErrorCode, conflict.Kind));
        Assert.Null(await iam.FindRoleAsync(name, CancellationToken.None));
        var recorded = _fixture.Emulator.Requests.For("iam", "CreateRole").Single(r => (string?)r.Parameters!["RoleName"] == name);
        Assert.Equal("us-east-1", recorded.Region);
        Assert.Equal("proj", (string?)recorded.Parameters!["Tags"]![0]!["Value"]);
    }

    [Fact]
    public async Task IAM_errors_come_back_typed()
    {
        using var session = _fixture.Session();
        var iam = new IamClient(session);
        var name = EmulatorFixture.UniqueName("dup");
        await CreateLambdaRoleAsync(iam, name);

        var duplicate = await Assert.ThrowsAsync<AwsServiceException>(() => CreateLambdaRoleAsync(iam, name));
        var malformed = await Assert.ThrowsAsync<AwsServiceException>(() => iam.PutRolePolicyAsync(name, "p", "{not json", CancellationToken.None));
        var missing = await Assert.ThrowsAsync<AwsServiceException>(() => iam.GetRoleAsync("no-such-role", CancellationToken.None));
        var invalid = await Assert.ThrowsAsync<AwsServiceException>(() => iam.GetRoleAsync("bad name with spaces", CancellationToken.None));

        Assert.Equal(("EntityAlreadyExists", AwsErrorKind.Conflict), (duplicate.ErrorCode, duplicate.Kind));
        Assert.Equal(("MalformedPolicyDocument", AwsErrorKind.Validation), (malformed.ErrorCode, malformed.Kind));
        Assert.Equal(("NoSuchEntity", AwsErrorKind.NotFound, System.Net.HttpStatusCode.NotFound), (missing.ErrorCode, missing.Kind, missing.StatusCode));
        Assert.Equal("The role with name no-such-role cannot be found.", missing.AwsMessage);
        Assert.False(string.IsNullOrEmpty(missing.RequestId));
        Assert.Equal("ValidationError", invalid.ErrorCode);
        Assert.Contains("Member must satisfy regular expression pattern: [\\w+=,.@-]+", invalid.AwsMessage, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_function_is_created_updated_permitted_and_deleted()
    {
        using var session = _fixture.Session();
        var iam = new IamClient(session);
        var lambda = new LambdaClient(session);
        var name = EmulatorFixture.UniqueName("proj-start");
        var role = await CreateLambdaRoleAsync(iam, name + "-role");
        var zip = Zip("def lambda_handler(event, context):\n    return 'v1'\n");

        Assert.Null(await lambda.FindFunctionAsync(name, CancellationToken.None));
        var created = await lambda.CreateFunctionAsync(new CreateFunctionRequest
        {
            FunctionName = name,
            Runtime = "python3.9",
            Role = role.Arn,
            Handler = "lambda_function.lambda_handler",
            Code = new FunctionCode { ZipFile = zip },
            Timeout = 60,
            Environment = new FunctionEnvironment { Variables = new Dictionary<string, string> { ["INSTANCE_ID"] = "i-0123456789abcdef0" } },
        }, CancellationToken.None);
        var updated = await lambda.UpdateFunctionConfigurationAsync(new UpdateFunctionConfigurationRequest { FunctionName = name, Timeout = 120 }, CancellationToken.None);
        var zip2 = Zip("def lambda_handler(event, context):\n    return 'v2'\n");
        var recoded = await lambda.UpdateFunctionCodeAsync(name, zip2, CancellationToken.None);
        var fetched = await lambda.GetFunctionAsync(name, CancellationToken.None);
        var permission = await lambda.AddPermissionAsync(new AddPermissionRequest
        {
            FunctionName = name,
            StatementId = "events-invoke",
            Action = "lambda:InvokeFunction",
            Principal = "events.amazonaws.com",
            SourceArn = "arn:aws:events:eu-west-1:123456789012:rule/proj",
        }, CancellationToken.None);
        var duplicate = await Assert.ThrowsAsync<AwsServiceException>(() => lambda.AddPermissionAsync(new AddPermissionRequest
        {
            FunctionName = name, StatementId = "events-invoke", Action = "lambda:InvokeFunction", Principal = "events.amazonaws.com",
        }, CancellationToken.None));
        var deployed = _fixture.Emulator.Lambda.FunctionZip(name);
        await lambda.RemovePermissionAsync(name, "events-invoke", CancellationToken.None);
        var removedTwice = await Assert.ThrowsAsync<AwsServiceException>(() => lambda.RemovePermissionAsync(name, "events-invoke", CancellationToken.None));
        await lambda.DeleteFunctionAsync(name, CancellationToken.None);

        Assert.Equal($"arn:aws:lambda:eu-west-1:123456789012:function:{name}", created.FunctionArn);
        Assert.Equal(Convert.ToBase64String(SHA256.HashData(zip)), created.CodeSha256);
        Assert.Equal(zip.Length, created.CodeSize);
        Assert.Equal(120, updated.Timeout);
        Assert.Equal(Convert.ToBase64String(SHA256.HashData(zip2)), recoded.CodeSha256);
        Assert.Equal(zip2, deployed);
        Assert.Equal(120, fetched.Configuration.Timeout);
        Assert.Equal("i-0123456789abcdef0", fetched.Configuration.Environment!.Variables!["INSTANCE_ID"]);
        Assert.Equal("Active", fetched.Configuration.State);
        Assert.Equal("arn:aws:events:eu-west-1:123456789012:rule/proj", (string?)JsonNode.Parse(permission.Statement)!["Condition"]!["ArnLike"]!["AWS:SourceArn"]);
        Assert.Equal(("ResourceConflictException", AwsErrorKind.Conflict), (duplicate.ErrorCode, duplicate.Kind));
        Assert.Equal(("ResourceNotFoundException", AwsErrorKind.NotFound), (removedTwice.ErrorCode, removedTwice.Kind));
        Assert.Null(await lambda.FindFunctionAsync(name, CancellationToken.None));
    }

    [Fact]
    public async Task Lambda_rejects_a_role_it_cannot_assume_and_an_invalid_name()
    {
        using var session = _fixture.Session();
        var lambda = new LambdaClient(session);
        CreateFunctionRequest Request(string name, string role) => new()
        {
            FunctionName = name, Runtime = "python3.9", Role = role, Handler = "h.h", Code = new FunctionCode { ZipFile = Zip("x = 1") },
        };

        var noRole = await Assert.ThrowsAsync<AwsServiceException>(() => lambda.CreateFunctionAsync(
            Request(EmulatorFixture.UniqueName("fn"), "arn:aws:iam::123456789012:role/never-created"), CancellationToken.None));
        var badName = await Assert.ThrowsAsync<AwsServiceException>(() => lambda.CreateFunctionAsync(
            Request("has spaces", "arn:aws:iam::123456789012:role/r"), CancellationToken.None));
        var badRuntime = await Assert.ThrowsAsync<AwsServiceException>(() => lambda.CreateFunctionAsync(new CreateFunctionRequest
        {
            FunctionName = "fn", Runtime = "cobol85", Role = "arn:aws:iam::123456789012:role/r", Handler = "h.h", Code = new FunctionCode { ZipFile = Zip("x") },
        }, CancellationToken.None));

        Assert.Equal(("InvalidParameterValueException", "The role defined for the function cannot be assumed by Lambda."), (noRole.ErrorCode, noRole.AwsMessage));
        Assert.Equal("ValidationException", badName.ErrorCode);
        Assert.Contains("Value 'has spaces' at 'functionName'", badName.AwsMessage, StringComparison.Ordinal);
        Assert.Contains("Member must satisfy enum value set", badRuntime.AwsMessage, StringComparison.Ordinal);
        Assert.Equal(System.Net.HttpStatusCode.BadRequest, badRuntime.StatusCode);
    }

    [Fact]
    public async Task A_rule_is_scheduled_targeted_toggled_and_removed()
    {
        using var session = _fixture.Session();
        var events = new EventBridgeClient(session);
        var name = EmulatorFixture.UniqueName("proj-schedule");
        var input = """{"instance_id":"i-0123456789abcdef0"}""";

        Assert.Null(await events.FindRuleAsync(name, CancellationToken.None));
        var put = await events.PutRuleAsync(new PutRuleRequest { Name = name, ScheduleExpression = "rate(10 minutes)", Description = "Run proj" }, CancellationToken.None);
        await events.PutTargetsAsync(name, [new EventTarget { Id = "start-instance", Arn = "arn:aws:lambda:eu-west-1:123456789012:function:proj", Input = input }], CancellationToken.None);
        await events.DisableRuleAsync(name, CancellationToken.None);
        var disabled = await events.DescribeRuleAsync(name, CancellationToken.None);
        await events.EnableRuleAsync(name, CancellationToken.None);
        var enabled = await events.DescribeRuleAsync(name, CancellationToken.None);
        var targets = await events.ListTargetsByRuleAsync(name, CancellationToken.None);
        var withTargets = await Assert.ThrowsAsync<AwsServiceException>(() => events.DeleteRuleAsync(name, CancellationToken.None));
        await events.RemoveTargetsAsync(name, ["start-instance"], CancellationToken.None);
        await events.DeleteRuleAsync(name, CancellationToken.None);

        Assert.Equal($"arn:aws:events:eu-west-1:123456789012:rule/{name}", put.RuleArn);
        Assert.False(disabled.IsEnabled);
        Assert.Equal(("ENABLED", "rate(10 minutes)", "Run proj"), (enabled.State, enabled.ScheduleExpression, enabled.Description));
        var target = Assert.Single(targets.Targets);
        Assert.Equal(("start-instance", input), (target.Id, target.Input));
        Assert.Equal("ValidationException", withTargets.ErrorCode);
        Assert.Null(await events.FindRuleAsync(name, CancellationToken.None));
    }

    [Fact]
    public async Task Rules_are_listed_across_pages_and_invalid_ones_are_refused()
    {
        using var session = _fixture.Session(maxAttempts: 3);
        var events = new EventBridgeClient(session);
        var prefix = EmulatorFixture.UniqueName("list");
        foreach (var i in Enumerable.Range(1, 3))
        {
            await events.PutRuleAsync(new PutRuleRequest { Name = $"{prefix}-{i}", EventPattern = """{"source":["aws.ec2"]}""" }, CancellationToken.None);
        }

        var firstPage = await events.ListRulesAsync(new ListRulesRequest { NamePrefix = prefix, Limit = 2 }, CancellationToken.None);
        var all = await events.ListAllRulesAsync(prefix, CancellationToken.None);
        _fixture.Emulator.Faults.Add(new FaultRule { Service = "events", Operation = "PutRule", Kind = "Throttling", Count = 1 });
        var badSchedule = await Assert.ThrowsAsync<AwsServiceException>(() => events.PutRuleAsync(new PutRuleRequest { Name = prefix + "-x", ScheduleExpression = "every hour" }, CancellationToken.None));
        var badPattern = await Assert.ThrowsAsync<AwsServiceException>(() => events.PutRuleAsync(new PutRuleRequest { Name = prefix + "-y", EventPattern = "{nope" }, CancellationToken.None));
        var neither = await Assert.ThrowsAsync<AwsServiceException>(() => events.PutRuleAsync(new PutRuleRequest { Name = prefix + "-z" }, CancellationToken.None));
        var missing = await Assert.ThrowsAsync<AwsServiceException>(() => events.PutTargetsAsync("no-such-rule", [new EventTarget { Id = "1", Arn = "arn:aws:lambda:eu-west-1:123456789012:function:f" }], CancellationToken.None));

        Assert.Equal(2, firstPage.Rules.Count);
        Assert.NotNull(firstPage.NextToken);
        Assert.Equal([$"{prefix}-1", $"{prefix}-2", $"{prefix}-3"], all.Select(r => r.Name));
        Assert.Equal(("ValidationException", "Parameter ScheduleExpression is not valid."), (badSchedule.ErrorCode, badSchedule.AwsMessage));
        Assert.Equal(2, _fixture.Emulator.Requests.For("events", "PutRule").Count(r => (string?)r.Parameters!["Name"] == prefix + "-x"));
        Assert.Equal("InvalidEventPatternException", badPattern.ErrorCode);
        Assert.Equal("Parameter(s) ScheduleExpression or EventPattern must be specified.", neither.AwsMessage);
        Assert.Equal(("ResourceNotFoundException", AwsErrorKind.NotFound), (missing.ErrorCode, missing.Kind));
    }
}
