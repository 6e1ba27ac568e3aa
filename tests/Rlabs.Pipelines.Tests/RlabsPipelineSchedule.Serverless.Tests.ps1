#Requires -Modules @{ ModuleName = 'Pester'; ModuleVersion = '5.3.0' }
<#
Get/Enable/Disable/Remove-RlabsPipelineSchedule and Get-RlabsPipelineRun -Last on a serverless schedule (EventBridge
Scheduler starts the SageMaker pipeline), against the AWS emulator (standalone process), which fires the schedule as
the Scheduler would and runs the pipeline's steps. The schedule is created through the core's
ServerlessScheduleManager (New-RlabsPipelineSchedule -Serverless is tested with that cmdlet); the core lives in the
module's private load context, so it is reached by reflection from the module's own output type.
#>

BeforeAll {
    Import-Module $env:RLABS_MODULE_PATH -Force
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    $emulator = Start-TestAwsEmulator -AccessKeyId 'AKIDPESTERSERVERLESS'

    $project = 'sched-pester'
    $bucket = 'sagemaker-eu-west-1-123456789012'
    $repo = Join-Path $TestDrive 'sched'
    New-Item -ItemType Directory -Path (Join-Path $repo 'pipelines') -Force | Out-Null
    Set-Content -Path (Join-Path $repo 'requirements.txt') -Value '# none'
    # Each step writes <step>.json with the job id it ran under; score fails unless it saw extract's output of its own job.
    Set-Content -Path (Join-Path $repo 'step.py') -Value @'
import argparse, json, os, sys
p = argparse.ArgumentParser()
for name in ('--job-id', '--output-data-path', '--source-code-zip', '--requirements-path'):
    p.add_argument(name, required=True)
p.add_argument('--input-data-path')
p.add_argument('--input-data-zip')
args = p.parse_args()
name = os.environ['RLABS_STEP_NAME']
if args.input_data_path:
    seen = sorted(os.listdir(args.input_data_path))
    if seen != ['extract.json'] or json.load(open(os.path.join(args.input_data_path, 'extract.json')))['job'] != args.job_id:
        sys.exit(3)
os.makedirs(args.output_data_path, exist_ok=True)
json.dump({'job': args.job_id}, open(os.path.join(args.output_data_path, name + '.json'), 'w'))
'@
    $pipeline = Join-Path $repo 'pipelines/daily.yaml'
    Set-Content -Path $pipeline -Value @"
project: $project
role_arn: arn:aws:iam::123456789012:role/rlabs-sagemaker
instance_type: ml.t3.medium
pipeline:
  - { name: extract, job_suffix: X, code: step.py, output_path: data }
  - { name: score, job_suffix: S, code: step.py, input_data: "data/<job_id>", output_path: data }
"@
    $credentials = Join-Path $repo 'credentials.yaml'
    Set-Content -Path $credentials -Value "warehouse:`n  password: pw-7f3a"

    # The core, reached through the module's own output type (its load context is private).
    $core = [Rlabs.Pipelines.RlabsPipelineSchedule].Assembly
    function Get-CoreType([string] $Name) { $core.GetType($Name, $true) }
    function New-CoreObject([string] $TypeName, [hashtable] $Properties = @{}, [object[]] $Arguments = @()) {
        $type = Get-CoreType $TypeName
        $object = if ($Arguments.Count) { [Activator]::CreateInstance($type, $Arguments) } else { [Activator]::CreateInstance($type) }
        # PropertyInfo.SetValue sets init-only properties too.
        foreach ($key in $Properties.Keys) { $type.GetProperty($key).SetValue($object, $Properties[$key]) }
        $object
    }
    function Wait-Task($Task) { $Task.GetAwaiter().GetResult() }
    $none = [Threading.CancellationToken]::None
    $session = (Get-CoreType 'Rlabs.Pipelines.Aws.AwsSession')::Create((New-CoreObject 'Rlabs.Pipelines.Aws.AwsSessionOptions'))
    $reporter = (Get-CoreType 'Rlabs.Pipelines.Running.NullRunReporter')::Instance
    $scheduler = New-CoreObject 'Rlabs.Pipelines.Aws.SchedulerClient' -Arguments @(, $session)
    $iam = New-CoreObject 'Rlabs.Pipelines.Aws.IamClient' -Arguments @(, $session)
    $s3 = New-CoreObject 'Rlabs.Pipelines.Aws.S3Storage' -Arguments @(, $session)
    $scheduleName = "rlabs-$project-daily"
    $roleName = (Get-CoreType 'Rlabs.Pipelines.Scheduling.SchedulerTrigger')::RoleName($project, 'daily')
    $credentialsKey = (Get-CoreType 'Rlabs.Pipelines.Scheduling.ServerlessScheduleManager')::CredentialsKey($project, 'daily')

    function New-CoreServerlessSchedule {
        # ServerlessScheduleManager.ScheduleAsync(run, arn => request, token), as New-RlabsPipelineSchedule -Serverless calls it.
        $read = (Get-CoreType 'Rlabs.Pipelines.Config.PipelineConfigReader')::Read($pipeline, $repo)
        if ($read.HasErrors) { throw ($read.Diagnostics -join "`n") }
        $cloud = New-CoreObject 'Rlabs.Pipelines.Planning.CloudRunOptions' @{ Engine = [Enum]::Parse((Get-CoreType 'Rlabs.Pipelines.Planning.CloudEngine'), 'SageMakerPipelines') }
        $run = New-CoreObject 'Rlabs.Pipelines.Planning.RunRequest' @{
            Pipeline    = $read.Pipeline
            JobId       = 'unused'
            Credentials = (Get-CoreType 'Rlabs.Pipelines.Config.CredentialsFile')::Load($credentials)
            Cloud       = $cloud
        }
        $requestType = Get-CoreType 'Rlabs.Pipelines.Scheduling.ServerlessScheduleRequest'
        $when = (Get-CoreType 'Rlabs.Pipelines.Scheduling.SchedulerExpression')::Parse('cron(0 6 * * ? *)', 'Europe/Amsterdam')
        # The request as a compiled lambda: a script block would run on a thread pool thread without a runspace.
        $E = [System.Linq.Expressions.Expression]
        $arn = $E::Parameter([string], 'pipelineArn')
        $bindings = [System.Linq.Expressions.MemberBinding[]] @(
            $E::Bind($requestType.GetProperty('ProjectName'), $E::Constant($project))
            $E::Bind($requestType.GetProperty('PipelineName'), $E::Constant('daily'))
            $E::Bind($requestType.GetProperty('PipelineRelativePath'), $E::Constant('pipelines/daily.yaml', [string]))
            $E::Bind($requestType.GetProperty('PipelineArn'), $arn)
            $E::Bind($requestType.GetProperty('Schedule'), $E::Constant($when))
        )
        $funcType = [Func`2].MakeGenericType([string], $requestType)
        # Expression.New by reflection: PowerShell reads ::New as the constructor of Expression itself.
        $newRequest = $E.GetMethod('New', [type[]] @([type])).Invoke($null, @($requestType))
        $factory = $E::Lambda($funcType, $E::MemberInit($newRequest, $bindings), [System.Linq.Expressions.ParameterExpression[]] @($arn)).Compile()
        $manager = New-CoreObject 'Rlabs.Pipelines.Scheduling.ServerlessScheduleManager' -Arguments @($session, $reporter)
        Wait-Task $manager.ScheduleAsync($run, $factory, $none)
    }
    function Get-EmulatorRequests([string] $Service, [string] $Operation) {
        @(Invoke-AwsEmulatorAdmin $emulator GET "requests?service=$Service&operation=$Operation" | ForEach-Object { $_ })
    }
    function Invoke-Firing([string] $Time) {
        Invoke-AwsEmulatorAdmin $emulator POST scheduler/fire @{ group = 'rlabs'; name = $scheduleName; time = $Time }
    }
    function Wait-RunEnd([string] $ExecutionArn) {
        $script:ended = $null
        Wait-Until -TimeoutSeconds 120 -Message "The execution $ExecutionArn did not end" -Condition {
            $script:ended = Get-RlabsPipelineRun -ProjectName $project -Last 5 | Where-Object PipelineExecutionArn -EQ $ExecutionArn
            $script:ended -and $script:ended.Status -notin 'Pending', 'Running'
        }
        $script:ended
    }
    $readOnly = '^(Describe|Get|List|Head)'

    Invoke-AwsEmulatorAdmin $emulator POST sagemaker/job-behaviour @{ durationMs = 0; outcome = 'Completed'; execute = $true } | Out-Null
    $created = New-CoreServerlessSchedule
}

AfterAll {
    Stop-TestAwsEmulator $emulator
}

Describe 'RlabsPipelineSchedule of the Serverless kind' -Tag 'Emulator' {
    Context 'Given a schedule cron(0 6 * * ? *) in Europe/Amsterdam' {
        It 'Should be listed by Get-RlabsPipelineSchedule as Kind Serverless, with the next fire times in Amsterdam and in UTC' {
            $schedule = Get-RlabsPipelineSchedule -ProjectName $project -Kind Serverless

            $schedule | Should -HaveCount 1
            $schedule.Kind | Should -Be 'Serverless'
            $schedule.RuleName | Should -Be $scheduleName
            $schedule.TimeZone | Should -Be 'Europe/Amsterdam'
            $schedule.PipelinePath | Should -Be 'pipelines/daily.yaml'
            $schedule.SageMakerPipelineArn | Should -Be $created.PipelineArn
            $schedule.RoleName | Should -Be $roleName
            # Read-only lists do not index in PowerShell: unroll them.
            $local = @($schedule.NextRunTimesLocal)
            $utc = @($schedule.NextRunTimes)
            $local | Should -HaveCount 3
            foreach ($i in 0..2) {
                $local[$i].Hour | Should -Be 6
                $local[$i].Offset | Should -Be ([TimeZoneInfo]::FindSystemTimeZoneById('Europe/Amsterdam').GetUtcOffset($local[$i]))
                $local[$i].UtcDateTime | Should -Be $utc[$i]
                $utc[$i].Kind | Should -Be 'Utc'
                $utc[$i].Hour | Should -BeIn 4, 5
            }
        }

        It 'Should list it without -Kind and not with -Kind Ec2' {
            @(Get-RlabsPipelineSchedule -ProjectName $project).Kind | Should -Be @('Serverless')
            @(Get-RlabsPipelineSchedule -ProjectName $project -Kind Ec2) | Should -HaveCount 0
        }

        It 'Should still list the other kind, with a warning, when EventBridge Scheduler denies the reads; -Kind Serverless fails' {
            Invoke-AwsEmulatorAdmin $emulator POST faults @{ service = 'scheduler'; kind = 'Error'; errorCode = 'AccessDeniedException'; statusCode = 403; count = 2 } | Out-Null
            try {
                $listed = @(Get-RlabsPipelineSchedule -ProjectName $project -WarningVariable warned -WarningAction SilentlyContinue)
                Get-RlabsPipelineSchedule -ProjectName $project -Kind Serverless -ErrorVariable failed -ErrorAction SilentlyContinue
            }
            finally {
                Invoke-AwsEmulatorAdmin $emulator DELETE faults | Out-Null
            }

            $listed | Should -HaveCount 0
            $warned | Should -Match 'Schedules of kind Serverless were not read'
            $failed | Should -HaveCount 1
            $failed[0].FullyQualifiedErrorId | Should -Be 'AwsAccessDenied,Rlabs.Pipelines.Commands.GetRlabsPipelineScheduleCommand'
        }

        It 'Should refuse a -Kind that is not one before any AWS call' {
            $before = (Get-EmulatorRequests).Count
            { Get-RlabsPipelineSchedule -Kind Lambda } | Should -Throw -ErrorId 'ParameterArgumentValidationError,Rlabs.Pipelines.Commands.GetRlabsPipelineScheduleCommand'
            (Get-EmulatorRequests).Count | Should -Be $before
        }
    }

    Context 'Given -WhatIf' {
        It 'Should make no AWS request for <Command>' -ForEach @(
            @{ Command = 'Disable-RlabsPipelineSchedule' }
            @{ Command = 'Enable-RlabsPipelineSchedule' }
            @{ Command = 'Remove-RlabsPipelineSchedule' }
        ) {
            $before = (Get-EmulatorRequests).Count
            & $Command -ProjectName $project -PipelinePath 'pipelines/daily.yaml' -WhatIf
            (Get-EmulatorRequests).Count | Should -Be $before
        }
    }

    Context 'Given Disable, then Enable' {
        It 'Should skip the firing while disabled and run the whole pipeline under its own job id once enabled' {
            $disabled = Disable-RlabsPipelineSchedule -ProjectName $project -PipelinePath 'pipelines/daily.yaml'
            $skipped = Invoke-Firing '2026-01-11T05:00:00Z'
            $startsWhileDisabled = (Get-EmulatorRequests sagemaker StartPipelineExecution).Count
            $enabled = Get-RlabsPipelineSchedule -ProjectName $project | Enable-RlabsPipelineSchedule
            $fired = Invoke-Firing '2026-01-12T05:00:00Z'
            $run = Wait-RunEnd $fired.pipelineExecutionArn

            $disabled.Kind | Should -Be 'Serverless'
            $disabled.State | Should -Be 'Disabled'
            $disabled.Changes | Should -Be @("schedule rlabs/$scheduleName disabled")
            $skipped.fired | Should -BeFalse
            $skipped.reason | Should -Be 'disabled'
            $startsWhileDisabled | Should -Be 0
            $enabled.State | Should -Be 'Enabled'
            $fired.fired | Should -BeTrue
            $run.Status | Should -Be 'Completed'
            $run.JobId | Should -Be ($fired.pipelineExecutionArn -split '/')[-1]
            @($run.Steps.StepName) | Should -Be @('extract', 'score')
            @($run.Steps.Status) | Should -Be @('Completed', 'Completed')
            # score checked extract's output of its own job id; its own output sits under that job id.
            Wait-Task $s3.ObjectExistsAsync($bucket, "rlabs/$project/data/data/$($run.JobId)/score.json", $none) | Should -BeTrue
        }

        It 'Should list a second firing under another job id, newest first, with Get-RlabsPipelineRun -Last' {
            $fired = Invoke-Firing '2026-07-12T04:00:00Z'
            $null = Wait-RunEnd $fired.pipelineExecutionArn

            $runs = @(Get-RlabsPipelineRun -ProjectName $project -Last 5)
            $last = @(Get-RlabsPipelineRun -ProjectName $project -Last 1)

            $runs | Should -HaveCount 2
            $runs[0].PipelineExecutionArn | Should -Be $fired.pipelineExecutionArn
            $runs[0].JobId | Should -Not -Be $runs[1].JobId
            $runs.Engine | Should -Be @('SageMakerPipelines', 'SageMakerPipelines')
            $runs.ProjectName | Should -Be @($project, $project)
            $last | Should -HaveCount 1
            $last[0].JobId | Should -Be $runs[0].JobId
        }
    }

    Context 'Given a scheduled run named by its job id (no manifest exists for it)' {
        It 'Should read, wait for and stop it with Get-, Wait- and Stop-RlabsPipelineRun' {
            $finished = @(Get-RlabsPipelineRun -ProjectName $project -Last 5)[-1]
            # The first step's job runs until stopped (a pipeline's jobs follow their step's behaviour, not job-behaviour).
            Invoke-AwsEmulatorAdmin $emulator POST sagemaker/pipeline-step-behaviour @{ stepName = 'extract'; attempts = @(@{ durationMs = 600000; outcome = 'Completed'; execute = $false }) } | Out-Null
            try {
                $fired = Invoke-Firing '2026-07-13T04:00:00Z'
                $jobId = ($fired.pipelineExecutionArn -split '/')[-1]
                Wait-Until -TimeoutSeconds 60 -Message "The execution $jobId started no job" -Condition {
                    (Get-RlabsPipelineRun -ProjectName $project -JobId $jobId).Steps.Status -contains 'Running'
                }
                $running = Get-RlabsPipelineRun -ProjectName $project -JobId $jobId
                $marker = (Get-EmulatorRequests).Count
                Stop-RlabsPipelineRun -ProjectName $project -JobId $jobId -WhatIf
                $writesOfWhatIf = @((Get-EmulatorRequests | Select-Object -Skip $marker).operation | Where-Object { $_ -notmatch $readOnly })
                $stopped = Get-RlabsPipelineRun -ProjectName $project -Last 1 | Stop-RlabsPipelineRun -Confirm:$false -PassThru
                $waited = Wait-RlabsPipelineRun -ProjectName $project -JobId $jobId -Timeout 60
            } finally {
                Invoke-AwsEmulatorAdmin $emulator POST sagemaker/pipeline-step-behaviour @{ stepName = 'extract'; attempts = @() } | Out-Null
            }
            $again = Get-RlabsPipelineRun -ProjectName $project -JobId $finished.JobId

            $running.Status | Should -Be 'Running'
            $running.PipelineExecutionArn | Should -Be $fired.pipelineExecutionArn
            $writesOfWhatIf | Should -HaveCount 0
            (Get-EmulatorRequests sagemaker StopPipelineExecution).Count | Should -Be 1
            $stopped.JobId | Should -Be $jobId
            $stopped.Status | Should -BeIn 'Running', 'Stopped'  # Stopping reads as still running until its jobs stopped
            $waited.Status | Should -Be 'Stopped'
            $waited.Steps.Status | Should -Not -Contain 'Running'
            $again.Status | Should -Be 'Completed'
            $again.JobId | Should -Be $finished.JobId
            @($again.Steps.Status) | Should -Be @('Completed', 'Completed')
        }

        It 'Should still say RunNotFound for a job id no run or execution has' {
            Get-RlabsPipelineRun -ProjectName $project -JobId 'nosuchexecution1' -ErrorVariable missing -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
            $missing | Should -HaveCount 1
            $missing[0].FullyQualifiedErrorId | Should -BeLike 'RunNotFound,*'
        }

        It 'Should say RunNotFound, not AccessDenied, to someone who may not list SageMaker pipelines' {
            $listed = (Get-EmulatorRequests sagemaker ListPipelines).Count
            Invoke-AwsEmulatorAdmin $emulator POST faults @{ service = 'sagemaker'; operation = 'ListPipelines'; kind = 'Error'; errorCode = 'AccessDeniedException'; statusCode = 400; count = 1 } | Out-Null
            try {
                Get-RlabsPipelineRun -ProjectName $project -JobId 'nosuchexecution2' -ErrorVariable missing -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
                $listedWhileDenied = (Get-EmulatorRequests sagemaker ListPipelines).Count - $listed
            } finally {
                Invoke-AwsEmulatorAdmin $emulator DELETE faults | Out-Null
            }

            $listedWhileDenied | Should -Be 1  # the denied lookup was made (the fault's one call)
            $missing | Should -HaveCount 1
            $missing[0].FullyQualifiedErrorId | Should -BeLike 'RunNotFound,*'
        }
    }

    Context 'Given Remove-RlabsPipelineSchedule' {
        It 'Should delete nothing when a read fails first, then remove schedule, role and stored credentials and keep the pipeline' {
            Wait-Task $s3.ObjectExistsAsync($bucket, $credentialsKey, $none) | Should -BeTrue
            Invoke-AwsEmulatorAdmin $emulator POST faults @{ service = 's3'; operation = 'HeadObject'; kind = 'Error'; errorCode = 'AccessDenied'; statusCode = 403; count = 1 } | Out-Null
            $marker = (Get-EmulatorRequests).Count

            Remove-RlabsPipelineSchedule -ProjectName $project -PipelinePath 'pipelines/daily.yaml' -Bucket $bucket -Confirm:$false -ErrorVariable failed -ErrorAction SilentlyContinue
            $writesOfFailed = @((Get-EmulatorRequests | Select-Object -Skip $marker).operation | Where-Object { $_ -notmatch $readOnly })
            Invoke-AwsEmulatorAdmin $emulator DELETE faults | Out-Null
            $stillThere = Get-RlabsPipelineSchedule -ProjectName $project
            Remove-RlabsPipelineSchedule -ProjectName $project -PipelinePath 'pipelines/daily.yaml' -Bucket $bucket -Confirm:$false

            $failed | Should -HaveCount 1
            $failed[0].FullyQualifiedErrorId | Should -BeLike 'Aws*,Rlabs.Pipelines.Commands.RemoveRlabsPipelineScheduleCommand'
            $writesOfFailed | Should -HaveCount 0
            $stillThere.Kind | Should -Be 'Serverless'
            Get-RlabsPipelineSchedule -ProjectName $project | Should -BeNullOrEmpty
            Wait-Task $scheduler.FindScheduleAsync($scheduleName, 'rlabs', $none) | Should -BeNullOrEmpty
            Wait-Task $iam.FindRoleAsync($roleName, $none) | Should -BeNullOrEmpty
            Wait-Task $s3.ObjectExistsAsync($bucket, $credentialsKey, $none) | Should -BeFalse
            # The pipeline and its history stay without -IncludePipeline.
            @(Get-RlabsPipelineRun -ProjectName $project -Last 5) | Should -HaveCount 3
            (Get-EmulatorRequests sagemaker DeletePipeline).Count | Should -Be 0
        }

        It 'Should only read when everything is already gone, and never call EC2, Lambda or EventBridge rules to write' {
            $marker = (Get-EmulatorRequests).Count

            Remove-RlabsPipelineSchedule -ProjectName $project -PipelinePath 'pipelines/daily.yaml' -Kind Serverless -Bucket $bucket -Confirm:$false -WarningVariable warned -WarningAction SilentlyContinue

            @((Get-EmulatorRequests | Select-Object -Skip $marker).operation | Where-Object { $_ -notmatch $readOnly }) | Should -HaveCount 0
            $warned | Should -Match 'already gone'
            @(Get-EmulatorRequests | Where-Object { $_.service -in 'ec2', 'lambda' -or ($_.service -eq 'events' -and $_.operation -notmatch $readOnly) }) | Should -HaveCount 0
        }

        It 'Should finish a removal that failed half-way when run again without -Kind' {
            $null = New-CoreServerlessSchedule
            Invoke-AwsEmulatorAdmin $emulator POST faults @{ service = 'iam'; operation = 'DeleteRole'; kind = 'Error'; errorCode = 'AccessDenied'; statusCode = 403; count = 1 } | Out-Null

            Remove-RlabsPipelineSchedule -ProjectName $project -PipelinePath 'pipelines/daily.yaml' -Bucket $bucket -Confirm:$false -ErrorVariable failed -ErrorAction SilentlyContinue -WarningVariable warned -WarningAction SilentlyContinue
            $roleLeft = Wait-Task $iam.FindRoleAsync($roleName, $none)
            Invoke-AwsEmulatorAdmin $emulator DELETE faults | Out-Null
            Remove-RlabsPipelineSchedule -ProjectName $project -PipelinePath 'pipelines/daily.yaml' -Bucket $bucket -Confirm:$false -WarningAction SilentlyContinue

            $failed | Should -HaveCount 1
            $warned | Should -Match "Removed schedule rlabs/$scheduleName, credentials .* before the failure"
            $roleLeft | Should -Not -BeNullOrEmpty
            Wait-Task $iam.FindRoleAsync($roleName, $none) | Should -BeNullOrEmpty
            Wait-Task $s3.ObjectExistsAsync($bucket, $credentialsKey, $none) | Should -BeFalse
        }

        It 'Should delete the pipeline and its history with -IncludePipeline' {
            $null = New-CoreServerlessSchedule

            Remove-RlabsPipelineSchedule -ProjectName $project -PipelinePath 'pipelines/daily.yaml' -Bucket $bucket -IncludePipeline -Confirm:$false

            (Get-EmulatorRequests sagemaker DeletePipeline).Count | Should -Be 1
            @(Get-RlabsPipelineRun -ProjectName $project -Last 5) | Should -HaveCount 0
            Wait-Task $iam.FindRoleAsync($roleName, $none) | Should -BeNullOrEmpty
        }
    }
}
