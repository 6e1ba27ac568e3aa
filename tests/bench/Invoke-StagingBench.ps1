<#
.SYNOPSIS
    Side-by-side: what staging a 200 MiB input costs a local step (called by Invoke-Bench.ps1; runs alone too).
.DESCRIPTION
    The same 4-step pipeline twice, alternating: every step reads a 200 MiB input (20 files of 10 MiB in the data
    root), or every step reads a 1-byte input. The scripts only list their input, so the difference per step is
    what staging (and checking after the step) costs. Target: under 10 ms per step.
#>
param(
    [Parameter(Mandatory)] [string] $ModulePath,
    [int] $Rounds = 5
)
$ErrorActionPreference = 'Stop'
Import-Module $ModulePath

function Get-Median([double[]] $Values) {
    $sorted = $Values | Sort-Object
    $middle = [int][math]::Floor($sorted.Count / 2)
    if ($sorted.Count % 2) { $sorted[$middle] } else { ($sorted[$middle - 1] + $sorted[$middle]) / 2 }
}

$repo = Join-Path ([IO.Path]::GetTempPath()) "rlabs-staging-bench-$PID"
Remove-Item $repo -Recurse -Force -ErrorAction Ignore
$big = Join-Path $repo '.rlabs/data/big'
New-Item -ItemType Directory -Force -Path $big, (Join-Path $repo '.rlabs/data/small') | Out-Null
$random = [Random]::new(7)
$bytes = [byte[]]::new(10MB)
for ($i = 0; $i -lt 20; $i++) {
    $random.NextBytes($bytes)
    [IO.File]::WriteAllBytes((Join-Path $big "part$i.bin"), $bytes)
}
[IO.File]::WriteAllBytes((Join-Path $repo '.rlabs/data/small/part0.bin'), [byte[]]@(1))
Set-Content (Join-Path $repo 'step.py') @'
import argparse, os
p = argparse.ArgumentParser()
for a in ('--job-id', '--input-data-path', '--output-data-path', '--source-code-zip', '--requirements-path'):
    p.add_argument(a)
args = p.parse_args()
os.makedirs(args.output_data_path, exist_ok=True)
open(os.path.join(args.output_data_path, 'listed.txt'), 'w').write('\n'.join(sorted(os.listdir(args.input_data_path))))
'@
foreach ($size in 'big', 'small') {
    $steps = 1..4 | ForEach-Object { "  - { name: s$_, job_suffix: S$_, code: step.py, input_data: $size, output_path: out$_ }" }
    Set-Content (Join-Path $repo "$size.yaml") (@('pipeline:') + $steps)
}
$python = (Get-Command python3 -CommandType Application | Select-Object -First 1).Source

try {
    $run = { param($Size, $JobId)
        $result = Invoke-RlabsPipeline -Path (Join-Path $repo "$Size.yaml") -RepositoryPath $repo -InstanceType local -JobId $JobId -PythonPath $python -ErrorAction Stop
        if ($result.Status -ne 'Completed') { throw "The $Size bench run failed." }
    }
    & $run small 'warm-small'; & $run big 'warm-big'
    $smallMs = @(); $bigMs = @()
    for ($i = 0; $i -lt $Rounds; $i++) {
        $smallMs += (Measure-Command { & $run small "small$i" }).TotalMilliseconds
        $bigMs += (Measure-Command { & $run big "big$i" }).TotalMilliseconds
    }
    $s = Get-Median $smallMs
    $b = Get-Median $bigMs
    '{0,-60} {1,10:N0} ms' -f '4 steps, each reading a 1-byte input', $s
    '{0,-60} {1,10:N0} ms  (ratio {2:N2}x)' -f '4 steps, each reading a 200 MiB input (20 files)', $b, ($b / $s)
    '{0,-60} {1,10:N1} ms  (goal: under 10 ms)' -f 'staging a 200 MiB input, per step', (($b - $s) / 4)
} finally {
    Remove-Item $repo -Recurse -Force -ErrorAction Ignore
}
