BeforeAll {
    Import-Module $env:RLABS_MODULE_PATH -Force
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    $bin = Join-Path (Split-Path (Split-Path $env:RLABS_MODULE_PATH)) 'bin'
    $saved = @{}
    foreach ($name in 'PATH', 'RLABS_PWSH') { $saved[$name] = [Environment]::GetEnvironmentVariable($name) }
    # The launchers find pwsh through RLABS_PWSH: here pwsh is a dotnet tool, not on the PATH.
    $pwshHost = Join-Path $PSHOME 'pwsh'
    $env:RLABS_PWSH = if (Test-Path $pwshHost) { $pwshHost } else { "dotnet $(Join-Path $PSHOME 'pwsh.dll')" }
    # So that bash runs the seed's 'rlabs …' lines as written, with out/bin/rlabs.
    $env:PATH = "$bin$([IO.Path]::PathSeparator)$env:PATH"

    # The '$ rlabs …' lines of the seed document's example blocks, continuation lines joined.
    function Get-SeedExample {
        $lines = Get-Content (Join-Path (Get-RepositoryRoot) 'tests/seed/original-rlabs-pipeline-cli.rst')
        for ($i = 0; $i -lt $lines.Count; $i++) {
            $line = $lines[$i].Trim()
            if (-not $line.StartsWith('$ rlabs ')) { continue }
            $command = $line.Substring(2)
            while ($command.EndsWith('\')) { $command = $command.TrimEnd('\') + ' ' + $lines[++$i].Trim() }
            $command -replace '\s+', ' '
        }
    }

    function Invoke-Bash {
        <# Runs a bash command line in a folder; returns its exit code, stdout and stderr. #>
        param([Parameter(Mandatory)] [string] $Command, [string] $WorkingDirectory = $TestDrive)
        $stderrFile = Join-Path $TestDrive "stderr-$([guid]::NewGuid().ToString('N')).txt"
        Push-Location $WorkingDirectory
        try {
            $stdout = & bash -c $Command 2> $stderrFile
            $exitCode = $LASTEXITCODE
        } finally {
            Pop-Location
        }
        [pscustomobject]@{
            ExitCode = $exitCode
            StdOut   = (@($stdout) -join "`n")
            StdErr   = @(Get-Content $stderrFile | Where-Object { $_ -ne '' })
        }
    }

    function New-SeedRepository {
        <# A copy of the examples repository with the seed's file names: pipeline.yaml, credentials.yaml. #>
        param([Parameter(Mandatory)] [string] $Name, [string] $RoleArn)
        $repo = Copy-ExampleRepository (Join-Path $TestDrive $Name)
        $pipeline = Get-Content (Join-Path $repo 'pipelines/sample_pipeline.yaml') -Raw
        if ($RoleArn) { $pipeline = "role_arn: `"$RoleArn`"`n" + $pipeline }
        Set-Content -Path (Join-Path $repo 'pipeline.yaml') -Value $pipeline
        Copy-Item (Join-Path $repo 'credentials.example.yaml') (Join-Path $repo 'credentials.yaml')
        $repo
    }
}

AfterAll {
    foreach ($name in $saved.Keys) { [Environment]::SetEnvironmentVariable($name, $saved[$name]) }
}

Describe 'rlabs' {
    Context 'Given the seed document' {
        It 'Should have the six example command lines the tests run' {
            $examples = @(Get-SeedExample)

            $examples.Count | Should -Be 6
            $examples | ForEach-Object { ($_ -split ' ')[3] } |
                Should -Be @('run', 'run', 'schedule', 'schedule', 'enable-scheduling', 'disable-scheduling')
            $examples[0] | Should -Be 'rlabs aws pipeline run --pipeline-config-file pipeline.yaml --credentials-file credentials.yaml --repository-path /path/to/repository --instance-type ml.t3.xlarge --job-id my-job-id'
            $examples[1] | Should -Be 'rlabs aws pipeline run -p pipeline.yaml -c credentials.yaml -r /path/to/repository -i local -j 345687'
        }
    }

    Context 'Given run Example 2 (-i local) in PowerShell' {
        BeforeAll {
            $repo = New-SeedRepository 'ps-local'
            $line = (Get-SeedExample)[1].Replace('/path/to/repository', $repo)
            Push-Location $repo
            try {
                $run = & ([scriptblock]::Create($line))
            } finally {
                Pop-Location
            }
        }

        It 'Should run every step locally with the job id and files of the command line' {
            $run.Status | Should -Be 'Completed' -Because ($run.Steps | ForEach-Object { "$($_.StepName): $($_.FailureReason)" })
            $run.JobId | Should -Be '345687'
            $run.InstanceType | Should -Be 'local'
            $run.Steps.Runtime | Select-Object -Unique | Should -Be 'Process'
            Join-Path $repo '.rlabs/data/data/345687/scores/metrics.json' | Should -Exist
        }
    }

    Context 'Given a session that imported the module with -Prefix and shadows Invoke-RlabsPipeline' -Tag 'Launcher' {
        It 'Should still run the module''s own cmdlet' {
            $repo = New-SeedRepository 'prefix'

            $result = Invoke-ChildPwsh -ArgumentList $env:RLABS_MODULE_PATH, $repo -ScriptBlock {
                param($module, $repo)
                function Invoke-RlabsPipeline { 'SHADOW' }
                function Invoke-ZzRlabsPipeline { 'SHADOW' }
                Import-Module $module -Prefix Zz
                Set-Location $repo
                $run = Zzrlabs aws pipeline run -p pipeline.yaml -i local -j prefix-1
                "RESULT=$($run.JobId)|$($run.Status)"
            }

            $result.Output | Should -Contain 'RESULT=prefix-1|Completed' -Because ($result.Output -join "`n")
        }
    }

    Context 'Given run Example 2 (-i local) from bash' -Tag 'Launcher' {
        It 'Should run the pipeline with out/bin/rlabs and exit 0' {
            $repo = New-SeedRepository 'bash-local'
            $line = (Get-SeedExample)[1].Replace('/path/to/repository', $repo)

            $result = Invoke-Bash $line -WorkingDirectory $repo

            $result.ExitCode | Should -Be 0 -Because ($result.StdErr -join "`n")
            $result.StdOut | Should -Match '345687\s+pipeline\s+Completed\s+local\s+3/3'
            $result.StdOut | Should -Not -Match "`e\[" -Because 'redirected output is plain text'
            $result.StdErr | Should -BeNullOrEmpty
            Join-Path $repo '.rlabs/data/data/345687/scores/metrics.json' | Should -Exist
        }

        It 'Should write verbose output for -vv' {
            $repo = New-SeedRepository 'bash-verbose'

            $result = Invoke-Bash "rlabs aws pipeline run -p pipeline.yaml -i local -j verbose-1 -vv" -WorkingDirectory $repo

            $result.ExitCode | Should -Be 0 -Because ($result.StdErr -join "`n")
            $result.StdOut | Should -Match 'VERBOSE: \[score\] '
        }

        It 'Should exit 1 with the step error when a step fails' {
            $repo = New-SeedRepository 'bash-fail'
            (Get-Content (Join-Path $repo 'pipeline.yaml') -Raw) -replace 'churn\.train', 'churn.missing_module' |
                Set-Content (Join-Path $repo 'pipeline.yaml')

            $result = Invoke-Bash "rlabs aws pipeline run -p pipeline.yaml -c credentials.yaml -r $repo -i local -j fail-1" -WorkingDirectory $repo

            $result.ExitCode | Should -Be 1
            $result.StdOut | Should -Match 'fail-1\s+pipeline\s+Failed'
            $result.StdErr[0] | Should -Match "^rlabs: .*'train'"
            ($result.StdErr -join "`n") | Should -Not -Match '(?m)^\s+at '
        }

        It 'Should exit 1 with the cmdlet''s message, not a stack trace, when the pipeline file does not exist' {
            $result = Invoke-Bash 'rlabs aws pipeline run -p missing.yaml -i local'

            $result.ExitCode | Should -Be 1
            $result.StdErr[0] | Should -Match '^rlabs: The pipeline file has 1 error'
            ($result.StdErr -join "`n") | Should -Match "missing\.yaml' does not exist"
            ($result.StdErr -join "`n") | Should -Not -Match '(?m)^\s+at |Exception'
            $result.StdOut | Should -BeNullOrEmpty
        }
    }

    Context 'Given run Example 1 (--instance-type ml.t3.xlarge) against the AWS emulator' -Tag 'Emulator', 'Launcher' {
        BeforeAll {
            Import-Module (Join-Path $env:RLABS_EMULATOR_DIR 'AwsEmulator.psm1') -Force
            $emulator = Start-AwsEmulator -EmulatorDll (Join-Path $env:RLABS_EMULATOR_DIR 'Rlabs.Pipelines.AwsEmulator.dll')
            $awsSaved = @{}
            foreach ($name in 'AWS_ENDPOINT_URL', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_REGION', 'AWS_PROFILE') {
                $awsSaved[$name] = [Environment]::GetEnvironmentVariable($name)
            }
            $env:AWS_ENDPOINT_URL = $emulator.Url
            $env:AWS_ACCESS_KEY_ID = 'AKIDPESTERRLABS'
            $env:AWS_SECRET_ACCESS_KEY = 'pester-secret'
            $env:AWS_REGION = 'eu-west-1'
            $env:AWS_PROFILE = $null
            $role = 'arn:aws:iam::123456789012:role/rlabs-sagemaker'
            function Get-CreatedJob {
                @(Invoke-AwsEmulatorAdmin $emulator GET 'requests?service=sagemaker&operation=CreateProcessingJob')
            }
        }

        AfterAll {
            if ($emulator) { Stop-AwsEmulator $emulator }
            foreach ($name in $awsSaved.Keys) { [Environment]::SetEnvironmentVariable($name, $awsSaved[$name]) }
        }

        BeforeEach {
            Invoke-AwsEmulatorAdmin $emulator POST reset | Out-Null
            Invoke-AwsEmulatorAdmin $emulator POST sagemaker/job-behaviour @{ durationMs = 0; outcome = 'Completed'; execute = $true } | Out-Null
        }

        It 'Should run every step as a SageMaker Processing job from PowerShell' {
            $repo = New-SeedRepository 'ps-cloud' -RoleArn $role
            $line = (Get-SeedExample)[0].Replace('/path/to/repository', $repo)

            Push-Location $repo
            try { $run = & ([scriptblock]::Create($line)) } finally { Pop-Location }

            $run.Status | Should -Be 'Completed' -Because ($run.Steps | ForEach-Object { "$($_.StepName): $($_.FailureReason)" })
            $run.JobId | Should -Be 'my-job-id'
            $run.Steps.Runtime | Should -Be @('SageMaker', 'SageMaker', 'SageMaker')
            $jobs = Get-CreatedJob
            $jobs.Count | Should -Be 3
            $jobs.parameters.ProcessingResources.ClusterConfig.InstanceType | Select-Object -Unique | Should -Be 'ml.t3.xlarge'
            $jobs[0].parameters.AppSpecification.ContainerArguments | Should -Contain 'my-job-id'
        }

        It 'Should run it from bash and exit 0' {
            $repo = New-SeedRepository 'bash-cloud' -RoleArn $role
            $line = (Get-SeedExample)[0].Replace('/path/to/repository', $repo)

            $result = Invoke-Bash $line -WorkingDirectory $repo

            $result.ExitCode | Should -Be 0 -Because ($result.StdErr -join "`n")
            $result.StdOut | Should -Match 'my-job-id\s+pipeline\s+Completed\s+ml\.t3\.xlarge\s+3/3'
            (Get-CreatedJob).Count | Should -Be 3
        }

        It 'Should exit 1 when a processing job fails' {
            $repo = New-SeedRepository 'bash-cloud-fail' -RoleArn $role
            Invoke-AwsEmulatorAdmin $emulator POST sagemaker/job-behaviour @{ durationMs = 0; outcome = 'Failed'; execute = $false } | Out-Null

            $result = Invoke-Bash "rlabs aws pipeline run -p pipeline.yaml -c credentials.yaml -r $repo -i ml.t3.xlarge -j cloud-fail" -WorkingDirectory $repo

            $result.ExitCode | Should -Be 1
            $result.StdOut | Should -Match 'cloud-fail\s+pipeline\s+Failed'
            $result.StdErr[0] | Should -Match '^rlabs: '
            (Get-CreatedJob).Count | Should -Be 1
        }
    }

    Context 'Given --help' {
        It 'Should print the usage of <Path> in PowerShell' -ForEach @(
            @{ Path = 'rlabs'; Words = @(); Expected = 'Usage: rlabs \[OPTIONS\] COMMAND' }
            @{ Path = 'rlabs aws'; Words = @('aws'); Expected = 'Usage: rlabs aws \[OPTIONS\] COMMAND' }
            @{ Path = 'rlabs aws pipeline'; Words = @('aws', 'pipeline'); Expected = '(?s)Usage: rlabs aws pipeline \[OPTIONS\] COMMAND.*enable-scheduling' }
            @{ Path = 'rlabs aws pipeline run'; Words = @('aws', 'pipeline', 'run'); Expected = '(?s)Usage: rlabs aws pipeline run \[OPTIONS\].*-i, --instance-type TYPE.*\[default: ml\.t3\.xlarge' }
            @{ Path = 'rlabs aws pipeline schedule'; Words = @('aws', 'pipeline', 'schedule'); Expected = '(?s)-es, --event-schedule EXPR.*  --role-name NAME' }
            @{ Path = 'rlabs aws pipeline enable-scheduling'; Words = @('aws', 'pipeline', 'enable-scheduling'); Expected = '-pc, -pn, --project-name NAME' }
            @{ Path = 'rlabs aws pipeline disable-scheduling'; Words = @('aws', 'pipeline', 'disable-scheduling'); Expected = 'Disable-RlabsPipelineSchedule' }
        ) {
            $help = rlabs @Words --help

            $help | Should -BeOfType [string]
            $help | Should -Match "^Usage: $([regex]::Escape($Path)) "
            $help | Should -Match $Expected
        }

        It 'Should say in the schedule help that -r is the repository path and the role name long-form only' {
            rlabs aws pipeline schedule --help | Should -Match '-r is the repository path, and the role name has only the long form --role-name'
        }

        It 'Should print it from bash and exit 0' -Tag 'Launcher' {
            $result = Invoke-Bash 'rlabs aws pipeline schedule --help'

            $result.ExitCode | Should -Be 0
            $result.StdOut | Should -Match '(?m)^Usage: rlabs aws pipeline schedule \[OPTIONS\]$'
            $result.StdOut | Should -Match '(?m)^  -id, --instance-id ID +EC2 machine instance id  \[required without --serverless\]$'
            $result.StdErr | Should -BeNullOrEmpty
        }
    }

    Context 'Given a wrong command line' {
        It 'Should throw CommandLineInvalid naming <Flag> in PowerShell' -ForEach @(
            @{ Words = @('aws', 'pipeline', 'run', '-c', 'credentials.yaml'); Flag = '--pipeline-config-file'; Expected = 'Missing option -p/--pipeline-config-file FILE' }
            @{ Words = @('aws', 'pipeline', 'run', '-p', 'pipeline.yaml', '--colour'); Flag = '--colour'; Expected = 'No such option: --colour' }
            @{ Words = @('aws', 'pipeline', 'run', '-p', 'pipeline.yaml', '-i', 'huge'); Flag = '-i'; Expected = "'huge' is not an instance type: expected 'local' or a SageMaker instance type" }
            @{ Words = @('aws', 'pipeline', 'schedule', '-id', 'i-1', '-p', 'k.pem', '-pc', 'p.yaml', '-es', 'rate(1 hour)'); Flag = '-id'; Expected = "'i-1' is not an EC2 instance id" }
        ) {
            $err = { rlabs @Words } | Should -Throw -ErrorId 'CommandLineInvalid' -PassThru

            $err.TargetObject | Should -Be $Flag
            $err.CategoryInfo.Category | Should -Be 'InvalidArgument'
            $err.Exception.Message | Should -Match ([regex]::Escape($Expected))
            $err.Exception.Message | Should -Not -Match "`n"
        }

        It 'Should not take -p, -i or -v for PowerShell common parameters' {
            $err = { rlabs aws pipeline run -i local -v -o out -e x } | Should -Throw -ErrorId 'CommandLineInvalid' -PassThru

            $err.Exception.Message | Should -Match 'No such option: -o\.'
        }

        It 'Should exit 2 from bash with one line on stderr: <Line>' -Tag 'Launcher' -ForEach @(
            @{ Line = 'rlabs aws pipeline run --pipeline-config-file'; Expected = 'Option -p/--pipeline-config-file requires a value' }
            @{ Line = 'rlabs aws pipeline run -p pipeline.yaml -j "not valid"'; Expected = "Option -j/--job-id: 'not valid' is not a valid job id" }
            @{ Line = 'rlabs aws pipeline start'; Expected = "No such command 'start'" }
            @{ Line = 'rlabs aws pipeline schedule -id i-07c3cedbe6988ed49 -p k.pem -pc p.yaml --event-schedule rate\(1 hours'; Expected = 'unbalanced parentheses' }
            @{ Line = 'rlabs aws pipeline schedule -id i-07c3cedbe6988ed49 -p k.pem -r /repo -pc p.yaml -es "rate(1 hour)" -r role'; Expected = 'give the role name with --role-name' }
            @{ Line = 'rlabs'; Expected = "Missing command: expected 'aws'" }
        ) {
            $result = Invoke-Bash $Line

            $result.ExitCode | Should -Be 2
            $result.StdErr.Count | Should -Be 1 -Because ($result.StdErr -join "`n")
            $result.StdErr[0] | Should -Match "^rlabs.*$([regex]::Escape($Expected)).* See 'rlabs.* --help'\.$"
            $result.StdOut | Should -BeNullOrEmpty
        }
    }

    Context 'Given the launcher' -Tag 'Launcher' {
        It 'Should be executable and find its module through a symbolic link' {
            $link = Join-Path $TestDrive 'link-bin'
            New-Item -ItemType Directory -Path $link | Out-Null
            New-Item -ItemType SymbolicLink -Path (Join-Path $link 'rlabs') -Target (Join-Path $bin 'rlabs') | Out-Null

            $result = Invoke-Bash "'$link/rlabs' aws --help"

            $result.ExitCode | Should -Be 0 -Because ($result.StdErr -join "`n")
            $result.StdOut | Should -Match '^Usage: rlabs aws '
        }

        It 'Should run pwsh given as several words in RLABS_PWSH' {
            $result = Invoke-Bash "RLABS_PWSH='dotnet $(Join-Path $PSHOME 'pwsh.dll')' rlabs --help"

            $result.ExitCode | Should -Be 0 -Because ($result.StdErr -join "`n")
            $result.StdOut | Should -Match '^Usage: rlabs '
        }

        It 'Should run a seed command line from a directory outside the repository with neither pwsh on the PATH nor RLABS_PWSH' {
            # A machine that only ran the README's set-up lines: PowerShell is the repository's local dotnet tool.
            $repo = New-SeedRepository 'no-pwsh-on-path'
            $elsewhere = Join-Path $TestDrive 'elsewhere'
            New-Item -ItemType Directory -Path $elsewhere | Out-Null
            $dotnetDir = Split-Path (Get-Command dotnet -CommandType Application | Select-Object -First 1).Source

            $result = Invoke-Bash "env -u RLABS_PWSH PATH=/usr/bin:/bin:$dotnetDir '$bin/rlabs' aws pipeline run -p '$repo/pipeline.yaml' -r '$repo' -i local -j outside-1" -WorkingDirectory $elsewhere

            $result.ExitCode | Should -Be 0 -Because ($result.StdErr -join "`n")
            $result.StdOut | Should -Match 'outside-1\s+pipeline\s+Completed'
            Join-Path $repo '.rlabs/data/data/outside-1/scores/metrics.json' | Should -Exist
        }

        It 'Should stop the run and exit 130 with one line when Ctrl-C (SIGINT) interrupts it' -Skip:$IsWindows {
            $repo = New-SeedRepository 'interrupt'
            $pidFile = Join-Path $TestDrive 'interrupt.pid'
            Set-Content (Join-Path $repo 'sleeper.py') "import os, time`nopen(r'$pidFile', 'w').write(str(os.getpid()))`ntime.sleep(300)`n"
            "pipeline:`n  - { name: sleep, job_suffix: Z, code: sleeper.py, output_path: data }`n  - { name: after, job_suffix: A, code: sleeper.py, output_path: data }" |
                Set-Content (Join-Path $repo 'slow.yaml')
            $start = [Diagnostics.ProcessStartInfo]::new((Join-Path $bin 'rlabs'))
            foreach ($word in 'aws', 'pipeline', 'run', '-p', 'slow.yaml', '-i', 'local', '-j', 'interrupt-1') { $start.ArgumentList.Add($word) }
            $start.WorkingDirectory = $repo
            $start.RedirectStandardError = $true
            $start.RedirectStandardOutput = $true
            $process = [Diagnostics.Process]::Start($start)
            try {
                $stderr = $process.StandardError.ReadToEndAsync()
                $null = $process.StandardOutput.ReadToEndAsync()
                $deadline = (Get-Date).AddSeconds(60)
                while (-not (Test-Path $pidFile) -or -not (Get-Content $pidFile -Raw)) {
                    if ((Get-Date) -gt $deadline -or $process.HasExited) { throw "The step never started: $($stderr.Result)" }
                    Start-Sleep -Milliseconds 100
                }
                $stepPid = [int](Get-Content $pidFile -Raw)

                & kill -INT $process.Id

                $process.WaitForExit(30000) | Should -BeTrue -Because 'an interrupted run returns promptly'
                $process.ExitCode | Should -Be 130
                $lines = @($stderr.Result -split "`n" | Where-Object { $_ })
                $lines[-1] | Should -Be 'rlabs: interrupted: run interrupt-1 stopped: its running steps (local processes or SageMaker jobs) were stopped and later steps not started.'
                Get-Process -Id $stepPid -ErrorAction Ignore | Where-Object { -not $_.HasExited } | Should -BeNullOrEmpty -Because 'the step process is stopped with the run'
            } finally {
                if (-not $process.HasExited) { $process.Kill($true) }
            }
        }

        Context 'Given a launcher whose recorded PowerShell is gone' {
            BeforeAll {
                # A copy of out/bin beside the module, with its own rlabs-pwsh.txt.
                function New-LauncherCopy([string] $Name, [string[]] $Record) {
                    $top = Join-Path $TestDrive $Name
                    $copyBin = Join-Path $top 'bin'
                    New-Item -ItemType Directory -Path $copyBin | Out-Null
                    Copy-Item (Join-Path $bin 'rlabs'), (Join-Path $bin 'rlabs.ps1') $copyBin
                    New-Item -ItemType SymbolicLink -Path (Join-Path $top 'Rlabs.Pipelines') -Target (Split-Path $env:RLABS_MODULE_PATH) | Out-Null
                    Set-Content -Path (Join-Path $copyBin 'rlabs-pwsh.txt') -Value $Record
                    $copyBin
                }
            }

            It 'Should fall back to dotnet tool run pwsh in the repository that built it, keeping the caller''s directory' {
                $copyBin = New-LauncherCopy 'tool-run' '/nonexistent/dotnet', '/nonexistent/pwsh.dll', (Get-RepositoryRoot)
                $dotnetDir = Split-Path (Get-Command dotnet -CommandType Application | Select-Object -First 1).Source
                $repo = New-SeedRepository 'tool-run-repo'

                $result = Invoke-Bash "env -u RLABS_PWSH PATH=/usr/bin:/bin:$dotnetDir '$copyBin/rlabs' aws pipeline run -p pipeline.yaml -i local -j toolrun-1" -WorkingDirectory $repo

                $result.ExitCode | Should -Be 0 -Because ($result.StdErr -join "`n")
                Join-Path $repo '.rlabs/data/data/toolrun-1/scores/metrics.json' | Should -Exist
            }

            It 'Should exit 127 with one line when there is no pwsh at all' {
                $copyBin = New-LauncherCopy 'no-pwsh' '/nonexistent/dotnet', '/nonexistent/pwsh.dll', '/nonexistent/repository'

                $result = Invoke-Bash "env -u RLABS_PWSH PATH=/usr/bin:/bin '$copyBin/rlabs' --help"

                $result.ExitCode | Should -Be 127
                $result.StdErr | Should -Be 'rlabs: PowerShell 7 (pwsh) is not on the PATH: install it, or set RLABS_PWSH to it, e.g. RLABS_PWSH=/opt/microsoft/powershell/7/pwsh.'
            }
        }

        It 'Should ship rlabs.cmd for cmd with CRLF line ends, passing every argument to rlabs.ps1' {
            $text = [IO.File]::ReadAllText((Join-Path $bin 'rlabs.cmd'))

            $text | Should -Not -Match "[^`r]`n"
            $text | Should -Match '-NoProfile -NonInteractive -File "%~dp0rlabs\.ps1" %\*'
            $text | Should -Match 'exit /b %ERRORLEVEL%'
        }
    }
}
