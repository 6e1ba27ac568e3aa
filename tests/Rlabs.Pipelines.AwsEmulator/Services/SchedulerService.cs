using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Rlabs.Pipelines.AwsEmulator.Model;

namespace Rlabs.Pipelines.AwsEmulator.Services;

/// <summary>What a firing did: started an execution, or why not.</summary>
public sealed record SchedulerFiring(bool Fired, string? Reason, string? ExecutionId, string? PipelineExecutionArn);

/// <summary>
/// EventBridge Scheduler (REST-JSON): schedules in schedule groups, tags on groups, and firing a schedule at
/// a given time as the service would: only when it is enabled and due then (its cron evaluated in its time
/// zone), as its role, whose inline policies must allow the target action on the target ARN. Only SageMaker
/// pipeline targets (templated StartPipelineExecution) are fired.
/// </summary>
public sealed partial class SchedulerService : IEmulatedService
{
    private const string DefaultGroup = "default";
    private readonly object _lock = new();
    private readonly Dictionary<string, Group> _groups = new(StringComparer.Ordinal);
    private readonly Dictionary<(string Group, string Name), JsonObject> _schedules = [];
    private readonly IamService _iam;
    private readonly SageMakerService _sageMaker;

    public SchedulerService(BotocoreModel model, IamService iam, SageMakerService sageMaker)
    {
        Model = model;
        _iam = iam;
        _sageMaker = sageMaker;
    }

    public string Name => "scheduler";

    public BotocoreModel Model { get; }

    public IReadOnlySet<string> Operations { get; } = new HashSet<string>(StringComparer.Ordinal)
    {
        "CreateSchedule", "GetSchedule", "UpdateSchedule", "DeleteSchedule", "ListSchedules",
        "CreateScheduleGroup", "GetScheduleGroup", "DeleteScheduleGroup", "TagResource", "ListTagsForResource",
    };

    /// <summary>Every firing so far, for test assertions.</summary>
    public List<SchedulerFiring> Firings { get; } = [];

    public void Reset()
    {
        lock (_lock)
        {
            _groups.Clear();
            _schedules.Clear();
            Firings.Clear();
        }
    }

    public JsonObject Invoke(string operation, JsonObject input, RequestContext context)
    {
        lock (_lock)
        {
            EnsureDefaultGroup(context);
            return operation switch
            {
                "CreateSchedule" => PutSchedule(input, context, create: true),
                "UpdateSchedule" => PutSchedule(input, context, create: false),
                "GetSchedule" => (JsonObject)FindSchedule(GroupOf(input), Json.Str(input, "Name")!).DeepClone(),
                "DeleteSchedule" => DeleteSchedule(input),
                "ListSchedules" => ListSchedules(input),
                "CreateScheduleGroup" => CreateGroup(input, context),
                "GetScheduleGroup" => FindGroup(Json.Str(input, "Name")!).Describe(),
                "DeleteScheduleGroup" => DeleteGroup(input),
                "TagResource" => TagResource(input),
                "ListTagsForResource" => new JsonObject { ["Tags"] = GroupByArn(Json.Str(input, "ResourceArn")!).TagList() },
                _ => throw new EmulatorError("UnknownOperationException", operation),
            };
        }
    }

    /// <summary>The next <paramref name="count"/> times (UTC) the schedule fires after <paramref name="after"/>.</summary>
    public IReadOnlyList<DateTimeOffset> NextFireTimes(string group, string name, DateTimeOffset after, int count)
    {
        lock (_lock)
        {
            var schedule = FindSchedule(group, name);
            var expression = ParseExpression(Json.Str(schedule, "ScheduleExpression")!, ZoneOf(schedule));
            var result = new List<DateTimeOffset>();
            var cursor = after;
            while (result.Count < count && expression.Next(cursor, Start(schedule)) is { } next && (End(schedule) is not { } end || next < end))
            {
                result.Add(next);
                cursor = next;
            }

            return result;
        }
    }

