BeforeAll {
    Import-Module $env:RLABS_MODULE_PATH -Force
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    $emulator = Start-TestAwsEmulator -AccessKeyId 'AKIDPESTERENGINE'
    $role = 'arn:aws:iam::123456789012:role/rlabs-sagemaker'

    # Four steps; each writes <step>.json under data/<job_id>. The last checks that it received the three
    # earlier outputs of its own job id and exits 3 otherwise, so a Completed run proves the data flowed.
    $repo = Join-Path $TestDrive 'engine'
    New-Item -ItemType Directory -Path (Join-Path $repo 'pipelines') -Force | Out-Null
    Set-Content -Path (Join-Path $repo 'requirements.txt') -Value '# none'
    Set-Content -Path (Join-Path $repo 'step.py') -Value @'
import argparse, json, os, sys, time
p = argparse.ArgumentParser()
for name in ('--job-id', '--output-data-path', '--source-code-zip', '--requirements-path'):
    p.add_argument(name, required=True)
p.add_argument('--input-data-path')
p.add_argument('--input-data-zip')
p.add_argument('--sleep', default='0')
p.add_argument('--fail', default='')
p.add_argument('--expect', default='')
args = p.parse_args()
name = os.environ['RLABS_STEP_NAME']
print('step', name, 'of job', args.job_id, flush=True)
time.sleep(float(args.sleep))
if args.fail:
    print('the model did not converge', flush=True)
    sys.exit(int(args.fail))
if args.expect:
    seen = sorted(os.listdir(args.input_data_path))
    jobs = {json.load(open(os.path.join(args.input_data_path, f)))['job'] for f in seen}
    if seen != args.expect.split(',') or jobs != {args.job_id}:
        print('unexpected input', seen, jobs, flush=True)
        sys.exit(3)
os.makedirs(args.output_data_path, exist_ok=True)
json.dump({'job': args.job_id}, open(os.path.join(args.output_data_path, name + '.json'), 'w'))
'@
    $pipeline = Join-Path $repo 'pipelines/four.yaml'
    Set-Content -Path $pipeline -Value @'
project: engine
pipeline:
  - { name: extract, job_suffix: X, code: step.py, output_path: data, params: { sleep: "3" } }
  - { name: clean, job_suffix: C, code: step.py, input_data: "data/<job_id>", output_path: data }
  - { name: train, job_suffix: T, code: step.py, input_data: "data/<job_id>", output_path: data }
  - { name: score, job_suffix: S, code: step.py, input_data: "data/<job_id>", output_path: data, params: { expect: "clean.json,extract.json,train.json" } }
'@
    $failing = Join-Path $repo 'pipelines/failing.yaml'
    Set-Content -Path $failing -Value @'
project: engine
pipeline:
  - { name: extract, job_suffix: X, code: step.py, output_path: data }
  - { name: train, job_suffix: T, code: step.py, input_data: "data/<job_id>", output_path: data, params: { fail: "7" } }
  - { name: score, job_suffix: S, code: step.py, input_data: "data/<job_id>", output_path: data }
'@

    # Cached steps, each in its own folder (a step's key covers the content of its input).
    $cached = Join-Path $repo 'pipelines/cached.yaml'
    Set-Content -Path $cached -Value @'
project: engine
cache: true
pipeline:
  - { name: extract, job_suffix: X, code: step.py, output_path: x }
  - { name: clean, job_suffix: C, code: step.py, input_data: "x/<job_id>", output_path: c }
  - { name: train, job_suffix: T, code: step.py, input_data: "c/<job_id>", output_path: t }
'@

    function Get-EmulatorCalls([string] $Service, [string] $Operation) {
        @(Invoke-AwsEmulatorAdmin $emulator GET "requests?service=$Service&operation=$Operation" | ForEach-Object { $_ }).Count
    }
    function Get-Executions {
        @((Invoke-AwsEmulatorAdmin $emulator GET 'sagemaker/pipeline-executions'))
    }
    # Every definition must validate against the published schema, read from outside the project at test time
    # by the validator the xunit tests share (it finds the schema beside the repository or RLABS_PIPELINE_SCHEMA).
    function Assert-DefinitionValid([string[]] $Definition) {
        $folder = Join-Path $TestDrive ('definitions-' + [guid]::NewGuid().ToString('N'))
        New-Item -ItemType Directory -Path $folder | Out-Null
        $files = @(for ($i = 0; $i -lt $Definition.Count; $i++) {
            $file = Join-Path $folder "definition$i.json"
            [IO.File]::WriteAllText($file, $Definition[$i])
            $file
        })
        $python = [OperatingSystem]::IsWindows() ? 'python' : '/usr/bin/python3'
        $violations = & $python (Join-Path $PSScriptRoot '../tools/validate-pipeline-definition.py') @files 2>&1
        $LASTEXITCODE | Should -Be 0 -Because "every definition must validate against the schema: $($violations -join "`n")"
    }
    function Get-SentDefinitions {
        @('CreatePipeline', 'UpdatePipeline' | ForEach-Object {
            Invoke-AwsEmulatorAdmin $emulator GET "requests?service=sagemaker&operation=$_" | ForEach-Object { $_ } | ForEach-Object { $_.parameters.PipelineDefinition }
        })
    }
    function Wait-ExecutionEnd([string] $JobId) {
        # Bounded wait for the emulator's own record of the execution (no client involved).
        foreach ($attempt in 1..600) {
            $execution = Get-Executions | Where-Object { $_.parameters.JobId -eq $JobId }
            if ($execution -and $execution.status -notin 'Executing', 'Stopping') { return $execution }
            Start-Sleep -Milliseconds 200
        }
        throw "The execution of $JobId did not end."
    }
}

AfterAll {
    Stop-TestAwsEmulator $emulator
}

Describe 'Invoke-RlabsPipeline on SageMaker Pipelines' -Tag 'Emulator' {
    BeforeEach {
        Invoke-AwsEmulatorAdmin $emulator POST reset | Out-Null
        Invoke-AwsEmulatorAdmin $emulator POST sagemaker/job-behaviour @{ durationMs = 0; outcome = 'Completed'; execute = $true } | Out-Null
    }
    AfterEach {
        # Whatever a test checks, every definition it sent (CreatePipeline, UpdatePipeline) validates.
        $sent = Get-SentDefinitions
        if ($sent.Count -gt 0) { Assert-DefinitionValid $sent }
    }

    Context 'Given -NoWait and a client that is killed right after the start' {
        It 'Should complete the execution server-side and show it Completed to a new process' {
            $started = Join-Path $TestDrive 'started.json'
            $pwsh = Join-Path $PSHOME ([OperatingSystem]::IsWindows() ? 'pwsh.exe' : 'pwsh')
            $launcher = (Test-Path $pwsh) ? @($pwsh) : @('dotnet', (Join-Path $PSHOME 'pwsh.dll'))
            $script = "Import-Module '$env:RLABS_MODULE_PATH'; " +
                "Invoke-RlabsPipeline -Path '$pipeline' -RepositoryPath '$repo' -InstanceType ml.t3.xlarge -JobId killed-1 -RoleArn '$role' -NoWait | Select-Object JobId, Status, Engine, PipelineExecutionArn | ConvertTo-Json -EnumsAsStrings | Set-Content '$started'; " +
                'Start-Sleep -Seconds 600'
            $child = Start-Process -FilePath $launcher[0] -ArgumentList (@($launcher | Select-Object -Skip 1) + @('-NoProfile', '-NonInteractive', '-Command', $script)) -PassThru
            try {
                foreach ($attempt in 1..600) {
                    if ((Test-Path $started) -and (Get-Content $started -Raw)) { break }
                    if ($child.HasExited) { throw "The child pwsh exited ($($child.ExitCode)) before starting the run." }
                    Start-Sleep -Milliseconds 200
                }
                $run = Get-Content $started -Raw | ConvertFrom-Json
                $run.Status | Should -Be 'Running'
                $run.Engine | Should -Be 'SageMakerPipelines'
                (Get-Executions)[0].status | Should -Be 'Executing'
            } finally {
                # kill -9: the client is gone without any chance to clean up or drive anything.
                if ([OperatingSystem]::IsWindows()) { Stop-Process -Id $child.Id -Force } else { & kill -9 $child.Id }
                $child.WaitForExit()
            }

            $execution = Wait-ExecutionEnd 'killed-1'

            $execution.status | Should -Be 'Succeeded' -Because ($execution.steps | ForEach-Object { "$($_.name): $($_.failureReason)" })
            $execution.steps.status | Should -Be @('Succeeded', 'Succeeded', 'Succeeded', 'Succeeded')
            $outputs = $execution.steps | ForEach-Object { $_.arguments.ProcessingOutputConfig.Outputs[0].S3Output.S3Uri }
            $outputs | Should -Be @(1..4 | ForEach-Object { 's3://sagemaker-eu-west-1-123456789012/rlabs/engine/data/data/killed-1/' })
            @(Invoke-AwsEmulatorAdmin $emulator GET 'requests?service=sagemaker&operation=CreateProcessingJob' | ForEach-Object { $_ }).Count | Should -Be 0
            $read = Invoke-ChildPwsh -ScriptBlock {
                param($module)
                Import-Module $module
                $r = Get-RlabsPipelineRun -JobId killed-1 -ProjectName engine
                "$($r.Status)|$($r.Engine)|$(($r.Steps.Status) -join ',')"
            } -ArgumentList $env:RLABS_MODULE_PATH
            $read.Output[-1] | Should -Be 'Completed|SageMakerPipelines|Completed,Completed,Completed,Completed'
        }
    }

    Context 'Given an attached run whose step fails' {
        It 'Should fail the execution with the exit code and the log tail in the error' {
            $run = Invoke-RlabsPipeline -Path $failing -RepositoryPath $repo -InstanceType ml.t3.xlarge -JobId fail-1 -RoleArn $role -Engine SageMakerPipelines -ErrorVariable errors -ErrorAction SilentlyContinue

            $run.Status | Should -Be 'Failed'
            $run.Steps.Status | Should -Be @('Completed', 'Failed', 'Skipped')
            $run.Steps[1].ExitCode | Should -Be 7
            $run.Steps[1].LogTail | Should -Contain 'the model did not converge'
            $errors[0].FullyQualifiedErrorId | Should -Be 'ProcessingJobFailed,Rlabs.Pipelines.Commands.InvokeRlabsPipelineCommand'
            $errors[0].Exception.Message | Should -Match 'exit code 7'
            $errors[0].ErrorDetails.RecommendedAction | Should -Match '-Engine SageMakerPipelines -Resume'
            $errors[0].TargetObject.LogTail | Should -Contain 'the model did not converge'
            (Get-Executions)[0].status | Should -Be 'Failed'
        }
    }

    Context 'Given a run that is stopped' {
        It 'Should stop the running job with Stop-RlabsPipelineRun' {
            Invoke-AwsEmulatorAdmin $emulator POST sagemaker/pipeline-step-behaviour @{ stepName = 'extract'; attempts = @(@{ durationMs = 600000; outcome = 'Completed'; execute = $false }) } | Out-Null
            $started = Invoke-RlabsPipeline -Path $pipeline -RepositoryPath $repo -InstanceType ml.t3.xlarge -JobId stop-1 -RoleArn $role -NoWait
            foreach ($attempt in 1..600) {
                if ((Get-RlabsPipelineRun -JobId stop-1 -ProjectName engine).Steps[0].Status -eq 'Running') { break }
                Start-Sleep -Milliseconds 200
            }

            $stopped = $started | Stop-RlabsPipelineRun -Confirm:$false -PassThru

            $stopped.Status | Should -Be 'Stopped'
            (Wait-ExecutionEnd 'stop-1').status | Should -Be 'Stopped'
            $after = $started | Wait-RlabsPipelineRun
            $after.Status | Should -Be 'Stopped'
            $after.Steps.Status | Should -Be @('Stopped', 'Skipped', 'Skipped', 'Skipped')
        }
    }

    Context 'Given a cached pipeline that ran once' {
        It 'Should run no processing job the second time, and only the edited step and those after it after an edit' {
            $first = Invoke-RlabsPipeline -Path $cached -RepositoryPath $repo -InstanceType ml.t3.xlarge -JobId cache-1 -RoleArn $role -Engine SageMakerPipelines
            $first.Status | Should -Be 'Completed'

            $second = Invoke-RlabsPipeline -Path $cached -RepositoryPath $repo -InstanceType ml.t3.xlarge -JobId cache-2 -RoleArn $role -Engine SageMakerPipelines

            $second.Status | Should -Be 'Completed'
            ($second.Steps | ForEach-Object { "$($_.StepName)=$($_.Status):$($_.CachedFrom)" }) | Should -Be @('extract=Cached:cache-1', 'clean=Cached:cache-1', 'train=Cached:cache-1')
            @(Get-Executions).Count | Should -Be 1
            (Get-RlabsPipelineRun -JobId cache-2 -ProjectName engine).Status | Should -Be 'Completed'

            (Get-Content -Raw $cached).Replace('output_path: c }', 'output_path: c, params: { sleep: "0" } }') | Set-Content -Path $cached
            $edited = Invoke-RlabsPipeline -Path $cached -RepositoryPath $repo -InstanceType ml.t3.xlarge -JobId cache-3 -RoleArn $role -Engine SageMakerPipelines

            ($edited.Steps | ForEach-Object { "$($_.StepName)=$($_.Status)" }) | Should -Be @('extract=Cached', 'clean=Completed', 'train=Completed')
            $executions = @(Get-Executions)
            $executions.Count | Should -Be 2
            ($executions[-1].steps | Where-Object { $_.jobNames.Count -gt 0 } | ForEach-Object name) | Should -Be @('clean', 'train')
        }
    }

    Context 'Given a cached pipeline started with -NoWait' {
        It 'Should record the keys when Wait-RlabsPipelineRun sees the steps succeed, so the next -NoWait run is Completed at once' {
            $first = Invoke-RlabsPipeline -Path $cached -RepositoryPath $repo -InstanceType ml.t3.xlarge -JobId nowait-1 -RoleArn $role -NoWait
            $first.Status | Should -Be 'Running'
            ($first | Wait-RlabsPipelineRun).Status | Should -Be 'Completed'

            $second = Invoke-RlabsPipeline -Path $cached -RepositoryPath $repo -InstanceType ml.t3.xlarge -JobId nowait-2 -RoleArn $role -NoWait

            $second.Status | Should -Be 'Completed'
            ($second.Steps | ForEach-Object { "$($_.StepName)=$($_.Status):$($_.CachedFrom)" }) | Should -Be @('extract=Cached:nowait-1', 'clean=Cached:nowait-1', 'train=Cached:nowait-1')
            @(Get-Executions).Count | Should -Be 1
        }
    }

    Context 'Given -Resume of a failed run whose pipeline file changed since' {
        It 'Should start one selective execution from the failed one, of the failed step and those after it' {
            $resumable = Join-Path $repo 'pipelines/resumable.yaml'
            Get-Content -Raw $failing | Set-Content -Path $resumable
            $first = Invoke-RlabsPipeline -Path $resumable -RepositoryPath $repo -InstanceType ml.t3.xlarge -JobId edit-1 -RoleArn $role -Engine SageMakerPipelines -ErrorAction SilentlyContinue
            $first.Status | Should -Be 'Failed'
            (Get-Content -Raw $resumable).Replace(', params: { fail: "7" }', '') | Set-Content -Path $resumable

            $resumed = Invoke-RlabsPipeline -Path $resumable -RepositoryPath $repo -InstanceType ml.t3.xlarge -JobId edit-1 -RoleArn $role -Engine SageMakerPipelines -Resume -WarningVariable warned -WarningAction SilentlyContinue

            $resumed.Status | Should -Be 'Completed'
            ($resumed.Steps | ForEach-Object { "$($_.StepName)=$($_.Status):$($_.CachedFrom)" }) | Should -Be @('extract=Completed:edit-1', 'train=Completed:', 'score=Completed:')
            $resumed.PipelineExecutionArn | Should -Not -Be $first.PipelineExecutionArn
            (Get-EmulatorCalls sagemaker RetryPipelineExecution) | Should -Be 0
            $executions = @(Get-Executions)
            $executions.Count | Should -Be 2
            ($executions[-1].steps | Where-Object { $_.jobNames.Count -gt 0 } | ForEach-Object name) | Should -Be @('train', 'score')
            "$warned" | Should -Match 'the pipeline changed since execution'
        }

        It 'Should refuse to resume from a pipeline file that moved, naming where it ran from' {
            $original = Join-Path $repo 'pipelines/original.yaml'
            Get-Content -Raw $failing | Set-Content -Path $original
            Invoke-RlabsPipeline -Path $original -RepositoryPath $repo -InstanceType ml.t3.xlarge -JobId moved-1 -RoleArn $role -Engine SageMakerPipelines -ErrorAction SilentlyContinue | Out-Null
            $moved = Join-Path $repo 'pipelines/renamed.yaml'
            (Get-Content -Raw $original).Replace(', params: { fail: "7" }', '') | Set-Content -Path $moved

            { Invoke-RlabsPipeline -Path $moved -RepositoryPath $repo -InstanceType ml.t3.xlarge -JobId moved-1 -RoleArn $role -Engine SageMakerPipelines -Resume } |
                Should -Throw -ErrorId 'ResumePipelineMoved,Rlabs.Pipelines.Commands.InvokeRlabsPipelineCommand' -ExpectedMessage "*from $original*"
            @(Get-Executions).Count | Should -Be 1
        }
    }

    Context 'Given -Step with -ReferenceJobId' {
        It 'Should run only that step as a selective execution, the others from the reference run' {
            Invoke-RlabsPipeline -Path $cached -RepositoryPath $repo -InstanceType ml.t3.xlarge -JobId ref-1 -RoleArn $role -Engine SageMakerPipelines -NoCache | Out-Null

            $run = Invoke-RlabsPipeline -Path $cached -RepositoryPath $repo -InstanceType ml.t3.xlarge -JobId ref-2 -RoleArn $role -Engine SageMakerPipelines -Step train -ReferenceJobId ref-1 -NoCache

            $run.Status | Should -Be 'Completed'
            ($run.Steps | ForEach-Object { "$($_.StepName)=$($_.CachedFrom)" }) | Should -Be @('extract=ref-1', 'clean=ref-1', 'train=')
            $executions = @(Get-Executions)
            $executions.Count | Should -Be 2
            ($executions[-1].steps | Where-Object { $_.jobNames.Count -gt 0 } | ForEach-Object name) | Should -Be @('train')
        }
    }

    Context 'Given -Resume of a failed run' {
        It 'Should retry the execution and rerun only the failed step and those after it' {
            Invoke-AwsEmulatorAdmin $emulator POST sagemaker/pipeline-step-behaviour @{ stepName = 'train'; attempts = @(@{ outcome = 'Failed'; failureReason = 'AlgorithmError: killed (exit code 137)' }, @{ execute = $true }) } | Out-Null
            $first = Invoke-RlabsPipeline -Path $pipeline -RepositoryPath $repo -InstanceType ml.t3.xlarge -JobId resume-1 -RoleArn $role -Engine SageMakerPipelines -ErrorAction SilentlyContinue
            $first.Status | Should -Be 'Failed'

            $resumed = Invoke-RlabsPipeline -Path $pipeline -RepositoryPath $repo -InstanceType ml.t3.xlarge -JobId resume-1 -RoleArn $role -Engine SageMakerPipelines -Resume

            $resumed.Status | Should -Be 'Completed'
            $resumed.PipelineExecutionArn | Should -Be $first.PipelineExecutionArn
            $execution = @(Get-Executions)
            $execution.Count | Should -Be 1
            ($execution[0].steps | ForEach-Object { "$($_.name)=$($_.jobNames.Count)" }) | Should -Be @('extract=1', 'clean=1', 'train=2', 'score=1')
        }
    }

    Context 'Given -WhatIf' {
        It 'Should list the definition and every call without making one' {
            $before = @(Invoke-AwsEmulatorAdmin $emulator GET requests).Count
            $result = Invoke-ChildPwsh -ArgumentList $env:RLABS_MODULE_PATH, $pipeline, $repo, $role -ScriptBlock {
                param($module, $pipeline, $repo, $role)
                Import-Module $module
                Invoke-RlabsPipeline -Path $pipeline -RepositoryPath $repo -InstanceType ml.t3.xlarge -JobId whatif-1 -RoleArn $role -NoWait -WhatIf
            }

            @(Invoke-AwsEmulatorAdmin $emulator GET requests).Count | Should -Be $before
            $text = $result.Output -join "`n"
            $text | Should -Match 'SageMaker pipeline rlabs-engine-four-[0-9a-f]{8}: definition sha256 [0-9a-f]{12}, 4 Processing steps'
            $text | Should -Match 'step train \(after clean\)'
            $text | Should -Match 'sagemaker:StartPipelineExecution'
            $text | Should -Match 'sagemaker\.amazonaws\.com'
        }

        It 'Should say for each cached step whether it runs or is cached, and whether that is certain' {
            Invoke-RlabsPipeline -Path $cached -RepositoryPath $repo -InstanceType ml.t3.xlarge -JobId plan-1 -RoleArn $role -Engine SageMakerPipelines | Out-Null
            (Get-Content -Raw $cached).Replace('output_path: x }', 'output_path: x, params: { rows: "5" } }') | Set-Content -Path (Join-Path $repo 'pipelines/cached-edited.yaml')
            $result = Invoke-ChildPwsh -ArgumentList $env:RLABS_MODULE_PATH, $cached, (Join-Path $repo 'pipelines/cached-edited.yaml'), $repo, $role -ScriptBlock {
                param($module, $cached, $edited, $repo, $role)
                Import-Module $module
                $bucket = 'sagemaker-eu-west-1-123456789012'
                Invoke-RlabsPipeline -Path $cached -RepositoryPath $repo -InstanceType ml.t3.xlarge -JobId plan-2 -RoleArn $role -Bucket $bucket -NoWait -WhatIf
                Invoke-RlabsPipeline -Path $edited -RepositoryPath $repo -InstanceType ml.t3.xlarge -JobId plan-3 -RoleArn $role -Bucket $bucket -NoWait -WhatIf
                # Without -Bucket the default bucket's name needs the account, which -WhatIf does not ask for.
                Invoke-RlabsPipeline -Path $cached -RepositoryPath $repo -InstanceType ml.t3.xlarge -JobId plan-4 -RoleArn $role -NoWait -WhatIf
            }

            $text = $result.Output -join "`n"
            $text | Should -Match "Step 'extract' cached \(certain\): reuses the output of job plan-1"
            $text | Should -Match "Step 'clean' depends on upstream results: its key is decided at the start, once the output of step 'extract' is copied"
            $text | Should -Match "Step 'train' depends on upstream results: cached only if step 'clean' is"
            $text | Should -Match "Step 'extract' runs \(certain\): cache miss: params changed since job plan-1"
            $text | Should -Match "Step 'train' runs \(certain\): step 'clean', which it depends on, runs"
            $text | Should -Match "Step 'extract' cache: decided at the start \(the default bucket is named after the account, which -WhatIf does not look up; give -Bucket"
            @(Get-Executions).Count | Should -Be 1
        }
    }
}

