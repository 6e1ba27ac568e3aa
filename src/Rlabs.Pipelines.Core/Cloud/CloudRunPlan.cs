using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Rlabs.Pipelines.Aws;
using Rlabs.Pipelines.Config;
using Rlabs.Pipelines.Packaging;
using Rlabs.Pipelines.Planning;
using Rlabs.Pipelines.Running;

namespace Rlabs.Pipelines.Cloud;

/// <summary>A local file that a run needs in S3 under a content-addressed key.</summary>
/// <param name="LocalPath">The file.</param>
/// <param name="Key">Its key.</param>
/// <param name="Sha256">Its content hash.</param>
public sealed record CloudArtifact(string LocalPath, string Key, string Sha256);

/// <summary>One planned SageMaker Processing job.</summary>
public sealed class CloudStepPlan
{
    internal CloudStepPlan(StepPlan plan, CreateProcessingJobRequest request, string inputsHash, string? inputUri, string outputUri)
    {
        Plan = plan;
        Request = request;
        InputsHash = inputsHash;
        InputUri = inputUri;
        OutputUri = outputUri;
    }

    /// <summary>The runtime-neutral step.</summary>
    public StepPlan Plan { get; }

    /// <summary>The step as written in the pipeline file.</summary>
    public RlabsPipelineStep Step => Plan.Step;

    /// <summary>Its position in the pipeline (0 for the first step).</summary>
    public int Index => Plan.Index;

    /// <summary>The CreateProcessingJob request the step sends.</summary>
    public CreateProcessingJobRequest Request { get; }

    /// <summary>Hash of everything that decides the step's result; -Resume compares it.</summary>
    public string InputsHash { get; }

    /// <summary>s3:// URI of the input data, or null.</summary>
    public string? InputUri { get; }

    /// <summary>s3:// URI the output is uploaded to.</summary>
    public string OutputUri { get; }

    /// <summary>The job name.</summary>
    public string JobName => Request.ProcessingJobName;
}

/// <summary>Everything a cloud run will do, computed without calling AWS (so -WhatIf can show it).</summary>
public sealed class CloudRunPlan
{
    internal CloudRunPlan(RunPlan run, string region, string bucket, bool bucketKnown, string prefix, SourcePackage source, IReadOnlyList<CloudArtifact> artifacts, IReadOnlyList<CloudStepPlan> steps, string? credentialsKey)
    {
        Run = run;
        Region = region;
        Bucket = bucket;
        BucketKnown = bucketKnown;
        Prefix = prefix;
        Source = source;
        Artifacts = artifacts;
        Steps = steps;
        CredentialsKey = credentialsKey;
    }

    /// <summary>The runtime-neutral plan.</summary>
    public RunPlan Run { get; }

    /// <summary>The request the run was planned from.</summary>
    public RunRequest Request => Run.Request;

    /// <summary>The region the jobs run in.</summary>
    public string Region { get; }

    /// <summary>The bucket (a placeholder naming the account when not yet known).</summary>
    public string Bucket { get; }

    /// <summary>Whether <see cref="Bucket"/> is final (false while the account is unknown).</summary>
    public bool BucketKnown { get; }

    /// <summary>
    /// The account that must own <see cref="Bucket"/> when the module chose it (the default bucket); every S3
    /// call to it then sends ExpectedBucketOwner. Null for a bucket the user named.
    /// </summary>
    public string? BucketOwner { get; init; }

    /// <summary>Key prefix of the project: rlabs/&lt;project&gt;.</summary>
    public string Prefix { get; }

    /// <summary>The source zip.</summary>
    public SourcePackage Source { get; }

    /// <summary>Artifacts to upload once.</summary>
    public IReadOnlyList<CloudArtifact> Artifacts { get; }

    /// <summary>One CreateProcessingJob per step, in order.</summary>
    public IReadOnlyList<CloudStepPlan> Steps { get; }

    /// <summary>Key of the stripped credentials file, when one was given.</summary>
    public string? CredentialsKey { get; }

