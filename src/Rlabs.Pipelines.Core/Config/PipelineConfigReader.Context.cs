using System.Globalization;

namespace Rlabs.Pipelines.Config;

public static partial class PipelineConfigReader
{
    /// <summary>One validation pass over one file; collects every problem instead of stopping at the first.</summary>
    private sealed class ReadContext
    {
        private readonly string _file;
        private readonly string _repository;

        public ReadContext(string file, string repository)
        {
            _file = file;
            _repository = repository;
        }

        public List<RlabsPipelineDiagnostic> Diagnostics { get; } = [];

        /// <summary>Each step's depends_on entries with their positions, checked once every step is read.</summary>
        private readonly Dictionary<RlabsPipelineStep, List<YamlScalarNode>> _dependencyNodes = [];

        /// <summary>Each step's input_data node, for the check that its writer is one of its dependencies.</summary>
        private readonly Dictionary<RlabsPipelineStep, YamlScalarNode> _inputNodes = [];

        public RlabsPipeline? Run()
        {
            var text = ReadText(_file, (rule, message, hint) => Error(rule, 1, 1, message, hint));
            if (text is null)
            {
                return null;
            }
            var root = YamlTreeReader.Read(text, out var errors);
            foreach (var error in errors)
            {
                Error(error.RuleName, error.Line, error.Column, error.Message, error.Hint);
            }
            if (errors.Count > 0)
            {
                return null;
            }
            if (root is null || root is YamlScalarNode { IsNull: true })
            {
                Error("MissingKey", 1, 1, "The pipeline file is empty.", "Start with 'pipeline:' followed by a list of steps (see Get-Help about_Rlabs_PipelineConfig).");
                return null;
            }
            if (root is not YamlMappingNode top)
            {
                Error("WrongType", root.Line, root.Column, $"The file's top level is {root.KindName}; a mapping with a 'pipeline' key is expected.", "Start with 'pipeline:' followed by a list of steps.");
                return null;
            }
            var entries = Entries(top, TopLevelKeys, "the top level");
            var defaults = ReadDefaults(entries);
            var steps = ReadSteps(top, entries);
            var project = OptionalString(entries, "project");
            var projectName = ProjectNaming.Sanitize(project?.Value ?? new DirectoryInfo(_repository).Name);
            if (!ProjectNaming.IsValid(projectName))
            {
                var at = (YamlNodeBase?)project ?? top;
                Error("InvalidProjectName", at.Line, at.Column, $"The project name '{projectName}' cannot be used in job names.", "Set 'project:' to letters, digits and hyphens (at most 32 characters), starting with a letter or digit.");
            }
            return steps is null ? null : new RlabsPipeline(_file, _repository, projectName, steps, defaults);
        }

        private PipelineDefaults ReadDefaults(Dictionary<string, (YamlScalarNode Key, YamlNodeBase Value)> entries)
        {
            var vpc = entries.TryGetValue("vpc", out var vpcEntry) ? vpcEntry.Value : null;
            List<string> subnets = [];
            List<string> groups = [];
            if (vpc is YamlMappingNode vpcMap)
            {
                var vpcEntries = Entries(vpcMap, s_vpcKeys, "'vpc'");
                subnets = StringList(vpcEntries, "subnets", 1, 16) ?? [];
                groups = StringList(vpcEntries, "security_group_ids", 1, 5) ?? [];
                if (subnets.Count == 0 != (groups.Count == 0))
                {
                    Error("InvalidValue", vpcMap.Line, vpcMap.Column, "'vpc' needs both 'subnets' and 'security_group_ids'.", "Give at least one subnet and one security group id.");
                }
            }
            else if (vpc is not null && vpc is not YamlScalarNode { IsNull: true })
            {
                WrongType("vpc", vpc, "a mapping with 'subnets' and 'security_group_ids'");
            }
            return new PipelineDefaults
            {
                Image = OptionalString(entries, "image")?.Value,
                InstanceType = InstanceType(entries),
                InstanceCount = Integer(entries, "instance_count", 1, 100),
                VolumeSizeGb = Integer(entries, "volume_size_gb", 1, 16384),
                MaxRuntime = Duration(entries),
                Environment = ScalarMap(entries, "environment", isEnvironment: true),
                Tags = ScalarMap(entries, "tags", isEnvironment: false),
                Bucket = OptionalString(entries, "bucket")?.Value,
                RoleArn = OptionalString(entries, "role_arn")?.Value,
                KmsKeyId = OptionalString(entries, "kms_key_id")?.Value,
                NetworkIsolation = Boolean(entries, "network_isolation"),
                Subnets = subnets,
                SecurityGroupIds = groups,
                PackageSecrets = StringList(entries, "package_secrets", 1, 100) ?? [],
                Parallelism = Integer(entries, "parallelism", 1, 100),
                Retry = ReadRetry(entries, "the top level"),
                Cache = ReadCache(entries, "the top level"),
            };
        }

