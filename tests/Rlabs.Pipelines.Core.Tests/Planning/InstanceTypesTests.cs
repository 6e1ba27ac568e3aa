using Rlabs.Pipelines.AwsEmulator.Model;

namespace Rlabs.Pipelines.Tests.Planning;

public sealed class InstanceTypesTests
{
    [Theory]
    [InlineData("local")]
    [InlineData("ml.t3.xlarge")]
    [InlineData("ml.g4dn.12xlarge")]
    [InlineData("ml.m6i.xlarge")] // newer than the list: well formed, so SageMaker decides
    [InlineData("ml.c7g.metal")]
    public void Should_accept_local_known_and_well_formed_types(string type) => Assert.Null(InstanceTypes.Validate(type));

    [Theory]
    [InlineData("ml.t3.xlrge", "ml.t3.xlarge")]
    [InlineData("ml.m5.lage", "ml.m5.large")]
    [InlineData("t3.xlarge", "ml.t3.xlarge")]
    [InlineData("lokal", "local")]
    [InlineData("ml.t3.xlarg", "ml.t3.xlarge")]
    public void Should_refuse_a_misspelt_type_and_suggest_the_nearest(string type, string suggestion)
    {
        var problem = InstanceTypes.Validate(type);

        Assert.NotNull(problem);
        Assert.Contains($"'{type}' is not an instance type", problem, StringComparison.Ordinal);
        Assert.EndsWith($"Did you mean '{suggestion}'?", problem, StringComparison.Ordinal);
    }

    [Fact]
    public void Should_refuse_local_where_only_SageMaker_types_are_allowed()
    {
        Assert.NotNull(InstanceTypes.Validate("local", allowLocal: false));
        Assert.DoesNotContain("Did you mean 'local'", InstanceTypes.Validate("lokal", allowLocal: false) ?? string.Empty, StringComparison.Ordinal);
    }

    [Fact]
    public void Should_refuse_nonsense_without_a_suggestion()
    {
        var problem = InstanceTypes.Validate("a-very-large-computer");
        Assert.NotNull(problem);
        Assert.DoesNotContain("Did you mean", problem, StringComparison.Ordinal);
    }

    [SkippableFact]
    public void Should_know_exactly_the_processing_instance_types_of_botocores_SageMaker_model()
    {
        Skip.IfNot(Directory.Exists(Path.Combine(BotocoreModel.DefaultDataDirectory, "sagemaker")), "python3-botocore is not installed");
        var model = BotocoreModel.Load(BotocoreModel.DefaultDataDirectory, "sagemaker");
        var enumeration = model.Shape("ProcessingInstanceType")["enum"]!.AsArray().Select(v => (string)v!).ToList();

        Assert.Equal(enumeration.Order(StringComparer.Ordinal), InstanceTypes.Known.Order(StringComparer.Ordinal));
    }
}
