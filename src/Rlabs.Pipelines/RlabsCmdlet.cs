using System.Management.Automation;
using Rlabs.Pipelines.Config;

namespace Rlabs.Pipelines;

/// <summary>Shared plumbing: cancellation on Ctrl-C, path resolution and error records built in one place.</summary>
public abstract class RlabsCmdlet : PSCmdlet, IDisposable
{
    private readonly CancellationTokenSource _cancellation = new();

    /// <summary>Cancelled when the user presses Ctrl-C or the pipeline stops.</summary>
    protected CancellationToken CancellationToken => _cancellation.Token;

    /// <inheritdoc/>
    public void Dispose()
    {
        _cancellation.Dispose();
        GC.SuppressFinalize(this);
    }

    /// <inheritdoc/>
    protected override void StopProcessing() => _cancellation.Cancel();

    /// <summary>A provider path resolved against the current location, without requiring it to exist.</summary>
    protected string ResolvePath(string path) => SessionState.Path.GetUnresolvedProviderPathFromPSPath(path);

    /// <summary>
    /// Reads a pipeline file, writes its warnings, and stops with PipelineConfigInvalid (every error, with
    /// file and line) when it cannot be used.
    /// </summary>
    protected RlabsPipeline ReadPipeline(string path, string repository)
    {
        var result = PipelineConfigReader.Read(path, repository);
        foreach (var warning in result.Diagnostics.Where(d => d.Severity == RlabsDiagnosticSeverity.Warning))
        {
            WriteWarning(warning.ToString());
        }
        if (result.Pipeline is not { } pipeline)
        {
            ThrowTerminatingError(ErrorMapping.Record(new RlabsConfigException(result.ErrorSummary(), path), "PipelineConfigInvalid", ErrorCategory.InvalidData, path));
            throw new InvalidOperationException(); // not reached: ThrowTerminatingError throws
        }
        return pipeline;
    }

    /// <summary>-RepositoryPath, or the current file-system location.</summary>
    protected string ResolveRepository(string? repositoryPath)
    {
        var path = string.IsNullOrEmpty(repositoryPath) ? SessionState.Path.CurrentFileSystemLocation.ProviderPath : ResolvePath(repositoryPath);
        if (!Directory.Exists(path))
        {
            ThrowTerminatingError(ErrorMapping.Record(
                new DirectoryNotFoundException($"The repository folder '{path}' does not exist. Pass -RepositoryPath with the data-apps repository (the folder that holds the code scripts)."),
                "RepositoryNotFound", ErrorCategory.ObjectNotFound, path));
        }
        return path;
    }
}
