<#
.SYNOPSIS
    Side-by-side: a 1-step local run in a 5,000-file, ~220 MB repository, the second time, versus running the
    step by hand (called by Invoke-Bench.ps1; runs alone too).
.DESCRIPTION
    The module's side is a later Invoke-RlabsPipeline of an unchanged repository (the source zip of the first and
    its content hash are reused), two ways: with the tree stat-walked (as in a new session, or after a change git
    ignores: a new log file is written before each of these runs), and with the session's watcher vouching for the
    tree (the same session ran it before and nothing changed). The direct side starts the same script with the same
    interpreter (the real one behind a pyenv shim) and arguments, on a zip made once, as a process.
    Target: within 1.5x, both ways. Rounds alternate the sides; medians are reported.
#>
param(
    [Parameter(Mandatory)] [string] $ModulePath,
    [int] $Rounds = 3
)
$ErrorActionPreference = 'Stop'
Import-Module $ModulePath

function Get-Median([double[]] $Values) {
    $sorted = $Values | Sort-Object
    $middle = [int][math]::Floor($sorted.Count / 2)
    if ($sorted.Count % 2) { $sorted[$middle] } else { ($sorted[$middle - 1] + $sorted[$middle]) / 2 }
}

$repo = Join-Path ([IO.Path]::GetTempPath()) "rlabs-repo-bench-$PID"
Remove-Item $repo -Recurse -Force -ErrorAction Ignore
$random = [Random]::new(42)
$text = [Text.Encoding]::UTF8.GetBytes(('import os, sys  # a line of ordinary python source code' + [Environment]::NewLine) * 200)
for ($i = 0; $i -lt 5000; $i++) {
    $folder = Join-Path $repo ("pkg{0:D2}/mod{1:D3}" -f ($i % 50), ($i % 200))
    [IO.Directory]::CreateDirectory($folder) | Out-Null
    if ($i % 10 -eq 0) {
        $bytes = [byte[]]::new(400KB); $random.NextBytes($bytes)
        [IO.File]::WriteAllBytes((Join-Path $folder "blob$i.bin"), $bytes)
    } else {
        [IO.File]::WriteAllBytes((Join-Path $folder "file$i.py"), $text)
    }
}
Set-Content (Join-Path $repo '.gitignore') '*.log'
Set-Content (Join-Path $repo 'step.py') @'
import argparse, os
p = argparse.ArgumentParser()
for a in ('--job-id', '--input-data-path', '--output-data-path', '--source-code-zip', '--requirements-path'):
    p.add_argument(a)
args = p.parse_args()
os.makedirs(args.output_data_path, exist_ok=True)
open(os.path.join(args.output_data_path, 'done.txt'), 'w').write(str(os.path.getsize(args.source_code_zip)))
'@
$pipelinePath = Join-Path $repo 'one.yaml'
Set-Content $pipelinePath 'pipeline:
  - { name: one, job_suffix: One, code: step.py, output_path: out }'
$python = (Get-Command python3 -CommandType Application | Select-Object -First 1).Source
# By hand, the interpreter itself: a version manager's shim (pyenv: 100 ms and more) would flatter the module's side.
$realPython = (& $python -c 'import sys; print(sys.executable)' | Select-Object -Last 1).Trim()
$direct = Join-Path ([IO.Path]::GetTempPath()) "rlabs-repo-bench-direct-$PID"
New-Item -ItemType Directory -Force -Path $direct | Out-Null
$zip = Join-Path $direct 'source.zip'
Set-Content (Join-Path $direct 'requirements.txt') '' -NoNewline

try {
    $null = Invoke-RlabsPipeline -Path $pipelinePath -RepositoryPath $repo -InstanceType local -JobId 'first' -PythonPath $python -ErrorAction Stop
    $core = [AppDomain]::CurrentDomain.GetAssemblies() | Where-Object { $_.GetName().Name -eq 'Rlabs.Pipelines.Core' } | Select-Object -First 1
    $null = $core.GetType('Rlabs.Pipelines.Packaging.SourcePackager')::CreateZip($repo, $zip, [string[]]@((Join-Path $repo '.rlabs')), [Threading.CancellationToken]::None)
    $directMs = @(); $moduleMs = @(); $walkedMs = @()
    for ($i = 0; $i -lt $Rounds; $i++) {
        # Started as a process, as the module starts it: PowerShell's native-command plumbing (100 ms and more
        # here) would flatter the module's side.
        $directMs += (Measure-Command {
            $start = [Diagnostics.ProcessStartInfo]::new($realPython, [string[]]@((Join-Path $repo 'step.py'), '--job-id', "d$i", '--output-data-path', (Join-Path $direct "out/d$i"), '--source-code-zip', $zip, '--requirements-path', (Join-Path $direct 'requirements.txt')))
            $start.UseShellExecute = $false
            $process = [Diagnostics.Process]::Start($start)
            $process.WaitForExit()
            if ($process.ExitCode -ne 0) { throw 'The direct run failed.' }
        }).TotalMilliseconds
        # A file git ignores changed: the watcher no longer vouches for the tree, which is walked (to the same stamp).
        Set-Content (Join-Path $repo 'bench.log') "round $i"
        $walkedMs += (Measure-Command {
            $run = Invoke-RlabsPipeline -Path $pipelinePath -RepositoryPath $repo -InstanceType local -JobId "w$i" -PythonPath $python -ErrorAction Stop
            if ($run.Status -ne 'Completed') { throw 'The bench run failed.' }
        }).TotalMilliseconds
        $moduleMs += (Measure-Command {
            $run = Invoke-RlabsPipeline -Path $pipelinePath -RepositoryPath $repo -InstanceType local -JobId "m$i" -PythonPath $python -ErrorAction Stop
            if ($run.Status -ne 'Completed') { throw 'The bench run failed.' }
        }).TotalMilliseconds
    }
    $d = Get-Median $directMs
    $m = Get-Median $moduleMs
    $w = Get-Median $walkedMs
    '{0,-60} {1,10:N0} ms' -f '1 step by hand, 5,000-file ~220 MB repository', $d
    '{0,-60} {1,10:N0} ms  (ratio {2:N2}x; goal <= 1.5x)' -f '1-step Invoke-RlabsPipeline there, again, tree walked', $w, ($w / $d)
    '{0,-60} {1,10:N0} ms  (ratio {2:N2}x; goal <= 1.5x)' -f '1-step Invoke-RlabsPipeline there, again, watcher vouches', $m, ($m / $d)
} finally {
    Remove-Item $repo, $direct -Recurse -Force -ErrorAction Ignore
}
