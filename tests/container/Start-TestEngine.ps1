#Requires -Version 7.4
<#
.SYNOPSIS
    Starts a private Docker engine for the container tests, with a small local Python image, and points
    DOCKER_HOST at it.
.DESCRIPTION
    No registry is needed: the image is a Debian bookworm root file system (python3-minimal) built with
    mmdebstrap from the Debian mirror in the machine's apt sources, cached, and loaded with 'docker import'.
    dockerd listens on a socket in a fresh temporary folder, with its own data and exec roots, its own bridge
    interface (rlabs<8 hex>, a private /24, removed by Stop-TestEngine.ps1) and no iptables changes, so it
    touches nothing of the machine's own engine (if any). Steps with 'network: true' get that bridge: no route
    out (no NAT), but the host answers on the bridge's gateway address, which the network test uses.

    It also starts a private registry (Debian's docker-registry) on a loopback port with a user and password,
    holding the same image as <registry>/rlabs/python:auth, so pulls with a registry login are tested too.

    Linux and root only (dockerd needs both). Installs docker.io, mmdebstrap, docker-registry and
    apache2-utils (htpasswd) with apt-get when missing.
    Returns an engine object for Stop-TestEngine.ps1, or $null with the reason written to the host when no
    engine can be started here.
.EXAMPLE
    $engine = ./tests/container/Start-TestEngine.ps1
    try { dotnet test ... } finally { ./tests/container/Stop-TestEngine.ps1 -Engine $engine }
#>
[CmdletBinding()]
param(
    # Where the root file system tarball is cached between runs.
    [string] $CacheDirectory = (Join-Path ([Environment]::GetFolderPath('UserProfile')) '.cache/rlabs-pipelines'),

    # The name the tests use in their pipeline YAML (image: ...).
    [string] $ImageName = 'rlabs-test-python:bookworm',

    # Seconds to wait for the engine to answer.
    [int] $TimeoutSeconds = 60
)
$ErrorActionPreference = 'Stop'
Set-StrictMode -Version 3.0

function Skip([string] $Reason) {
    Write-Host "Container tests: no test engine: $Reason"
    $env:RLABS_TEST_ENGINE_SKIP_REASON = $Reason
    $null
}

function Invoke-Native([string] $Command, [string[]] $Arguments) {
    $output = & $Command @Arguments 2>&1
    if ($LASTEXITCODE -ne 0) { throw "'$Command $($Arguments -join ' ')' failed with exit code ${LASTEXITCODE}: $($output -join [Environment]::NewLine)" }
    $output
}

function Get-DebianMirror {
    # deb822 (.sources) first, then one-line sources.list entries; the first plain Debian archive wins.
    $files = @(Get-ChildItem /etc/apt/sources.list.d -Filter *.sources -ErrorAction Ignore) + @(Get-Item /etc/apt/sources.list -ErrorAction Ignore) + @(Get-ChildItem /etc/apt/sources.list.d -Filter *.list -ErrorAction Ignore)
    foreach ($file in $files) {
        foreach ($line in Get-Content $file.FullName) {
            if ($line -match '^\s*URIs:\s*(\S+)' -or $line -match '^\s*deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s') {
                $uri = $Matches[1].TrimEnd('/')
                if ($uri -notmatch 'security|updates|backports' -and $uri -match '/debian$') { return $uri }
            }
        }
    }
    'http://deb.debian.org/debian'
}

if (-not $IsLinux) { return Skip 'the test engine (dockerd) runs on Linux only.' }
if ((& id -u) -ne '0') { return Skip 'starting dockerd needs root; run build.ps1 Test as root, or point DOCKER_HOST at an engine with the image.' }

$needed = @()
if (-not (Get-Command dockerd -ErrorAction Ignore) -or -not (Get-Command docker -ErrorAction Ignore)) { $needed += 'docker.io' }
if (-not (Get-Command mmdebstrap -ErrorAction Ignore)) { $needed += 'mmdebstrap' }
if (-not (Get-Command docker-registry -ErrorAction Ignore)) { $needed += 'docker-registry' }
if (-not (Get-Command htpasswd -ErrorAction Ignore)) { $needed += 'apache2-utils' }
if ($needed) {
    if (-not (Get-Command apt-get -ErrorAction Ignore)) { return Skip "missing $($needed -join ', ') and no apt-get to install them." }
    Write-Host "Installing for the container tests: $($needed -join ', ')"
    $env:DEBIAN_FRONTEND = 'noninteractive'
    Invoke-Native apt-get @('update', '-qq') | Out-Null
    Invoke-Native apt-get (@('install', '-y', '-qq', '--no-install-recommends') + $needed) | Out-Null
}

# The image's root file system, built once and cached (about 60 MB).
New-Item -ItemType Directory -Force -Path $CacheDirectory | Out-Null
$rootfs = Join-Path $CacheDirectory 'rootfs-bookworm-python3.tar'
if (-not (Test-Path $rootfs)) {
    $mirror = Get-DebianMirror
    Write-Host "Building the test image root file system from $mirror"
    $partial = Join-Path $CacheDirectory "rootfs-bookworm-python3.partial.tar" # mmdebstrap picks the format from the extension
    Remove-Item $partial -Force -ErrorAction Ignore
    Invoke-Native mmdebstrap @('--quiet', '--variant=extract', '--include=base-files,dash,coreutils,python3-minimal,libpython3.11-stdlib', 'bookworm', $partial, $mirror) | Out-Null
    Move-Item $partial $rootfs -Force
}

$state = Join-Path ([IO.Path]::GetTempPath()) ("rlabs-engine-" + [Guid]::NewGuid().ToString('N').Substring(0, 8))
New-Item -ItemType Directory -Force -Path $state | Out-Null
$socket = Join-Path $state 'engine.sock'
$log = Join-Path $state 'dockerd.log'
# The default bridge network on an interface of our own, so the runner's "bridge" network mode works here
# without touching docker0 (which the machine's own engine may use).
$suffix = Split-Path $state -Leaf | ForEach-Object { $_.Substring($_.Length - 8) }
$bridge = "rlabs$suffix"
$subnet = "10.213.$([System.Security.Cryptography.RandomNumberGenerator]::GetInt32(0, 256))"
Invoke-Native ip @('link', 'add', $bridge, 'type', 'bridge') | Out-Null
Invoke-Native ip @('addr', 'add', "$subnet.1/24", 'dev', $bridge) | Out-Null
Invoke-Native ip @('link', 'set', $bridge, 'up') | Out-Null
$dockerdArgs = @(
    '-H', "unix://$socket",
    '--data-root', (Join-Path $state 'data'),
    '--exec-root', (Join-Path $state 'exec'),
    '--pidfile', (Join-Path $state 'dockerd.pid'),
    '--iptables=false', '--ip6tables=false', '--ip-masq=false', '--bridge', $bridge
)
# Pulls from anywhere but the loopback registry go to a proxy that refuses: the tests never reach a real
# registry, and "offline" is the same on every machine.
$savedProxy = $env:HTTP_PROXY, $env:HTTPS_PROXY, $env:NO_PROXY
$env:HTTP_PROXY = 'http://127.0.0.1:9'; $env:HTTPS_PROXY = 'http://127.0.0.1:9'; $env:NO_PROXY = '127.0.0.1,localhost'
try {
    $process = Start-Process -FilePath (Get-Command dockerd).Source -ArgumentList $dockerdArgs -RedirectStandardOutput $log -RedirectStandardError "$log.err" -PassThru
} catch {
    & ip link delete $bridge 2>$null
    throw
} finally {
    $env:HTTP_PROXY, $env:HTTPS_PROXY, $env:NO_PROXY = $savedProxy
}
$engine = [pscustomobject]@{
    PSTypeName        = 'Rlabs.TestEngine'
    ProcessId         = $process.Id
    DockerHost        = "unix://$socket"
    StateDirectory    = $state
    Bridge            = $bridge
    Image             = $ImageName
    RegistryProcessId = $null
    Registry          = $null
    RegistryImage     = $null
    RegistryPassword  = $null # a throwaway secret of this loopback registry only
}

try {
    $deadline = [DateTime]::UtcNow.AddSeconds($TimeoutSeconds)
    while ($true) {
        if ($process.HasExited) { throw "dockerd exited with code $($process.ExitCode): $(Get-Content "$log.err" -Tail 5 -ErrorAction Ignore)" }
        & docker -H "unix://$socket" version --format '{{.Server.Version}}' *> $null
        if ($LASTEXITCODE -eq 0) { break }
        if ([DateTime]::UtcNow -gt $deadline) { throw "dockerd did not answer on $socket within $TimeoutSeconds s: $(Get-Content "$log.err" -Tail 5 -ErrorAction Ignore)" }
        Start-Sleep -Milliseconds 200
    }
    # USER nobody: the runner must choose the user itself (the invoking user), or the ownership tests fail.
    Invoke-Native docker @('-H', "unix://$socket", 'import',
        '--change', 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
        '--change', 'USER 65534:65534',
        $rootfs, $ImageName) | Out-Null

    # The registry: loopback only, htpasswd login, the image pushed under a name the engine then forgets.
    $listener = [System.Net.Sockets.TcpListener]::new([System.Net.IPAddress]::Loopback, 0)
    $listener.Start(); $port = $listener.LocalEndpoint.Port; $listener.Stop()
    $registry = "127.0.0.1:$port"
    $password = [Convert]::ToHexString([Security.Cryptography.RandomNumberGenerator]::GetBytes(12)).ToLowerInvariant()
    $htpasswd = Join-Path $state 'htpasswd'
    Invoke-Native htpasswd @('-Bbc', $htpasswd, 'rlabs', $password) | Out-Null
    $config = Join-Path $state 'registry.yml'
    @"
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $(Join-Path $state 'registry')
http:
  addr: $registry
auth:
  htpasswd:
    realm: rlabs-test
    path: $htpasswd
"@ | Set-Content $config
    $registryProcess = Start-Process -FilePath (Get-Command docker-registry).Source -ArgumentList @('serve', $config) -RedirectStandardOutput (Join-Path $state 'registry.log') -RedirectStandardError (Join-Path $state 'registry.err') -PassThru
    $engine.RegistryProcessId = $registryProcess.Id
    $http = [System.Net.Http.HttpClient]::new()
    while ($true) {
        if ($registryProcess.HasExited) { throw "docker-registry exited: $(Get-Content (Join-Path $state 'registry.err') -Tail 5 -ErrorAction Ignore)" }
        try { if ([int]$http.GetAsync("http://$registry/v2/").GetAwaiter().GetResult().StatusCode -eq 401) { break } } catch { }
        if ([DateTime]::UtcNow -gt $deadline.AddSeconds($TimeoutSeconds)) { throw "docker-registry did not answer on $registry." }
        Start-Sleep -Milliseconds 200
    }
    $http.Dispose()
    # The CLI's login goes to a config folder of our own, never the user's ~/.docker.
    $cli = @('--config', (Join-Path $state 'cli'), '-H', "unix://$socket")
    $registryImage = "$registry/rlabs/python:auth"
    $password | & docker @cli login --username rlabs --password-stdin $registry 2>&1 | Out-Null
    if ($LASTEXITCODE -ne 0) { throw "docker login $registry failed." }
    Invoke-Native docker ($cli + @('tag', $ImageName, $registryImage)) | Out-Null
    Invoke-Native docker ($cli + @('push', $registryImage)) | Out-Null
    Invoke-Native docker ($cli + @('rmi', $registryImage)) | Out-Null
    Invoke-Native docker ($cli + @('logout', $registry)) | Out-Null
    $engine.Registry = $registry
    $engine.RegistryImage = $registryImage
    $engine.RegistryPassword = $password
    $env:RLABS_TEST_REGISTRY_IMAGE = $registryImage
    $env:RLABS_TEST_REGISTRY_USER = 'rlabs'
    $env:RLABS_TEST_REGISTRY_PASSWORD = $password
} catch {
    & (Join-Path $PSScriptRoot 'Stop-TestEngine.ps1') -Engine $engine
    throw
}

$env:DOCKER_HOST = $engine.DockerHost
$env:RLABS_TEST_IMAGE = $ImageName
Remove-Item Env:RLABS_TEST_ENGINE_SKIP_REASON -ErrorAction Ignore
Write-Host "Test engine: dockerd pid $($engine.ProcessId) on $($engine.DockerHost), image $ImageName; registry pid $($engine.RegistryProcessId) on $($engine.Registry)"
$engine
