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

function Start-ChildPwsh {
    <#
    Starts a fresh pwsh -NoProfile running $Command (its output goes to $LogPath) and returns the process
    without waiting: for tests that kill it (Process.Kill is SIGKILL on Linux and macOS). It inherits this
    process's environment, AWS_ENDPOINT_URL included.
    #>
    param([Parameter(Mandatory)] [string] $Command, [Parameter(Mandatory)] [string] $LogPath)
    $pwsh = Join-Path $PSHOME ([OperatingSystem]::IsWindows() ? 'pwsh.exe' : 'pwsh')
    $info = if (Test-Path $pwsh) { [Diagnostics.ProcessStartInfo]::new($pwsh) } else { [Diagnostics.ProcessStartInfo]::new('dotnet') }
    if (-not (Test-Path $pwsh)) { $info.ArgumentList.Add((Join-Path $PSHOME 'pwsh.dll')) }
    foreach ($argument in '-NoProfile', '-NonInteractive', '-Command', "& { $Command } *> '$($LogPath -replace "'", "''")'") { $info.ArgumentList.Add($argument) }
    $info.UseShellExecute = $false
    [Diagnostics.Process]::Start($info)
}

function Test-ProcessGone {
    <# Whether process $Id has exited (a zombie waiting for its parent counts as gone). #>
    param([Parameter(Mandatory)] [int] $Id)
    $process = Get-Process -Id $Id -ErrorAction Ignore
    -not $process -or $process.HasExited -or ($IsLinux -and ((Get-Content "/proc/$Id/stat" -ErrorAction Ignore) -split ' ')[2] -eq 'Z')
}

function Wait-Until {
    <# Polls $Condition every 100 ms until it is true; throws $Message after $TimeoutSeconds. #>
    param([Parameter(Mandatory)] [scriptblock] $Condition, [double] $TimeoutSeconds = 60, [string] $Message = 'The condition never became true')
    $deadline = [DateTime]::UtcNow.AddSeconds($TimeoutSeconds)
    while (-not (& $Condition)) {
        if ([DateTime]::UtcNow -gt $deadline) { throw "$Message (waited $TimeoutSeconds s)" }
        Start-Sleep -Milliseconds 100
    }
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

function New-SeedExampleRepository {
    <#
    A data-apps repository holding the seed's own example pipeline, its YAML taken unchanged from
    tests/seed/original-rlabs-pipeline-cli.rst, with a code script of ours (run_notebook_wrapper.py) that
    needs an existing input folder and writes result.json. Returns the repository and the pipeline path.
    #>
    param([Parameter(Mandatory)] [string] $Destination)
    $rst = Get-Content (Join-Path $script:RepoRoot 'tests/seed/original-rlabs-pipeline-cli.rst')
    $start = [array]::IndexOf($rst, 'Example configuration:')
    if ($start -lt 0) { throw "The seed's 'Example configuration:' block was not found." }
    $yaml = [Collections.Generic.List[string]]::new()
    for ($i = $start + 1; $i -lt $rst.Count; $i++) {
        $line = $rst[$i]
        if ($line -match '^\.\. code-block::' -or ($yaml.Count -eq 0 -and $line -eq '')) { continue }
        if ($line -ne '' -and $line -notmatch '^   ') { break }
        $yaml.Add(($line -replace '^   ', ''))
    }
    New-Item -ItemType Directory -Path (Join-Path $Destination 'pipelines'), (Join-Path $Destination 'notebook') -Force | Out-Null
    $pipeline = Join-Path $Destination 'pipelines/seed_pipeline.yaml'
    Set-Content -Path $pipeline -Value (($yaml -join "`n").TrimEnd() + "`n") -NoNewline
    Set-Content -Path (Join-Path $Destination 'notebook/sample_notebook.ipynb') -Value '{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}'
    Set-Content -Path (Join-Path $Destination 'run_notebook_wrapper.py') -Value @'
import argparse, json, os, sys, zipfile
p = argparse.ArgumentParser()
p.add_argument('-j', '--job-id', required=True)
p.add_argument('-i', '--input-data-zip')
p.add_argument('-ip', '--input-data-path')
p.add_argument('-o', '--output-data-path', required=True)
p.add_argument('-s', '--source-code-zip', required=True)
p.add_argument('-r', '--requirements-path', required=True)
p.add_argument('--notebook_path', required=True)
p.add_argument('--train_id', required=True)
a = p.parse_args()
if not a.input_data_path or not os.path.isdir(a.input_data_path):
    sys.exit('no input folder: %r' % a.input_data_path)
if a.notebook_path not in zipfile.ZipFile(a.source_code_zip).namelist():
    sys.exit('the notebook %s is not in the source zip' % a.notebook_path)
os.makedirs(a.output_data_path, exist_ok=True)
with open(os.path.join(a.output_data_path, 'result.json'), 'w') as f:
    json.dump({'job_id': a.job_id, 'inputs': sorted(os.listdir(a.input_data_path)), 'notebook': a.notebook_path, 'train_id': a.train_id}, f)
print('sample_step ran', a.notebook_path, 'with train_id', a.train_id, flush=True)
'@
    [pscustomobject]@{ Repository = (Resolve-Path $Destination).Path; Pipeline = $pipeline; Yaml = ($yaml -join "`n").TrimEnd() }
}

function Start-TestAwsEmulator {
    <#
    Starts the tests' AWS emulator (from RLABS_EMULATOR_DIR, which build.ps1 sets) and points this process's AWS
    environment at it with the given access key id; Stop-TestAwsEmulator stops it and restores the environment.
    The emulator module is imported globally: the tests call its admin functions.
    #>
    param([Parameter(Mandatory)] [string] $AccessKeyId)
    Import-Module (Join-Path $env:RLABS_EMULATOR_DIR 'AwsEmulator.psm1') -Force -Global
    $emulator = Start-AwsEmulator -EmulatorDll (Join-Path $env:RLABS_EMULATOR_DIR 'Rlabs.Pipelines.AwsEmulator.dll')
    $saved = @{}
    foreach ($name in 'AWS_ENDPOINT_URL', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_REGION', 'AWS_PROFILE', 'AWS_EC2_METADATA_DISABLED', 'RLABS_JOB_POLL_INTERVAL') {
        $saved[$name] = [Environment]::GetEnvironmentVariable($name)
    }
    $env:AWS_ENDPOINT_URL = $emulator.Url
    $env:AWS_ACCESS_KEY_ID = $AccessKeyId
    $env:AWS_SECRET_ACCESS_KEY = 'pester-secret'
    $env:AWS_REGION = 'eu-west-1'
    $env:AWS_PROFILE = $null
    $env:AWS_EC2_METADATA_DISABLED = 'true'
    # The emulator's jobs take milliseconds, not SageMaker's minutes (Invoke-Tests.ps1 sets the same).
    $env:RLABS_JOB_POLL_INTERVAL = '0.2'
    $emulator | Add-Member -NotePropertyName SavedEnvironment -NotePropertyValue $saved -PassThru
}

function Stop-TestAwsEmulator {
    param($Emulator)
    if (-not $Emulator) { return }
    Stop-AwsEmulator $Emulator
    foreach ($name in $Emulator.SavedEnvironment.Keys) { [Environment]::SetEnvironmentVariable($name, $Emulator.SavedEnvironment[$name]) }
}

Export-ModuleMember -Function Copy-ExampleRepository, Get-RepositoryRoot, Get-NuGetPackagesPath, Invoke-ChildPwsh, Start-ChildPwsh, Test-ProcessGone, Wait-Until, Get-TestEngineProblem, New-SeedExampleRepository, Start-TestAwsEmulator, Stop-TestAwsEmulator
