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

function Get-TestEngineProblem {
    <#
    Why the container tests cannot run here, or $null when the engine of DOCKER_HOST answers and has the image.
    In CI as root on Linux an engine can always be started (build.ps1 Test does), so there it throws instead.
    #>
    param([Parameter(Mandatory)] [string] $Image)
    $problem = $null
    if (-not (Get-Command docker -CommandType Application -ErrorAction Ignore)) {
        $problem = 'no docker CLI to ask the engine (tests/container/Start-TestEngine.ps1 installs it with the engine)'
    } else {
        $answer = & docker image inspect --format '{{.Id}}' $Image 2>&1
        if ($LASTEXITCODE -ne 0) { $problem = "the container engine ($(if ($env:DOCKER_HOST) { $env:DOCKER_HOST } else { 'default socket' })) has no image ${Image}: $answer" }
    }
    if ($problem -and $env:RLABS_TEST_ENGINE_SKIP_REASON) { $problem += " (test engine: $env:RLABS_TEST_ENGINE_SKIP_REASON)" }
    if ($problem -and $env:CI -eq 'true' -and $IsLinux -and (& id -u) -eq '0') {
        throw "Container tests must run in CI as root on Linux, but $problem"
    }
    $problem
}

Export-ModuleMember -Function Copy-ExampleRepository, Get-RepositoryRoot, Get-NuGetPackagesPath, Invoke-ChildPwsh, Get-TestEngineProblem
