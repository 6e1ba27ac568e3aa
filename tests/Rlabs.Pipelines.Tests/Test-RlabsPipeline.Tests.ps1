BeforeAll {
    Import-Module $env:RLABS_MODULE_PATH -Force
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    $repo = Copy-ExampleRepository (Join-Path $TestDrive 'examples')
}

Describe 'Test-RlabsPipeline' {
    Context 'Given valid pipelines' {
        It 'Should emit nothing for <_>' -ForEach @('sample_pipeline.yaml', 'notebook_pipeline.yaml') {
            Test-RlabsPipeline -Path (Join-Path $repo "pipelines/$_") -RepositoryPath $repo | Should -BeNullOrEmpty
        }

        It 'Should return $true with -Quiet' {
            Test-RlabsPipeline -Path (Join-Path $repo 'pipelines/sample_pipeline.yaml') -RepositoryPath $repo -Quiet | Should -BeExactly $true
        }
    }

    Context 'Given a pipeline with several problems' {
        BeforeAll {
            $bad = Join-Path $TestDrive 'problems.yaml'
            @'
pipeline:
  - name: prepare
    job_suffix: P
    code: missing_script.py
    output_path: data
    params:
      notebook_path: notebooks/nope.ipynb
      columns: [a, b]
  - name: prepare
    job_suffix: P_2
    code: sagemaker_code_script.py
    output_pth: data
'@ | Set-Content $bad
            $diagnostics = Test-RlabsPipeline -Path $bad -RepositoryPath $repo
        }

        It 'Should emit one typed diagnostic per problem' {
            $diagnostics[0].GetType().FullName | Should -Be 'Rlabs.Pipelines.RlabsPipelineDiagnostic'
            $diagnostics.RuleName | Sort-Object | Should -Be @('CodeNotFound', 'DuplicateStepName', 'InvalidJobSuffix', 'MissingKey', 'NotebookNotFound', 'ParamNotScalar', 'UnknownKey')
        }

        It 'Should give file, line, column, message and hint for each' {
            foreach ($d in $diagnostics) {
                $d.File | Should -Be $bad
                $d.Line | Should -BeGreaterThan 0
                $d.Column | Should -BeGreaterThan 0
                $d.Message | Should -Not -BeNullOrEmpty
                $d.Hint | Should -Not -BeNullOrEmpty
            }
            ($diagnostics | Where-Object RuleName -eq 'CodeNotFound').Line | Should -Be 4
            ($diagnostics | Where-Object RuleName -eq 'UnknownKey').Hint | Should -Match "Did you mean 'output_path'"
        }

        It 'Should return $false with -Quiet' {
            Test-RlabsPipeline -Path $bad -RepositoryPath $repo -Quiet | Should -BeExactly $false
        }

        It 'Should show diagnostics as a table' {
            ($diagnostics | Out-String) | Should -Match 'Line\s+Col\s+Severity\s+RuleName\s+Problem'
        }
    }

    Context 'Given files that are not pipelines at all' {
        It 'Should report <Name> without crashing' -ForEach @(
            @{ Name = 'binary garbage'; Bytes = [byte[]](0..255) }
            @{ Name = 'a tab-indented file'; Text = "pipeline:`n`t- name: a" }
            @{ Name = 'an empty file'; Text = '' }
            @{ Name = 'a missing file'; Missing = $true }
        ) {
            $file = Join-Path $TestDrive 'odd.yaml'
            Remove-Item $file -ErrorAction Ignore
            if ($Bytes) { [IO.File]::WriteAllBytes($file, $Bytes) } elseif (-not $Missing) { Set-Content $file $Text -NoNewline }

            $result = @(Test-RlabsPipeline -Path $file -RepositoryPath $repo)

            $result.Count | Should -BeGreaterThan 0
            $result[0].Severity | Should -Be 'Error'
        }
    }
}
