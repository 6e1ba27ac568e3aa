# The published module: manifest metadata, LICENSE/CHANGELOG, build.ps1 Publish to a named repository,
# and an install by name that carries the rlabs launcher.
BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    $moduleRoot = Split-Path $env:RLABS_MODULE_PATH
    $root = Get-RepositoryRoot
    $manifest = Test-ModuleManifest $env:RLABS_MODULE_PATH -ErrorAction Stop
}

Describe 'The published manifest' {
    It 'Should describe the module with tags and no placeholder URLs' {
        $manifest.Description | Should -Match 'SageMaker'
        $manifest.Tags | Should -Contain 'SageMaker'
        $manifest.Tags | Should -Contain 'PSEdition_Core'
        $text = Get-Content $env:RLABS_MODULE_PATH -Raw
        $text | Should -Not -Match 'example\.(invalid|com|org)|placeholder|TODO'
        foreach ($uri in $manifest.ProjectUri, $manifest.LicenseUri, $manifest.IconUri) {
            if ($uri) { $uri.Host | Should -Not -Match 'example|invalid|localhost' }
        }
    }

    It 'Should carry the release notes of its version from CHANGELOG.md' {
        $changelog = Get-Content (Join-Path $root 'CHANGELOG.md') -Raw
        $section = [regex]::Match($changelog, "(?ms)^## $([regex]::Escape($manifest.Version.ToString()))\s*\n(.*?)(?=^## |\z)").Groups[1].Value.Trim()
        $section | Should -Not -BeNullOrEmpty
        $manifest.PrivateData.PSData.ReleaseNotes | Should -Be $section
    }

    It 'Should ship LICENSE and CHANGELOG.md, and the launchers in bin/' {
        foreach ($file in 'LICENSE', 'CHANGELOG.md', 'bin/rlabs', 'bin/rlabs.cmd', 'bin/rlabs.ps1') { Join-Path $moduleRoot $file | Should -Exist }
        Get-Content (Join-Path $moduleRoot 'LICENSE') -Raw | Should -Be (Get-Content (Join-Path $root 'LICENSE') -Raw)
    }
}

Describe 'build.ps1 Publish' -Tag 'Launcher' {
    BeforeAll {
        $feed = New-Item -ItemType Directory (Join-Path $TestDrive 'feed') -Force
        $repositoryName = "RlabsTest$([guid]::NewGuid().ToString('N').Substring(0, 8))"
        Register-PSResourceRepository -Name $repositoryName -Uri $feed.FullName -Trusted
    }

    AfterAll {
        Unregister-PSResourceRepository -Name $repositoryName -ErrorAction Ignore
    }

    It 'Should refuse a repository that is not registered, naming it' {
        $result = Invoke-ChildPwsh -ArgumentList (Join-Path $root 'build.ps1') -ScriptBlock {
            param($build)
            & $build Publish -Repository NoSuchRepositoryHere -NoBuild
        }
        $result.ExitCode | Should -Not -Be 0
        ($result.Output -join "`n") | Should -Match "No PSResourceGet repository 'NoSuchRepositoryHere' is registered"
    }

    It 'Should publish to the named repository, from which Install-PSResource installs a working module with its launcher' {
        $result = Invoke-ChildPwsh -ArgumentList (Join-Path $root 'build.ps1'), $repositoryName -ScriptBlock {
            param($build, $repository)
            & $build Publish -Repository $repository -NoBuild
        }
        $result.ExitCode | Should -Be 0 -Because ($result.Output -join "`n")
        Get-ChildItem $feed -Filter 'rlabs.pipelines.*.nupkg' | Should -Not -BeNullOrEmpty

        $installed = Join-Path $TestDrive 'installed'
        $null = New-Item -ItemType Directory $installed -Force
        $check = Invoke-ChildPwsh -ArgumentList $repositoryName, $installed, (Join-Path $root 'examples') -ScriptBlock {
            param($repository, $installed, $examples)
            $ErrorActionPreference = 'Stop'
            # Install-PSResource -Scope writes to the user's module path; -Path of Save-PSResource is the same
            # package, put where this test can look.
            Save-PSResource -Name Rlabs.Pipelines -Repository $repository -Path $installed -TrustRepository
            $module = Get-ChildItem $installed -Recurse -Filter Rlabs.Pipelines.psd1 | Select-Object -First 1
            "BASE=$($module.DirectoryName)"
            Import-Module $module.FullName
            "VERSION=$((Get-Module Rlabs.Pipelines).Version)"
            "VALID=$(Test-RlabsPipeline -Path (Join-Path $examples 'pipelines/sample_pipeline.yaml') -RepositoryPath $examples -Quiet)"
        }
        $check.Output | Should -Contain 'VALID=True' -Because ($check.Output -join "`n")
        $base = ($check.Output -like 'BASE=*') -replace '^BASE=', ''
        Join-Path $base 'bin/rlabs' | Should -Exist
        Join-Path $base 'LICENSE' | Should -Exist

        if (-not $IsWindows) {
            # A package does not keep the executable bit: the docs say to run it with bash or chmod +x it.
            $pwsh = if (Test-Path (Join-Path $PSHOME 'pwsh')) { Join-Path $PSHOME 'pwsh' } else { "dotnet $(Join-Path $PSHOME 'pwsh.dll')" }
            $env:RLABS_PWSH = $pwsh
            try {
                $help = & bash (Join-Path $base 'bin/rlabs') aws pipeline run --help 2>&1
                $LASTEXITCODE | Should -Be 0 -Because ($help -join "`n")
                ($help -join "`n") | Should -Match '--pipeline-config-file'
            } finally {
                $env:RLABS_PWSH = $null
            }
        }
    }
}
