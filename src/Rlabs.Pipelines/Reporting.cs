using System.Collections.Concurrent;
using System.Management.Automation;
using Rlabs.Pipelines.Running;

namespace Rlabs.Pipelines;

/// <summary>
/// Collects what the core reports from any thread; only the pipeline thread writes it out
/// (PowerShell allows writes from that thread alone).
/// </summary>
internal sealed class QueueReporter : IRunReporter, IDisposable
{
    private readonly BlockingCollection<Action<Cmdlet>> _queue = [];
    private readonly int _activityId;
    private readonly CiHost? _ci;

    public QueueReporter(int activityId)
    {
        _activityId = activityId;
        _ci = CiHost.Current;
    }

    public void Progress(RunProgress progress) => Add(cmdlet =>
    {
        var record = new ProgressRecord(_activityId, progress.Activity, string.IsNullOrEmpty(progress.Status) ? " " : progress.Status)
        {
            PercentComplete = Math.Clamp(progress.PercentComplete, 0, 100),
            RecordType = progress.Completed ? ProgressRecordType.Completed : ProgressRecordType.Processing,
        };
        if (!string.IsNullOrEmpty(progress.CurrentOperation))
        {
            record.CurrentOperation = progress.CurrentOperation;
        }
        cmdlet.WriteProgress(record);
    });

    public void Verbose(string message) => Add(cmdlet => cmdlet.WriteVerbose(message));

    public void Warning(string message) => Add(cmdlet =>
    {
        cmdlet.WriteWarning(message);
        if (_ci is not null)
        {
            RunReport.WriteHost(cmdlet, _ci.Warning(message));
        }
    });

    // In CI each step's log lines are always shown, folded in a group per step; elsewhere they are verbose.
    public void StepStarted(RlabsPipelineStepRun stepRun)
    {
        if (_ci is not null)
        {
            var title = $"{stepRun.StepName} ({stepRun.Runtime}, job {stepRun.JobName})";
            Add(cmdlet => RunReport.WriteHost(cmdlet, _ci.GroupStart(title)));
        }
    }

    public void StepLine(string stepName, string line)
    {
        if (_ci is null)
        {
            Verbose($"[{stepName}] {line}");
        }
        else
        {
            Add(cmdlet => RunReport.WriteHost(cmdlet, line));
        }
    }

    public void StepEnded(RlabsPipelineStepRun stepRun)
    {
        if (_ci is not null)
        {
            var status = stepRun.Status;
            var name = stepRun.StepName;
            Add(cmdlet =>
            {
                RunReport.WriteHost(cmdlet, $"{name}: {status}");
                RunReport.WriteHost(cmdlet, _ci.GroupEnd());
            });
        }
    }

    /// <summary>Runs <paramref name="work"/> on the thread pool and writes its reports here until it ends.</summary>
    public T Drain<T>(Cmdlet cmdlet, Func<Task<T>> work)
    {
        var task = Task.Run(work);
        task.ContinueWith(_ => _queue.CompleteAdding(), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        foreach (var write in _queue.GetConsumingEnumerable())
        {
            write(cmdlet);
        }
        return task.GetAwaiter().GetResult();
    }

    public void Dispose() => _queue.Dispose();

    private void Add(Action<Cmdlet> write)
    {
        try
        {
            _queue.Add(write);
        }
        catch (InvalidOperationException)
        {
            // Reported after the work ended (a late log line): nothing is listening any more.
        }
    }
}
