BeforeAll {
    Import-Module $env:RLABS_MODULE_PATH -Force
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-Module (Join-Path $env:RLABS_EMULATOR_DIR 'AwsEmulator.psm1') -Force
    $emulator = Start-AwsEmulator -EmulatorDll (Join-Path $env:RLABS_EMULATOR_DIR 'Rlabs.Pipelines.AwsEmulator.dll')
    $saved = @{}
    foreach ($name in 'AWS_ENDPOINT_URL', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_REGION', 'AWS_PROFILE') {
        $saved[$name] = [Environment]::GetEnvironmentVariable($name)
    }
    $env:AWS_ENDPOINT_URL = $emulator.Url
    $env:AWS_ACCESS_KEY_ID = 'AKIDPESTERCLOUD'
    $env:AWS_SECRET_ACCESS_KEY = 'pester-secret'
    $env:AWS_REGION = 'eu-west-1'
    $env:AWS_PROFILE = $null
    $repo = Copy-ExampleRepository (Join-Path $TestDrive 'cloud')
    $sample = Join-Path $repo 'pipelines/sample_pipeline.yaml'
    $role = 'arn:aws:iam::123456789012:role/rlabs-sagemaker'
    function Get-EmulatorRequests([string] $Service, [string] $Operation) {
        @((Invoke-AwsEmulatorAdmin $emulator GET "requests?service=$Service&operation=$Operation"))
    }
}

AfterAll {
    if ($emulator) { Stop-AwsEmulator $emulator }
    foreach ($name in $saved.Keys) { [Environment]::SetEnvironmentVariable($name, $saved[$name]) }
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
