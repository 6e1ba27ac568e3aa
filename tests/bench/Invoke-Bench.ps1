<#
.SYNOPSIS
    Side-by-side measurements for build.ps1 Bench (ratios, in one run: these machines are noisy).
.DESCRIPTION
    1. Cold Import-Module: a fresh pwsh that imports the module versus a fresh pwsh that does nothing.
    2. Per-step overhead of a local run: Invoke-RlabsPipeline on the examples' sample pipeline versus
       running the same code scripts directly with the same interpreter and arguments.
    3. With -ContainerImage (an image the engine of DOCKER_HOST has): the same pipeline with
       -LocalRuntime Container versus -LocalRuntime Process, per step.
    4. Packaging throughput versus zip -r; 5. bytes uploaded by a second unchanged cloud run (emulator).
    6. The step graph (a diamond, parallel versus -ThrottleLimit 1) and the step cache (an unchanged
       second run versus the first): Invoke-GraphBench.ps1.
    7. A 1-step run in a 5,000-file, ~220 MB repository, the second time, versus the step by hand:
       Invoke-RepositoryBench.ps1.
    8. Staging a 200 MiB input, per step (steps reading it versus steps reading 1 byte): Invoke-StagingBench.ps1.
    9. Client-driven cloud runs (emulator, 60 s jobs): job end noticed, next job created, Describe calls per
       job-minute: Invoke-CloudBench.ps1.
    Rounds alternate the two sides so drift hits both alike; medians are reported.