    /// <summary>
    /// Fires the schedule at <paramref name="time"/> as EventBridge Scheduler would: skipped when disabled,
    /// not due then, or outside its start and end dates; refused (AccessDenied) when its role may not start
    /// the pipeline; otherwise StartPipelineExecution with the schedule's SageMakerPipelineParameters as written.
    /// Context attributes (&lt;aws.scheduler.execution-id&gt;, …) are replaced only in the payload (Target.Input)
    /// per the Scheduler user guide ("Adding context attributes"); a SageMaker pipeline target has no payload, so
    /// its parameter values reach the pipeline verbatim and a per-firing id must come from the execution itself
    /// (Execution.PipelineExecutionId in the definition).
    /// </summary>
    public SchedulerFiring Fire(string group, string name, DateTimeOffset time)
    {
        JsonObject schedule;
        lock (_lock)
        {
            schedule = (JsonObject)FindSchedule(group, name).DeepClone();
        }

        SchedulerFiring Record(SchedulerFiring firing)
        {
            lock (_lock)
            {
                Firings.Add(firing);
            }

            return firing;
        }

        if (Json.Str(schedule, "State") == "DISABLED")
        {
            return Record(new SchedulerFiring(false, "disabled", null, null));
        }

        var expression = ParseExpression(Json.Str(schedule, "ScheduleExpression")!, ZoneOf(schedule));
        if (expression.Next(time.AddTicks(-1), Start(schedule)) != time || (End(schedule) is { } end && time >= end))
        {
            return Record(new SchedulerFiring(false, $"not due at {time.UtcDateTime:yyyy-MM-ddTHH:mm:ssZ}", null, null));
        }

        var target = schedule["Target"]!.AsObject();
        var targetArn = Json.Str(target, "Arn")!;
        var roleArn = Json.Str(target, "RoleArn")!;
        var pipeline = PipelineArnRegex().Match(targetArn);
        if (!pipeline.Success)
        {
            return Record(new SchedulerFiring(false, $"target {targetArn} is not a SageMaker pipeline (the emulator fires only those)", null, null));
        }

        if (!_iam.RoleTrusts(roleArn, "scheduler.amazonaws.com"))
        {
            return Record(new SchedulerFiring(false, $"AccessDenied: EventBridge Scheduler cannot assume {roleArn}", null, null));
        }

        if (!_iam.RoleAllows(roleArn, "sagemaker:StartPipelineExecution", targetArn))
        {
            return Record(new SchedulerFiring(false, $"AccessDenied: {roleArn} is not allowed sagemaker:StartPipelineExecution on {targetArn}", null, null));
        }

        var executionId = Convert.ToHexString(RandomNumberGenerator.GetBytes(8)).ToLowerInvariant();
        var scheduleArn = Json.Str(schedule, "Arn")!;
        var arnParts = scheduleArn.Split(':');
        var (region, accountId) = (arnParts[3], arnParts[4]);
        var parameters = new JsonArray();
        foreach (var parameter in target["SageMakerPipelineParameters"]?["PipelineParameterList"]?.AsArray() ?? [])
        {
            parameters.Add(new JsonObject { ["Name"] = (string?)parameter!["Name"], ["Value"] = (string?)parameter["Value"] });
        }

        var started = _sageMaker.Pipelines.Invoke("StartPipelineExecution", Json.Object(
            ("PipelineName", pipeline.Groups["name"].Value),
            ("ClientRequestToken", $"scheduler-{executionId}"),
            ("PipelineExecutionDisplayName", $"scheduled-{executionId}"),
            ("PipelineParameters", parameters.Count > 0 ? parameters : null)),
            new RequestContext { Service = "sagemaker", Operation = "StartPipelineExecution", Region = region, AccessKeyId = "ASIASCHEDULER", RequestId = Guid.NewGuid().ToString(), AccountId = accountId });
        return Record(new SchedulerFiring(true, null, executionId, Json.Str(started, "PipelineExecutionArn")));
    }

    private static DateTimeOffset? Start(JsonObject schedule) => Date(schedule["StartDate"]);

    private static DateTimeOffset? End(JsonObject schedule) => Date(schedule["EndDate"]);

