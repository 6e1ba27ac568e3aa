BeforeAll {
    Import-Module $env:RLABS_MODULE_PATH -Force
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    $repo = Copy-ExampleRepository (Join-Path $TestDrive 'examples')
}

Describe 'Get-RlabsPipeline' {
    Context 'Given the sample pipeline of the examples repository' {
        It 'Should return a typed pipeline with typed steps in file order' {
            $pipeline = Get-RlabsPipeline -Path (Join-Path $repo 'pipelines/sample_pipeline.yaml') -RepositoryPath $repo

            $pipeline | Should -BeOfType ([type]$pipeline.GetType())
            $pipeline.GetType().FullName | Should -Be 'Rlabs.Pipelines.RlabsPipeline'
            $pipeline.Name | Should -Be 'sample_pipeline'
            $pipeline.Steps.Name | Should -Be @('prepare', 'train', 'score')
            $pipeline.Steps[0].GetType().FullName | Should -Be 'Rlabs.Pipelines.RlabsPipelineStep'
            $pipeline.Steps[1].InputData | Should -Be 'data/<job_id>'
            $pipeline.Steps[0].Params['module'] | Should -Be 'churn.prepare'
        }

        It 'Should resolve a relative path against the current location' {
            Push-Location $repo
            try {
                (Get-RlabsPipeline pipelines/sample_pipeline.yaml).Path | Should -Be (Join-Path $repo 'pipelines/sample_pipeline.yaml')
            } finally { Pop-Location }
        }

        It 'Should take files from Get-ChildItem through the pipeline' {
            $pipelines = Get-ChildItem (Join-Path $repo 'pipelines') -Filter *.yaml | Get-RlabsPipeline -RepositoryPath $repo

            $pipelines.Name | Should -Be @('notebook_pipeline', 'sample_pipeline')
        }

        It 'Should show a table view' {
            $text = Get-RlabsPipeline -Path (Join-Path $repo 'pipelines/sample_pipeline.yaml') -RepositoryPath $repo | Format-Table -AutoSize | Out-String -Width 500

            $text | Should -Match 'prepare -> train -> score'
        }
    }

    Context 'Given an invalid pipeline file' {
        It 'Should throw PipelineConfigInvalid naming the file, line and fix' {
            $bad = Join-Path $TestDrive 'bad.yaml'
            Set-Content $bad "pipeline:`n  - name: a`n    job_sufix: A`n    code: sagemaker_code_script.py`n    output_path: data"

            $err = { Get-RlabsPipeline -Path $bad -RepositoryPath $repo } | Should -Throw -PassThru

            $err.FullyQualifiedErrorId | Should -Be 'PipelineConfigInvalid,Rlabs.Pipelines.Commands.GetRlabsPipelineCommand'
            $err.CategoryInfo.Category | Should -Be 'InvalidData'
            $err.TargetObject | Should -Be $bad
            $err.Exception.Message | Should -Match 'bad\.yaml:3:5'
            $err.Exception.Message | Should -Match "Did you mean 'job_suffix'"
        }

        It 'Should report a missing repository folder' {
            $err = { Get-RlabsPipeline -Path (Join-Path $repo 'pipelines/sample_pipeline.yaml') -RepositoryPath (Join-Path $TestDrive 'nope') } | Should -Throw -PassThru

            $err.FullyQualifiedErrorId | Should -BeLike 'RepositoryNotFound,*'
        }
    }
}
