# A real OpenSSH sshd on 127.0.0.1 for the schedule tests, logging in a dedicated test user (never root,
# so crontab and files land in that user's account). Needs root on Debian with openssh-server and cron
# (build.ps1 Test installs them). Stopped by its process id.

$script:UserName = 'rlabs-ssh-test'

function Invoke-Checked {
    param([string] $Command, [string[]] $Arguments)
    $output = & $Command @Arguments 2>&1
    if ($LASTEXITCODE -ne 0) { throw "$Command $($Arguments -join ' ') failed ($LASTEXITCODE): $output" }
    $output
}

function Start-TestSshServer {
    [CmdletBinding()]
    param([Parameter(Mandatory)] [string] $Directory)
    if (-not $IsLinux -or (& id -u) -ne '0') { throw 'The schedule tests start sshd with a test user and need root on Linux.' }
    if (-not (Test-Path /usr/sbin/sshd) -or -not (Get-Command crontab -ErrorAction Ignore)) {
        throw 'The schedule tests need openssh-server and cron: apt-get install openssh-server cron.'
    }
    New-Item -ItemType Directory -Force -Path $Directory | Out-Null
    & id -u $script:UserName *> $null
    if ($LASTEXITCODE -ne 0) { Invoke-Checked useradd @('--create-home', '--shell', '/bin/bash', $script:UserName) | Out-Null }
    # '*': no password, but not locked ('!'), which sshd without PAM would refuse. Through bash, because
    # PowerShell expands a bare '*' argument of a native command on Unix.
    Invoke-Checked bash @('-c', "usermod -p '*' $($script:UserName)") | Out-Null
    $userHome = (Invoke-Checked getent @('passwd', $script:UserName)).Split(':')[5]
    Reset-TestSshAccount -UserHome $userHome

    $hostKey = Join-Path $Directory 'host_ed25519'
    $rsaPem = Join-Path $Directory 'user_rsa.pem'
    $ed25519 = Join-Path $Directory 'user_ed25519'
    Invoke-Checked ssh-keygen @('-q', '-t', 'ed25519', '-N', '', '-f', $hostKey) | Out-Null
    Invoke-Checked ssh-keygen @('-q', '-t', 'rsa', '-b', '2048', '-m', 'PEM', '-N', '', '-C', '', '-f', $rsaPem) | Out-Null
    Invoke-Checked ssh-keygen @('-q', '-t', 'ed25519', '-N', '', '-C', '', '-f', $ed25519) | Out-Null
    $authorized = Join-Path $Directory 'authorized_keys'
    (Get-Content "$rsaPem.pub", "$ed25519.pub") | Set-Content $authorized
    & chmod 755 $Directory
    & chmod 644 $authorized

    $listener = [System.Net.Sockets.TcpListener]::new([System.Net.IPAddress]::Loopback, 0)
    $listener.Start(); $port = $listener.LocalEndpoint.Port; $listener.Stop()
    $config = Join-Path $Directory 'sshd_config'
    @"
Port $port
ListenAddress 127.0.0.1
HostKey $hostKey
PidFile $(Join-Path $Directory 'sshd.pid')
AuthorizedKeysFile $authorized
AllowUsers $($script:UserName)
PermitRootLogin no
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
StrictModes no
UsePAM no
Subsystem sftp internal-sftp
"@ | Set-Content $config
    New-Item -ItemType Directory -Force -Path /run/sshd | Out-Null
    $process = Start-Process -FilePath /usr/sbin/sshd -ArgumentList '-D', '-e', '-f', $config -PassThru -RedirectStandardError (Join-Path $Directory 'sshd.log')
    $deadline = [DateTime]::UtcNow.AddSeconds(20)
    while ($true) {
        try { $client = [System.Net.Sockets.TcpClient]::new('127.0.0.1', $port); $client.Dispose(); break }
        catch {
            if ($process.HasExited -or [DateTime]::UtcNow -gt $deadline) { throw "sshd did not start: $(Get-Content (Join-Path $Directory 'sshd.log') -Raw)" }
            Start-Sleep -Milliseconds 100
        }
    }
    [pscustomobject]@{ Process = $process; Port = $port; UserName = $script:UserName; Home = $userHome; RsaPemKey = $rsaPem; Ed25519Key = $ed25519 }
}

function Stop-TestSshServer {
    [CmdletBinding()]
    param([Parameter(Mandatory)] $Server)
    if (-not $Server.Process.HasExited) { Stop-Process -Id $Server.Process.Id -Force }
    Reset-TestSshAccount -UserHome $Server.Home
}

function Reset-TestSshAccount {
    param([Parameter(Mandatory)] [string] $UserHome)
    & crontab -r -u $script:UserName *> $null
    Remove-Item (Join-Path $UserHome 'rlabs') -Recurse -Force -ErrorAction Ignore
}

function Get-TestSshCrontab {
    $text = & crontab -l -u $script:UserName 2>$null
    if ($LASTEXITCODE -ne 0) { return '' }
    ($text -join "`n") + "`n"
}

function Install-TestUserPowerShell {
    # The set-up script looks for ~/.dotnet/tools/pwsh: point it at a copy of the PowerShell tool package
    # this repository restores (root's NuGet cache is not readable by the test user), cached in /var/tmp.
    [CmdletBinding()]
    param([Parameter(Mandatory)] [string] $UserHome, [Parameter(Mandatory)] [string] $PackagesPath, [Parameter(Mandatory)] [string] $RepositoryRoot)
    $version = (Get-Content (Join-Path $RepositoryRoot '.config/dotnet-tools.json') -Raw | ConvertFrom-Json).tools.powershell.version
    $source = Join-Path $PackagesPath "powershell/$version/tools/net10.0/any"
    if (-not (Test-Path $source)) { throw "PowerShell $version is not in the NuGet cache ($source): run 'dotnet tool restore'." }
    $cache = "/var/tmp/rlabs-test-powershell-$version"
    if (-not (Test-Path (Join-Path $cache 'Microsoft.PowerShell.GlobalTool.Shim.dll'))) {
        Remove-Item "$cache.partial" -Recurse -Force -ErrorAction Ignore
        Invoke-Checked cp @('-r', $source, "$cache.partial") | Out-Null
        Invoke-Checked chmod @('-R', 'a+rX', "$cache.partial") | Out-Null
        Move-Item "$cache.partial" $cache
    }
    $tools = Join-Path $UserHome '.dotnet/tools'
    New-Item -ItemType Directory -Force -Path $tools | Out-Null
    "#!/bin/sh`nexec /usr/bin/dotnet $cache/Microsoft.PowerShell.GlobalTool.Shim.dll `"`$@`"`n" | Set-Content -NoNewline (Join-Path $tools 'pwsh')
    Invoke-Checked chmod @('755', (Join-Path $tools 'pwsh')) | Out-Null
    Invoke-Checked chown @('-R', "$($script:UserName):", (Join-Path $UserHome '.dotnet')) | Out-Null
}

Export-ModuleMember -Function Start-TestSshServer, Stop-TestSshServer, Reset-TestSshAccount, Get-TestSshCrontab, Install-TestUserPowerShell
