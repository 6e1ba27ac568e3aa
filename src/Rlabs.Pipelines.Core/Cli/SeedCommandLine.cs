using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using Rlabs.Pipelines.Config;
using Rlabs.Pipelines.Scheduling;

namespace Rlabs.Pipelines.Cli;

/// <summary>What a command line of the original CLI asks for.</summary>
public enum SeedCommandLineOutcome
{
    /// <summary>Run a cmdlet with parameters.</summary>
    Invoke,

    /// <summary>Print usage text (--help) and succeed.</summary>
    Help,

    /// <summary>The command line is wrong: print the one-line message and fail.</summary>
    UsageError,
}

/// <summary>The parsed command line: a cmdlet and its parameters, help text, or a usage error.</summary>
public sealed class SeedCommandLineResult
{
    private SeedCommandLineResult(SeedCommandLineOutcome outcome, string commandPath)
    {
        Outcome = outcome;
        CommandPath = commandPath;
    }

    /// <summary>Invoke, Help or UsageError.</summary>
    public SeedCommandLineOutcome Outcome { get; }

    /// <summary>The command the line reached, e.g. "rlabs aws pipeline run".</summary>
    public string CommandPath { get; }

    /// <summary>The cmdlet to run (Invoke), e.g. "Invoke-RlabsPipeline".</summary>
    public string? CmdletName { get; private init; }

    /// <summary>The cmdlet's parameters (Invoke): string values, or true for switches.</summary>
    public IReadOnlyDictionary<string, object> Parameters { get; private init; } = new Dictionary<string, object>();

    /// <summary>Usage text in the original CLI's style (Help).</summary>
    public string? HelpText { get; private init; }

    /// <summary>One line: what is wrong and what is expected (UsageError).</summary>
    public string? ErrorMessage { get; private init; }

    /// <summary>The flag or word the error is about, when there is one (UsageError).</summary>
    public string? Flag { get; private init; }

    internal static SeedCommandLineResult Invoke(string path, string cmdlet, IReadOnlyDictionary<string, object> parameters) =>
        new(SeedCommandLineOutcome.Invoke, path) { CmdletName = cmdlet, Parameters = parameters };

    internal static SeedCommandLineResult Help(string path, string text) =>
        new(SeedCommandLineOutcome.Help, path) { HelpText = text };

    internal static SeedCommandLineResult Error(string path, string message, string? flag) =>
        new(SeedCommandLineOutcome.UsageError, path) { ErrorMessage = $"{message} See '{path} --help'.", Flag = flag };
}

/// <summary>
/// Parses the command lines of the original Python CLI (<c>rlabs aws pipeline run | schedule |
/// enable-scheduling | disable-scheduling</c>) into the cmdlet and parameters that do the work, so the
/// <c>rlabs</c> command is a front over the cmdlets rather than a second implementation. Pure: no I/O.
/// </summary>
public static partial class SeedCommandLine
{
    /// <summary>The program name every usage line starts with.</summary>
    public const string Program = "rlabs";

    private static readonly SeedOption s_verbose = new(["-v", "-vv", "--verbose"], null, "Verbose", "Verbose mode: write what each step does");

