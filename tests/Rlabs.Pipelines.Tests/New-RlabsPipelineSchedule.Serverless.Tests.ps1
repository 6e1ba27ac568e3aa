#Requires -Modules @{ ModuleName = 'Pester'; ModuleVersion = '5.3.0' }
<#
New-RlabsPipelineSchedule -Serverless against the AWS emulator (standalone process): an EventBridge Scheduler
schedule whose target is the SageMaker pipeline itself. No EC2 instance, Lambda function or SSH server is involved,
so none is started here and the tests assert that none is called.
#>

BeforeAll {
    Import-Module $env:RLABS_MODULE_PATH -Force
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    $emulator = Start-TestAwsEmulator -AccessKeyId 'AKIDPESTERSERVERLESS'

    $repo = Copy-ExampleRepository (Join-Path $TestDrive 'lead_scoring.test')
    $pipeline = Join-Path $repo 'pipelines/sample_pipeline.yaml'
    $role = 'arn:aws:iam::123456789012:role/rlabs-sagemaker'
    $scheduleName = 'rlabs-lead-scoring-test-sample-pipeline'
    $schedulerRole = 'lead-scoring-test-sample-pipeline-scheduler-role'
    $readOnly = '^(Describe|Get|List|Head)'
    function Get-EmulatorRequests([string] $Service, [string] $Operation) {
        @(Invoke-AwsEmulatorAdmin $emulator GET "requests?service=$Service&operation=$Operation" | ForEach-Object { $_ })
    }
    function Get-Writes { @(Get-EmulatorRequests | Where-Object operation -NotMatch $readOnly) }
    function New-TestSchedule {
        param([string] $Expression = 'cron(0 6 * * ? *)', [string] $TimeZone = 'Europe/Amsterdam', [hashtable] $More = @{})
        $parameters = @{ RepositoryPath = $repo; PipelinePath = $pipeline; ScheduleExpression = $Expression; TimeZone = $TimeZone; RoleArn = $role }
        foreach ($key in $More.Keys) { $parameters[$key] = $More[$key] }
        New-RlabsPipelineSchedule -Serverless @parameters -Confirm:$false -WarningAction SilentlyContinue
    }
}

AfterAll {
    Stop-TestAwsEmulator $emulator
}

