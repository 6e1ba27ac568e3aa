#Requires -Version 7.4
<#
.SYNOPSIS
    The rlabs launcher's PowerShell half: imports Rlabs.Pipelines from ../Rlabs.Pipelines, runs the
    rlabs command with the arguments as given and turns the outcome into an exit code.
.DESCRIPTION
    Started by bin/rlabs (bash) and bin/rlabs.cmd (cmd). Exit code: 0 when the run completed, the
    schedule command succeeded or --help was asked for; 1 when the pipeline or schedule failed; 2 when
    the command line is wrong; 130 when Ctrl-C (SIGINT) interrupted it, after one line saying what was stopped. Errors are printed as lines of text on stderr, never as a stack trace.
#>
Set-StrictMode -Version 3.0
# Cron mails and CI logs get plain text, not colour escapes.
if ([Console]::IsOutputRedirected -or [Console]::IsErrorRedirected) { $PSStyle.OutputRendering = 'PlainText' }

function Write-Failure([string] $Message) {
    # The message as it is: the module's messages are written for people and never hold a secret.
    [Console]::Error.WriteLine($(if ($Message.StartsWith('rlabs')) { $Message } else { "rlabs: $Message" }))
}

try {
    # Inside an installed module (<ModuleBase>/bin) the manifest is one folder up; in the build's out/bin it is
    # in the Rlabs.Pipelines folder next to bin.
    $manifest = @((Join-Path $PSScriptRoot '../Rlabs.Pipelines.psd1'), (Join-Path $PSScriptRoot '../Rlabs.Pipelines/Rlabs.Pipelines.psd1')) |
        Where-Object { Test-Path -LiteralPath $_ } | Select-Object -First 1
    if (-not $manifest) { throw "no Rlabs.Pipelines.psd1 in $(Split-Path $PSScriptRoot) or its Rlabs.Pipelines folder" }
    Import-Module $manifest -ErrorAction Stop
} catch {
    Write-Failure "cannot import the Rlabs.Pipelines module next to $PSScriptRoot`: $($_.Exception.Message)"
    exit 1
}

$script:failed = $false
$script:completedRun = $false
# A run command that ends without a run (stopped before its first step) did not succeed either.
$request = [Rlabs.Pipelines.CommandLine.RlabsCommandLine]::Parse([string[]] $args, $PWD.ProviderPath)
$expectsRun = $request.Outcome -eq 'Invoke' -and $request.CmdletName -eq 'Invoke-RlabsPipeline'
# Cleared when the command ends by itself; still set in 'finally' when Ctrl-C (SIGINT) stopped it.
$interrupted = $true
try {
    # 2>&1 brings the cmdlet's non-terminating errors (a failed step) into this pipeline, in order with
    # its output; verbose lines (-v) go straight to the console.
    rlabs @args 2>&1 | ForEach-Object {
        if ($_ -is [System.Management.Automation.ErrorRecord]) {
            $script:failed = $true
            Write-Failure $_.Exception.Message
        } else {
            if ($_.PSObject.TypeNames -contains 'Rlabs.Pipelines.RlabsPipelineRun') {
                if ("$($_.Status)" -eq 'Completed') { $script:completedRun = $true } else { $script:failed = $true }
            }
            $_
        }
    } | & {
        # A file, cron mail or CI log has no width: the host's guess (~80 columns) would cut or hide table
        # columns (a date cut to "2", a header one letter a line), so redirected output is rendered wide and
        # each line trimmed. A terminal keeps its own width.
        if ([Console]::IsOutputRedirected) {
            # Schedules are sized to their content (a long cron expression whole) with the rule or Scheduler schedule
            # the 80-column default view leaves to Format-List; a run keeps its view.
            $input | ForEach-Object -Begin { $schedules = [System.Collections.Generic.List[object]]::new() } -Process {
                if ($_.PSObject.TypeNames -contains 'Rlabs.Pipelines.RlabsPipelineSchedule') { $schedules.Add($_) } else { $_ }
            } -End {
                if ($schedules.Count -gt 0) { $schedules | Format-Table -View RlabsPipelineScheduleWide -AutoSize }
            } | Out-String -Stream -Width 4096 | ForEach-Object { $_.TrimEnd() } | Out-Default
        } else {
            $input | Out-Default
        }
    }
    $interrupted = $false
} catch {
    $interrupted = $false
    Write-Failure $_.Exception.Message
    exit $(if ($_.FullyQualifiedErrorId -like 'CommandLineInvalid*') { 2 } else { 1 })
} finally {
    if ($interrupted) {
        # The cmdlet's StopProcessing has stopped what the command started (step processes, SageMaker jobs)
        # before this runs. Cron and CI must not read an interrupted run as a success: exit 130 (128 + SIGINT).
        $jobId = if ($request.Parameters.ContainsKey('JobId')) { " $($request.Parameters['JobId'])" } else { '' }
        $what = if ($expectsRun) { "run$jobId stopped: its running steps (local processes or SageMaker jobs) were stopped and later steps not started" } else { "'$($request.CommandPath)' stopped before it finished" }
        [Console]::Error.WriteLine("rlabs: interrupted: $what.")
        [Environment]::Exit(130)
    }
}
exit $(if ($script:failed -or ($expectsRun -and -not $script:completedRun)) { 1 } else { 0 })
