# Beside AWS.Tools and in CI, against the AWS emulator: shell defaults, -Credential, -ProfileLocation, piped
# session parameters, Wait -Timeout, instance types refused before any upload, and OIDC web identity.
BeforeAll {
    Import-Module $env:RLABS_MODULE_PATH -Force
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-Module (Join-Path $env:RLABS_EMULATOR_DIR 'AwsEmulator.psm1') -Force
    $emulator = Start-AwsEmulator -EmulatorDll (Join-Path $env:RLABS_EMULATOR_DIR 'Rlabs.Pipelines.AwsEmulator.dll')
    $names = 'AWS_ENDPOINT_URL', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_REGION', 'AWS_DEFAULT_REGION', 'AWS_PROFILE',
        'AWS_WEB_IDENTITY_TOKEN_FILE', 'AWS_ROLE_ARN', 'AWS_ROLE_SESSION_NAME', 'AWS_CONFIG_FILE', 'AWS_SHARED_CREDENTIALS_FILE', 'AWS_EC2_METADATA_DISABLED'
    $saved = @{}
    foreach ($name in $names) { $saved[$name] = [Environment]::GetEnvironmentVariable($name) }
    $env:AWS_ENDPOINT_URL = $emulator.Url
    $env:AWS_EC2_METADATA_DISABLED = 'true'
    # Nothing from the machine: every test says where its credentials and region come from.
    $env:AWS_CONFIG_FILE = Join-Path $TestDrive 'no-config'
    $env:AWS_SHARED_CREDENTIALS_FILE = Join-Path $TestDrive 'no-credentials'
    $repo = Copy-ExampleRepository (Join-Path $TestDrive 'awstools')
    $sample = Join-Path $repo 'pipelines/sample_pipeline.yaml'
    $role = 'arn:aws:iam::123456789012:role/rlabs-sagemaker'
    $oldAws = Join-Path (Get-NuGetPackagesPath) 'awssdk.core/4.0.3.3/lib/net8.0/AWSSDK.Core.dll'
    function Get-EmulatorRequests([string] $Service, [string] $Operation) {
        @((Invoke-AwsEmulatorAdmin $emulator GET "requests?service=$Service&operation=$Operation"))
    }
    function Clear-AwsEnvironment {
        foreach ($name in 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_REGION', 'AWS_DEFAULT_REGION', 'AWS_PROFILE', 'AWS_WEB_IDENTITY_TOKEN_FILE', 'AWS_ROLE_ARN') {
            [Environment]::SetEnvironmentVariable($name, $null)
        }
    }
}

AfterAll {
    if ($emulator) { Stop-AwsEmulator $emulator }
    foreach ($name in $saved.Keys) { [Environment]::SetEnvironmentVariable($name, $saved[$name]) }
}

