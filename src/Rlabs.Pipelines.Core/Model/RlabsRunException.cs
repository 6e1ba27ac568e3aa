namespace Rlabs.Pipelines;

/// <summary>What kind of problem stops a run before it starts; the cmdlet maps it to an ErrorCategory in one place.</summary>
public enum RlabsRunErrorKind
{
    /// <summary>A value the user passed cannot be used.</summary>
    InvalidArgument,

    /// <summary>Something the run needs is not there (an interpreter, a file).</summary>
    NotFound,

    /// <summary>The pipeline file asks for something the runtime cannot do.</summary>
    InvalidData,
}

/// <summary>A run that cannot start; <see cref="ErrorId"/> is the stable id of the cmdlet's error record.</summary>
public sealed class RlabsRunException : Exception
{
    /// <summary>Creates the exception.</summary>
    public RlabsRunException(string message, string errorId, RlabsRunErrorKind kind, string? target, Exception? inner = null)
        : base(message, inner)
    {
        ErrorId = errorId;
        Kind = kind;
        Target = target;
    }

    /// <summary>Creates the exception.</summary>
    public RlabsRunException()
        : this("The run cannot start.", "RunInvalid", RlabsRunErrorKind.InvalidArgument, null)
    {
    }

    /// <summary>Creates the exception.</summary>
    public RlabsRunException(string message)
        : this(message, "RunInvalid", RlabsRunErrorKind.InvalidArgument, null)
    {
    }

    /// <summary>Creates the exception.</summary>
    public RlabsRunException(string message, Exception innerException)
        : this(message, "RunInvalid", RlabsRunErrorKind.InvalidArgument, null, innerException)
    {
    }

    /// <summary>Stable PascalCase id: MixedInstanceTypes, PythonNotFound, ContainerImageUnknown, CloudRunInvalid, ….</summary>
    public string ErrorId { get; }

    /// <summary>What kind of problem it is.</summary>
    public RlabsRunErrorKind Kind { get; }

    /// <summary>The value or file at fault.</summary>
    public string? Target { get; }
}
