using System.Text;

namespace Rlabs.Pipelines.Running;

/// <summary>
/// A step's output as every runner keeps it: each line to -Verbose, to the step log file (when there is
/// one) and to a short tail for error messages. Safe to feed from stdout and stderr pumps at once.
/// </summary>
internal sealed class StepLog : IDisposable
{
    private const int TailLines = 20;
    private readonly object _gate = new();
    private readonly Queue<string> _tail = new(TailLines);
    private readonly StreamWriter? _file;
    private readonly string _stepName;
    private readonly IRunReporter _reporter;

    public StepLog(string? path, string stepName, IRunReporter reporter)
    {
        _file = path is null ? null : new StreamWriter(path, append: false, new UTF8Encoding(false)) { AutoFlush = true };
        _stepName = stepName;
        _reporter = reporter;
    }

    /// <summary>The last lines the step printed.</summary>
    public IReadOnlyList<string> Tail
    {
        get
        {
            lock (_gate)
            {
                return [.. _tail];
            }
        }
    }

    /// <summary>A line the step printed.</summary>
    public void Line(string line)
    {
        lock (_gate)
        {
            _file?.WriteLine(line);
            if (_tail.Count == TailLines)
            {
                _tail.Dequeue();
            }
            _tail.Enqueue(line);
        }
        _reporter.Verbose($"[{_stepName}] {line}");
    }

    /// <summary>A note of the runner's own ("# exit code 3") for the log file only.</summary>
    public void Note(string line)
    {
        lock (_gate)
        {
            _file?.WriteLine(line);
        }
    }

    /// <summary>A warning of the runner's own about this step, for the user and the log file.</summary>
    public void Warning(string message)
    {
        Note("# " + message);
        _reporter.Warning($"[{_stepName}] {message}");
    }

    public void Dispose() => _file?.Dispose();
}
