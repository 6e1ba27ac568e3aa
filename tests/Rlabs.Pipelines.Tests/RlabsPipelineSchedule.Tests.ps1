#Requires -Modules @{ ModuleName = 'Pester'; ModuleVersion = '5.3.0' }
<#
New/Get/Enable/Disable/Remove-RlabsPipelineSchedule against the AWS emulator (standalone process) and a
real sshd on 127.0.0.1 standing in for the EC2 instance (the emulator reports the instance at 127.0.0.1).
#>

BeforeAll {
    Import-Module $env:RLABS_MODULE_PATH -Force
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-Module (Join-Path $PSScriptRoot 'SshTestServer.psm1') -Force
    $root = Get-RepositoryRoot
    $emulatorDir = $env:RLABS_EMULATOR_DIR
    if (-not $emulatorDir) {
        $emulatorDir = @('Release', 'Debug' | ForEach-Object { Join-Path $root "tests/Rlabs.Pipelines.AwsEmulator/bin/$_/net10.0" } | Where-Object { Test-Path (Join-Path $_ 'Rlabs.Pipelines.AwsEmulator.dll') })[0]
    }
    Import-Module (Join-Path $root 'tests/Rlabs.Pipelines.AwsEmulator/AwsEmulator.psm1') -Force
    $emulator = Start-AwsEmulator -EmulatorDll (Join-Path $emulatorDir 'Rlabs.Pipelines.AwsEmulator.dll')
    $saved = @{}
    foreach ($name in 'AWS_ENDPOINT_URL', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_REGION', 'AWS_PROFILE', 'XDG_CONFIG_HOME', 'RLABS_LAMBDA_RUNTIME') {
        $saved[$name] = [Environment]::GetEnvironmentVariable($name)
    }
    $env:AWS_ENDPOINT_URL = $emulator.Url
    $env:AWS_ACCESS_KEY_ID = 'AKIDPESTERSCHEDULE'
    $env:AWS_SECRET_ACCESS_KEY = 'pester-secret'
    $env:AWS_REGION = 'eu-west-1'
    $env:AWS_PROFILE = $null
    # Host keys are pinned under $XDG_CONFIG_HOME/rlabs: keep the tests' out of the user's.
    $env:XDG_CONFIG_HOME = Join-Path $TestDrive 'config'
    # The emulator validates against Debian's botocore 1.29 model, whose newest Python runtime is 3.9.
    $env:RLABS_LAMBDA_RUNTIME = 'python3.9'
    $server = Start-TestSshServer -Directory (Join-Path ([IO.Path]::GetTempPath()) "rlabs-pester-sshd-$PID")
    Install-TestUserPowerShell -UserHome $server.Home -PackagesPath (Get-NuGetPackagesPath) -RepositoryRoot $root

    $repo = Copy-ExampleRepository (Join-Path $TestDrive 'lead_scoring.test')
    'aws:' + "`n" + '  region: eu-west-1' | Set-Content (Join-Path $repo 'credentials.yaml')
    $pipeline = Join-Path $repo 'pipelines/sample_pipeline.yaml'
    $instanceId = 'i-0a1b2c3d4e5f60718'
    function Get-EmulatorRequests([string] $Service, [string] $Operation) {
        # Invoke-RestMethod returns a JSON array as one object: unroll it.
        @(Invoke-AwsEmulatorAdmin $emulator GET "requests?service=$Service&operation=$Operation" | ForEach-Object { $_ })
    }
    function New-TestSchedule([string] $Expression = 'rate(1 day)') {
        New-RlabsPipelineSchedule -InstanceId $instanceId -PemFile $server.Ed25519Key -Ec2UserName $server.UserName -SshPort $server.Port `
            -RepositoryPath $repo -PipelinePath $pipeline -ScheduleExpression $Expression -Confirm:$false
    }
    $readOnly = '^(Describe|Get|List)'
}

AfterAll {
    if ($server) { Stop-TestSshServer $server }
    if ($emulator) { Stop-AwsEmulator $emulator }
    foreach ($name in $saved.Keys) { [Environment]::SetEnvironmentVariable($name, $saved[$name]) }
}

Describe 'New-RlabsPipelineSchedule' -Tag 'Emulator', 'Ssh' {
    BeforeEach {
        Invoke-AwsEmulatorAdmin $emulator POST reset | Out-Null
        Invoke-AwsEmulatorAdmin $emulator POST ec2/instances @{ instanceId = $instanceId; state = 'stopped'; publicIpAddress = '127.0.0.1'; transitionMs = 20 } | Out-Null
        Reset-TestSshAccount -UserHome $server.Home
    }

    Context 'Given wrong input' {
        It 'Should refuse <Expression> before any AWS call, with an example' -ForEach @(
            @{ Expression = 'rate(1 hours)' }
            @{ Expression = 'cron(0 10 * * *)' }
            @{ Expression = 'cron(0 10 * * * *)' }
            @{ Expression = 'every day' }
        ) {
            { New-TestSchedule -Expression $Expression } | Should -Throw -ErrorId 'ScheduleExpressionInvalid,Rlabs.Pipelines.Commands.NewRlabsPipelineScheduleCommand' -ExpectedMessage '*Examples:*rate(1 hour)*'
            (Get-EmulatorRequests).Count | Should -Be 0
        }

        It 'Should refuse an instance id that is not one' {
            { New-RlabsPipelineSchedule -InstanceId 'my-instance' -PemFile $server.Ed25519Key -RepositoryPath $repo -PipelinePath $pipeline -ScheduleExpression 'rate(1 day)' } |
                Should -Throw -ErrorId 'InstanceIdInvalid,Rlabs.Pipelines.Commands.NewRlabsPipelineScheduleCommand'
        }

        It 'Should refuse a missing pem file' {
            { New-RlabsPipelineSchedule -InstanceId $instanceId -PemFile (Join-Path $TestDrive 'nope.pem') -RepositoryPath $repo -PipelinePath $pipeline -ScheduleExpression 'rate(1 day)' } |
                Should -Throw -ErrorId 'PemFileInvalid,Rlabs.Pipelines.Commands.NewRlabsPipelineScheduleCommand'
        }

        It 'Should warn when the pem file is readable by others' {
            $open = Join-Path $TestDrive 'open.pem'
            Copy-Item $server.RsaPemKey $open
            & chmod 644 $open
            $null = New-RlabsPipelineSchedule -InstanceId $instanceId -PemFile $open -RepositoryPath $repo -PipelinePath $pipeline -ScheduleExpression 'rate(1 day)' -WhatIf -WarningVariable warnings 3>$null
            $warnings | Should -Match 'chmod 600'
        }
    }

    Context 'Given -WhatIf' {
        It 'Should show every step and change nothing' {
            $preview = New-RlabsPipelineSchedule -InstanceId $instanceId -PemFile $server.Ed25519Key -Ec2UserName $server.UserName -SshPort $server.Port `
                -RepositoryPath $repo -PipelinePath $pipeline -ScheduleExpression 'rate(1 day)' -WhatIf

            $preview.RuleName | Should -Be 'rlabs-lead-scoring-test-sample-pipeline'
            $preview.Changes | Should -BeNullOrEmpty

            @(Get-EmulatorRequests | Where-Object operation -NotMatch $readOnly).Count | Should -Be 0
            (Get-EmulatorRequests ec2 StartInstances) | Should -BeNullOrEmpty
            Get-TestSshCrontab | Should -Be ''
        }
    }

    Context 'Given a stopped instance' {
        It 'Should start it, set it up, schedule the pipeline, and change nothing the second time' {
            $first = New-TestSchedule -Expression 'cron(0 6 ? * MON-FRI *)'

            $first.PSObject.TypeNames[0] | Should -Be 'Rlabs.Pipelines.RlabsPipelineSchedule'
            $first.RuleName | Should -Be 'rlabs-lead-scoring-test-sample-pipeline'
            $first.ProjectName | Should -Be 'lead-scoring-test'
            $first.State | Should -Be 'Enabled'
            $first.NextRunTimes.Count | Should -Be 3
            $first.NextRunTimes | ForEach-Object { $_.Kind | Should -Be 'Utc'; $_.Hour | Should -Be 6 }
            $first.RoleName | Should -Be 'lead-scoring-test-sample-pipeline-lambda-role'
            $first.Changes | Should -Contain "instance $instanceId started"
            $instanceDir = Join-Path $server.Home 'rlabs/lead-scoring-test'
            Test-Path (Join-Path $instanceDir 'repo/pipelines/sample_pipeline.yaml') | Should -BeTrue
            Test-Path (Join-Path $instanceDir 'repo/credentials.yaml') | Should -BeFalse
            (& stat -c '%a' (Join-Path $instanceDir 'credentials.yaml')) | Should -Be '600'
            Test-Path (Join-Path $server.Home 'rlabs/modules/Rlabs.Pipelines/Rlabs.Pipelines.psd1') | Should -BeTrue
            $runScript = Join-Path $instanceDir 'schedules/sample-pipeline/run.sh'
            Get-TestSshCrontab | Should -Be "@reboot /bin/bash '$runScript' # rlabs-schedule:lead-scoring-test/sample-pipeline:`n"
            & bash -n $runScript; $LASTEXITCODE | Should -Be 0
            & shellcheck --shell=bash $runScript; $LASTEXITCODE | Should -Be 0
            (Get-EmulatorRequests events PutRule)[0].parameters.ScheduleExpression | Should -Be 'cron(0 6 ? * MON-FRI *)'

            $mark = (Get-EmulatorRequests).Count
            $second = New-TestSchedule -Expression 'cron(0 6 ? * MON-FRI *)'

            $second.Changes | Should -BeNullOrEmpty
            $writes = @(Get-EmulatorRequests | Select-Object -Skip $mark | Where-Object operation -NotMatch $readOnly | ForEach-Object operation | Sort-Object -Unique)
            # Read, compared, left alone: not even the same role policy or a permission answered 409.
            $writes | Should -BeNullOrEmpty
            @(Get-EmulatorRequests | Select-Object -Skip $mark | ForEach-Object operation) | Should -Contain 'GetRolePolicy'
            @(Get-EmulatorRequests | Select-Object -Skip $mark | ForEach-Object operation) | Should -Contain 'GetPolicy'
        }
    }
    Context 'Given an instance whose host key changed since the first contact' {
        It 'Should refuse to connect unless -AcceptChangedHostKey (-Force is not enough), then record the new key' {
            $knownHosts = Join-Path $env:XDG_CONFIG_HOME 'rlabs/known_hosts'
            New-Item -ItemType Directory -Force -Path (Split-Path $knownHosts) | Out-Null
            "$instanceId ssh-ed25519 SHA256:AAAAnotTheKeyOfThisServerAAAAAAAAAAAAAAAAAAA" | Set-Content $knownHosts

            { New-TestSchedule } | Should -Throw -ErrorId 'HostKeyChanged,Rlabs.Pipelines.Commands.NewRlabsPipelineScheduleCommand' -ExpectedMessage '*-AcceptChangedHostKey*'
            { New-RlabsPipelineSchedule -InstanceId $instanceId -PemFile $server.RsaPemKey -Ec2UserName $server.UserName -SshPort $server.Port `
                -RepositoryPath $repo -PipelinePath $pipeline -ScheduleExpression 'rate(1 day)' -Force -Confirm:$false 3>$null } |
                Should -Throw -ErrorId 'HostKeyChanged,Rlabs.Pipelines.Commands.NewRlabsPipelineScheduleCommand'
            @(Get-EmulatorRequests events PutRule).Count | Should -Be 0

            $schedule = New-RlabsPipelineSchedule -InstanceId $instanceId -PemFile $server.RsaPemKey -Ec2UserName $server.UserName -SshPort $server.Port `
                -RepositoryPath $repo -PipelinePath $pipeline -ScheduleExpression 'rate(1 day)' -AcceptChangedHostKey -Confirm:$false -WarningVariable warnings 3>$null
            $schedule.State | Should -Be 'Enabled'
            $warnings | Should -Match 'changed'
            Get-Content $knownHosts | Should -Not -Match 'AAAAnotTheKey'
        }
    }
}