    private static DateTimeOffset? Date(JsonNode? node) => node is JsonValue ? DateTimeOffset.FromUnixTimeMilliseconds((long)Math.Round(Json.Number(node) * 1000)) : null;

    private static TimeZoneInfo ZoneOf(JsonObject schedule) => Zone(Json.Str(schedule, "ScheduleExpressionTimezone") ?? "UTC");

    private static TimeZoneInfo Zone(string id)
    {
        try
        {
            return TimeZoneInfo.FindSystemTimeZoneById(id);
        }
        catch (Exception ex) when (ex is TimeZoneNotFoundException or InvalidTimeZoneException)
        {
            throw new EmulatorError("ValidationException", $"Invalid ScheduleExpressionTimezone: {id}.");
        }
    }

    private static string GroupOf(JsonObject input) => Json.Str(input, "GroupName") ?? DefaultGroup;

    private void EnsureDefaultGroup(RequestContext context)
    {
        if (!_groups.ContainsKey(DefaultGroup))
        {
            _groups[DefaultGroup] = new Group(DefaultGroup, $"arn:aws:scheduler:{context.Region}:{context.AccountId}:schedule-group/{DefaultGroup}", context.Now);
        }
    }

    private JsonObject PutSchedule(JsonObject input, RequestContext context, bool create)
    {
        var group = GroupOf(input);
        var name = Json.Str(input, "Name")!;
        FindGroup(group);
        var exists = _schedules.TryGetValue((group, name), out var existing);
        if (create && exists)
        {
            throw new EmulatorError("ConflictException", $"Schedule {name} already exists.", 409);
        }

        if (!create && !exists)
        {
            throw new EmulatorError("ResourceNotFoundException", $"Schedule {name} does not exist.", 404);
        }

        var zone = Zone(Json.Str(input, "ScheduleExpressionTimezone") ?? "UTC");
        ParseExpression(Json.Str(input, "ScheduleExpression")!, zone);
        var window = input["FlexibleTimeWindow"]!.AsObject();
        var mode = Json.Str(window, "Mode");
        if ((mode == "OFF") != (window["MaximumWindowInMinutes"] is null))
        {
            throw new EmulatorError("ValidationException", mode == "OFF"
                ? "MaximumWindowInMinutes must not be set when FlexibleTimeWindow Mode is OFF."
                : "MaximumWindowInMinutes is required when FlexibleTimeWindow Mode is FLEXIBLE.");
        }

        if (Date(input["StartDate"]) is { } start && Date(input["EndDate"]) is { } end && end <= start)
        {
            throw new EmulatorError("ValidationException", "The EndDate must be after the StartDate.");
        }

        var arn = $"arn:aws:scheduler:{context.Region}:{context.AccountId}:schedule/{group}/{name}";
        var schedule = Json.Object(
            ("Arn", arn),
            ("Name", name),
            ("GroupName", group),
            ("Description", Json.Clone(input["Description"])),
            ("ScheduleExpression", Json.Clone(input["ScheduleExpression"])),
            ("ScheduleExpressionTimezone", Json.Clone(input["ScheduleExpressionTimezone"])),
            ("StartDate", Json.Clone(input["StartDate"])),
            ("EndDate", Json.Clone(input["EndDate"])),
            ("State", Json.Str(input, "State") ?? "ENABLED"),
            ("FlexibleTimeWindow", window.DeepClone()),
            ("Target", input["Target"]!.DeepClone()),
            ("KmsKeyArn", Json.Clone(input["KmsKeyArn"])),
            ("CreationDate", existing?["CreationDate"]?.DeepClone() ?? Json.Epoch(context.Now)),
            ("LastModificationDate", Json.Epoch(context.Now)));
        _schedules[(group, name)] = schedule;
        return new JsonObject { ["ScheduleArn"] = arn };
    }

    private JsonObject FindSchedule(string group, string name)
    {
        FindGroup(group);
        return _schedules.GetValueOrDefault((group, name))
            ?? throw new EmulatorError("ResourceNotFoundException", $"Schedule {name} does not exist.", 404);
    }

