<#
.SYNOPSIS
    What the tests need from the machine: which Debian packages are missing, installing them, and proving that
    each prerequisite is usable afterwards. Imported by build.ps1 and by the Pester test that proves the
    detection (a package dpkg has never heard of must be reported missing).
#>
Set-StrictMode -Version 3.0

# The Debian packages the tests install, and how each is proven usable after installing. A package is only
# 'present' when dpkg says 'install ok installed' AND dpkg-query exits 0: for a name dpkg has never heard of
# it prints nothing on stdout and exits 1; for a removed package it prints 'unknown ok not-installed' and
# exits 0. Neither is installed.
$script:Prerequisites = [ordered]@{
    # notebook steps (nbclient runs the kernel), the emulator's model validation (botocore) and the boto3
    # conformance client, all for Debian's own Python.
    'python3-nbclient'  = @{ Command = '/usr/bin/python3'; Arguments = @('-c', 'import nbclient') }
    'python3-ipykernel' = @{ Command = '/usr/bin/python3'; Arguments = @('-c', 'import ipykernel') }
    'python3-nbformat'  = @{ Command = '/usr/bin/python3'; Arguments = @('-c', 'import nbformat') }
    'python3-botocore'  = @{ Command = '/usr/bin/python3'; Arguments = @('-c', 'import botocore') }
    'python3-boto3'     = @{ Command = '/usr/bin/python3'; Arguments = @('-c', 'import boto3') }
    # the compiled SageMaker pipeline definitions are checked against the published JSON schema.
    'python3-jsonschema' = @{ Command = '/usr/bin/python3'; Arguments = @('-c', 'import jsonschema') }
    'zip'               = @{ Command = 'zip'; Arguments = @('-v') }
    # the schedule tests start a real sshd on 127.0.0.1, install a real crontab and lint the instance scripts.
    'openssh-server'    = @{ File = '/usr/sbin/sshd' }
    'cron'              = @{ File = '/usr/sbin/cron' }
    'shellcheck'        = @{ Command = 'shellcheck'; Arguments = @('--version') }
}

function Get-TestPrerequisiteName {
    <# The Debian package names the tests need. #>
    [OutputType([string])]
    param()
    $script:Prerequisites.Keys
}

function Test-DebianPackageInstalled {
    <#
    .SYNOPSIS
        True only when dpkg knows the package as 'install ok installed' (judged by dpkg-query's exit code
        and its status line together, never by an empty answer).
    #>
    [OutputType([bool])]
    param([Parameter(Mandatory)] [string] $Name)
    $status = & dpkg-query -W "-f=`${Status}" -- $Name 2>$null
    $exit = $LASTEXITCODE
    $global:LASTEXITCODE = 0
    if ($exit -ne 0) { return $false }
    (@($status) -join "`n") -match '^install ok installed$'
}

function Get-MissingDebianPackage {
    <# The names in -Name that dpkg does not have installed, in the order given. #>
    [OutputType([string])]
    param([Parameter(Mandatory)] [string[]] $Name)
    foreach ($package in $Name) {
        if (-not (Test-DebianPackageInstalled -Name $package)) { $package }
    }
}

function Test-TestPrerequisiteUsable {
    <# Runs each prerequisite's check; returns the packages whose check failed. #>
    [OutputType([string])]
    param([string[]] $Name = (Get-TestPrerequisiteName))
    foreach ($package in $Name) {
        $check = $script:Prerequisites[$package]
        if (-not $check) { continue }
        if ($check.ContainsKey('File')) {
            if (-not (Test-Path -LiteralPath $check.File -PathType Leaf)) { $package }
            continue
        }
        $command = Get-Command $check.Command -CommandType Application -ErrorAction Ignore | Select-Object -First 1
        if (-not $command) { $package; continue }
        & $command.Source @($check.Arguments) *> $null
        $exit = $LASTEXITCODE
        $global:LASTEXITCODE = 0
        if ($exit -ne 0) { $package }
    }
}

function Install-TestPrerequisite {
    <#
    .SYNOPSIS
        Installs the missing Debian packages (as root with apt-get) and then proves every prerequisite usable.
        Throws one clear line when something is still missing: the tests would otherwise fail by the hundred.
        Where nothing can be installed (not root, no apt-get, not Debian) it throws under CI=true and warns
        otherwise, naming the command to run.
    #>
    [CmdletBinding()]
    param()
    if (-not $IsLinux -or -not (Get-Command dpkg-query -ErrorAction Ignore)) {
        $unusable = @(Test-TestPrerequisiteUsable)
        if ($unusable) {
            $message = "The tests need: $($unusable -join ', ') (Debian package names); they are not usable on this machine."
            if ($env:CI -eq 'true') { throw $message }
            Write-Warning $message
        }
        return
    }
    $missing = @(Get-MissingDebianPackage -Name @(Get-TestPrerequisiteName))
    if ($missing) {
        $isRoot = (& id -u) -eq '0'
        if ($isRoot -and (Get-Command apt-get -ErrorAction Ignore)) {
            Write-Host "Installing Debian packages the tests need: $($missing -join ', ')"
            $env:DEBIAN_FRONTEND = 'noninteractive'
            # apt's own output (hundreds of dpkg progress lines) is shown only when it fails: CI logs stay readable.
            $output = & apt-get update -qq 2>&1
            if ($LASTEXITCODE -ne 0) { $output | Out-Host; throw "apt-get update failed (exit $LASTEXITCODE); the tests need: $($missing -join ' ')." }
            $output = & apt-get install -y -qq --no-install-recommends @missing 2>&1
            if ($LASTEXITCODE -ne 0) { $output | Out-Host; throw "apt-get install $($missing -join ' ') failed (exit $LASTEXITCODE)." }
        } else {
            $message = "The tests need Debian packages that are missing: sudo apt-get install -y $($missing -join ' ')"
            if ($env:CI -eq 'true') { throw $message }
            Write-Warning $message
            return
        }
    }
    $stillMissing = @(Get-MissingDebianPackage -Name @(Get-TestPrerequisiteName))
    $unusable = @(Test-TestPrerequisiteUsable) + $stillMissing | Select-Object -Unique
    if ($unusable) {
        throw "Test prerequisites are not usable after installing: $($unusable -join ', ') (check: /usr/bin/python3 -c 'import botocore, boto3, jsonschema, nbclient, nbformat, ipykernel'; test -x /usr/sbin/sshd; shellcheck --version)."
    }
}

Export-ModuleMember -Function Get-TestPrerequisiteName, Test-DebianPackageInstalled, Get-MissingDebianPackage, Test-TestPrerequisiteUsable, Install-TestPrerequisite
