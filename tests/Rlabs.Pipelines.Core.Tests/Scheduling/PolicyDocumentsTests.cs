using Rlabs.Pipelines.Scheduling;

namespace Rlabs.Pipelines.Tests.Scheduling;

/// <summary>Policies compared by what they grant, as AWS may hand them back re-serialised.</summary>
public sealed class PolicyDocumentsTests
{
    private const string Written = """{"Version":"2012-10-17","Statement":[{"Sid":"A","Effect":"Allow","Action":"ec2:StartInstances","Resource":"arn:aws:ec2:eu-west-1:1:instance/i-1"},{"Sid":"B","Effect":"Allow","Action":["logs:CreateLogGroup","logs:PutLogEvents"],"Resource":"*"}]}""";

    [Fact]
    public void Should_treat_reordered_keys_statements_and_lone_actions_as_the_same_policy()
    {
        const string readBack = """
            { "Statement": [
                { "Resource": "*", "Action": ["logs:PutLogEvents", "logs:CreateLogGroup"], "Effect": "Allow", "Sid": "B" },
                { "Effect": "Allow", "Sid": "A", "Resource": ["arn:aws:ec2:eu-west-1:1:instance/i-1"], "Action": ["ec2:StartInstances"] } ],
              "Version": "2012-10-17" }
            """;

        Assert.True(PolicyDocuments.AreEquivalent(Written, readBack));
    }

    [Theory]
    [InlineData("""{"Version":"2012-10-17","Statement":[{"Sid":"A","Effect":"Allow","Action":"ec2:StartInstances","Resource":"arn:aws:ec2:eu-west-1:1:instance/i-2"},{"Sid":"B","Effect":"Allow","Action":["logs:CreateLogGroup","logs:PutLogEvents"],"Resource":"*"}]}""")]
    [InlineData("""{"Version":"2012-10-17","Statement":[{"Sid":"A","Effect":"Allow","Action":"ec2:*","Resource":"arn:aws:ec2:eu-west-1:1:instance/i-1"},{"Sid":"B","Effect":"Allow","Action":["logs:CreateLogGroup","logs:PutLogEvents"],"Resource":"*"}]}""")]
    [InlineData("""{"Version":"2012-10-17","Statement":[{"Sid":"A","Effect":"Allow","Action":"ec2:StartInstances","Resource":"arn:aws:ec2:eu-west-1:1:instance/i-1"}]}""")]
    [InlineData("not json")]
    public void Should_see_a_policy_that_grants_something_else_as_different(string other) =>
        Assert.False(PolicyDocuments.AreEquivalent(Written, other));

    [Fact]
    public void Should_find_the_permission_only_when_it_names_the_same_principal_action_and_source()
    {
        const string policy = """{"Version":"2012-10-17","Id":"default","Statement":[{"Sid":"rlabs","Effect":"Allow","Principal":{"Service":"events.amazonaws.com"},"Action":"lambda:InvokeFunction","Resource":"arn:aws:lambda:eu-west-1:1:function:f","Condition":{"ArnLike":{"AWS:SourceArn":"arn:aws:events:eu-west-1:1:rule/r"}}}]}""";

        Assert.True(PolicyDocuments.HasPermission(policy, "rlabs", "events.amazonaws.com", "lambda:InvokeFunction", "arn:aws:events:eu-west-1:1:rule/r"));
        Assert.False(PolicyDocuments.HasPermission(policy, "rlabs", "events.amazonaws.com", "lambda:InvokeFunction", "arn:aws:events:eu-west-1:1:rule/other"));
        Assert.False(PolicyDocuments.HasPermission(policy, "other", "events.amazonaws.com", "lambda:InvokeFunction", "arn:aws:events:eu-west-1:1:rule/r"));
        Assert.False(PolicyDocuments.HasPermission(null, "rlabs", "events.amazonaws.com", "lambda:InvokeFunction", "arn:aws:events:eu-west-1:1:rule/r"));
        Assert.True(PolicyDocuments.HasStatement(policy, "rlabs"));
        Assert.False(PolicyDocuments.HasStatement(policy, "other"));
    }
}