    private JsonObject DeleteSchedule(JsonObject input)
    {
        var group = GroupOf(input);
        var name = Json.Str(input, "Name")!;
        FindSchedule(group, name);
        _schedules.Remove((group, name));
        return [];
    }

    private JsonObject ListSchedules(JsonObject input)
    {
        var group = Json.Str(input, "GroupName");
        var prefix = Json.Str(input, "NamePrefix") ?? string.Empty;
        var state = Json.Str(input, "State");
        var items = _schedules
            .Where(s => (group is null || s.Key.Group == group) && s.Key.Name.StartsWith(prefix, StringComparison.Ordinal) && (state is null || Json.Str(s.Value, "State") == state))
            .OrderBy(s => s.Key.Group, StringComparer.Ordinal).ThenBy(s => s.Key.Name, StringComparer.Ordinal)
            .Select(s => (JsonNode)Json.Object(
                ("Arn", Json.Clone(s.Value["Arn"])),
                ("Name", s.Key.Name),
                ("GroupName", s.Key.Group),
                ("State", Json.Clone(s.Value["State"])),
                ("CreationDate", Json.Clone(s.Value["CreationDate"])),
                ("LastModificationDate", Json.Clone(s.Value["LastModificationDate"])),
                ("Target", new JsonObject { ["Arn"] = (string?)s.Value["Target"]!["Arn"] })))
            .ToArray();
        return new JsonObject { ["Schedules"] = new JsonArray(items) };
    }

    private JsonObject CreateGroup(JsonObject input, RequestContext context)
    {
        var name = Json.Str(input, "Name")!;
        if (_groups.ContainsKey(name))
        {
            throw new EmulatorError("ConflictException", $"Schedule group {name} already exists.", 409);
        }

        var group = new Group(name, $"arn:aws:scheduler:{context.Region}:{context.AccountId}:schedule-group/{name}", context.Now);
        AddTags(group, input["Tags"] as JsonArray);
        _groups[name] = group;
        return new JsonObject { ["ScheduleGroupArn"] = group.Arn };
    }

    private Group FindGroup(string name) =>
        _groups.GetValueOrDefault(name) ?? throw new EmulatorError("ResourceNotFoundException", $"Schedule group {name} does not exist.", 404);

    private Group GroupByArn(string arn) =>
        _groups.Values.FirstOrDefault(g => g.Arn == arn) ?? throw new EmulatorError("ResourceNotFoundException", $"Resource {arn} does not exist (only schedule groups take tags).", 404);

    private JsonObject DeleteGroup(JsonObject input)
    {
        var name = Json.Str(input, "Name")!;
        if (name == DefaultGroup)
        {
            throw new EmulatorError("ValidationException", "The default schedule group cannot be deleted.");
        }

        FindGroup(name);
        foreach (var key in _schedules.Keys.Where(k => k.Group == name).ToList())
        {
            _schedules.Remove(key);
        }

        _groups.Remove(name);
        return [];
    }

    private JsonObject TagResource(JsonObject input)
    {
        AddTags(GroupByArn(Json.Str(input, "ResourceArn")!), input["Tags"] as JsonArray);
        return [];
    }

    private static void AddTags(Group group, JsonArray? tags)
    {
        foreach (var tag in tags ?? [])
        {
            group.Tags[(string)tag!["Key"]!] = (string)tag["Value"]!;
        }
    }