Describe 'New-RlabsPipelineSchedule -Serverless' -Tag 'Emulator' {
    BeforeEach {
        Invoke-AwsEmulatorAdmin $emulator POST reset | Out-Null
    }

    Context 'Given its parameter set' {
        It 'Should not take the EC2 parameters <Name>' -ForEach @(
            @{ Name = 'InstanceId' }, @{ Name = 'PemFile' }, @{ Name = 'Ec2UserName' }, @{ Name = 'SshPort' }
        ) {
            $set = (Get-Command New-RlabsPipelineSchedule).ParameterSets | Where-Object Name -EQ 'Serverless'
            $set.Parameters.Name | Should -Not -Contain $Name
            $set.Parameters.Name | Should -Contain 'TimeZone'
        }

        It 'Should complete -TimeZone with IANA names' {
            $line = 'New-RlabsPipelineSchedule -Serverless -TimeZone Europe/Ams'
            (TabExpansion2 -inputScript $line -cursorColumn $line.Length).CompletionMatches.CompletionText | Should -Be 'Europe/Amsterdam'
        }
    }

    Context 'Given a time zone or an expression Scheduler would refuse' {
        It 'Should refuse the time zone <TimeZone> before any AWS call' -ForEach @(
            @{ TimeZone = 'Mars/Olympus_Mons' }
            @{ TimeZone = 'CET+1' }
            @{ TimeZone = 'W. Europe Standard Time' }
        ) {
            { New-TestSchedule -TimeZone $TimeZone } | Should -Throw -ErrorId 'TimeZoneInvalid,Rlabs.Pipelines.Commands.NewRlabsPipelineScheduleCommand' -ExpectedMessage '*not an IANA time zone*Europe/Amsterdam*'
            (Get-EmulatorRequests).Count | Should -Be 0
        }

        It 'Should refuse the expression <Expression> before any AWS call, with an example' -ForEach @(
            @{ Expression = 'cron(0 6 * * *)' }
            @{ Expression = 'rate(1 hours)' }
            @{ Expression = 'at(2027-02-30T06:00:00)' }
            @{ Expression = 'at(2027-01-31 06:00)' }
            @{ Expression = 'daily at six' }
        ) {
            { New-TestSchedule -Expression $Expression } | Should -Throw -ErrorId 'ScheduleExpressionInvalid,Rlabs.Pipelines.Commands.NewRlabsPipelineScheduleCommand' -ExpectedMessage '*at(2027-01-31T06:00:00)*'
            (Get-EmulatorRequests).Count | Should -Be 0
        }

        It 'Should refuse <Name> before any AWS call' -ForEach @(
            @{ Name = 'an end before the start'; More = @{ StartDate = [datetime]'2030-02-01'; EndDate = [datetime]'2030-01-01' }; Id = 'ScheduleDatesInvalid' }
            @{ Name = 'a role name for -RoleArn'; More = @{ RoleArn = 'rlabs-sagemaker' }; Id = 'RoleArnInvalid' }
            @{ Name = 'a topic as dead-letter queue'; More = @{ DeadLetterQueueArn = 'arn:aws:sns:eu-west-1:123456789012:alerts' }; Id = 'DeadLetterQueueArnInvalid' }
            @{ Name = 'local as instance type'; More = @{ SageMakerInstanceType = 'local' }; Id = 'InstanceTypeInvalid' }
        ) {
            { New-TestSchedule -More $More } | Should -Throw -ErrorId "$Id,Rlabs.Pipelines.Commands.NewRlabsPipelineScheduleCommand"
            (Get-EmulatorRequests).Count | Should -Be 0
        }
    }

    Context 'Given -WhatIf' {
        It 'Should list every call, part by part, and make no request' {
            $result = Invoke-ChildPwsh -ScriptBlock {
                param($module, $repo, $pipeline, $role)
                Import-Module $module
                New-RlabsPipelineSchedule -Serverless -RepositoryPath $repo -PipelinePath $pipeline -ScheduleExpression 'cron(0 6 * * ? *)' -TimeZone Europe/Amsterdam -RoleArn $role -WhatIf
            } -ArgumentList $env:RLABS_MODULE_PATH, $repo, $pipeline, $role
            $text = $result.Output -join "`n"

            $result.ExitCode | Should -Be 0 -Because $text
            foreach ($call in 's3:PutObject', 'sagemaker:DescribePipeline', 'sagemaker:CreatePipeline', 'scheduler:CreateScheduleGroup', 'iam:CreateRole', 'iam:PutRolePolicy', 'scheduler:CreateSchedule') {
                $text | Should -Match ([regex]::Escape($call))
            }
            @($result.Output | Where-Object { $_ -like 'What if:*' }).Count | Should -BeGreaterOrEqual 5
            $text | Should -Match 'Europe/Amsterdam'
            (Get-EmulatorRequests).Count | Should -Be 0
        }
    }

    Context 'Given a daily cron in Europe/Amsterdam' {
        It 'Should create the pipeline, role and schedule, and change nothing the second time' {
            $first = New-TestSchedule
            $afterFirst = (Get-EmulatorRequests).Count
            $second = New-TestSchedule
            $secondRequests = @(Get-EmulatorRequests | Select-Object -Skip $afterFirst)

            $first.PSObject.TypeNames[0] | Should -Be 'Rlabs.Pipelines.RlabsPipelineSchedule'
            $first.Kind | Should -Be 'Serverless'
            $first.RuleName | Should -Be $scheduleName
            $first.TimeZone | Should -Be 'Europe/Amsterdam'
            $first.State | Should -Be 'Enabled'
            $first.PipelinePath | Should -Be 'pipelines/sample_pipeline.yaml'
            $first.SageMakerPipelineArn | Should -Match ':pipeline/.+-scheduled$'
            $first.RoleName | Should -Be $schedulerRole
            $first.InstanceId | Should -BeNullOrEmpty
            $first.FunctionName | Should -BeNullOrEmpty
            $first.Changes | Should -Contain "schedule rlabs/$scheduleName created"
            $first.Changes | Should -Contain "role $schedulerRole created"

            $second.Changes | Should -BeNullOrEmpty
            $secondRequests.Count | Should -BeGreaterThan 0
            @($secondRequests | Where-Object operation -NotMatch $readOnly).operation | Should -BeNullOrEmpty

            (Get-EmulatorRequests ec2).Count + (Get-EmulatorRequests lambda).Count + (Get-EmulatorRequests events).Count | Should -Be 0
        }

        It 'Should give the scheduler role one action on one pipeline, trusting only the Scheduler' {
            $schedule = New-TestSchedule

            $trust = (Get-EmulatorRequests iam CreateRole)[0].parameters.AssumeRolePolicyDocument | ConvertFrom-Json
            $trust.Statement.Principal.Service | Should -Be 'scheduler.amazonaws.com'
            $policy = (Get-EmulatorRequests iam PutRolePolicy)[0].parameters.PolicyDocument | ConvertFrom-Json
            @($policy.Statement).Count | Should -Be 1
            $policy.Statement.Action | Should -Be 'sagemaker:StartPipelineExecution'
            $policy.Statement.Resource | Should -Be $schedule.SageMakerPipelineArn
        }

        It 'Should let the role it creates send dead letters to the one queue given, and nothing more' {
            $queue = 'arn:aws:sqs:eu-west-1:123456789012:rlabs-dlq'
            $schedule = New-TestSchedule -More @{ DeadLetterQueueArn = $queue }

            $policy = (Get-EmulatorRequests iam PutRolePolicy)[0].parameters.PolicyDocument | ConvertFrom-Json
            @($policy.Statement | ForEach-Object { "$($_.Action) $($_.Resource)" }) | Should -Be @("sagemaker:StartPipelineExecution $($schedule.SageMakerPipelineArn)", "sqs:SendMessage $queue")
        }

        It 'Should fire at 05:00 UTC in winter and 04:00 UTC in summer' {
            $year = (Get-Date).Year + 1
            $winter = New-TestSchedule -More @{ StartDate = [datetime]::new($year, 1, 10) }
            $summer = New-TestSchedule -More @{ StartDate = [datetime]::new($year, 7, 10) }
            $byEmulator = foreach ($after in "$($year + 1)-01-10T12:00:00Z", "$($year + 1)-07-10T12:00:00Z") {
                @(Invoke-AwsEmulatorAdmin $emulator GET "scheduler/next-fire-times?group=rlabs&name=$scheduleName&after=$after&count=1")[0]
            }

            $winter.NextRunTimes.Count | Should -Be 3
            $winter.NextRunTimes | ForEach-Object { $_.Kind | Should -Be 'Utc'; $_.Hour | Should -Be 5; $_.Minute | Should -Be 0 }
            $winter.NextRunTimes[0].Date | Should -Be ([datetime]::new($year, 1, 10))
            $winter.NextRunTimesLocal | ForEach-Object { $_.Hour | Should -Be 6; $_.Offset | Should -Be ([timespan]::FromHours(1)) }
            $summer.NextRunTimes | ForEach-Object { $_.Hour | Should -Be 4 }
            $summer.NextRunTimesLocal | ForEach-Object { $_.Hour | Should -Be 6; $_.Offset | Should -Be ([timespan]::FromHours(2)) }
            $summer.Changes | Should -Contain "schedule rlabs/$scheduleName updated"
            # The emulator reads the schedule as EventBridge Scheduler does: same instants.
            [datetime]::Parse($byEmulator[0], [cultureinfo]::InvariantCulture).ToUniversalTime().Hour | Should -Be 5
            [datetime]::Parse($byEmulator[1], [cultureinfo]::InvariantCulture).ToUniversalTime().Hour | Should -Be 4
        }

        It 'Should start the pipeline when the Scheduler fires it, as the scheduler role' {
            $schedule = New-TestSchedule
            $firing = Invoke-AwsEmulatorAdmin $emulator POST scheduler/fire @{ group = 'rlabs'; name = $scheduleName; time = '2030-01-11T05:00:00Z' }

            $firing.fired | Should -BeTrue
            $firing.pipelineExecutionArn | Should -Match ([regex]::Escape($schedule.SageMakerPipelineArn))
            (Get-EmulatorRequests ec2).Count + (Get-EmulatorRequests lambda).Count | Should -Be 0
        }

        It 'Should send every schedule option and use a given scheduler role without creating one' {
            $given = 'arn:aws:iam::123456789012:role/my-scheduler'
            $schedule = New-TestSchedule -More @{
                SchedulerRoleArn = $given; FlexibleWindowMinutes = 15; MaximumRetryAttempts = 3; MaximumEventAgeSeconds = 3600
                DeadLetterQueueArn = 'arn:aws:sqs:eu-west-1:123456789012:rlabs-dlq'; EndDate = [datetime]::new(2099, 1, 1)
            }
            $sent = (Get-EmulatorRequests scheduler CreateSchedule)[0].parameters

            $schedule.RoleArn | Should -Be $given
            (Get-EmulatorRequests iam).Count | Should -Be 0
            $sent.FlexibleTimeWindow.Mode | Should -Be 'FLEXIBLE'
            $sent.FlexibleTimeWindow.MaximumWindowInMinutes | Should -Be 15
            $sent.Target.RetryPolicy.MaximumRetryAttempts | Should -Be 3
            $sent.Target.RetryPolicy.MaximumEventAgeInSeconds | Should -Be 3600
            $sent.Target.DeadLetterConfig.Arn | Should -Be 'arn:aws:sqs:eu-west-1:123456789012:rlabs-dlq'
            $sent.ScheduleExpressionTimezone | Should -Be 'Europe/Amsterdam'
        }
    }

    Context 'Given the rlabs command line with --serverless' {
        It 'Should create the same serverless schedule as the cmdlet' {
            $schedule = rlabs aws pipeline schedule --serverless -r $repo -pc $pipeline -es 'cron(0 6 * * ? *)' --time-zone Europe/Amsterdam --role-arn $role 3>$null

            $schedule.Kind | Should -Be 'Serverless'
            $schedule.TimeZone | Should -Be 'Europe/Amsterdam'
            $schedule.RuleName | Should -Be $scheduleName
            (Get-EmulatorRequests scheduler CreateSchedule).Count | Should -Be 1
            (Get-EmulatorRequests ec2).Count + (Get-EmulatorRequests lambda).Count | Should -Be 0
        }

        It 'Should write the schedule whole, with its zone and schedule name, when bin/rlabs output goes to a file' {
            $launcher = Join-Path (Split-Path (Split-Path $env:RLABS_MODULE_PATH)) 'bin/rlabs'
            if (-not (Test-Path $launcher)) { $launcher = Join-Path (Split-Path $env:RLABS_MODULE_PATH) 'bin/rlabs' }
            $pwshHost = Join-Path $PSHOME 'pwsh'
            $savedPwsh = $env:RLABS_PWSH
            $env:RLABS_PWSH = (Test-Path $pwshHost) ? $pwshHost : "dotnet $(Join-Path $PSHOME 'pwsh.dll')"
            $file = Join-Path $TestDrive 'serverless.txt'
            try {
                & bash -c "'$launcher' aws pipeline schedule --serverless -r '$repo' -pc '$pipeline' -es cron\(0 6 \* \* \? \*\) --time-zone Europe/Amsterdam --role-arn $role > '$file' 2>/dev/null"
                $exitCode = $LASTEXITCODE
            } finally {
                $env:RLABS_PWSH = $savedPwsh
            }
            # The launcher writes warnings (no credentials.yaml here) to the same stream: the table follows them.
            $lines = @(Get-Content $file | Where-Object { $_ -ne '' -and -not $_.StartsWith('WARNING: ') })

            $exitCode | Should -Be 0
            $lines[0] | Should -Match '^Project\s+Pipeline\s+State\s+Schedule\s+NextRun \(UTC\)\s+Rule$'
            $lines[2] | Should -Match "^lead-scoring-test\s+sample-pipeline\s+Enabled\s+cron\(0 6 \* \* \? \*\) Europe/Amsterdam\s+\d{4}-\d\d-\d\d 0[45]:00\s+$scheduleName$"
            (Get-EmulatorRequests ec2).Count | Should -Be 0
        }

        It 'Should refuse --time-zone without --serverless before any AWS call' {
            { rlabs aws pipeline schedule -id i-07c3cedbe6988ed49 -p k.pem -pc $pipeline -es 'rate(1 day)' --time-zone Europe/Amsterdam } |
                Should -Throw -ExpectedMessage '*applies only with --serverless*'
            (Get-EmulatorRequests).Count | Should -Be 0
        }
    }

    Context 'Given its output on an 80-column log' {
        It 'Should show the table whole and the list with the zone and both clocks' {
            $schedule = New-TestSchedule
            $table = @(($schedule | Out-String -Width 80) -split '\r?\n' | Where-Object { $_.Trim() })
            $list = $schedule | Format-List | Out-String -Width 80

            $table | ForEach-Object { $_.TrimEnd().Length | Should -BeLessOrEqual 80 -Because $_ }
            $table[0] | Should -Match 'NextRun \(UTC\)\s*$'
            $table[1] | Should -Match '^-+( +-+)*\s*$'
            $table[2] | Should -Match 'cron\(0 6 \* \* \? \*\)\s+\d{4}-\d\d-\d\d 0[45]:00$'
            $schedule.NextRunTimes[0].Kind | Should -Be 'Utc' -Because 'the views index the next runs'
            $list | Should -Match 'Kind\s+: Serverless'
            $list | Should -Match 'TimeZone\s+: Europe/Amsterdam'
            $list | Should -Match 'NextRuns \(local\)\s+: \d{4}-\d\d-\d\d 06:00 \+0[12]:00'
            $list | Should -Match 'NextRuns \(UTC\)\s+: \d{4}-\d\d-\d\d 0[45]:00'
        }
    }
}