Describe 'Beside AWS.Tools' -Tag 'Emulator' {
    BeforeEach {
        Clear-AwsEnvironment
        Invoke-AwsEmulatorAdmin $emulator POST reset | Out-Null
        Invoke-AwsEmulatorAdmin $emulator POST sagemaker/job-behaviour @{ durationMs = 0; outcome = 'Completed'; execute = $true } | Out-Null
    }

    Context 'Given Set-AWSCredential and Set-DefaultAWSRegion ran (their $StoredAWSCredentials and $StoredAWSRegion)' {
        It 'Should sign with the stored credentials in the stored region, read across load contexts' {
            # AWS.Tools keeps an AWSPSCredentials wrapping an AWSCredentials of its own AWSSDK.Core (PowerShell's context).
            $result = Invoke-ChildPwsh -ArgumentList $env:RLABS_MODULE_PATH, $oldAws, $sample, $repo, $role -ScriptBlock {
                param($module, $oldAws, $sample, $repo, $role)
                Add-Type -Path $oldAws
                class AWSPSCredentials { [object] $Credentials; [string] $Name }
                $global:StoredAWSCredentials = [AWSPSCredentials]@{ Credentials = [Amazon.Runtime.BasicAWSCredentials]::new('AKIDSTOREDSHELL', 'stored-secret'); Name = 'analytics' }
                $global:StoredAWSRegion = 'eu-central-1'
                Import-Module $module
                $run = Invoke-RlabsPipeline -Path $sample -RepositoryPath $repo -InstanceType ml.t3.xlarge -JobId stored -RoleArn $role -Verbose 4>&1 |
                    ForEach-Object { if ($_ -is [System.Management.Automation.VerboseRecord]) { if ($_.Message -like 'AWS session:*') { "VERBOSE=$($_.Message)" } } else { "STATUS=$($_.Status)"; "REGION=$($_.Region)" } }
                $run
            }

            $result.Output | Should -Contain 'STATUS=Completed' -Because ($result.Output -join "`n")
            $result.Output | Should -Contain 'REGION=eu-central-1'
            $result.Output | Should -Contain "VERBOSE=AWS session: region eu-central-1, credentials from the shell variable `$StoredAWSCredentials (profile 'analytics')."
            $calls = Get-EmulatorRequests sagemaker CreateProcessingJob
            $calls.Count | Should -Be 3
            $calls.accessKeyId | Sort-Object -Unique | Should -Be 'AKIDSTOREDSHELL'
            $calls.region | Sort-Object -Unique | Should -Be 'eu-central-1'
        }

        It 'Should let -Region and -AccessKey beat the shell defaults' {
            $result = Invoke-ChildPwsh -ArgumentList $env:RLABS_MODULE_PATH, $oldAws -ScriptBlock {
                param($module, $oldAws)
                Add-Type -Path $oldAws
                class AWSPSCredentials { [object] $Credentials; [string] $Name }
                $global:StoredAWSCredentials = [AWSPSCredentials]@{ Credentials = [Amazon.Runtime.BasicAWSCredentials]::new('AKIDSTOREDSHELL', 's') }
                $global:StoredAWSRegion = 'eu-central-1'
                Import-Module $module
                Get-RlabsPipelineRun -JobId none -ProjectName p -Region us-west-2 -AccessKey AKIDEXPLICIT -SecretKey s -ErrorAction SilentlyContinue
                'DONE'
            }
            $result.Output | Should -Contain 'DONE'
            $calls = @((Invoke-AwsEmulatorAdmin $emulator GET requests))
            $calls.Count | Should -BeGreaterThan 0
            $calls.accessKeyId | Sort-Object -Unique | Should -Be 'AKIDEXPLICIT'
            $calls.region | Sort-Object -Unique | Should -Be 'us-west-2'
        }
    }

    Context 'Given -Credential with what Get-AWSCredential returns' {
        It 'Should sign with those credentials, session token included' {
            $result = Invoke-ChildPwsh -ArgumentList $env:RLABS_MODULE_PATH, $oldAws -ScriptBlock {
                param($module, $oldAws)
                Add-Type -Path $oldAws
                Import-Module $module
                $credential = [Amazon.Runtime.SessionAWSCredentials]::new('ASIACREDENTIALPARAM', 'secret', 'session-token')
                Get-RlabsPipelineRun -JobId none -ProjectName p -Region eu-west-1 -Credential $credential -ErrorAction SilentlyContinue
                'DONE'
            }
            $result.Output | Should -Contain 'DONE' -Because ($result.Output -join "`n")
            $calls = @((Invoke-AwsEmulatorAdmin $emulator GET requests))
            $calls.accessKeyId | Sort-Object -Unique | Should -Be 'ASIACREDENTIALPARAM'
            ($calls | Where-Object service -NE 's3').hasSessionToken | Sort-Object -Unique | Should -Be $true -Because ($calls | ForEach-Object { "$($_.service) $($_.operation) $($_.hasSessionToken)" })
        }

        It 'Should refuse an object without keys with a clear error' {
            { Get-RlabsPipelineRun -JobId none -ProjectName p -Region eu-west-1 -Credential ([pscustomobject]@{ Name = 'x' }) } |
                Should -Throw -ErrorId 'AwsSessionInvalid,Rlabs.Pipelines.Commands.GetRlabsPipelineRunCommand'
        }
    }

    Context 'Given -ProfileLocation' {
        It 'Should read -ProfileName from that credentials file' {
            $file = Join-Path $TestDrive 'team-credentials'
            "[team]`naws_access_key_id = AKIDPROFILELOCATION`naws_secret_access_key = s`nregion = ap-southeast-2`n" | Set-Content $file

            Get-RlabsPipelineRun -JobId none -ProjectName p -ProfileName team -ProfileLocation $file -Region eu-west-1 -ErrorAction SilentlyContinue

            (@(Invoke-AwsEmulatorAdmin $emulator GET requests)).accessKeyId | Sort-Object -Unique | Should -Be 'AKIDPROFILELOCATION'
        }

        It 'Should name a missing file' {
            $err = { Get-RlabsPipelineRun -JobId none -ProjectName p -ProfileName team -ProfileLocation (Join-Path $TestDrive 'missing') -Region eu-west-1 } | Should -Throw -PassThru
            $err.FullyQualifiedErrorId | Should -BeLike 'AwsSessionInvalid,*'
            $err.Exception.Message | Should -Match 'missing'
            $err.ErrorDetails.RecommendedAction | Should -Not -BeNullOrEmpty
        }
    }

    Context 'Given a run piped from Invoke-RlabsPipeline -Region … -NoWait and no AWS_REGION' {
        It 'Should bind -Region by property name and finish the run' {
            $env:AWS_ACCESS_KEY_ID = 'AKIDPIPED'
            $env:AWS_SECRET_ACCESS_KEY = 's'

            $done = Invoke-RlabsPipeline -Path $sample -RepositoryPath $repo -InstanceType ml.t3.xlarge -JobId piped -RoleArn $role -Region eu-west-1 -NoWait -Engine Client | Wait-RlabsPipelineRun

            $done.Status | Should -Be 'Completed'
            $done.Region | Should -Be 'eu-west-1'
            (Get-EmulatorRequests sagemaker CreateProcessingJob).region | Sort-Object -Unique | Should -Be 'eu-west-1'
        }

        It 'Should treat an empty piped Region (a CSV cell) as not given' {
            $env:AWS_ACCESS_KEY_ID = 'AKIDPIPED'; $env:AWS_SECRET_ACCESS_KEY = 's'; $env:AWS_REGION = 'eu-north-1'

            [pscustomobject]@{ JobId = 'no-such-run'; ProjectName = 'awstools'; Region = ''; ProfileName = '' } |
                Get-RlabsPipelineRun -ErrorVariable errors -ErrorAction SilentlyContinue

            $errors.FullyQualifiedErrorId | Should -Be 'RunNotFound,Rlabs.Pipelines.Commands.GetRlabsPipelineRunCommand'
            (Get-EmulatorRequests sts GetCallerIdentity).region | Should -Be 'eu-north-1'
        }
    }

    Context 'Given a misspelt instance type' {
        It 'Should refuse -InstanceType <Type> with a did-you-mean before any AWS call' -ForEach @(
            @{ Type = 'ml.t3.xlrge'; Suggestion = 'ml.t3.xlarge' }
            @{ Type = 'ml.m5.lage'; Suggestion = 'ml.m5.large' }
        ) {
            $env:AWS_ACCESS_KEY_ID = 'AKIDTYPO'; $env:AWS_SECRET_ACCESS_KEY = 's'; $env:AWS_REGION = 'eu-west-1'
            $err = { Invoke-RlabsPipeline -Path $sample -RepositoryPath $repo -InstanceType $Type -JobId typo -RoleArn $role } | Should -Throw -PassThru

            $err.FullyQualifiedErrorId | Should -Be 'InvalidInstanceType,Rlabs.Pipelines.Commands.InvokeRlabsPipelineCommand'
            $err.Exception.Message | Should -Match "Did you mean '$([regex]::Escape($Suggestion))'\?"
            @(Invoke-AwsEmulatorAdmin $emulator GET requests | Where-Object { $_ }).Count | Should -Be 0 -Because (Invoke-AwsEmulatorAdmin $emulator GET requests | ConvertTo-Json -Depth 3 -Compress)
        }

        It 'Should refuse one in the pipeline file with its line, before any AWS call' {
            $env:AWS_ACCESS_KEY_ID = 'AKIDTYPO'; $env:AWS_SECRET_ACCESS_KEY = 's'; $env:AWS_REGION = 'eu-west-1'
            $typo = Join-Path $repo 'pipelines/typo.yaml'
            "instance_type: ml.t3.xlrge`n" + (Get-Content $sample -Raw) | Set-Content $typo

            $err = { Invoke-RlabsPipeline -Path $typo -RepositoryPath $repo -JobId typo2 -RoleArn $role } | Should -Throw -PassThru

            $err.FullyQualifiedErrorId | Should -BeLike 'PipelineConfigInvalid,*'
            $err.Exception.Message | Should -Match "typo\.yaml:1:\d+.*Did you mean 'ml\.t3\.xlarge'\?"
            @(Invoke-AwsEmulatorAdmin $emulator GET requests | Where-Object { $_ }).Count | Should -Be 0 -Because (Invoke-AwsEmulatorAdmin $emulator GET requests | ConvertTo-Json -Depth 3 -Compress)
        }
    }
}

