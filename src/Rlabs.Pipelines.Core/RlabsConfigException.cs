namespace Rlabs.Pipelines;

/// <summary>A configuration or input file that cannot be used; the message names the file and the fix.</summary>
public sealed class RlabsConfigException : Exception
{
    /// <summary>Creates the exception.</summary>
    public RlabsConfigException(string message, string? file, Exception? inner = null)
        : base(message, inner)
    {
        File = file;
    }

    /// <summary>Creates the exception.</summary>
    public RlabsConfigException()
    {
    }

    /// <summary>Creates the exception.</summary>
    public RlabsConfigException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception.</summary>
    public RlabsConfigException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>The file at fault.</summary>
    public string? File { get; }
}
