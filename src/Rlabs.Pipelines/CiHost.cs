using System.Globalization;
using System.Text;

namespace Rlabs.Pipelines;

/// <summary>
/// The log commands of the CI host the module runs under, detected from the variables the hosts set
/// (<c>GITHUB_ACTIONS=true</c>, <c>TF_BUILD=True</c>); nothing to configure. Each method returns the lines to
/// write; only the pipeline thread writes them, through the host, so they start a line of the job log.
/// </summary>
internal abstract class CiHost
{
    /// <summary>The host of this process, or null outside CI.</summary>
    public static CiHost? Current => Detect(Environment.GetEnvironmentVariable);

    /// <summary>Short name for verbose output.</summary>
    public abstract string Name { get; }

    public static CiHost? Detect(Func<string, string?> environment)
    {
        if (string.Equals(environment("GITHUB_ACTIONS"), "true", StringComparison.OrdinalIgnoreCase))
        {
            return new GitHubActions(environment);
        }
        return string.Equals(environment("TF_BUILD"), "true", StringComparison.OrdinalIgnoreCase) ? new AzurePipelines(environment) : null;
    }

    public abstract string GroupStart(string title);

    public abstract string GroupEnd();

    /// <summary>An error annotation, at a file position when there is one.</summary>
    public abstract string Error(string message, string? title = null, string? file = null, int line = 0, int column = 0);

    public abstract string Warning(string message, string? title = null, string? file = null, int line = 0, int column = 0);

    /// <summary>Publishes a Markdown summary of a run; returns the log lines that do it (none when a file does).</summary>
    public abstract IEnumerable<string> PublishSummary(string markdown, string jobId);

    /// <summary>GitHub Actions workflow commands (docs.github.com, "Workflow commands for GitHub Actions").</summary>
    private sealed class GitHubActions : CiHost
    {
        private readonly Func<string, string?> _environment;

        public GitHubActions(Func<string, string?> environment)
        {
            _environment = environment;
        }

        public override string Name => "GitHub Actions";

        public override string GroupStart(string title) => "::group::" + Data(title);

        public override string GroupEnd() => "::endgroup::";

        public override string Error(string message, string? title = null, string? file = null, int line = 0, int column = 0) =>
            Annotation("error", message, title, file, line, column);

        public override string Warning(string message, string? title = null, string? file = null, int line = 0, int column = 0) =>
            Annotation("warning", message, title, file, line, column);

        public override IEnumerable<string> PublishSummary(string markdown, string jobId)
        {
            // Appended, not written: every step of a job shares the one summary file.
            if (_environment("GITHUB_STEP_SUMMARY") is { Length: > 0 } path)
            {
                File.AppendAllText(path, markdown, new UTF8Encoding(false));
            }
            return [];
        }

        private string Annotation(string kind, string message, string? title, string? file, int line, int column)
        {
            var properties = new List<string>();
            if (file is not null)
            {
                properties.Add("file=" + Property(RelativeToWorkspace(file)));
                if (line > 0)
                {
                    properties.Add("line=" + line.ToString(CultureInfo.InvariantCulture));
                }
                if (column > 0)
                {
                    properties.Add("col=" + column.ToString(CultureInfo.InvariantCulture));
                }
            }
            if (title is not null)
            {
                properties.Add("title=" + Property(title));
            }
            return $"::{kind}{(properties.Count > 0 ? " " + string.Join(',', properties) : string.Empty)}::{Data(message)}";
        }

        // Annotations link to files by their path in the repository checkout.
        private string RelativeToWorkspace(string file)
        {
            var workspace = _environment("GITHUB_WORKSPACE");
            if (string.IsNullOrEmpty(workspace))
            {
                return file;
            }
            var relative = Path.GetRelativePath(workspace, file);
            return relative.StartsWith("..", StringComparison.Ordinal) || Path.IsPathRooted(relative) ? file : relative.Replace('\\', '/');
        }

        private static string Data(string value) =>
            value.Replace("%", "%25", StringComparison.Ordinal).Replace("\r", "%0D", StringComparison.Ordinal).Replace("\n", "%0A", StringComparison.Ordinal);

        private static string Property(string value) =>
            Data(value).Replace(":", "%3A", StringComparison.Ordinal).Replace(",", "%2C", StringComparison.Ordinal);
    }

    /// <summary>Azure Pipelines logging commands (learn.microsoft.com, "Logging commands").</summary>
    private sealed class AzurePipelines : CiHost
    {
        private readonly Func<string, string?> _environment;

        public AzurePipelines(Func<string, string?> environment)
        {
            _environment = environment;
        }

        public override string Name => "Azure Pipelines";

        public override string GroupStart(string title) => "##[group]" + Single(title);

        public override string GroupEnd() => "##[endgroup]";

        public override string Error(string message, string? title = null, string? file = null, int line = 0, int column = 0) =>
            LogIssue("error", message, title, file, line, column);

        public override string Warning(string message, string? title = null, string? file = null, int line = 0, int column = 0) =>
            LogIssue("warning", message, title, file, line, column);

        public override IEnumerable<string> PublishSummary(string markdown, string jobId)
        {
            // uploadsummary attaches a Markdown file to the build's Extensions tab; the agent's temp folder is
            // cleaned after the job.
            var folder = FirstNonEmpty(_environment("AGENT_TEMPDIRECTORY"), Path.GetTempPath());
            var path = Path.Combine(folder, $"rlabs-run-{jobId}.md");
            File.WriteAllText(path, markdown, new UTF8Encoding(false));
            return ["##vso[task.uploadsummary]" + EscapeData(path)];
        }

        private static string LogIssue(string type, string message, string? title, string? file, int line, int column)
        {
            var properties = new StringBuilder("type=").Append(type);
            if (file is not null)
            {
                properties.Append(";sourcepath=").Append(Escape(file));
                if (line > 0)
                {
                    properties.Append(";linenumber=").Append(line.ToString(CultureInfo.InvariantCulture));
                }
                if (column > 0)
                {
                    properties.Append(";columnnumber=").Append(column.ToString(CultureInfo.InvariantCulture));
                }
            }
            var text = title is null ? message : $"{title}: {message}";
            return $"##vso[task.logissue {properties}]{EscapeData(text)}";
        }

        // The message after ']' ends only at the line's end: %, CR and LF are escaped, ';' and ']' are text.
        private static string EscapeData(string value) =>
            value.Replace("%", "%AZP25", StringComparison.Ordinal).Replace("\r", "%0D", StringComparison.Ordinal).Replace("\n", "%0A", StringComparison.Ordinal);

        // Property values also end at ';' and ']'.
        private static string Escape(string value) =>
            value.Replace("%", "%AZP25", StringComparison.Ordinal).Replace(";", "%3B", StringComparison.Ordinal)
                .Replace("\r", "%0D", StringComparison.Ordinal).Replace("\n", "%0A", StringComparison.Ordinal).Replace("]", "%5D", StringComparison.Ordinal);

        // A group title is one line of the log: a line break would end the command early.
        private static string Single(string value) => value.Replace("\r", " ", StringComparison.Ordinal).Replace("\n", " ", StringComparison.Ordinal);

        private static string FirstNonEmpty(string? first, string second) => string.IsNullOrEmpty(first) ? second : first;
    }
}
