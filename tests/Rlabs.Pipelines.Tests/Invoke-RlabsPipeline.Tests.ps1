BeforeAll {
    Import-Module $env:RLABS_MODULE_PATH -Force
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    $repo = Copy-ExampleRepository (Join-Path $TestDrive 'examples')
    $sample = Join-Path $repo 'pipelines/sample_pipeline.yaml'
}

Describe 'Invoke-RlabsPipeline' {
    Context 'Given the sample pipeline run locally' {
        BeforeAll {
            $verbose = Invoke-RlabsPipeline -Path $sample -RepositoryPath $repo -InstanceType local -JobId 'pester-1' -Verbose 4>&1
            $run = $verbose | Where-Object { $_ -isnot [System.Management.Automation.VerboseRecord] }
            $logLines = $verbose | Where-Object { $_ -is [System.Management.Automation.VerboseRecord] } | ForEach-Object Message
        }

        It 'Should return a completed typed run' {
            $run.GetType().FullName | Should -Be 'Rlabs.Pipelines.RlabsPipelineRun'
            $run.Status | Should -Be 'Completed'
            $run.JobId | Should -Be 'pester-1'
            $run.InstanceType | Should -Be 'local'
            $run.Steps.StepName | Should -Be @('prepare', 'train', 'score')
            $run.Steps.Status | Should -Be @('Completed', 'Completed', 'Completed')
            $run.Steps.ExitCode | Should -Be @(0, 0, 0)
            $run.Duration | Should -BeOfType [timespan]
        }

        It 'Should hand data from step to step through <output_path>/<job_id>' {
            $data = Join-Path $repo '.rlabs/data/data/pester-1'
            Join-Path $data 'prepared/train.csv' | Should -Exist
            Join-Path $data 'model/model.json' | Should -Exist
            $metrics = Get-Content (Join-Path $data 'scores/metrics.json') -Raw | ConvertFrom-Json
            $metrics.accuracy | Should -BeGreaterThan 0.5
            $run.Steps[2].OutputLocation | Should -Be $data
        }

        It 'Should stream step output to -Verbose and keep a log per step' {
            $logLines | Should -Contain '[train] starting job examples-pester-1-T'
            ($logLines -match '^\[score\] ').Count | Should -BeGreaterThan 1
            foreach ($step in $run.Steps) { $step.LogPath | Should -Exist }
            Get-Content $run.Steps[0].LogPath -Raw | Should -Match 'exit code 0'
        }

        It 'Should keep runs out of git with its own .gitignore' {
            Get-Content (Join-Path $repo '.rlabs/.gitignore') | Should -Contain '*'
        }

        It 'Should format the run and its steps as tables' {
            ($run | Out-String) | Should -Match 'JobId\s+Pipeline\s+Status'
            ($run.Steps | Out-String) | Should -Match 'Step\s+Status\s+Runtime\s+Duration\s+Exit\s+JobName'
        }
    }

    Context "Given the seed's own example pipeline, whose first input nothing has written" {
        BeforeAll {
            $seed = New-SeedExampleRepository (Join-Path $TestDrive 'seed')
            $seedRun = Invoke-RlabsPipeline -Path $seed.Pipeline -RepositoryPath $seed.Repository -InstanceType local -JobId 'seed-1' -WarningVariable seedWarnings 3>$null
        }

        It 'Should run to Completed with an empty input folder' {
            $seedRun.Status | Should -Be 'Completed' -Because ($seedRun.Steps | ForEach-Object { "$($_.FailureReason) $($_.LogTail -join ' | ')" })
            $result = Get-Content (Join-Path $seedRun.DataRoot 'data/seed-1/result.json') -Raw | ConvertFrom-Json
            $result.inputs | Should -HaveCount 0
            $result.train_id | Should -Be '1'
            $result.notebook | Should -Be 'notebook/sample_notebook.ipynb'
        }

        It 'Should warn once, naming the step and the path' {
            $seedWarnings | Should -HaveCount 1
            "$($seedWarnings[0])" | Should -Match "'sample_step'"
            "$($seedWarnings[0])" | Should -Match ([regex]::Escape((Join-Path $seed.Repository '.rlabs/data/data/seed-1')))
        }

        It 'Should be a valid pipeline for Test-RlabsPipeline' {
            @(Test-RlabsPipeline -Path $seed.Pipeline -RepositoryPath $seed.Repository) | Should -HaveCount 0
        }

        It 'Should say in -WhatIf that the step gets an empty input folder' {
            $result = Invoke-ChildPwsh -ArgumentList $env:RLABS_MODULE_PATH, $seed.Pipeline, $seed.Repository -ScriptBlock {
                param($module, $pipeline, $repo)
                Import-Module $module
                Invoke-RlabsPipeline -Path $pipeline -RepositoryPath $repo -InstanceType local -JobId 'seed-dry' -WhatIf
            }
            ($result.Output -join "`n") | Should -Match "Step 'sample_step': its input .*seed-dry does not exist and no earlier step writes it, so the step runs with an empty input folder"
        }

        It 'Should still fail a step whose input an earlier step was to write, saying which' {
            $broken = Join-Path $seed.Repository 'pipelines/broken.yaml'
            Set-Content $broken -Value @'
pipeline:
 - { name: extract, job_suffix: E, code: run_notebook_wrapper.py, input_data: "data/<job_id>", output_path: data, params: { notebook_path: notebook/sample_notebook.ipynb, train_id: "1" } }
 - { name: train, job_suffix: T, code: run_notebook_wrapper.py, input_data: "data/<job_id>/features.zip", output_path: model, params: { notebook_path: notebook/sample_notebook.ipynb, train_id: "2" } }
'@
            $run = Invoke-RlabsPipeline -Path $broken -RepositoryPath $seed.Repository -InstanceType local -JobId 'seed-2' -ErrorVariable stepErrors -ErrorAction SilentlyContinue 3>$null

            $run.Steps.Status | Should -Be @('Completed', 'Failed')
            $run.Steps[1].FailureReason | Should -Match "features\.zip' was not found at .*seed-2/features\.zip\. Step 'extract' writes its output there"
            $stepErrors[0].FullyQualifiedErrorId | Should -Be 'StepFailed,Rlabs.Pipelines.Commands.InvokeRlabsPipelineCommand'
        }
    }

    Context 'Given steps that do not depend on each other' {
        BeforeAll {
            $graphRepo = Join-Path $TestDrive 'graph'
            New-Item -ItemType Directory -Path $graphRepo | Out-Null
            # Each middle step records when it started and ended; together they wait (up to a minute) until both have started.
            Set-Content -Path (Join-Path $graphRepo 'step.py') -Value @'
import argparse, json, os, sys, time
p = argparse.ArgumentParser()
for a in ('--job-id', '--input-data-path', '--output-data-path', '--source-code-zip', '--requirements-path'):
    p.add_argument(a)
args, extra = p.parse_known_args()
params = dict(zip([e[2:] for e in extra[::2]], extra[1::2]))
name = os.environ['RLABS_STEP_NAME']
start = time.time()
meet = params.get('meet')
if meet:
    os.makedirs(meet, exist_ok=True)
    open(os.path.join(meet, name), 'w').close()
    deadline = time.time() + 60
    while time.time() < deadline and len(os.listdir(meet)) < 2:
        time.sleep(0.05)
print('step', name, 'ran', flush=True)
os.makedirs(args.output_data_path, exist_ok=True)
json.dump({'start': start, 'end': time.time()}, open(os.path.join(args.output_data_path, name + '.json'), 'w'))
'@
            $meet = (Join-Path $TestDrive 'meet').Replace('\', '/')
            $graphFile = Join-Path $graphRepo 'graph.yaml'
            Set-Content -Path $graphFile -Value @"
pipeline:
  - { name: a, job_suffix: A, code: step.py, output_path: a }
  - { name: b, job_suffix: B, code: step.py, input_data: "a/<job_id>", output_path: mid, params: { meet: "$meet" } }
  - { name: c, job_suffix: C, code: step.py, input_data: "a/<job_id>", output_path: mid, depends_on: [a], params: { meet: "$meet" } }
  - { name: d, job_suffix: D, code: step.py, input_data: "mid/<job_id>", output_path: d, depends_on: [b, c] }
"@
            $graphOutput = Invoke-RlabsPipeline -Path $graphFile -RepositoryPath $graphRepo -InstanceType local -JobId 'graph-1' -ThrottleLimit 2 -Verbose 4>&1
            $graphRun = $graphOutput | Where-Object { $_ -isnot [System.Management.Automation.VerboseRecord] }
            $graphLines = $graphOutput | Where-Object { $_ -is [System.Management.Automation.VerboseRecord] } | ForEach-Object Message
        }

        It 'Should run them side by side, each verbose line prefixed with its step' {
            $graphRun.Status | Should -Be 'Completed' -Because ($graphRun.Steps | ForEach-Object { "$($_.StepName) $($_.FailureReason)" })
            $b = Get-Content (Join-Path $graphRepo '.rlabs/data/mid/graph-1/b.json') -Raw | ConvertFrom-Json
            $c = Get-Content (Join-Path $graphRepo '.rlabs/data/mid/graph-1/c.json') -Raw | ConvertFrom-Json
            ($b.start -lt $c.end -and $c.start -lt $b.end) | Should -BeTrue -Because "b ran $($b.start)-$($b.end) and c $($c.start)-$($c.end)"
            $graphLines | Should -Contain '[b] step b ran'
            $graphLines | Should -Contain '[c] step c ran'
            $graphRun.Steps[3].DependsOn | Should -Be @('b', 'c')
            $graphRun.Steps[1].DependsOn | Should -Be @('a')
            $graphRun.Steps[0].Attempts.Count | Should -Be 1
        }

        It 'Should say in -WhatIf what each step waits for and how many run at once' {
            # What-if text goes to the host, so run it in a child session and read what it printed.
            $result = Invoke-ChildPwsh -ArgumentList $env:RLABS_MODULE_PATH, $graphFile, $graphRepo -ScriptBlock {
                param($module, $file, $repo)
                Import-Module $module
                Invoke-RlabsPipeline -Path $file -RepositoryPath $repo -InstanceType local -JobId 'graph-2' -ThrottleLimit 3 -WhatIf
            }
            $plan = $result.Output -join "`n"
            $plan | Should -Match 'Up to 3 step\(s\) at once'
            $plan | Should -Match "Step 'd' after 'b', 'c'"
        }

        It 'Should complete step names from the pipeline file on Tab' {
            $line = "Invoke-RlabsPipeline -Path '$graphFile' -RepositoryPath '$graphRepo' -Step "
            $completions = TabExpansion2 -inputScript $line -cursorColumn $line.Length
            $completions.CompletionMatches.CompletionText | Should -Be @('a', 'b', 'c', 'd')
            $line = "Invoke-RlabsPipeline -Path '$graphFile' -RepositoryPath '$graphRepo' -FromStep c"
            (TabExpansion2 -inputScript $line -cursorColumn $line.Length).CompletionMatches.CompletionText | Should -Be @('c')
        }

        It 'Should run only the selected step on the outputs of a reference run' {
            $slice = Invoke-RlabsPipeline -Path $graphFile -RepositoryPath $graphRepo -InstanceType local -JobId 'graph-3' -Step d -ReferenceJobId 'graph-1'
            $slice.Status | Should -Be 'Completed'
            $slice.Steps.CachedFrom | Should -Be @('graph-1', 'graph-1', 'graph-1', $null)
            Join-Path $graphRepo '.rlabs/data/mid/graph-3/b.json' | Should -Exist
            Join-Path $graphRepo '.rlabs/data/d/graph-3/d.json' | Should -Exist
        }

        It 'Should reject an unknown step and -Step with -FromStep' {
            { Invoke-RlabsPipeline -Path $graphFile -RepositoryPath $graphRepo -InstanceType local -Step nope } | Should -Throw -ErrorId 'UnknownStep,Rlabs.Pipelines.Commands.InvokeRlabsPipelineCommand'
            { Invoke-RlabsPipeline -Path $graphFile -RepositoryPath $graphRepo -InstanceType local -Step a -FromStep b } | Should -Throw -ErrorId 'StepSelectionConflict,Rlabs.Pipelines.Commands.InvokeRlabsPipelineCommand'
        }

        It 'Should reject a throttle limit of 0' {
            { Invoke-RlabsPipeline -Path $graphFile -RepositoryPath $graphRepo -InstanceType local -ThrottleLimit 0 } | Should -Throw -ErrorId 'ParameterArgumentValidationError,Rlabs.Pipelines.Commands.InvokeRlabsPipelineCommand'
        }
    }

    Context 'Given a pipeline object from Get-RlabsPipeline' {
        It 'Should run it from the pipeline' {
            $run = Get-RlabsPipeline -Path $sample -RepositoryPath $repo | Invoke-RlabsPipeline -InstanceType local -JobId 'piped'

            $run.Status | Should -Be 'Completed'
            $run.PipelinePath | Should -Be $sample
        }
    }

    Context 'Given a repository run again and again in one session' {
        BeforeAll {
            $again = Join-Path $TestDrive 'again'
            New-Item -ItemType Directory -Path (Join-Path $again 'conf') -Force | Out-Null
            Set-Content (Join-Path $again 'conf/settings.txt') 'v0' -NoNewline
            Set-Content (Join-Path $again 'step.py') @'
import argparse, os, zipfile
p = argparse.ArgumentParser()
for a in ('--job-id', '--input-data-path', '--output-data-path', '--source-code-zip', '--requirements-path'):
    p.add_argument(a)
args, _ = p.parse_known_args()
os.makedirs(args.output_data_path, exist_ok=True)
with zipfile.ZipFile(args.source_code_zip) as z:
    open(os.path.join(args.output_data_path, 'settings.txt'), 'wb').write(z.read('conf/settings.txt'))
'@
            Set-Content (Join-Path $again 'again.yaml') 'pipeline:
  - { name: read, job_suffix: R, code: step.py, output_path: out }'
            function Invoke-Again([string] $JobId) {
                $lines = Invoke-RlabsPipeline -Path (Join-Path $again 'again.yaml') -RepositoryPath $again -InstanceType local -JobId $JobId -Verbose 4>&1
                $run = $lines | Where-Object { $_ -isnot [System.Management.Automation.VerboseRecord] }
                $run.Status | Should -Be 'Completed'
                [pscustomobject]@{
                    Seen   = Get-Content (Join-Path $again ".rlabs/data/out/$JobId/settings.txt") -Raw
                    Reused = [bool]($lines | Where-Object { $_ -is [System.Management.Automation.VerboseRecord] -and $_.Message -match '^Reused the source zip' })
                }
            }
        }

        It 'Should pack an edit made just before each run, and reuse the zip of an unchanged repository' {
            (Invoke-Again 'a0').Seen | Should -Be 'v0'
            (Invoke-Again 'a1').Reused | Should -BeTrue
            (Invoke-Again 'a2').Reused | Should -BeTrue
            for ($i = 1; $i -le 5; $i++) {
                # The same size and no pause: the watcher must not vouch for the tree as it was.
                Set-Content (Join-Path $again 'conf/settings.txt') "v$i" -NoNewline
                $result = Invoke-Again "e$i"
                $result.Seen | Should -Be "v$i"
                $result.Reused | Should -BeFalse
                (Invoke-Again "u$i").Reused | Should -BeTrue
            }
        }
    }

    Context 'Given -WhatIf' {
        It 'Should print the plan and run nothing' {
            $whatIfRepo = Copy-ExampleRepository (Join-Path $TestDrive 'whatif')
            # What-if text goes to the host, so run it in a child session and read what it printed.
            $result = Invoke-ChildPwsh -ArgumentList $env:RLABS_MODULE_PATH, $whatIfRepo -ScriptBlock {
                param($module, $repo)
                Import-Module $module
                Invoke-RlabsPipeline -Path (Join-Path $repo 'pipelines/sample_pipeline.yaml') -RepositoryPath $repo -InstanceType local -JobId 'dry' -WhatIf
            }
            $output = $result.Output -join "`n"

            $output | Should -Match 'What if: Run pipeline locally'
            $output | Should -Match 'job id dry'
            $output | Should -Match '--module churn.train'
            $output | Should -Match 'data/dry'
            Join-Path $whatIfRepo '.rlabs' | Should -Not -Exist
        }
    }

    Context 'Given a failing step' {
        BeforeAll {
            $failRepo = Copy-ExampleRepository (Join-Path $TestDrive 'fail')
            $failing = Join-Path $failRepo 'pipelines/failing.yaml'
            (Get-Content (Join-Path $failRepo 'pipelines/sample_pipeline.yaml') -Raw) -replace 'churn\.train', 'churn.does_not_exist' | Set-Content $failing
        }

        It 'Should write a StepFailed error naming the step, exit code and last log lines, and skip later steps' {
            $run = Invoke-RlabsPipeline -Path $failing -RepositoryPath $failRepo -InstanceType local -JobId 'fails' -ErrorVariable errors -ErrorAction SilentlyContinue

            $run.Status | Should -Be 'Failed'
            $run.Steps.Status | Should -Be @('Completed', 'Failed', 'Skipped')
            $errors.Count | Should -Be 1
            $errors[0].FullyQualifiedErrorId | Should -Be 'StepFailed,Rlabs.Pipelines.Commands.InvokeRlabsPipelineCommand'
            $errors[0].Exception.Message | Should -Match "Step 'train'"
            $errors[0].Exception.Message | Should -Match 'exit code [1-9]'
            $errors[0].Exception.Message | Should -Match 'does_not_exist'
            $errors[0].TargetObject.StepName | Should -Be 'train'
        }

        It 'Should terminate with -ErrorAction Stop, as CI tasks want' {
            { Invoke-RlabsPipeline -Path $failing -RepositoryPath $failRepo -InstanceType local -JobId 'fails2' -ErrorAction Stop } |
                Should -Throw -ErrorId 'StepFailed,Rlabs.Pipelines.Commands.InvokeRlabsPipelineCommand'
        }
    }

    Context 'Given bad parameters' {
        It 'Should reject job id <JobId>' -ForEach @(
            @{ JobId = 'has space' }, @{ JobId = '../up' }, @{ JobId = 'x' * 41 }, @{ JobId = 'under_score' }
        ) {
            { Invoke-RlabsPipeline -Path $sample -RepositoryPath $repo -InstanceType local -JobId $JobId } |
                Should -Throw -ErrorId 'InvalidJobId,Rlabs.Pipelines.Commands.InvokeRlabsPipelineCommand'
        }

        It 'Should reject an invalid instance type' {
            { Invoke-RlabsPipeline -Path $sample -RepositoryPath $repo -InstanceType 'huge' } |
                Should -Throw -ErrorId 'InvalidInstanceType,Rlabs.Pipelines.Commands.InvokeRlabsPipelineCommand'
        }

        It 'Should reject a missing Python interpreter with the fix' {
            $err = { Invoke-RlabsPipeline -Path $sample -RepositoryPath $repo -InstanceType local -PythonPath (Join-Path $TestDrive 'no/python3') } | Should -Throw -PassThru

            $err.FullyQualifiedErrorId | Should -BeLike 'PythonNotFound,*'
            $err.Exception.Message | Should -Match 'PythonPath'
        }

        It 'Should reject an invalid pipeline before running anything' {
            $bad = Join-Path $TestDrive 'invalid.yaml'
            Set-Content $bad "pipeline:`n  - name: a"

            { Invoke-RlabsPipeline -Path $bad -RepositoryPath $repo -InstanceType local } |
                Should -Throw -ErrorId 'PipelineConfigInvalid,Rlabs.Pipelines.Commands.InvokeRlabsPipelineCommand'
        }

        It 'Should complete instance types on Tab' {
            $line = 'Invoke-RlabsPipeline -InstanceType ml.m5.x'
            $completions = TabExpansion2 -inputScript $line -cursorColumn $line.Length

            $completions.CompletionMatches.CompletionText | Should -Contain 'ml.m5.xlarge'
        }
    }

    Context 'Given a credentials file' {
        It 'Should hand it to the steps without AWS keys and never print a secret' {
            $credRepo = Copy-ExampleRepository (Join-Path $TestDrive 'cred')
            $credentials = Join-Path $credRepo 'credentials.yaml'
            "aws:`n  aws_access_key_id: AKIATESTTESTTEST`n  aws_secret_access_key: sup3r/s3cret`nwarehouse:`n  password: hunter2-pw" | Set-Content $credentials

            $all = Invoke-RlabsPipeline -Path (Join-Path $credRepo 'pipelines/sample_pipeline.yaml') -RepositoryPath $credRepo -InstanceType local -JobId 'cred' -CredentialsFile $credentials -Verbose *>&1 | Out-String

            $all | Should -Not -Match 'sup3r/s3cret|hunter2-pw|AKIATESTTESTTEST'
            $all | Should -Match 'Completed'
            Get-ChildItem (Join-Path $credRepo '.rlabs') -Recurse -Filter 'credentials.yaml' | Should -BeNullOrEmpty
            Add-Type -AssemblyName System.IO.Compression.FileSystem
            $zip = [IO.Compression.ZipFile]::OpenRead((Join-Path $credRepo '.rlabs/runs/cred/input/source/source.zip'))
            try { $zip.Entries.FullName | Should -Not -Contain 'credentials.yaml' } finally { $zip.Dispose() }
        }

        It 'Should reject a malformed credentials file without echoing it' {
            $bad = Join-Path $TestDrive 'creds-bad.yaml'
            "aws:`n  aws_secret_access_key: `"leaky-secret`n  other: [" | Set-Content $bad

            $err = { Invoke-RlabsPipeline -Path $sample -RepositoryPath $repo -InstanceType local -CredentialsFile $bad } | Should -Throw -PassThru

            $err.FullyQualifiedErrorId | Should -BeLike 'CredentialsFileInvalid,*'
            $err.Exception.Message | Should -Not -Match 'leaky-secret'
        }
    }

    Context 'Given Ctrl-C during a run' {
        It 'Should kill the running step''s processes and return promptly' {
            $stopRepo = Copy-ExampleRepository (Join-Path $TestDrive 'stop')
            $pidFile = Join-Path $TestDrive 'sleeper.pid'
            Set-Content (Join-Path $stopRepo 'sleeper.py') @"
import os, subprocess, sys, time
child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)'])
open(r'$pidFile', 'w').write(f'{os.getpid()} {child.pid}')
time.sleep(300)
"@
            $slow = Join-Path $stopRepo 'pipelines/slow.yaml'
            "pipeline:`n  - { name: sleep, job_suffix: Z, code: sleeper.py, output_path: data }`n  - { name: after, job_suffix: A, code: sleeper.py, output_path: data }" | Set-Content $slow

            $ps = [powershell]::Create()
            try {
                $null = $ps.AddCommand('Import-Module').AddArgument($env:RLABS_MODULE_PATH).AddStatement().
                    AddCommand('Invoke-RlabsPipeline').AddParameter('Path', $slow).AddParameter('RepositoryPath', $stopRepo).AddParameter('InstanceType', 'local')
                $async = $ps.BeginInvoke()
                $deadline = (Get-Date).AddSeconds(60)
                while (-not ((Test-Path $pidFile) -and ((Get-Content $pidFile -Raw) -split ' ').Count -eq 2)) {
                    if ((Get-Date) -gt $deadline) { throw "The step never started: $($ps.Streams.Error)" }
                    Start-Sleep -Milliseconds 100
                }
                $pids = (Get-Content $pidFile -Raw) -split ' ' | ForEach-Object { [int]$_ }

                $watch = [Diagnostics.Stopwatch]::StartNew()
                $ps.Stop()
                $watch.Elapsed.TotalSeconds | Should -BeLessThan 10

                foreach ($p in $pids) {
                    $gone = $false
                    foreach ($i in 1..50) {
                        $proc = Get-Process -Id $p -ErrorAction Ignore
                        if (-not $proc -or $proc.HasExited -or ($IsLinux -and ((Get-Content "/proc/$p/stat" -ErrorAction Ignore) -split ' ')[2] -eq 'Z')) { $gone = $true; break }
                        Start-Sleep -Milliseconds 100
                    }
                    $gone | Should -BeTrue -Because "process $p of the stopped step must be killed"
                }
                $ps.InvocationStateInfo.State | Should -Be 'Stopped'
            } finally {
                $ps.Dispose()
            }
        }
    }

    Context 'Given the PowerShell process of a local run is killed with SIGKILL' {
        It 'Should leave no step process behind within 5 s' -Skip:$IsWindows {
            $killRepo = Copy-ExampleRepository (Join-Path $TestDrive 'kill9')
            $pidFile = Join-Path $TestDrive 'kill9.pid'
            Set-Content (Join-Path $killRepo 'sleeper.py') @"
import os, subprocess, sys, time
child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)'])
open(r'$pidFile', 'w').write(f'{os.getpid()} {child.pid}')
time.sleep(300)
"@
            $slow = Join-Path $killRepo 'pipelines/slow.yaml'
            "pipeline:`n  - { name: sleep, job_suffix: Z, code: sleeper.py, output_path: data }" | Set-Content $slow
            $child = Start-ChildPwsh -LogPath (Join-Path $TestDrive 'kill9.log') -Command "Import-Module '$env:RLABS_MODULE_PATH'; Invoke-RlabsPipeline -Path '$slow' -RepositoryPath '$killRepo' -InstanceType local"
            try {
                Wait-Until { (Test-Path $pidFile) -and ((Get-Content $pidFile -Raw) -split ' ').Count -eq 2 } -Message "The step never started: $(Get-Content (Join-Path $TestDrive 'kill9.log') -Raw -ErrorAction Ignore)"
                $pids = (Get-Content $pidFile -Raw) -split ' ' | ForEach-Object { [int]$_ }

                $child.Kill() # SIGKILL: no Ctrl-C handler, no finally block runs in the orchestrator

                $child.WaitForExit(10000) | Should -BeTrue
                foreach ($p in $pids) {
                    { Wait-Until { Test-ProcessGone $p } -TimeoutSeconds 5 } | Should -Not -Throw -Because "step process $p must die with its orchestrator"
                }
            } finally {
                if (-not $child.HasExited) { $child.Kill() }
                foreach ($p in @($pids)) { if ($p -and -not (Test-ProcessGone $p)) { Stop-Process -Id $p -Force -ErrorAction Ignore } }
            }
        }
    }

    Context 'Given the notebook pipeline and a Python with nbclient' {
        It 'Should execute the notebook with the injected parameters' {
            $python = '/usr/bin/python3'
            if (-not $IsLinux) { Set-ItResult -Skipped -Because 'Debian python3-nbclient is the CI reference'; return }
            $nbRepo = Copy-ExampleRepository (Join-Path $TestDrive 'nb')

            $run = Invoke-RlabsPipeline -Path (Join-Path $nbRepo 'pipelines/notebook_pipeline.yaml') -RepositoryPath $nbRepo -InstanceType local -JobId 'nb1' -PythonPath $python

            $run.Status | Should -Be 'Completed' -Because ($run.Steps | Where-Object Status -ne 'Completed' | ForEach-Object { "$($_.StepName): $($_.FailureReason) $($_.LogTail -join "`n")" })
            $report = Get-ChildItem (Join-Path $nbRepo '.rlabs/data/reports/nb1') -Recurse -Filter 'summary.md' | Select-Object -First 1
            $report | Should -Not -BeNullOrEmpty
            Get-Content $report.FullName -Raw | Should -Match 'nb1'
            Get-ChildItem (Join-Path $nbRepo '.rlabs/data/reports/nb1') -Recurse -Filter '*.ipynb' | Should -Not -BeNullOrEmpty
        }
    }
}