    /// <summary>rate(n unit), at(yyyy-mm-ddThh:mm:ss) in the zone, or cron with six fields in the zone.</summary>
    internal static FireTimes ParseExpression(string expression, TimeZoneInfo zone)
    {
        if (RateRegex().Match(expression) is { Success: true } rate)
        {
            var value = int.Parse(rate.Groups[1].Value, CultureInfo.InvariantCulture);
            var unit = rate.Groups[2].Value.TrimEnd('s');
            if (value < 1 || (value == 1) != !rate.Groups[2].Value.EndsWith('s'))
            {
                throw new EmulatorError("ValidationException", $"Invalid Schedule Expression {expression}.");
            }

            var period = unit switch { "minute" => TimeSpan.FromMinutes(value), "hour" => TimeSpan.FromHours(value), _ => TimeSpan.FromDays(value) };
            return new RateTimes(period);
        }

        if (AtRegex().Match(expression) is { Success: true } at)
        {
            var local = DateTime.ParseExact(at.Groups[1].Value, "yyyy-MM-dd'T'HH:mm:ss", CultureInfo.InvariantCulture);
            return new AtTimes(new DateTimeOffset(local, zone.GetUtcOffset(local)).ToUniversalTime());
        }

        if (CronRegex().Match(expression) is { Success: true } cron)
        {
            return CronTimes.Parse(cron.Groups[1].Value, zone) ?? throw new EmulatorError("ValidationException", $"Invalid Schedule Expression {expression}.");
        }

        throw new EmulatorError("ValidationException", $"Invalid Schedule Expression {expression}.");
    }

    [GeneratedRegex(@"^rate\((\d+) (minutes?|hours?|days?)\)$")]
    private static partial Regex RateRegex();

    [GeneratedRegex(@"^at\((\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})\)$")]
    private static partial Regex AtRegex();

    [GeneratedRegex(@"^cron\(([^)]+)\)$")]
    private static partial Regex CronRegex();

    [GeneratedRegex(@"^arn:aws[a-z-]*:sagemaker:[a-z0-9-]+:\d{12}:pipeline/(?<name>[A-Za-z0-9-]+)$")]
    private static partial Regex PipelineArnRegex();

    private sealed class Group(string name, string arn, DateTimeOffset created)
    {
        public string Arn { get; } = arn;

        public Dictionary<string, string> Tags { get; } = new(StringComparer.Ordinal);

        public JsonObject Describe() => Json.Object(
            ("Arn", Arn), ("Name", name), ("State", "ACTIVE"), ("CreationDate", Json.Epoch(created)), ("LastModificationDate", Json.Epoch(created)));

        public JsonArray TagList() => new(Tags.Select(t => (JsonNode)new JsonObject { ["Key"] = t.Key, ["Value"] = t.Value }).ToArray());
    }
}

/// <summary>When a schedule fires.</summary>
internal abstract class FireTimes
{
    /// <summary>The first firing strictly after <paramref name="after"/> (UTC), not before <paramref name="start"/>.</summary>
    public abstract DateTimeOffset? Next(DateTimeOffset after, DateTimeOffset? start);
}

internal sealed class RateTimes(TimeSpan period) : FireTimes
{
    // Anchored at the start date, or at the Unix epoch when there is none (the real service anchors at creation).
    public override DateTimeOffset? Next(DateTimeOffset after, DateTimeOffset? start)
    {
        var anchor = start ?? DateTimeOffset.UnixEpoch;
        if (after < anchor)
        {
            return anchor;
        }

        var periods = (after - anchor).Ticks / period.Ticks + 1;
        return anchor + TimeSpan.FromTicks(periods * period.Ticks);
    }
}

internal sealed class AtTimes(DateTimeOffset time) : FireTimes
{
    public override DateTimeOffset? Next(DateTimeOffset after, DateTimeOffset? start) => time > after ? time : null;
}

/// <summary>EventBridge cron: minutes hours day-of-month month day-of-week year, one of the day fields '?', evaluated in a time zone.</summary>
internal sealed class CronTimes : FireTimes
{
    private static readonly string[] s_months = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"];
    private static readonly string[] s_days = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

    private readonly HashSet<int> _minutes;
    private readonly HashSet<int> _hours;
    private readonly HashSet<int>? _daysOfMonth;
    private readonly HashSet<int> _months;
    private readonly HashSet<int>? _daysOfWeek;
    private readonly HashSet<int>? _years;
    private readonly TimeZoneInfo _zone;

    private CronTimes(HashSet<int> minutes, HashSet<int> hours, HashSet<int>? daysOfMonth, HashSet<int> months, HashSet<int>? daysOfWeek, HashSet<int>? years, TimeZoneInfo zone)
    {
        (_minutes, _hours, _daysOfMonth, _months, _daysOfWeek, _years, _zone) = (minutes, hours, daysOfMonth, months, daysOfWeek, years, zone);
    }

