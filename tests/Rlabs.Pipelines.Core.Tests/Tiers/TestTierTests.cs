using System.Reflection;
using Rlabs.Pipelines.Core.Tests.Aws;
using Rlabs.Pipelines.Tests.Running;
using Rlabs.Pipelines.Tests.Scheduling;

namespace Rlabs.Pipelines.Core.Tests.Tiers;

/// <summary>
/// build.ps1 Test -Fast leaves out the slow tiers by their xunit trait (Tier=Emulator|Ssh|Container). A test class
/// that starts the emulator, the sshd or the container engine without its trait would slip into the fast tier
/// and break the inner loop on a machine without them, so every such class must carry its tier.
/// </summary>
public sealed class TestTierTests
{
    private static readonly Type[] s_testClasses = typeof(TestTierTests).Assembly.GetTypes()
        .Where(t => t.IsClass && !t.IsAbstract && t.GetMethods().Any(m => m.GetCustomAttributes<FactAttribute>(inherit: true).Any()))
        .ToArray();

    public static TheoryData<string, string> SlowClasses()
    {
        var data = new TheoryData<string, string>();
        foreach (var type in s_testClasses)
        {
            foreach (var tier in RequiredTiers(type))
            {
                data.Add(type.FullName!, tier);
            }
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(SlowClasses))]
    public void A_class_that_needs_a_slow_service_carries_its_tier(string className, string tier)
    {
        var type = s_testClasses.Single(t => t.FullName == className);
        var tiers = type.GetCustomAttributesData()
            .Where(a => a.AttributeType == typeof(TraitAttribute) && (string?)a.ConstructorArguments[0].Value == "Tier")
            .Select(a => (string?)a.ConstructorArguments[1].Value)
            .ToList();
        Assert.True(tiers.Contains(tier), $"{className} needs the {tier} tier: add [Trait(\"Tier\", \"{tier}\")] so build.ps1 Test -Fast leaves it out.");
    }

    [Fact]
    public void The_slow_tiers_are_found_where_they_are_used()
    {
        // The rule above must see the classes it guards; if it saw none, it would prove nothing.
        var found = SlowClasses().Select(row => (string)row[1]).Distinct().OrderBy(t => t, StringComparer.Ordinal).ToArray();
        Assert.Equal(["Container", "Emulator", "Ssh"], found);
    }

    private static IEnumerable<string> RequiredTiers(Type type)
    {
        if (type.GetInterfaces().Any(i => i == typeof(IClassFixture<EmulatorFixture>)))
        {
            yield return "Emulator";
        }
        var collection = type.GetCustomAttribute<CollectionAttribute>() is null
            ? null
            : type.GetCustomAttributesData().Single(a => a.AttributeType == typeof(CollectionAttribute)).ConstructorArguments[0].Value as string;
        if (collection == SshServerGroup.Name)
        {
            yield return "Ssh";
        }
        if (collection == ContainerEngineTests.Name)
        {
            yield return "Container";
        }
    }
}
