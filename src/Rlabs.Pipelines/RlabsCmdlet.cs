using System.Management.Automation;

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
