using Rlabs.Pipelines.Scheduling;

namespace Rlabs.Pipelines.Tests.Scheduling;

/// <summary>Serverless schedule expressions: read in their IANA time zone, refused before any AWS call when wrong.</summary>
public sealed class SchedulerExpressionTests
{
    [Fact]
    public void Should_fire_a_six_oclock_cron_in_Amsterdam_at_five_utc_in_winter_and_four_in_summer()
    {
        var expression = SchedulerExpression.Parse("cron(0 6 * * ? *)", "Europe/Amsterdam");

        var winter = expression.NextOccurrences(new DateTimeOffset(2026, 1, 10, 12, 0, 0, TimeSpan.Zero), 2);
        var change = expression.NextOccurrences(new DateTimeOffset(2026, 3, 28, 12, 0, 0, TimeSpan.Zero), 2);
        var autumn = expression.NextOccurrences(new DateTimeOffset(2026, 10, 24, 12, 0, 0, TimeSpan.Zero), 2);

        Assert.Equal([new DateTimeOffset(2026, 1, 11, 5, 0, 0, TimeSpan.Zero), new DateTimeOffset(2026, 1, 12, 5, 0, 0, TimeSpan.Zero)], winter);
        Assert.Equal([new DateTimeOffset(2026, 3, 29, 4, 0, 0, TimeSpan.Zero), new DateTimeOffset(2026, 3, 30, 4, 0, 0, TimeSpan.Zero)], change);
        Assert.Equal([new DateTimeOffset(2026, 10, 25, 5, 0, 0, TimeSpan.Zero), new DateTimeOffset(2026, 10, 26, 5, 0, 0, TimeSpan.Zero)], autumn);
        Assert.Equal("Europe/Amsterdam", expression.TimeZoneId);
    }

    [Fact]
    public void Should_read_a_one_time_at_expression_in_its_zone_and_default_to_utc()
    {
        var newYork = SchedulerExpression.Parse("at(2027-01-31T06:00:00)", "America/New_York");
        var utc = SchedulerExpression.Parse("rate(1 day)", null);

        Assert.Equal([new DateTimeOffset(2027, 1, 31, 11, 0, 0, TimeSpan.Zero)], newYork.NextOccurrences(new DateTimeOffset(2027, 1, 1, 0, 0, 0, TimeSpan.Zero), 3));
        Assert.Empty(newYork.NextOccurrences(new DateTimeOffset(2027, 2, 1, 0, 0, 0, TimeSpan.Zero), 3));
        Assert.Equal("UTC", utc.TimeZoneId);
    }

    [Theory]
    [InlineData("cron(0 6 * * ? *)", "Europe/Atlantis", "not an IANA time zone")]
    [InlineData("cron(0 6 * * ? *)", "CET+1", "not an IANA time zone")]
    [InlineData("cron(0 6 * * *)", "UTC", "cron(")]
    [InlineData("at(2027-02-30T06:00:00)", "UTC", "does not exist")]
    [InlineData("at(2027-01-31 06:00)", "UTC", "at(yyyy-mm-ddThh:mm:ss)")]
    [InlineData("every day", "UTC", "rate(")]
    public void Should_refuse_a_bad_time_zone_or_expression_saying_how_to_write_it(string expression, string zone, string hint)
    {
        var error = Assert.Throws<ArgumentException>(() => SchedulerExpression.Parse(expression, zone));

        Assert.Contains(hint, error.Message, StringComparison.Ordinal);
    }
}
