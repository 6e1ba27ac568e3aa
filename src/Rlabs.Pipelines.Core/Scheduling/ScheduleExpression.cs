using System.Globalization;

namespace Rlabs.Pipelines.Scheduling;

/// <summary>Whether a schedule fires at a fixed rate or on cron fields.</summary>
public enum ScheduleKind
{
    /// <summary><c>rate(value unit)</c>.</summary>
    Rate,

    /// <summary><c>cron(minutes hours day-of-month month day-of-week year)</c>.</summary>
    Cron,
}

/// <summary>
/// An EventBridge schedule expression, checked by the rules EventBridge applies to scheduled rules
/// (<c>rate(1 hour)</c>, <c>rate(10 minutes)</c>, <c>cron(0 10 * * ? *)</c>), so a typo is caught before
/// any AWS call and the user sees when it would fire. All times are UTC, as EventBridge's.
/// </summary>
public sealed class ScheduleExpression
{
    private const int MinYear = 1970;
    private const int MaxYear = 2199;

    private const string Examples = "Examples: 'rate(1 hour)', 'rate(15 minutes)', 'cron(0 6 * * ? *)' (06:00 UTC every day), 'cron(30 2 ? * MON-FRI *)' (02:30 UTC on weekdays).";

    private static readonly string[] s_monthNames = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"];
    private static readonly string[] s_dayNames = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

    private readonly TimeSpan _rate;
    private readonly CronFields? _cron;

    private ScheduleExpression(string expression, TimeSpan rate)
    {
        Expression = expression;
        Kind = ScheduleKind.Rate;
        _rate = rate;
    }

    private ScheduleExpression(string expression, CronFields cron)
    {
        Expression = expression;
        Kind = ScheduleKind.Cron;
        _cron = cron;
    }

    /// <summary>The expression as EventBridge takes it.</summary>
    public string Expression { get; }

    /// <summary>Rate or cron.</summary>
    public ScheduleKind Kind { get; }

    /// <summary>For a rate expression, the interval; otherwise null.</summary>
    public TimeSpan? Rate => Kind == ScheduleKind.Rate ? _rate : null;

    /// <inheritdoc/>
    public override string ToString() => Expression;

    /// <summary>Parses <paramref name="expression"/>; throws <see cref="ArgumentException"/> saying what is wrong, with examples.</summary>
    public static ScheduleExpression Parse(string expression)
    {
        if (!TryParse(expression, out var result, out var error))
        {
            throw new ArgumentException(error, nameof(expression));
        }
        return result;
    }

    /// <summary>Parses <paramref name="expression"/>; on failure <paramref name="error"/> says what is wrong, with examples.</summary>
    public static bool TryParse(string? expression, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out ScheduleExpression? result, [System.Diagnostics.CodeAnalysis.NotNullWhen(false)] out string? error)
    {
        result = null;
        var text = expression?.Trim() ?? string.Empty;
        string? problem;
        if (text.StartsWith("rate(", StringComparison.Ordinal) && text.EndsWith(')'))
        {
            problem = ParseRate(text, text[5..^1], out result);
        }
        else if (text.StartsWith("cron(", StringComparison.Ordinal) && text.EndsWith(')'))
        {
            problem = ParseCron(text, text[5..^1], out result);
        }
        else if (text.Length == 0)
        {
            problem = "The schedule expression is empty.";
        }
        else
        {
            problem = $"The schedule expression '{text}' must be 'rate(value unit)' or 'cron(minutes hours day-of-month month day-of-week year)', in lower case.";
        }
        error = problem is null ? null : $"{problem} {Examples}";
        return problem is null;
    }

    /// <summary>
    /// The next <paramref name="count"/> fire times strictly after <paramref name="after"/>, in UTC.
    /// A rate rule fires every interval counted from when the rule was created: pass that time as
    /// <paramref name="rateAnchor"/> when known; otherwise the interval is counted from <paramref name="after"/>.
    /// A cron expression whose last year has passed yields fewer times (possibly none).
    /// </summary>
    public IReadOnlyList<DateTimeOffset> NextOccurrences(DateTimeOffset after, int count, DateTimeOffset? rateAnchor = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        var from = after.ToUniversalTime();
        var times = new List<DateTimeOffset>(count);
        if (Kind == ScheduleKind.Rate)
        {
            var anchor = (rateAnchor ?? from).ToUniversalTime();
            var next = anchor;
            if (next <= from)
            {
                var periods = ((from - anchor).Ticks / _rate.Ticks) + 1;
                next = anchor + TimeSpan.FromTicks(periods * _rate.Ticks);
            }
            for (var i = 0; i < count; i++)
            {
                times.Add(next);
                next += _rate;
            }
            return times;
        }
        var cursor = new DateTime(from.Year, from.Month, from.Day, from.Hour, from.Minute, 0, DateTimeKind.Utc).AddMinutes(1);
        while (times.Count < count)
        {
            var found = _cron!.Next(cursor);
            if (found is null)
            {
                break;
            }
            times.Add(new DateTimeOffset(found.Value, TimeSpan.Zero));
            cursor = found.Value.AddMinutes(1);
        }
        return times;
    }

