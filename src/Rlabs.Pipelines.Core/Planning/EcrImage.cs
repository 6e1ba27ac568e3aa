using System.Diagnostics.CodeAnalysis;
using System.Text.RegularExpressions;

namespace Rlabs.Pipelines.Planning;

/// <summary>An image reference in an Amazon ECR private registry: pulling it needs an ECR login.</summary>
/// <param name="Registry">The registry host, e.g. 683313688378.dkr.ecr.us-east-1.amazonaws.com.</param>
/// <param name="Account">The AWS account that owns the registry.</param>
/// <param name="Region">The registry's region (the ECR login is made there).</param>
public sealed partial record EcrImage(string Registry, string Account, string Region)
{
    /// <summary>The DNS suffix of AWS endpoints in <paramref name="region"/> (China regions differ).</summary>
    public static string DomainFor(string region)
    {
        ArgumentNullException.ThrowIfNull(region);
        return region.StartsWith("cn-", StringComparison.OrdinalIgnoreCase) ? "amazonaws.com.cn" : "amazonaws.com";
    }

    /// <summary>Recognises <c>&lt;account&gt;.dkr.ecr[-fips].&lt;region&gt;.amazonaws.com[.cn]/repository[:tag|@digest]</c>.</summary>
    public static bool TryParse(string image, [NotNullWhen(true)] out EcrImage? ecr)
    {
        ArgumentNullException.ThrowIfNull(image);
        var match = EcrPattern().Match(image);
        ecr = match.Success ? new EcrImage(match.Groups["registry"].Value.ToLowerInvariant(), match.Groups["account"].Value, match.Groups["region"].Value.ToLowerInvariant()) : null;
        return ecr is not null;
    }

    [GeneratedRegex(@"^(?<registry>(?<account>\d{12})\.dkr\.ecr(?:-fips)?\.(?<region>[a-z]{2}(?:-[a-z]+)+-\d)\.amazonaws\.com(?:\.cn)?)/[^\s]+$", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex EcrPattern();
}
