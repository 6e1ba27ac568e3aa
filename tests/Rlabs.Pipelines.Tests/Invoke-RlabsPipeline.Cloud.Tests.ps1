BeforeAll {
    Import-Module $env:RLABS_MODULE_PATH -Force
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    $emulator = Start-TestAwsEmulator -AccessKeyId 'AKIDPESTERCLOUD'
    $repo = Copy-ExampleRepository (Join-Path $TestDrive 'cloud')
    $sample = Join-Path $repo 'pipelines/sample_pipeline.yaml'
    $role = 'arn:aws:iam::123456789012:role/rlabs-sagemaker'
    function Get-EmulatorRequests([string] $Service, [string] $Operation) {
        @((Invoke-AwsEmulatorAdmin $emulator GET "requests?service=$Service&operation=$Operation"))
    }
    function Get-EmulatorJobs([string] $JobId) {
        @((Invoke-AwsEmulatorAdmin $emulator GET 'sagemaker/processing-jobs') | Where-Object { $_.environment.RLABS_JOB_ID -eq $JobId })
    }
}

AfterAll {
    Stop-TestAwsEmulator $emulator
}

Describe 'Invoke-RlabsPipeline on SageMaker' -Tag 'Emulator' {
    BeforeEach {
        Invoke-AwsEmulatorAdmin $emulator POST reset | Out-Null
        Invoke-AwsEmulatorAdmin $emulator POST sagemaker/job-behaviour @{ durationMs = 0; outcome = 'Completed'; execute = $true } | Out-Null
    }

    Context 'Given the sample pipeline and an ml.* instance type' {
        It 'Should run every step as a processing job and complete' {
            $run = Invoke-RlabsPipeline -Path $sample -RepositoryPath $repo -InstanceType ml.t3.xlarge -JobId 'cloud-1' -RoleArn $role

            $run.Status | Should -Be 'Completed' -Because ($run.Steps | ForEach-Object { "$($_.StepName): $($_.FailureReason) $($_.LogTail -join ' | ')" })
            $run.Steps.Runtime | Should -Be @('SageMaker', 'SageMaker', 'SageMaker')
            $run.DataRoot | Should -Be 's3://sagemaker-eu-west-1-123456789012/rlabs/cloud/data'
            $run.Bucket | Should -Be 'sagemaker-eu-west-1-123456789012'
            $created = Get-EmulatorRequests sagemaker CreateProcessingJob
            $created.Count | Should -Be 3
            $created[1].parameters.AppSpecification.ContainerArguments | Should -Contain '--input-data-path'
            $created[1].parameters.ProcessingResources.ClusterConfig.InstanceType | Should -Be 'ml.t3.xlarge'
        }

        It 'Should upload nothing when run again unchanged' {
            $first = Invoke-RlabsPipeline -Path $sample -RepositoryPath $repo -InstanceType ml.t3.xlarge -JobId 'cloud-2' -RoleArn $role
            $second = Invoke-RlabsPipeline -Path $sample -RepositoryPath $repo -InstanceType ml.t3.xlarge -JobId 'cloud-3' -RoleArn $role

            $first.UploadedBytes | Should -BeGreaterThan 0
            $second.UploadedBytes | Should -Be 0
            $second.Status | Should -Be 'Completed'
        }

        It 'Should stream job logs to -Verbose' {
            $verbose = Invoke-RlabsPipeline -Path $sample -RepositoryPath $repo -InstanceType ml.t3.xlarge -JobId 'cloud-4' -RoleArn $role -Verbose 4>&1 |
                Where-Object { $_ -is [System.Management.Automation.VerboseRecord] } | ForEach-Object Message

            ($verbose -match '^\[score\] ').Count | Should -BeGreaterThan 2
            ($verbose -match 'created processing job cloud-cloud-4-T-').Count | Should -Be 1
        }
    }

    Context "Given the seed's own example pipeline, whose first input prefix is empty" {
        It 'Should run to Completed without a data input and warn once' {
            $seed = New-SeedExampleRepository (Join-Path $TestDrive 'seed-cloud')
            $output = Invoke-RlabsPipeline -Path $seed.Pipeline -RepositoryPath $seed.Repository -InstanceType ml.t3.xlarge -JobId 'seed-c1' -RoleArn $role -WarningVariable seedWarnings -Verbose 3>$null 4>&1
            $run = $output | Where-Object { $_ -isnot [System.Management.Automation.VerboseRecord] }
            $logLines = $output | Where-Object { $_ -is [System.Management.Automation.VerboseRecord] } | ForEach-Object Message

            $run.Status | Should -Be 'Completed' -Because ($run.Steps | ForEach-Object { "$($_.FailureReason) $($_.LogTail -join ' | ')" })
            $seedWarnings | Should -HaveCount 1
            "$($seedWarnings[0])" | Should -Match "'sample_step'.*s3://sagemaker-eu-west-1-123456789012/rlabs/seed-cloud/data/data/seed-c1"
            $created = Get-EmulatorRequests sagemaker CreateProcessingJob
            $created.Count | Should -Be 1
            $created[0].parameters.ProcessingInputs.InputName | Should -Not -Contain 'data'
            $created[0].parameters.AppSpecification.ContainerArguments | Should -Contain '--input-data-path'
            $logLines | Should -Contain '[sample_step] sample_step ran notebook/sample_notebook.ipynb with train_id 1'
        }
    }

    Context 'Given -WhatIf' {
        It 'Should list the AWS calls and make none' {
            $before = (Invoke-AwsEmulatorAdmin $emulator GET requests).Count
            $result = Invoke-ChildPwsh -ArgumentList $env:RLABS_MODULE_PATH, $sample, $repo, $role -ScriptBlock {
                param($module, $sample, $repo, $role)
                Import-Module $module
                Invoke-RlabsPipeline -Path $sample -RepositoryPath $repo -InstanceType ml.m5.large -JobId 'dry' -RoleArn $role -WhatIf
            }
            $text = $result.Output -join "`n"

            $text | Should -Match 'sts:GetCallerIdentity'
            ([regex]::Matches($text, 'sagemaker:CreateProcessingJob')).Count | Should -Be 3
            $text | Should -Match 'ml\.m5\.large'
            (Invoke-AwsEmulatorAdmin $emulator GET requests).Count | Should -Be $before
        }
    }

    Context 'Given a job that fails' {
        It 'Should write ProcessingJobFailed with the reason and skip later steps' {
            $failing = Join-Path $repo 'pipelines/failing_cloud.yaml'
            (Get-Content $sample -Raw) -replace 'churn\.train', 'churn.missing_module' | Set-Content $failing

            $run = Invoke-RlabsPipeline -Path $failing -RepositoryPath $repo -InstanceType ml.t3.xlarge -JobId 'cloud-fail' -RoleArn $role -ErrorVariable errors -ErrorAction SilentlyContinue

            $run.Steps.Status | Should -Be @('Completed', 'Failed', 'Skipped')
            $errors[0].FullyQualifiedErrorId | Should -Be 'ProcessingJobFailed,Rlabs.Pipelines.Commands.InvokeRlabsPipelineCommand'
            $errors[0].Exception.Message | Should -Match 'AlgorithmError'
        }
    }

    Context 'Given -NoWait' {
        It 'Should return a running run that Wait-RlabsPipelineRun finishes from the pipeline' {
            $started = Invoke-RlabsPipeline -Path $sample -RepositoryPath $repo -InstanceType ml.t3.xlarge -JobId 'cloud-nowait' -RoleArn $role -NoWait -Engine Client

            $started.Status | Should -Be 'Running'
            (Get-EmulatorRequests sagemaker CreateProcessingJob).Count | Should -Be 1

            $done = $started | Wait-RlabsPipelineRun
            $done.Status | Should -Be 'Completed'
            (Get-EmulatorRequests sagemaker CreateProcessingJob).Count | Should -Be 3
            (Get-RlabsPipelineRun -JobId 'cloud-nowait' -ProjectName 'cloud').Status | Should -Be 'Completed'
        }

        It 'Should stop a started run with Stop-RlabsPipelineRun' {
            Invoke-AwsEmulatorAdmin $emulator POST sagemaker/job-behaviour @{ durationMs = 600000; outcome = 'Completed'; execute = $false } | Out-Null
            $started = Invoke-RlabsPipeline -Path $sample -RepositoryPath $repo -InstanceType ml.t3.xlarge -JobId 'cloud-stop' -RoleArn $role -NoWait -Engine Client

            $stopped = $started | Stop-RlabsPipelineRun -Confirm:$false -PassThru

            $stopped.Status | Should -Be 'Stopped'
            (Get-EmulatorRequests sagemaker StopProcessingJob).Count | Should -Be 1
            ($started | Wait-RlabsPipelineRun).Status | Should -Be 'Stopped'
            (Get-EmulatorRequests sagemaker CreateProcessingJob).Count | Should -Be 1
        }

        It 'Should report a run that does not exist' {
            Get-RlabsPipelineRun -JobId 'no-such-run' -ProjectName 'cloud' -ErrorVariable errors -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
            $errors[0].FullyQualifiedErrorId | Should -Be 'RunNotFound,Rlabs.Pipelines.Commands.GetRlabsPipelineRunCommand'
        }
    }

    Context 'Given the PowerShell process of a 4-step cloud run killed with SIGKILL, then -Resume' {
        BeforeAll {
            $killRepo = Join-Path $TestDrive 'kill-cloud'
            New-Item -ItemType Directory -Path (Join-Path $killRepo 'pipelines') -Force | Out-Null
            # Each step checks that every earlier step's output is in its input, so a Completed run is a correct one.
            Set-Content (Join-Path $killRepo 'kill_step.py') @'
import argparse, json, os, sys, time
p = argparse.ArgumentParser()
p.add_argument('-j', '--job-id', required=True)
p.add_argument('-ip', '--input-data-path')
p.add_argument('-o', '--output-data-path', required=True)
p.add_argument('-s', '--source-code-zip', required=True)
p.add_argument('-r', '--requirements-path', required=True)
p.add_argument('--sleep', default='0')
a, _ = p.parse_known_args()
name = os.environ['RLABS_STEP_NAME']
order = ['one', 'two', 'three', 'four']
seen = sorted(os.listdir(a.input_data_path)) if a.input_data_path else []
missing = [s for s in order[:order.index(name)] if s + '.json' not in seen]
if missing:
    sys.exit('missing the output of ' + ', '.join(missing))
time.sleep(float(a.sleep))
os.makedirs(a.output_data_path, exist_ok=True)
with open(os.path.join(a.output_data_path, name + '.json'), 'w') as f:
    json.dump({'seen': seen}, f)
print(name, 'saw', seen, flush=True)
'@
            Set-Content (Join-Path $killRepo 'requirements.txt') '# none'
            $killPipeline = Join-Path $killRepo 'pipelines/kill.yaml'
            @"
project: killrun
pipeline:
  - { name: one, job_suffix: A, code: kill_step.py, output_path: data, params: { sleep: "2" } }
  - { name: two, job_suffix: B, code: kill_step.py, input_data: "data/<job_id>", output_path: data, params: { sleep: "3" } }
  - { name: three, job_suffix: C, code: kill_step.py, input_data: "data/<job_id>", output_path: data, params: { sleep: "1" } }
  - { name: four, job_suffix: D, code: kill_step.py, input_data: "data/<job_id>", output_path: data }
"@ | Set-Content $killPipeline
        }

        It 'Should complete with one job per step and none left running when killed <Moment>' -ForEach @(
            @{ Moment = 'during the upload'; JobId = 'kill-upload' }
            @{ Moment = 'while a job runs'; JobId = 'kill-running' }
            @{ Moment = 'between two steps'; JobId = 'kill-between' }
            @{ Moment = 'right after a CreateProcessingJob'; JobId = 'kill-created' }
        ) {
            $log = Join-Path $TestDrive "$JobId.log"
            # The moment is made to last (a slow answer) where it would otherwise be a few milliseconds.
            switch ($Moment) {
                'during the upload' { Invoke-AwsEmulatorAdmin $emulator POST faults @{ service = 's3'; operation = 'PutObject'; kind = 'Latency'; delayMs = 30000; count = 1 } | Out-Null }
                'between two steps' { Invoke-AwsEmulatorAdmin $emulator POST faults @{ service = 's3'; operation = 'ListObjectsV2'; kind = 'Latency'; delayMs = 30000; count = 1 } | Out-Null }
            }
            $child = Start-ChildPwsh -LogPath $log -Command "Import-Module '$env:RLABS_MODULE_PATH'; Invoke-RlabsPipeline -Path '$killPipeline' -RepositoryPath '$killRepo' -InstanceType ml.t3.xlarge -JobId '$JobId' -RoleArn '$role'"
            try {
                $failed = "the moment never came: $(Get-Content $log -Raw -ErrorAction Ignore)"
                switch ($Moment) {
                    'during the upload' { Wait-Until { (Get-EmulatorRequests s3 PutObject).Count -ge 1 } -Message $failed }
                    'while a job runs' { Wait-Until { Get-EmulatorJobs $JobId | Where-Object { $_.environment.RLABS_STEP_NAME -eq 'two' -and $_.processingJobStatus -eq 'InProgress' } } -Message $failed }
                    'between two steps' { Wait-Until { (Get-EmulatorRequests s3 ListObjectsV2).Count -ge 1 } -Message $failed }
                    'right after a CreateProcessingJob' {
                        Wait-Until { (Get-EmulatorRequests sagemaker CreateProcessingJob | Where-Object statusCode -EQ 200).Count -ge 1 } -Message $failed
                        # Step one's job runs for 2 s: the next Create (step two's) is answered 30 s late, after the kill.
                        Invoke-AwsEmulatorAdmin $emulator POST faults @{ service = 'sagemaker'; operation = 'CreateProcessingJob'; kind = 'Latency'; delayMs = 30000; count = 1 } | Out-Null
                        Wait-Until { (Get-EmulatorRequests sagemaker CreateProcessingJob).Count -ge 2 } -Message $failed
                    }
                }
                $child.Kill()
                $child.WaitForExit(10000) | Should -BeTrue
            } finally {
                if (-not $child.HasExited) { $child.Kill() }
            }
            $before = @(Get-EmulatorJobs $JobId)
            switch ($Moment) {
                'during the upload' { $before.Count | Should -Be 0 }
                'while a job runs' { $before.environment.RLABS_STEP_NAME | Should -Be @('one', 'two') }
                'between two steps' { @($before.processingJobStatus) | Should -Be @('Completed') }
                'right after a CreateProcessingJob' { $before.environment.RLABS_STEP_NAME | Should -Be @('one', 'two') }
            }
            Invoke-AwsEmulatorAdmin $emulator DELETE faults | Out-Null

            $run = Invoke-RlabsPipeline -Path $killPipeline -RepositoryPath $killRepo -InstanceType ml.t3.xlarge -JobId $JobId -RoleArn $role -Resume

            $run.Status | Should -Be 'Completed' -Because ($run.Steps | ForEach-Object { "$($_.StepName): $($_.FailureReason) $($_.LogTail -join ' | ')" })
            $jobs = Get-EmulatorJobs $JobId
            # One job per step: no completed step ran again, no running job got a twin; every job ended.
            ($jobs.environment.RLABS_STEP_NAME | Sort-Object) | Should -Be @('four', 'one', 'three', 'two')
            $jobs.processingJobStatus | Should -Not -Contain 'InProgress'
            $jobs.processingJobStatus | Should -Not -Contain 'Stopping'
            @($jobs.processingJobStatus | Select-Object -Unique) | Should -Be @('Completed')
            foreach ($job in $before) { $run.Steps.JobName | Should -Contain $job.processingJobName }
        }
    }

    Context 'Given bad cloud settings' {
        It 'Should refuse a run without an execution role before calling AWS' {
            $before = (Invoke-AwsEmulatorAdmin $emulator GET requests).Count

            { Invoke-RlabsPipeline -Path $sample -RepositoryPath $repo -InstanceType ml.t3.xlarge -JobId 'norole' } |
                Should -Throw -ErrorId 'CloudRunInvalid,Rlabs.Pipelines.Commands.InvokeRlabsPipelineCommand'
            (Invoke-AwsEmulatorAdmin $emulator GET requests).Count | Should -Be $before
        }

        It 'Should map AWS access denied to PermissionDenied' {
            Invoke-AwsEmulatorAdmin $emulator POST faults @{ service = 'sagemaker'; operation = 'CreateProcessingJob'; kind = 'Error'; errorCode = 'AccessDeniedException'; statusCode = 400; message = 'not allowed' } | Out-Null

            $err = { Invoke-RlabsPipeline -Path $sample -RepositoryPath $repo -InstanceType ml.t3.xlarge -JobId 'denied' -RoleArn $role } | Should -Throw -PassThru

            $err.FullyQualifiedErrorId | Should -BeLike 'AwsCallFailed,*'
            $err.CategoryInfo.Category | Should -Be 'PermissionDenied'
        }

        It 'Should fail with a clear error when S3 denies the upload, and create no job' {
            Invoke-AwsEmulatorAdmin $emulator POST faults @{ service = 's3'; operation = 'PutObject'; kind = 'Error'; errorCode = 'AccessDenied'; statusCode = 403; message = 'Access Denied' } | Out-Null

            $err = { Invoke-RlabsPipeline -Path $sample -RepositoryPath $repo -InstanceType ml.t3.xlarge -JobId 's3-denied' -RoleArn $role } | Should -Throw -PassThru

            $err.FullyQualifiedErrorId | Should -BeLike 'AwsCallFailed,*'
            $err.CategoryInfo.Category | Should -Be 'PermissionDenied'
            $err.Exception.Message | Should -Match '^S3 PutObject failed: AccessDenied: Access Denied \[HTTP 403\]'
            (Get-EmulatorRequests sagemaker CreateProcessingJob).Count | Should -Be 0
        }
    }

    Context 'Given a credentials file' {
        It 'Should sign with its keys and never print its secrets' {
            $credentials = Join-Path $TestDrive 'cloud-credentials.yaml'
            "aws:`n  aws_access_key_id: AKIDFROMFILE`n  aws_secret_access_key: file-secret-xyz`nwarehouse:`n  password: wh-pass-xyz" | Set-Content $credentials

            $all = Invoke-RlabsPipeline -Path $sample -RepositoryPath $repo -InstanceType ml.t3.xlarge -JobId 'cloud-cred' -RoleArn $role -CredentialsFile $credentials -Verbose *>&1 | Out-String

            $all | Should -Not -Match 'file-secret-xyz|wh-pass-xyz'
            (Get-EmulatorRequests sagemaker CreateProcessingJob)[0].accessKeyId | Should -Be 'AKIDFROMFILE'
            (Get-EmulatorRequests sagemaker CreateProcessingJob | ConvertTo-Json -Depth 20) | Should -Not -Match 'wh-pass-xyz'
        }
    }
}
