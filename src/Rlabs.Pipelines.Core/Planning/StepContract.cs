namespace Rlabs.Pipelines.Planning;

/// <summary>The files a code script is handed; local paths or container paths.</summary>
/// <param name="CodeFile">The code script.</param>
/// <param name="InputDataZip">The input when it is a zip file.</param>
/// <param name="InputDataPath">The input when it is a folder.</param>
/// <param name="OutputDataPath">Where the script writes its output.</param>
/// <param name="SourceCodeZip">The repository zip.</param>
/// <param name="RequirementsPath">The requirements file.</param>
public sealed record StepPaths(string CodeFile, string? InputDataZip, string? InputDataPath, string OutputDataPath, string SourceCodeZip, string RequirementsPath);

/// <summary>A container's entrypoint and arguments, and the container paths they name.</summary>
/// <param name="Entrypoint">ContainerEntrypoint: the interpreter and the code script.</param>
/// <param name="Arguments">ContainerArguments: the contract's arguments then the params.</param>
/// <param name="Paths">The container paths in the arguments.</param>
public sealed record ProcessingCommand(IReadOnlyList<string> Entrypoint, IReadOnlyList<string> Arguments, StepPaths Paths);

/// <summary>
/// The seed's code-script contract, shared by every runner so a step gets the same arguments locally,
/// in a container and on SageMaker: the mandatory arguments first, then each param as --name value.
/// </summary>
public static class StepContract
{
    /// <summary>Root of the SageMaker Processing container layout.</summary>
    public const string ContainerRoot = "/opt/ml/processing";

    /// <summary>The only placeholder in paths and params.</summary>
    public const string JobIdPlaceholder = "<job_id>";

    /// <summary>File name of the repository zip.</summary>
    public const string SourceZipName = "source.zip";

    /// <summary>File name of the requirements file the script receives.</summary>
    public const string RequirementsName = "requirements.txt";

    /// <summary>File name of the stripped credentials file.</summary>
    public const string CredentialsName = "credentials.yaml";

    /// <summary>Environment variable holding the stripped credentials file's path.</summary>
    public const string CredentialsVariable = "RLABS_CREDENTIALS_FILE";

    /// <summary>Relative folders under the step root, the same locally and in the container.</summary>
    public const string CodeFolder = "input/code";

    /// <summary>Folder of the source zip.</summary>
    public const string SourceFolder = "input/source";

    /// <summary>Folder of the requirements file.</summary>
    public const string RequirementsFolder = "input/requirements";

    /// <summary>Folder of the input data.</summary>
    public const string DataFolder = "input/data";

    /// <summary>Folder of the credentials file.</summary>
    public const string CredentialsFolder = "input/credentials";

    /// <summary>Folder the script writes its output to.</summary>
    public const string OutputFolder = "output";

    /// <summary>Replaces &lt;job_id&gt; with the job id.</summary>
    public static string Substitute(string text, string jobId) => text.Replace(JobIdPlaceholder, jobId, StringComparison.Ordinal);

    /// <summary>The arguments after the script path.</summary>
    public static IReadOnlyList<string> Arguments(string jobId, StepPaths paths, IReadOnlyDictionary<string, string> parameters)
    {
        var arguments = new List<string>(12 + (parameters.Count * 2)) { "--job-id", jobId };
        if (paths.InputDataZip is not null)
        {
            arguments.Add("--input-data-zip");
            arguments.Add(paths.InputDataZip);
        }
        if (paths.InputDataPath is not null)
        {
            arguments.Add("--input-data-path");
            arguments.Add(paths.InputDataPath);
        }
        arguments.Add("--output-data-path");
        arguments.Add(paths.OutputDataPath);
        arguments.Add("--source-code-zip");
        arguments.Add(paths.SourceCodeZip);
        arguments.Add("--requirements-path");
        arguments.Add(paths.RequirementsPath);
        foreach (var (name, value) in parameters)
        {
            arguments.Add("--" + name);
            arguments.Add(Substitute(value, jobId));
        }
        return arguments;
    }

    /// <summary>The paths inside a SageMaker Processing container (used by the container and cloud runners).</summary>
    public static StepPaths ContainerPaths(RlabsPipelineStep step, string? inputZipName, bool hasInput) => new(
        $"{ContainerRoot}/{CodeFolder}/{CodeFileName(step)}",
        hasInput && inputZipName is not null ? $"{ContainerRoot}/{DataFolder}/{inputZipName}" : null,
        hasInput && inputZipName is null ? $"{ContainerRoot}/{DataFolder}" : null,
        $"{ContainerRoot}/{OutputFolder}",
        $"{ContainerRoot}/{SourceFolder}/{SourceZipName}",
        $"{ContainerRoot}/{RequirementsFolder}/{RequirementsName}");

