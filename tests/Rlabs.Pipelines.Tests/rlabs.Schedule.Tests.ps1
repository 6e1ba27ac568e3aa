#Requires -Modules @{ ModuleName = 'Pester'; ModuleVersion = '5.3.0' }
<#
The seed document's schedule, enable-scheduling and disable-scheduling examples, run through rlabs in
PowerShell and through out/bin/rlabs from bash, against the AWS emulator and a real sshd on 127.0.0.1
standing in for the EC2 instance (the emulator reports the instance at 127.0.0.1), as
RlabsPipelineSchedule.Tests.ps1 does for the cmdlets.

What the tests change in the seed's lines, and why:
- placeholders such as <instance_id> get values (in bash they would be redirections);
- ~/.ssh/instance.pem becomes the test server's key, so no test writes to the real ~/.ssh;
- --ssh-port <port> is added: the test sshd does not listen on 22;
- from bash, Example 1's unquoted rate(1 hour) is a syntax error, so it is written rate\(1 hour\): two
  words, 'rate(1' and 'hour)', as cmd passes the unquoted form, which rlabs joins again; in PowerShell
  it is quoted.
#>

BeforeAll {
    Import-Module $env:RLABS_MODULE_PATH -Force
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-Module (Join-Path $PSScriptRoot 'SshTestServer.psm1') -Force
    $root = Get-RepositoryRoot
    Import-Module (Join-Path $env:RLABS_EMULATOR_DIR 'AwsEmulator.psm1') -Force
    $emulator = Start-AwsEmulator -EmulatorDll (Join-Path $env:RLABS_EMULATOR_DIR 'Rlabs.Pipelines.AwsEmulator.dll')
    $saved = @{}
    foreach ($name in 'AWS_ENDPOINT_URL', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_REGION', 'AWS_PROFILE', 'XDG_CONFIG_HOME', 'RLABS_LAMBDA_RUNTIME', 'PATH', 'RLABS_PWSH') {
        $saved[$name] = [Environment]::GetEnvironmentVariable($name)
    }
    $env:AWS_ENDPOINT_URL = $emulator.Url
    $env:AWS_ACCESS_KEY_ID = 'AKIDPESTERRLABSSCHEDULE'
    $env:AWS_SECRET_ACCESS_KEY = 'pester-secret'
    $env:AWS_REGION = 'eu-west-1'
    $env:AWS_PROFILE = $null
    # Host keys are pinned under $XDG_CONFIG_HOME/rlabs: keep the tests' out of the user's.
    $env:XDG_CONFIG_HOME = Join-Path $TestDrive 'config'
    # The emulator validates against Debian's botocore 1.29 model, whose newest Python runtime is 3.9.
    $env:RLABS_LAMBDA_RUNTIME = 'python3.9'
    $bin = Join-Path (Split-Path (Split-Path $env:RLABS_MODULE_PATH)) 'bin'
    $pwshHost = Join-Path $PSHOME 'pwsh'
    $env:RLABS_PWSH = if (Test-Path $pwshHost) { $pwshHost } else { "dotnet $(Join-Path $PSHOME 'pwsh.dll')" }
    $env:PATH = "$bin$([IO.Path]::PathSeparator)$env:PATH"

    $server = Start-TestSshServer -Directory (Join-Path ([IO.Path]::GetTempPath()) "rlabs-pester-cli-sshd-$PID")
    Install-TestUserPowerShell -UserHome $server.Home -PackagesPath (Get-NuGetPackagesPath) -RepositoryRoot $root

    # The seed's names: a repository with pipeline.yaml, pipelines/sample_pipeline.yaml and both credentials files.
    $repo = Copy-ExampleRepository (Join-Path $TestDrive 'lead_scoring.test')
    Copy-Item (Join-Path $repo 'pipelines/sample_pipeline.yaml') (Join-Path $repo 'pipeline.yaml')
    foreach ($file in 'credentials.yaml', 'credentials_modified.yaml') {
        "aws:`n  region_name: eu-west-1`n" | Set-Content (Join-Path $repo $file)
    }

    $values = @{
        '<instance_id>'           = 'i-0a1b2c3d4e5f60718'
        '<path_to_pem_file>'      = $server.Ed25519Key
        '<aws_instance_user_name>' = $server.UserName
        '<project_name>'          = 'lead-scoring-test'
        '<aws_role_name>'         = 'lead-scoring-pipeline-role'
        '<path_to_pipeline_file>' = 'pipelines/sample_pipeline.yaml'
        '/path/to/repository'     = $repo
        '~/.ssh/instance.pem'     = $server.Ed25519Key
        '-u ubuntu'               = "-u $($server.UserName)"
    }

    # The seed's example blocks: the '$ rlabs …' lines with their continuation lines, as written.
    function Get-SeedExampleBlock {
        $lines = Get-Content (Join-Path $root 'tests/seed/original-rlabs-pipeline-cli.rst')
        for ($i = 0; $i -lt $lines.Count; $i++) {
            $line = $lines[$i].Trim()
            if (-not $line.StartsWith('$ rlabs ')) { continue }
            $block = @($line.Substring(2))
            while ($lines[$i].EndsWith('\')) { $block += $lines[++$i] }
            $block -join "`n"
        }
    }

    function Get-TestCommandLine {
        <# A seed example with the test's values and --ssh-port; bash keeps its continuation lines. #>
        param([Parameter(Mandatory)] [int] $Index, [switch] $PowerShell)
        $line = @(Get-SeedExampleBlock)[$Index]
        foreach ($key in $values.Keys) { $line = $line.Replace($key, $values[$key]) }
        $line = if ($PowerShell) { $line.Replace('rate(1 hour)', '"rate(1 hour)"') } else { $line.Replace('rate(1 hour)', 'rate\(1 hour\)') }
        if ($line -match ' schedule ') { $line += " --ssh-port $($server.Port)" }
        $line
    }

    function Invoke-Bash {
        param([Parameter(Mandatory)] [string] $Command, [string] $WorkingDirectory = $repo)
        $stderrFile = Join-Path $TestDrive "stderr-$([guid]::NewGuid().ToString('N')).txt"
        Push-Location $WorkingDirectory
        try {
            $stdout = & bash -c $Command 2> $stderrFile
            $exitCode = $LASTEXITCODE
        } finally {
            Pop-Location
        }
        [pscustomobject]@{ ExitCode = $exitCode; StdOut = (@($stdout) -join "`n"); StdErr = @(Get-Content $stderrFile | Where-Object { $_ -ne '' }) }
    }

    function Get-EmulatorRequests([string] $Service, [string] $Operation) {
        @(Invoke-AwsEmulatorAdmin $emulator GET "requests?service=$Service&operation=$Operation" | ForEach-Object { $_ })
    }

    function Reset-TestInstance([string] $InstanceId) {
        Invoke-AwsEmulatorAdmin $emulator POST reset | Out-Null
        Invoke-AwsEmulatorAdmin $emulator POST ec2/instances @{ instanceId = $InstanceId; state = 'stopped'; publicIpAddress = '127.0.0.1'; transitionMs = 20 } | Out-Null
        Reset-TestSshAccount -UserHome $server.Home
        Remove-Item $env:XDG_CONFIG_HOME -Recurse -Force -ErrorAction Ignore
    }
}

AfterAll {
    if ($server) { Stop-TestSshServer $server }
    if ($emulator) { Stop-AwsEmulator $emulator }
    foreach ($name in $saved.Keys) { [Environment]::SetEnvironmentVariable($name, $saved[$name]) }
}

Describe 'rlabs aws pipeline schedule' -Tag 'Emulator', 'Ssh', 'Launcher' {
    Context 'Given Example 1 of the seed (long flags) from bash' {
        BeforeAll {
            Reset-TestInstance 'i-0a1b2c3d4e5f60718'
            $line = Get-TestCommandLine 2
            $result = Invoke-Bash $line
        }

        It 'Should schedule the pipeline with New-RlabsPipelineSchedule and exit 0' {
            $line | Should -Match 'rate\\\(1 hour\\\) --role-name'
            $result.ExitCode | Should -Be 0 -Because ($result.StdErr -join "`n")
            $result.StdOut | Should -Match 'rlabs-lead-scoring-test-pipeline'
            $rule = (Get-EmulatorRequests events PutRule)[0].parameters
            $rule.Name | Should -Be 'rlabs-lead-scoring-test-pipeline'
            $rule.ScheduleExpression | Should -Be 'rate(1 hour)'
            (Get-EmulatorRequests iam CreateRole)[0].parameters.RoleName | Should -Be 'lead-scoring-pipeline-role'
            (Get-EmulatorRequests ec2 StartInstances)[0].parameters.InstanceIds | Should -Contain 'i-0a1b2c3d4e5f60718'
            Get-TestSshCrontab | Should -Match "schedules/pipeline/run\.sh' # rlabs-schedule:lead-scoring-test/pipeline:"
        }

        It 'Should write verbose output for -vv' {
            $result.StdOut | Should -Match '(?m)^VERBOSE: '
        }
    }

    Context 'Given Example 2 of the seed (short flags, no -r) in PowerShell' {
        BeforeAll {
            Reset-TestInstance 'i-07c3cedbe6988ed49'
            $line = Get-TestCommandLine 3 -PowerShell
            Push-Location $repo
            try {
                $schedule = & ([scriptblock]::Create($line)) 4>&1 | Where-Object { $_ -isnot [System.Management.Automation.VerboseRecord] }
            } finally {
                Pop-Location
            }
        }

        It 'Should schedule the repository of the current location with the given project name' {
            $schedule.PSObject.TypeNames[0] | Should -Be 'Rlabs.Pipelines.RlabsPipelineSchedule'
            $schedule.ProjectName | Should -Be 'lead-scoring-test'
            $schedule.RuleName | Should -Be 'rlabs-lead-scoring-test-sample-pipeline'
            $schedule.State | Should -Be 'Enabled'
            $schedule.RoleName | Should -Be 'lead-scoring-test-sample-pipeline-lambda-role'
            (Get-EmulatorRequests events PutRule)[0].parameters.ScheduleExpression | Should -Be 'rate(10 minutes)'
            (& stat -c '%a' (Join-Path $server.Home 'rlabs/lead-scoring-test/credentials.yaml')) | Should -Be '600'
            Test-Path (Join-Path $server.Home 'rlabs/lead-scoring-test/repo/pipelines/sample_pipeline.yaml') | Should -BeTrue
        }
    }

    Context 'Given a schedule command that fails' {
        It 'Should exit 1 from bash with the cmdlet''s message when the pem file does not exist' {
            Reset-TestInstance 'i-07c3cedbe6988ed49'

            $result = Invoke-Bash "rlabs aws pipeline schedule -id i-07c3cedbe6988ed49 -p missing.pem -u $($server.UserName) -pc pipeline.yaml -es 'rate(1 day)' --ssh-port $($server.Port)"

            $result.ExitCode | Should -Be 1
            $result.StdErr[0] | Should -Match '^rlabs: .*missing\.pem'
            @(Get-EmulatorRequests events PutRule).Count | Should -Be 0
        }
    }
}

Describe 'rlabs aws pipeline disable-scheduling and enable-scheduling' -Tag 'Emulator', 'Ssh', 'Launcher' {
    BeforeAll {
        Reset-TestInstance 'i-07c3cedbe6988ed49'
        Push-Location $repo
        try {
            $null = rlabs aws pipeline schedule -id i-07c3cedbe6988ed49 -p $server.Ed25519Key -u $server.UserName -pn lead-scoring-test -pc pipelines/sample_pipeline.yaml -es 'rate(2 hours)' --ssh-port $server.Port
        } finally {
            Pop-Location
        }
    }

    It 'Should disable the schedule with the seed''s lines from bash, continuation lines and all' {
        $line = Get-TestCommandLine 5
        $line | Should -Match "\\`n"

        $result = Invoke-Bash $line

        $result.ExitCode | Should -Be 0 -Because ($result.StdErr -join "`n")
        $result.StdOut | Should -Match 'Disabled'
        (Get-EmulatorRequests events DisableRule)[0].parameters.Name | Should -Be 'rlabs-lead-scoring-test-sample-pipeline'
        (Get-RlabsPipelineSchedule -ProjectName lead-scoring-test).State | Should -Be 'Disabled'
    }

    It 'Should enable it again' {
        $result = Invoke-Bash (Get-TestCommandLine 4)

        $result.ExitCode | Should -Be 0 -Because ($result.StdErr -join "`n")
        (Get-EmulatorRequests events EnableRule)[0].parameters.Name | Should -Be 'rlabs-lead-scoring-test-sample-pipeline'
        (Get-RlabsPipelineSchedule -ProjectName lead-scoring-test).State | Should -Be 'Enabled'
    }

    It 'Should write every column of the schedule table whole when the output goes to a file' {
        $file = Join-Path $TestDrive 'enable.txt'

        $result = Invoke-Bash "$(Get-TestCommandLine 4) > '$file'"

        $result.ExitCode | Should -Be 0 -Because ($result.StdErr -join "`n")
        # The seed's line has -v: its verbose lines come first.
        $lines = @(Get-Content $file | Where-Object { $_ -ne '' -and -not $_.StartsWith('VERBOSE: ') })
        $lines[0] | Should -Match '^Project\s+Pipeline\s+State\s+Schedule\s+NextRun \(UTC\)\s+Rule$'
        $lines[2] | Should -Match '^lead-scoring-test\s+sample-pipeline\s+Enabled\s+rate\(2 hours\)\s+\d{4}-\d{2}-\d{2} \d{2}:\d{2}\s+rlabs-lead-scoring-test-sample-pipeline$'
        $lines.Count | Should -Be 3
        $lines | ForEach-Object { $_ | Should -Not -Match '\x1b' }
    }

    It 'Should take -pn for the project name in PowerShell' {
        Push-Location $repo
        try {
            $schedule = rlabs aws pipeline disable-scheduling -p pipelines/sample_pipeline.yaml -pn lead_scoring.test
        } finally {
            Pop-Location
        }

        $schedule.State | Should -Be 'Disabled'
        $schedule.RuleName | Should -Be 'rlabs-lead-scoring-test-sample-pipeline'
    }

    It 'Should exit 1 when there is no such schedule' {
        $result = Invoke-Bash 'rlabs aws pipeline enable-scheduling -c credentials.yaml -p pipelines/sample_pipeline.yaml -pc no-such-project'

        $result.ExitCode | Should -Be 1
        $result.StdErr[0] | Should -Match '^rlabs: '
    }
}