        private List<RlabsPipelineStep>? ReadSteps(YamlMappingNode top, Dictionary<string, (YamlScalarNode Key, YamlNodeBase Value)> entries)
        {
            if (!entries.TryGetValue("pipeline", out var pipelineEntry))
            {
                Error("MissingKey", top.Line, top.Column, "The required key 'pipeline' is missing.", "Add 'pipeline:' with a list of steps, each with name, job_suffix, code and output_path.");
                return null;
            }
            if (pipelineEntry.Value is not YamlSequenceNode list)
            {
                var empty = pipelineEntry.Value is YamlScalarNode { IsNull: true };
                Error(empty ? "EmptyValue" : "WrongType", pipelineEntry.Value.Line, pipelineEntry.Value.Column,
                    empty ? "'pipeline' has no steps." : $"'pipeline' is {pipelineEntry.Value.KindName}; a list of steps is expected.",
                    "Write each step as a list item starting with '- name: …'.");
                return null;
            }
            if (list.Items.Count == 0)
            {
                Error("EmptyValue", list.Line, list.Column, "'pipeline' has no steps.", "Add at least one step.");
                return null;
            }
            var steps = new List<RlabsPipelineStep>();
            var names = new Dictionary<string, RlabsPipelineStep>(StringComparer.OrdinalIgnoreCase);
            var suffixes = new Dictionary<string, RlabsPipelineStep>(StringComparer.OrdinalIgnoreCase);
            var index = 0;
            foreach (var item in list.Items)
            {
                index++;
                if (item is not YamlMappingNode stepMap)
                {
                    Error("WrongType", item.Line, item.Column, $"Step {index} is {item.KindName}; a mapping with name, job_suffix, code and output_path is expected.", "Write the step as '- name: …' with its keys indented below.");
                    continue;
                }
                var step = ReadStep(stepMap, index, names);
                if (step is null)
                {
                    continue;
                }
                if (names.TryGetValue(step.Name, out var first))
                {
                    Error("DuplicateStepName", step.Line, 1, $"The step name '{step.Name}' is used twice (first at line {first.Line}).", "Give every step a unique name.");
                }
                else
                {
                    names[step.Name] = step;
                }
                if (step.JobSuffix.Length == 0)
                {
                    // Missing, reported already.
                }
                else if (suffixes.TryGetValue(step.JobSuffix, out var sameSuffix))
                {
                    Error("DuplicateJobSuffix", step.Line, 1, $"The job suffix '{step.JobSuffix}' of step '{step.Name}' is already used by step '{sameSuffix.Name}' (suffixes compare without case).", "Give every step a unique job_suffix: job names are built from it.");
                }
                else
                {
                    suffixes[step.JobSuffix] = step;
                }
                steps.Add(step);
            }
            CheckGraph(steps, names);
            return steps;
        }

        /// <summary>
        /// depends_on names steps of the file (above or below), the graph has no cycle, and a step's input is not
        /// written by a step that may run at the same time (neither its ancestor nor its descendant).
        /// </summary>
        private void CheckGraph(List<RlabsPipelineStep> steps, Dictionary<string, RlabsPipelineStep> names)
        {
            var known = true;
            foreach (var step in steps)
            {
                foreach (var node in _dependencyNodes.GetValueOrDefault(step) ?? [])
                {
                    if (!names.ContainsKey(node.Value))
                    {
                        known = false;
                        var hint = Suggest(node.Value, names.Keys) is { } near
                            ? $"Did you mean '{near}'?"
                            : $"Steps of this file: {string.Join(", ", names.Keys.Take(10))}.";
                        Error("UnknownDependency", node.Line, node.Column, $"Step '{step.Name}' depends on '{node.Value}', which is not a step of this file.", hint);
                    }
                }
            }
            if (!known || steps.Count != names.Count)
            {
                return; // unknown or duplicate names: the graph is not defined yet
            }
            var graph = Planning.StepGraph.Build(steps);
            if (graph.Cycle is { } cycle)
            {
                var first = steps[cycle[0]];
                var node = (_dependencyNodes.GetValueOrDefault(first) ?? []).FirstOrDefault(n => string.Equals(n.Value, steps[cycle[1]].Name, StringComparison.OrdinalIgnoreCase));
                var path = string.Join(" -> ", cycle.Select(i => steps[i].Name).Append(first.Name));
                Error("DependencyCycle", node?.Line ?? first.Line, node?.Column ?? 1, $"The steps depend on each other in a cycle: {path} (a step without depends_on depends on the step above it).", "Remove one of these dependencies, or give the step an explicit 'depends_on:'.");
                return;
            }
            for (var index = 0; index < steps.Count; index++)
            {
                if (!_inputNodes.TryGetValue(steps[index], out var input))
                {
                    continue;
                }
                var inputKey = Planning.StepContract.InputKey(steps[index], "x");
                foreach (var other in Enumerable.Range(0, steps.Count).Where(o => o != index && !graph.Related(o, index)))
                {
                    if (inputKey is not null && Planning.StepGraph.Overlaps(Planning.StepContract.OutputKey(steps[other], "x"), inputKey))
                    {
                        Warning("UndeclaredDependency", input.Line, input.Column, $"Step '{steps[index].Name}' reads '{input.Value}', which step '{steps[other].Name}' writes, but neither depends on the other: they may run at the same time.", $"Add '{steps[other].Name}' to the depends_on of step '{steps[index].Name}', or give the steps different output_path folders.");
                        break;
                    }
                }
            }
        }

