#Requires -Modules @{ ModuleName = 'Pester'; ModuleVersion = '5.3.0' }
<#
Every exported command has complete help (synopsis, description, examples, every parameter) that
matches the command itself: no parameter missing from the help, none documented that the command
lacks, and the same type, mandatory flag, position, pipeline input and aliases.

Runs against the built module: RLABS_MODULE_PATH is the path of out/Rlabs.Pipelines/Rlabs.Pipelines.psd1,
whose en-US folder holds the MAML and about_ topics build/ConvertTo-MamlHelp.ps1 made from docs/.
#>

Set-StrictMode -Version Latest

BeforeDiscovery {
    if (-not $env:RLABS_MODULE_PATH) {
        throw 'Set RLABS_MODULE_PATH to the built module manifest, e.g. out/Rlabs.Pipelines/Rlabs.Pipelines.psd1.'
    }
    $module = Import-Module $env:RLABS_MODULE_PATH -Force -PassThru
    $common = [System.Management.Automation.PSCmdlet]::CommonParameters
    $commandCases = @(
        foreach ($command in (Get-Command -Module $module.Name -CommandType Cmdlet, Function | Sort-Object Name)) {
            @{
                ModuleName  = $module.Name
                CommandName = $command.Name
                Parameters  = @(
                    foreach ($parameter in $command.Parameters.Values | Where-Object Name -NotIn $common | Sort-Object Name) {
                        @{ ParameterName = $parameter.Name }
                    }
                )
            }
        }
    )
    if ($commandCases.Count -eq 0) {
        throw "Module $($module.Name) exports no command: nothing to check the help of."
    }
    $aboutCases = @(
        foreach ($topic in (Get-ChildItem -Path (Join-Path $module.ModuleBase 'en-US') -Filter 'about_*.help.txt' -ErrorAction SilentlyContinue)) {
            @{ Topic = $topic.Name -replace '\.help\.txt$', ''; File = $topic.FullName }
        }
    )
}

BeforeAll {
    Import-Module $env:RLABS_MODULE_PATH -Force

    # Help objects are built from MAML on the fly; a missing part is a missing property, which
    # strict mode would turn into an error instead of a failed assertion.
    function Get-HelpProperty {
        param([object] $InputObject, [string] $Name)
        if ($null -eq $InputObject) { return $null }
        $property = $InputObject.PSObject.Properties[$Name]
        if ($null -eq $property) { return $null }
        return $property.Value
    }

    function Get-HelpText {
        param([object] $InputObject)
        $parts = foreach ($item in @($InputObject)) {
            if ($null -eq $item) { continue }
            if ($item -is [string]) { $item } else { Get-HelpProperty $item 'Text' }
        }
        return ((@($parts) | Where-Object { $_ }) -join "`n").Trim()
    }

    function Get-HelpParameter {
        param([object] $Help)
        $parameters = Get-HelpProperty $Help 'parameters'
        return @(Get-HelpProperty $parameters 'parameter' | Where-Object { $null -ne $_ })
    }

    # "True (ByPropertyName, ByValue)" → ByPropertyName, ByValue; "False" → nothing.
    function Get-PipelineInputKind {
        param([string] $Text)
        if ($Text -notmatch '^\s*true') { return @() }
        return @([regex]::Matches($Text, 'By\w+') | ForEach-Object Value | Sort-Object -Unique)
    }
}

