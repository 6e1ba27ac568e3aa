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
    # rlabs, the original CLI's command lines over the cmdlets: a script function, so -p, -i, -v stay its own.
    NestedModules        = @('Rlabs.Pipelines.Cli.psm1')
    FormatsToProcess     = @('Rlabs.Pipelines.Format.ps1xml')
    CmdletsToExport      = @(
        'Get-RlabsPipeline'
        'Test-RlabsPipeline'
        'Invoke-RlabsPipeline'
        'Get-RlabsPipelineRun'
        'Wait-RlabsPipelineRun'
        'Stop-RlabsPipelineRun'
        'Export-RlabsPipelineDefinition'
        'New-RlabsPipelineSchedule'
        'Get-RlabsPipelineSchedule'
        'Enable-RlabsPipelineSchedule'
        'Disable-RlabsPipelineSchedule'
        'Remove-RlabsPipelineSchedule'
    )
    FunctionsToExport    = @('rlabs')
    VariablesToExport    = @()
    AliasesToExport      = @()
    PrivateData          = @{
        PSData = @{
            Tags         = @('SageMaker', 'AWS', 'Pipeline', 'DataScience', 'Notebook', 'MLOps', 'Jupyter', 'CI', 'GitHubActions', 'AzurePipelines', 'PSEdition_Core', 'Linux', 'Windows', 'MacOS')
            # No ProjectUri/LicenseUri: the module has no public home yet; LICENSE and CHANGELOG.md ship inside it.
            # The build replaces this with the CHANGELOG.md section of ModuleVersion.
            ReleaseNotes = 'CHANGELOG.md'
        }
    }
}
