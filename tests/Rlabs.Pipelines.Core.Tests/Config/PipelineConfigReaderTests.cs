using Rlabs.Pipelines.Config;

namespace Rlabs.Pipelines.Tests.Config;

public sealed class PipelineConfigReaderTests : IDisposable
{
    private readonly TempRepository _repo = new();

    public PipelineConfigReaderTests()
    {
        _repo.Write("run_notebook_wrapper.py", "print('hi')\n");
        _repo.Write("notebook/sample_notebook.ipynb", "{}");
    }

    public void Dispose() => _repo.Dispose();

    private PipelineConfigResult Read(string yaml)
    {
        var path = _repo.Write("pipeline.yaml", yaml);
        return PipelineConfigReader.Read(path, _repo.Root);
    }

    private static RlabsPipelineDiagnostic Single(PipelineConfigResult result, string rule)
    {
        var matches = result.Diagnostics.Where(d => d.RuleName == rule).ToList();
        Assert.True(matches.Count == 1, $"Expected one {rule}, got: {string.Join(" | ", result.Diagnostics)}");
        return matches[0];
    }

    private const string SeedYaml = """
        pipeline:
         - name: "sample_step"
           job_suffix: "S"
           code: "run_notebook_wrapper.py"
           input_data: "data/<job_id>"
           output_path: "data"
           params:
             notebook_path: "notebook/sample_notebook.ipynb"
             train_id: "1"
        """;

    [Fact]
    public void Should_read_the_seed_example_exactly()
    {
        var result = Read(SeedYaml);

        Assert.Empty(result.Diagnostics);
        var pipeline = Assert.IsType<RlabsPipeline>(result.Pipeline);
        var step = Assert.Single(pipeline.Steps);
        Assert.Equal("sample_step", step.Name);
        Assert.Equal("S", step.JobSuffix);
        Assert.Equal("run_notebook_wrapper.py", step.Code);
        Assert.Equal("data/<job_id>", step.InputData);
        Assert.Equal("data", step.OutputPath);
        Assert.Equal(["notebook_path", "train_id"], step.Params.Keys);
        Assert.Equal("1", step.Params["train_id"]);
        Assert.Equal(2, step.Line);
        Assert.Equal(ProjectNaming.Sanitize(new DirectoryInfo(_repo.Root).Name), pipeline.ProjectName);
    }

    [Fact]
    public void Should_read_optional_keys_with_their_types()
    {
        var result = Read("""
            project: lead_scoring.v2
            image: 123.dkr.ecr.eu-west-1.amazonaws.com/img:1
            instance_type: ml.m5.large
            max_runtime: 1h30m
            environment: { STAGE: prod }
            tags: { team: data }
            network_isolation: true
            vpc:
              subnets: [subnet-1]
              security_group_ids: [sg-1]
            pipeline:
              - name: a
                job_suffix: A
                code: run_notebook_wrapper.py
                output_path: data
                instance_count: 3
                volume_size_gb: 50
                max_runtime: 600
                input_distribution: ShardedByS3Key
                environment:
                  LEVEL: 2
              - name: b
                job_suffix: B
                code: run_notebook_wrapper.py
                output_path: data
                depends_on: [a]
            """);

        Assert.Empty(result.Diagnostics);
        var pipeline = result.Pipeline!;
        Assert.Equal("lead-scoring-v2", pipeline.ProjectName);
        Assert.Equal(TimeSpan.FromMinutes(90), pipeline.Defaults.MaxRuntime);
        Assert.Equal("ml.m5.large", pipeline.Defaults.InstanceType);
        Assert.True(pipeline.Defaults.NetworkIsolation);
        Assert.Equal(["subnet-1"], pipeline.Defaults.Subnets);
        Assert.Equal("prod", pipeline.Defaults.Environment["STAGE"]);
        Assert.Equal(3, pipeline.Steps[0].InstanceCount);
        Assert.Equal(50, pipeline.Steps[0].VolumeSizeGb);
        Assert.Equal(TimeSpan.FromSeconds(600), pipeline.Steps[0].MaxRuntime);
        Assert.Equal("2", pipeline.Steps[0].Environment["LEVEL"]);
        Assert.Equal(["a"], pipeline.Steps[1].DependsOn);
    }