#>
param(
    [Parameter(Mandatory)] [string] $ModulePath,
    [Parameter(Mandatory)] [string] $Examples,
    [int] $Rounds = 5,
    # An image with python3 that the engine of DOCKER_HOST has; without it the container runtime is not measured.
    [string] $ContainerImage,
    # The built AWS emulator, for the cloud figures; they are skipped with a note when it is missing.
    [string] $EmulatorDirectory
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

# 4. Packaging throughput: a repository of ~5,000 files / ~200 MB, the module's zip versus `zip -r`.
$tree = Join-Path ([IO.Path]::GetTempPath()) "rlabs-bench-tree-$PID"
Remove-Item $tree -Recurse -Force -ErrorAction Ignore
$random = [Random]::new(42)
$text = [Text.Encoding]::UTF8.GetBytes(('import os, sys  # a line of ordinary python source code' + [Environment]::NewLine) * 200)
$totalBytes = 0
for ($i = 0; $i -lt 5000; $i++) {
    $folder = Join-Path $tree ("pkg{0:D2}/mod{1:D3}" -f ($i % 50), ($i % 200))
    [IO.Directory]::CreateDirectory($folder) | Out-Null
    if ($i % 10 -eq 0) {
        $bytes = [byte[]]::new(360KB); $random.NextBytes($bytes)   # data-like, incompressible
        [IO.File]::WriteAllBytes((Join-Path $folder "blob$i.bin"), $bytes)
    } else {
        [IO.File]::WriteAllBytes((Join-Path $folder "file$i.py"), $text)
        $bytes = $text
    }
    $totalBytes += $bytes.Length
}
$core = [AppDomain]::CurrentDomain.GetAssemblies() | Where-Object { $_.GetName().Name -eq 'Rlabs.Pipelines.Core' } | Select-Object -First 1
$packager = $core.GetType('Rlabs.Pipelines.Packaging.SourcePackager')
$zipExe = Get-Command zip -CommandType Application -ErrorAction Ignore | Select-Object -First 1
$moduleZip = @(); $cliZip = @()
for ($i = 0; $i -lt [Math]::Min($Rounds, 3); $i++) {
    $out = Join-Path ([IO.Path]::GetTempPath()) "rlabs-bench-$PID.zip"
    Remove-Item $out -ErrorAction Ignore
    $moduleZip += (Measure-Command { $null = $packager::CreateZip($tree, $out, [string[]]@(), [Threading.CancellationToken]::None) }).TotalMilliseconds
    $moduleZipSize = (Get-Item $out).Length
    Remove-Item $out -ErrorAction Ignore
    if ($zipExe) {
        Push-Location $tree
        try { $cliZip += (Measure-Command { & $zipExe.Source -q -r $out . }).TotalMilliseconds } finally { Pop-Location }
        $cliZipSize = (Get-Item $out).Length
        Remove-Item $out -ErrorAction Ignore
    }
}
Remove-Item $tree -Recurse -Force -ErrorAction Ignore

# 5. Bytes uploaded by a second cloud run of an unchanged repository (against the emulator).
$uploads = $null
if ($EmulatorDirectory -and (Test-Path (Join-Path $EmulatorDirectory 'Rlabs.Pipelines.AwsEmulator.dll'))) {
    Import-Module (Join-Path $EmulatorDirectory 'AwsEmulator.psm1')
    $emulator = Start-AwsEmulator -EmulatorDll (Join-Path $EmulatorDirectory 'Rlabs.Pipelines.AwsEmulator.dll')
    try {
        $env:AWS_ENDPOINT_URL = $emulator.Url; $env:AWS_ACCESS_KEY_ID = 'AKIDBENCH'; $env:AWS_SECRET_ACCESS_KEY = 'bench'; $env:AWS_REGION = 'eu-west-1'
        # The jobs run their steps' commands, so each step writes the data the next one checks for before it starts.
        Invoke-AwsEmulatorAdmin $emulator POST sagemaker/job-behaviour @{ durationMs = 0; outcome = 'Completed'; execute = $true } | Out-Null
        $cloudRepo = Join-Path ([IO.Path]::GetTempPath()) "rlabs-bench-cloud-$PID"
        Copy-Item $Examples $cloudRepo -Recurse
        $cloudPipeline = Join-Path $cloudRepo 'pipelines/sample_pipeline.yaml'
        $role = 'arn:aws:iam::123456789012:role/bench'
        $first = Invoke-RlabsPipeline -Path $cloudPipeline -RepositoryPath $cloudRepo -InstanceType ml.t3.xlarge -JobId bench-1 -RoleArn $role
        $second = Invoke-RlabsPipeline -Path $cloudPipeline -RepositoryPath $cloudRepo -InstanceType ml.t3.xlarge -JobId bench-2 -RoleArn $role
        $uploads = @($first.UploadedBytes, $second.UploadedBytes)
        Remove-Item $cloudRepo -Recurse -Force -ErrorAction Ignore
    } finally {
        Stop-AwsEmulator $emulator
    }
}

"Rlabs.Pipelines bench ($Rounds alternating rounds, medians)"
"{0,-60} {1,10:N0} ms" -f 'cold Import-Module Microsoft.PowerShell.Security (reference)', $referenceMs
"{0,-60} {1,10:N0} ms  (ratio {2:N2}x)" -f 'cold Import-Module Rlabs.Pipelines', $importMs, ($importMs / $referenceMs)
"{0,-60} {1,10:N0} ms  (ratio {2:N2}x)" -f 'cold Import-Module + first Get-RlabsPipeline (loads the core)', $firstUseMs, ($firstUseMs / $referenceMs)
'{0,-60} {1,10:N0} ms' -f "$steps steps run directly with python3", $directMedian
'{0,-60} {1,10:N0} ms  (ratio {2:N2}x)' -f "$steps steps through Invoke-RlabsPipeline -InstanceType local", $moduleMedian, ($moduleMedian / $directMedian)
'{0,-60} {1,10:N1} ms  (goal: under 50 ms)' -f 'per-step overhead of a local run', $perStep
$containerLine
$zipMedian = Get-Median $moduleZip
"{0,-60} {1,10:N0} ms  ({2:N0} MB/s, {3:N0} files, {4:N0} MB in, {5:N0} MB zip)" -f 'package ~5,000 files / ~200 MB (module)', $zipMedian, ($totalBytes / 1MB / ($zipMedian / 1000)), 5000, ($totalBytes / 1MB), ($moduleZipSize / 1MB)
if ($cliZip) {
    $cliMedian = Get-Median $cliZip
    "{0,-60} {1,10:N0} ms  (ratio module/zip {2:N2}x, zip size {3:N0} MB)" -f 'same tree with zip -r', $cliMedian, ($zipMedian / $cliMedian), ($cliZipSize / 1MB)
} else {
    'zip -r not installed: install the zip package for the side-by-side figure'
}
if ($uploads) {
    "{0,-60} {1,10:N0} bytes" -f 'cloud run 1 uploaded (emulator)', $uploads[0]
    "{0,-60} {1,10:N0} bytes  (goal: 0)" -f 'cloud run 2 of the unchanged repository uploaded', $uploads[1]
} else {
    'cloud upload figures skipped: the emulator is not built (run build.ps1 Test once)'
}

# 6. The engine's graph and cache, side by side (tests/bench/Invoke-GraphBench.ps1).
& (Join-Path $PSScriptRoot 'Invoke-GraphBench.ps1') -ModulePath $ModulePath -Rounds ([Math]::Min($Rounds, 3))

# 7. A 1-step run in a big repository, the second time, versus the step by hand (Invoke-RepositoryBench.ps1).
& (Join-Path $PSScriptRoot 'Invoke-RepositoryBench.ps1') -ModulePath $ModulePath -Rounds $Rounds

# 8. What a 200 MiB input costs a step to stage (Invoke-StagingBench.ps1).
& (Join-Path $PSScriptRoot 'Invoke-StagingBench.ps1') -ModulePath $ModulePath -Rounds $Rounds

# 9. Client-driven cloud runs against the emulator: how soon a job's end is seen and the next job starts (Invoke-CloudBench.ps1).
if ($EmulatorDirectory -and (Test-Path (Join-Path $EmulatorDirectory 'Rlabs.Pipelines.AwsEmulator.dll'))) {
    & (Join-Path $PSScriptRoot 'Invoke-CloudBench.ps1') -ModulePath $ModulePath -EmulatorDirectory $EmulatorDirectory
} else {
    'cloud polling figures skipped: the emulator is not built (run build.ps1 Test once)'
}