    private static readonly SeedSubcommand[] s_subcommands =
    [
        new("run", "Invoke-RlabsPipeline",
            "Run the pipeline as SageMaker Processing jobs on the cloud, or locally with -i local.",
            [
                new(["-p", "--pipeline-config-file"], "FILE", "Path", "path to the pipeline configuration file", Required: true),
                new(["-c", "--credentials-file"], "FILE", "CredentialsFile", "path to the credentials file (contains AWS credentials, data warehouse credentials)"),
                new(["-r", "--repository-path"], "PATH", "RepositoryPath", "path to the data apps project repository", DefaultText: "current directory"),
                new(["-i", "--instance-type"], "TYPE", "InstanceType", "instance type to run the pipeline; 'local' runs every step on this computer", DefaultText: InstanceTypes.Default + ", or instance_type of the pipeline file", Validate: ValidateInstanceType),
                new(["-j", "--job-id"], "ID", "JobId", "job id to run the pipeline, used while storing output or reading input in between processing pipeline steps", DefaultText: "generated", Validate: ValidateJobId),
                s_verbose,
            ],
            null),
        new("schedule", "New-RlabsPipelineSchedule",
            "Schedule the pipeline: an EC2 instance, started by a Lambda function on an EventBridge rule, runs it as SageMaker Processing jobs.",
            [
                new(["-id", "--instance-id"], "ID", "InstanceId", "EC2 machine instance id", Required: true, Validate: ValidateInstanceId, Kind: ScheduleKindOnly.Ec2),
                new(["-sit", "--sagemaker-instance-type"], "TYPE", "SageMakerInstanceType", "instance type to be used for the SageMaker Processing jobs; 'local' runs the steps on the EC2 instance itself", DefaultText: InstanceTypes.Default + " (--serverless: instance_type of the pipeline file)", Validate: ValidateSageMakerInstanceType, ValidateServerless: ValidateServerlessInstanceType),
                new(["-p", "--pem-file"], "FILE", "PemFile", "path to the pem file used for transferring files to the EC2 instance", Required: true, Kind: ScheduleKindOnly.Ec2),
                new(["-u", "--ec2-username"], "NAME", "Ec2UserName", "user name of the EC2 instance", DefaultText: "ec2-user", Kind: ScheduleKindOnly.Ec2),
                new(["-r", "--repository-path"], "PATH", "RepositoryPath", "path to the data apps project repository", DefaultText: "current directory", Implied: "."),
                new(["-pn", "--project-name"], "NAME", "ProjectName", "name of the project", DefaultText: "project repository folder name"),
                new(["-pc", "--pipeline-config-file"], "FILE", "PipelinePath", "path to the pipeline configuration file", Required: true),
                // Without -c, New-RlabsPipelineSchedule itself looks for credentials.yaml, as the original did.
                new(["-c", "--credentials-file"], "FILE", "CredentialsFile", "path to the credentials file (contains AWS credentials, data warehouse credentials)", DefaultText: "credentials.yaml in the current directory or the repository"),
                new(["-es", "--event-schedule"], "EXPR", "ScheduleExpression", "event schedule for the pipeline, e.g. \"rate(1 hour)\" or \"cron(0 6 * * ? *)\"; --serverless also takes \"at(2027-01-31T06:00:00)\"", Required: true, Validate: ValidateScheduleExpression, JoinParentheses: true, ValidateServerless: ValidateSchedulerExpression),
                new(["--role-name"], "NAME", "RoleName", "role name to be used for the pipeline (long form only: -r is --repository-path)", DefaultText: "<project_name>-<pipeline_name>-lambda-role", Kind: ScheduleKindOnly.Ec2),
                new(["--ssh-port"], "PORT", "SshPort", "SSH port of the EC2 instance (not in the original CLI)", DefaultText: "22", Validate: ValidatePort, Kind: ScheduleKindOnly.Ec2),
                new(["--serverless"], null, "Serverless", "not in the original CLI: schedule with EventBridge Scheduler, which starts the pipeline on SageMaker Pipelines (no instance, Lambda function, pem file or SSH; -id, -p, -u, --role-name and --ssh-port do not apply)"),
                new(["--time-zone"], "ZONE", "TimeZone", "--serverless only: IANA time zone the cron() or at() expression is read in, e.g. Europe/Amsterdam", DefaultText: "UTC", Validate: ValidateTimeZone, Kind: ScheduleKindOnly.Serverless),
                new(["--role-arn"], "ARN", "RoleArn", "--serverless only: SageMaker execution role the pipeline runs as", DefaultText: "role_arn of the pipeline file", Validate: v => ServerlessScheduleRequest.ValidateRoleArn(v, "--role-arn"), Kind: ScheduleKindOnly.Serverless),
                new(["--scheduler-role-arn"], "ARN", "SchedulerRoleArn", "--serverless only: role EventBridge Scheduler starts the pipeline as", DefaultText: "one created that may start only this pipeline", Validate: v => ServerlessScheduleRequest.ValidateRoleArn(v, "--scheduler-role-arn"), Kind: ScheduleKindOnly.Serverless),
                s_verbose,
            ],
            "The original CLI gave -r to both --repository-path and --role-name: here -r is the repository path, and the role name has only the long form --role-name. "
            + "Added to the original CLI: --serverless, with --time-zone, --role-arn and --scheduler-role-arn, schedules the pipeline without a server (New-RlabsPipelineSchedule -Serverless, see about_Rlabs_Schedules); without it the command does what the original did."),
        new("enable-scheduling", "Enable-RlabsPipelineSchedule",
            "Enable the schedule of a pipeline (its EventBridge rule).",
            EnableDisableOptions(),
            null),
        new("disable-scheduling", "Disable-RlabsPipelineSchedule",
            "Disable the schedule of a pipeline (its EventBridge rule); enable-scheduling turns it back on.",
            EnableDisableOptions(),
            null),
    ];

