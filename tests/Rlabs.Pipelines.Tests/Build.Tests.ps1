<#
build.ps1's test prerequisites (build/TestPrerequisites.psm1): on a brand-new machine the tests' Debian packages
must be found missing, installed, and proven usable, or the run must stop with one clear line.
#>
BeforeAll {
    $root = (Resolve-Path (Join-Path $PSScriptRoot '../..')).Path
    Import-Module (Join-Path $root 'build/TestPrerequisites.psm1') -Force

    # A directory of stand-in commands put first on the PATH: dpkg-query answering like dpkg does for a given
    # state, and apt-get/id so the installer believes it ran as root.
    function New-ShimDirectory([string] $DpkgStatus, [int] $DpkgExit) {
        $dir = Join-Path $TestDrive ([guid]::NewGuid().ToString('N'))
        New-Item -ItemType Directory -Path $dir | Out-Null
        $shims = @{
            'dpkg-query' = "#!/bin/sh`necho `"`$*`" >> '$dir/dpkg-query.calls'`nprintf '%s' '$DpkgStatus'`nexit $DpkgExit`n"
            'apt-get'    = "#!/bin/sh`necho `"`$*`" >> '$dir/apt-get.calls'`nexit 0`n"
            'id'         = "#!/bin/sh`necho 0`n"
        }
        foreach ($name in $shims.Keys) {
            $path = Join-Path $dir $name
            Set-Content -Path $path -Value $shims[$name] -NoNewline
            & chmod +x $path
        }
        $dir
    }
}

Describe 'The test prerequisites' -Skip:(-not $IsLinux) {
    BeforeEach { $savedPath = $env:PATH; $savedCi = $env:CI }
    AfterEach { $env:PATH = $savedPath; $env:CI = $savedCi }

    Context 'Given a package name dpkg has never heard of' {
        It 'Should report it missing (dpkg-query prints nothing and exits 1)' {
            $env:PATH = (New-ShimDirectory -DpkgStatus '' -DpkgExit 1) + [IO.Path]::PathSeparator + $savedPath
            Get-MissingDebianPackage -Name 'rlabs-no-such-package' | Should -Be 'rlabs-no-such-package'
            Test-DebianPackageInstalled -Name 'rlabs-no-such-package' | Should -BeFalse
        }

        It 'Should report it missing with the real dpkg-query too' -Skip:(-not (Get-Command dpkg-query -CommandType Application -ErrorAction Ignore)) {
            Get-MissingDebianPackage -Name 'rlabs-no-such-package-e3b0c442', 'dpkg' | Should -Be 'rlabs-no-such-package-e3b0c442'
        }
    }

    Context 'Given a package that was removed (dpkg remembers it as not-installed and exits 0)' {
        It 'Should report it missing' {
            $env:PATH = (New-ShimDirectory -DpkgStatus 'unknown ok not-installed' -DpkgExit 0) + [IO.Path]::PathSeparator + $savedPath
            Get-MissingDebianPackage -Name 'cron', 'zip' | Should -Be 'cron', 'zip'
        }
    }

    Context 'Given an installed package' {
        It 'Should not report it' {
            $env:PATH = (New-ShimDirectory -DpkgStatus 'install ok installed' -DpkgExit 0) + [IO.Path]::PathSeparator + $savedPath
            Get-MissingDebianPackage -Name 'zip' | Should -BeNullOrEmpty
        }
    }

    Context 'Given an install that leaves the packages missing' {
        It 'Should ask apt-get for every missing package and then fail with one line naming them' {
            $shims = New-ShimDirectory -DpkgStatus '' -DpkgExit 1
            $env:PATH = $shims + [IO.Path]::PathSeparator + $savedPath
            $message = $null
            try { Install-TestPrerequisite 6>$null } catch { $message = $_.Exception.Message }
            $message | Should -Match '^Test prerequisites are not usable after installing: .*python3-botocore'
            $message | Should -Not -Match "`n"
            $installed = Get-Content (Join-Path $shims 'apt-get.calls') | Where-Object { $_ -like 'install *' }
            foreach ($package in Get-TestPrerequisiteName) { $installed | Should -Match ([regex]::Escape($package)) }
        }
    }
}

