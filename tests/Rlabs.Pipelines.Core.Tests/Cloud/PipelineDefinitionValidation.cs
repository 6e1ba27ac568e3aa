using System.Diagnostics;
using System.Text.Json.Nodes;
using Rlabs.Pipelines.AwsEmulator.Model;
using Rlabs.Pipelines.AwsEmulator.Services;

namespace Rlabs.Pipelines.Tests.Cloud;

/// <summary>
/// Checks a compiled SageMaker pipeline definition two ways: against the published definition schema, read
/// from outside the project at test time (with the corrections its README lists, everything else strict),
/// and with the emulator's reading of the service's rules, which checks every step's Arguments against
/// botocore's CreateProcessingJob input shape.
/// </summary>
internal static class PipelineDefinitionValidation
{
    /// <summary>The published schema; never copied into the repository.</summary>
    public static string SchemaPath => s_schemaPath.Value;

    // RLABS_PIPELINE_SCHEMA, else shared/reference/ beside the repository or beside any folder above it (a clone
    // may sit deeper than the working copy), else the machine's /work/shared/reference.
    private static readonly Lazy<string> s_schemaPath = new(() =>
    {
        const string Name = "sagemaker-pipeline-definition.schema.json";
        if (Environment.GetEnvironmentVariable("RLABS_PIPELINE_SCHEMA") is { Length: > 0 } given)
        {
            return given;
        }
        var candidates = new List<string>();
        for (var folder = new DirectoryInfo(FindRepositoryRoot()); folder is not null; folder = folder.Parent)
        {
            candidates.Add(Path.Combine(folder.FullName, "shared", "reference", Name));
        }
        candidates.Add(Path.Combine("/work", "shared", "reference", Name));
        return candidates.FirstOrDefault(File.Exists) ?? candidates[0];
    });

    private static readonly Lazy<BotocoreModel> s_sageMaker = new(() => BotocoreModel.Load(BotocoreModel.DefaultDataDirectory, "sagemaker"));

    // The validator with the README's corrections, shared with the Pester engine tests.
    private static string ValidatorPath => Path.Combine(FindRepositoryRoot(), "tests", "tools", "validate-pipeline-definition.py");

    /// <summary>Violations of the schema (empty when it validates).</summary>
    public static IReadOnlyList<string> SchemaViolations(params string[] definitions)
    {
        // The published schema is reference data outside the project: where a machine has none, the schema half
        // of the check cannot run and the test says so as a skip (the botocore half runs everywhere).
        Skip.IfNot(File.Exists(SchemaPath), $"The SageMaker pipeline definition schema is not on this machine ({SchemaPath}; set RLABS_PIPELINE_SCHEMA to its path).");
        var folder = Path.Combine(Path.GetTempPath(), "rlabs-schema-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(folder);
        try
        {
            var files = definitions.Select((json, i) =>
            {
                var file = Path.Combine(folder, $"definition{i}.json");
                File.WriteAllText(file, json);
                return file;
            }).ToList();
            var start = new ProcessStartInfo(OperatingSystem.IsWindows() ? "python" : "/usr/bin/python3") { RedirectStandardOutput = true, RedirectStandardError = true };
            start.ArgumentList.Add(ValidatorPath);
            start.ArgumentList.Add("--schema");
            start.ArgumentList.Add(SchemaPath);
            foreach (var file in files)
            {
                start.ArgumentList.Add(file);
            }
            using var process = Process.Start(start)!;
            var output = process.StandardOutput.ReadToEndAsync();
            var error = process.StandardError.ReadToEnd();
            process.WaitForExit();
            Assert.True(process.ExitCode is 0 or 1, $"The schema validator failed to run (exit {process.ExitCode}; needs python3-jsonschema): {error}");
            return output.Result.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    /// <summary>What the service (as the emulator reads it) refuses, Arguments checked against botocore.</summary>
    public static IReadOnlyList<string> ServiceViolations(string definition) => PipelineDefinition.Parse(definition, s_sageMaker.Value).Errors;

    /// <summary>Asserts both checks find nothing.</summary>
    public static void AssertValid(params string[] definitions)
    {
        var problems = SchemaViolations(definitions).Concat(definitions.SelectMany(ServiceViolations)).ToList();
        Assert.True(problems.Count == 0, string.Join(Environment.NewLine, problems));
    }

    /// <summary>Evaluates Get Parameters.* and Std:Join the way an execution does, for comparisons.</summary>
    public static JsonNode? Resolve(JsonNode? node, IReadOnlyDictionary<string, string> parameters) => node switch
    {
        JsonObject { Count: 1 } get when get["Get"] is { } reference => JsonValue.Create(parameters[((string)reference!)["Parameters.".Length..]]),
        JsonObject { Count: 1 } join when join["Std:Join"] is JsonObject spec =>
            JsonValue.Create(string.Join((string)spec["On"]!, spec["Values"]!.AsArray().Select(v => (string)Resolve(v, parameters)!))),
        JsonObject obj => new JsonObject(obj.Select(m => KeyValuePair.Create(m.Key, Resolve(m.Value, parameters)))),
        JsonArray array => new JsonArray(array.Select(i => Resolve(i, parameters)).ToArray()),
        null => null,
        _ => node.DeepClone(),
    };

    private static string FindRepositoryRoot()
    {
        var directory = new DirectoryInfo(AppContext.BaseDirectory);
        while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "build.ps1")))
        {
            directory = directory.Parent;
        }
        return directory?.FullName ?? throw new InvalidOperationException("The repository root (build.ps1) was not found above " + AppContext.BaseDirectory);
    }
}