Describe 'RlabsPipelineSchedule table when output is redirected' -Tag 'Emulator' {
    # Issue 14: 'rlabs … enable-scheduling > file' printed "NextRun (UTC)" one character per line at ~79 columns.
    It 'Should keep every column whole with <How>' -ForEach @(
        @{ How = 'Out-File'; Tail = '| Out-File -FilePath $File' }
        @{ How = 'stdout redirected to a file'; Tail = '' }
    ) {
        $file = Join-Path $TestDrive "table-$($How -replace '\W', '').txt"
        $script = Join-Path $TestDrive 'show-schedule.ps1'
        @"
param(`$Module, `$File)
Import-Module `$Module
`$s = [Rlabs.Pipelines.RlabsPipelineSchedule]::new('lead-scoring-test', 'sample-pipeline', 'pipelines/sample_pipeline.yaml', 'rlabs-lead-scoring-test-sample-pipeline',
    'arn:aws:events:eu-west-1:123456789012:rule/rlabs-lead-scoring-test-sample-pipeline', 'Enabled', 'cron(0 6 * * ? *)',
    [System.Collections.Generic.List[datetime]]@([datetime]::new(2030, 1, 11, 6, 0, 0, [System.DateTimeKind]::Utc)), 'fn', 'arn:fn', 'role', 'i-0a1b2c3d4e5f60718', [string[]]@())
`$s $Tail
"@ | Set-Content $script
        $pwsh = Join-Path $PSHOME ([OperatingSystem]::IsWindows() ? 'pwsh.exe' : 'pwsh')
        $launcher = (Test-Path $pwsh) ? @($pwsh) : @('dotnet', (Join-Path $PSHOME 'pwsh.dll'))
        $arguments = @($launcher | Select-Object -Skip 1) + @('-NoProfile', '-NonInteractive', '-File', $script, $env:RLABS_MODULE_PATH, $file)
        if ($Tail) {
            & $launcher[0] @arguments | Out-Null
        } else {
            & $launcher[0] @arguments > $file
        }
        # Headers may carry colour codes (OutputRendering); the widths are what matters here.
        $lines = @(Get-Content $file | ForEach-Object { $_ -replace '\e\[[0-9;]*m' } | Where-Object { $_.Trim() })

        $lines.Count | Should -Be 3 -Because ($lines -join "`n")
        $lines[0] | Should -Match 'Project\s+Pipeline\s+State\s+Schedule\s+NextRun \(UTC\)'
        $lines[2] | Should -Match 'cron\(0 6 \* \* \? \*\)\s+2030-01-11 06:00'
        $lines | ForEach-Object { $_.TrimEnd().Length | Should -BeLessOrEqual 80; $_.Trim().Length | Should -BeGreaterThan 1 }
    }
}
