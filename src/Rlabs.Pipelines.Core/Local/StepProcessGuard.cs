using System.ComponentModel;
using System.Diagnostics;
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Rlabs.Pipelines.Local;

/// <summary>
/// Makes a step process die with the process that runs the pipeline, however that one ends (kill -9 included),
/// so no step keeps running, reparented to init, after its orchestrator is gone.
/// <list type="bullet">
/// <item>Linux and macOS: the step is started through a small /bin/sh watchdog (<see cref="Watchdog"/>) that runs
/// it in a process group of its own and kills that group when the watchdog's standard input, a pipe from this
/// process that nothing ever writes to, reaches end of file. The kernel closes that pipe when this process
/// exits, whichever way. The step itself still gets an empty standard input, its argv, environment and
/// working directory unchanged.</item>
/// <item>Windows: the step is assigned to a job object created with JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE; the
/// system closes the job's only handle when this process exits, which kills every process in the job.</item>
/// </list>
/// Either way the step's whole group goes when the step ends (a container's processes end with its main
/// process too) or when the guard is disposed, and <see cref="Release"/> kills it at once (Ctrl-C, max_runtime).
/// </summary>
internal sealed class StepProcessGuard : IDisposable
{
    /// <summary>
    /// The watchdog: $@ is the step's command. The step runs in a new session (setsid; perl's setpgrp where
    /// there is no setsid, as on macOS) with /dev/null as stdin; a background reader waits for end of file on
    /// the watchdog's stdin, then kills the step's group. When the step exits first, its leftovers are killed
    /// and the watchdog exits with the step's status. $1 restores PWD as the step would have inherited it
    /// ("-": unset, "=value"), which the shell itself resets to its working directory.
    /// </summary>
    internal const string Watchdog = """
        case $1 in -) unset PWD ;; *) PWD=${1#=}; export PWD ;; esac
        shift
        exec 3<&0 </dev/null
        if command -v setsid >/dev/null 2>&1; then
          setsid "$@" 3<&- &
        elif command -v perl >/dev/null 2>&1; then
          perl -e 'setpgrp(0, 0); exec { $ARGV[0] } @ARGV or exit 127' "$@" 3<&- &
        else
          "$@" 3<&- &
        fi
        step=$!
        { while read -r _; do :; done; kill -9 -"$step" || kill -9 "$step"; } <&3 >/dev/null 2>&1 &
        watcher=$!
        exec 3<&-
        wait "$step"
        status=$?
        kill "$watcher" 2>/dev/null
        kill -9 -"$step" 2>/dev/null
        exit "$status"
        """;

    /// <summary>The shell that runs <see cref="Watchdog"/>.</summary>
    internal const string Shell = "/bin/sh";

    private readonly Process _process;
    private readonly SafeFileHandle? _job;

    private StepProcessGuard(Process process, SafeFileHandle? job)
    {
        _process = process;
        _job = job;
    }

    /// <summary>Whether steps start through the /bin/sh watchdog here.</summary>
    internal static bool UsesWatchdog => !OperatingSystem.IsWindows() && File.Exists(Shell);

    /// <summary>
    /// The start info for <paramref name="command"/>, going through the watchdog where there is one; the caller
    /// sets the working directory, environment and output redirection. Standard input is always redirected: the
    /// watchdog's pipe (or, without one, a pipe closed at once so that a script waiting for input cannot hang).
    /// </summary>
    public static ProcessStartInfo StartInfo(IReadOnlyList<string> command)
    {
        ArgumentNullException.ThrowIfNull(command);
        ProcessStartInfo info;
        if (UsesWatchdog)
        {
            info = new ProcessStartInfo(Shell);
            info.ArgumentList.Add("-c");
            info.ArgumentList.Add(Watchdog);
            info.ArgumentList.Add("rlabs-step-watchdog"); // $0
            info.ArgumentList.Add("-"); // $1: PWD, set by Start once the caller set the environment
            foreach (var argument in command)
            {
                info.ArgumentList.Add(argument);
            }
        }
        else
        {
            info = new ProcessStartInfo(command[0]);
            foreach (var argument in command.Skip(1))
            {
                info.ArgumentList.Add(argument);
            }
        }
        info.RedirectStandardInput = true;
        info.UseShellExecute = false;
        info.CreateNoWindow = true;
        return info;
    }

    /// <summary>
    /// Starts <paramref name="process"/> (made from <see cref="StartInfo"/>) under the guard. Throws what
    /// <see cref="Process.Start()"/> throws; a step whose interpreter does not exist fails the same way with or
    /// without the watchdog.
    /// </summary>
    public static StepProcessGuard Start(Process process, IReadOnlyList<string> command)
    {
        ArgumentNullException.ThrowIfNull(process);
        ArgumentNullException.ThrowIfNull(command);
        if (UsesWatchdog && Path.IsPathRooted(command[0]) && !File.Exists(command[0]))
        {
            throw new Win32Exception(2, "No such file or directory");
        }
        if (UsesWatchdog)
        {
            process.StartInfo.ArgumentList[3] = process.StartInfo.Environment.TryGetValue("PWD", out var pwd) && pwd is not null ? "=" + pwd : "-";
        }
        process.Start();
        SafeFileHandle? job = null;
        if (OperatingSystem.IsWindows())
        {
            job = WindowsJob.KillOnClose(process);
        }
        if (!UsesWatchdog)
        {
            process.StandardInput.Close(); // a script waiting for input would otherwise hang the run
        }
        return new StepProcessGuard(process, job);
    }