Describe 'Help for <CommandName>' -ForEach $commandCases {
    BeforeAll {
        $command = Get-Command -Name $CommandName -Module $ModuleName
        $help = Get-Help -Name $CommandName -Full
        $helpParameters = Get-HelpParameter $help
        $common = [System.Management.Automation.PSCmdlet]::CommonParameters
        $codeParameters = @($command.Parameters.Values | Where-Object Name -NotIn $common)
    }

    It 'Should come from the help file of the module' {
        $help.Name | Should -Be $CommandName
        $help.Category | Should -Be ([string] $command.CommandType)
        Get-HelpProperty $help 'ModuleName' | Should -Be $ModuleName
    }

    It 'Should have a synopsis, not the generated syntax' {
        $synopsis = [string] (Get-HelpProperty $help 'Synopsis')
        $synopsis.Trim() | Should -Not -BeNullOrEmpty
        # Without help, Get-Help puts the command's syntax in the synopsis.
        $synopsis | Should -Not -Match "^\s*$([regex]::Escape($CommandName))((\s+\[+?-\w+)|\s*$)"
    }

    It 'Should have a description' {
        Get-HelpText (Get-HelpProperty $help 'description') | Should -Not -BeNullOrEmpty
    }

    It 'Should have at least one example, each with code and an explanation' {
        $examples = @(Get-HelpProperty (Get-HelpProperty $help 'examples') 'example' | Where-Object { $null -ne $_ })
        $examples.Count | Should -BeGreaterThan 0
        foreach ($example in $examples) {
            $title = ([string] (Get-HelpProperty $example 'title')).Trim('- ')
            ([string] (Get-HelpProperty $example 'code')).Trim() | Should -Not -BeNullOrEmpty -Because "example '$title' needs code"
            Get-HelpText (Get-HelpProperty $example 'remarks') | Should -Not -BeNullOrEmpty -Because "example '$title' needs an explanation"
        }
    }

    It 'Should document every parameter of the command' {
        $documented = @($helpParameters | ForEach-Object { Get-HelpProperty $_ 'name' })
        $missing = @($codeParameters.Name | Where-Object { $_ -notin $documented })
        $missing | Should -BeNullOrEmpty -Because 'each parameter needs a ### -Name section in docs/<command>.md'
    }

    It 'Should document no parameter the command lacks' {
        $documented = @($helpParameters | ForEach-Object { Get-HelpProperty $_ 'name' })
        $extra = @($documented | Where-Object { $_ -notin $codeParameters.Name })
        $extra | Should -BeNullOrEmpty -Because 'the help must not describe parameters that do not exist'
    }

    It 'Should list every parameter once' {
        $documented = @($helpParameters | ForEach-Object { Get-HelpProperty $_ 'name' })
        $duplicates = @($documented | Group-Object | Where-Object Count -GT 1 | ForEach-Object Name)
        $duplicates | Should -BeNullOrEmpty
    }

    Context 'Parameter -<ParameterName>' -ForEach $Parameters {
        BeforeAll {
            $parameter = $command.Parameters[$ParameterName]
            $parameterHelp = $helpParameters | Where-Object { (Get-HelpProperty $_ 'name') -eq $ParameterName } | Select-Object -First 1
            $attributes = @($parameter.Attributes | Where-Object { $_ -is [System.Management.Automation.ParameterAttribute] })
        }

        It 'Should be in the help' {
            $parameterHelp | Should -Not -BeNullOrEmpty
        }

        It 'Should have help text' {
            if ($null -eq $parameterHelp) { Set-ItResult -Skipped -Because 'the parameter is not in the help' }
            Get-HelpText (Get-HelpProperty $parameterHelp 'description') | Should -Not -BeNullOrEmpty
        }

        It 'Should have the type of the parameter' {
            if ($null -eq $parameterHelp) { Set-ItResult -Skipped -Because 'the parameter is not in the help' }
            $helpType = [string] (Get-HelpProperty (Get-HelpProperty $parameterHelp 'type') 'name')
            $helpType | Should -BeIn @($parameter.ParameterType.Name, $parameter.ParameterType.FullName)
        }

        It 'Should say whether it is mandatory' {
            if ($null -eq $parameterHelp) { Set-ItResult -Skipped -Because 'the parameter is not in the help' }
            $mandatory = @($attributes | Where-Object Mandatory).Count -gt 0
            [string] (Get-HelpProperty $parameterHelp 'required') | Should -Be ([string] $mandatory).ToLowerInvariant()
        }

        It 'Should give its position' {
            if ($null -eq $parameterHelp) { Set-ItResult -Skipped -Because 'the parameter is not in the help' }
            $positions = @($attributes | Where-Object { $_.Position -ge 0 } | ForEach-Object Position | Sort-Object -Unique)
            $expected = if ($positions.Count -gt 0) { [string] $positions[0] } else { 'named' }
            [string] (Get-HelpProperty $parameterHelp 'position') | Should -Be $expected
        }

        It 'Should say how it takes pipeline input' {
            if ($null -eq $parameterHelp) { Set-ItResult -Skipped -Because 'the parameter is not in the help' }
            $kinds = @(
                if (@($attributes | Where-Object ValueFromPipelineByPropertyName).Count -gt 0) { 'ByPropertyName' }
                if (@($attributes | Where-Object ValueFromPipeline).Count -gt 0) { 'ByValue' }
            )
            $documented = Get-PipelineInputKind ([string] (Get-HelpProperty $parameterHelp 'pipelineInput'))
            ($documented -join ', ') | Should -Be (($kinds | Sort-Object) -join ', ')
        }

        It 'Should list its aliases' {
            if ($null -eq $parameterHelp) { Set-ItResult -Skipped -Because 'the parameter is not in the help' }
            $documented = @(([string] (Get-HelpProperty $parameterHelp 'aliases')) -split ',' |
                    ForEach-Object Trim | Where-Object { $_ -and $_ -ne 'none' } | Sort-Object)
            ($documented -join ', ') | Should -Be ((@($parameter.Aliases) | Sort-Object) -join ', ')
        }
    }
}

Describe 'Help of the module' {
    It 'Should ship the about topic <_>' -ForEach @('about_Rlabs_Pipelines', 'about_Rlabs_PipelineConfig', 'about_Rlabs_Security', 'about_Rlabs_Schedules') {
        $module = Get-Module -Name Rlabs.Pipelines | Select-Object -First 1
        Join-Path $module.ModuleBase "en-US/$_.help.txt" | Should -Exist
    }
}

Describe 'About topic <Topic>' -ForEach $aboutCases {
    It 'Should be found by Get-Help with a short description' {
        $help = Get-Help -Name $Topic
        $help | Should -Not -BeNullOrEmpty
        [string] (Get-HelpProperty $help 'Synopsis') | Should -Not -BeNullOrEmpty
    }

    It 'Should start with the TOPIC, SHORT DESCRIPTION and LONG DESCRIPTION headings' {
        $text = Get-Content -LiteralPath $File -Raw
        $text | Should -Match "^TOPIC\r?\n\s+$([regex]::Escape($Topic))\r?\n"
        $text | Should -Match '(?m)^SHORT DESCRIPTION\r?$'
        $text | Should -Match '(?m)^LONG DESCRIPTION\r?$'
    }
}
