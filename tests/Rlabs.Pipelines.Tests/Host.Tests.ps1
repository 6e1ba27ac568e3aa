# At home in PowerShell and in CI hosts: type names, error records, CI log commands, JUnit, completers.
BeforeAll {
    Import-Module $env:RLABS_MODULE_PATH -Force
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    $repo = Copy-ExampleRepository (Join-Path $TestDrive 'host')
    $failing = Join-Path $repo 'pipelines/failing.yaml'
    # A step whose Python raises: a real traceback, then the runner's one-line summary.
    @"
def run(ctx):
    print("loading the training table")
    raise ValueError("column 'tenure' is empty")
"@ | Set-Content (Join-Path $repo 'src/churn/boom.py')
    (Get-Content (Join-Path $repo 'pipelines/sample_pipeline.yaml') -Raw) -replace 'churn\.train', 'churn.boom' | Set-Content $failing
    $lastLine = "[sagemaker_code_script] ERROR: step churn.boom failed: ValueError: column 'tenure' is empty"
    $lastLinePattern = [WildcardPattern]::Escape($lastLine)
    $badYaml = Join-Path $repo 'pipelines/bad.yaml'
    @"
pipeline:
  - name: prepare
    jbo_suffix: P
    code: src/churn/prepare.py
"@ | Set-Content $badYaml

    # Runs $Script in a fresh pwsh with only $Environment's CI variables set; returns its output lines.
    function Invoke-InCiHost([hashtable] $Environment, [scriptblock] $Script, [object[]] $Arguments = @()) {
        $names = 'GITHUB_ACTIONS', 'TF_BUILD', 'GITHUB_STEP_SUMMARY', 'GITHUB_WORKSPACE', 'AGENT_TEMPDIRECTORY'
        $saved = @{}
        foreach ($name in $names) { $saved[$name] = [Environment]::GetEnvironmentVariable($name); [Environment]::SetEnvironmentVariable($name, $null) }
        try {
            foreach ($key in $Environment.Keys) { [Environment]::SetEnvironmentVariable($key, $Environment[$key]) }
            Invoke-ChildPwsh -ScriptBlock $Script -ArgumentList (@($env:RLABS_MODULE_PATH) + $Arguments)
        } finally {
            foreach ($name in $names) { [Environment]::SetEnvironmentVariable($name, $saved[$name]) }
        }
    }
}

Describe 'Type names of the module' {
    It 'Should resolve every output type and enum by its full name after Import-Module, and forget them on Remove-Module' {
        $result = Invoke-ChildPwsh -ArgumentList $env:RLABS_MODULE_PATH, $repo -ScriptBlock {
            param($module, $repo)
            $ErrorActionPreference = 'Stop'
            "BEFORE=$(($null -eq ('Rlabs.Pipelines.RlabsPipelineRun' -as [type])))"
            Import-Module $module
            $run = Invoke-RlabsPipeline -Path (Join-Path $repo 'pipelines/sample_pipeline.yaml') -RepositoryPath $repo -InstanceType local -JobId types
            "SAME=$($run.GetType() -eq [Rlabs.Pipelines.RlabsPipelineRun])"
            "ISA=$($run -is [Rlabs.Pipelines.RlabsPipelineRun])"
            "ENUM=$([Rlabs.Pipelines.RlabsRunStatus]::Completed -eq $run.Status)"
            foreach ($command in Get-Command -Module Rlabs.Pipelines -CommandType Cmdlet) {
                foreach ($type in $command.OutputType.Type) {
                    if ($type.Namespace -eq 'Rlabs.Pipelines') { "OUT=$($type.FullName)=$($null -ne ($type.FullName -as [type]))" }
                }
            }
            foreach ($name in 'RlabsLocalRuntime', 'RlabsDiagnosticSeverity', 'RlabsScheduleState', 'RlabsPipelineStepRun', 'RlabsPipelineStep') {
                "NAMED=$name=$($null -ne ("Rlabs.Pipelines.$name" -as [type]))"
            }
            "ALC=$([Runtime.Loader.AssemblyLoadContext]::GetLoadContext([Rlabs.Pipelines.RlabsPipelineRun].Assembly).Name)"
            "AWSSDK=$($null -ne ('Amazon.Runtime.AWSCredentials' -as [type]))"
            Remove-Module Rlabs.Pipelines
            $accelerators = [psobject].Assembly.GetType('System.Management.Automation.TypeAccelerators')::Get
            "AFTER=$(-not ($accelerators.Keys -like 'Rlabs.Pipelines.*'))"
        }

        $result.Output | Should -Contain 'BEFORE=True'
        $result.Output | Should -Contain 'SAME=True' -Because ($result.Output -join "`n")
        $result.Output | Should -Contain 'ISA=True'
        $result.Output | Should -Contain 'ENUM=True'
        $outputs = $result.Output -like 'OUT=*'
        $outputs.Count | Should -BeGreaterOrEqual 4
        $outputs | Should -Not -BeLike '*=False'
        $result.Output -like 'NAMED=*' | Should -Not -BeLike '*=False'
        $result.Output | Should -Contain 'ALC=Rlabs.Pipelines' -Because 'the types get names, not a new home'
        $result.Output | Should -Contain 'AWSSDK=False' -Because 'the SDK stays invisible to the session'
        $result.Output | Should -Contain 'AFTER=True'
    }
}