Describe 'Invoke-RlabsPipeline -WhatIf of a cloud run without credentials' -Tag 'Emulator' {
    BeforeEach {
        Clear-AwsEnvironment
        Invoke-AwsEmulatorAdmin $emulator POST reset | Out-Null
    }

    It 'Should show the plan with the account unknown and make no call' {
        $result = Invoke-ChildPwsh -ArgumentList $env:RLABS_MODULE_PATH, $sample, $repo, $role -ScriptBlock {
            param($module, $sample, $repo, $role)
            Import-Module $module
            Invoke-RlabsPipeline -Path $sample -RepositoryPath $repo -InstanceType ml.t3.xlarge -JobId dry -RoleArn $role -Region eu-west-1 -WhatIf
            "ERRORS=$($Error.Count)"
        }
        $text = $result.Output -join "`n"

        $text | Should -Match 'no credentials found; the account is unknown' -Because $text
        $text | Should -Match 'sagemaker-eu-west-1-<account id>'
        ([regex]::Matches($text, 'sagemaker:CreateProcessingJob')).Count | Should -Be 3
        $result.Output | Should -Contain 'ERRORS=0'
        (Invoke-AwsEmulatorAdmin $emulator GET requests | Where-Object { $_ }).Count | Should -Be 0
    }

    It 'Should still need credentials to run' {
        { Invoke-RlabsPipeline -Path $sample -RepositoryPath $repo -InstanceType ml.t3.xlarge -JobId wet -RoleArn $role -Region eu-west-1 } |
            Should -Throw -ErrorId 'AwsSessionInvalid,Rlabs.Pipelines.Commands.InvokeRlabsPipelineCommand'
    }
}

