using System.Diagnostics;
using System.Text.Json.Nodes;
using Rlabs.Pipelines.AwsEmulator.Services;

namespace Rlabs.Pipelines.Tests.Cloud;

/// <summary>
/// Runs an emulated processing job's container command with the local python3: inputs fetched from the
/// emulator's S3 into a folder standing in for /opt/ml/processing, outputs uploaded back, so cloud tests
/// prove the data handoff between steps end to end.
/// </summary>
internal sealed class PythonJobExecutor : IProcessingJobExecutor
{
    private const string ContainerRoot = "/opt/ml/processing";
    private readonly S3Service _s3;

    public PythonJobExecutor(S3Service s3)
    {
        _s3 = s3;
    }

    public async Task<(bool Succeeded, string? FailureReason, IReadOnlyList<string> LogLines)> RunAsync(JsonObject job, string region, CancellationToken cancellationToken)
    {
        var root = Path.Combine(Path.GetTempPath(), "rlabs-exec-" + Guid.NewGuid().ToString("N"));
        string Map(string path) => path.StartsWith(ContainerRoot, StringComparison.Ordinal) ? root + path[ContainerRoot.Length..] : path;
        try
        {
            foreach (var input in job["ProcessingInputs"]?.AsArray() ?? [])
            {
                var s3 = input!["S3Input"]!;
                var (bucket, prefix) = Split(s3["S3Uri"]!.GetValue<string>());
                var local = Map(s3["LocalPath"]!.GetValue<string>());
                Directory.CreateDirectory(local);
                foreach (var key in _s3.ListKeys(bucket, prefix))
                {
                    var relative = key[prefix.Length..].TrimStart('/');
                    if (relative.Length == 0)
                    {
                        relative = key[(key.LastIndexOf('/') + 1)..];
                    }
                    var target = Path.Combine(local, relative);
                    Directory.CreateDirectory(Path.GetDirectoryName(target)!);
                    await File.WriteAllBytesAsync(target, _s3.GetObjectBytes(bucket, key)!, cancellationToken);
                }
            }
            var outputs = (job["ProcessingOutputConfig"]?["Outputs"]?.AsArray() ?? []).Select(o => o!["S3Output"]!).ToList();
            foreach (var output in outputs)
            {
                Directory.CreateDirectory(Map(output["LocalPath"]!.GetValue<string>()));
            }
            var app = job["AppSpecification"]!;
            var command = (app["ContainerEntrypoint"]?.AsArray() ?? []).Concat(app["ContainerArguments"]?.AsArray() ?? []).Select(n => Map(n!.GetValue<string>())).ToList();
            var info = new ProcessStartInfo(command[0]) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            command.Skip(1).ToList().ForEach(info.ArgumentList.Add);
            foreach (var (name, value) in job["Environment"]?.AsObject() ?? [])
            {
                info.Environment[name] = Map(value!.GetValue<string>());
            }
            using var process = Process.Start(info)!;
            var stdout = process.StandardOutput.ReadToEndAsync(cancellationToken);
            var stderr = process.StandardError.ReadToEndAsync(cancellationToken);
            try
            {
                await process.WaitForExitAsync(cancellationToken);
            }
            catch (OperationCanceledException)
            {
                process.Kill(entireProcessTree: true);
                throw;
            }
            var lines = ((await stdout) + (await stderr)).Split('\n', StringSplitOptions.RemoveEmptyEntries);
            if (process.ExitCode != 0)
            {
                return (false, $"AlgorithmError: the container exited with code {process.ExitCode}", lines);
            }
            foreach (var output in outputs)
            {
                var local = Map(output["LocalPath"]!.GetValue<string>());
                var (bucket, prefix) = Split(output["S3Uri"]!.GetValue<string>());
                foreach (var file in Directory.EnumerateFiles(local, "*", SearchOption.AllDirectories))
                {
                    _s3.PutObjectBytes(bucket, prefix.TrimEnd('/') + "/" + Path.GetRelativePath(local, file).Replace('\\', '/'), await File.ReadAllBytesAsync(file, cancellationToken));
                }
            }
            return (true, null, lines);
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    private static (string Bucket, string Prefix) Split(string uri)
    {
        var rest = uri["s3://".Length..];
        var slash = rest.IndexOf('/', StringComparison.Ordinal);
        return slash < 0 ? (rest, string.Empty) : (rest[..slash], rest[(slash + 1)..]);
    }
}
