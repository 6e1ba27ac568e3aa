using System.Text.RegularExpressions;

namespace Rlabs.Pipelines.Scheduling;

/// <summary>
/// Where a schedule lives on the instance, all under the SSH user's home:
/// <c>~/rlabs/&lt;project&gt;/repo</c> (the synced repository), <c>credentials.yaml</c> (mode 600),
/// <c>schedules/&lt;pipeline&gt;/</c> (scripts and logs), and <c>~/rlabs/modules/Rlabs.Pipelines</c>.
/// </summary>
public sealed partial record InstanceLayout
{
    /// <summary>Creates the layout; names must already be sanitized (letters, digits, hyphens).</summary>
    public InstanceLayout(string home, string projectName, string pipelineName)
    {
        if (!home.StartsWith('/') || home.Any(char.IsControl))
        {
            throw new ArgumentException($"The remote home folder '{home}' must be an absolute path without control characters.", nameof(home));
        }
        if (!SafeName().IsMatch(projectName))
        {
            throw new ArgumentException($"The project name '{projectName}' must hold only letters, digits and hyphens here.", nameof(projectName));
        }
        if (!SafeName().IsMatch(pipelineName))
        {
            throw new ArgumentException($"The pipeline name '{pipelineName}' must hold only letters, digits and hyphens here.", nameof(pipelineName));
        }
        Home = home.TrimEnd('/');
        ProjectName = projectName;
        PipelineName = pipelineName;
    }

    /// <summary>The SSH user's home folder on the instance.</summary>
    public string Home { get; }

    /// <summary>Sanitized project name.</summary>
    public string ProjectName { get; }

    /// <summary>Sanitized pipeline name.</summary>
    public string PipelineName { get; }

    /// <summary>Everything this module puts on the instance.</summary>
    public string Root => $"{Home}/rlabs";

    /// <summary>The project's folder.</summary>
    public string ProjectDirectory => $"{Root}/{ProjectName}";

    /// <summary>The synced repository.</summary>
    public string RepositoryDirectory => $"{ProjectDirectory}/repo";

    /// <summary>The credentials file, readable by the user only.</summary>
    public string CredentialsFile => $"{ProjectDirectory}/credentials.yaml";

    /// <summary>The module copy shared by the user's schedules.</summary>
    public string ModuleDirectory => $"{Root}/modules/Rlabs.Pipelines";

    /// <summary>The module manifest that run and setup import.</summary>
    public string ModulePath => $"{ModuleDirectory}/Rlabs.Pipelines.psd1";

    /// <summary>This pipeline's scripts, lock and logs.</summary>
    public string ScheduleDirectory => $"{ProjectDirectory}/schedules/{PipelineName}";

    /// <summary>The run script cron starts at boot.</summary>
    public string RunScript => $"{ScheduleDirectory}/run.sh";

    /// <summary>Run logs; latest.log points at the newest.</summary>
    public string LogDirectory => $"{ScheduleDirectory}/logs";

    /// <summary>A file whose presence keeps the instance up after a run (for debugging).</summary>
    public string NoShutdownFile => $"{ScheduleDirectory}/no-shutdown";

    /// <summary>The Python environment for steps run on the instance itself.</summary>
    public string PythonEnvironment => $"{ProjectDirectory}/venv";

    /// <summary>Marks this pipeline's crontab line; the trailing ':' keeps 'p/a' from matching 'p/ab'.</summary>
    public string CronMarker => $"rlabs-schedule:{ProjectName}/{PipelineName}:";

    /// <summary>The manifest that records what a synced folder holds (kept beside it, not in it).</summary>
    public static string ManifestPathFor(string remoteDirectory) => remoteDirectory.TrimEnd('/') + ".rlabs-manifest";

    [GeneratedRegex("^[A-Za-z0-9](-*[A-Za-z0-9])*$", RegexOptions.CultureInvariant)]
    private static partial Regex SafeName();
}

/// <summary>
/// The bash scripts a schedule installs on the instance, generated from templates in which every value is
/// a single-quoted shell word (<see cref="ShellQuote"/>). Only sanitized project and pipeline names appear
/// in comments.
/// </summary>
public static partial class InstanceScripts
{
    /// <summary>The setup script's file name in the schedule folder.</summary>
    public const string SetupScriptName = "setup.sh";

    /// <summary>The run script's file name.</summary>
    public const string RunScriptName = "run.sh";

    /// <summary>The crontab edit script's file name.</summary>
    public const string CronScriptName = "cron.sh";

    /// <summary>The PowerShell script run.sh hands the values to.</summary>
    public const string RunPipelineScriptName = "run-pipeline.ps1";