    /// <summary>s3:// data root: step outputs land under it at &lt;output_path&gt;/&lt;job_id&gt;/.</summary>
    public string DataRoot => $"s3://{Bucket}/{Prefix}/data";

    /// <summary>Key of the run's manifest.</summary>
    public string ManifestKey => CloudNaming.ManifestKey(Prefix, Request.JobId);

    /// <summary>The tag key on a run's credentials copy that the bucket's expiry lifecycle rule matches.</summary>
    public const string CredentialsExpiryTagKey = "rlabs-expire";

    /// <summary>
    /// After how many days S3 deletes a run's credentials copy that nobody removed (a -NoWait run nobody waited
    /// for): the run's longest possible duration (every step's max_runtime, one after the other) plus a day,
    /// rounded up to 2, 7 or 30 days so a bucket holds at most three such rules.
    /// </summary>
    public int CredentialsExpiryDays
    {
        get
        {
            var seconds = Steps.Sum(s => (long)(s.Request.StoppingCondition?.MaxRuntimeInSeconds ?? 86_400));
            var days = (int)Math.Min(int.MaxValue, (seconds + 86_399) / 86_400) + 1;
            return days <= 2 ? 2 : days <= 7 ? 7 : 30;
        }
    }

    /// <summary>The tag value for <paramref name="days"/> (e.g. "credentials-7d").</summary>
    public static string CredentialsExpiryTagValue(int days) => string.Create(CultureInfo.InvariantCulture, $"credentials-{days}d");

    /// <summary>The lifecycle rule's id for <paramref name="days"/>.</summary>
    public static string CredentialsExpiryRuleId(int days) => string.Create(CultureInfo.InvariantCulture, $"rlabs-expire-run-credentials-{days}d");

    /// <summary>Every AWS call the run would make, for -WhatIf.</summary>
    public IEnumerable<string> Describe()
    {
        var pipeline = Request.Pipeline;
        yield return $"Pipeline {pipeline.Path} ({Steps.Count} steps) on SageMaker in {Region}, job id {Request.JobId}, project {pipeline.ProjectName}";
        if (!BucketKnown)
        {
            yield return "sts:GetCallerIdentity (to name the default bucket)";
        }
        yield return $"s3:HeadBucket {Bucket} (created with public access blocked and default encryption when missing)";
        foreach (var artifact in Artifacts)
        {
            yield return $"s3:PutObject s3://{Bucket}/{artifact.Key} from {artifact.LocalPath} (skipped when already there)";
        }
        if (CredentialsKey is not null)
        {
            var days = CredentialsExpiryDays;
            yield return $"s3:GetBucketLifecycleConfiguration {Bucket}, and s3:PutBucketLifecycleConfiguration when its rule '{CredentialsExpiryRuleId(days)}' (expire objects tagged {CredentialsExpiryTagKey}={CredentialsExpiryTagValue(days)} after {days} days) is missing; the bucket's other rules are kept";
            yield return $"s3:PutObject s3://{Bucket}/{CredentialsKey} (credentials without AWS keys, encrypted at rest, tagged {CredentialsExpiryTagKey}={CredentialsExpiryTagValue(days)}: S3 deletes it after {days} days if no Wait-/Stop-RlabsPipelineRun has)";
        }
        yield return $"s3:PutObject s3://{Bucket}/{ManifestKey} (run manifest)";
        foreach (var step in Steps)
        {
            var spec = step.Request.AppSpecification;
            var cluster = step.Request.ProcessingResources.ClusterConfig;
            yield return $"sagemaker:CreateProcessingJob {step.JobName} (step '{step.Step.Name}'): image {spec.ImageUri}, {cluster.InstanceCount} x {cluster.InstanceType}, input {step.InputUri ?? "(none)"} -> output {step.OutputUri}";
            yield return "  " + CommandLine.Format((spec.ContainerEntrypoint ?? []).Concat(spec.ContainerArguments ?? []));
            yield return $"sagemaker:DescribeProcessingJob {step.JobName} (polled) and logs:GetLogEvents /aws/sagemaker/ProcessingJobs {step.JobName}/*";
        }
    }
}

