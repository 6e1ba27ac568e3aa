using System.Globalization;
using Rlabs.Pipelines.Scheduling;

namespace Rlabs.Pipelines.Tests.Scheduling;

public sealed class ScheduleExpressionTests
{
    // A Wednesday.
    private static readonly DateTimeOffset s_now = new(2026, 11, 25, 22, 37, 30, TimeSpan.Zero);

    [Theory]
    [InlineData("rate(1 minute)", 1)]
    [InlineData("rate(5 minutes)", 5)]
    [InlineData("rate(1 hour)", 60)]
    [InlineData("rate(12 hours)", 720)]
    [InlineData("rate(1 day)", 1440)]
    [InlineData("rate(7 days)", 10080)]
    [InlineData("  rate(10 minutes) ", 10)]
    public void Should_accept_rate_expressions_with_AWS_singular_plural_rules(string text, int minutes)
    {
        var expression = ScheduleExpression.Parse(text);

        Assert.Equal(ScheduleKind.Rate, expression.Kind);
        Assert.Equal(TimeSpan.FromMinutes(minutes), expression.Rate);
        Assert.Equal(text.Trim(), expression.Expression);
    }

    [Theory]
    [InlineData("rate(1 minutes)", "singular")]
    [InlineData("rate(1 hours)", "rate(1 hour)")]
    [InlineData("rate(5 minute)", "rate(5 minutes)")]
    [InlineData("rate(2 day)", "plural")]
    [InlineData("rate(0 minutes)", "positive whole number")]
    [InlineData("rate(-1 minutes)", "positive whole number")]
    [InlineData("rate(1.5 hours)", "positive whole number")]
    [InlineData("rate(+5 minutes)", "positive whole number")]
    [InlineData("rate(5 weeks)", "minute(s), hour(s) or day(s)")]
    [InlineData("rate(5 Minutes)", "minute(s), hour(s) or day(s)")]
    [InlineData("rate(5  minutes)", "one space")]
    [InlineData("rate(5minutes)", "one space")]
    [InlineData("rate()", "one space")]
    [InlineData("Rate(5 minutes)", "lower case")]
    [InlineData("every 5 minutes", "must be 'rate(value unit)'")]
    [InlineData("", "empty")]
    public void Should_reject_bad_rate_expressions_saying_why_with_an_example(string text, string reason)
    {
        Assert.False(ScheduleExpression.TryParse(text, out var result, out var error));

        Assert.Null(result);
        Assert.Contains(reason, error, StringComparison.Ordinal);
        Assert.Contains("rate(1 hour)", error, StringComparison.Ordinal);
        Assert.Contains("cron(0 6 * * ? *)", error, StringComparison.Ordinal);
        var thrown = Assert.Throws<ArgumentException>(() => ScheduleExpression.Parse(text));
        Assert.Contains(reason, thrown.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("cron(0 10 * * ? *)")]
    [InlineData("cron(15 12 * * ? *)")]
    [InlineData("cron(0 18 ? * MON-FRI *)")]
    [InlineData("cron(0 8 1 * ? *)")]
    [InlineData("cron(0/15 * * * ? *)")]
    [InlineData("cron(0/10 * ? * MON-FRI *)")]
    [InlineData("cron(0/5 8-17 ? * MON-FRI *)")]
    [InlineData("cron(0 9 ? * 2#1 *)")]
    [InlineData("cron(0 0 L * ? *)")]
    [InlineData("cron(0 0 LW * ? *)")]
    [InlineData("cron(0 0 15W * ? *)")]
    [InlineData("cron(0 0 ? * 6L *)")]
    [InlineData("cron(0 0 ? * L *)")]
    [InlineData("cron(0 12 ? JAN,FEB,mar sun 2027-2030)")]
    [InlineData("cron(1,2,3 */2 1-15/3 */3 ? 1970/10)")]
    [InlineData("cron(0 22-2 * * ? *)")]
    public void Should_accept_cron_expressions_EventBridge_accepts(string text)
    {
        Assert.True(ScheduleExpression.TryParse(text, out var expression, out var error), error);

        Assert.Equal(ScheduleKind.Cron, expression.Kind);
        Assert.Null(expression.Rate);
    }

    [Theory]
    [InlineData("cron(0 10 * * *)", "5 field(s)")]
    [InlineData("cron(0 10 * * ? * *)", "7 field(s)")]
    [InlineData("cron(0 10 * * * *)", "must be '?'")]
    [InlineData("cron(0 10 5 * MON *)", "must be '?'")]
    [InlineData("cron(0 10 ? * ? *)", "cannot both be '?'")]
    [InlineData("cron(60 10 * * ? *)", "minutes value 60 is outside 0-59")]
    [InlineData("cron(0 24 * * ? *)", "hours value 24")]
    [InlineData("cron(0 0 32 * ? *)", "day-of-month value 32")]
    [InlineData("cron(0 0 0 * ? *)", "day-of-month value 0")]
    [InlineData("cron(0 0 * 13 ? *)", "month value 13")]
    [InlineData("cron(0 0 * JANUARY ? *)", "not a valid month value")]
    [InlineData("cron(0 0 ? * 8 *)", "day-of-week value 8")]
    [InlineData("cron(0 0 ? * 0 *)", "day-of-week value 0")]
    [InlineData("cron(0 0 * * ? 1969)", "year value 1969")]
    [InlineData("cron(0 0 * * ? 2200)", "year value 2200")]
    [InlineData("cron(0 0 ? * 3#1,6#3 *)", "single expression")]
    [InlineData("cron(0 0 ? * 3#6 *)", "1 to 5")]
    [InlineData("cron(0 0 ? * MON/2 *)", "not '/'")]
    [InlineData("cron(0 0 L,15 * ? *)", "stand alone")]
    [InlineData("cron(0 0 1#2 * ? *)", "belongs in day-of-week")]
    [InlineData("cron(0 0 ? * 5L,6 *)", "'L' stands alone")]
    [InlineData("cron(*/0 0 * * ? *)", "increment '0'")]
    [InlineData("cron(0/61 0 * * ? *)", "increment '61'")]
    [InlineData("cron(? 0 * * ? *)", "not a valid minutes value")]
    [InlineData("cron(1,,2 0 * * ? *)", "empty list item")]
    [InlineData("cron(0 0 32W * ? *)", "'W' follows a single day")]
    [InlineData("cron 0 10 * * ? *", "must be 'rate(value unit)'")]
    public void Should_reject_cron_expressions_EventBridge_rejects(string text, string reason)
    {
        Assert.False(ScheduleExpression.TryParse(text, out _, out var error));

        Assert.Contains(reason, error, StringComparison.Ordinal);
        Assert.Contains("Examples:", error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("cron(0 10 * * ? *)", "2026-11-26T10:00", "2026-11-27T10:00", "2026-11-28T10:00")]
    [InlineData("cron(0/15 * * * ? *)", "2026-11-25T22:45", "2026-11-25T23:00", "2026-11-25T23:15")]
    [InlineData("cron(5/20 * * * ? *)", "2026-11-25T22:45", "2026-11-25T23:05", "2026-11-25T23:25")]
    [InlineData("cron(0 22-2 * * ? *)", "2026-11-25T23:00", "2026-11-26T00:00", "2026-11-26T01:00")]
    [InlineData("cron(0 18 ? * MON-FRI *)", "2026-11-26T18:00", "2026-11-27T18:00", "2026-11-30T18:00")]
    [InlineData("cron(30 6 ? * SAT,SUN *)", "2026-11-28T06:30", "2026-11-29T06:30", "2026-12-05T06:30")]
    [InlineData("cron(0 9 ? * 2#1 *)", "2026-12-07T09:00", "2027-01-04T09:00", "2027-02-01T09:00")]
    [InlineData("cron(0 0 ? * 6L *)", "2026-11-27T00:00", "2026-12-25T00:00", "2027-01-29T00:00")]
    [InlineData("cron(0 0 ? * L *)", "2026-11-28T00:00", "2026-12-05T00:00", "2026-12-12T00:00")]
    [InlineData("cron(0 0 L * ? *)", "2026-11-30T00:00", "2026-12-31T00:00", "2027-01-31T00:00")]
    [InlineData("cron(0 0 LW 1-2 ? 2027)", "2027-01-29T00:00", "2027-02-26T00:00")]
    [InlineData("cron(0 0 15W MAY,AUG,OCT ? 2027)", "2027-05-14T00:00", "2027-08-16T00:00", "2027-10-15T00:00")]
    [InlineData("cron(0 0 1W MAY ? 2027)", "2027-05-03T00:00")]
    [InlineData("cron(0 0 31 * ? 2027)", "2027-01-31T00:00", "2027-03-31T00:00", "2027-05-31T00:00")]
    [InlineData("cron(0 0 29 FEB ? *)", "2028-02-29T00:00", "2032-02-29T00:00", "2036-02-29T00:00")]
    [InlineData("cron(0 12 * * ? 2025)")]
    [InlineData("cron(59 23 31 DEC ? 2199)", "2199-12-31T23:59")]
    public void Should_compute_the_next_fire_times_in_UTC(string text, params string[] expected)
    {
        var times = ScheduleExpression.Parse(text).NextOccurrences(s_now, 3);

        Assert.Equal(expected.Select(Utc), times);
        Assert.All(times, t => Assert.Equal(TimeSpan.Zero, t.Offset));
    }

    [Fact]
    public void Should_fire_strictly_after_the_given_time()
    {
        var at = new DateTimeOffset(2026, 11, 26, 10, 0, 0, TimeSpan.Zero);

        var times = ScheduleExpression.Parse("cron(0 10 * * ? *)").NextOccurrences(at, 1);

        Assert.Equal([Utc("2026-11-27T10:00")], times);
    }

    [Fact]
    public void Should_convert_local_offsets_to_UTC()
    {
        // 11:30 at UTC+2 is 09:30 UTC: 10:00 UTC the same day is still ahead.
        var local = new DateTimeOffset(2026, 11, 26, 11, 30, 0, TimeSpan.FromHours(2));

        var times = ScheduleExpression.Parse("cron(0 10 * * ? *)").NextOccurrences(local, 1);

        Assert.Equal([Utc("2026-11-26T10:00")], times);
    }

    [Fact]
    public void Should_count_rate_intervals_from_the_anchor()
    {
        var anchor = new DateTimeOffset(2026, 11, 25, 22, 0, 0, TimeSpan.Zero);

        var times = ScheduleExpression.Parse("rate(10 minutes)").NextOccurrences(s_now, 3, anchor);

        Assert.Equal([Utc("2026-11-25T22:40"), Utc("2026-11-25T22:50"), Utc("2026-11-25T23:00")], times);
    }

    [Fact]
    public void Should_count_rate_intervals_from_now_without_an_anchor()
    {
        var times = ScheduleExpression.Parse("rate(1 day)").NextOccurrences(s_now, 2);

        Assert.Equal([s_now.AddDays(1), s_now.AddDays(2)], times);
    }

    private static DateTimeOffset Utc(string text) =>
        DateTimeOffset.ParseExact(text, "yyyy-MM-dd'T'HH:mm", CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal);
}
