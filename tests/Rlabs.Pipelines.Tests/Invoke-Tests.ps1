<#
.SYNOPSIS
    Runs the Pester tests against the built module in this (fresh) pwsh and writes a JSON summary.
#>
param(
    [Parameter(Mandatory)] [string] $PesterPath,
    [Parameter(Mandatory)] [string] $ModulePath,
    [Parameter(Mandatory)] [string] $SummaryPath,
    [string] $ResultsPath,
    [string[]] $Path = $PSScriptRoot,
    # Slow tiers to leave out (Emulator, Ssh, Container; build.ps1 Test -Fast leaves out all three).
    [string[]] $ExcludeTag = @()
)
$ErrorActionPreference = 'Stop'
Import-Module $PesterPath -Force
$env:RLABS_MODULE_PATH = (Resolve-Path $ModulePath).Path
$env:AWS_EC2_METADATA_DISABLED = 'true'
# The emulator's jobs take milliseconds, not SageMaker's minutes: ask about them every 0.2 s, not every 5 s.
$env:RLABS_JOB_POLL_INTERVAL = '0.2'
$configuration = New-PesterConfiguration
# pwsh -File passes one string: 'a.Tests.ps1,b.Tests.ps1'.
$configuration.Run.Path = @($Path | ForEach-Object { $_ -split ',' } | Where-Object { $_ })
$configuration.Run.PassThru = $true
$configuration.Output.Verbosity = 'Normal'
# pwsh -File passes one string: 'Emulator,Ssh'.
$ExcludeTag = @($ExcludeTag | ForEach-Object { $_ -split ',' } | Where-Object { $_ })
if ($ExcludeTag) { $configuration.Filter.ExcludeTag = $ExcludeTag }
if ($ResultsPath) {
    $configuration.TestResult.Enabled = $true
    $configuration.TestResult.OutputPath = $ResultsPath
}
$result = Invoke-Pester -Configuration $configuration
[pscustomobject]@{
    Passed  = $result.PassedCount
    Failed  = $result.FailedCount + $result.FailedBlocksCount + $result.FailedContainersCount
    Skipped = $result.SkippedCount
} | ConvertTo-Json | Set-Content -Path $SummaryPath
