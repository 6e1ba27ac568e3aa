<#
.SYNOPSIS
    Side-by-side measurements for build.ps1 Bench (ratios, in one run: these machines are noisy).
.DESCRIPTION
    1. Cold Import-Module: a fresh pwsh that imports the module versus a fresh pwsh that does nothing.
    2. Per-step overhead of a local run: Invoke-RlabsPipeline on the examples' sample pipeline versus
       running the same code scripts directly with the same interpreter and arguments.
    3. With -ContainerImage (an image the engine of DOCKER_HOST has): the same pipeline with
       -LocalRuntime Container versus -LocalRuntime Process, per step.
    Rounds alternate the two sides so drift hits both alike; medians are reported.
#>
param(
    [Parameter(Mandatory)] [string] $ModulePath,
    [Parameter(Mandatory)] [string] $Examples,
    [int] $Rounds = 5,
    # An image with python3 that the engine of DOCKER_HOST has; without it the container runtime is not measured.
    [string] $ContainerImage
)
$ErrorActionPreference = 'Stop'
Import-Module $ModulePath

function Get-Median([double[]] $Values) {
    $sorted = $Values | Sort-Object
    $middle = [int][math]::Floor($sorted.Count / 2)
    if ($sorted.Count % 2) { $sorted[$middle] } else { ($sorted[$middle - 1] + $sorted[$middle]) / 2 }
}

$pwsh = Join-Path $PSHOME ([OperatingSystem]::IsWindows() ? 'pwsh.exe' : 'pwsh')
$pwshArgs = if (Test-Path $pwsh) { @() } else { $pwsh = 'dotnet'; @((Join-Path $PSHOME 'pwsh.dll')) }

# 1. Cold import, timed inside fresh sessions so pwsh's own start-up (over a second here) does not drown it.
function Measure-InFreshSession([string] $Script) {
    $timed = '$w = [Diagnostics.Stopwatch]::StartNew(); ' + $Script + '; $w.Elapsed.TotalMilliseconds'
    [double](& $pwsh @pwshArgs -NoProfile -NonInteractive -Command $timed | Select-Object -Last 1)
}
$samplePath = Join-Path $Examples 'pipelines/sample_pipeline.yaml'
$reference = @(); $import = @(); $firstUse = @()
for ($i = 0; $i -lt $Rounds; $i++) {
    $reference += Measure-InFreshSession 'Import-Module Microsoft.PowerShell.Security'
    $import += Measure-InFreshSession "Import-Module '$ModulePath'"
    $firstUse += Measure-InFreshSession "Import-Module '$ModulePath'; `$null = Get-RlabsPipeline -Path '$samplePath' -RepositoryPath '$Examples'"
}
$referenceMs = Get-Median $reference
$importMs = Get-Median $import
$firstUseMs = Get-Median $firstUse

# 2. Per-step overhead.
$work = Join-Path ([IO.Path]::GetTempPath()) "rlabs-bench-$PID"
Remove-Item $work -Recurse -Force -ErrorAction Ignore
Copy-Item $Examples $work -Recurse
$pipelinePath = Join-Path $work 'pipelines/sample_pipeline.yaml'
$pipeline = Get-RlabsPipeline -Path $pipelinePath -RepositoryPath $work
$python = (Get-Command python3 -CommandType Application | Select-Object -First 1).Source

# The direct side gets what the module would hand over: a source zip, an empty requirements file, folders.
$direct = Join-Path $work '.direct'
New-Item -ItemType Directory -Force -Path $direct | Out-Null
$zip = Join-Path $direct 'source.zip'
Compress-Archive -Path (Join-Path $work 'src'), (Join-Path $work 'datasets') -DestinationPath $zip
$requirements = Join-Path $direct 'requirements.txt'
Set-Content $requirements '' -NoNewline

function Invoke-Direct([string] $JobId) {
    $data = Join-Path $direct "data/$JobId"
    foreach ($step in $pipeline.Steps) {
        $arguments = @((Join-Path $work $step.Code), '--job-id', $JobId)
        if ($step.InputData) { $arguments += '--input-data-path', $data }
        $arguments += '--output-data-path', $data, '--source-code-zip', $zip, '--requirements-path', $requirements
        foreach ($p in $step.Params.GetEnumerator()) { $arguments += "--$($p.Key)", $p.Value }
        & $python @arguments | Out-Null
        if ($LASTEXITCODE -ne 0) { throw "Direct run of $($step.Name) failed." }
    }
}

