namespace Rlabs.Pipelines.Planning;

/// <summary>
/// SageMaker's prebuilt scikit-learn processing image (framework 1.2-1, cpu, py3) per region: the default
/// image of every step, in the cloud and in local containers alike. Accounts from the SageMaker Python
/// SDK's image_uri_config/sklearn.json.
/// </summary>
public static class DefaultImages
{
    /// <summary>Repository name of the image.</summary>
    public const string Repository = "sagemaker-scikit-learn";

    /// <summary>Tag of the image.</summary>
    public const string Tag = "1.2-1-cpu-py3";

    private static readonly Dictionary<string, string> s_accounts = new(StringComparer.Ordinal)
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
    };

    /// <summary>Regions that host the image.</summary>
    public static IReadOnlyCollection<string> Regions => s_accounts.Keys;

    /// <summary>The image URI for <paramref name="region"/>, or null when SageMaker does not host it there.</summary>
    public static string? ScikitLearn(string region)
    {
        if (!s_accounts.TryGetValue(region, out var account))
        {
            return null;
        }
        var domain = region.StartsWith("cn-", StringComparison.Ordinal) ? "amazonaws.com.cn" : "amazonaws.com";
        return $"{account}.dkr.ecr.{region}.{domain}/{Repository}:{Tag}";
    }

    /// <summary>
    /// <see cref="Resolve"/> for a run that may not know its region (a local container run): only a step that
    /// needs the default image needs one, and then the message says how to give it.
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
                $"Step '{step.Name}' names no image, and the default image ({Repository}:{Tag}, SageMaker's scikit-learn processing image) depends on the AWS region, which is not known. Pass -Region (or set it in the credentials file, the AWS profile or AWS_REGION), or set 'image:' in {pipeline.Path}.",
                pipeline.Path);
        }
        return Resolve(pipeline, step, region.Trim());
    }

    /// <summary>The image a step runs in: the step's, else the pipeline's, else the region's default.</summary>
    public static string Resolve(RlabsPipeline pipeline, RlabsPipelineStep step, string region) =>
        step.Image ?? pipeline.Defaults.Image ?? ScikitLearn(region)
        ?? throw new RlabsConfigException(
            $"SageMaker hosts no prebuilt scikit-learn image in region '{region}'. Set 'image:' in {pipeline.Path} (for the pipeline or step '{step.Name}') to an image URI in that region.",
            pipeline.Path);
}
