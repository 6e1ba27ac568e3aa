# Runs one scheduled pipeline on the instance. Called by run.sh with every value as a separate argument
# (pwsh -File never re-parses them), so no path or name is ever pasted into code.
param(
    [Parameter(Mandatory)] [string] $ModulePath,
    [Parameter(Mandatory)] [string] $Path,
    [Parameter(Mandatory)] [string] $RepositoryPath,
    [Parameter(Mandatory)] [string] $InstanceType,
    [string] $CredentialsFile
)
$ErrorActionPreference = 'Stop'
Import-Module $ModulePath
$arguments = @{
    Path           = $Path
    RepositoryPath = $RepositoryPath
    InstanceType   = $InstanceType
    ErrorAction    = 'Stop'
}
if ($CredentialsFile -and (Test-Path -LiteralPath $CredentialsFile)) {
    $arguments.CredentialsFile = $CredentialsFile
}
$run = Invoke-RlabsPipeline @arguments
$run | Format-List | Out-String -Width 200
$run.Steps | Format-Table -AutoSize | Out-String -Width 200
if ("$($run.Status)" -ne 'Completed') { exit 1 }