/// <summary>Key and name rules shared by planning, waiting and lookup.</summary>
public static class CloudNaming
{
    /// <summary>The default bucket SageMaker itself uses.</summary>
    public static string DefaultBucket(string region, string account) => $"sagemaker-{region}-{account}";

    /// <summary>Key prefix of a project.</summary>
    public static string ProjectPrefix(string projectName) => $"rlabs/{projectName}";

    /// <summary>Key of a run's manifest.</summary>
    public static string ManifestKey(string prefix, string jobId) => $"{prefix}/runs/{jobId}/run.json";

    /// <summary>Environment variable carrying the inputs hash, compared by -Resume.</summary>
    public const string InputsHashVariable = "RLABS_INPUTS_HASH";
}

/// <summary>Binds a run plan to SageMaker: packages the repository locally, hashes, and builds each step's CreateProcessingJob.</summary>
public static class ProcessingJobBinder
{
    private const int MaxEnvironmentValue = 256;

    /// <summary>Zips the repository into <paramref name="workDirectory"/> (deterministic, so its hash names it in S3).</summary>
    public static SourcePackage Package(RunRequest request, string workDirectory, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        var pipeline = request.Pipeline;
        Directory.CreateDirectory(workDirectory);
        var excluded = new List<string> { Path.Combine(pipeline.RepositoryPath, RunPlanner.WorkFolder) };
        if (request.Credentials is not null)
        {
            excluded.Add(request.Credentials.Path);
        }
        return SourcePackager.CreateZip(pipeline.RepositoryPath, Path.Combine(workDirectory, StepContract.SourceZipName), excluded, pipeline.Defaults.PackageSecrets, cancellationToken);
    }

    /// <summary>Whether the bucket name needs the account id (no -Bucket and no 'bucket:').</summary>
    public static bool NeedsAccount(RunRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        return request.Cloud.Bucket is null && request.Pipeline.Defaults.Bucket is null;
    }

    /// <summary>The run's bucket: the request's, else the pipeline's, else SageMaker's default (a placeholder while <paramref name="account"/> is unknown).</summary>
    public static string Bucket(RunRequest request, string region, string? account)
    {
        ArgumentNullException.ThrowIfNull(request);
        return request.Cloud.Bucket ?? request.Pipeline.Defaults.Bucket ?? (account is null ? $"sagemaker-{region}-<account id>" : CloudNaming.DefaultBucket(region, account));
    }

    /// <summary>The s3:// URI of a key under the project's data root.</summary>
    public static string DataUri(RunRequest request, string bucket, string key)
    {
        ArgumentNullException.ThrowIfNull(request);
        return $"s3://{bucket}/{CloudNaming.ProjectPrefix(request.Pipeline.ProjectName)}/data/{key}";
    }