Describe 'Get, Disable, Enable and Remove-RlabsPipelineSchedule' -Tag 'Emulator', 'Ssh' {
    BeforeAll {
        Invoke-AwsEmulatorAdmin $emulator POST reset | Out-Null
        Invoke-AwsEmulatorAdmin $emulator POST ec2/instances @{ instanceId = $instanceId; state = 'running'; publicIpAddress = '127.0.0.1'; transitionMs = 20 } | Out-Null
        Reset-TestSshAccount -UserHome $server.Home
        $null = New-TestSchedule -Expression 'rate(2 hours)'
    }

    It 'Should list the schedule with its state and next runs' {
        $schedule = Get-RlabsPipelineSchedule -ProjectName 'lead_scoring.test'

        $schedule.PipelinePath | Should -Be 'pipelines/sample_pipeline.yaml'
        $schedule.ScheduleExpression | Should -Be 'rate(2 hours)'
        $schedule.InstanceId | Should -Be $instanceId
        (Get-RlabsPipelineSchedule -ProjectName 'other-project') | Should -BeNullOrEmpty
        ($schedule | Format-List | Out-String -Width 250) | Should -Match 'Rule *: rlabs-lead-scoring-test-sample-pipeline'
    }

    It 'Should disable and enable it through the pipeline, reading the state back' {
        $disabled = Get-RlabsPipelineSchedule -ProjectName lead-scoring-test | Disable-RlabsPipelineSchedule -Confirm:$false
        $disabled.State | Should -Be 'Disabled'
        (Get-EmulatorRequests events DisableRule).Count | Should -Be 1
        (Get-RlabsPipelineSchedule -ProjectName lead-scoring-test).State | Should -Be 'Disabled'

        $enabled = Enable-RlabsPipelineSchedule -ProjectName lead-scoring-test -PipelinePath $pipeline -Confirm:$false
        $enabled.State | Should -Be 'Enabled'
        $enabled.Changes | Should -Be @('rule rlabs-lead-scoring-test-sample-pipeline enabled')
    }

    It 'Should only show what -WhatIf would disable' {
        $null = Disable-RlabsPipelineSchedule -ProjectName lead-scoring-test -PipelinePath $pipeline -WhatIf
        (Get-RlabsPipelineSchedule -ProjectName lead-scoring-test).State | Should -Be 'Enabled'
    }

    It 'Should report a schedule whose rule someone deleted by hand, and remove the rest' {
        # Someone deletes the rule in the console: targets first, then the rule (the emulator speaks boto3's protocol).
        $env:PYTHONDONTWRITEBYTECODE = '1'
        & /usr/bin/python3 -c "import boto3; e = boto3.client('events', endpoint_url='$($emulator.Url)', region_name='eu-west-1'); e.remove_targets(Rule='rlabs-lead-scoring-test-sample-pipeline', Ids=['rlabs-start-instance']); e.delete_rule(Name='rlabs-lead-scoring-test-sample-pipeline')"
        $LASTEXITCODE | Should -Be 0

        Get-RlabsPipelineSchedule -ProjectName lead-scoring-test | Should -BeNullOrEmpty
        Enable-RlabsPipelineSchedule -ProjectName lead-scoring-test -PipelinePath $pipeline -Confirm:$false -ErrorVariable failure -ErrorAction SilentlyContinue
        $failure[0].FullyQualifiedErrorId | Should -Be 'ScheduleNotFound,Rlabs.Pipelines.Commands.EnableRlabsPipelineScheduleCommand'
        $failure[0].CategoryInfo.Category | Should -Be 'ObjectNotFound'

        Remove-RlabsPipelineSchedule -ProjectName lead-scoring-test -PipelinePath $pipeline -InstanceId $instanceId -PemFile $server.Ed25519Key -Ec2UserName $server.UserName -SshPort $server.Port -Force -WarningVariable warnings 3>$null

        $warnings | Should -Match 'already gone'
        (Get-EmulatorRequests lambda DeleteFunction).Count | Should -Be 1
        (Get-EmulatorRequests iam DeleteRole).Count | Should -Be 1
        Get-TestSshCrontab | Should -Be ''
    }
}