Describe 'Error records' {
    Context 'Given a step whose code script fails with a traceback' {
        It 'Should keep the message to one line (step, exit code, traceback''s last line, log) and print the tail as lines before it' {
            $result = Invoke-InCiHost @{} -Arguments $failing, $repo -Script {
                param($module, $failing, $repo)
                Import-Module $module
                $run = Invoke-RlabsPipeline -Path $failing -RepositoryPath $repo -InstanceType local -JobId tail -ErrorVariable errors 2>$null
                "MESSAGE=$($errors[0].Exception.Message)"
                "ACTION=$($errors[0].ErrorDetails.RecommendedAction)"
                "LOG=$($run.Steps[1].LogPath)"
            }
            $message = ($result.Output -like 'MESSAGE=*') -replace '^MESSAGE=', ''
            $log = ($result.Output -like 'LOG=*') -replace '^LOG=', ''

            $message | Should -BeLike "Step 'train' of pipeline 'failing' (job tail) failed with exit code 1: $lastLinePattern (log: *)"
            $message | Should -Not -Match "`n"
            $message | Should -Match ([regex]::Escape($log))
            (($result.Output -like 'ACTION=*') -replace '^ACTION=', '') | Should -Match 'TargetObject\.LogTail.*full log'
            $header = [array]::IndexOf($result.Output, ($result.Output -like "Last log lines of step 'train'*")[0])
            $header | Should -BeGreaterOrEqual 0 -Because ($result.Output -join "`n")
            $tail = $result.Output | Select-Object -Skip ($header + 1) | Where-Object { $_ -like '  *' }
            $tail | Should -Contain '  Traceback (most recent call last):'
            $tail | Should -Contain "  ValueError: column 'tenure' is empty"
            $tail | Should -Contain "  $lastLine"
        }

        It 'Should not print the tail when errors are silenced' {
            $output = Invoke-RlabsPipeline -Path $failing -RepositoryPath $repo -InstanceType local -JobId quiet -ErrorAction SilentlyContinue 6>&1
            $output | Where-Object { $_ -is [System.Management.Automation.InformationRecord] } | Should -BeNullOrEmpty
        }
    }

    It 'Should fill RecommendedAction on the error record of <Case>' -ForEach @(
        @{ Case = 'a misspelt -InstanceType'; Script = { Invoke-RlabsPipeline -Path $failing -RepositoryPath $repo -InstanceType ml.t3.xlrge } ; Id = 'InvalidInstanceType' }
        @{ Case = 'an invalid pipeline file'; Script = { Invoke-RlabsPipeline -Path $badYaml -RepositoryPath $repo -InstanceType local }; Id = 'PipelineConfigInvalid' }
        @{ Case = 'a missing repository'; Script = { Invoke-RlabsPipeline -Path $failing -RepositoryPath (Join-Path $TestDrive 'nowhere') -InstanceType local }; Id = 'RepositoryNotFound' }
        @{ Case = 'a bad job id'; Script = { Invoke-RlabsPipeline -Path $failing -RepositoryPath $repo -InstanceType local -JobId 'a b' }; Id = 'InvalidJobId' }
        @{ Case = 'a wrong rlabs command line'; Script = { rlabs aws pipeline run -p x.yaml -o }; Id = 'CommandLineInvalid' }
    ) {
        $err = $Script | Should -Throw -PassThru
        $err.FullyQualifiedErrorId | Should -BeLike "$Id*"
        $err.ErrorDetails.RecommendedAction | Should -Not -BeNullOrEmpty
    }

    It 'Should build every error record of the cmdlets through ErrorMapping (which always sets RecommendedAction)' {
        $sources = Get-ChildItem (Join-Path (Get-RepositoryRoot) 'src/Rlabs.Pipelines') -Recurse -Include '*.cs', '*.psm1' |
            Where-Object { $_.FullName -notmatch '[\\/]obj[\\/]' -and $_.Name -ne 'ErrorMapping.cs' }
        $direct = $sources | Select-String -Pattern 'new ErrorRecord\(|ErrorRecord\]::new\(' | ForEach-Object { "$($_.Path):$($_.LineNumber)" }
        # rlabs' CommandNotAvailable is built in the psm1 and carries its own ErrorDetails.
        $direct | Where-Object { $_ -notlike '*Rlabs.Pipelines.Cli.psm1*' } | Should -BeNullOrEmpty
    }
}

