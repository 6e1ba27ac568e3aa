namespace Rlabs.Pipelines.Scheduling;

/// <summary>Why talking to the instance failed; the cmdlets turn it into a stable error id.</summary>
public enum RemoteFailure
{
    /// <summary>The .pem file is missing or not a key SSH.NET reads.</summary>
    KeyFileInvalid,

    /// <summary>The host presented a key other than the pinned one.</summary>
    HostKeyChanged,

    /// <summary>A first-contact host key is not among the fingerprints the instance printed in its console output.</summary>
    HostKeyUnverified,

    /// <summary>The server refused the key for that user.</summary>
    AuthenticationFailed,

    /// <summary>Nothing answered SSH in time.</summary>
    Unreachable,

    /// <summary>A remote command exited non-zero.</summary>
    CommandFailed,

    /// <summary>A file transfer failed.</summary>
    TransferFailed,
}

/// <summary>A failure talking to the instance over SSH. Messages never hold key material or credentials.</summary>
public sealed class RemoteInstanceException : Exception
{
    /// <summary>Creates the exception.</summary>
    public RemoteInstanceException(RemoteFailure failure, string message, Exception? innerException = null)
        : base(message, innerException)
    {
        Failure = failure;
    }

    /// <summary>Creates an exception without a classification (for serializers and analyzers).</summary>
    public RemoteInstanceException()
        : this(RemoteFailure.CommandFailed, "The remote operation failed.")
    {
    }

    /// <summary>Creates an exception without a classification.</summary>
    public RemoteInstanceException(string message)
        : this(RemoteFailure.CommandFailed, message)
    {
    }

    /// <summary>Creates an exception without a classification.</summary>
    public RemoteInstanceException(string message, Exception innerException)
        : this(RemoteFailure.CommandFailed, message, innerException)
    {
    }

    /// <summary>What went wrong.</summary>
    public RemoteFailure Failure { get; }
}