    private static readonly string[] s_helpFlags = ["--help", "-h"];

    /// <summary>The subcommands of <c>rlabs aws pipeline</c>, in help order.</summary>
    public static IReadOnlyList<string> Subcommands { get; } = s_subcommands.Select(s => s.Name).ToArray();

    /// <summary>
    /// Tab completion of an rlabs command line: the next command word, a subcommand's flags (those not typed yet),
    /// or the instance types after -i/-sit. Empty where a file or free value belongs, so the shell completes paths.
    /// </summary>
    /// <param name="typed">The complete words after <c>rlabs</c>, before the one being completed.</param>
    /// <param name="word">The word being completed (may be empty).</param>
    public static IReadOnlyList<(string Text, string Description)> Complete(IReadOnlyList<string> typed, string word)
    {
        ArgumentNullException.ThrowIfNull(typed);
        word ??= string.Empty;
        IEnumerable<(string, string)> candidates = typed.Count switch
        {
            0 => [("aws", "Amazon Web Services commands")],
            1 when typed[0] == "aws" => [("pipeline", "Run and schedule pipelines")],
            2 when typed[0] == "aws" && typed[1] == "pipeline" => s_subcommands.Select(s => (s.Name, s.Summary)),
            _ => [],
        };
        if (typed.Count >= 3 && typed[0] == "aws" && typed[1] == "pipeline" && s_subcommands.FirstOrDefault(s => s.Name == typed[2]) is { } subcommand)
        {
            var previous = typed.Count > 3 ? subcommand.Find(typed[^1]) : null;
            if (previous is { IsSwitch: false })
            {
                candidates = previous.Parameter is "InstanceType" or "SageMakerInstanceType"
                    ? InstanceTypes.Known.Prepend(InstanceTypes.Local).Select(t => (t, previous.Help))
                    : [];
            }
            else
            {
                var used = typed.Skip(3).ToHashSet(StringComparer.Ordinal);
                candidates = subcommand.Options
                    .Where(o => !o.Names.Any(used.Contains))
                    .SelectMany(o => o.Names.Select(n => (n, o.Help)))
                    .Append(("--help", "Show the flags of this command"));
            }
        }
        return candidates.Where(c => c.Item1.StartsWith(word, StringComparison.Ordinal)).ToList();
    }

    /// <summary>The cmdlet a subcommand of <c>rlabs aws pipeline</c> runs.</summary>
    public static string CmdletFor(string subcommand) =>
        s_subcommands.FirstOrDefault(s => s.Name == subcommand)?.CmdletName
        ?? throw new ArgumentException($"'{subcommand}' is not a subcommand of rlabs aws pipeline.", nameof(subcommand));