Describe 'CI hosts' {
    Context 'Given GitHub Actions (GITHUB_ACTIONS=true)' {
        BeforeAll {
            $summary = Join-Path $TestDrive 'github-summary.md'
            'earlier step' | Set-Content $summary
            $result = Invoke-InCiHost @{ GITHUB_ACTIONS = 'true'; GITHUB_STEP_SUMMARY = $summary; GITHUB_WORKSPACE = $repo } -Arguments $failing, $repo, $badYaml -Script {
                param($module, $failing, $repo, $badYaml)
                Import-Module $module
                $null = Invoke-RlabsPipeline -Path $failing -RepositoryPath $repo -InstanceType local -JobId gh -ErrorAction SilentlyContinue
                '--- test'
                Test-RlabsPipeline -Path $badYaml -RepositoryPath $repo | Out-Null
            }
            $lines = $result.Output
        }

        It 'Should fold each step''s log lines into ::group:: … ::endgroup::' {
            $starts = @($lines -match '^::group::')
            $starts | Should -Be @('::group::prepare (Process, job host-gh-P)', '::group::train (Process, job host-gh-T)') -Because ($lines -join "`n")
            @($lines -match '^::endgroup::$').Count | Should -Be 2
            $train = [array]::IndexOf($lines, '::group::train (Process, job host-gh-T)')
            $end = [array]::IndexOf($lines, '::endgroup::', $train)
            $inside = $lines[($train + 1)..($end - 1)]
            $inside | Should -Contain 'Traceback (most recent call last):'
            $inside | Should -Contain $lastLine
            ($inside | Where-Object { $_.Trim() })[-1] | Should -Be 'train: Failed'
        }

        It 'Should write one ::error annotation per failed step, on one line' {
            $errors = @($lines -match '^::error ')
            $step = @($errors -like '::error title=Step *')
            $step.Count | Should -Be 1 -Because ($errors -join "`n")
            $step[0] | Should -BeLike "::error title=Step 'train' failed::Step 'train' of pipeline 'failing' (job gh) failed with exit code 1: $lastLinePattern (log: *train*step.log)"
        }

        It 'Should annotate a pipeline file''s diagnostics at their file, line and column, relative to the workspace' {
            $after = $lines[([array]::IndexOf($lines, '--- test') + 1)..($lines.Count - 1)]
            $after | Should -Contain "::error file=pipelines/bad.yaml,line=3,col=5,title=UnknownKey::Unknown key 'jbo_suffix' in step 1. Did you mean 'job_suffix'?"
            # A hint's ';' stays as it is (only %, CR and LF are escaped in a message).
            ($after -like '::error file=pipelines/bad.yaml,line=2,col=5,title=MissingKey::*; it ends the step''s job name.').Count | Should -Be 1
        }

        It 'Should append a Markdown step table to $GITHUB_STEP_SUMMARY' {
            $text = Get-Content $summary
            $text[0] | Should -Be 'earlier step'
            $text | Should -Contain '### Pipeline failing, job gh: Failed'
            $text | Should -Contain '| Step | Status | Duration | Job | Log |'
            ($text -match '^\| prepare \| Completed \| [0-9.]+s \| host-gh-P \| `.+prepare.*\.log` \|$').Count | Should -Be 1 -Because ($text -join "`n")
            ($text -match '^\| train \| Failed \| ').Count | Should -Be 1
            ($text -match '^\| score \| Skipped \|  \| host-gh-S \| ').Count | Should -Be 1
        }
    }

    Context 'Given Azure Pipelines (TF_BUILD=True)' {
        BeforeAll {
            $agentTemp = New-Item -ItemType Directory (Join-Path $TestDrive 'agent-temp') -Force
            $result = Invoke-InCiHost @{ TF_BUILD = 'True'; AGENT_TEMPDIRECTORY = $agentTemp.FullName } -Arguments $failing, $repo, $badYaml -Script {
                param($module, $failing, $repo, $badYaml)
                Import-Module $module
                $null = Invoke-RlabsPipeline -Path $failing -RepositoryPath $repo -InstanceType local -JobId az -ErrorAction SilentlyContinue
                Test-RlabsPipeline -Path $badYaml -RepositoryPath $repo | Out-Null
            }
            $lines = $result.Output
        }

        It 'Should fold each step''s log lines into ##[group] … ##[endgroup]' {
            @($lines -match '^##\[group\]') | Should -Be @('##[group]prepare (Process, job host-az-P)', '##[group]train (Process, job host-az-T)') -Because ($lines -join "`n")
            @($lines -match '^##\[endgroup\]$').Count | Should -Be 2
        }

        It 'Should log one error issue per failed step and one per diagnostic, at its source line' {
            $lines | Should -Contain ("##vso[task.logissue type=error]Step 'train' failed: Step 'train' of pipeline 'failing' (job az) failed with exit code 1: $lastLine (log: " + (Join-Path $repo '.rlabs/runs/az/train/step.log') + ')') -Because ($lines -join "`n")
            $lines | Should -Contain "##vso[task.logissue type=error;sourcepath=$badYaml;linenumber=3;columnnumber=5]UnknownKey: Unknown key 'jbo_suffix' in step 1. Did you mean 'job_suffix'?"
        }

        It 'Should upload a Markdown summary with ##vso[task.uploadsummary]' {
            $upload = @($lines -like '##vso`[task.uploadsummary`]*')
            $upload.Count | Should -Be 1
            $path = $upload[0] -replace '^##vso\[task\.uploadsummary\]', ''
            $path | Should -Be (Join-Path $agentTemp.FullName 'rlabs-run-az.md')
            Get-Content $path | Should -Contain '| Step | Status | Duration | Job | Log |'
        }
    }

    Context 'Given no CI host' {
        It 'Should write no log commands and keep step lines verbose' {
            $result = Invoke-InCiHost @{} -Arguments $failing, $repo -Script {
                param($module, $failing, $repo)
                Import-Module $module
                $null = Invoke-RlabsPipeline -Path $failing -RepositoryPath $repo -InstanceType local -JobId none -ErrorAction SilentlyContinue
            }
            $result.Output -match '^(::|##\[|##vso)' | Should -BeNullOrEmpty
            $result.Output | Should -Not -Contain 'Traceback (most recent call last):' -Because 'without a CI host the step lines are verbose'
            $result.Output | Should -Not -Contain $lastLine
        }
    }

    Context 'Given -JUnitPath' {
        It 'Should write one test case per step with the failure and its log tail' {
            $junit = Join-Path $TestDrive 'results/run.xml'
            $null = Invoke-RlabsPipeline -Path $failing -RepositoryPath $repo -InstanceType local -JobId junit -JUnitPath $junit -ErrorAction SilentlyContinue

            $xml = [xml](Get-Content $junit -Raw)
            $suite = $xml.testsuites.testsuite
            $suite.name | Should -Be 'failing (job junit)'
            $suite.tests | Should -Be '3'
            $suite.failures | Should -Be '1'
            $suite.skipped | Should -Be '1'
            $suite.testcase.name | Should -Be @('prepare', 'train', 'score')
            $suite.testcase[0].failure | Should -BeNullOrEmpty
            $suite.testcase[1].failure.message | Should -Be 'The code script exited with code 1.'
            $suite.testcase[1].failure.'#text' | Should -Match "ValueError: column 'tenure' is empty"
            $suite.testcase[2].skipped.message | Should -Match "Not run because step 'train' failed"
            Get-ChildItem (Split-Path $junit) -Filter '*.tmp-*' | Should -BeNullOrEmpty
        }
    }
}