Describe 'Remove-RlabsPipelineSchedule' -Tag 'Emulator', 'Ssh' {
    BeforeAll {
        Invoke-AwsEmulatorAdmin $emulator POST reset | Out-Null
        Invoke-AwsEmulatorAdmin $emulator POST ec2/instances @{ instanceId = $instanceId; state = 'running'; publicIpAddress = '127.0.0.1'; transitionMs = 20 } | Out-Null
        Reset-TestSshAccount -UserHome $server.Home
        $null = New-TestSchedule
    }

    It 'Should have a High confirm impact and change nothing under -WhatIf' {
        (Get-Command Remove-RlabsPipelineSchedule).ImplementingType.GetCustomAttributes([System.Management.Automation.CmdletAttribute], $false)[0].ConfirmImpact | Should -Be 'High'
        Remove-RlabsPipelineSchedule -ProjectName lead-scoring-test -PipelinePath $pipeline -Force -WhatIf
        Get-RlabsPipelineSchedule -ProjectName lead-scoring-test | Should -Not -BeNullOrEmpty
    }

    It 'Should remove rule, targets, permission, function, role and the crontab line' {
        Get-RlabsPipelineSchedule -ProjectName lead-scoring-test |
            Remove-RlabsPipelineSchedule -PemFile $server.Ed25519Key -Ec2UserName $server.UserName -SshPort $server.Port -Force

        Get-RlabsPipelineSchedule | Should -BeNullOrEmpty
        (Get-EmulatorRequests events RemoveTargets).Count | Should -Be 1
        (Get-EmulatorRequests lambda RemovePermission).Count | Should -Be 1
        (Get-EmulatorRequests iam DeleteRole).Count | Should -Be 1
        Get-TestSshCrontab | Should -Be ''
    }
}