    /// <summary>Parses the arguments that follow the program name (<c>aws pipeline run -p …</c>).</summary>
    /// <param name="arguments">The words after <c>rlabs</c>.</param>
    /// <param name="fileExists">Whether a file exists, relative to the current directory: the original's
    /// default credentials.yaml is passed on only when there is one. Null: no file exists.</param>
    public static SeedCommandLineResult Parse(IReadOnlyList<string?>? arguments, Func<string, bool>? fileExists = null)
    {
        var args = (arguments ?? []).Select(a => a ?? string.Empty).ToArray();
        // The groups: rlabs → aws → pipeline → subcommand.
        string[] groupWords = ["aws", "pipeline"];
        var path = Program;
        var index = 0;
        foreach (var word in groupWords)
        {
            if (index >= args.Length)
            {
                return SeedCommandLineResult.Error(path, $"Missing command: expected '{word}'.", null);
            }
            var token = args[index];
            if (IsHelp(token))
            {
                return SeedCommandLineResult.Help(path, GroupHelp(path, [word]));
            }
            if (token != word)
            {
                return token.StartsWith('-')
                    ? SeedCommandLineResult.Error(path, $"No such option: {token}. Expected the command '{word}'.", token)
                    : SeedCommandLineResult.Error(path, $"No such command '{token}': expected '{word}'.", token);
            }
            path += " " + word;
            index++;
        }

        if (index >= args.Length)
        {
            return SeedCommandLineResult.Error(path, $"Missing command: expected one of {string.Join(", ", Subcommands)}.", null);
        }
        var name = args[index];
        if (IsHelp(name))
        {
            return SeedCommandLineResult.Help(path, GroupHelp(path, Subcommands));
        }
        var subcommand = s_subcommands.FirstOrDefault(s => s.Name == name);
        if (subcommand is null)
        {
            var suggestion = Suggest(name, Subcommands);
            var hint = suggestion is null ? string.Empty : $" Did you mean '{suggestion}'?";
            return name.StartsWith('-')
                ? SeedCommandLineResult.Error(path, $"No such option: {name}. Expected one of the commands {string.Join(", ", Subcommands)}.", name)
                : SeedCommandLineResult.Error(path, $"No such command '{name}': expected one of {string.Join(", ", Subcommands)}.{hint}", name);
        }
        path += " " + subcommand.Name;
        var rest = args.AsSpan(index + 1).ToArray();
        // --help wins wherever it is, as with the original (click's eager --help).
        return rest.Any(IsHelp)
            ? SeedCommandLineResult.Help(path, SubcommandHelp(path, subcommand))
            : ParseOptions(path, subcommand, rest, fileExists ?? (_ => false));
    }

    /// <summary>Usage text of a command path such as "rlabs aws pipeline run", as --help prints it.</summary>
    public static string HelpFor(string commandPath)
    {
        var result = Parse([.. commandPath.Split(' ', StringSplitOptions.RemoveEmptyEntries).Skip(1), "--help"]);
        return result.HelpText ?? throw new ArgumentException($"'{commandPath}' is not an rlabs command.", nameof(commandPath));
    }

