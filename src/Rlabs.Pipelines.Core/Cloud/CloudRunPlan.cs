using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Rlabs.Pipelines.Aws;
using Rlabs.Pipelines.Config;
using Rlabs.Pipelines.Packaging;
using Rlabs.Pipelines.Planning;
using Rlabs.Pipelines.Running;

namespace Rlabs.Pipelines.Cloud;

/// <summary>What a cloud run needs besides the local request: where to put things and who runs them.</summary>
public sealed class CloudRunRequest
{
    /// <summary>The validated pipeline.</summary>
    public required RlabsPipeline Pipeline { get; init; }

    /// <summary>The run's job id.</summary>
    public required string JobId { get; init; }

    /// <summary>-InstanceType when given explicitly: applies to every step.</summary>
    public string? InstanceType { get; init; }

    /// <summary>The seed's credentials file, loaded.</summary>
    public CredentialsFile? Credentials { get; init; }

    /// <summary>-RoleArn, else the pipeline's role_arn.</summary>
    public string? RoleArn { get; init; }

    /// <summary>-Bucket, else the pipeline's bucket, else sagemaker-&lt;region&gt;-&lt;account&gt;.</summary>
    public string? Bucket { get; init; }

    /// <summary>Skip steps whose job already completed with the same inputs.</summary>
    public bool Resume { get; init; }
}

/// <summary>A local file that a run needs in S3 under a content-addressed key.</summary>
/// <param name="LocalPath">The file.</param>
/// <param name="Key">Its key.</param>
/// <param name="Sha256">Its content hash.</param>
public sealed record CloudArtifact(string LocalPath, string Key, string Sha256);

/// <summary>One planned SageMaker Processing job.</summary>
public sealed class CloudStepPlan
{
    internal CloudStepPlan(RlabsPipelineStep step, int index, CreateProcessingJobRequest request, string inputsHash, string? inputUri, string outputUri)
    {
        Step = step;
        Index = index;
        Request = request;
        InputsHash = inputsHash;
        InputUri = inputUri;
        OutputUri = outputUri;
    }

    /// <summary>The step.</summary>
    public RlabsPipelineStep Step { get; }

    /// <summary>Its position in the pipeline.</summary>
    public int Index { get; }

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
    internal CloudRunPlan(CloudRunRequest request, string region, string bucket, bool bucketKnown, string prefix, SourcePackage source, IReadOnlyList<CloudArtifact> artifacts, IReadOnlyList<CloudStepPlan> steps, string? credentialsKey)
    {
        Request = request;
        Region = region;
        Bucket = bucket;
        BucketKnown = bucketKnown;
        Prefix = prefix;
        Source = source;
        Artifacts = artifacts;
        Steps = steps;
        CredentialsKey = credentialsKey;
    }

    /// <summary>The request.</summary>
    public CloudRunRequest Request { get; }

    /// <summary>The region.</summary>
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

    /// <summary>The jobs.</summary>
    public IReadOnlyList<CloudStepPlan> Steps { get; }

    /// <summary>Key of the stripped credentials file, when one was given.</summary>
    public string? CredentialsKey { get; }

    /// <summary>s3:// data root: step outputs land under it at &lt;output_path&gt;/&lt;job_id&gt;/.</summary>
    public string DataRoot => $"s3://{Bucket}/{Prefix}/data";

    /// <summary>Key of the run's manifest.</summary>
    public string ManifestKey => CloudNaming.ManifestKey(Prefix, Request.JobId);

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
            yield return $"s3:PutObject s3://{Bucket}/{CredentialsKey} (credentials without AWS keys, encrypted at rest)";
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

    /// <summary>Environment variable carrying the job id (also lets Get-RlabsPipelineRun find a run's jobs).</summary>
    public const string JobIdVariable = "RLABS_JOB_ID";

    /// <summary>Environment variable carrying the step name.</summary>
    public const string StepVariable = "RLABS_STEP_NAME";

    /// <summary>Environment variable carrying the pipeline name.</summary>
    public const string PipelineVariable = "RLABS_PIPELINE";

    /// <summary>Environment variable carrying the inputs hash, compared by -Resume.</summary>
    public const string InputsHashVariable = "RLABS_INPUTS_HASH";
}

/// <summary>Plans cloud runs: packages the repository locally, hashes, and builds each CreateProcessingJob.</summary>
public static class CloudRunPlanner
{
    private const int MaxEnvironmentValue = 256;

    /// <summary>Zips the repository into <paramref name="workDirectory"/> (deterministic, so its hash names it in S3).</summary>
    public static SourcePackage Package(CloudRunRequest request, string workDirectory, CancellationToken cancellationToken)
    {
        var pipeline = request.Pipeline;
        Directory.CreateDirectory(workDirectory);
        var excluded = new List<string> { Path.Combine(pipeline.RepositoryPath, LocalRunPlanner.WorkFolder) };
        if (request.Credentials is not null)
        {
            excluded.Add(request.Credentials.Path);
        }
        return SourcePackager.CreateZip(pipeline.RepositoryPath, Path.Combine(workDirectory, StepContract.SourceZipName), excluded, pipeline.Defaults.PackageSecrets, cancellationToken);
    }

