BeforeAll {
    Import-Module $env:RLABS_MODULE_PATH -Force
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    $testImage = if ($env:RLABS_TEST_IMAGE) { $env:RLABS_TEST_IMAGE } else { 'rlabs-test-python:bookworm' }

    function New-ContainerRepository([string] $Name, [string] $Image) {
        # The examples repository with a pipeline-level image, as a user would add it.
        $repo = Copy-ExampleRepository (Join-Path $TestDrive $Name)
        $yaml = Join-Path $repo 'pipelines/sample_pipeline.yaml'
        if ($Image) { Set-Content $yaml -Value ("image: `"$Image`"`n" + (Get-Content $yaml -Raw)) -NoNewline }
        $repo
    }
}

Describe 'Invoke-RlabsPipeline -LocalRuntime' -Tag 'Container' {
    Context 'Given a container engine with the step image' {
        BeforeAll {
            $engineProblem = Get-TestEngineProblem -Image $testImage
            if (-not $engineProblem) {
                $repo = New-ContainerRepository 'container' $testImage
                $sample = Join-Path $repo 'pipelines/sample_pipeline.yaml'
                $verbose = Invoke-RlabsPipeline -Path $sample -RepositoryPath $repo -InstanceType local -LocalRuntime Container -JobId 'pc-1' -Verbose 4>&1
                $run = $verbose | Where-Object { $_ -isnot [System.Management.Automation.VerboseRecord] }
                $logLines = $verbose | Where-Object { $_ -is [System.Management.Automation.VerboseRecord] } | ForEach-Object Message
                $processRun = Invoke-RlabsPipeline -Path $sample -RepositoryPath $repo -InstanceType local -JobId 'pp-1'
            }
        }
        BeforeEach {
            if ($engineProblem) { Set-ItResult -Skipped -Because $engineProblem }
        }

        It 'Should run every step in a container and say so in the run object' {
            $run.Status | Should -Be 'Completed'
            $run.Steps.Runtime | Should -Be @('Container', 'Container', 'Container')
            $run.Steps.ExitCode | Should -Be @(0, 0, 0)
            $run.Steps[0].Command | Select-Object -First 2 | Should -Be @('python3', '/opt/ml/processing/input/code/sagemaker_code_script.py')
        }

        It 'Should write the same metrics as the process runtime' {
            $processRun.Steps.Runtime | Should -Be @('Process', 'Process', 'Process')
            $container = (Get-Content (Join-Path $run.DataRoot 'data/pc-1/scores/metrics.json') -Raw) -replace 'pc-1', '<job>'
            $process = (Get-Content (Join-Path $processRun.DataRoot 'data/pp-1/scores/metrics.json') -Raw) -replace 'pp-1', '<job>'
            $container | Should -Be $process
        }

        It 'Should say in -Verbose which runtime and image each step used and stream the step output' {
            $logLines | Should -Contain "[train] runtime Container: image $testImage, network none, user $((& id -u)):$((& id -g))"
            ($logLines -match '^\[score\] \[sagemaker_code_script\] ').Count | Should -BeGreaterThan 1
            Get-Content $run.Steps[2].LogPath -Raw | Should -Match '# exit code 0'
        }

        It 'Should choose the container in Auto because the image is present' {
            $auto = Invoke-RlabsPipeline -Path $sample -RepositoryPath $repo -InstanceType local -LocalRuntime Auto -JobId 'pa-1'
            $auto.Status | Should -Be 'Completed'
            $auto.Steps.Runtime | Should -Be @('Container', 'Container', 'Container')
        }
    }

    Context 'Given a SageMaker image the engine does not have' -Tag 'Emulator' {
        BeforeAll {
            $engineProblem = Get-TestEngineProblem -Image $testImage
            if (-not $engineProblem) {
                Import-Module (Join-Path $env:RLABS_EMULATOR_DIR 'AwsEmulator.psm1') -Force
                $emulator = Start-AwsEmulator -EmulatorDll (Join-Path $env:RLABS_EMULATOR_DIR 'Rlabs.Pipelines.AwsEmulator.dll')
                $savedAws = @{}
                foreach ($name in 'AWS_ENDPOINT_URL', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_REGION', 'AWS_PROFILE') {
                    $savedAws[$name] = [Environment]::GetEnvironmentVariable($name)
                }
                $env:AWS_ENDPOINT_URL = $emulator.Url
                $env:AWS_ACCESS_KEY_ID = 'AKIDPESTERECR'
                $env:AWS_SECRET_ACCESS_KEY = 'pester-secret'
                $env:AWS_REGION = $null
                $env:AWS_PROFILE = $null
                $repo = New-ContainerRepository 'ecr' $null
                $sample = Join-Path $repo 'pipelines/sample_pipeline.yaml'
            }
        }
        AfterAll {
            if ($emulator) {
                Stop-AwsEmulator $emulator
                foreach ($name in $savedAws.Keys) { [Environment]::SetEnvironmentVariable($name, $savedAws[$name]) }
            }
        }
        BeforeEach {
            if ($engineProblem) { Set-ItResult -Skipped -Because $engineProblem }
        }

        It 'Should log in to ECR with the AWS session, try the pull and fail the step naming the image and how to get it' {
            $image = '141502667606.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3'
            $run = Invoke-RlabsPipeline -Path $sample -RepositoryPath $repo -InstanceType local -LocalRuntime Container -Region eu-west-1 -JobId 'ecr-1' -ErrorAction SilentlyContinue -ErrorVariable stepErrors

            $run.Status | Should -Be 'Failed'
            $run.Steps[0].Runtime | Should -Be 'Container'
            $run.Steps[0].FailureReason | Should -BeLike "The image '$image' is not on this computer and could not be pulled*"
            $run.Steps[0].FailureReason | Should -BeLike '*aws ecr get-login-password --region eu-west-1*'
            $stepErrors[0].FullyQualifiedErrorId | Should -Be 'StepFailed,Rlabs.Pipelines.Commands.InvokeRlabsPipelineCommand'
            $logins = @(Invoke-AwsEmulatorAdmin $emulator GET 'requests?service=ecr&operation=GetAuthorizationToken')
            $logins.Count | Should -Be 1
            $logins[0].Region | Should -Be 'eu-west-1'
        }
    }

    Context "Given the seed's own example pipeline, whose first input nothing has written" {
        BeforeAll {
            $engineProblem = Get-TestEngineProblem -Image $testImage
            # The seed's YAML names no image: the step runs in the SageMaker default image of the region, which
            # the engine has under that name here (the test image tagged so; a region no other test uses).
            $defaultImage = '492215442770.dkr.ecr.eu-central-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3'
            if (-not $engineProblem) {
                & docker tag $testImage $defaultImage
                if ($LASTEXITCODE -ne 0) { throw "docker tag $testImage $defaultImage failed" }
                $seed = New-SeedExampleRepository (Join-Path $TestDrive 'seed-container')
            }
        }
        AfterAll {
            if (-not $engineProblem) { & docker image rm $defaultImage | Out-Null }
        }
        BeforeEach {
            if ($engineProblem) { Set-ItResult -Skipped -Because $engineProblem }
        }

        It 'Should run to Completed in a container with an empty input folder and warn once' {
            $run = Invoke-RlabsPipeline -Path $seed.Pipeline -RepositoryPath $seed.Repository -InstanceType local -LocalRuntime Container -Region eu-central-1 -JobId 'seed-k1' -WarningVariable seedWarnings 3>$null

            $run.Status | Should -Be 'Completed' -Because ($run.Steps | ForEach-Object { "$($_.FailureReason) $($_.LogTail -join ' | ')" })
            $run.Steps[0].Runtime | Should -Be 'Container'
            $result = Get-Content (Join-Path $run.DataRoot 'data/seed-k1/result.json') -Raw | ConvertFrom-Json
            $result.inputs | Should -HaveCount 0
            $result.train_id | Should -Be '1'
            $seedWarnings | Should -HaveCount 1
            "$($seedWarnings[0])" | Should -Match "'sample_step'"
        }
    }

    Context 'Given no container engine' {
        BeforeAll {
            $savedHost = $env:DOCKER_HOST
            $env:DOCKER_HOST = 'unix://' + (Join-Path $TestDrive 'no-engine.sock')
            $repo = New-ContainerRepository 'noengine' 'some/image:1'
            $sample = Join-Path $repo 'pipelines/sample_pipeline.yaml'
        }
        AfterAll {
            $env:DOCKER_HOST = $savedHost
        }

        It 'Should stop before anything runs with -LocalRuntime Container' {
            { Invoke-RlabsPipeline -Path $sample -RepositoryPath $repo -InstanceType local -LocalRuntime Container -JobId 'ne-1' -ErrorAction Stop } |
                Should -Throw -ErrorId 'ContainerEngineUnavailable,Rlabs.Pipelines.Commands.InvokeRlabsPipelineCommand'
            Join-Path $repo '.rlabs/runs/ne-1' | Should -Not -Exist
        }

        It 'Should run the steps as processes with -LocalRuntime Auto' {
            $output = Invoke-RlabsPipeline -Path $sample -RepositoryPath $repo -InstanceType local -LocalRuntime Auto -JobId 'ne-2' -Verbose 4>&1
            $run = $output | Where-Object { $_ -isnot [System.Management.Automation.VerboseRecord] }
            $messages = $output | Where-Object { $_ -is [System.Management.Automation.VerboseRecord] } | ForEach-Object Message
            $run.Status | Should -Be 'Completed'
            $run.Steps.Runtime | Should -Be @('Process', 'Process', 'Process')
            $messages | Where-Object { $_ -like '`[train`] runtime Auto chose Process: No container engine answered at unix://*no-engine.sock*' } | Should -Not -BeNullOrEmpty
            $messages | Where-Object { $_ -like '`[train`] runtime Process: *' } | Should -Not -BeNullOrEmpty
        }

        It 'Should keep Process the default' {
            $run = Invoke-RlabsPipeline -Path $sample -RepositoryPath $repo -InstanceType local -JobId 'ne-3'
            $run.Steps.Runtime | Should -Be @('Process', 'Process', 'Process')
        }
    }

    Context 'Given a pipeline without an image' {
        BeforeAll {
            $repo = New-ContainerRepository 'noimage' $null
            $sample = Join-Path $repo 'pipelines/sample_pipeline.yaml'
            $savedRegions = $env:AWS_REGION, $env:AWS_DEFAULT_REGION
            $env:AWS_REGION = $null; $env:AWS_DEFAULT_REGION = $null
        }
        AfterAll {
            $env:AWS_REGION, $env:AWS_DEFAULT_REGION = $savedRegions
        }

        It 'Should ask for image: or -Region when no region is known' {
            { Invoke-RlabsPipeline -Path $sample -RepositoryPath $repo -InstanceType local -LocalRuntime Container -ErrorAction Stop } |
                Should -Throw -ErrorId 'ContainerImageUnknown,Rlabs.Pipelines.Commands.InvokeRlabsPipelineCommand'
        }

        It 'Should plan the SageMaker scikit-learn image of -Region' {
            $result = Invoke-ChildPwsh -ArgumentList $env:RLABS_MODULE_PATH, $repo -ScriptBlock {
                param($module, $repo)
                Import-Module $module
                Invoke-RlabsPipeline -Path (Join-Path $repo 'pipelines/sample_pipeline.yaml') -RepositoryPath $repo -InstanceType local -LocalRuntime Container -Region eu-west-1 -JobId 'wi' -WhatIf
            }
            $output = $result.Output -join "`n"
            $output | Should -Match 'Runtime Container'
            $output | Should -Match ([regex]::Escape('image 141502667606.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3 (network none)'))
            $output | Should -Match ([regex]::Escape('python3 /opt/ml/processing/input/code/sagemaker_code_script.py --job-id wi --output-data-path /opt/ml/processing/output'))
        }
    }

    Context 'Given a value that is not a runtime' {
        It 'Should refuse it when binding' {
            { Invoke-RlabsPipeline -Path 'x.yaml' -InstanceType local -LocalRuntime Docker -ErrorAction Stop } |
                Should -Throw -ErrorId 'ParameterArgumentValidationError,Rlabs.Pipelines.Commands.InvokeRlabsPipelineCommand'
        }
    }
}
