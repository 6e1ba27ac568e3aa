using System.Diagnostics;
using System.Text.Json.Nodes;

namespace Rlabs.Pipelines.AwsEmulator.Services;

/// <summary>
/// Runs a processing job's ContainerEntrypoint + ContainerArguments on this machine instead of in its
/// image: S3 inputs are fetched from the emulator's S3 into a temporary root that stands in for
/// /opt/ml/processing, arguments and environment values under that path are remapped, and on success
/// the outputs are uploaded back. This is what lets cloud-path tests prove the data handoff between steps.
/// </summary>
public sealed class LocalProcessingJobExecutor : IProcessingJobExecutor
{
    private const string ContainerRoot = "/opt/ml/processing";
    private readonly S3Service _s3;

    public LocalProcessingJobExecutor(S3Service s3)
    {
        _s3 = s3;
    }

    public async Task<(bool Succeeded, string? FailureReason)> RunAsync(JsonObject job, Action<string> log, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(job);
        ArgumentNullException.ThrowIfNull(log);
        var root = Directory.CreateTempSubdirectory("rlabs-emulated-job-").FullName;
        try
        {
            string Map(string containerPath) => containerPath.StartsWith(ContainerRoot, StringComparison.Ordinal)
                ? Path.Combine(root, containerPath[ContainerRoot.Length..].TrimStart('/'))
                : containerPath;

            foreach (var input in job["ProcessingInputs"]?.AsArray() ?? [])
            {
                var s3Input = input?["S3Input"];
                if (s3Input is null)
                {
                    continue;
                }

                var (bucket, prefix) = SplitS3Uri((string)s3Input["S3Uri"]!);
                var local = Map((string)s3Input["LocalPath"]!);
                Directory.CreateDirectory(local);
                var keys = _s3.ListKeys(bucket, prefix);
                if (keys.Count == 0)
                {
                    return (false, $"ClientError: No S3 objects found under S3 URL \"{s3Input["S3Uri"]}\" given in input data source. Please ensure that the bucket exists in the selected region (eu-west-1), that objects exist under that S3 prefix, and that the role has permission to read objects.");
                }

                foreach (var key in keys)
                {
                    var relative = key == prefix ? Path.GetFileName(key) : key[prefix.Length..].TrimStart('/');
                    var target = Path.GetFullPath(Path.Combine(local, relative));
                    Directory.CreateDirectory(Path.GetDirectoryName(target)!);
                    await File.WriteAllBytesAsync(target, _s3.GetObjectBytes(bucket, key)!, cancellationToken).ConfigureAwait(false);
                }
            }

            var outputs = (job["ProcessingOutputConfig"]?["Outputs"]?.AsArray() ?? [])
                .Select(o => o?["S3Output"]).Where(o => o is not null)
                .Select(o => (Uri: (string)o!["S3Uri"]!, Local: Map((string)o["LocalPath"]!)))
                .ToList();
            foreach (var output in outputs)
            {
                Directory.CreateDirectory(output.Local);
            }

            var command = (job["AppSpecification"]?["ContainerEntrypoint"]?.AsArray() ?? [])
                .Concat(job["AppSpecification"]?["ContainerArguments"]?.AsArray() ?? [])
                .Select(a => RemapText((string)a!, root))
                .ToList();
            if (command.Count == 0)
            {
                return (false, "ClientError: The emulator's executor needs AppSpecification.ContainerEntrypoint.");
            }

            var start = new ProcessStartInfo(command[0])
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
                WorkingDirectory = root,
            };
            foreach (var argument in command.Skip(1))
            {
                start.ArgumentList.Add(argument);
            }

            foreach (var variable in job["Environment"]?.AsObject() ?? [])
            {
                start.Environment[variable.Key] = RemapText((string?)variable.Value ?? string.Empty, root);
            }

            var maxRuntime = TimeSpan.FromSeconds((int?)job["StoppingCondition"]?["MaxRuntimeInSeconds"] ?? 86_400);
            using var process = new Process { StartInfo = start };
            var lastError = string.Empty;
            process.OutputDataReceived += (_, e) =>
            {
                if (e.Data is not null)
                {
                    log(e.Data);
                }
            };
            process.ErrorDataReceived += (_, e) =>
            {
                if (e.Data is not null)
                {
                    lastError = e.Data;
                    log(e.Data);
                }
            };
            try
            {
                process.Start();
            }
            catch (System.ComponentModel.Win32Exception ex)
            {
                return (false, $"ClientError: The container entrypoint '{command[0]}' could not be started: {ex.Message}");
            }

            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            using var runtime = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            runtime.CancelAfter(maxRuntime);
            try
            {
                await process.WaitForExitAsync(runtime.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                process.Kill(entireProcessTree: true);
                await process.WaitForExitAsync(CancellationToken.None).ConfigureAwait(false);
                if (cancellationToken.IsCancellationRequested)
                {
                    throw;
                }

                return (false, $"MaxRuntimeExceeded: the job ran longer than {maxRuntime.TotalSeconds:0} s.");
            }

            // Let the asynchronous readers deliver the last lines before judging the run.
            process.WaitForExit();
            if (process.ExitCode != 0)
            {
                return (false, $"AlgorithmError: {lastError} (exit code {process.ExitCode})".Trim());
            }

            foreach (var (uri, local) in outputs)
            {
                var (bucket, prefix) = SplitS3Uri(uri);
                foreach (var file in Directory.GetFiles(local, "*", SearchOption.AllDirectories))
                {
                    var relative = Path.GetRelativePath(local, file).Replace(Path.DirectorySeparatorChar, '/');
                    _s3.PutObjectBytes(bucket, prefix.Length == 0 ? relative : prefix.TrimEnd('/') + "/" + relative, await File.ReadAllBytesAsync(file, cancellationToken).ConfigureAwait(false));
                }
            }

            return (true, null);
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    private static string RemapText(string value, string root) =>
        value.Replace(ContainerRoot, root.TrimEnd('/'), StringComparison.Ordinal);

    private static (string Bucket, string Prefix) SplitS3Uri(string uri)
    {
        if (!uri.StartsWith("s3://", StringComparison.Ordinal))
        {
            throw new EmulatorError("ValidationException", $"Only s3:// URIs can be executed locally, not '{uri}'.");
        }

        var rest = uri["s3://".Length..];
        var slash = rest.IndexOf('/', StringComparison.Ordinal);
        return slash < 0 ? (rest, string.Empty) : (rest[..slash], rest[(slash + 1)..]);
    }
}