        private RlabsPipelineStep? ReadStep(YamlMappingNode map, int index, Dictionary<string, RlabsPipelineStep> earlier)
        {
            var entries = Entries(map, StepKeys, $"step {index}");
            var label = $"step {index}";
            var name = RequiredString(entries, "name", map, label);
            if (name is not null)
            {
                label = $"step '{name.Value}'";
                if (!StepNameRegex().IsMatch(name.Value))
                {
                    Error("InvalidStepName", name.Line, name.Column, $"The step name '{name.Value}' is not valid.", "Use 1-63 letters, digits, '_', '-' or '.', starting with a letter or digit.");
                }
            }
            var suffix = RequiredString(entries, "job_suffix", map, label);
            if (suffix is not null && !JobSuffixRegex().IsMatch(suffix.Value))
            {
                Error("InvalidJobSuffix", suffix.Line, suffix.Column, $"The job suffix '{suffix.Value}' of {label} cannot be part of a SageMaker job name.", "Use 1-16 letters, digits and hyphens, starting and ending with a letter or digit (for example 'S' or 'train-1').");
            }
            var code = RequiredString(entries, "code", map, label);
            if (code is not null && CheckRelativePath(code, "code", label, allowPlaceholder: false))
            {
                CheckRepositoryFile(code, "CodeNotFound", $"The code script '{code.Value}' of {label} does not exist in the repository '{_repository}'.", "Check the path: it is relative to the repository root (-RepositoryPath).", RlabsDiagnosticSeverity.Error);
            }
            var input = OptionalString(entries, "input_data");
            if (input is not null)
            {
                CheckRelativePath(input, "input_data", label, allowPlaceholder: true);
            }
            var output = RequiredString(entries, "output_path", map, label);
            if (output is not null && CheckRelativePath(output, "output_path", label, allowPlaceholder: true) && output.Value.Contains("<job_id>", StringComparison.Ordinal))
            {
                Warning("RedundantPlaceholder", output.Line, output.Column, $"'output_path' of {label} contains <job_id>, but the job id is appended to it already: output lands in '{output.Value}/<job_id>/'.", "Write the folder only, e.g. output_path: \"data\".");
            }
            var requirements = OptionalString(entries, "requirements");
            if (requirements is not null && CheckRelativePath(requirements, "requirements", label, allowPlaceholder: false))
            {
                CheckRepositoryFile(requirements, "RequirementsNotFound", $"The requirements file '{requirements.Value}' of {label} does not exist in the repository.", "Check the path, relative to the repository root.", RlabsDiagnosticSeverity.Error);
            }
            var parameters = ReadParams(entries, label);
            var dependsOn = ReadDependsOn(entries, label, name?.Value);
            var distribution = OptionalString(entries, "input_distribution");
            if (distribution is not null && distribution.Value is not ("FullyReplicated" or "ShardedByS3Key"))
            {
                Error("InvalidValue", distribution.Line, distribution.Column, $"'input_distribution' of {label} is '{distribution.Value}'.", "Use FullyReplicated (every instance gets all input) or ShardedByS3Key (instances split the input files).");
            }
            var isolation = Boolean(entries, "network_isolation");
            var network = Boolean(entries, "network");
            if (network == true && isolation == true)
            {
                var key = entries["network"].Key;
                Error("InvalidValue", key.Line, key.Column, $"{label} has both 'network: true' and 'network_isolation: true'.", "Keep one: network_isolation cuts the network of the SageMaker job, network gives a local container step network access.");
            }
            var step = new RlabsPipelineStep
            {
                Name = name?.Value ?? string.Empty,
                JobSuffix = suffix?.Value ?? string.Empty,
                Code = code?.Value ?? string.Empty,
                InputData = input?.Value,
                OutputPath = output?.Value ?? string.Empty,
                Params = parameters,
                DependsOn = dependsOn.Select(n => n.Value).ToList(),
                HasDependsOn = entries.ContainsKey("depends_on"),
                Retry = ReadRetry(entries, label),
                Cache = ReadCache(entries, label),
                Requirements = requirements?.Value,
                Image = OptionalString(entries, "image")?.Value,
                InstanceType = InstanceType(entries),
                InstanceCount = Integer(entries, "instance_count", 1, 100),
                VolumeSizeGb = Integer(entries, "volume_size_gb", 1, 16384),
                MaxRuntime = Duration(entries),
                Environment = ScalarMap(entries, "environment", isEnvironment: true),
                InputDistribution = distribution?.Value,
                NetworkIsolation = isolation,
                Network = network ?? false,
                Line = map.Line,
            };
            _dependencyNodes[step] = dependsOn;
            if (input is not null)
            {
                _inputNodes[step] = input;
            }
            // Kept even when other keys are missing, so duplicate names are still reported.
            return name is null ? null : step;
        }