    private static SeedCommandLineResult ParseOptions(string path, SeedSubcommand subcommand, string[] args, Func<string, bool> fileExists)
    {
        var values = new Dictionary<SeedOption, string>();
        var parameters = new Dictionary<string, object>(StringComparer.Ordinal);
        // --serverless changes which options apply and how the schedule is read, wherever it is on the line.
        var serverless = subcommand.Find("--serverless") is not null && args.Contains("--serverless", StringComparer.Ordinal);
        for (var i = 0; i < args.Length; i++)
        {
            var token = args[i];
            string? inline = null;
            var flag = token;
            if (token.StartsWith("--", StringComparison.Ordinal) && token.IndexOf('=', StringComparison.Ordinal) is var equals and > 2)
            {
                flag = token[..equals];
                inline = token[(equals + 1)..];
            }
            var option = subcommand.Find(flag);
            if (option is null)
            {
                return token.StartsWith('-') && token.Length > 1
                    ? SeedCommandLineResult.Error(path, $"No such option: {flag}.{subcommand.SuggestOption(flag)}", flag)
                    : SeedCommandLineResult.Error(path, $"Unexpected argument '{token}': {path} takes only options (e.g. {subcommand.Options[0].Names[^1]} {subcommand.Options[0].Metavar}).", token);
            }
            if (option.Kind == ScheduleKindOnly.Ec2 && serverless)
            {
                return SeedCommandLineResult.Error(path, $"Option {option.Display} does not apply with --serverless: a serverless schedule has no instance, pem file, SSH or Lambda role.", flag);
            }
            if (option.Kind == ScheduleKindOnly.Serverless && !serverless)
            {
                return SeedCommandLineResult.Error(path, $"Option {option.Display} applies only with --serverless (the EC2 schedule's rules run in UTC and its role is --role-name).", flag);
            }
            if (option.IsSwitch)
            {
                if (inline is not null)
                {
                    return SeedCommandLineResult.Error(path, $"Option {flag} does not take a value.", flag);
                }
                parameters[option.Parameter] = true;
                continue;
            }
            if (values.ContainsKey(option))
            {
                var roleHint = option.Parameter == "RepositoryPath" && subcommand.Find("--role-name") is not null
                    ? " (-r is --repository-path; give the role name with --role-name)"
                    : string.Empty;
                return SeedCommandLineResult.Error(path, $"Option {option.Display} is given more than once{roleHint}: give it once.", flag);
            }

            string value;
            if (inline is not null)
            {
                value = inline;
            }
            else if (i + 1 < args.Length && subcommand.Find(args[i + 1]) is null && !IsLongOptionWithValue(subcommand, args[i + 1]))
            {
                value = args[++i];
            }
            else
            {
                return SeedCommandLineResult.Error(path, $"Option {option.Display} requires a value: {option.Metavar}, {option.Help}.", flag);
            }
            if (option.JoinParentheses)
            {
                // bash splits an unquoted 'rate(1 hour)' into 'rate(1' and 'hour)': join until the parentheses balance.
                while (Depth(value) > 0 && i + 1 < args.Length && subcommand.Find(args[i + 1]) is null)
                {
                    value += " " + args[++i];
                }
                if (Depth(value) != 0)
                {
                    return SeedCommandLineResult.Error(path, $"Option {option.Display} has unbalanced parentheses in '{value}': expected e.g. \"rate(1 hour)\".", flag);
                }
            }
            if (string.IsNullOrWhiteSpace(value))
            {
                return SeedCommandLineResult.Error(path, $"Option {option.Display} requires a non-empty value: {option.Metavar}, {option.Help}.", flag);
            }
            if ((serverless && option.ValidateServerless is not null ? option.ValidateServerless : option.Validate)?.Invoke(value) is { } problem)
            {
                return SeedCommandLineResult.Error(path, $"Option {option.Display}: {problem}", flag);
            }
            values[option] = value;
            parameters[option.Parameter] = value;
        }

        foreach (var option in subcommand.Options)
        {
            if (option.Required && !values.ContainsKey(option) && !(serverless && option.Kind == ScheduleKindOnly.Ec2))
            {
                return SeedCommandLineResult.Error(path, $"Missing option {option.Display} {option.Metavar}: {option.Help}.", option.Names[^1]);
            }
            if (option.Implied is { } implied && !values.ContainsKey(option))
            {
                parameters[option.Parameter] = implied;
            }
            if (option.ImpliedIfExists is { } file && !values.ContainsKey(option) && fileExists(file))
            {
                parameters[option.Parameter] = file;
            }
        }
        return SeedCommandLineResult.Invoke(path, subcommand.CmdletName, parameters);
    }