Describe 'The test tiers' {
    # build.ps1 Test -Fast leaves out the Pester tags Emulator, Ssh, Container and Launcher (bash running
    # out/bin/rlabs, a fresh pwsh each). A block that needs one of those without its tag would slip into the
    # fast tier, so every such call must sit under its tag.
    BeforeDiscovery {
        $services = @{ 'Start-AwsEmulator' = 'Emulator'; 'Start-TestAwsEmulator' = 'Emulator'; 'Start-TestSshServer' = 'Ssh'; 'Invoke-Bash' = 'Launcher' }
        $testFiles = Get-ChildItem $PSScriptRoot -Filter '*.Tests.ps1'
        $starts = foreach ($file in $testFiles) {
            $ast = [System.Management.Automation.Language.Parser]::ParseFile($file.FullName, [ref] $null, [ref] $null)
            $calls = $ast.FindAll({
                    param($node)
                    $node -is [System.Management.Automation.Language.CommandAst] -and (
                        $services.ContainsKey("$($node.GetCommandName())") -or
                        ($node.GetCommandName() -eq 'Invoke-RlabsPipeline' -and $node.Extent.Text -match '-LocalRuntime\s+Container'))
                }, $true)
            foreach ($call in $calls) {
                $name = $call.GetCommandName()
                @{ File = $file.Name; Line = $call.Extent.StartLineNumber; Tier = $(if ($services.ContainsKey($name)) { $services[$name] } else { 'Container' }); Call = $call }
            }
        }
    }

    It 'Should find the services the slow tests start' -ForEach @(@{ Starts = $starts }) {
        @($Starts).Count | Should -BeGreaterThan 5
        @($Starts.Tier | Sort-Object -Unique) | Should -Be @('Container', 'Emulator', 'Launcher', 'Ssh')
    }

    It '<File> line <Line> should be under a block tagged <Tier>' -ForEach $starts {
        # The tags of the Describe/Context blocks around the call; a call in a file-level BeforeAll runs for
        # every Describe of the file, so each of them must carry the tag.
        function Get-BlockTag([System.Management.Automation.Language.CommandAst] $Block) {
            $elements = $Block.CommandElements
            for ($i = 0; $i -lt $elements.Count; $i++) {
                if ($elements[$i] -is [System.Management.Automation.Language.CommandParameterAst] -and $elements[$i].ParameterName -eq 'Tag') {
                    $elements[$i + 1].SafeGetValue()
                }
            }
        }
        $tags = @()
        $inBlock = $false
        for ($node = $Call.Parent; $node; $node = $node.Parent) {
            if ($node -is [System.Management.Automation.Language.CommandAst] -and $node.GetCommandName() -in 'Describe', 'Context', 'It') {
                $inBlock = $true
                $tags += Get-BlockTag $node
            }
        }
        if ($inBlock) {
            $tags | Should -Contain $Tier
        } else {
            $root = $Call; while ($root.Parent) { $root = $root.Parent }
            $describes = $root.FindAll({ param($n) $n -is [System.Management.Automation.Language.CommandAst] -and $n.GetCommandName() -eq 'Describe' }, $false)
            @($describes).Count | Should -BeGreaterThan 0
            foreach ($describe in $describes) { @(Get-BlockTag $describe) | Should -Contain $Tier }
        }
    }
}

Describe "The build's input fingerprint (build.ps1 Test skips a build that would change nothing)" {
    BeforeAll {
        Import-Module (Join-Path $root 'build/BuildInputs.psm1') -Force
        $tree = Join-Path $TestDrive 'repo'
        foreach ($file in 'src/Core/Engine.cs', 'src/Core/bin/Release/Core.dll', 'src/Core/obj/project.assets.json', 'docs/Invoke.md', 'build/Tool.psm1', 'build.ps1', 'README.md') {
            $path = Join-Path $tree $file
            New-Item -ItemType Directory -Force -Path (Split-Path $path) | Out-Null
            Set-Content -Path $path -Value "content of $file" -NoNewline
        }
        $inputs = @{ Root = $tree; RootFiles = @('build.ps1', 'missing.props'); Salt = 'Release|0.1.0' }
        function Get-Hash { Get-BuildInputHash @inputs }
    }

    It 'is stable while nothing changes, and ignores bin/, obj/ and files outside its inputs' {
        $before = Get-Hash
        Set-Content -Path (Join-Path $tree 'src/Core/bin/Release/Core.dll') -Value 'rebuilt output'
        Set-Content -Path (Join-Path $tree 'src/Core/obj/project.assets.json') -Value 'restored again'
        Set-Content -Path (Join-Path $tree 'README.md') -Value 'not a build input'
        Get-Hash | Should -Be $before
        $before | Should -Match '^[0-9A-F]{64}$'
    }

    It 'changes when <Change>' -ForEach @(
        @{ Change = 'a source file is edited'; Action = { Add-Content -Path (Join-Path $tree 'src/Core/Engine.cs') -Value '// edited' } }
        @{ Change = 'a source file is only touched'; Action = { (Get-Item (Join-Path $tree 'docs/Invoke.md')).LastWriteTimeUtc = [datetime]::UtcNow.AddMinutes(5) } }
        @{ Change = 'a source file is added'; Action = { Set-Content -Path (Join-Path $tree 'src/Core/New.cs') -Value 'class New {}' } }
        @{ Change = 'a build script is removed'; Action = { Remove-Item (Join-Path $tree 'build/Tool.psm1') } }
        @{ Change = 'a named root file changes'; Action = { Add-Content -Path (Join-Path $tree 'build.ps1') -Value '# more' } }
        @{ Change = 'a named root file appears'; Action = { Set-Content -Path (Join-Path $tree 'missing.props') -Value '<Project />' } }
        @{ Change = 'the salt (configuration, version, PowerShell) differs'; Action = { $inputs.Salt = 'Debug|0.1.0' } }
    ) {
        $before = Get-Hash
        & $Action
        Get-Hash | Should -Not -Be $before
    }
}
