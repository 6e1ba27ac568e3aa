#Requires -Version 7.4
<#
.SYNOPSIS
    Stops the engine and registry Start-TestEngine.ps1 started (by their process ids), unmounts what the
    engine left mounted and removes its temporary folder.
#>
[CmdletBinding()]
param(
    # The object Start-TestEngine.ps1 returned; nothing happens for $null.
    [Parameter(Mandatory)] [AllowNull()] [object] $Engine
)
$ErrorActionPreference = 'Stop'
Set-StrictMode -Version 3.0
if (-not $Engine) { return }

if ($Engine.RegistryProcessId) {
    $registry = Get-Process -Id $Engine.RegistryProcessId -ErrorAction Ignore
    if ($registry) { $registry.Kill(); $registry.WaitForExit(5000) | Out-Null }
}
foreach ($name in 'RLABS_TEST_REGISTRY_IMAGE', 'RLABS_TEST_REGISTRY_USER', 'RLABS_TEST_REGISTRY_PASSWORD') { Remove-Item "Env:$name" -ErrorAction Ignore }

$process = Get-Process -Id $Engine.ProcessId -ErrorAction Ignore
if ($process) {
    # SIGTERM first: dockerd stops its containers and its managed containerd, then exits.
    & kill -TERM $Engine.ProcessId 2>$null
    if (-not $process.WaitForExit(20000)) {
        Write-Warning "dockerd $($Engine.ProcessId) did not stop within 20 s; killing it."
        $process.Kill($true)
        $process.WaitForExit(5000) | Out-Null
    }
}

# Overlay and shm mounts can outlive dockerd; unmount the deepest first.
$prefix = $Engine.StateDirectory.TrimEnd('/') + '/'
$mounts = Get-Content /proc/self/mountinfo -ErrorAction Ignore |
    ForEach-Object { ($_ -split ' ')[4] -replace '\\040', ' ' } |
    Where-Object { $_.StartsWith($prefix, [StringComparison]::Ordinal) } |
    Sort-Object { $_.Length } -Descending
foreach ($mount in $mounts) {
    & umount -l $mount 2>$null
}
Remove-Item $Engine.StateDirectory -Recurse -Force -ErrorAction Continue
if ($Engine.PSObject.Properties['Bridge'] -and $Engine.Bridge) {
    & ip link delete $Engine.Bridge 2>$null
}
if ($env:DOCKER_HOST -eq $Engine.DockerHost) { Remove-Item Env:DOCKER_HOST }
Write-Host "Test engine stopped (dockerd pid $($Engine.ProcessId))."
