namespace Rlabs.Pipelines.Tests.Config;

public sealed class ProjectNamingTests
{
    [Theory]
    [InlineData("345687")]
    [InlineData("my-job-id")]
    [InlineData("A1")]
    [InlineData("20261125-221500-a1b2")]
    public void Should_accept_job_ids_safe_for_paths_keys_and_job_names(string jobId) =>
        Assert.Null(ProjectNaming.ValidateJobId(jobId));

    [Theory]
    [InlineData("")]
    [InlineData("-lead")]
    [InlineData("trail-")]
    [InlineData("has space")]
    [InlineData("dots.are.bad")]
    [InlineData("../escape")]
    [InlineData("under_score")]
    [InlineData("ünïcode")]
    [InlineData("a123456789012345678901234567890123456789x")]
    public void Should_reject_unsafe_job_ids_with_a_reason(string jobId)
    {
        var problem = ProjectNaming.ValidateJobId(jobId);

        Assert.NotNull(problem);
    }

    [Fact]
    public void Should_generate_valid_unique_job_ids()
    {
        var now = new DateTimeOffset(2026, 11, 25, 22, 15, 0, TimeSpan.Zero);
        var ids = Enumerable.Range(0, 50).Select(_ => ProjectNaming.NewJobId(now)).ToList();

        Assert.All(ids, id => Assert.Null(ProjectNaming.ValidateJobId(id)));
        Assert.All(ids, id => Assert.StartsWith("20261125-221500-", id, StringComparison.Ordinal));
        Assert.True(ids.Distinct().Count() > 40);
    }

    [Theory]
    [InlineData("lead_scoring.test", "lead-scoring-test")]
    [InlineData("My Project!", "My-Project")]
    [InlineData("__x__", "x")]
    public void Should_sanitize_project_names_the_seed_way(string name, string expected) =>
        Assert.Equal(expected, ProjectNaming.Sanitize(name));

    [Fact]
    public void Should_keep_job_names_within_63_valid_characters()
    {
        var longName = ProjectNaming.JobName(new string('p', 32), new string('j', 40), "suffix-1", "a1b2");
        var other = ProjectNaming.JobName(new string('p', 32), new string('j', 40), "suffix-2", "a1b2");

        Assert.True(longName.Length <= 63);
        Assert.Matches("^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$", longName);
        Assert.NotEqual(longName, other);
        Assert.Equal("proj-345687-S", ProjectNaming.JobName("proj", "345687", "S"));
    }

    [Theory]
    [InlineData("churn", "c1", "T")]
    [InlineData("pppppppppppppppppppppppppppppppp", "jjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjj", "suffix-number-1")]
    [InlineData("project-with-hyphens", "20261125-221500-a1b2", "a-b")]
    [InlineData("p", "jjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjj", "s")]
    public void Should_keep_the_runs_name_prefix_in_every_job_name_even_a_shortened_one(string project, string jobId, string suffix)
    {
        // -Resume finds a run's jobs with ListProcessingJobs NameContains this prefix.
        var prefix = ProjectNaming.JobNamePrefix(project, jobId);
        var name = ProjectNaming.JobName(project, jobId, suffix, ProjectNaming.NewAttempt());

        Assert.Contains(prefix, name, StringComparison.Ordinal);
        Assert.Matches("^[a-zA-Z0-9\\-]{1,63}$", prefix);
        Assert.StartsWith(project, prefix, StringComparison.Ordinal);
    }
}
