<#
.SYNOPSIS
    Side-by-side figures of the engine's graph and cache (called by Invoke-Bench.ps1; runs alone too).
.DESCRIPTION
    1. A diamond A -> {B, C} -> D of 1-second steps, local: the default throttle versus -ThrottleLimit 1
       (target: wall <= A + max(B, C) + D + 0.3 s, and >= 4 s with -ThrottleLimit 1).
    2. A 4-step pipeline with 'cache: true': an unchanged second run (in-process) versus the first
       (target: 0 steps executed, under 0.5 s).
    Rounds alternate the sides; medians are reported.
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

$repo = Join-Path ([IO.Path]::GetTempPath()) "rlabs-graph-bench-$PID"
Remove-Item $repo -Recurse -Force -ErrorAction Ignore
New-Item -ItemType Directory -Path $repo | Out-Null
Set-Content (Join-Path $repo 'step.py') @'
import argparse, os, sys, time
p = argparse.ArgumentParser()
for a in ('--job-id', '--input-data-path', '--output-data-path', '--source-code-zip', '--requirements-path', '--sleep'):
    p.add_argument(a)
args = p.parse_args()
time.sleep(float(args.sleep or 0))
os.makedirs(args.output_data_path, exist_ok=True)
open(os.path.join(args.output_data_path, os.environ['RLABS_STEP_NAME'] + '.txt'), 'w').write('done')
'@
$diamond = Join-Path $repo 'diamond.yaml'
Set-Content $diamond @'
pipeline:
  - { name: a, job_suffix: A, code: step.py, output_path: a, params: { sleep: "1" } }
  - { name: b, job_suffix: B, code: step.py, input_data: "a/<job_id>", output_path: mid, params: { sleep: "1" } }
  - { name: c, job_suffix: C, code: step.py, input_data: "a/<job_id>", output_path: mid, depends_on: [a], params: { sleep: "1" } }
  - { name: d, job_suffix: D, code: step.py, input_data: "mid/<job_id>", output_path: d, depends_on: [b, c], params: { sleep: "1" } }
'@
$cached = Join-Path $repo 'cached.yaml'
Set-Content $cached @'
cache: true
pipeline:
  - { name: a, job_suffix: A, code: step.py, output_path: a }
  - { name: b, job_suffix: B, code: step.py, input_data: "a/<job_id>", output_path: b }
  - { name: c, job_suffix: C, code: step.py, input_data: "b/<job_id>", output_path: c }
  - { name: d, job_suffix: D, code: step.py, input_data: "c/<job_id>", output_path: d }
'@

function Invoke-Timed([string] $Path, [string] $JobId, [hashtable] $Extra = @{}) {
    $run = $null
    $ms = (Measure-Command { $run = Invoke-RlabsPipeline -Path $Path -RepositoryPath $repo -InstanceType local -JobId $JobId @Extra -ErrorAction Stop }).TotalMilliseconds
    if ($run.Status -ne 'Completed') { throw "The bench run $JobId failed." }
    [pscustomobject]@{ Ms = $ms; Run = $run }
}

try {
    $null = Invoke-Timed $diamond 'warm'
    $parallel = @(); $serial = @()
    for ($i = 0; $i -lt $Rounds; $i++) {
        $parallel += (Invoke-Timed $diamond "p$i").Ms
        $serial += (Invoke-Timed $diamond "s$i" @{ ThrottleLimit = 1 }).Ms
    }
    $parallelMs = Get-Median $parallel
    $serialMs = Get-Median $serial

    $first = @(); $second = @(); $executed = @()
    for ($i = 0; $i -lt $Rounds; $i++) {
        Remove-Item (Join-Path $repo '.rlabs') -Recurse -Force -ErrorAction Ignore
        $first += (Invoke-Timed $cached "c$i").Ms
        $again = Invoke-Timed $cached "h$i"
        $second += $again.Ms
        $executed += @($again.Run.Steps | Where-Object { -not $_.CachedFrom }).Count
    }
    $firstMs = Get-Median $first
    $secondMs = Get-Median $second

    '{0,-60} {1,10:N0} ms' -f 'diamond of 1 s steps, -ThrottleLimit 1', $serialMs
    '{0,-60} {1,10:N0} ms  (ratio {2:N2}x; goal <= 3,300 ms)' -f 'diamond of 1 s steps, default throttle (B and C at once)', $parallelMs, ($parallelMs / $serialMs)
    '{0,-60} {1,10:N0} ms' -f '4-step cached pipeline, first run', $firstMs
    '{0,-60} {1,10:N0} ms  (ratio {2:N2}x; goal < 500 ms, 0 steps run: {3})' -f '4-step cached pipeline, unchanged second run', $secondMs, ($secondMs / $firstMs), (($executed | Measure-Object -Maximum).Maximum)
} finally {
    Remove-Item $repo -Recurse -Force -ErrorAction Ignore
}