    /// <summary>Kills the step and everything it started, now (Ctrl-C, max_runtime).</summary>
    public void Release()
    {
        if (UsesWatchdog)
        {
            CloseInput(); // the watchdog kills the step's whole group, grandchildren that were reparented too
            try
            {
                _process.WaitForExit(TimeSpan.FromSeconds(2));
            }
            catch (InvalidOperationException)
            {
                // Never started.
            }
        }
        if (_job is not null && !_job.IsInvalid && OperatingSystem.IsWindows())
        {
            WindowsJob.Terminate(_job);
        }
        try
        {
            _process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
            // Exited on its own meanwhile.
        }
        catch (Win32Exception)
        {
            // Exited on its own meanwhile, or a child is already gone.
        }
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        CloseInput();
        _job?.Dispose(); // the last handle: whatever the step left in its job is killed
    }

    private void CloseInput()
    {
        try
        {
            _process.StandardInput.Close();
        }
        catch (InvalidOperationException)
        {
            // Never started, or not redirected.
        }
        catch (IOException)
        {
            // The watchdog is gone already.
        }
    }

    /// <summary>A Windows job object that kills its processes when its last handle closes.</summary>
    private static class WindowsJob
    {
        private const int JobObjectExtendedLimitInformation = 9;
        private const uint JobObjectLimitKillOnJobClose = 0x2000;

        public static SafeFileHandle? KillOnClose(Process process)
        {
            var job = NativeMethods.CreateJobObjectW(IntPtr.Zero, null);
            if (job.IsInvalid)
            {
                job.Dispose();
                return null;
            }
            var limits = new JobObjectExtendedLimitInformationData { BasicLimitInformation = new JobObjectBasicLimitInformation { LimitFlags = JobObjectLimitKillOnJobClose } };
            var size = (uint)Marshal.SizeOf<JobObjectExtendedLimitInformationData>();
            if (!NativeMethods.SetInformationJobObject(job, JobObjectExtendedLimitInformation, ref limits, size)
                || !NativeMethods.AssignProcessToJobObject(job, process.SafeHandle))
            {
                // Not fatal: the step runs as before, only without dying with this process.
                job.Dispose();
                return null;
            }
            return job;
        }

        public static void Terminate(SafeFileHandle job) => NativeMethods.TerminateJobObject(job, 1);

        [StructLayout(LayoutKind.Sequential)]
        private struct JobObjectBasicLimitInformation
        {
            public long PerProcessUserTimeLimit;
            public long PerJobUserTimeLimit;
            public uint LimitFlags;
            public UIntPtr MinimumWorkingSetSize;
            public UIntPtr MaximumWorkingSetSize;
            public uint ActiveProcessLimit;
            public UIntPtr Affinity;
            public uint PriorityClass;
            public uint SchedulingClass;
        }

        [StructLayout(LayoutKind.Sequential)]
        private struct IoCounters
        {
            public ulong ReadOperationCount;
            public ulong WriteOperationCount;
            public ulong OtherOperationCount;
            public ulong ReadTransferCount;
            public ulong WriteTransferCount;
            public ulong OtherTransferCount;
        }

        [StructLayout(LayoutKind.Sequential)]
        private struct JobObjectExtendedLimitInformationData
        {
            public JobObjectBasicLimitInformation BasicLimitInformation;
            public IoCounters IoInfo;
            public UIntPtr ProcessMemoryLimit;
            public UIntPtr JobMemoryLimit;
            public UIntPtr PeakProcessMemoryUsed;
            public UIntPtr PeakJobMemoryUsed;
        }

        private static class NativeMethods
        {
            [DllImport("kernel32.dll", CharSet = CharSet.Unicode, SetLastError = true)]
            [DefaultDllImportSearchPaths(DllImportSearchPath.System32)]
            public static extern SafeFileHandle CreateJobObjectW(IntPtr jobAttributes, string? name);

            [DllImport("kernel32.dll", SetLastError = true)]
            [DefaultDllImportSearchPaths(DllImportSearchPath.System32)]
            [return: MarshalAs(UnmanagedType.Bool)]
            public static extern bool SetInformationJobObject(SafeFileHandle job, int infoClass, ref JobObjectExtendedLimitInformationData info, uint length);

            [DllImport("kernel32.dll", SetLastError = true)]
            [DefaultDllImportSearchPaths(DllImportSearchPath.System32)]
            [return: MarshalAs(UnmanagedType.Bool)]
            public static extern bool AssignProcessToJobObject(SafeFileHandle job, SafeProcessHandle process);

            [DllImport("kernel32.dll", SetLastError = true)]
            [DefaultDllImportSearchPaths(DllImportSearchPath.System32)]
            [return: MarshalAs(UnmanagedType.Bool)]
            public static extern bool TerminateJobObject(SafeFileHandle job, uint exitCode);
        }
    }
}