    [Fact]
    public void Should_suggest_the_key_meant_for_a_misspelt_key()
    {
        var result = Read(SeedYaml.Replace("job_suffix", "job_sufix", StringComparison.Ordinal));

        var unknown = Single(result, "UnknownKey");
        Assert.Equal(3, unknown.Line);
        Assert.Contains("job_sufix", unknown.Message, StringComparison.Ordinal);
        Assert.Contains("Did you mean 'job_suffix'?", unknown.Hint, StringComparison.Ordinal);
        Assert.Null(result.Pipeline);
        Assert.Contains(result.Diagnostics, d => d.RuleName == "MissingKey" && d.Message.Contains("job_suffix", StringComparison.Ordinal));
    }

    [Fact]
    public void Should_report_yaml_syntax_errors_with_line_and_column()
    {
        var result = Read("pipeline:\n  - name: \"a\n    code: x\n");

        var error = Single(result, "YamlSyntax");
        Assert.True(error.Line >= 2, error.ToString());
        Assert.True(error.Column >= 1);
        Assert.EndsWith("pipeline.yaml", error.File, StringComparison.Ordinal);
    }

    [Fact]
    public void Should_explain_tabs_used_for_indentation()
    {
        var result = Read("pipeline:\n\t- name: a\n");

        var error = Single(result, "YamlSyntax");
        Assert.Equal(2, error.Line);
        Assert.Contains("tab", error.Hint, StringComparison.OrdinalIgnoreCase);
    }

    [Theory]
    [InlineData("name")]
    [InlineData("job_suffix")]
    [InlineData("code")]
    [InlineData("output_path")]
    public void Should_report_a_missing_required_key(string key)
    {
        var lines = SeedYaml.Split('\n').Where(l => !l.TrimStart().StartsWith(key + ":", StringComparison.Ordinal) && !l.TrimStart().StartsWith("- " + key + ":", StringComparison.Ordinal));
        var yaml = string.Join('\n', lines);
        if (key == "name")
        {
            yaml = yaml.Replace("   job_suffix", " - job_suffix", StringComparison.Ordinal);
        }

        var result = Read(yaml);

        var missing = result.Diagnostics.Single(d => d.RuleName == "MissingKey");
        Assert.Contains($"'{key}'", missing.Message, StringComparison.Ordinal);
        Assert.Null(result.Pipeline);
    }

    [Fact]
    public void Should_report_an_empty_required_value()
    {
        var result = Read(SeedYaml.Replace("code: \"run_notebook_wrapper.py\"", "code: \"\"", StringComparison.Ordinal));

        var empty = Single(result, "EmptyValue");
        Assert.Equal(4, empty.Line);
    }

    [Fact]
    public void Should_report_duplicate_step_names_and_job_suffixes()
    {
        var result = Read("""
            pipeline:
              - { name: a, job_suffix: X, code: run_notebook_wrapper.py, output_path: data }
              - { name: a, job_suffix: x, code: run_notebook_wrapper.py, output_path: data }
            """);

        Assert.Equal(3, Single(result, "DuplicateStepName").Line);
        Assert.Equal(3, Single(result, "DuplicateJobSuffix").Line);
    }

    [Fact]
    public void Should_report_a_code_script_and_notebook_missing_from_the_repository()
    {
        var result = Read(SeedYaml
            .Replace("run_notebook_wrapper.py", "missing.py", StringComparison.Ordinal)
            .Replace("notebook/sample_notebook.ipynb", "notebook/other.ipynb", StringComparison.Ordinal));

        Assert.Equal(4, Single(result, "CodeNotFound").Line);
        Assert.Equal(8, Single(result, "NotebookNotFound").Line);
    }

    [Fact]
    public void Should_warn_only_for_other_missing_file_params()
    {
        var result = Read(SeedYaml.Replace("train_id: \"1\"", "config_path: conf/settings.json", StringComparison.Ordinal));

        var warning = Single(result, "FileParamNotFound");
        Assert.Equal(RlabsDiagnosticSeverity.Warning, warning.Severity);
        Assert.NotNull(result.Pipeline);
    }

    [Theory]
    [InlineData("S_1")]
    [InlineData("-S")]
    [InlineData("this-suffix-is-way-too-long")]
    [InlineData("s p")]
    public void Should_reject_job_suffixes_unfit_for_sagemaker_job_names(string suffix)
    {
        var result = Read(SeedYaml.Replace("job_suffix: \"S\"", $"job_suffix: \"{suffix}\"", StringComparison.Ordinal));

        Assert.Equal(3, Single(result, "InvalidJobSuffix").Line);
    }