# Warm both sides once (file cache, JIT), then measure alternately.
Invoke-Direct 'warm'
$null = Invoke-RlabsPipeline -Path $pipelinePath -RepositoryPath $work -InstanceType local -JobId 'warm' -PythonPath $python -ErrorAction Stop
$directMs = @(); $moduleMs = @()
for ($i = 0; $i -lt $Rounds; $i++) {
    $directMs += (Measure-Command { Invoke-Direct "d$i" }).TotalMilliseconds
    $moduleMs += (Measure-Command {
        $run = Invoke-RlabsPipeline -Path $pipelinePath -RepositoryPath $work -InstanceType local -JobId "m$i" -PythonPath $python -ErrorAction Stop
        if ($run.Status -ne 'Completed') { throw 'The benchmark run failed.' }
    }).TotalMilliseconds
}
$steps = $pipeline.Steps.Count
$directMedian = Get-Median $directMs
$moduleMedian = Get-Median $moduleMs
$perStep = ($moduleMedian - $directMedian) / $steps

# 3. Container runtime versus process runtime, same pipeline (with the image named in it), alternating.
$containerLine = 'container runtime not measured: no engine (build.ps1 Bench starts one as root on Linux)'
if ($ContainerImage) {
    $containerPipeline = Join-Path $work 'pipelines/sample_container.yaml'
    Set-Content $containerPipeline -Value ("image: `"$ContainerImage`"`n" + (Get-Content $pipelinePath -Raw)) -NoNewline
    function Invoke-Runtime([string] $Runtime, [string] $JobId) {
        $run = Invoke-RlabsPipeline -Path $containerPipeline -RepositoryPath $work -InstanceType local -LocalRuntime $Runtime -JobId $JobId -PythonPath $python -ErrorAction Stop
        if ($run.Status -ne 'Completed' -or @($run.Steps.Runtime | Select-Object -Unique) -ne $Runtime) { throw "The $Runtime bench run failed." }
    }
    Invoke-Runtime Container 'cwarm'
    $processRuntimeMs = @(); $containerRuntimeMs = @()
    for ($i = 0; $i -lt $Rounds; $i++) {
        $processRuntimeMs += (Measure-Command { Invoke-Runtime Process "rp$i" }).TotalMilliseconds
        $containerRuntimeMs += (Measure-Command { Invoke-Runtime Container "rc$i" }).TotalMilliseconds
    }
    $processRuntimeMedian = Get-Median $processRuntimeMs
    $containerRuntimeMedian = Get-Median $containerRuntimeMs
    $containerLine = @(
        '{0,-60} {1,10:N0} ms' -f "$steps steps, -LocalRuntime Process", $processRuntimeMedian
        '{0,-60} {1,10:N0} ms  (ratio {2:N2}x)' -f "$steps steps, -LocalRuntime Container ($ContainerImage)", $containerRuntimeMedian, ($containerRuntimeMedian / $processRuntimeMedian)
        '{0,-60} {1,10:N0} ms  (expected: a few hundred ms, container start)' -f 'per-step overhead of the container runtime over Process', (($containerRuntimeMedian - $processRuntimeMedian) / $steps)
    )
}
Remove-Item $work -Recurse -Force -ErrorAction Ignore

"Rlabs.Pipelines bench ($Rounds alternating rounds, medians)"
"{0,-60} {1,10:N0} ms" -f 'cold Import-Module Microsoft.PowerShell.Security (reference)', $referenceMs
"{0,-60} {1,10:N0} ms  (ratio {2:N2}x)" -f 'cold Import-Module Rlabs.Pipelines', $importMs, ($importMs / $referenceMs)
"{0,-60} {1,10:N0} ms  (ratio {2:N2}x)" -f 'cold Import-Module + first Get-RlabsPipeline (loads the core)', $firstUseMs, ($firstUseMs / $referenceMs)
'{0,-60} {1,10:N0} ms' -f "$steps steps run directly with python3", $directMedian
'{0,-60} {1,10:N0} ms  (ratio {2:N2}x)' -f "$steps steps through Invoke-RlabsPipeline -InstanceType local", $moduleMedian, ($moduleMedian / $directMedian)
'{0,-60} {1,10:N1} ms  (goal: under 50 ms)' -f 'per-step overhead of a local run', $perStep
$containerLine