        private OrderedDictionary<string, string> ReadParams(Dictionary<string, (YamlScalarNode Key, YamlNodeBase Value)> entries, string label)
        {
            var result = new OrderedDictionary<string, string>(StringComparer.Ordinal);
            if (!entries.TryGetValue("params", out var entry) || entry.Value is YamlScalarNode { IsNull: true })
            {
                return result;
            }
            if (entry.Value is not YamlMappingNode map)
            {
                WrongType("params", entry.Value, "a mapping of parameter names to values");
                return result;
            }
            foreach (var (keyNode, valueNode) in map.Entries)
            {
                if (keyNode is not YamlScalarNode key)
                {
                    Error("WrongType", keyNode.Line, keyNode.Column, $"A parameter name of {label} is {keyNode.KindName}.", "Parameter names are plain words such as notebook_path.");
                    continue;
                }
                if (!ParamNameRegex().IsMatch(key.Value))
                {
                    Error("InvalidParamName", key.Line, key.Column, $"The parameter name '{key.Value}' of {label} cannot be passed as '--{key.Value}'.", "Use letters, digits, '_' and '-', starting with a letter.");
                    continue;
                }
                var normalized = key.Value.Replace('-', '_').ToLowerInvariant();
                if (ReservedParams.Contains(normalized))
                {
                    Error("ReservedParamName", key.Line, key.Column, $"The parameter '{key.Value}' of {label} clashes with the mandatory argument '--{normalized.Replace('_', '-')}' that the runner passes itself.", "Rename the parameter; the runner always passes --job-id, --input-data-zip/--input-data-path, --output-data-path, --source-code-zip and --requirements-path.");
                    continue;
                }
                if (result.ContainsKey(key.Value))
                {
                    continue; // reported by Entries-style duplicate check below
                }
                if (valueNode is not YamlScalarNode value)
                {
                    Error("ParamNotScalar", valueNode.Line, valueNode.Column, $"The parameter '{key.Value}' of {label} is {valueNode.KindName}; parameters are passed as '--{key.Value} <value>' and must be single values.", "Use a string, number or boolean; to pass a list, write it as one string, e.g. \"a,b,c\".");
                    continue;
                }
                CheckPlaceholders(value, $"parameter '{key.Value}' of {label}");
                if (!value.IsNull && LooksLikeRepositoryFile(key.Value, value.Value))
                {
                    var notebook = key.Value.Contains("notebook", StringComparison.OrdinalIgnoreCase) || value.Value.EndsWith(".ipynb", StringComparison.OrdinalIgnoreCase);
                    CheckRepositoryFile(value, notebook ? "NotebookNotFound" : "FileParamNotFound",
                        $"The parameter '{key.Value}' of {label} names '{value.Value}', which does not exist in the repository.",
                        "Check the path: it is relative to the repository root, as it will be inside the source zip.",
                        notebook ? RlabsDiagnosticSeverity.Error : RlabsDiagnosticSeverity.Warning);
                }
                result[key.Value] = value.IsNull ? string.Empty : value.Value;
            }
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (var (keyNode, _) in map.Entries)
            {
                if (keyNode is YamlScalarNode key && !seen.Add(key.Value))
                {
                    Error("DuplicateKey", key.Line, key.Column, $"The parameter '{key.Value}' of {label} is given twice.", "Keep one of them.");
                }
            }
            return result;
        }

        private List<YamlScalarNode> ReadDependsOn(Dictionary<string, (YamlScalarNode Key, YamlNodeBase Value)> entries, string label, string? self)
        {
            var result = new List<YamlScalarNode>();
            if (!entries.TryGetValue("depends_on", out var entry) || entry.Value is YamlScalarNode { IsNull: true })
            {
                return result;
            }
            var items = entry.Value switch
            {
                YamlSequenceNode seq => seq.Items,
                YamlScalarNode scalar => [scalar],
                _ => null,
            };
            if (items is null)
            {
                WrongType("depends_on", entry.Value, "a list of step names");
                return result;
            }
            foreach (var item in items)
            {
                if (item is not YamlScalarNode { IsNull: false } dependency)
                {
                    Error("WrongType", item.Line, item.Column, $"An entry of 'depends_on' of {label} is {item.KindName}; a step name is expected.", "List step names, e.g. depends_on: [prepare].");
                    continue;
                }
                if (string.Equals(dependency.Value, self, StringComparison.OrdinalIgnoreCase))
                {
                    Error("DependencyCycle", dependency.Line, dependency.Column, $"{Capitalize(label)} depends on itself.", "Remove it from its own depends_on.");
                    continue;
                }
                if (result.Any(r => string.Equals(r.Value, dependency.Value, StringComparison.OrdinalIgnoreCase)))
                {
                    Warning("DuplicateDependency", dependency.Line, dependency.Column, $"{Capitalize(label)} lists '{dependency.Value}' twice in depends_on.", "Keep one of them.");
                    continue;
                }
                result.Add(dependency);
            }
            return result;
        }

