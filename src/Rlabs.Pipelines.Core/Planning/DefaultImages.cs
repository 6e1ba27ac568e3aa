using System.Collections.Frozen;
using System.Diagnostics.CodeAnalysis;

namespace Rlabs.Pipelines.Planning;

/// <summary>
/// The container image a step runs in when neither the step nor the pipeline names one: SageMaker's
/// prebuilt scikit-learn processing image, the same locally (<c>-LocalRuntime Container</c>) and in the cloud.
/// The one place that knows its registries, so both runners always agree.
/// </summary>
public static class DefaultImages
{
    /// <summary>ECR repository of the image.</summary>
    public const string Repository = "sagemaker-scikit-learn";

    /// <summary>Tag of the image (framework 1.2-1, CPU, Python 3).</summary>
    public const string Tag = "1.2-1-cpu-py3";

    // From the SageMaker Python SDK's image_uri_config/sklearn.json (framework version 1.2-1): the AWS
    // account that hosts the image in each region. A region missing here has no prebuilt image.
    private static readonly FrozenDictionary<string, string> s_accounts = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        ["af-south-1"] = "510948584623",
        ["ap-east-1"] = "651117190479",
        ["ap-northeast-1"] = "354813040037",
        ["ap-northeast-2"] = "366743142698",
        ["ap-northeast-3"] = "867004704886",
        ["ap-south-1"] = "720646828776",
        ["ap-south-2"] = "628508329040",
        ["ap-southeast-1"] = "121021644041",
        ["ap-southeast-2"] = "783357654285",
        ["ap-southeast-3"] = "951798379941",
        ["ap-southeast-4"] = "106583098589",
        ["ca-central-1"] = "341280168497",
        ["cn-north-1"] = "450853457545",
        ["cn-northwest-1"] = "451049120500",
        ["eu-central-1"] = "492215442770",
        ["eu-central-2"] = "680994064768",
        ["eu-north-1"] = "662702820516",
        ["eu-south-1"] = "978288397137",
        ["eu-south-2"] = "104374241257",
        ["eu-west-1"] = "141502667606",
        ["eu-west-2"] = "764974769150",
        ["eu-west-3"] = "659782779980",
        ["me-central-1"] = "272398656194",
        ["me-south-1"] = "801668240914",
        ["sa-east-1"] = "737474898029",
        ["us-east-1"] = "683313688378",
        ["us-east-2"] = "257758044811",
        ["us-gov-east-1"] = "237065988967",
        ["us-gov-west-1"] = "414596584902",
        ["us-west-1"] = "746614075791",
        ["us-west-2"] = "246618743249",
    }.ToFrozenDictionary(StringComparer.Ordinal);

    /// <summary>Regions that host the image.</summary>
    public static IEnumerable<string> Regions => s_accounts.Keys.Order(StringComparer.Ordinal);

    /// <summary>The image URI for <paramref name="region"/>, or false when SageMaker has none there.</summary>
    public static bool TryGetScikitLearnImage(string region, [NotNullWhen(true)] out string? imageUri)
    {
        ArgumentNullException.ThrowIfNull(region);
        if (s_accounts.TryGetValue(region.Trim().ToLowerInvariant(), out var account))
        {
            imageUri = $"{account}.dkr.ecr.{region.Trim().ToLowerInvariant()}.{EcrImage.DomainFor(region)}/{Repository}:{Tag}";
            return true;
        }
        imageUri = null;
        return false;
    }

    /// <summary>
    /// The image a step runs in: its <c>image</c>, else the pipeline's, else the scikit-learn image of
    /// <paramref name="region"/>. Throws <see cref="RlabsConfigException"/> naming the fix when there is none.
    /// </summary>
    public static string ForStep(RlabsPipeline pipeline, RlabsPipelineStep step, string? region)
    {
        ArgumentNullException.ThrowIfNull(pipeline);
        ArgumentNullException.ThrowIfNull(step);
        if ((step.Image ?? pipeline.Defaults.Image) is { } image)
        {
            return image;
        }
        if (string.IsNullOrWhiteSpace(region))
        {
            throw new RlabsConfigException(
                $"Step '{step.Name}' names no image, and the default image ({Repository}:{Tag}, SageMaker's scikit-learn processing image) depends on the AWS region, which is not known. Pass -Region (or set it in the credentials file, the AWS profile or AWS_REGION), or set 'image:' in the pipeline file.",
                pipeline.Path);
        }
        if (TryGetScikitLearnImage(region, out var uri))
        {
            return uri;
        }
        throw new RlabsConfigException(
            $"SageMaker has no prebuilt scikit-learn image in the region '{region}', so step '{step.Name}' needs an 'image:' in the pipeline file. Regions with the image: {string.Join(", ", Regions)}.",
            pipeline.Path);
    }
}
