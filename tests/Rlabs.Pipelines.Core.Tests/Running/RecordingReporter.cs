using Rlabs.Pipelines.Running;

namespace Rlabs.Pipelines.Tests.Running;

/// <summary>Keeps what the core reports, for assertions.</summary>
internal sealed class RecordingReporter : IRunReporter
{
    private readonly object _gate = new();
    private readonly List<string> _lines = [];
    private readonly List<string> _warnings = [];
    private readonly List<RunProgress> _progress = [];

    public IReadOnlyList<string> Lines
    {
        get
        {
            lock (_gate)
            {
                return [.. _lines];
            }
        }
    }

    public IReadOnlyList<string> Warnings
    {
        get
        {
            lock (_gate)
            {
                return [.. _warnings];
            }
        }
    }

    public IReadOnlyList<RunProgress> ProgressRecords
    {
        get
        {
            lock (_gate)
            {
                return [.. _progress];
            }
        }
    }

    public void Progress(RunProgress progress)
    {
        lock (_gate)
        {
            _progress.Add(progress);
        }
    }

    /// <summary>Called with each verbose line as it comes (a test reacting to the run, e.g. between two attempts).</summary>
    public Action<string>? OnVerbose { get; init; }

    public void Verbose(string message)
    {
        lock (_gate)
        {
            _lines.Add(message);
        }
        OnVerbose?.Invoke(message);
    }

    public void Warning(string message)
    {
        lock (_gate)
        {
            _warnings.Add(message);
        }
    }
}
