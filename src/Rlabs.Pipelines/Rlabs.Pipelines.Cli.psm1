# The rlabs command: the original CLI's command lines (rlabs aws pipeline run | schedule |
# enable-scheduling | disable-scheduling) as a front over the module's cmdlets.

function rlabs {
    <#
    .SYNOPSIS
    Runs a command line of the original rlabs CLI, such as rlabs aws pipeline run -p pipeline.yaml -i local, with the module's cmdlets.

    .DESCRIPTION
    The rlabs command accepts the command lines of the Python CLI that Rlabs.Pipelines replaces, with
    the same subcommands and flags, so scripts, cron lines and habits keep working:

        rlabs aws pipeline run                  runs Invoke-RlabsPipeline
        rlabs aws pipeline schedule             runs New-RlabsPipelineSchedule
        rlabs aws pipeline enable-scheduling    runs Enable-RlabsPipelineSchedule
        rlabs aws pipeline disable-scheduling   runs Disable-RlabsPipelineSchedule

    It is a front, not a second implementation: it maps the flags to the cmdlet's parameters and runs
    the cmdlet, whose output (the run, the schedule) and errors it passes on. --help at every level
    prints the usage of that level; -v, -vv and --verbose turn on verbose output. A wrong command line
    (an unknown flag, a missing required flag, a bad value) stops with the error CommandLineInvalid,
    one line that names the flag and what is expected.

    rlabs takes no PowerShell parameters, so -p, -i, -v and the other short flags of the original mean
    what they meant there. In PowerShell, quote a schedule expression: --event-schedule "rate(1 hour)".
    From bash or cmd, use the launcher next to the module, bin/rlabs or bin\rlabs.cmd, which exits
    with 0 when the run completed or the schedule command succeeded, 1 when it failed and 2 for a
    wrong command line. See about_Rlabs_Pipelines.

    .EXAMPLE
    rlabs aws pipeline run -p pipeline.yaml -c credentials.yaml -r /path/to/repository -i local -j 345687

    Runs the pipeline of pipeline.yaml on this computer with the job id 345687, as
    Invoke-RlabsPipeline -Path pipeline.yaml -CredentialsFile credentials.yaml -RepositoryPath /path/to/repository -InstanceType local -JobId 345687
    does, and returns the run.

    .EXAMPLE
    rlabs aws pipeline schedule --help

    Prints the flags of rlabs aws pipeline schedule, their defaults and which ones are required.

    .INPUTS
    None.

    .OUTPUTS
    Whatever the cmdlet the command line runs returns, such as Rlabs.Pipelines.RlabsPipelineRun; with --help, System.String.

    .LINK
    about_Rlabs_Pipelines

    .LINK
    Invoke-RlabsPipeline
    #>

    # A simple function on purpose (no [CmdletBinding()], no param block): an advanced function would
    # bind -p, -i, -o, -e, -v … to PowerShell's common parameters and fail on ambiguous prefixes. The
    # words reach the parser as typed: [string[]] keeps a number such as 0345687 in its typed form.
    $request = [Rlabs.Pipelines.CommandLine.RlabsCommandLine]::Parse([string[]] $args, $ExecutionContext.SessionState.Path.CurrentFileSystemLocation.ProviderPath)
    switch ($request.Outcome) {
        'Help' {
            $request.HelpText
        }
        'Invoke' {
            # This module's own cmdlet, found by its class: right even with -Prefix or a shadowing function.
            $command = $MyInvocation.MyCommand.Module.ExportedCmdlets.Values | Where-Object ImplementingType -EQ $request.CmdletType
            if (-not $command) {
                $record = [System.Management.Automation.ErrorRecord]::new(
                    [System.NotSupportedException]::new("$($request.CommandPath): the module does not export $($request.CmdletName)."),
                    'CommandNotAvailable', 'NotImplemented', $request.CmdletName)
                $record.ErrorDetails = [System.Management.Automation.ErrorDetails]::new($record.Exception.Message)
                $record.ErrorDetails.RecommendedAction = "Import Rlabs.Pipelines without -Cmdlet filters (or without -Prefix) so $($request.CmdletName) is available."
                throw $record
            }
            $parameters = $request.Parameters
            & $command @parameters
        }
        default {
            throw $request.Error
        }
    }
}

# Tab completion of rlabs' subcommands, flags and instance types (a native completer: rlabs has no parameters).
Register-ArgumentCompleter -Native -CommandName rlabs -ScriptBlock {
    param($wordToComplete, $commandAst, $cursorPosition)
    # The words typed before the cursor, without 'rlabs' and without the word being completed.
    $typed = @($commandAst.CommandElements | Select-Object -Skip 1 |
            Where-Object { $_.Extent.EndOffset -lt $cursorPosition -or ($_.Extent.EndOffset -eq $cursorPosition -and -not $wordToComplete) } |
            ForEach-Object { $_.Extent.Text })
    [Rlabs.Pipelines.CommandLine.RlabsCommandLine]::Complete([string[]] $typed, $wordToComplete)
}

Export-ModuleMember -Function rlabs