    private static bool IsLongOptionWithValue(SeedSubcommand subcommand, string token) =>
        token.StartsWith("--", StringComparison.Ordinal) && token.IndexOf('=', StringComparison.Ordinal) is var equals and > 2
        && subcommand.Find(token[..equals]) is not null;

    private static string? Suggest(string word, IEnumerable<string> known)
    {
        // PipelineConfigReader.Suggest compares YAML keys, which spell '-' as '_'.
        var byKey = known.Distinct(StringComparer.Ordinal).ToDictionary(k => k.Replace('-', '_'), k => k, StringComparer.Ordinal);
        return PipelineConfigReader.Suggest(word, byKey.Keys) is { } key ? byKey[key] : null;
    }

    private static bool IsHelp(string token) => s_helpFlags.Contains(token, StringComparer.Ordinal);

    private static int Depth(string value) => value.Count(c => c == '(') - value.Count(c => c == ')');

    private static SeedOption[] EnableDisableOptions() =>
    [
        new(["-c", "--credentials-file"], "FILE", "CredentialsFile", "path to the credentials file (contains AWS credentials, data warehouse credentials)", DefaultText: "credentials.yaml, when the current directory has one", ImpliedIfExists: "credentials.yaml"),
        new(["-p", "--pipeline"], "FILE", "PipelinePath", "path to the pipeline configuration file", Required: true),
        new(["-pc", "-pn", "--project-name"], "NAME", "ProjectName", "name of the project; \"_\" and \".\" become \"-\", as when the schedule was created", Required: true),
        s_verbose,
    ];

    private static string GroupHelp(string path, IReadOnlyList<string> commands)
    {
        var text = new StringBuilder();
        text.Append(CultureInfo.InvariantCulture, $"Usage: {path} [OPTIONS] COMMAND [ARGS]...").AppendLine().AppendLine();
        text.AppendLine("Options:");
        text.AppendLine("  --help  Show this message and exit.").AppendLine();
        text.AppendLine("Commands:");
        var width = commands.Max(c => c.Length) + 2;
        foreach (var command in commands)
        {
            var summary = s_subcommands.FirstOrDefault(s => s.Name == command)?.Summary ?? command switch
            {
                "aws" => "Commands for Amazon Web Services.",
                _ => "Run, schedule, enable and disable data apps pipelines.",
            };
            text.Append("  ").Append(command.PadRight(width)).AppendLine(summary);
        }
        return text.ToString().TrimEnd() + Environment.NewLine;
    }

    private static string SubcommandHelp(string path, SeedSubcommand subcommand)
    {
        var text = new StringBuilder();
        text.Append(CultureInfo.InvariantCulture, $"Usage: {path} [OPTIONS]").AppendLine().AppendLine();
        text.Append("  ").AppendLine(subcommand.Summary);
        text.Append(CultureInfo.InvariantCulture, $"  Runs the cmdlet {subcommand.CmdletName}; Get-Help {subcommand.CmdletName} -Full tells more.").AppendLine();
        if (subcommand.Note is { } note)
        {
            text.AppendLine().Append("  ").AppendLine(note);
        }
        text.AppendLine().AppendLine("Options:");
        var rows = subcommand.Options
            .Select(o => (Left: string.Join(", ", o.Names) + (o.IsSwitch ? string.Empty : " " + o.Metavar), Right: Describe(o)))
            .Append((Left: "--help", Right: "Show this message and exit."))
            .ToList();
        var width = rows.Max(r => r.Left.Length) + 2;
        foreach (var (left, right) in rows)
        {
            text.Append("  ").Append(left.PadRight(width)).AppendLine(right);
        }
        return text.ToString();
    }