Describe 'Export-RlabsPipelineDefinition' -Tag 'Emulator' {
    BeforeEach {
        Invoke-AwsEmulatorAdmin $emulator POST reset | Out-Null
    }

    It 'Should return the definition the engine runs, with no AWS call when the bucket is given' {
        $json = Export-RlabsPipelineDefinition -Path $pipeline -RepositoryPath $repo -InstanceType ml.t3.medium -RoleArn $role -Bucket my-team-bucket

        Assert-DefinitionValid $json
        $definition = $json | ConvertFrom-Json
        $definition.Version | Should -Be '2020-12-01'
        $definition.Parameters.Name | Should -Be 'JobId'
        $definition.Steps.Name | Should -Be @('extract', 'clean', 'train', 'score')
        $definition.Steps[2].DependsOn | Should -Be @('clean')
        $definition.Steps[0].Arguments.ProcessingResources.ClusterConfig.InstanceType | Should -Be 'ml.t3.medium'
        $definition.Steps[0].Arguments.ProcessingOutputConfig.Outputs[0].S3Output.S3Uri.'Std:Join'.Values[0] | Should -Be 's3://my-team-bucket/rlabs/engine/data/data/'
        @(Invoke-AwsEmulatorAdmin $emulator GET requests | ForEach-Object { $_ }).Count | Should -Be 0
    }

    It 'Should write the file only without -WhatIf' {
        $out = Join-Path $TestDrive 'four.sagemaker.json'
        Export-RlabsPipelineDefinition -Path $pipeline -RepositoryPath $repo -InstanceType ml.t3.medium -RoleArn $role -OutFile $out -WhatIf
        Test-Path $out | Should -BeFalse

        $file = Export-RlabsPipelineDefinition -Path $pipeline -RepositoryPath $repo -InstanceType ml.t3.medium -RoleArn $role -OutFile $out

        $file.FullName | Should -Be $out
        (Get-Content $out -Raw | ConvertFrom-Json).Steps.Count | Should -Be 4
        Assert-DefinitionValid (Get-Content $out -Raw)
        # No -Bucket: each export (the -WhatIf one too; it reads, it changes nothing) learns the account for the default bucket.
        (Get-EmulatorCalls sts GetCallerIdentity) | Should -Be 2
    }

    It 'Should refuse a pipeline whose steps run locally' {
        { Export-RlabsPipelineDefinition -Path $pipeline -RepositoryPath $repo -InstanceType local -RoleArn $role -Bucket b } |
            Should -Throw -ErrorId 'LocalPipelineNotExportable,Rlabs.Pipelines.Commands.ExportRlabsPipelineDefinitionCommand'
    }
}