    private static string? ParseRate(string text, string body, out ScheduleExpression? result)
    {
        result = null;
        var parts = body.Split(' ');
        if (parts.Length != 2 || parts[0].Length == 0 || parts[1].Length == 0)
        {
            return $"The rate expression '{text}' must be 'rate(value unit)' with one space, for example 'rate(5 minutes)'.";
        }
        if (!parts[0].All(char.IsAsciiDigit) || !int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var value) || value <= 0)
        {
            return $"The rate value '{parts[0]}' in '{text}' must be a positive whole number.";
        }
        var unit = parts[1];
        var singular = unit is "minute" or "hour" or "day";
        var plural = unit is "minutes" or "hours" or "days";
        if (!singular && !plural)
        {
            return $"The rate unit '{unit}' in '{text}' must be minute(s), hour(s) or day(s).";
        }
        if (value == 1 && plural)
        {
            return $"A rate of 1 takes a singular unit: 'rate(1 {unit[..^1]})', not '{text}'.";
        }
        if (value > 1 && singular)
        {
            return $"A rate above 1 takes a plural unit: 'rate({value} {unit}s)', not '{text}'.";
        }
        var interval = unit[0] switch
        {
            'm' => TimeSpan.FromMinutes(value),
            'h' => TimeSpan.FromHours(value),
            _ => TimeSpan.FromDays(value),
        };
        result = new ScheduleExpression(text, interval);
        return null;
    }

    private static string? ParseCron(string text, string body, out ScheduleExpression? result)
    {
        result = null;
        var fields = body.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (fields.Length != 6)
        {
            return $"The cron expression '{text}' has {fields.Length} field(s); EventBridge takes exactly six: minutes hours day-of-month month day-of-week year (note the year, and '?' in day-of-month or day-of-week).";
        }
        var minutes = new bool[60];
        var hours = new bool[24];
        var months = new bool[13];
        var years = new bool[MaxYear - MinYear + 1];
        var problem = ParseSimple(fields[0], "minutes", 0, 59, null, minutes, 0)
            ?? ParseSimple(fields[1], "hours", 0, 23, null, hours, 0)
            ?? ParseSimple(fields[3], "month", 1, 12, s_monthNames, months, 0)
            ?? ParseSimple(fields[5], "year", MinYear, MaxYear, null, years, MinYear);
        if (problem is not null)
        {
            return $"{problem} in '{text}'.";
        }
        var domAny = fields[2] == "?";
        var dowAny = fields[4] == "?";
        if (domAny == dowAny)
        {
            return domAny
                ? $"Day-of-month and day-of-week cannot both be '?' in '{text}': give one of them a value or '*'."
                : $"One of day-of-month and day-of-week must be '?' in '{text}' (EventBridge does not allow both): for example 'cron(0 6 * * ? *)' or 'cron(0 6 ? * MON *)'.";
        }
        var cron = new CronFields(minutes, hours, months, years);
        problem = domAny ? ParseDayOfWeek(fields[4], cron) : ParseDayOfMonth(fields[2], cron);
        if (problem is not null)
        {
            return $"{problem} in '{text}'.";
        }
        result = new ScheduleExpression(text, cron);
        return null;
    }

    /// <summary>Comma lists of values, ranges (a-b, wrapping past the end like FRI-MON) and increments (a/n, a-b/n, */n).</summary>
    private static string? ParseSimple(string field, string name, int min, int max, string[]? names, bool[] set, int offset)
    {
        foreach (var item in field.Split(','))
        {
            var problem = ParseItem(item, name, min, max, names, set, offset);
            if (problem is not null)
            {
                return problem;
            }
        }
        return null;
    }

    private static string? ParseItem(string item, string name, int min, int max, string[]? names, bool[] set, int offset)
    {
        if (item.Length == 0)
        {
            return $"The {name} field has an empty list item";
        }
        var rangePart = item;
        var step = 1;
        var slash = item.IndexOf('/', StringComparison.Ordinal);
        if (slash >= 0)
        {
            rangePart = item[..slash];
            var stepText = item[(slash + 1)..];
            if (stepText.Length == 0 || !stepText.All(char.IsAsciiDigit) || !int.TryParse(stepText, NumberStyles.None, CultureInfo.InvariantCulture, out step) || step <= 0 || step > max - min + 1)
            {
                return $"The increment '{stepText}' in the {name} field must be a whole number from 1 to {max - min + 1}";
            }
        }
        int start, end;
        if (rangePart == "*")
        {
            (start, end) = (min, max);
        }
        else
        {
            var dash = rangePart.IndexOf('-', StringComparison.Ordinal);
            var problem = ParseValue(dash < 0 ? rangePart : rangePart[..dash], name, min, max, names, out start);
            if (problem is not null)
            {
                return problem;
            }
            if (dash < 0)
            {
                // 'a/n' runs from a to the end of the field; a plain 'a' is just a.
                end = slash >= 0 ? max : start;
            }
            else
            {
                problem = ParseValue(rangePart[(dash + 1)..], name, min, max, names, out end);
                if (problem is not null)
                {
                    return problem;
                }
            }
        }
        var width = max - min + 1;
        var length = ((end - start + width) % width) + 1;
        for (var i = 0; i < length; i += step)
        {
            set[min + ((start - min + i) % width) - offset] = true;
        }
        return null;
    }

    private static string? ParseValue(string text, string name, int min, int max, string[]? names, out int value)
    {
        value = 0;
        if (names is not null)
        {
            var index = Array.FindIndex(names, n => n.Equals(text, StringComparison.OrdinalIgnoreCase));
            if (index >= 0)
            {
                value = index + 1;
                return null;
            }
        }
        if (text.Length == 0 || !text.All(char.IsAsciiDigit) || !int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out value))
        {
            var allowed = names is null ? $"{min}-{max}" : $"{min}-{max} or {names[0]}-{names[^1]}";
            return $"'{text}' is not a valid {name} value ({allowed})";
        }
        if (value < min || value > max)
        {
            return $"The {name} value {value} is outside {min}-{max}";
        }
        return null;
    }

    private static string? ParseDayOfMonth(string field, CronFields cron)
    {
        if (field == "L")
        {
            cron.LastDayOfMonth = true;
            return null;
        }
        if (field == "LW")
        {
            cron.LastWeekdayOfMonth = true;
            return null;
        }
        if (field.EndsWith('W'))
        {
            var problem = ParseValue(field[..^1], "day-of-month", 1, 31, null, out var day);
            if (problem is not null)
            {
                return $"{problem}; 'W' follows a single day, as in '15W' (the weekday nearest the 15th)";
            }
            cron.NearestWeekdayTo = day;
            return null;
        }
        if (field.Contains('L', StringComparison.Ordinal) || field.Contains('W', StringComparison.Ordinal))
        {
            return $"Day-of-month '{field}': 'L', 'LW' and 'nW' stand alone, not in a list or range";
        }
        if (field.Contains('#', StringComparison.Ordinal))
        {
            return $"Day-of-month '{field}': '#' belongs in day-of-week (for example '2#1', the first Monday)";
        }
        cron.DaysOfMonth = new bool[32];
        return ParseSimple(field, "day-of-month", 1, 31, null, cron.DaysOfMonth, 0);
    }

    private static string? ParseDayOfWeek(string field, CronFields cron)
    {
        const string name = "day-of-week";
        if (field == "L")
        {
            // 'L' alone is the last day of the week: Saturday.
            cron.DaysOfWeek = new bool[8];
            cron.DaysOfWeek[7] = true;
            return null;
        }
        var hash = field.IndexOf('#', StringComparison.Ordinal);
        if (hash >= 0)
        {
            if (field.Contains(',', StringComparison.Ordinal))
            {
                return $"Day-of-week '{field}': with '#' the field holds a single expression (EventBridge reads '3#1,6#3' as two)";
            }
            var problem = ParseValue(field[..hash], name, 1, 7, s_dayNames, out var day);
            if (problem is not null)
            {
                return problem;
            }
            var nthText = field[(hash + 1)..];
            if (nthText.Length != 1 || nthText[0] is < '1' or > '5')
            {
                return $"Day-of-week '{field}': the number after '#' is the week of the month, 1 to 5";
            }
            cron.NthDayOfWeek = (day, nthText[0] - '0');
            return null;
        }
        if (field.Length > 1 && field.EndsWith('L'))
        {
            var problem = ParseValue(field[..^1], name, 1, 7, s_dayNames, out var day);
            if (problem is not null)
            {
                return $"{problem}; 'L' after a day means its last occurrence in the month, as in '6L' (the last Friday)";
            }
            cron.LastDayOfWeekInMonth = day;
            return null;
        }
        if (field.Contains('/', StringComparison.Ordinal))
        {
            return $"Day-of-week '{field}': EventBridge takes ', - * ? L #' here, not '/'";
        }
        if (field.Contains('L', StringComparison.OrdinalIgnoreCase))
        {
            return $"Day-of-week '{field}': 'L' stands alone or after one day, as in '6L'";
        }
        cron.DaysOfWeek = new bool[8];
        return ParseSimple(field, name, 1, 7, s_dayNames, cron.DaysOfWeek, 0);
    }

    /// <summary>The parsed fields and the search for the next matching minute.</summary>
    private sealed class CronFields(bool[] minutes, bool[] hours, bool[] months, bool[] years)
    {
        public bool[]? DaysOfMonth { get; set; }

        public bool LastDayOfMonth { get; set; }

        public bool LastWeekdayOfMonth { get; set; }

        public int? NearestWeekdayTo { get; set; }

        public bool[]? DaysOfWeek { get; set; }

        public int? LastDayOfWeekInMonth { get; set; }

        public (int Day, int Nth)? NthDayOfWeek { get; set; }

        /// <summary>The first matching minute at or after <paramref name="start"/>, or null when none is left before 2200.</summary>
        public DateTime? Next(DateTime start)
        {
            var day = start.Date;
            var first = true;
            while (day.Year <= MaxYear)
            {
                if (!years[day.Year - MinYear])
                {
                    day = new DateTime(day.Year + 1, 1, 1, 0, 0, 0, DateTimeKind.Utc);
                    first = false;
                    continue;
                }
                if (!months[day.Month])
                {
                    day = new DateTime(day.Year, day.Month, 1, 0, 0, 0, DateTimeKind.Utc).AddMonths(1);
                    first = false;
                    continue;
                }
                if (MatchesDay(day))
                {
                    var fromMinute = first ? (start.Hour * 60) + start.Minute : 0;
                    for (var minuteOfDay = fromMinute; minuteOfDay < 24 * 60; minuteOfDay++)
                    {
                        if (hours[minuteOfDay / 60] && minutes[minuteOfDay % 60])
                        {
                            return day.AddMinutes(minuteOfDay);
                        }
                    }
                }
                day = day.AddDays(1);
                first = false;
            }
            return null;
        }

        private bool MatchesDay(DateTime day)
        {
            var lastDay = DateTime.DaysInMonth(day.Year, day.Month);
            var weekday = (int)day.DayOfWeek + 1;
            if (DaysOfMonth is not null)
            {
                return DaysOfMonth[day.Day];
            }
            if (LastDayOfMonth)
            {
                return day.Day == lastDay;
            }
            if (LastWeekdayOfMonth)
            {
                return day.Day == NearestWeekday(day.Year, day.Month, lastDay, lastDay);
            }
            if (NearestWeekdayTo is { } target)
            {
                return target <= lastDay && day.Day == NearestWeekday(day.Year, day.Month, target, lastDay);
            }
            if (DaysOfWeek is not null)
            {
                return DaysOfWeek[weekday];
            }
            if (LastDayOfWeekInMonth is { } last)
            {
                return weekday == last && day.Day + 7 > lastDay;
            }
            if (NthDayOfWeek is { } nth)
            {
                return weekday == nth.Day && ((day.Day - 1) / 7) + 1 == nth.Nth;
            }
            return false;
        }

        /// <summary>The weekday nearest <paramref name="target"/> without leaving the month.</summary>
        private static int NearestWeekday(int year, int month, int target, int lastDay)
        {
            var weekday = new DateTime(year, month, target, 0, 0, 0, DateTimeKind.Utc).DayOfWeek;
            return weekday switch
            {
                DayOfWeek.Saturday => target == 1 ? 3 : target - 1,
                DayOfWeek.Sunday => target == lastDay ? target - 2 : target + 1,
                _ => target,
            };
        }
    }
}