        private RlabsRetryPolicy? ReadRetry(Dictionary<string, (YamlScalarNode Key, YamlNodeBase Value)> entries, string label)
        {
            if (!entries.TryGetValue("retry", out var entry) || entry.Value is YamlScalarNode { IsNull: true })
            {
                return null;
            }
            if (entry.Value is not YamlMappingNode map)
            {
                WrongType("retry", entry.Value, "a mapping such as { attempts: 3, backoff: \"PT30S\", on: [capacity, throttling, internal], exit_codes: [75] }");
                return null;
            }
            var retry = Entries(map, s_retryKeys, $"'retry' of {label}");
            var attempts = Integer(retry, "attempts", 1, 20) ?? 3;
            var backoff = TimeSpan.FromSeconds(30);
            if (OptionalString(retry, "backoff") is { } backoffNode)
            {
                if (TryParseIsoDuration(backoffNode.Value, out var parsed) && parsed <= TimeSpan.FromHours(1))
                {
                    backoff = parsed;
                }
                else
                {
                    Error("InvalidValue", backoffNode.Line, backoffNode.Column, $"'backoff' of {label} is '{backoffNode.Value}'.", "Give an ISO-8601 duration of at most an hour, e.g. \"PT30S\" or \"PT2M\" (seconds such as 30 work too).");
                }
            }
            var on = new List<RlabsFailureKind>();
            if (retry.TryGetValue("on", out var onEntry))
            {
                var items = onEntry.Value switch { YamlSequenceNode seq => seq.Items, YamlScalarNode scalar => [scalar], _ => [] };
                foreach (var item in items)
                {
                    if (item is YamlScalarNode { IsNull: false } kind
                        && Enum.TryParse<RlabsFailureKind>(kind.Value, ignoreCase: true, out var parsed)
                        && parsed != RlabsFailureKind.Script && !int.TryParse(kind.Value, CultureInfo.InvariantCulture, out _))
                    {
                        if (!on.Contains(parsed))
                        {
                            on.Add(parsed);
                        }
                        continue;
                    }
                    var text = (item as YamlScalarNode)?.Value ?? item.KindName;
                    Error("InvalidValue", item.Line, item.Column, $"'on' of the retry of {label} lists '{text}'.", "Use capacity, throttling, internal or timeout. A script's own failures are retried only for the codes listed in 'exit_codes'.");
                }
            }
            else
            {
                on.AddRange(RlabsRetryPolicy.DefaultOn);
            }
            var exitCodes = new List<int>();
            if (retry.TryGetValue("exit_codes", out var codesEntry))
            {
                var items = codesEntry.Value switch { YamlSequenceNode seq => seq.Items, YamlScalarNode scalar => [scalar], _ => [] };
                foreach (var item in items)
                {
                    if (item is YamlScalarNode code && int.TryParse(code.Value, NumberStyles.None, CultureInfo.InvariantCulture, out var value) && value is > 0 and < 256)
                    {
                        exitCodes.Add(value);
                        continue;
                    }
                    Error("InvalidValue", item.Line, item.Column, $"'exit_codes' of the retry of {label} lists '{(item as YamlScalarNode)?.Value ?? item.KindName}'.", "List exit codes from 1 to 255, e.g. exit_codes: [75].");
                }
            }
            return new RlabsRetryPolicy(attempts, backoff, on, exitCodes);
        }

        private RlabsCacheSettings? ReadCache(Dictionary<string, (YamlScalarNode Key, YamlNodeBase Value)> entries, string label)
        {
            if (!entries.TryGetValue("cache", out var entry) || entry.Value is YamlScalarNode { IsNull: true })
            {
                return null;
            }
            if (entry.Value is YamlScalarNode scalar)
            {
                if (bool.TryParse(scalar.Value, out var enabled))
                {
                    return new RlabsCacheSettings(enabled, null);
                }
                WrongType("cache", scalar, "true, false or a mapping such as { expire_after: \"P7D\" }");
                return null;
            }
            if (entry.Value is not YamlMappingNode map)
            {
                WrongType("cache", entry.Value, "true, false or a mapping such as { expire_after: \"P7D\" }");
                return null;
            }
            var cache = Entries(map, s_cacheKeys, $"'cache' of {label}");
            TimeSpan? expire = null;
            if (OptionalString(cache, "expire_after") is { } expireNode)
            {
                if (TryParseIsoDuration(expireNode.Value, out var parsed) && parsed > TimeSpan.Zero)
                {
                    expire = parsed;
                }
                else
                {
                    Error("InvalidValue", expireNode.Line, expireNode.Column, $"'expire_after' of the cache of {label} is '{expireNode.Value}'.", "Give an ISO-8601 duration such as \"P7D\" (7 days) or \"PT12H\".");
                }
            }
            return new RlabsCacheSettings(Boolean(cache, "enabled") ?? true, expire);
        }