    public static CronTimes? Parse(string fields, TimeZoneInfo zone)
    {
        var parts = fields.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length != 6 || (parts[2] == "?") == (parts[4] == "?"))
        {
            return null;
        }

        var minutes = Field(parts[0], 0, 59, null);
        var hours = Field(parts[1], 0, 23, null);
        var daysOfMonth = parts[2] == "?" ? null : Field(parts[2], 1, 31, null);
        var months = Field(parts[3], 1, 12, s_months);
        var daysOfWeek = parts[4] == "?" ? null : Field(parts[4], 1, 7, s_days);
        var years = parts[5] == "*" ? null : Field(parts[5], 1970, 2199, null);
        if (minutes is null || hours is null || months is null || (parts[2] != "?" && daysOfMonth is null) || (parts[4] != "?" && daysOfWeek is null) || (parts[5] != "*" && years is null))
        {
            return null;
        }

        return new CronTimes(minutes, hours, daysOfMonth, months, daysOfWeek, years, zone);
    }

    public override DateTimeOffset? Next(DateTimeOffset after, DateTimeOffset? start)
    {
        var from = start is { } s && s > after ? s.AddTicks(-1) : after;
        var localFrom = TimeZoneInfo.ConvertTime(from, _zone).DateTime;
        var day = localFrom.Date;
        for (var i = 0; i < 366 * 5; i++, day = day.AddDays(1))
        {
            if (!_months.Contains(day.Month) || (_years is not null && !_years.Contains(day.Year))
                || (_daysOfMonth is not null && !_daysOfMonth.Contains(day.Day))
                || (_daysOfWeek is not null && !_daysOfWeek.Contains((int)day.DayOfWeek + 1)))
            {
                continue;
            }

            foreach (var hour in _hours.Order())
            {
                foreach (var minute in _minutes.Order())
                {
                    var local = day.AddHours(hour).AddMinutes(minute);
                    // A local time the clock skips (spring forward) runs an hour later; a repeated one (fall back) runs once, the first time.
                    var utc = _zone.IsInvalidTime(local)
                        ? new DateTimeOffset(local.AddHours(1), _zone.GetUtcOffset(local.AddHours(1))).ToUniversalTime()
                        : _zone.IsAmbiguousTime(local)
                            ? new DateTimeOffset(local, _zone.GetAmbiguousTimeOffsets(local).Max()).ToUniversalTime()
                            : new DateTimeOffset(local, _zone.GetUtcOffset(local)).ToUniversalTime();
                    if (utc > from)
                    {
                        return utc;
                    }
                }
            }
        }

        return null;
    }

    private static HashSet<int>? Field(string text, int min, int max, string[]? names)
    {
        var values = new HashSet<int>();
        foreach (var item in text.Split(','))
        {
            var (range, step) = item.Split('/') is [var r, var s] ? (r, s) : (item, "1");
            if (!int.TryParse(step, NumberStyles.None, CultureInfo.InvariantCulture, out var increment) || increment < 1)
            {
                return null;
            }

            int low, high;
            if (range == "*")
            {
                (low, high) = (min, max);
            }
            else if (range.Split('-') is [var a, var b])
            {
                if (Value(a, min, names) is not { } x || Value(b, min, names) is not { } y)
                {
                    return null;
                }

                (low, high) = (x, y);
            }
            else if (Value(range, min, names) is { } single)
            {
                (low, high) = (single, item.Contains('/', StringComparison.Ordinal) ? max : single);
            }
            else
            {
                return null;
            }

            if (low < min || high > max || low > high)
            {
                return null;
            }

            for (var v = low; v <= high; v += increment)
            {
                values.Add(v);
            }
        }

        return values;
    }

    private static int? Value(string text, int min, string[]? names)
    {
        if (int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var number))
        {
            return number;
        }

        var index = names is null ? -1 : Array.IndexOf(names, text.ToUpperInvariant());
        return index < 0 ? null : index + min;
    }
}
