# Shared helpers for the Pester tests: a copy of the examples repository and a child pwsh runner.
$script:RepoRoot = (Resolve-Path (Join-Path $PSScriptRoot '../..')).Path

function Copy-ExampleRepository {
    param([Parameter(Mandatory)] [string] $Destination)
    Copy-Item (Join-Path $script:RepoRoot 'examples') $Destination -Recurse
    (Resolve-Path $Destination).Path
}

function Get-RepositoryRoot { $script:RepoRoot }

function Get-NuGetPackagesPath {
    if ($env:NUGET_PACKAGES) { return $env:NUGET_PACKAGES }
    Join-Path ([Environment]::GetFolderPath('UserProfile')) '.nuget/packages'
}

function Invoke-ChildPwsh {
    <# Runs a script block in a fresh pwsh -NoProfile (a clean session) and returns its output and exit code. #>
    param([Parameter(Mandatory)] [scriptblock] $ScriptBlock, [object[]] $ArgumentList = @())
    $pwsh = Join-Path $PSHOME ([OperatingSystem]::IsWindows() ? 'pwsh.exe' : 'pwsh')
    $command = @('-NoProfile', '-NonInteractive')
    if (Test-Path $pwsh) {
        $output = & $pwsh @command -Command $ScriptBlock -args $ArgumentList 2>&1
    } else {
        # Started through 'dotnet pwsh' (a tool): run pwsh.dll with the same host.
        $output = & dotnet (Join-Path $PSHOME 'pwsh.dll') @command -Command $ScriptBlock -args $ArgumentList 2>&1
    }
    [pscustomobject]@{ Output = @($output | ForEach-Object { "$_" }); ExitCode = $LASTEXITCODE }
}

Export-ModuleMember -Function Copy-ExampleRepository, Get-RepositoryRoot, Get-NuGetPackagesPath, Invoke-ChildPwsh
