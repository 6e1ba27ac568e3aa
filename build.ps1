#Requires -Version 7.4
<#
.SYNOPSIS
    Builds, tests, demonstrates and benchmarks Rlabs.Pipelines.
.DESCRIPTION
    Build  assembles out/Rlabs.Pipelines/ from an explicit list of files, and out/bin/ with the rlabs
           launchers for bash (rlabs) and cmd (rlabs.cmd).
    Test   installs what the tests need, builds, runs xunit and Pester (in a fresh pwsh against the built
           module) and prints 'N passed, N failed'. -Fast runs only the fast tier (no container engine, sshd
           or AWS emulator) with xunit and two Pester shards side by side; -Tier picks tiers (Fast, Emulator,
           Ssh, Container, Launcher). Test, Demo and Bench skip the module build when no file under src/,
           docs/ or build/ (nor build.ps1, the manifest, the props) changed since the last one.
    Publish builds (unless -NoBuild) and publishes out/Rlabs.Pipelines/ with Publish-PSResource to the
           PSResourceGet repository named by -Repository (Register-PSResourceRepository; -ApiKey for NuGet feeds).
    Demo   runs the sample pipeline in examples/ locally (no AWS, no Docker) and prints the run table.
    Bench  measures side by side: cold Import-Module, the per-step overhead of a local run, and the per-step
           overhead of the container runtime over the process runtime (on the tests' private engine).
.EXAMPLE
    dotnet tool restore && dotnet pwsh ./build.ps1 Test
.EXAMPLE
    dotnet pwsh ./build.ps1 Publish -Repository InternalGallery -ApiKey $env:GALLERY_KEY
.EXAMPLE
    dotnet pwsh ./build.ps1 Test -Fast              # the inner loop: well under a minute
.EXAMPLE
    dotnet pwsh ./build.ps1 Test -Tier Fast, Emulator   # the fast tier and the emulator tests
#>
[CmdletBinding()]
param(
    [Parameter(Position = 0)]
    [ValidateSet('Build', 'Test', 'Demo', 'Bench', 'Clean', 'Publish')]
    [string] $Task = 'Build',

    [ValidateSet('Debug', 'Release')]
    [string] $Configuration = 'Release',

    # Test: only the fast tier (no container engine, no sshd, no AWS emulator); the developers' inner loop.
    [switch] $Fast,

    # Test: the tiers to run. Fast (everything untagged) always runs; the slow tiers are Emulator (the AWS
    # emulator), Ssh (a real sshd), Container (a private container engine) and Launcher (bash running
    # out/bin/rlabs, each a fresh pwsh). Default: all.
    [ValidateSet('Fast', 'Emulator', 'Ssh', 'Container', 'Launcher')]
    [string[]] $Tier = @('Fast', 'Emulator', 'Ssh', 'Container', 'Launcher'),

    # Bench: how many alternating rounds to measure.
    [int] $Rounds = 5,

    # Publish: the registered PSResourceGet repository to publish to (Get-PSResourceRepository lists them).
    [string] $Repository,

    # Publish: the repository's API key, when it needs one.
    [string] $ApiKey,

    # Publish: publish out/Rlabs.Pipelines/ as it is, without building it again.
    [switch] $NoBuild
)

$ErrorActionPreference = 'Stop'
Set-StrictMode -Version 3.0
$Root = $PSScriptRoot
$Out = Join-Path $Root 'out'
$NuGetPackages = $null
$ModuleOut = Join-Path $Out 'Rlabs.Pipelines'
$Manifest = Import-PowerShellDataFile (Join-Path $Root 'Rlabs.Pipelines.psd1')
$Version = $Manifest.ModuleVersion

# Everything the module ships; the build fails when one is missing (never ships System.Management.Automation).
$ModuleFiles = @('Rlabs.Pipelines.dll')
$DependencyFiles = @(
    'Rlabs.Pipelines.Core.dll'
    'YamlDotNet.dll'
    'AWSSDK.Core.dll'
    'AWSSDK.Extensions.Numerics.dll'
    'AWSSDK.S3.dll'
    'AWSSDK.EC2.dll'
    'AWSSDK.SecurityToken.dll'
    'AWSSDK.SSO.dll'
    'AWSSDK.SSOOIDC.dll'
    'System.IO.Hashing.dll'
    'Renci.SshNet.dll'
    'BouncyCastle.Cryptography.dll'
    'Microsoft.Extensions.Logging.Abstractions.dll'
    'Microsoft.Extensions.DependencyInjection.Abstractions.dll'
    'Docker.DotNet.dll'      # the container runtime's engine client (-LocalRuntime Container)
    'Newtonsoft.Json.dll'    # Docker.DotNet's JSON serializer
)

# The rlabs launchers written to out/bin and to the module's own bin/ (from src/launcher).
$LauncherFiles = @('rlabs', 'rlabs.cmd', 'rlabs.ps1')

# Shipped at the module's root next to the manifest.
$RootFiles = @('LICENSE', 'CHANGELOG.md')
# What decides the built module (build/BuildInputs.psm1): Test, Demo and Bench skip the build while it is
# unchanged and the module is in place; the Build task always builds.
Import-Module (Join-Path $Root 'build/BuildInputs.psm1') -Force
$BuildInputs = @{
    Root      = $Root
    RootFiles = @('build.ps1', 'Rlabs.Pipelines.psd1', 'Directory.Build.props', 'Directory.Packages.props', 'global.json',
        'NuGet.config', '.config/dotnet-tools.json') + $RootFiles
    Salt      = "$Configuration|$Version|$([Environment]::ProcessPath)|$PSHOME"
}

# The slow test tiers: xunit [Trait("Tier", …)] and Pester -Tag use these names; untagged tests are the fast tier.
$SlowTiers = @('Emulator', 'Ssh', 'Container', 'Launcher')
if ($Fast) { $Tier = @('Fast') }
$ExcludedTiers = @($SlowTiers | Where-Object { $_ -notin $Tier })

function Invoke-Native {
    param([string] $Command, [string[]] $Arguments)
    & $Command @Arguments
    if ($LASTEXITCODE -ne 0) { throw "'$Command $($Arguments -join ' ')' failed with exit code $LASTEXITCODE." }
}

function Invoke-BuildIfChanged {
    $stamp = Join-Path $Out 'obj/build-inputs.sha256'
    $hash = Get-BuildInputHash @BuildInputs
    $built = (Test-Path $stamp) -and (Test-Path (Join-Path $ModuleOut 'Rlabs.Pipelines.psd1')) -and
        (Test-Path (Join-Path $ModuleOut 'Dependencies/Rlabs.Pipelines.Core.dll'))
    if ($built -and (Get-Content $stamp -Raw).Trim() -eq $hash) {
        Write-Host "Rlabs.Pipelines $Version in $ModuleOut is up to date (no source changed since it was built)."
        return
    }
    Invoke-Build
}

function Invoke-Build {
    $obj = Join-Path $Out 'obj'
    $stamp = Join-Path $obj 'build-inputs.sha256'
    Remove-Item $stamp -Force -ErrorAction Ignore
    $inputHash = Get-BuildInputHash @BuildInputs
    $corePublish = Join-Path $obj 'core'
    $cmdletBuild = Join-Path $obj 'cmdlets'
    Remove-Item $corePublish, $cmdletBuild, $ModuleOut -Recurse -Force -ErrorAction Ignore
    Invoke-Native dotnet @('publish', (Join-Path $Root 'src/Rlabs.Pipelines.Core'), '-c', $Configuration, '-o', $corePublish, "-p:Version=$Version", '--nologo', '-v', 'q')
    Invoke-Native dotnet @('build', (Join-Path $Root 'src/Rlabs.Pipelines'), '-c', $Configuration, '-o', $cmdletBuild, "-p:Version=$Version", '--nologo', '-v', 'q')

    $dependencies = Join-Path $ModuleOut 'Dependencies'
    $help = Join-Path $ModuleOut 'en-US'
    New-Item -ItemType Directory -Force -Path $dependencies, $help | Out-Null
    foreach ($file in $ModuleFiles) {
        $source = Join-Path $cmdletBuild $file
        if (-not (Test-Path $source)) { throw "Build output is missing $file." }
        Copy-Item $source $ModuleOut
    }
    foreach ($file in $DependencyFiles) {
        $source = Join-Path $corePublish $file
        if (-not (Test-Path $source)) { throw "Core publish output is missing $file." }
        Copy-Item $source $dependencies
    }
    Copy-Item (Join-Path $Root 'src/Rlabs.Pipelines/Rlabs.Pipelines.Format.ps1xml') $ModuleOut
    Copy-Item (Join-Path $Root 'src/Rlabs.Pipelines/Rlabs.Pipelines.Cli.psm1') $ModuleOut
    foreach ($file in $RootFiles) {
        $source = Join-Path $Root $file
        if (-not (Test-Path $source)) { throw "$file is missing at the repository root." }
        Copy-Item $source $ModuleOut
    }
    Install-Launcher (Join-Path $Out 'bin')
    # The installed module carries the launchers too (Install-PSResource brings only the module folder).
    Install-Launcher (Join-Path $ModuleOut 'bin')
    Write-Manifest (Join-Path $ModuleOut 'Rlabs.Pipelines.psd1')
    & (Join-Path $Root 'build/ConvertTo-MamlHelp.ps1') -DocsPath (Join-Path $Root 'docs') -OutputPath $help | Out-Null
    if (Get-ChildItem $ModuleOut -Recurse -Filter 'System.Management.Automation.dll') {
        throw 'The module must not ship System.Management.Automation.dll.'
    }
    # Stamped with the inputs as they were before the build started: a file edited during the build rebuilds next time.
    [System.IO.File]::WriteAllText($stamp, $inputHash)
    Write-Host "Built Rlabs.Pipelines $Version in $ModuleOut"
}

# The manifest with PSData.ReleaseNotes taken from the CHANGELOG section of this version.
function Write-Manifest([string] $Destination) {
    $changelog = Get-Content (Join-Path $Root 'CHANGELOG.md') -Raw
    $section = [regex]::Match($changelog, "(?ms)^## \[?$([regex]::Escape($Version))\]?[^\n]*\n(.*?)(?=^## |\z)")
    if (-not $section.Success) { throw "CHANGELOG.md has no '## $Version' section: add the release notes of $Version." }
    $notes = $section.Groups[1].Value.Trim() -replace "'", "''"
    $text = [System.IO.File]::ReadAllText((Join-Path $Root 'Rlabs.Pipelines.psd1'))
    $marker = "ReleaseNotes = 'CHANGELOG.md'"
    if (-not $text.Contains($marker)) { throw "Rlabs.Pipelines.psd1 must hold $marker for the build to fill in." }
    [System.IO.File]::WriteAllText($Destination, $text.Replace($marker, "ReleaseNotes = '$notes'"), [System.Text.UTF8Encoding]::new($false))
    $null = Test-ModuleManifest $Destination -ErrorAction Stop
}

function Invoke-Publish {
    if (-not $Repository) { throw 'Publish needs -Repository <name> of a registered PSResourceGet repository (Get-PSResourceRepository).' }
    if (-not (Get-PSResourceRepository -Name $Repository -ErrorAction Ignore)) {
        throw "No PSResourceGet repository '$Repository' is registered: Register-PSResourceRepository -Name $Repository -Uri <feed or folder>."
    }
    if (-not $NoBuild) { Invoke-Build }
    $publish = @{ Path = $ModuleOut; Repository = $Repository; ErrorAction = 'Stop' }
    if ($ApiKey) { $publish.ApiKey = $ApiKey }
    Publish-PSResource @publish
    Write-Host "Published Rlabs.Pipelines $Version to $Repository"
}

# The rlabs launchers for bash and cmd: out/bin (next to out/Rlabs.Pipelines) and the module's bin/.
function Install-Launcher([string] $bin) {
    Remove-Item $bin -Recurse -Force -ErrorAction Ignore
    New-Item -ItemType Directory -Force -Path $bin | Out-Null
    foreach ($file in $LauncherFiles) {
        $source = Join-Path $Root "src/launcher/$file"
        if (-not (Test-Path $source)) { throw "The launcher source src/launcher/$file is missing." }
        $text = [System.IO.File]::ReadAllText($source) -replace "`r`n", "`n"
        # cmd.exe reads batch files reliably only with CRLF line ends; bash needs LF.
        if ($file -like '*.cmd') { $text = $text -replace "`n", "`r`n" }
        [System.IO.File]::WriteAllText((Join-Path $bin $file), $text, [System.Text.UTF8Encoding]::new($false))
    }
    # The PowerShell running this build, for the launchers' last resort when pwsh is not on the PATH (the
    # README's set-up has PowerShell only as this repository's local tool): the executable, its first argument
    # (pwsh.dll when run as 'dotnet pwsh') and this repository, one a line.
    $hostExe = [Environment]::ProcessPath
    $hostArg = if ([IO.Path]::GetFileNameWithoutExtension($hostExe) -eq 'dotnet') { Join-Path $PSHOME 'pwsh.dll' } else { '' }
    [System.IO.File]::WriteAllText((Join-Path $bin 'rlabs-pwsh.txt'), (($hostExe, $hostArg, $Root, '') -join [Environment]::NewLine), [System.Text.UTF8Encoding]::new($false))
    if (-not $IsWindows) {
        [System.IO.File]::SetUnixFileMode((Join-Path $bin 'rlabs'), [System.IO.UnixFileMode] 'UserRead, UserWrite, UserExecute, GroupRead, GroupExecute, OtherRead, OtherExecute')
    }
}

function Install-TestPrerequisites {
    # Pester comes from NuGet through a PackageDownload in tests/tools (restored once).
    if (-not (Test-Path (Get-PesterModulePath -Unchecked))) {
        Invoke-Native dotnet @('restore', (Join-Path $Root 'tests/tools/tools.csproj'), '--nologo', '-v', 'q')
    }
    # Debian packages (as root with apt-get), each proven usable afterwards: build/TestPrerequisites.psm1.
    Import-Module (Join-Path $Root 'build/TestPrerequisites.psm1') -Force
    Install-TestPrerequisite
}

function Get-PesterModulePath([switch] $Unchecked) {
    if (-not $script:NuGetPackages) {
        $script:NuGetPackages = ((& dotnet nuget locals global-packages --list) -replace '^global-packages:\s*', '').Trim()
    }
    $path = Join-Path $script:NuGetPackages 'pester/5.9.1/tools/Pester.psd1'
    if ($Unchecked) { return $path }
    if (-not (Test-Path $path)) { throw "Pester 5.9.1 was not restored to $path (dotnet restore tests/tools/tools.csproj)." }
    $path
}

function Invoke-Test {
    Install-TestPrerequisites
    Invoke-BuildIfChanged
    $results = Join-Path $Out 'test-results'
    Remove-Item $results -Recurse -Force -ErrorAction Ignore
    New-Item -ItemType Directory -Force -Path $results | Out-Null
    $env:AWS_EC2_METADATA_DISABLED = 'true'

    # A private container engine for the -LocalRuntime Container tests (Linux, root); they skip with the
    # reason where none can be started, except in CI, where they must run.
    $engine = $null
    if ('Container' -notin $ExcludedTiers) {
        try {
            $engine = & (Join-Path $Root 'tests/container/Start-TestEngine.ps1')
        } catch {
            if ($env:CI -eq 'true') { throw }
            Write-Warning "Container tests will be skipped: the test engine did not start: $_"
            $env:RLABS_TEST_ENGINE_SKIP_REASON = "$_"
        }
    }
    if ($ExcludedTiers) { Write-Host "Test tiers left out: $($ExcludedTiers -join ', ') (build.ps1 Test without -Fast/-Tier runs them)" }
    $script:TestsFailed = $true
    $script:Summary = $null
    try {
        Invoke-TestRunners
    } finally {
        & (Join-Path $Root 'tests/container/Stop-TestEngine.ps1') -Engine $engine
    }
    # CI reads the last line: repeat the summary after whatever stopping the engine printed.
    if ($script:Summary) { Write-Host $script:Summary }
    if ($script:TestsFailed) { exit 1 }
}

function Invoke-TestRunners {
    $results = Join-Path $Out 'test-results'

    # xunit: the core, in-process.
    $filter = @()
    if ($ExcludedTiers) { $filter = @('--filter', (($ExcludedTiers | ForEach-Object { "Tier!=$_" }) -join '&')) }
    $testProject = Join-Path $Root 'tests/Rlabs.Pipelines.Core.Tests'
    $xunitArgs = @('test', $testProject, '-c', $Configuration, '--nologo', '-v', 'q',
        '--logger', 'trx;LogFileName=core.trx', '--results-directory', $results) + $filter
    # The fast tier alone starts no server, engine or emulator, so nothing is shared between the two runners:
    # xunit runs beside Pester and both cores work. The slow tiers run one runner after the other.
    $sideBySide = $ExcludedTiers.Count -eq $SlowTiers.Count
    $xunitJob = $null
    $xunitExit = 0
    if ($sideBySide) {
        Invoke-Native dotnet @('build', $testProject, '-c', $Configuration, '--nologo', '-v', 'q')
        $xunitJob = Start-ThreadJob -ArgumentList (, ($xunitArgs + '--no-build')) -ScriptBlock {
            param([string[]] $Arguments)
            & dotnet @Arguments 2>&1 | ForEach-Object { "$_" }
            "xunit-exit:$LASTEXITCODE"
        }
    } else {
        & dotnet @xunitArgs
        $xunitExit = $LASTEXITCODE
    }
    # Pester: the cmdlets as users type them, in a fresh pwsh against the built module. Side by side, the test
    # files are dealt into two shards by size, each in its own pwsh; the first prints as it goes, the second after.
    $env:RLABS_EMULATOR_DIR = Join-Path $Root "tests/Rlabs.Pipelines.AwsEmulator/bin/$Configuration/net10.0"
    $runner = Join-Path $Root 'tests/Rlabs.Pipelines.Tests/Invoke-Tests.ps1'
    $pesterArgs = @('-PesterPath', (Get-PesterModulePath), '-ModulePath', (Join-Path $ModuleOut 'Rlabs.Pipelines.psd1'))
    if ($ExcludedTiers) { $pesterArgs += '-ExcludeTag', ($ExcludedTiers -join ',') }
    $shards = @(, @(Join-Path $Root 'tests/Rlabs.Pipelines.Tests'))
    if ($sideBySide) {
        $shards = @(@(), @())
        $weights = @(0L, 0L)
        $files = Get-ChildItem (Join-Path $Root 'tests/Rlabs.Pipelines.Tests') -Filter '*.Tests.ps1' -Recurse | Sort-Object Length -Descending
        foreach ($file in $files) {
            $lighter = if ($weights[0] -le $weights[1]) { 0 } else { 1 }
            $shards[$lighter] += $file.FullName
            $weights[$lighter] += $file.Length
        }
    }
    $pesterJobs = @()
    for ($i = $shards.Count - 1; $i -ge 0; $i--) {
        $name = if ($shards.Count -eq 1) { 'pester' } else { "pester-$($i + 1)" }
        $shardArgs = $pesterArgs + @('-SummaryPath', (Join-Path $results "$name.json"), '-ResultsPath', (Join-Path $results "$name.xml"),
            '-Path', ($shards[$i] -join ','))
        if ($i -gt 0) {
            $pesterJobs += Start-ThreadJob -ArgumentList $runner, $shardArgs -ScriptBlock {
                param([string] $Runner, [string[]] $Arguments)
                & dotnet pwsh -NoProfile -NonInteractive -File $Runner @Arguments 2>&1 | ForEach-Object { "$_" }
            }
        } else {
            & dotnet pwsh -NoProfile -NonInteractive -File $runner @shardArgs
        }
    }
    foreach ($job in $pesterJobs) { Receive-Job $job -Wait -AutoRemoveJob | Write-Host }
    $pesterPassed = 0; $pesterFailed = 0; $pesterSkipped = 0
    for ($i = 0; $i -lt $shards.Count; $i++) {
        $name = if ($shards.Count -eq 1) { 'pester' } else { "pester-$($i + 1)" }
        $pesterSummary = Join-Path $results "$name.json"
        if (-not (Test-Path $pesterSummary)) { $pesterFailed++; continue } # that pwsh did not finish its run
        $summary = Get-Content $pesterSummary -Raw | ConvertFrom-Json
        $pesterPassed += $summary.Passed
        $pesterFailed += $summary.Failed
        $pesterSkipped += $summary.Skipped
    }
    if ($xunitJob) {
        # The xunit output is printed whole after Pester's, so the two never interleave in a CI log.
        $lines = @(Receive-Job $xunitJob -Wait -AutoRemoveJob)
        $exitLine = $lines | Where-Object { $_ -like 'xunit-exit:*' } | Select-Object -Last 1
        $lines | Where-Object { $_ -notlike 'xunit-exit:*' } | Write-Host
        $xunitExit = if ($exitLine) { [int]($exitLine -replace '^xunit-exit:', '') } else { 1 }
    }
    $xunitPassed = 0; $xunitFailed = 0; $xunitSkipped = 0
    $trx = Get-ChildItem $results -Filter '*.trx' -Recurse | Select-Object -First 1
    if ($trx) {
        $counters = ([xml](Get-Content $trx.FullName -Raw)).TestRun.ResultSummary.Counters
        $xunitPassed = [int]$counters.passed
        $xunitFailed = [int]$counters.failed + [int]$counters.error + [int]$counters.timeout + [int]$counters.aborted
        $xunitSkipped = [int]$counters.notExecuted
    } elseif ($xunitExit -ne 0) {
        $xunitFailed = 1 # the test project did not even build or run
    }

    Write-Host "xunit: $xunitPassed passed, $xunitFailed failed, $xunitSkipped skipped; Pester: $pesterPassed passed, $pesterFailed failed, $pesterSkipped skipped"
    $passed = $xunitPassed + $pesterPassed
    $failed = $xunitFailed + $pesterFailed
    $skipped = $xunitSkipped + $pesterSkipped
    $script:Summary = "$passed passed, $failed failed, $skipped skipped"
    Write-Host $script:Summary
    $script:TestsFailed = $failed -gt 0 -or $xunitExit -ne 0 -or $passed -eq 0
}

function Invoke-Demo {
    Invoke-BuildIfChanged
    $demo = Join-Path $Out 'demo'
    Remove-Item $demo -Recurse -Force -ErrorAction Ignore
    Copy-Item (Join-Path $Root 'examples') $demo -Recurse
    $script = {
        param($ModulePath, $Repository)
        Import-Module $ModulePath
        $run = Invoke-RlabsPipeline -Path (Join-Path $Repository 'pipelines/sample_pipeline.yaml') -RepositoryPath $Repository -InstanceType local -ErrorAction Stop
        $run | Format-Table | Out-String | Write-Host
        $run.Steps | Format-Table | Out-String | Write-Host
        $metrics = Get-ChildItem $run.DataRoot -Recurse -Filter metrics.json | Select-Object -First 1
        if ($metrics) { Write-Host "metrics.json: $(Get-Content $metrics.FullName -Raw)" }
        if ($run.Status -ne 'Completed') { exit 1 }
    }
    & dotnet pwsh -NoProfile -NonInteractive -Command $script -args (Join-Path $ModuleOut 'Rlabs.Pipelines.psd1'), $demo
    if ($LASTEXITCODE -ne 0) { throw 'The demo pipeline did not complete.' }
}

function Invoke-Bench {
    Invoke-BuildIfChanged
    Invoke-Native dotnet @('build', (Join-Path $Root 'tests/Rlabs.Pipelines.AwsEmulator'), '-c', $Configuration, '--nologo', '-v', 'q')
    # The container runtime's overhead is measured on the tests' private engine when one can be started.
    $engine = $null
    try {
        $engine = & (Join-Path $Root 'tests/container/Start-TestEngine.ps1')
    } catch {
        Write-Warning "No container engine for the bench: $_"
    }
    try {
        $benchArgs = @('-ModulePath', (Join-Path $ModuleOut 'Rlabs.Pipelines.psd1'), '-Examples', (Join-Path $Root 'examples'), '-Rounds', $Rounds,
            '-EmulatorDirectory', (Join-Path $Root "tests/Rlabs.Pipelines.AwsEmulator/bin/$Configuration/net10.0"))
        if ($engine) { $benchArgs += '-ContainerImage', $engine.Image }
        & dotnet pwsh -NoProfile -NonInteractive -File (Join-Path $Root 'tests/bench/Invoke-Bench.ps1') @benchArgs
        if ($LASTEXITCODE -ne 0) { throw 'The benchmark failed.' }
    } finally {
        & (Join-Path $Root 'tests/container/Stop-TestEngine.ps1') -Engine $engine
    }
}

switch ($Task) {
    'Build' { Invoke-Build }
    'Test' { Invoke-Test }
    'Demo' { Invoke-Demo }
    'Bench' { Invoke-Bench }
    'Clean' { Remove-Item $Out -Recurse -Force -ErrorAction Ignore }
    'Publish' { Invoke-Publish }
}