        private static string Capitalize(string text) => text.Length == 0 ? text : char.ToUpperInvariant(text[0]) + text[1..];

        private static bool LooksLikeRepositoryFile(string key, string value)
        {
            var lower = key.ToLowerInvariant();
            var fileLike = lower.Contains("notebook", StringComparison.Ordinal) || lower.EndsWith("_path", StringComparison.Ordinal) || lower.EndsWith("_file", StringComparison.Ordinal);
            return fileLike
                && value.Length > 0
                && !value.Contains('<', StringComparison.Ordinal)
                && !value.Contains("://", StringComparison.Ordinal)
                && !System.IO.Path.IsPathRooted(value)
                && System.IO.Path.HasExtension(value);
        }

        private bool CheckRelativePath(YamlScalarNode node, string key, string label, bool allowPlaceholder)
        {
            var value = node.Value.Replace('\\', '/');
            if (System.IO.Path.IsPathRooted(node.Value) || value.StartsWith('/') || (value.Length > 1 && value[1] == ':'))
            {
                Error("InvalidPath", node.Line, node.Column, $"'{key}' of {label} is an absolute path ('{node.Value}').", key is "code" or "requirements" ? "Give the path relative to the repository root." : "Give the path relative to the data root; the same path is used under the run's S3 prefix in the cloud.");
                return false;
            }
            if (value.Split('/').Any(part => part == ".."))
            {
                Error("InvalidPath", node.Line, node.Column, $"'{key}' of {label} leaves its root with '..' ('{node.Value}').", "Paths stay inside the repository or data root; remove the '..' segments.");
                return false;
            }
            if (allowPlaceholder)
            {
                return CheckPlaceholders(node, $"'{key}' of {label}");
            }
            if (PlaceholderRegex().IsMatch(value))
            {
                Error("InvalidPlaceholder", node.Line, node.Column, $"'{key}' of {label} contains a placeholder ('{node.Value}'), which is not substituted there.", "Write the literal path of the file in the repository.");
                return false;
            }
            return true;
        }

        private bool CheckPlaceholders(YamlScalarNode node, string what)
        {
            var ok = true;
            foreach (System.Text.RegularExpressions.Match match in PlaceholderRegex().Matches(node.Value))
            {
                if (match.Value != "<job_id>")
                {
                    var squeezed = new string(match.Value.Where(char.IsAsciiLetterOrDigit).ToArray());
                    var hint = squeezed.Equals("jobid", StringComparison.OrdinalIgnoreCase)
                        ? "Write the placeholder exactly as <job_id>."
                        : "<job_id> is the only placeholder; it is replaced by the run's job id.";
                    Error("InvalidPlaceholder", node.Line, node.Column, $"{Capitalize(what)} uses the unknown placeholder '{match.Value}'.", hint);
                    ok = false;
                }
            }
            return ok;
        }

        private void CheckRepositoryFile(YamlScalarNode node, string rule, string message, string hint, RlabsDiagnosticSeverity severity)
        {
            string full;
            try
            {
                full = System.IO.Path.GetFullPath(System.IO.Path.Combine(_repository, node.Value));
            }
            catch (Exception ex) when (ex is ArgumentException or NotSupportedException or PathTooLongException)
            {
                Error("InvalidPath", node.Line, node.Column, $"'{node.Value}' is not a valid path: {ex.Message}", "Fix the path.");
                return;
            }
            if (!File.Exists(full))
            {
                if (severity == RlabsDiagnosticSeverity.Error)
                {
                    Error(rule, node.Line, node.Column, message, hint);
                }
                else
                {
                    Warning(rule, node.Line, node.Column, message, hint);
                }
            }
        }

        /// <summary>The mapping's entries by key, reporting unknown, duplicate and non-scalar keys.</summary>
        private Dictionary<string, (YamlScalarNode Key, YamlNodeBase Value)> Entries(YamlMappingNode map, string[] known, string where)
        {
            var result = new Dictionary<string, (YamlScalarNode Key, YamlNodeBase Value)>(StringComparer.Ordinal);
            foreach (var (keyNode, value) in ExpandMerges(map))
            {
                if (keyNode is not YamlScalarNode key || key.IsNull)
                {
                    Error("WrongType", keyNode.Line, keyNode.Column, $"A key in {where} is {keyNode.KindName}; keys are plain names.", "Write keys as 'name: value'.");
                    continue;
                }
                if (!known.Contains(key.Value))
                {
                    var near = Suggest(key.Value, known);
                    Error("UnknownKey", key.Line, key.Column, $"Unknown key '{key.Value}' in {where}.",
                        near is not null ? $"Did you mean '{near}'?" : $"Known keys: {string.Join(", ", known)}.");
                    continue;
                }
                if (result.TryGetValue(key.Value, out var first))
                {
                    if (!ReferenceEquals(first.Key, key))
                    {
                        Error("DuplicateKey", key.Line, key.Column, $"The key '{key.Value}' in {where} is given twice (first at line {first.Key.Line}).", "Keep one of them.");
                    }
                    continue;
                }
                result[key.Value] = (key, value);
            }
            return result;
        }

