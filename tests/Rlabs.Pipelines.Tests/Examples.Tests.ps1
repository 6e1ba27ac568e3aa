# Every example of the help that runs without AWS, a container engine or an EC2 instance runs as written,
# from where the examples are written for: the root of a checkout, with a fresh copy of examples/ in it
# (examples that use the sample repository start with Set-Location ./examples).
BeforeDiscovery {
    Import-Module $env:RLABS_MODULE_PATH -Force
    # What makes an example need more than this machine: a cloud run, a schedule, containers, a profile.
    $remote = 'ml\.[a-z0-9]+\.|-RoleArn|Schedule|RlabsPipelineRun|-ProfileName|-LocalRuntime|-NoWait|-Resume|s3://|Get-S3|AWS'
    $examples = foreach ($command in Get-Command -Module Rlabs.Pipelines -CommandType Cmdlet) {
        $index = 0
        foreach ($example in (Get-Help $command.Name -Examples).examples.example) {
            $index++
            $code = ([string] $example.code).Trim()
            @{
                Command = $command.Name
                Title = ([string] $example.title).Trim('- ')
                Code = $code
                Local = $code -notmatch $remote
            }
        }
    }
    $local = @($examples | Where-Object Local)
}

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
}

Describe 'The examples of the help' -Tag 'Launcher' {
    It 'Should find the examples of every cmdlet in the help' -ForEach @(@{ Total = @($examples).Count; LocalCount = @($local).Count }) {
        $Total | Should -BeGreaterThan 40
        $LocalCount | Should -BeGreaterOrEqual 12 -Because 'the local examples are the ones run below'
    }

    It '<Command>: <Title> should run as written in examples/' -ForEach $local {
        $folder = Join-Path $TestDrive ([guid]::NewGuid().ToString('N'))
        $null = Copy-ExampleRepository (Join-Path $folder 'examples')
        $result = Invoke-ChildPwsh -ArgumentList $env:RLABS_MODULE_PATH, $folder, $Code -ScriptBlock {
            param($module, $folder, $code)
            $ErrorActionPreference = 'Stop'
            Import-Module $module
            Set-Location $folder
            try {
                $null = & ([scriptblock]::Create($code)) *>&1
                'EXAMPLE=OK'
            } catch {
                "EXAMPLE=FAILED: $($_.FullyQualifiedErrorId): $($_.Exception.Message)"
            }
        }
        $result.Output | Should -Contain 'EXAMPLE=OK' -Because ("$Code`n---`n" + ($result.Output -join "`n"))
    }
}