    /// <summary>
    /// The container command a step runs, identical for SageMaker (ContainerEntrypoint = python3 and the
    /// script, ContainerArguments = the rest) and local containers, so a step sees no difference.
    /// </summary>
    public static ProcessingCommand ContainerCommand(RlabsPipelineStep step, string jobId, string? inputZipName, bool hasInput)
    {
        ArgumentNullException.ThrowIfNull(step);
        var paths = ContainerPaths(step, inputZipName, hasInput);
        return new ProcessingCommand([ContainerInterpreter, paths.CodeFile], Arguments(jobId, paths, step.Params), paths);
    }

    /// <summary>The interpreter SageMaker's prebuilt images run code scripts with.</summary>
    public const string ContainerInterpreter = "python3";

    /// <summary>
    /// The command of a step that runs with an empty input folder on SageMaker: the data folder is created
    /// in the container (an empty S3 prefix cannot be a ProcessingInput), then python3 runs as usual with
    /// the same argv.
    /// </summary>
    public static ProcessingCommand WithEmptyInputFolder(ProcessingCommand command)
    {
        ArgumentNullException.ThrowIfNull(command);
        return command with
        {
            Entrypoint = ["/bin/sh", "-c", $"mkdir -p {ContainerRoot}/{DataFolder} && exec \"$@\"", "sh", .. command.Entrypoint],
        };
    }

    /// <summary>Whether an input key names one zip file (handed as --input-data-zip) rather than a folder.</summary>
    public static bool IsZipInput(string? inputKey) =>
        inputKey is not null && inputKey.EndsWith(".zip", StringComparison.OrdinalIgnoreCase);

    /// <summary>The input's file name when it is a zip (passed as --input-data-zip), else null.</summary>
    public static string? InputZipName(string? inputKey) => IsZipInput(inputKey) ? Path.GetFileName(inputKey) : null;

    /// <summary>Variable carrying the job id (also lets Get-RlabsPipelineRun find a run's jobs).</summary>
    public const string JobIdVariable = "RLABS_JOB_ID";

    /// <summary>Variable carrying the step name.</summary>
    public const string StepVariable = "RLABS_STEP_NAME";

    /// <summary>Variable carrying the pipeline name.</summary>
    public const string PipelineVariable = "RLABS_PIPELINE";

    /// <summary>
    /// The variables a step's code script gets, whatever runs it: the pipeline's and the step's
    /// <c>environment</c> (&lt;job_id&gt; replaced), Python's unbuffered UTF-8 output, the job id, step and
    /// pipeline names. Each runtime adds <see cref="CredentialsVariable"/> at its own root.
    /// </summary>
    public static IReadOnlyDictionary<string, string> Environment(RlabsPipeline pipeline, RlabsPipelineStep step, string jobId)
    {
        ArgumentNullException.ThrowIfNull(pipeline);
        ArgumentNullException.ThrowIfNull(step);
        var environment = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var (name, value) in pipeline.Defaults.Environment.Concat(step.Environment))
        {
            environment[name] = Substitute(value, jobId);
        }
        environment["PYTHONUNBUFFERED"] = "1";
        environment["PYTHONIOENCODING"] = "utf-8";
        environment["PYTHONUTF8"] = "1";
        environment[JobIdVariable] = jobId;
        environment[StepVariable] = step.Name;
        environment[PipelineVariable] = pipeline.Name;
        return environment;
    }

    /// <summary>The stripped credentials file inside a container.</summary>
    public static string ContainerCredentialsPath => $"{ContainerRoot}/{CredentialsFolder}/{CredentialsName}";

    /// <summary>The code script's file name.</summary>
    public static string CodeFileName(RlabsPipelineStep step) => Path.GetFileName(step.Code.Replace('\\', '/'));

    /// <summary>Where a step's output lands relative to the data root: &lt;output_path&gt;/&lt;job_id&gt;.</summary>
    public static string OutputKey(RlabsPipelineStep step, string jobId) =>
        $"{Substitute(step.OutputPath, jobId).Replace('\\', '/').Trim('/')}/{jobId}";

    /// <summary>The step's input relative to the data root, or null.</summary>
    public static string? InputKey(RlabsPipelineStep step, string jobId) =>
        step.InputData is null ? null : Substitute(step.InputData, jobId).Replace('\\', '/').Trim('/');
}