Describe 'Default views at 80 columns (redirected CI logs)' {
    BeforeAll {
        $run = Invoke-RlabsPipeline -Path (Join-Path $repo 'pipelines/sample_pipeline.yaml') -RepositoryPath $repo -InstanceType local -JobId '20261204-221500-a1b2'
        $pipeline = Get-RlabsPipeline -Path (Join-Path $repo 'pipelines/sample_pipeline.yaml') -RepositoryPath $repo
        $diagnostics = Test-RlabsPipeline -Path $badYaml -RepositoryPath $repo
        function Show([object[]] $InputObject) { @(($InputObject | Out-String -Width 80) -split '\r?\n' | Where-Object { $_.Trim() }) }
    }

    It 'Should fit <Name> into 80 columns with one header line and whole values' -ForEach @(
        @{ Name = 'a run'; Get = { $run }; Values = { $run.JobId, $run.PipelineName, 'Completed', 'local', '3/3' } }
        @{ Name = 'the steps of a run'; Get = { $run.Steps }; Values = { $run.Steps.JobName + $run.Steps.StepName } }
        @{ Name = 'a pipeline'; Get = { $pipeline }; Values = { 'prepare -> train -> score' } }
        @{ Name = 'the steps of a pipeline'; Get = { $pipeline.Steps }; Values = { 'sagemaker_code_script.py', 'data/<job_id>' } }
    ) {
        $lines = Show (& $Get)
        $lines | ForEach-Object { $_.TrimEnd().Length | Should -BeLessOrEqual 80 -Because $_ }
        $lines[1] | Should -Match '^-+( +-+)*\s*$' -Because "the header is one line, not split: $($lines[0..1] -join ' / ')"
        $lines -join "`n" | Should -Not -Match '…'
        foreach ($value in (& $Values)) { ($lines -join "`n") | Should -Match ([regex]::Escape($value)) }
    }

    It 'Should show a step''s duration whole, in seconds, minutes or hours' {
        $lines = Show $run.Steps
        $lines[0] | Should -Match '\bDuration\b'
        $lines | Select-Object -Skip 2 | ForEach-Object { $_ | Should -Match ' \d+\.\ds +\d+ ' }
    }

    It 'Should wrap a diagnostic''s message and hint between words, and keep both' {
        $lines = Show $diagnostics
        $lines | ForEach-Object { $_.TrimEnd().Length | Should -BeLessOrEqual 80 -Because $_ }
        $lines[0] | Should -Match 'Problem'
        $text = ($lines | Select-Object -Skip 2 | ForEach-Object { if ($_.Length -gt 35) { $_.Substring(35).Trim() } }) -join ' '
        foreach ($d in $diagnostics) {
            $text | Should -Match ([regex]::Escape($d.Message)) -Because 'no word is cut by the wrap'
            $text | Should -Match ([regex]::Escape($d.Hint))
        }
    }
}

