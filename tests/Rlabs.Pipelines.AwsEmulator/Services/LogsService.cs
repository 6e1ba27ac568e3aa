using System.Globalization;
using System.Text.Json.Nodes;
using Rlabs.Pipelines.AwsEmulator.Model;

namespace Rlabs.Pipelines.AwsEmulator.Services;

/// <summary>CloudWatch Logs: groups of streams of events, read with forward/backward tokens.</summary>
public sealed class LogsService : IEmulatedService
{
    private readonly Dictionary<string, Dictionary<string, Stream>> _groups = new(StringComparer.Ordinal);

    public LogsService(BotocoreModel model)
    {
        Model = model;
    }

    public string Name => "logs";

    public BotocoreModel Model { get; }

    public IReadOnlySet<string> Operations { get; } = new HashSet<string>(StringComparer.Ordinal) { "DescribeLogStreams", "GetLogEvents" };

    public void Reset()
    {
        lock (_groups)
        {
            _groups.Clear();
        }
    }

    public void CreateStream(string group, string stream, DateTimeOffset now)
    {
        lock (_groups)
        {
            if (!_groups.TryGetValue(group, out var streams))
            {
                streams = new Dictionary<string, Stream>(StringComparer.Ordinal);
                _groups[group] = streams;
            }

            if (!streams.ContainsKey(stream))
            {
                streams[stream] = new Stream(stream, now);
            }
        }
    }

    public void Append(string group, string stream, DateTimeOffset at, IEnumerable<string> messages)
    {
        lock (_groups)
        {
            CreateStream(group, stream, at);
            var target = _groups[group][stream];
            foreach (var message in messages)
            {
                target.Events.Add((Json.EpochMs(at), message, Json.EpochMs(DateTimeOffset.UtcNow)));
            }
        }
    }

    public JsonObject Invoke(string operation, JsonObject input, RequestContext context)
    {
        lock (_groups)
        {
            var groupName = Json.Str(input, "logGroupName")!;
            if (!_groups.TryGetValue(groupName, out var streams))
            {
                throw new EmulatorError("ResourceNotFoundException", "The specified log group does not exist.");
            }

            return operation switch
            {
                "DescribeLogStreams" => Describe(groupName, streams, input, context),
                "GetLogEvents" => GetEvents(streams, input),
                _ => throw new EmulatorError("UnknownOperationException", operation),
            };
        }
    }

    private static JsonObject Describe(string groupName, Dictionary<string, Stream> streams, JsonObject input, RequestContext context)
    {
        var prefix = Json.Str(input, "logStreamNamePrefix");
        var byTime = Json.Str(input, "orderBy") == "LastEventTime";
        if (byTime && prefix is not null)
        {
            throw new EmulatorError("InvalidParameterException", "Cannot order by LastEventTime with a logStreamNamePrefix.");
        }

        var selected = streams.Values.Where(s => prefix is null || s.Name.StartsWith(prefix, StringComparison.Ordinal));
        var ordered = byTime
            ? selected.OrderBy(s => s.Events.Count == 0 ? s.Created : s.Events[^1].Timestamp).ThenBy(s => s.Name, StringComparer.Ordinal)
            : selected.OrderBy(s => s.Name, StringComparer.Ordinal);
        var list = (Json.Bool(input, "descending") == true ? ordered.Reverse() : ordered).ToList();
        var offset = Json.Str(input, "nextToken") is { } token ? int.Parse(token, CultureInfo.InvariantCulture) : 0;
        var limit = Json.Int(input, "limit") ?? 50;
        var page = list.Skip(offset).Take(limit).ToList();
        var result = new JsonObject
        {
            ["logStreams"] = new JsonArray(page.Select(s => (JsonNode)Json.Object(
                ("logStreamName", s.Name),
                ("creationTime", s.Created),
                ("firstEventTimestamp", s.Events.Count > 0 ? s.Events[0].Timestamp : null),
                ("lastEventTimestamp", s.Events.Count > 0 ? s.Events[^1].Timestamp : null),
                ("lastIngestionTime", s.Events.Count > 0 ? s.Events[^1].Ingestion : null),
                ("arn", $"arn:aws:logs:{context.Region}:{context.AccountId}:log-group:{groupName}:log-stream:{s.Name}"),
                ("storedBytes", 0))).ToArray()),
        };
        if (offset + page.Count < list.Count)
        {
            result["nextToken"] = (offset + page.Count).ToString(CultureInfo.InvariantCulture);
        }

        return result;
    }

    private static JsonObject GetEvents(Dictionary<string, Stream> streams, JsonObject input)
    {
        var streamName = Json.Str(input, "logStreamName")!;
        if (!streams.TryGetValue(streamName, out var stream))
        {
            throw new EmulatorError("ResourceNotFoundException", "The specified log stream does not exist.");
        }

        var startTime = input["startTime"] is JsonValue s ? (long?)Json.Number(s) : null;
        var endTime = input["endTime"] is JsonValue e ? (long?)Json.Number(e) : null;
        var limit = Json.Int(input, "limit") ?? 10_000;
        var events = stream.Events
            .Select((ev, index) => (ev, index))
            .Where(x => (startTime is null || x.ev.Timestamp >= startTime) && (endTime is null || x.ev.Timestamp < endTime))
            .ToList();

        // Tokens are "f/<index>" (read forward from index) and "b/<index>" (read backward, exclusive).
        List<((long Timestamp, string Message, long Ingestion) ev, int index)> page;
        var token = Json.Str(input, "nextToken");
        if (token is not null && (token.Length < 3 || token[1] != '/' || !int.TryParse(token[2..], CultureInfo.InvariantCulture, out _)))
        {
            throw new EmulatorError("InvalidParameterException", "The specified nextToken is invalid.");
        }

        int start;
        if (token is not null && token[0] == 'f')
        {
            start = int.Parse(token[2..], CultureInfo.InvariantCulture);
            page = events.Where(x => x.index >= start).Take(limit).ToList();
        }
        else if (token is not null && token[0] == 'b')
        {
            var end = int.Parse(token[2..], CultureInfo.InvariantCulture);
            var before = events.Where(x => x.index < end).ToList();
            page = before.Skip(Math.Max(0, before.Count - limit)).ToList();
            start = page.Count > 0 ? page[0].index : end;
        }
        else if (Json.Bool(input, "startFromHead") == true)
        {
            page = events.Take(limit).ToList();
            start = page.Count > 0 ? page[0].index : 0;
        }
        else
        {
            page = events.Skip(Math.Max(0, events.Count - limit)).ToList();
            start = page.Count > 0 ? page[0].index : stream.Events.Count;
        }

        var forward = page.Count > 0 ? page[^1].index + 1 : (token is not null && token[0] == 'f' ? start : stream.Events.Count);
        return new JsonObject
        {
            ["events"] = new JsonArray(page.Select(x => (JsonNode)new JsonObject
            {
                ["timestamp"] = x.ev.Timestamp,
                ["message"] = x.ev.Message,
                ["ingestionTime"] = x.ev.Ingestion,
            }).ToArray()),
            ["nextForwardToken"] = $"f/{forward.ToString(CultureInfo.InvariantCulture)}",
            ["nextBackwardToken"] = $"b/{start.ToString(CultureInfo.InvariantCulture)}",
        };
    }

    private sealed class Stream
    {
        public Stream(string name, DateTimeOffset created)
        {
            Name = name;
            Created = Json.EpochMs(created);
        }

        public string Name { get; }

        public long Created { get; }

        public List<(long Timestamp, string Message, long Ingestion)> Events { get; } = [];
    }
}