        /// <summary>Applies YAML merge keys ('&lt;&lt;: *defaults'); explicit keys win over merged ones.</summary>
        private List<KeyValuePair<YamlNodeBase, YamlNodeBase>> ExpandMerges(YamlMappingNode map)
        {
            if (!map.Entries.Any(e => e.Key is YamlScalarNode { IsPlain: true, Value: "<<" }))
            {
                return map.Entries;
            }
            var own = map.Entries.Where(e => e.Key is not YamlScalarNode { IsPlain: true, Value: "<<" }).ToList();
            var ownKeys = own.Select(e => (e.Key as YamlScalarNode)?.Value).ToHashSet(StringComparer.Ordinal);
            var merged = new List<KeyValuePair<YamlNodeBase, YamlNodeBase>>(own);
            foreach (var merge in map.Entries.Where(e => e.Key is YamlScalarNode { IsPlain: true, Value: "<<" }))
            {
                var sources = merge.Value switch
                {
                    YamlMappingNode m => [m],
                    YamlSequenceNode s when s.Items.All(i => i is YamlMappingNode) => s.Items.Cast<YamlMappingNode>().ToList(),
                    _ => null,
                };
                if (sources is null)
                {
                    Error("WrongType", merge.Value.Line, merge.Value.Column, "A merge key '<<' must refer to a mapping or a list of mappings.", "Write '<<: *anchor' where the anchor is on a mapping.");
                    continue;
                }
                foreach (var source in sources)
                {
                    foreach (var entry in source.Entries)
                    {
                        if (entry.Key is YamlScalarNode k && ownKeys.Add(k.Value))
                        {
                            merged.Add(entry);
                        }
                    }
                }
            }
            return merged;
        }

        private YamlScalarNode? RequiredString(Dictionary<string, (YamlScalarNode Key, YamlNodeBase Value)> entries, string key, YamlMappingNode owner, string label)
        {
            if (!entries.TryGetValue(key, out var entry))
            {
                Error("MissingKey", owner.Line, owner.Column, $"{Capitalize(label)} has no '{key}'.", RequiredHint(key));
                return null;
            }
            if (entry.Value is not YamlScalarNode scalar)
            {
                WrongType(key, entry.Value, "a string");
                return null;
            }
            if (scalar.IsNull || string.IsNullOrWhiteSpace(scalar.Value))
            {
                Error("EmptyValue", entry.Key.Line, entry.Key.Column, $"'{key}' of {label} is empty.", RequiredHint(key));
                return null;
            }
            return scalar;
        }

        private static string RequiredHint(string key) => key switch
        {
            "name" => "Add 'name: <step name>', e.g. name: \"prepare\".",
            "job_suffix" => "Add 'job_suffix: <short code>', e.g. job_suffix: \"P\"; it ends the step's job name.",
            "code" => "Add 'code: <script path>', the code script relative to the repository, e.g. code: \"run_notebook_wrapper.py\".",
            "output_path" => "Add 'output_path: <folder>', e.g. output_path: \"data\"; output lands in <output_path>/<job_id>/.",
            _ => $"Add '{key}'.",
        };

        private YamlScalarNode? OptionalString(Dictionary<string, (YamlScalarNode Key, YamlNodeBase Value)> entries, string key)
        {
            if (!entries.TryGetValue(key, out var entry))
            {
                return null;
            }
            if (entry.Value is not YamlScalarNode scalar)
            {
                WrongType(key, entry.Value, "a string");
                return null;
            }
            if (scalar.IsNull || string.IsNullOrWhiteSpace(scalar.Value))
            {
                Error("EmptyValue", entry.Key.Line, entry.Key.Column, $"'{key}' is empty.", $"Give '{key}' a value or remove the key.");
                return null;
            }
            return scalar;
        }

        private string? InstanceType(Dictionary<string, (YamlScalarNode Key, YamlNodeBase Value)> entries)
        {
            var node = OptionalString(entries, "instance_type");
            if (node is not null && InstanceTypes.Validate(node.Value) is { } problem)
            {
                Error("InvalidValue", node.Line, node.Column, $"'instance_type' is '{node.Value}'.", problem.IndexOf("Did you mean", StringComparison.Ordinal) is var at and >= 0
                    ? problem[at..]
                    : "Use 'local' or a SageMaker instance type such as ml.t3.xlarge or ml.m5.large.");
                return null;
            }
            return node?.Value;
        }