Describe 'Wait-RlabsPipelineRun -Timeout' -Tag 'Emulator' {
    BeforeEach {
        Clear-AwsEnvironment
        $env:AWS_ACCESS_KEY_ID = 'AKIDWAIT'; $env:AWS_SECRET_ACCESS_KEY = 's'; $env:AWS_REGION = 'eu-west-1'
        Invoke-AwsEmulatorAdmin $emulator POST reset | Out-Null
    }

    It 'Should stop waiting after the timeout, say the run goes on, and leave the job running' {
        Invoke-AwsEmulatorAdmin $emulator POST sagemaker/job-behaviour @{ durationMs = 600000; outcome = 'Completed'; execute = $false } | Out-Null
        $started = Invoke-RlabsPipeline -Path $sample -RepositoryPath $repo -InstanceType ml.t3.xlarge -JobId slow -RoleArn $role -NoWait -Engine Client
        $clock = [Diagnostics.Stopwatch]::StartNew()

        $run = $started | Wait-RlabsPipelineRun -Timeout 2 -ErrorVariable errors -ErrorAction SilentlyContinue

        $clock.Elapsed.TotalSeconds | Should -BeLessThan 30
        $errors.Count | Should -Be 1
        $errors[0].FullyQualifiedErrorId | Should -Be 'RunWaitTimedOut,Rlabs.Pipelines.Commands.WaitRlabsPipelineRunCommand'
        $errors[0].CategoryInfo.Category | Should -Be 'OperationTimeout'
        $errors[0].Exception.Message | Should -Match "timed out after 2 s; run slow of sample_pipeline goes on in SageMaker \(Running, step 'prepare' running\)"
        $errors[0].ErrorDetails.RecommendedAction | Should -Match 'Wait-RlabsPipelineRun'
        $run.Status | Should -Be 'Running'
        (Get-EmulatorRequests sagemaker StopProcessingJob).Count | Should -Be 0
        (Get-RlabsPipelineRun -JobId slow -ProjectName awstools).Steps[0].Status | Should -Be 'Running'
    }

    It 'Should return the finished run when it ends within the timeout' {
        Invoke-AwsEmulatorAdmin $emulator POST sagemaker/job-behaviour @{ durationMs = 0; outcome = 'Completed'; execute = $true } | Out-Null
        $run = Invoke-RlabsPipeline -Path $sample -RepositoryPath $repo -InstanceType ml.t3.xlarge -JobId quick -RoleArn $role -NoWait | Wait-RlabsPipelineRun -Timeout 300
        $run.Status | Should -Be 'Completed'
    }
}