    /// <summary>Binds the plan. <paramref name="account"/> is null under -WhatIf (no call is made to learn it).</summary>
    public static CloudRunPlan Bind(RunPlan run, string region, string? account, SourcePackage source)
    {
        ArgumentNullException.ThrowIfNull(run);
        ArgumentNullException.ThrowIfNull(source);
        var request = run.Request;
        var pipeline = request.Pipeline;
        var defaults = pipeline.Defaults;
        var workDirectory = Path.GetDirectoryName(source.ZipPath)!;
        var bucket = Bucket(request, region, account);
        var bucketKnown = !NeedsAccount(request) || account is not null;
        var roleArn = request.Cloud.RoleArn ?? defaults.RoleArn
            ?? throw new RlabsConfigException($"SageMaker needs an execution role: set 'role_arn:' in {pipeline.Path} (Invoke-RlabsPipeline also takes -RoleArn).", pipeline.Path);
        var prefix = CloudNaming.ProjectPrefix(pipeline.ProjectName);
        var kms = defaults.KmsKeyId;

        var zip = source.ZipPath;
        var artifacts = new Dictionary<string, CloudArtifact>(StringComparer.Ordinal);
        CloudArtifact Add(string file, string kind, string fileName)
        {
            var hash = HashFile(file);
            var artifact = new CloudArtifact(file, $"{prefix}/artifacts/{kind}/{hash}/{fileName}", hash);
            artifacts.TryAdd(artifact.Key, artifact);
            return artifact;
        }
        var sourceArtifact = new CloudArtifact(zip, $"{prefix}/artifacts/source/{source.Sha256}/{StepContract.SourceZipName}", source.Sha256);
        artifacts[sourceArtifact.Key] = sourceArtifact;
        var emptyRequirements = Path.Combine(workDirectory, StepContract.RequirementsName);
        File.WriteAllText(emptyRequirements, string.Empty);

        string? credentialsKey = request.Credentials is null ? null : request.Cloud.CredentialsKey ?? $"{prefix}/runs/{request.JobId}/credentials/{StepContract.CredentialsName}";
        var attempt = ProjectNaming.NewAttempt();
        var steps = new List<CloudStepPlan>();
        foreach (var stepPlan in run.Steps)
        {
            var step = stepPlan.Step;
            var code = Add(Path.Combine(pipeline.RepositoryPath, step.Code), "code", StepContract.CodeFileName(step));
            var requirementsFile = Path.Combine(pipeline.RepositoryPath, step.Requirements ?? StepContract.RequirementsName);
            var requirements = Add(File.Exists(requirementsFile) ? requirementsFile : emptyRequirements, "requirements", StepContract.RequirementsName);

            // An input the engine found empty is no ProcessingInput (SageMaker fails a job on an empty prefix):
            // the container command creates the empty folder instead.
            var inputUri = stepPlan.InputKey is null || stepPlan.InputEmpty ? null : DataUri(request, bucket, stepPlan.InputKey) + (stepPlan.InputIsZip ? string.Empty : "/");
            var outputUri = DataUri(request, bucket, stepPlan.OutputKey) + "/";
            var image = stepPlan.Image ?? throw new RlabsConfigException(stepPlan.ImageProblem ?? $"Step '{step.Name}' has no image.", pipeline.Path);
            var resources = stepPlan.Resources;
            var instanceType = resources.InstanceType;
            var count = resources.InstanceCount;
            var volume = resources.VolumeSizeGb;
            var maxRuntime = (int)resources.MaxRuntime.TotalSeconds;
            var processing = stepPlan.InputEmpty ? StepContract.WithEmptyInputFolder(stepPlan.Command) : stepPlan.Command;
            var command = processing.Entrypoint.Concat(processing.Arguments).ToList();

            var inputs = new List<ProcessingInput>
            {
                Input("code", $"s3://{bucket}/{KeyFolder(code.Key)}", StepContract.CodeFolder),
                Input("source", $"s3://{bucket}/{KeyFolder(sourceArtifact.Key)}", StepContract.SourceFolder),
                Input("requirements", $"s3://{bucket}/{KeyFolder(requirements.Key)}", StepContract.RequirementsFolder),
            };
            if (inputUri is not null)
            {
                inputs.Add(Input("data", inputUri, StepContract.DataFolder, step.InputDistribution ?? "FullyReplicated"));
            }
            if (credentialsKey is not null)
            {
                inputs.Add(Input("credentials", $"s3://{bucket}/{KeyFolder(credentialsKey)}", StepContract.CredentialsFolder));
            }

            var inputsHash = Hash(string.Join('\n', new[]
            {
                code.Sha256, source.Sha256, requirements.Sha256, image, instanceType, count.ToString(CultureInfo.InvariantCulture),
                volume.ToString(CultureInfo.InvariantCulture), maxRuntime.ToString(CultureInfo.InvariantCulture), inputUri ?? "-", outputUri,
                step.InputDistribution ?? "-", string.Join('\u001f', command),
                string.Join('\u001f', stepPlan.Environment.Select(e => e.Key + "=" + e.Value)),
            }));
            var environment = new Dictionary<string, string>(stepPlan.Environment, StringComparer.Ordinal)
            {
                [CloudNaming.InputsHashVariable] = inputsHash,
            };
            if (credentialsKey is not null)
            {
                environment[StepContract.CredentialsVariable] = StepContract.ContainerCredentialsPath;
            }
            foreach (var (name, value) in environment)
            {
                if (value.Length > MaxEnvironmentValue)
                {
                    throw new RlabsConfigException($"The environment variable '{name}' of step '{step.Name}' is {value.Length} characters long; SageMaker allows {MaxEnvironmentValue}. Shorten it in {pipeline.Path}.", pipeline.Path);
                }
            }
            if (environment.Count > 100)
            {
                throw new RlabsConfigException($"Step '{step.Name}' has {environment.Count} environment variables; SageMaker allows 100.", pipeline.Path);
            }

            var tags = new List<AwsTag>
            {
                new() { Key = "rlabs:project", Value = pipeline.ProjectName },
                new() { Key = "rlabs:pipeline", Value = pipeline.Name },
                new() { Key = "rlabs:job-id", Value = request.JobId },
                new() { Key = "rlabs:step", Value = step.Name },
            };
            tags.AddRange(defaults.Tags.Select(t => new AwsTag { Key = t.Key, Value = t.Value }));

            var jobRequest = new CreateProcessingJobRequest
            {
                ProcessingJobName = ProjectNaming.JobName(pipeline.ProjectName, request.JobId, step.JobSuffix, attempt),
                ProcessingInputs = inputs,
                ProcessingOutputConfig = new ProcessingOutputConfig
                {
                    Outputs = [new ProcessingOutput { OutputName = "output", S3Output = new ProcessingS3Output { S3Uri = outputUri, LocalPath = $"{StepContract.ContainerRoot}/{StepContract.OutputFolder}", S3UploadMode = "EndOfJob" } }],
                    KmsKeyId = kms,
                },
                ProcessingResources = new ProcessingResources
                {
                    ClusterConfig = new ProcessingClusterConfig { InstanceCount = count, InstanceType = instanceType, VolumeSizeInGB = volume, VolumeKmsKeyId = kms },
                },
                StoppingCondition = new ProcessingStoppingCondition { MaxRuntimeInSeconds = maxRuntime },
                AppSpecification = new AppSpecification
                {
                    ImageUri = image,
                    ContainerEntrypoint = [.. processing.Entrypoint],
                    ContainerArguments = [.. processing.Arguments],
                },
                Environment = environment,
                RoleArn = roleArn,
                Tags = tags,
                NetworkConfig = NetworkFor(step, defaults),
            };
            steps.Add(new CloudStepPlan(stepPlan, jobRequest, inputsHash, inputUri, outputUri));
        }
        return new CloudRunPlan(run, region, bucket, bucketKnown, prefix, source, artifacts.Values.ToList(), steps, credentialsKey)
        {
            BucketOwner = NeedsAccount(request) ? account : null,
        };
    }

    private static NetworkConfig? NetworkFor(RlabsPipelineStep step, PipelineDefaults defaults)
    {
        var isolation = step.NetworkIsolation ?? defaults.NetworkIsolation;
        var vpc = defaults.Subnets.Count > 0 ? new VpcConfig { Subnets = defaults.Subnets, SecurityGroupIds = defaults.SecurityGroupIds } : null;
        return isolation is null && vpc is null ? null : new NetworkConfig { EnableNetworkIsolation = isolation, VpcConfig = vpc };
    }

    private static ProcessingInput Input(string name, string uri, string folder, string? distribution = null) => new()
    {
        InputName = name,
        S3Input = new ProcessingS3Input
        {
            S3Uri = uri,
            LocalPath = $"{StepContract.ContainerRoot}/{folder}",
            S3DataType = "S3Prefix",
            S3InputMode = "File",
            S3DataDistributionType = distribution ?? "FullyReplicated",
        },
    };

    private static string KeyFolder(string key) => key[..(key.LastIndexOf('/') + 1)];

    private static string HashFile(string file)
    {
        using var stream = File.OpenRead(file);
        return Convert.ToHexStringLower(SHA256.HashData(stream));
    }

    private static string Hash(string text) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)))[..32];
}
