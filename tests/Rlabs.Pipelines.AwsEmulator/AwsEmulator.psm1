# Starts and stops the standalone AWS emulator for Pester tests, and drives its admin API.
#   $emulator = Start-AwsEmulator -EmulatorDll <path to Rlabs.Pipelines.AwsEmulator.dll>
#   $env:AWS_ENDPOINT_URL = $emulator.Url
#   ... tests ...
#   Stop-AwsEmulator $emulator

function Start-AwsEmulator {
    [CmdletBinding()]
    param(
        # Path to the built Rlabs.Pipelines.AwsEmulator.dll.
        [Parameter(Mandatory)] [string] $EmulatorDll,
        # Port on 127.0.0.1; 0 picks a free one.
        [int] $Port = 0,
        # botocore's data directory (defaults to Debian's python3-botocore).
        [string] $BotocoreData,
        # Where the request log is written when the emulator stops.
        [string] $StateFile
    )
    $arguments = @($EmulatorDll, '--port', $Port)
    if ($BotocoreData) { $arguments += '--botocore-data', $BotocoreData }
    if ($StateFile) { $arguments += '--state-file', $StateFile }
    $start = [System.Diagnostics.ProcessStartInfo]::new('dotnet')
    foreach ($argument in $arguments) { $start.ArgumentList.Add([string]$argument) }
    $start.RedirectStandardInput = $true
    $start.RedirectStandardOutput = $true
    $start.UseShellExecute = $false
    $process = [System.Diagnostics.Process]::Start($start)
    $line = $process.StandardOutput.ReadLine()
    if ($line -notmatch '^Listening on (http://127\.0\.0\.1:\d+)$') {
        if (-not $process.HasExited) { $process.Kill($true) }
        throw "The AWS emulator did not start: '$line'"
    }
    [pscustomobject]@{ Url = $Matches[1]; Process = $process }
}

function Stop-AwsEmulator {
    [CmdletBinding()]
    param([Parameter(Mandatory, ValueFromPipeline)] $Emulator)
    process {
        # Closing stdin is the emulator's signal to stop and write its state file.
        $Emulator.Process.StandardInput.Close()
        if (-not $Emulator.Process.WaitForExit(15000)) { $Emulator.Process.Kill($true) }
    }
}

function Invoke-AwsEmulatorAdmin {
    [CmdletBinding()]
    param(
        [Parameter(Mandatory)] $Emulator,
        [Parameter(Mandatory)] [ValidateSet('GET', 'POST', 'DELETE')] [string] $Method,
        # e.g. 'requests', 'faults', 'reset', 'ec2/instances', 'sagemaker/job-behaviour', 'logs/events'.
        [Parameter(Mandatory)] [string] $Path,
        [object] $Body
    )
    $parameters = @{ Method = $Method; Uri = "$($Emulator.Url)/_emulator/$Path" }
    if ($null -ne $Body) {
        $parameters.Body = $Body | ConvertTo-Json -Depth 10
        $parameters.ContentType = 'application/json'
    }
    Invoke-RestMethod @parameters
}

Export-ModuleMember -Function Start-AwsEmulator, Stop-AwsEmulator, Invoke-AwsEmulatorAdmin