    /// <summary>Whether the bucket name needs the account id (no -Bucket and no 'bucket:').</summary>
    public static bool NeedsAccount(CloudRunRequest request) => request.Bucket is null && request.Pipeline.Defaults.Bucket is null;

    /// <summary>Plans the run. <paramref name="account"/> is null under -WhatIf (no call is made to learn it).</summary>
    public static CloudRunPlan Plan(CloudRunRequest request, string region, string? account, SourcePackage source)
    {
        var pipeline = request.Pipeline;
        var defaults = pipeline.Defaults;
        var workDirectory = Path.GetDirectoryName(source.ZipPath)!;
        var bucket = request.Bucket ?? defaults.Bucket ?? (account is null ? $"sagemaker-{region}-<account id>" : CloudNaming.DefaultBucket(region, account));
        var bucketKnown = request.Bucket is not null || defaults.Bucket is not null || account is not null;
        var roleArn = request.RoleArn ?? defaults.RoleArn
            ?? throw new RlabsConfigException($"SageMaker needs an execution role: pass -RoleArn or set 'role_arn:' in {pipeline.Path}.", pipeline.Path);
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

        string? credentialsKey = request.Credentials is null ? null : $"{prefix}/runs/{request.JobId}/credentials/{StepContract.CredentialsName}";
        var attempt = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(2));
        var steps = new List<CloudStepPlan>();
        for (var index = 0; index < pipeline.Steps.Count; index++)
        {
            var step = pipeline.Steps[index];
            var code = Add(Path.Combine(pipeline.RepositoryPath, step.Code), "code", StepContract.CodeFileName(step));
            var requirementsFile = Path.Combine(pipeline.RepositoryPath, step.Requirements ?? StepContract.RequirementsName);
            var requirements = Add(File.Exists(requirementsFile) ? requirementsFile : emptyRequirements, "requirements", StepContract.RequirementsName);

            var inputKey = StepContract.InputKey(step, request.JobId);
            var inputIsZip = inputKey is not null && inputKey.EndsWith(".zip", StringComparison.OrdinalIgnoreCase);
            var inputUri = inputKey is null ? null : $"s3://{bucket}/{prefix}/data/{inputKey}{(inputIsZip ? string.Empty : "/")}";
            var outputUri = $"s3://{bucket}/{prefix}/data/{StepContract.OutputKey(step, request.JobId)}/";
            var image = DefaultImages.Resolve(pipeline, step, region);
            var instanceType = request.InstanceType ?? step.InstanceType ?? defaults.InstanceType ?? "ml.t3.xlarge";
            var count = step.InstanceCount ?? defaults.InstanceCount ?? 1;
            var volume = step.VolumeSizeGb ?? defaults.VolumeSizeGb ?? 30;
            var maxRuntime = (int)(step.MaxRuntime ?? defaults.MaxRuntime ?? TimeSpan.FromDays(1)).TotalSeconds;
            var command = StepContract.ContainerCommand(step, request.JobId, inputIsZip ? Path.GetFileName(inputKey) : null, inputKey is not null);

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

            var userEnvironment = new SortedDictionary<string, string>(StringComparer.Ordinal);
            foreach (var (name, value) in defaults.Environment.Concat(step.Environment))
            {
                userEnvironment[name] = StepContract.Substitute(value, request.JobId);
            }
            var inputsHash = Hash(string.Join('\n', new[]
            {
                code.Sha256, source.Sha256, requirements.Sha256, image, instanceType, count.ToString(CultureInfo.InvariantCulture),
                volume.ToString(CultureInfo.InvariantCulture), maxRuntime.ToString(CultureInfo.InvariantCulture), inputUri ?? "-", outputUri,
                step.InputDistribution ?? "-", string.Join('\u001f', command),
                string.Join('\u001f', userEnvironment.Select(e => e.Key + "=" + e.Value)),
            }));
            var environment = new Dictionary<string, string>(userEnvironment, StringComparer.Ordinal)
            {
                ["PYTHONUNBUFFERED"] = "1",
                [CloudNaming.JobIdVariable] = request.JobId,
                [CloudNaming.StepVariable] = step.Name,
                [CloudNaming.PipelineVariable] = pipeline.Name,
                [CloudNaming.InputsHashVariable] = inputsHash,
            };
            if (credentialsKey is not null)
            {
                environment[StepContract.CredentialsVariable] = $"{StepContract.ContainerRoot}/{StepContract.CredentialsFolder}/{StepContract.CredentialsName}";
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
                    ContainerEntrypoint = command.Take(2).ToList(),
                    ContainerArguments = command.Skip(2).ToList(),
                },
                Environment = environment,
                RoleArn = roleArn,
                Tags = tags,
                NetworkConfig = NetworkFor(step, defaults),
            };
            steps.Add(new CloudStepPlan(step, index, jobRequest, inputsHash, inputUri, outputUri));
        }
        return new CloudRunPlan(request, region, bucket, bucketKnown, prefix, source, artifacts.Values.ToList(), steps, credentialsKey)
        {
            BucketOwner = request.Bucket is null && defaults.Bucket is null ? account : null,
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