    [Fact]
    public void Should_reject_non_scalar_params()
    {
        var result = Read(SeedYaml.Replace("train_id: \"1\"", "train_id: [1, 2]", StringComparison.Ordinal));

        var error = Single(result, "ParamNotScalar");
        Assert.Equal(9, error.Line);
        Assert.Contains("train_id", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("job_id")]
    [InlineData("output-data-path")]
    public void Should_reject_params_that_clash_with_the_mandatory_arguments(string name)
    {
        var result = Read(SeedYaml.Replace("train_id:", name + ":", StringComparison.Ordinal));

        Single(result, "ReservedParamName");
    }

    [Theory]
    [InlineData("data/<jobid>")]
    [InlineData("data/<run_id>")]
    public void Should_reject_unknown_placeholders(string input)
    {
        var result = Read(SeedYaml.Replace("data/<job_id>", input, StringComparison.Ordinal));

        Assert.Equal(5, Single(result, "InvalidPlaceholder").Line);
    }

    [Fact]
    public void Should_point_out_a_misspelt_job_id_placeholder()
    {
        var result = Read(SeedYaml.Replace("data/<job_id>", "data/<Job-ID>", StringComparison.Ordinal));

        Assert.Contains("exactly as <job_id>", Single(result, "InvalidPlaceholder").Hint, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("/abs/data")]
    [InlineData("../outside")]
    public void Should_reject_paths_leaving_the_data_root(string input)
    {
        var result = Read(SeedYaml.Replace("data/<job_id>", input, StringComparison.Ordinal));

        Single(result, "InvalidPath");
    }

    [Fact]
    public void Should_report_wrong_types()
    {
        var result = Read("""
            pipeline:
              - name: a
                job_suffix: A
                code: run_notebook_wrapper.py
                output_path: data
                params: "not a map"
                instance_count: many
                max_runtime: 10 years
            """);

        Assert.Contains(result.Diagnostics, d => d.RuleName == "WrongType" && d.Line == 6);
        Assert.Contains(result.Diagnostics, d => d.RuleName == "WrongType" && d.Line == 7);
        Assert.Contains(result.Diagnostics, d => d.RuleName == "InvalidValue" && d.Line == 8);
    }

    [Fact]
    public void Should_report_a_dependency_cycle_where_it_closes()
    {
        var result = Read("""
            pipeline:
              - { name: a, job_suffix: A, code: run_notebook_wrapper.py, output_path: data, depends_on: [b] }
              - { name: b, job_suffix: B, code: run_notebook_wrapper.py, output_path: data, depends_on: [a] }
            """);

        var cycle = Single(result, "DependencyCycle");
        Assert.Equal(2, cycle.Line);
        Assert.Equal(94, cycle.Column); // the b of depends_on: [b]
        Assert.Contains("a -> b -> a", cycle.Message, StringComparison.Ordinal);
        Assert.Null(result.Pipeline);
    }

    [Fact]
    public void Should_count_the_implicit_dependency_on_the_step_above_in_a_cycle()
    {
        // b has no depends_on, so it depends on a; a naming b closes the cycle.
        var result = Read("""
            pipeline:
              - { name: a, job_suffix: A, code: run_notebook_wrapper.py, output_path: data, depends_on: [b] }
              - { name: b, job_suffix: B, code: run_notebook_wrapper.py, output_path: data }
            """);

        Assert.Equal(2, Single(result, "DependencyCycle").Line);
    }

    [Fact]
    public void Should_report_an_unknown_dependency_at_its_line_and_column_with_a_suggestion()
    {
        var result = Read("""
            pipeline:
              - { name: prepare, job_suffix: A, code: run_notebook_wrapper.py, output_path: data }
              - name: b
                job_suffix: B
                code: run_notebook_wrapper.py
                output_path: data
                depends_on: [prepare, prepar]
            """);

        var unknown = Single(result, "UnknownDependency");
        Assert.Equal(7, unknown.Line);
        Assert.Equal(27, unknown.Column); // the second entry
        Assert.Contains("'prepare'", unknown.Hint, StringComparison.Ordinal);
    }

    [Fact]
    public void Should_allow_a_dependency_on_a_step_below_and_an_empty_list()
    {
        var result = Read("""
            pipeline:
              - { name: report, job_suffix: R, code: run_notebook_wrapper.py, output_path: reports, depends_on: [load] }
              - { name: load, job_suffix: L, code: run_notebook_wrapper.py, output_path: data, depends_on: [] }
            """);

        Assert.False(result.HasErrors, string.Join(" | ", result.Diagnostics));
        var graph = Rlabs.Pipelines.Planning.StepGraph.Build(result.Pipeline!.Steps);
        Assert.Equal([1], graph.Dependencies[0]);
        Assert.Empty(graph.Dependencies[1]);
        Assert.Equal([1, 0], graph.TopologicalOrder());
    }

    [Fact]
    public void Should_warn_when_a_step_reads_what_a_step_running_beside_it_writes()
    {
        var result = Read("""
            pipeline:
              - { name: a, job_suffix: A, code: run_notebook_wrapper.py, output_path: data }
              - { name: b, job_suffix: B, code: run_notebook_wrapper.py, input_data: "data/<job_id>", output_path: b, depends_on: [] }
            """);

        var warning = Single(result, "UndeclaredDependency");
        Assert.Equal(RlabsDiagnosticSeverity.Warning, warning.Severity);
        Assert.Equal(3, warning.Line);
        Assert.Contains("depends_on", warning.Hint, StringComparison.Ordinal);
    }

    [Fact]
    public void Should_read_parallelism_retry_and_cache_at_the_top_and_per_step()
    {
        var result = Read("""
            parallelism: 3
            retry: { attempts: 4, backoff: "PT2S", on: [capacity, internal], exit_codes: [75] }
            cache: { expire_after: "P7D" }
            pipeline:
              - { name: a, job_suffix: A, code: run_notebook_wrapper.py, output_path: data, retry: { exit_codes: [75, 76] }, cache: false }
              - { name: b, job_suffix: B, code: run_notebook_wrapper.py, output_path: data }
            """);

        Assert.False(result.HasErrors, string.Join(" | ", result.Diagnostics));
        var pipeline = result.Pipeline!;
        Assert.Equal(3, pipeline.Defaults.Parallelism);
        Assert.Equal(4, pipeline.Defaults.Retry!.Attempts);
        Assert.Equal(TimeSpan.FromSeconds(2), pipeline.Defaults.Retry.Backoff);
        Assert.Equal([RlabsFailureKind.Capacity, RlabsFailureKind.Internal], pipeline.Defaults.Retry.On);
        Assert.Equal([75], pipeline.Defaults.Retry.ExitCodes);
        Assert.Equal(new RlabsCacheSettings(true, TimeSpan.FromDays(7)), pipeline.Defaults.Cache);
        var stepRetry = pipeline.Steps[0].Retry!;
        Assert.Equal(3, stepRetry.Attempts);
        Assert.Equal(RlabsRetryPolicy.DefaultOn, stepRetry.On);
        Assert.Equal([75, 76], stepRetry.ExitCodes);
        Assert.Equal(new RlabsCacheSettings(false, null), pipeline.Steps[0].Cache);
        Assert.Null(pipeline.Steps[1].Retry);
    }

    [Fact]
    public void Should_reject_unknown_retry_kinds_bad_durations_and_exit_codes()
    {
        var result = Read("""
            parallelism: 0
            retry: { on: [capacity, bug, script], backoff: "soon", exit_codes: [0, 75] }
            cache: { expire_after: "7 days" }
            pipeline:
              - { name: a, job_suffix: A, code: run_notebook_wrapper.py, output_path: data }
            """);

        Assert.Equal(1, Single(result, "OutOfRange").Line);
        var invalid = result.Diagnostics.Where(d => d.RuleName == "InvalidValue").ToList();
        Assert.Equal(5, invalid.Count);
        Assert.Equal([2, 2, 2, 2, 3], invalid.Select(d => d.Line));
    }

    [Fact]
    public void Should_resolve_anchors_aliases_and_merge_keys()
    {
        var result = Read("""
            x-defaults: &defaults
              code: run_notebook_wrapper.py
              output_path: data
            pipeline:
              - <<: *defaults
                name: a
                job_suffix: A
            """);

        // x-defaults is not a known key: anchors live inside known structure or are reported.
        Assert.Equal(1, Single(result, "UnknownKey").Line);
        var ok = Read("""
            pipeline:
              - &first
                name: a
                job_suffix: A
                code: run_notebook_wrapper.py
                output_path: data
                params: &p { train_id: "1" }
              - <<: *first
                name: b
                job_suffix: B
                params: *p
            """);
        Assert.Empty(ok.Diagnostics);
        Assert.Equal("run_notebook_wrapper.py", ok.Pipeline!.Steps[1].Code);
        Assert.Equal("1", ok.Pipeline.Steps[1].Params["train_id"]);
    }

    [Fact]
    public void Should_handle_a_billion_laughs_alias_bomb_quickly()
    {
        var yaml = new System.Text.StringBuilder("a0: &a0 [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n");
        for (var i = 1; i < 30; i++)
        {
            yaml.Append(System.Globalization.CultureInfo.InvariantCulture, $"a{i}: &a{i} [*a{i - 1},*a{i - 1},*a{i - 1},*a{i - 1},*a{i - 1},*a{i - 1},*a{i - 1},*a{i - 1},*a{i - 1}]\n");
        }
        yaml.Append("pipeline:\n  - name: a\n    job_suffix: A\n    code: run_notebook_wrapper.py\n    output_path: data\n    params: { bomb: *a29 }\n");
        var watch = System.Diagnostics.Stopwatch.StartNew();

        var result = Read(yaml.ToString());

        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(5), $"took {watch.Elapsed}");
        Assert.Contains(result.Diagnostics, d => d.RuleName == "ParamNotScalar");
    }

    [Fact]
    public void Should_refuse_deep_nesting_without_overflowing_the_stack()
    {
        var result = Read("pipeline: " + new string('[', 100_000) + new string(']', 100_000));

        Assert.Equal("TooDeep", Assert.Single(result.Diagnostics).RuleName);
    }

    [Fact]
    public void Should_refuse_huge_files_before_parsing()
    {
        var result = Read("# " + new string('x', (int)PipelineConfigReader.MaxFileBytes) + "\n");

        Assert.Equal("FileTooLarge", Assert.Single(result.Diagnostics).RuleName);
    }

    [Fact]
    public void Should_refuse_binary_garbage()
    {
        var bytes = new byte[4096];
        new Random(7).NextBytes(bytes);
        bytes[10] = 0;
        var path = _repo.WriteBytes("garbage.yaml", bytes);

        var result = PipelineConfigReader.Read(path, _repo.Root);

        Assert.Equal("NotText", Assert.Single(result.Diagnostics).RuleName);
    }

    [Fact]
    public void Should_accept_a_bom_and_crlf_line_endings()
    {
        var path = Path.Combine(_repo.Root, "bom.yaml");
        File.WriteAllText(path, SeedYaml.Replace("\n", "\r\n", StringComparison.Ordinal), new System.Text.UTF8Encoding(true));

        var result = PipelineConfigReader.Read(path, _repo.Root);

        Assert.Empty(result.Diagnostics);
        Assert.Equal(2, result.Pipeline!.Steps[0].Line);
    }

    [Theory]
    [InlineData("")]
    [InlineData("pipeline:")]
    [InlineData("pipeline: []")]
    [InlineData("- a\n- b")]
    [InlineData("just text")]
    [InlineData("pipeline:\n  - just a string")]
    [InlineData("---\npipeline: []\n---\npipeline: []")]
    [InlineData("pipeline: *nothing")]
    [InlineData("{[: ]}")]
    [InlineData("pipeline:\n  - name: a\n    name: b\n    job_suffix: A\n    code: run_notebook_wrapper.py\n    output_path: data")]
    public void Should_report_errors_for_malformed_configs_without_crashing(string yaml)
    {
        var result = Read(yaml);

        Assert.True(result.HasErrors);
        Assert.Null(result.Pipeline);
        Assert.All(result.Diagnostics, d =>
        {
            Assert.False(string.IsNullOrWhiteSpace(d.Message));
            Assert.False(string.IsNullOrWhiteSpace(d.Hint));
            Assert.True(d.Line >= 1);
        });
    }

    [Fact]
    public void Should_survive_random_mutations_of_a_valid_file()
    {
        var random = new Random(12345);
        var source = SeedYaml.ToCharArray();
        const string alphabet = ":-[]{}&*!|>'\"#%@`\t\n ,?<>\\";
        for (var round = 0; round < 2000; round++)
        {
            var text = (char[])source.Clone();
            for (var edits = 0; edits < 4; edits++)
            {
                text[random.Next(text.Length)] = alphabet[random.Next(alphabet.Length)];
            }

            var result = Read(new string(text));

            Assert.True(result.Pipeline is not null || result.HasErrors);
        }
    }

    [Fact]
    public void Should_summarise_errors_with_file_line_and_column()
    {
        var result = Read(SeedYaml.Replace("job_suffix", "job_sufix", StringComparison.Ordinal));

        var summary = result.ErrorSummary();
        Assert.Contains("pipeline.yaml:3:", summary, StringComparison.Ordinal);
        Assert.Contains("Did you mean 'job_suffix'?", summary, StringComparison.Ordinal);
    }
}