        private int? Integer(Dictionary<string, (YamlScalarNode Key, YamlNodeBase Value)> entries, string key, int min, int max)
        {
            var node = OptionalString(entries, key);
            if (node is null)
            {
                return null;
            }
            if (!int.TryParse(node.Value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var value))
            {
                WrongType(key, node, "a whole number");
                return null;
            }
            if (value < min || value > max)
            {
                Error("OutOfRange", node.Line, node.Column, $"'{key}' is {value}.", $"Use a number from {min} to {max}.");
                return null;
            }
            return value;
        }

        private TimeSpan? Duration(Dictionary<string, (YamlScalarNode Key, YamlNodeBase Value)> entries)
        {
            var node = OptionalString(entries, "max_runtime");
            if (node is null)
            {
                return null;
            }
            if (!TryParseDuration(node.Value, out var value))
            {
                Error("InvalidValue", node.Line, node.Column, $"'max_runtime' is '{node.Value}'.", "Give seconds (3600) or a duration such as 90m, 2h or 1h30m.");
                return null;
            }
            if (value > TimeSpan.FromDays(5))
            {
                Error("OutOfRange", node.Line, node.Column, $"'max_runtime' is {value.TotalSeconds:N0} seconds.", "SageMaker Processing allows at most 5 days (432000 seconds).");
                return null;
            }
            return value;
        }

        private bool? Boolean(Dictionary<string, (YamlScalarNode Key, YamlNodeBase Value)> entries, string key)
        {
            var node = OptionalString(entries, key);
            if (node is null)
            {
                return null;
            }
            if (bool.TryParse(node.Value, out var value))
            {
                return value;
            }
            WrongType(key, node, "true or false");
            return null;
        }

        private OrderedDictionary<string, string> ScalarMap(Dictionary<string, (YamlScalarNode Key, YamlNodeBase Value)> entries, string key, bool isEnvironment)
        {
            var result = new OrderedDictionary<string, string>(StringComparer.Ordinal);
            if (!entries.TryGetValue(key, out var entry) || entry.Value is YamlScalarNode { IsNull: true })
            {
                return result;
            }
            if (entry.Value is not YamlMappingNode map)
            {
                WrongType(key, entry.Value, "a mapping of names to values");
                return result;
            }
            foreach (var (keyNode, valueNode) in map.Entries)
            {
                if (keyNode is not YamlScalarNode name || name.IsNull)
                {
                    Error("WrongType", keyNode.Line, keyNode.Column, $"A name in '{key}' is {keyNode.KindName}.", "Write 'NAME: value'.");
                    continue;
                }
                if (isEnvironment && !EnvNameRegex().IsMatch(name.Value))
                {
                    Error("InvalidValue", name.Line, name.Column, $"'{name.Value}' is not a valid environment variable name.", "Use letters, digits and '_', not starting with a digit.");
                    continue;
                }
                if (valueNode is not YamlScalarNode value)
                {
                    Error("WrongType", valueNode.Line, valueNode.Column, $"The value of '{name.Value}' in '{key}' is {valueNode.KindName}; a single value is expected.", "Use a string, number or boolean.");
                    continue;
                }
                if (!result.TryAdd(name.Value, value.IsNull ? string.Empty : value.Value))
                {
                    Error("DuplicateKey", name.Line, name.Column, $"'{name.Value}' is given twice in '{key}'.", "Keep one of them.");
                }
            }
            return result;
        }

        private List<string>? StringList(Dictionary<string, (YamlScalarNode Key, YamlNodeBase Value)> entries, string key, int min, int max)
        {
            if (!entries.TryGetValue(key, out var entry))
            {
                return null;
            }
            if (entry.Value is not YamlSequenceNode seq || seq.Items.Any(i => i is not YamlScalarNode { IsNull: false }))
            {
                WrongType(key, entry.Value, "a list of strings");
                return null;
            }
            if (seq.Items.Count < min || seq.Items.Count > max)
            {
                Error("OutOfRange", seq.Line, seq.Column, $"'{key}' has {seq.Items.Count} entries.", $"Give from {min} to {max}.");
                return null;
            }
            return seq.Items.Cast<YamlScalarNode>().Select(s => s.Value).ToList();
        }

        private void WrongType(string key, YamlNodeBase node, string expected) =>
            Error("WrongType", node.Line, node.Column, $"'{key}' is {node.KindName}; {expected} is expected.", $"Write '{key}' as {expected}.");

        private void Error(string rule, int line, int column, string message, string hint) =>
            Diagnostics.Add(new RlabsPipelineDiagnostic(RlabsDiagnosticSeverity.Error, rule, message, hint, _file, line, column));

        private void Warning(string rule, int line, int column, string message, string hint) =>
            Diagnostics.Add(new RlabsPipelineDiagnostic(RlabsDiagnosticSeverity.Warning, rule, message, hint, _file, line, column));
    }
}
