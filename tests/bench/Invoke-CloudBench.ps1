<#
.SYNOPSIS
    Client-driven cloud runs against the emulator: how late a job's end is noticed, how soon the next job is
    created, and how many DescribeProcessingJob calls a job costs (called by Invoke-Bench.ps1; runs alone too).
.DESCRIPTION
    A 3-step pipeline whose emulated jobs each take -JobSeconds (60 in the issue's target). From the emulator's
    request log and job table: for each job but the last, the first DescribeProcessingJob after the job ended
    (noticed), the next CreateProcessingJob (next job), and the job's Describe calls per minute.
    Targets: noticed within 5 s; next job created within 1 s after; at most 12 Describe calls per job-minute.
#>
param(
    [Parameter(Mandatory)] [string] $ModulePath,
    [Parameter(Mandatory)] [string] $EmulatorDirectory,
    [int] $JobSeconds = 60
)
$ErrorActionPreference = 'Stop'
Import-Module $ModulePath
Import-Module (Join-Path $EmulatorDirectory 'AwsEmulator.psm1')

$emulator = Start-AwsEmulator -EmulatorDll (Join-Path $EmulatorDirectory 'Rlabs.Pipelines.AwsEmulator.dll')
$repo = Join-Path ([IO.Path]::GetTempPath()) "rlabs-cloud-bench-$PID"
$saved = @{}
foreach ($name in 'AWS_ENDPOINT_URL', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_REGION', 'AWS_EC2_METADATA_DISABLED') { $saved[$name] = [Environment]::GetEnvironmentVariable($name) }
try {
    $env:AWS_ENDPOINT_URL = $emulator.Url; $env:AWS_ACCESS_KEY_ID = 'AKIDBENCH'; $env:AWS_SECRET_ACCESS_KEY = 'bench'; $env:AWS_REGION = 'eu-west-1'; $env:AWS_EC2_METADATA_DISABLED = 'true'
    $null = Invoke-AwsEmulatorAdmin -Emulator $emulator -Method POST -Path 'sagemaker/job-behaviour' -Body @{ durationMs = $JobSeconds * 1000; outcome = 'Completed' }
    New-Item -ItemType Directory -Force -Path $repo | Out-Null
    Set-Content (Join-Path $repo 'step.py') 'print("step")'
    Set-Content (Join-Path $repo 'pipeline.yaml') @'
project: bench
role_arn: arn:aws:iam::123456789012:role/bench
pipeline:
  - { name: a, job_suffix: A, code: step.py, output_path: a }
  - { name: b, job_suffix: B, code: step.py, output_path: b }
  - { name: c, job_suffix: C, code: step.py, output_path: c }
'@
    $null = Invoke-RlabsPipeline -Path (Join-Path $repo 'pipeline.yaml') -RepositoryPath $repo -InstanceType ml.t3.medium -JobId bench -WarningAction SilentlyContinue -ErrorAction Stop
    # The admin API answers JSON arrays; ForEach-Object unrolls them into their items.
    $jobs = @(Invoke-AwsEmulatorAdmin -Emulator $emulator -Method GET -Path 'sagemaker/processing-jobs' | ForEach-Object { $_ } | Sort-Object { $_.creationTime })
    $describes = @(Invoke-AwsEmulatorAdmin -Emulator $emulator -Method GET -Path 'requests?service=sagemaker&operation=DescribeProcessingJob' | ForEach-Object { $_ })
    $creates = @(Invoke-AwsEmulatorAdmin -Emulator $emulator -Method GET -Path 'requests?service=sagemaker&operation=CreateProcessingJob' | ForEach-Object { $_ } | Sort-Object sequence)
    $noticed = @(); $next = @(); $perMinute = @()
    for ($i = 0; $i -lt $jobs.Count - 1; $i++) {
        $job = $jobs[$i]
        $end = [DateTimeOffset]::FromUnixTimeMilliseconds([long]($job.processingEndTime * 1000))
        $mine = @($describes | Where-Object { $_.parameters.ProcessingJobName -eq $job.processingJobName } | Sort-Object sequence)
        $seen = $mine | Where-Object { [DateTimeOffset]$_.time -ge $end } | Select-Object -First 1
        $create = $creates | Where-Object { $_.sequence -gt $seen.sequence } | Select-Object -First 1
        $noticed += ([DateTimeOffset]$seen.time - $end).TotalSeconds
        $next += ([DateTimeOffset]$create.time - [DateTimeOffset]$seen.time).TotalSeconds
        $perMinute += $mine.Count / ($JobSeconds / 60)
    }
    $worst = { param($Values) ($Values | Measure-Object -Maximum).Maximum }
    '{0,-60} {1,10:N2} s   (goal: 5 s or less)' -f "cloud: job end noticed, worst of $($noticed.Count) ($JobSeconds s jobs)", (& $worst $noticed)
    '{0,-60} {1,10:N2} s   (goal: 1 s or less)' -f 'cloud: next job created after the end was noticed, worst', (& $worst $next)
    '{0,-60} {1,10:N1}     (goal: 12 or less)' -f 'cloud: DescribeProcessingJob calls per job-minute, worst', (& $worst $perMinute)
} finally {
    foreach ($name in $saved.Keys) { [Environment]::SetEnvironmentVariable($name, $saved[$name]) }
    Stop-AwsEmulator $emulator
    Remove-Item $repo -Recurse -Force -ErrorAction Ignore
}