Describe 'Tab completion' {
    BeforeAll {
        function Complete([string] $line) { (TabExpansion2 -inputScript $line -cursorColumn $line.Length).CompletionMatches.CompletionText }
    }

    It 'Should complete -Region from the SDK''s regions' {
        Complete 'Invoke-RlabsPipeline -Region eu-west-' | Should -Contain 'eu-west-1'
        Complete 'Get-RlabsPipelineRun -Region us-ea' | Should -Contain 'us-east-2'
    }

    It 'Should complete -ProfileName from the shared config and credentials files, and from -ProfileLocation' {
        $config = Join-Path $TestDrive 'aws-config'
        $credentials = Join-Path $TestDrive 'aws-credentials'
        $other = Join-Path $TestDrive 'other-credentials'
        "[profile analytics]`nregion = eu-west-1`n" | Set-Content $config
        "[ci-deploy]`naws_access_key_id = AKIDX`naws_secret_access_key = s`n" | Set-Content $credentials
        "[elsewhere]`naws_access_key_id = AKIDY`naws_secret_access_key = s`n" | Set-Content $other
        $saved = $env:AWS_CONFIG_FILE, $env:AWS_SHARED_CREDENTIALS_FILE
        try {
            $env:AWS_CONFIG_FILE = $config
            $env:AWS_SHARED_CREDENTIALS_FILE = $credentials
            $names = Complete 'Invoke-RlabsPipeline -ProfileName '
            $names | Should -Contain 'analytics'
            $names | Should -Contain 'ci-deploy'
            Complete 'Wait-RlabsPipelineRun -ProfileName ci' | Should -Be 'ci-deploy'
            Complete "Get-RlabsPipelineRun -ProfileLocation '$other' -ProfileName " | Should -Contain 'elsewhere'
        } finally {
            $env:AWS_CONFIG_FILE, $env:AWS_SHARED_CREDENTIALS_FILE = $saved
        }
    }

    It 'Should complete instance types for -InstanceType and the schedule''s -SageMakerInstanceType' {
        Complete 'Invoke-RlabsPipeline -InstanceType ml.t3.x' | Should -Be 'ml.t3.xlarge'
        Complete 'New-RlabsPipelineSchedule -SageMakerInstanceType ml.g4' | Should -Contain 'ml.g4dn.12xlarge'
        Complete 'Invoke-RlabsPipeline -InstanceType lo' | Should -Be 'local'
    }

    It 'Should complete the rlabs command''s subcommands, flags and instance types' {
        Complete 'rlabs ' | Should -Be 'aws'
        Complete 'rlabs aws ' | Should -Be 'pipeline'
        Complete 'rlabs aws pipeline ' | Should -Be @('run', 'schedule', 'enable-scheduling', 'disable-scheduling')
        Complete 'rlabs aws pipeline en' | Should -Be 'enable-scheduling'
        $flags = Complete 'rlabs aws pipeline run --'
        $flags | Should -Contain '--pipeline-config-file'
        $flags | Should -Contain '--help'
        Complete 'rlabs aws pipeline run -p x.yaml --' | Should -Not -Contain '--pipeline-config-file'
        Complete 'rlabs aws pipeline run -i ml.m5.2' | Should -Contain 'ml.m5.2xlarge'
        Complete 'rlabs aws pipeline schedule --sagemaker-instance-type ml.r5.' | Should -Contain 'ml.r5.large'
    }
}
