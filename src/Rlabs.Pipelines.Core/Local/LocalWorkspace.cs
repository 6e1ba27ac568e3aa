using Rlabs.Pipelines.Planning;

namespace Rlabs.Pipelines.Local;

/// <summary>
/// A local step's workspace, laid out like /opt/ml/processing: staged before the step (code, requirements,
/// input data, an empty output folder) and published after it (output moved into the data root). The process
/// runtime runs the script against these folders; the container runtime bind-mounts them at the container
/// paths, so both hand a step the same files.
/// </summary>
internal static class LocalWorkspace
{
    /// <summary>Lays out input/code, input/requirements, input/data and output; null when ready, else why not.</summary>
    public static string? Stage(LocalRunLayout plan, LocalStepLayout step)
    {
        var repository = plan.Request.Pipeline.RepositoryPath;
        if (Directory.Exists(step.StepDirectory))
        {
            Directory.Delete(step.StepDirectory, recursive: true); // a re-run of the same job id starts clean
        }
        var code = Path.Combine(repository, step.Step.Code);
        if (!File.Exists(code))
        {
            return $"The code script '{step.Step.Code}' does not exist in {repository}.";
        }
        Directory.CreateDirectory(Path.GetDirectoryName(step.Paths.CodeFile)!);
        File.Copy(code, step.Paths.CodeFile);

        // Each step gets its own copy of the run's source zip, so every path it is handed lies in its workspace, as in a container.
        Directory.CreateDirectory(Path.GetDirectoryName(step.Paths.SourceCodeZip)!);
        File.Copy(plan.SourceZip, step.Paths.SourceCodeZip);

        if (step.CredentialsPath is { } credentials)
        {
            Directory.CreateDirectory(Path.GetDirectoryName(credentials)!);
            File.Copy(plan.CredentialsCopy!, credentials);
        }

        Directory.CreateDirectory(Path.GetDirectoryName(step.Paths.RequirementsPath)!);
        var requirements = Path.Combine(repository, step.Step.Requirements ?? StepContract.RequirementsName);
        if (File.Exists(requirements))
        {
            File.Copy(requirements, step.Paths.RequirementsPath);
        }
        else if (step.Step.Requirements is not null)
        {
            return $"The requirements file '{step.Step.Requirements}' does not exist in {repository}.";
        }
        else
        {
            File.WriteAllText(step.Paths.RequirementsPath, string.Empty);
        }

        if (step.InputSource is { } input)
        {
            var dataFolder = Path.Combine(step.StepDirectory, StepContract.DataFolder);
            Directory.CreateDirectory(dataFolder);
            if (Directory.Exists(input))
            {
                CopyTree(input, dataFolder);
            }
            else if (File.Exists(input))
            {
                File.Copy(input, Path.Combine(dataFolder, Path.GetFileName(input)));
            }
            else if (!step.Plan.InputEmpty)
            {
                return $"The input data '{step.Step.InputData}' was not found at {input}. It is resolved against the data root ({plan.DataRoot}): an earlier step must write it (output lands in <output_path>/<job_id>/), or place it there before the run.";
            }
        }
        Directory.CreateDirectory(step.Paths.OutputDataPath);
        return null;
    }

    private static void CopyTree(string source, string destination)
    {
        foreach (var directory in Directory.EnumerateDirectories(source, "*", SearchOption.AllDirectories))
        {
            Directory.CreateDirectory(Path.Combine(destination, Path.GetRelativePath(source, directory)));
        }
        foreach (var file in Directory.EnumerateFiles(source, "*", SearchOption.AllDirectories))
        {
            File.Copy(file, Path.Combine(destination, Path.GetRelativePath(source, file)), overwrite: true);
        }
    }

    /// <summary>Moves the step's output into the data root, merging with what earlier steps wrote there.</summary>
    public static int PublishOutput(string output, string destination)
    {
        Directory.CreateDirectory(destination);
        var count = 0;
        foreach (var file in Directory.EnumerateFiles(output, "*", SearchOption.AllDirectories))
        {
            var target = Path.Combine(destination, Path.GetRelativePath(output, file));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Move(file, target, overwrite: true);
            count++;
        }
        return count;
    }
}
