BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    $manifest = Import-PowerShellDataFile $env:RLABS_MODULE_PATH
    $moduleRoot = Split-Path $env:RLABS_MODULE_PATH
}

Describe 'The Rlabs.Pipelines module' {
    It 'Should export exactly the cmdlets its manifest lists' {
        Import-Module $env:RLABS_MODULE_PATH -Force
        (Get-Command -Module Rlabs.Pipelines).Name | Sort-Object | Should -Be ($manifest.CmdletsToExport | Sort-Object)
        $manifest.FunctionsToExport | Should -BeNullOrEmpty
        $manifest.CompatiblePSEditions | Should -Be 'Core'
    }

    It 'Should ship its dependencies in Dependencies/ and never System.Management.Automation' {
        Join-Path $moduleRoot 'Dependencies/Rlabs.Pipelines.Core.dll' | Should -Exist
        Join-Path $moduleRoot 'Dependencies/YamlDotNet.dll' | Should -Exist
        Get-ChildItem $moduleRoot -Recurse -Filter 'System.Management.Automation.dll' | Should -BeNullOrEmpty
        Join-Path $moduleRoot 'YamlDotNet.dll' | Should -Not -Exist
    }

    Context 'Given a session that already loaded other AWSSDK.Core and YamlDotNet versions (as AWS.Tools does)' {
        It 'Should still import and run a pipeline, its own copies in a private load context' {
            $packages = Get-NuGetPackagesPath
            $oldAws = Join-Path $packages 'awssdk.core/4.0.3.3/lib/net8.0/AWSSDK.Core.dll'
            $oldYaml = Join-Path $packages 'yamldotnet/13.7.1/lib/net7.0/YamlDotNet.dll'
            $oldAws | Should -Exist
            $oldYaml | Should -Exist
            $repo = Copy-ExampleRepository (Join-Path $TestDrive 'alc')

            $result = Invoke-ChildPwsh -ArgumentList $oldAws, $oldYaml, $env:RLABS_MODULE_PATH, $repo -ScriptBlock {
                param($oldAws, $oldYaml, $module, $repo)
                $ErrorActionPreference = 'Stop'
                Add-Type -Path $oldAws
                Add-Type -Path $oldYaml
                Import-Module $module
                $run = Invoke-RlabsPipeline -Path (Join-Path $repo 'pipelines/sample_pipeline.yaml') -RepositoryPath $repo -InstanceType local -JobId alc
                "STATUS=$($run.Status)"
                # A cloud dry run resolves an AWS session, which needs the module's own AWSSDK.Core.
                Invoke-RlabsPipeline -Path (Join-Path $repo 'pipelines/sample_pipeline.yaml') -RepositoryPath $repo -InstanceType ml.t3.xlarge -JobId alc2 `
                    -RoleArn arn:aws:iam::123456789012:role/x -Region eu-west-1 -AccessKey AKIDALCTEST -SecretKey alc-secret -Bucket alc-bucket -WhatIf | Out-Null
                "WHATIF=ok"
                foreach ($a in [AppDomain]::CurrentDomain.GetAssemblies() | Where-Object { $_.GetName().Name -in 'YamlDotNet', 'AWSSDK.Core', 'Rlabs.Pipelines.Core' }) {
                    "ASM=$($a.GetName().Name)|$($a.GetName().Version)|$([Runtime.Loader.AssemblyLoadContext]::GetLoadContext($a).Name)"
                }
            }

            $result.Output | Should -Contain 'STATUS=Completed' -Because ($result.Output -join "`n")
            $yaml = $result.Output | Where-Object { $_ -like 'ASM=YamlDotNet|*' }
            $yaml.Count | Should -Be 2 -Because 'the session keeps its YamlDotNet and the module loads its own'
            $result.Output | Should -Contain 'ASM=YamlDotNet|13.0.0.0|Default'
            $result.Output | Should -Contain 'WHATIF=ok'
            $aws = $result.Output | Where-Object { $_ -like 'ASM=AWSSDK.Core|*' }
            $aws.Count | Should -Be 2 -Because 'the session keeps its AWSSDK.Core 4.0 and the module loads its 4.1'
            ($aws | Where-Object { $_ -like '*|Rlabs.Pipelines' }) | Should -Not -BeNullOrEmpty
            ($aws | Where-Object { $_ -like '*|Default' }) | Should -Not -BeNullOrEmpty
            ($result.Output | Where-Object { $_ -like 'ASM=Rlabs.Pipelines.Core|*' }) | Should -BeLike '*|Rlabs.Pipelines'
            ($yaml | Where-Object { $_ -like '*|Rlabs.Pipelines' }) | Should -Not -BeNullOrEmpty
        }
    }
}