Describe 'OIDC web identity (AWS_WEB_IDENTITY_TOKEN_FILE + AWS_ROLE_ARN)' -Tag 'Emulator' {
    BeforeEach {
        Clear-AwsEnvironment
        Invoke-AwsEmulatorAdmin $emulator POST reset | Out-Null
        $token = Join-Path $TestDrive 'oidc-token'
        'eyJ-github-oidc-token' | Set-Content $token -NoNewline
        $env:AWS_WEB_IDENTITY_TOKEN_FILE = $token
        $env:AWS_ROLE_ARN = 'arn:aws:iam::123456789012:role/github-deploy'
        $env:AWS_REGION = 'eu-west-1'
    }

    It 'Should assume the role with the token and run with the temporary keys' {
        Invoke-AwsEmulatorAdmin $emulator POST sts/web-identity @{ token = 'eyJ-github-oidc-token'; roleArn = 'arn:aws:iam::123456789012:role/github-deploy' } | Out-Null
        Invoke-AwsEmulatorAdmin $emulator POST sagemaker/job-behaviour @{ durationMs = 0; outcome = 'Completed'; execute = $true } | Out-Null

        $run = Invoke-RlabsPipeline -Path $sample -RepositoryPath $repo -InstanceType ml.t3.xlarge -JobId oidc -RoleArn $role

        $run.Status | Should -Be 'Completed'
        $assumed = Get-EmulatorRequests sts AssumeRoleWithWebIdentity
        $assumed.Count | Should -Be 1
        $assumed[0].statusCode | Should -Be 200
        $assumed[0].parameters.RoleArn | Should -Be 'arn:aws:iam::123456789012:role/github-deploy'
        $assumed[0].parameters.WebIdentityToken | Should -Be 'eyJ-github-oidc-token'
        (Get-EmulatorRequests sagemaker CreateProcessingJob).accessKeyId | Sort-Object -Unique | Should -Be 'ASIAWEBIDENTITY00001'
    }

    It 'Should refresh the keys when a run outlives them instead of failing' {
        # Keys live 302 s and are renewed 300 s before expiry: every ~2 s of this run needs new ones.
        Invoke-AwsEmulatorAdmin $emulator POST sts/web-identity @{ token = 'eyJ-github-oidc-token'; lifetimeSeconds = 302 } | Out-Null
        Invoke-AwsEmulatorAdmin $emulator POST sagemaker/job-behaviour @{ durationMs = 3000; outcome = 'Completed'; execute = $true } | Out-Null

        $run = Invoke-RlabsPipeline -Path $sample -RepositoryPath $repo -InstanceType ml.t3.xlarge -JobId oidc-long -RoleArn $role

        $run.Status | Should -Be 'Completed' -Because ($run.Steps | ForEach-Object { "$($_.StepName): $($_.FailureReason)" })
        (Get-EmulatorRequests sts AssumeRoleWithWebIdentity).Count | Should -BeGreaterOrEqual 2
        $keys = (Get-EmulatorRequests sagemaker CreateProcessingJob).accessKeyId | Sort-Object -Unique
        @($keys).Count | Should -BeGreaterOrEqual 2
        @($keys) | Should -Match '^ASIAWEBIDENTITY'
        @(Invoke-AwsEmulatorAdmin $emulator GET requests) | Where-Object errorCode -Like 'ExpiredToken*' | Should -BeNullOrEmpty
    }

    It 'Should say which token was refused' {
        $err = { Invoke-RlabsPipeline -Path $sample -RepositoryPath $repo -InstanceType ml.t3.xlarge -JobId oidc-bad -RoleArn $role } | Should -Throw -PassThru

        $err.Exception.Message | Should -Match ([regex]::Escape("Web identity token of '$token' (AWS_WEB_IDENTITY_TOKEN_FILE) refused"))
        $err.Exception.Message | Should -Match 'AssumeRoleWithWebIdentity'
        $err.ErrorDetails.RecommendedAction | Should -Not -BeNullOrEmpty
        (Get-EmulatorRequests sts AssumeRoleWithWebIdentity)[0].errorCode | Should -Be 'InvalidIdentityToken'
    }
}