    private static string Describe(SeedOption option)
    {
        var text = char.ToUpperInvariant(option.Help[0]) + option.Help[1..];
        if (option.DefaultText is { } defaultText)
        {
            text += $"  [default: {defaultText}]";
        }
        if (option.Required)
        {
            text += option.Kind == ScheduleKindOnly.Ec2 ? "  [required without --serverless]" : "  [required]";
        }
        return text;
    }

    private static string? ValidateInstanceType(string value) =>
        InstanceTypes.Validate(value);

    // The schedule options are checked as New-RlabsPipelineSchedule checks them, so that a value the
    // cmdlet would refuse is a usage error here (exit code 2), with the cmdlet's own explanation.
    private static string? ValidateSageMakerInstanceType(string value) => InstanceScripts.ValidateInstanceType(value);

    private static string? ValidatePort(string value) =>
        int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var port) && port is >= 1 and <= 65535
            ? null
            : $"'{value}' is not a port: expected a number from 1 to 65535.";

    private static string? ValidateJobId(string value) =>
        ProjectNaming.ValidateJobId(value) is { } problem ? $"'{value}' is not a valid job id. {problem}" : null;

    private static string? ValidateInstanceId(string value) =>
        InstanceIds.IsValid(value)
            ? null
            : $"'{value}' is not an EC2 instance id: expected 'i-' and 8 or 17 hexadecimal digits, e.g. i-07c3cedbe6988ed49.";

    private static string? ValidateScheduleExpression(string value) =>
        ScheduleExpression.TryParse(value, out _, out var error) ? null : error;

    // --serverless: Scheduler's expressions (at() too); the zone is checked by --time-zone.
    private static string? ValidateSchedulerExpression(string value)
    {
        try
        {
            SchedulerExpression.Parse(value, null);
            return null;
        }
        catch (ArgumentException ex)
        {
            return ex.Message.Replace(" (Parameter 'expression')", string.Empty, StringComparison.Ordinal);
        }
    }

    private static string? ValidateTimeZone(string value)
    {
        try
        {
            SchedulerExpression.ResolveTimeZone(value);
            return null;
        }
        catch (ArgumentException ex)
        {
            return ex.Message.Replace(" (Parameter 'timeZone')", string.Empty, StringComparison.Ordinal);
        }
    }

    private static string? ValidateServerlessInstanceType(string value) =>
        InstanceTypes.IsLocal(value) ? "--serverless runs the steps on SageMaker: expected an ml.* instance type, not local." : InstanceScripts.ValidateInstanceType(value);


    /// <summary>One option: its names (short first), value name (null for a switch) and cmdlet parameter.</summary>
    private sealed record SeedOption(
        string[] Names,
        string? Metavar,
        string Parameter,
        string Help,
        bool Required = false,
        string? DefaultText = null,
        string? Implied = null,
        string? ImpliedIfExists = null,
        Func<string, string?>? Validate = null,
        bool JoinParentheses = false,
        ScheduleKindOnly Kind = ScheduleKindOnly.Both,
        Func<string, string?>? ValidateServerless = null)
    {
        public bool IsSwitch => Metavar is null;

        public string Display => string.Join("/", Names);
    }

    /// <summary>Which kind of schedule an option of <c>schedule</c> belongs to (--serverless picks the kind).</summary>
    private enum ScheduleKindOnly
    {
        Both,
        Ec2,
        Serverless,
    }

    private sealed record SeedSubcommand(string Name, string CmdletName, string Summary, SeedOption[] Options, string? Note)
    {
        public SeedOption? Find(string flag) => Options.FirstOrDefault(o => o.Names.Contains(flag, StringComparer.Ordinal));

        public string SuggestOption(string flag)
        {
            var suggestion = SeedCommandLine.Suggest(flag, Options.SelectMany(o => o.Names).Where(n => n.Length > 3));
            return suggestion is null ? $" Expected one of {string.Join(", ", Options.Select(o => o.Names[^1]))}." : $" Did you mean {suggestion}?";
        }
    }
}
