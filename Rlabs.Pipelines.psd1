@{
    RootModule           = 'Rlabs.Pipelines.dll'
    ModuleVersion        = '0.1.0'
    GUID                 = '6f3c2a0e-8d4b-4e62-9a1f-2b7c5d9e4a13'
    Author               = 'Rlabs'
    CompanyName          = 'Rlabs'
    Copyright            = '(c) Rlabs. All rights reserved.'
    Description          = 'Run multi-step data-apps pipelines (code scripts and notebooks from your repository) locally or as Amazon SageMaker Processing jobs, and schedule them.'
    PowerShellVersion    = '7.4'
    CompatiblePSEditions = @('Core')
    FormatsToProcess     = @('Rlabs.Pipelines.Format.ps1xml')
    CmdletsToExport      = @(
        'Get-RlabsPipeline'
        'Test-RlabsPipeline'
        'Invoke-RlabsPipeline'
        'Get-RlabsPipelineRun'
        'Wait-RlabsPipelineRun'
        'Stop-RlabsPipelineRun'
    )
    FunctionsToExport    = @()
    VariablesToExport    = @()
    AliasesToExport      = @()
    PrivateData          = @{
        PSData = @{
            Tags       = @('SageMaker', 'AWS', 'Pipeline', 'DataScience', 'Notebook')
            ProjectUri = 'https://example.invalid/rlabs/Rlabs.Pipelines'
        }
    }
}