    /// <summary>Checks the SageMaker instance type the instance will run the pipeline with; null when valid.</summary>
    public static string? ValidateInstanceType(string instanceType) =>
        InstanceTypes.IsValid(instanceType)
            ? null
            : $"The SageMaker instance type '{instanceType}' is not valid: use an 'ml.' type such as 'ml.t3.xlarge', or 'local' to run the steps on the instance itself.";

    /// <summary>
    /// The four files for the schedule folder, by name. <paramref name="pipelineRelativePath"/> is the
    /// pipeline file relative to the repository ('/'-separated); <paramref name="instanceType"/> is what
    /// Invoke-RlabsPipeline runs with ('local' adds a Python environment).
    /// </summary>
    public static IReadOnlyDictionary<string, string> Generate(InstanceLayout layout, string pipelineRelativePath, string instanceType)
    {
        ArgumentNullException.ThrowIfNull(layout);
        var relative = pipelineRelativePath.Replace('\\', '/');
        if (relative.Length == 0 || relative.StartsWith('/') || relative.Split('/').Any(part => part is ".." or "") || relative.Any(char.IsControl))
        {
            throw new ArgumentException($"The pipeline path '{pipelineRelativePath}' must be a path inside the repository.", nameof(pipelineRelativePath));
        }
        if (ValidateInstanceType(instanceType) is { } problem)
        {
            throw new ArgumentException(problem, nameof(instanceType));
        }
        var pythonEnvironment = instanceType == "local" ? layout.PythonEnvironment : string.Empty;
        var values = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["SCHEDULE_DIR"] = ShellQuote.Quote(layout.ScheduleDirectory),
            ["REPO_DIR"] = ShellQuote.Quote(layout.RepositoryDirectory),
            ["PIPELINE_PATH"] = ShellQuote.Quote($"{layout.RepositoryDirectory}/{relative}"),
            ["CREDENTIALS_FILE"] = ShellQuote.Quote(layout.CredentialsFile),
            ["MODULE_PATH"] = ShellQuote.Quote(layout.ModulePath),
            ["INSTANCE_TYPE"] = ShellQuote.Quote(instanceType),
            ["PYTHON_ENV"] = ShellQuote.Quote(pythonEnvironment),
            ["LOG_DIR"] = ShellQuote.Quote(layout.LogDirectory),
            ["NO_SHUTDOWN"] = ShellQuote.Quote(layout.NoShutdownFile),
            ["PROJECT"] = layout.ProjectName,
            ["PIPELINE"] = layout.PipelineName,
        };
        return new Dictionary<string, string>(StringComparer.Ordinal)
        {
            [SetupScriptName] = Fill("setup.sh", values),
            [RunScriptName] = Fill("run.sh", values),
            [CronScriptName] = CronScript(layout, install: true),
            [RunPipelineScriptName] = Template("run-pipeline.ps1"),
        };
    }

    /// <summary>The crontab line: @reboot, the quoted run script ('%' escaped for cron), then the marker as a shell comment.</summary>
    public static string CronLine(InstanceLayout layout)
    {
        ArgumentNullException.ThrowIfNull(layout);
        return $"@reboot /bin/bash {ShellQuote.Quote(layout.RunScript).Replace("%", "\\%", StringComparison.Ordinal)} # {layout.CronMarker}";
    }

    /// <summary>The script that installs (or, with <paramref name="install"/> false, removes) this pipeline's crontab line and keeps every other line.</summary>
    public static string CronScript(InstanceLayout layout, bool install)
    {
        ArgumentNullException.ThrowIfNull(layout);
        return Fill("cron.sh", new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["MARKER"] = ShellQuote.Quote(layout.CronMarker),
            ["CRON_LINE"] = ShellQuote.Quote(install ? CronLine(layout) : string.Empty),
        });
    }

    private static string Fill(string templateName, Dictionary<string, string> values)
    {
        var text = Placeholder().Replace(Template(templateName), match =>
            values.TryGetValue(match.Groups[1].Value, out var value)
                ? value
                : throw new InvalidOperationException($"The template {templateName} has no value for {match.Value}."));
        return text;
    }

    private static string Template(string name)
    {
        using var stream = typeof(InstanceScripts).Assembly.GetManifestResourceStream($"Rlabs.Pipelines.Scheduling.Scripts.{name}")
            ?? throw new InvalidOperationException($"The embedded script template {name} is missing from {typeof(InstanceScripts).Assembly.GetName().Name}.");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd().ReplaceLineEndings("\n");
    }

    [GeneratedRegex("@@([A-Z_]+)@@", RegexOptions.CultureInvariant)]
    private static partial Regex Placeholder();
}
