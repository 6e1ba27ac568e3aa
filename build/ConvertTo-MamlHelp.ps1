#Requires -Version 7.4
<#
.SYNOPSIS
Converts the module's markdown help (platyPS format) to MAML and about_ text files.

.DESCRIPTION
platyPS is not available on the build machines, so this script does the part of
New-ExternalHelp the module needs:

- every docs/<Verb>-<Noun>.md becomes a command:command entry of one MAML file, named by the
  'external help file' key of its front matter (Rlabs.Pipelines.dll-Help.xml), which Get-Help
  reads for the module's binary cmdlets;
- every docs/about_<Topic>.md becomes about_<Topic>.help.txt, a plain-text topic that starts with
  the TOPIC / SHORT DESCRIPTION / LONG DESCRIPTION headings Get-Help expects.

A doc without a SYNOPSIS, a DESCRIPTION, an example with code, or with a parameter that has no
description or yaml block, is an error: the script throws and writes nothing.

.PARAMETER DocsPath
The folder with the markdown help, e.g. ./docs.

.PARAMETER OutputPath
The folder to write to, e.g. ./out/Rlabs.Pipelines/en-US. Created when missing.

.EXAMPLE
./build/ConvertTo-MamlHelp.ps1 -DocsPath ./docs -OutputPath ./out/Rlabs.Pipelines/en-US
#>
[CmdletBinding()]
param(
    [Parameter(Mandatory)]
    [string] $DocsPath,

    [Parameter(Mandatory)]
    [string] $OutputPath
)

Set-StrictMode -Version Latest
$ErrorActionPreference = 'Stop'

$script:NsMaml = 'http://schemas.microsoft.com/maml/2004/10'
$script:NsCommand = 'http://schemas.microsoft.com/maml/dev/command/2004/10'
$script:NsDev = 'http://schemas.microsoft.com/maml/dev/2004/10'
$script:NsMSHelp = 'http://msdn.microsoft.com/mshelp'
$script:ParameterKeys = @(
    'Type', 'Parameter Sets', 'Aliases', 'Required', 'Position', 'Default value',
    'Accept pipeline input', 'Accept wildcard characters'
)

#region Markdown parsing

function Get-MarkdownLines {
    param([string] $Path)
    # ReadAllText drops a UTF-8 byte order mark; line ends are normalised so CRLF files parse alike.
    $text = [System.IO.File]::ReadAllText($Path, [System.Text.UTF8Encoding]::new($false, $true))
    return , ($text -replace "`r`n?", "`n").Split("`n")
}

function Split-FrontMatter {
    param([string[]] $Lines, [string] $File)
    $meta = [ordered]@{}
    if ($Lines.Count -eq 0 -or $Lines[0].Trim() -ne '---') {
        return [pscustomobject]@{ Meta = $meta; Body = $Lines }
    }
    $end = -1
    for ($i = 1; $i -lt $Lines.Count; $i++) {
        if ($Lines[$i].Trim() -eq '---') { $end = $i; break }
        if ($Lines[$i] -match '^\s*([^:#]+?)\s*:\s*(.*?)\s*$') { $meta[$Matches[1]] = $Matches[2] }
    }
    if ($end -lt 0) { throw "${File}: the front matter opened with '---' on line 1 is never closed." }
    $body = if ($end + 1 -lt $Lines.Count) { $Lines[($end + 1)..($Lines.Count - 1)] } else { @() }
    return [pscustomobject]@{ Meta = $meta; Body = [string[]] $body }
}

# Splits lines into sections at headings of the given level, ignoring '#' lines inside code fences.
function Split-Section {
    param([string[]] $Lines, [int] $Level)
    $prefix = ('#' * $Level) + ' '
    $sections = [System.Collections.Generic.List[object]]::new()
    $current = [pscustomobject]@{ Title = $null; Lines = [System.Collections.Generic.List[string]]::new() }
    $inFence = $false
    foreach ($line in $Lines) {
        if ($line -match '^\s*(```|~~~)') { $inFence = -not $inFence }
        if (-not $inFence -and $line.StartsWith($prefix)) {
            $sections.Add($current)
            $current = [pscustomobject]@{ Title = $line.Substring($prefix.Length).Trim(); Lines = [System.Collections.Generic.List[string]]::new() }
            continue
        }
        $current.Lines.Add($line)
    }
    $sections.Add($current)
    return $sections.ToArray()
}

# Turns markdown lines into blocks: Paragraph (soft-wrapped lines joined), ListItem, Code (fenced or
# indented, kept verbatim) and Table (kept verbatim).
function ConvertTo-Block {
    param([string[]] $Lines)
    $blocks = [System.Collections.Generic.List[object]]::new()
    $buffer = [System.Collections.Generic.List[string]]::new()
    $kind = $null
    $language = ''
    $flush = {
        if ($null -ne $kind -and $buffer.Count -gt 0) {
            $text = switch ($kind) {
                'Paragraph' { ($buffer | ForEach-Object { $_.Trim() }) -join ' ' }
                'ListItem' { ($buffer | ForEach-Object { $_.Trim() }) -join ' ' }
                default { $buffer -join "`n" }
            }
            $blocks.Add([pscustomobject]@{ Kind = $kind; Text = $text; Language = $language })
        }
        $buffer.Clear()
        Set-Variable -Name kind -Value $null -Scope 1
        Set-Variable -Name language -Value '' -Scope 1
    }
    $fence = $null
    foreach ($line in $Lines) {
        if ($null -ne $fence) {
            if ($line.Trim() -eq $fence) { & $flush; $fence = $null }
            else { $buffer.Add($line) }
            continue
        }
        if ($line -match '^\s*(```+|~~~+)\s*([\w-]*)\s*$') {
            & $flush
            $fence = $Matches[1]
            $kind = 'Code'
            $language = $Matches[2]
            continue
        }
        if ($line.Trim() -eq '') {
            if ($kind -eq 'Code' -and $null -eq $fence) {
                $buffer.Add('')   # a blank line inside an indented code block
            }
            else { & $flush }
            continue
        }
        if ($line -match '^( {4}|\t)(.*)$' -and $kind -ne 'ListItem' -and $kind -ne 'Paragraph') {
            if ($kind -ne 'Code') { & $flush; $kind = 'Code' }
            $buffer.Add($Matches[2])
            continue
        }
        if ($kind -eq 'Code') {
            # An indented block ends at the first unindented line; drop its trailing blank lines.
            while ($buffer.Count -gt 0 -and $buffer[$buffer.Count - 1] -eq '') { $buffer.RemoveAt($buffer.Count - 1) }
            & $flush
        }
        if ($line -match '^\s*\|') {
            if ($kind -ne 'Table') { & $flush; $kind = 'Table' }
            $buffer.Add($line.Trim())
            continue
        }
        if ($line -match '^\s*([-*+]|\d+[.)])\s+(.*)$') {
            & $flush
            $kind = 'ListItem'
            $buffer.Add($line.Trim())
            continue
        }
        if ($kind -eq 'ListItem' -and $line -match '^\s+\S') {
            $buffer.Add($line)   # continuation of a list item
            continue
        }
        if ($kind -ne 'Paragraph') { & $flush; $kind = 'Paragraph' }
        $buffer.Add($line)
    }
    if ($null -ne $fence) { throw "a code fence ($fence) is never closed." }
    if ($kind -eq 'Code') {
        while ($buffer.Count -gt 0 -and $buffer[$buffer.Count - 1] -eq '') { $buffer.RemoveAt($buffer.Count - 1) }
    }
    & $flush
    return $blocks.ToArray()
}

# Minimal inline markdown: links become "text (url)" or "text", bold and italics markers go; code
# spans keep their backticks, as in the help PowerShell ships.
function ConvertFrom-InlineMarkdown {
    param([string] $Text)
    # Code spans are left alone: `*.pem` keeps its star.
    $parts = [regex]::Split($Text, '(`[^`]*`)')
    for ($i = 0; $i -lt $parts.Count; $i += 2) {
        $part = $parts[$i]
        $part = [regex]::Replace($part, '\[([^\]]+)\]\((https?://[^)\s]+)\)', '$1 ($2)')
        $part = [regex]::Replace($part, '\[([^\]]+)\]\([^)]*\)', '$1')
        $part = [regex]::Replace($part, '\*\*([^*]+)\*\*', '$1')
        $part = [regex]::Replace($part, '(?<![\w*])\*([^*\s][^*]*)\*(?![\w*])', '$1')
        $parts[$i] = $part
    }
    return $parts -join ''
}

# Paragraph texts for maml:para elements.
function Get-ParaText {
    param([object[]] $Blocks)
    foreach ($block in $Blocks) {
        switch ($block.Kind) {
            'Paragraph' { ConvertFrom-InlineMarkdown $block.Text }
            'ListItem' { '- ' + (ConvertFrom-InlineMarkdown ($block.Text -replace '^([-*+]|\d+[.)])\s+', '')) }
            # Get-Help indents every line of a para alike, so code keeps its own indentation only.
            default { ($block.Text -split "`n" | ForEach-Object { $_.TrimEnd() }) -join "`n" }
        }
    }
}

function Get-YamlMap {
    param([string] $Text)
    $map = [ordered]@{}
    foreach ($line in $Text -split "`n") {
        if ($line -match '^\s*([^:]+?)\s*:\s*(.*?)\s*$') { $map[$Matches[1]] = $Matches[2] }
    }
    return $map
}

function Read-CommandDoc {
    param([System.IO.FileInfo] $File)
    $name = $File.BaseName
    $fail = { param($message) throw "$($File.FullName): $message" }
    $doc = Split-FrontMatter -Lines (Get-MarkdownLines $File.FullName) -File $File.FullName
    $helpFile = $doc.Meta['external help file']
    if (-not $helpFile) { & $fail "the front matter has no 'external help file'." }
    if ($doc.Meta['schema'] -and $doc.Meta['schema'] -ne '2.0.0') { & $fail "schema '$($doc.Meta['schema'])' is not the platyPS schema 2.0.0." }

    $top = Split-Section -Lines $doc.Body -Level 1
    $h1 = @($top | Where-Object Title)
    if ($h1.Count -ne 1 -or $h1[0].Title -ne $name) { & $fail "the document must have one '# $name' heading." }
    $sections = [ordered]@{}
    foreach ($section in (Split-Section -Lines $h1[0].Lines -Level 2 | Where-Object Title)) {
        $sections[$section.Title.ToUpperInvariant()] = $section.Lines
    }
    $blocksOf = {
        param($title)
        if ($sections.Contains($title)) {
            try { ConvertTo-Block $sections[$title] } catch { & $fail "## ${title}: $($_.Exception.Message)" }
        }
    }

    $synopsis = @(Get-ParaText @(& $blocksOf 'SYNOPSIS'))
    if ($synopsis.Count -eq 0) { & $fail 'the ## SYNOPSIS section is missing or empty.' }
    $description = @(Get-ParaText @(& $blocksOf 'DESCRIPTION'))
    if ($description.Count -eq 0) { & $fail 'the ## DESCRIPTION section is missing or empty.' }

    # SYNTAX: one code block, or one '### <set name>' subsection with a code block per parameter set.
    if (-not $sections.Contains('SYNTAX')) { & $fail 'the ## SYNTAX section is missing.' }
    $syntaxSets = [System.Collections.Generic.List[object]]::new()
    foreach ($part in @(Split-Section -Lines $sections['SYNTAX'] -Level 3)) {
        $code = @(ConvertTo-Block $part.Lines | Where-Object Kind -EQ 'Code')
        if ($code.Count -eq 0) { continue }
        $setName = if ($part.Title) { $part.Title -replace '\s*\(Default\)\s*$', '' } else { '__AllParameterSets' }
        $text = $code[0].Text
        if ($text -notmatch "^\s*$([regex]::Escape($name))\b") { & $fail "the syntax of set '$setName' does not start with '$name'." }
        $order = @([regex]::Matches($text, '(?<![\w<])-(\w+)') | ForEach-Object { $_.Groups[1].Value } | Select-Object -Unique)
        $syntaxSets.Add([pscustomobject]@{ Name = $setName; Order = $order })
    }
    if ($syntaxSets.Count -eq 0) { & $fail 'the ## SYNTAX section has no code block.' }

    # EXAMPLES: '### Example N: title', first code block is the code, the rest are remarks.
    $examples = [System.Collections.Generic.List[object]]::new()
    if ($sections.Contains('EXAMPLES')) {
        foreach ($part in (Split-Section -Lines $sections['EXAMPLES'] -Level 3 | Where-Object Title)) {
            $blocks = @(ConvertTo-Block $part.Lines)
            $codeIndex = -1
            for ($i = 0; $i -lt $blocks.Count; $i++) { if ($blocks[$i].Kind -eq 'Code') { $codeIndex = $i; break } }
            if ($codeIndex -lt 0 -or -not $blocks[$codeIndex].Text.Trim()) { & $fail "example '$($part.Title)' has no code block." }
            $remarks = @(for ($i = 0; $i -lt $blocks.Count; $i++) { if ($i -ne $codeIndex) { $blocks[$i] } })
            $examples.Add([pscustomobject]@{
                    Title   = $part.Title
                    Code    = $blocks[$codeIndex].Text.TrimEnd()
                    Remarks = @(Get-ParaText $remarks)
                })
        }
    }
    if ($examples.Count -eq 0) { & $fail 'the ## EXAMPLES section is missing or has no "### Example" with code.' }

    # PARAMETERS: '### -Name', description paragraphs, then one yaml block per parameter set group.
    if (-not $sections.Contains('PARAMETERS')) { & $fail 'the ## PARAMETERS section is missing.' }
    $parameters = [System.Collections.Generic.List[object]]::new()
    foreach ($part in (Split-Section -Lines $sections['PARAMETERS'] -Level 3 | Where-Object Title)) {
        if ($part.Title -eq 'CommonParameters' -or $part.Title -eq 'WorkflowParameters') { continue }
        if ($part.Title -notmatch '^-(\w+)$') { & $fail "'### $($part.Title)' in ## PARAMETERS is not a '### -Name' heading." }
        $parameterName = $Matches[1]
        $blocks = @(ConvertTo-Block $part.Lines)
        $yamlBlocks = @($blocks | Where-Object { $_.Kind -eq 'Code' -and $_.Language -eq 'yaml' })
        if ($yamlBlocks.Count -eq 0) { & $fail "parameter -$parameterName has no yaml block." }
        $text = @(Get-ParaText @($blocks | Where-Object { -not ($_.Kind -eq 'Code' -and $_.Language -eq 'yaml') }))
        if ($text.Count -eq 0) { & $fail "parameter -$parameterName has no description." }
        $sets = foreach ($yaml in $yamlBlocks) {
            $map = Get-YamlMap $yaml.Text
            foreach ($key in $script:ParameterKeys) {
                if (-not $map.Contains($key)) { & $fail "the yaml block of -$parameterName has no '${key}:' line." }
            }
            if (-not $map['Type']) { & $fail "the yaml block of -$parameterName has an empty Type." }
            if ($map['Required'] -notin 'True', 'False') { & $fail "-$parameterName has Required '$($map['Required'])'; use True or False." }
            if ($map['Position'] -notmatch '^(\d+|Named)$') { & $fail "-$parameterName has Position '$($map['Position'])'; use a number or Named." }
            $map
        }
        $parameters.Add([pscustomobject]@{ Name = $parameterName; Description = $text; Sets = @($sets) })
    }

    # The syntax and the parameter sections must describe the same parameters.
    $documented = @($parameters.Name)
    $inSyntax = @($syntaxSets.Order | Select-Object -Unique)
    $missing = @($inSyntax | Where-Object { $_ -notin $documented })
    if ($missing.Count -gt 0) { & $fail "the syntax names -$($missing -join ', -') but ## PARAMETERS does not document it." }
    $unused = @($documented | Where-Object { $_ -notin $inSyntax })
    if ($unused.Count -gt 0) { & $fail "## PARAMETERS documents -$($unused -join ', -'), which the syntax does not name." }

    $typeSections = {
        param($title)
        if ($sections.Contains($title)) {
            foreach ($part in (Split-Section -Lines $sections[$title] -Level 3 | Where-Object Title)) {
                [pscustomobject]@{ Type = $part.Title; Description = @(Get-ParaText @(ConvertTo-Block $part.Lines)) }
            }
        }
    }

    $links = foreach ($block in (& $blocksOf 'RELATED LINKS')) {
        foreach ($match in [regex]::Matches($block.Text, '\[([^\]]+)\]\(([^)]*)\)')) {
            $target = $match.Groups[2].Value.Trim()
            [pscustomobject]@{ Text = $match.Groups[1].Value; Uri = $(if ($target -match '^https?://') { $target } else { '' }) }
        }
    }

    $verb, $noun = $name -split '-', 2
    if (-not $noun) { & $fail "'$name' is not a Verb-Noun command name." }
    return [pscustomobject]@{
        Name          = $name
        Verb          = $verb
        Noun          = $noun
        HelpFile      = $helpFile
        OnlineVersion = [string] $doc.Meta['online version']
        Synopsis      = $synopsis
        Description   = $description
        SyntaxSets    = @($syntaxSets)
        Parameters    = @($parameters)
        Inputs        = @(& $typeSections 'INPUTS')
        Outputs       = @(& $typeSections 'OUTPUTS')
        Notes         = @(Get-ParaText @(& $blocksOf 'NOTES'))
        Examples      = @($examples)
        Links         = @($links)
    }
}

#endregion

#region MAML writing

function Write-Para {
    param([System.Xml.XmlWriter] $Writer, [string[]] $Text)
    foreach ($para in $Text) { $Writer.WriteElementString('maml', 'para', $script:NsMaml, $para) }
}

function Write-MamlDescription {
    param([System.Xml.XmlWriter] $Writer, [string[]] $Text)
    $Writer.WriteStartElement('maml', 'description', $script:NsMaml)
    Write-Para $Writer $Text
    $Writer.WriteEndElement()
}

function Write-Parameter {
    param([System.Xml.XmlWriter] $Writer, [object] $Parameter, [System.Collections.Specialized.OrderedDictionary] $Set)
    $isSwitch = $Set['Type'] -in 'SwitchParameter', 'System.Management.Automation.SwitchParameter'
    $aliases = ($Set['Aliases'] -split ',' | ForEach-Object Trim | Where-Object { $_ }) -join ', '
    $Writer.WriteStartElement('command', 'parameter', $script:NsCommand)
    $Writer.WriteAttributeString('required', $Set['Required'].ToLowerInvariant())
    $Writer.WriteAttributeString('variableLength', 'true')
    $Writer.WriteAttributeString('globbing', $Set['Accept wildcard characters'].ToLowerInvariant())
    $Writer.WriteAttributeString('pipelineInput', $Set['Accept pipeline input'])
    $Writer.WriteAttributeString('position', $(if ($Set['Position'] -eq 'Named') { 'named' } else { $Set['Position'] }))
    $Writer.WriteAttributeString('aliases', $(if ($aliases) { $aliases } else { 'none' }))
    $Writer.WriteElementString('maml', 'name', $script:NsMaml, $Parameter.Name)
    Write-MamlDescription $Writer $Parameter.Description
    if (-not $isSwitch) {
        $Writer.WriteStartElement('command', 'parameterValue', $script:NsCommand)
        $Writer.WriteAttributeString('required', 'true')
        $Writer.WriteAttributeString('variableLength', 'false')
        $Writer.WriteString($Set['Type'])
        $Writer.WriteEndElement()
    }
    $Writer.WriteStartElement('dev', 'type', $script:NsDev)
    $Writer.WriteElementString('maml', 'name', $script:NsMaml, $Set['Type'])
    $Writer.WriteElementString('maml', 'uri', $script:NsMaml, '')
    $Writer.WriteEndElement()
    $Writer.WriteElementString('dev', 'defaultValue', $script:NsDev, $Set['Default value'])
    $Writer.WriteEndElement()
}

function Get-ParameterSetEntry {
    param([object] $Parameter, [string] $SetName)
    foreach ($set in $Parameter.Sets) {
        $names = @($set['Parameter Sets'] -split ',' | ForEach-Object Trim)
        if ($names -contains '(All)' -or $names -contains $SetName -or $SetName -eq '__AllParameterSets') { return $set }
    }
    return $null
}

function Write-TypeList {
    param([System.Xml.XmlWriter] $Writer, [string] $ListName, [string] $ItemName, [object[]] $Items)
    $Writer.WriteStartElement('command', $ListName, $script:NsCommand)
    foreach ($item in $Items) {
        $Writer.WriteStartElement('command', $ItemName, $script:NsCommand)
        $Writer.WriteStartElement('dev', 'type', $script:NsDev)
        $Writer.WriteElementString('maml', 'name', $script:NsMaml, $item.Type)
        $Writer.WriteEndElement()
        Write-MamlDescription $Writer $item.Description
        $Writer.WriteEndElement()
    }
    $Writer.WriteEndElement()
}

function Write-Command {
    param([System.Xml.XmlWriter] $Writer, [object] $Doc)
    $Writer.WriteStartElement('command', 'command', $script:NsCommand)
    $Writer.WriteAttributeString('xmlns', 'maml', $null, $script:NsMaml)
    $Writer.WriteAttributeString('xmlns', 'command', $null, $script:NsCommand)
    $Writer.WriteAttributeString('xmlns', 'dev', $null, $script:NsDev)
    $Writer.WriteAttributeString('xmlns', 'MSHelp', $null, $script:NsMSHelp)

    $Writer.WriteStartElement('command', 'details', $script:NsCommand)
    $Writer.WriteElementString('command', 'name', $script:NsCommand, $Doc.Name)
    $Writer.WriteElementString('command', 'verb', $script:NsCommand, $Doc.Verb)
    $Writer.WriteElementString('command', 'noun', $script:NsCommand, $Doc.Noun)
    Write-MamlDescription $Writer $Doc.Synopsis
    $Writer.WriteEndElement()

    Write-MamlDescription $Writer $Doc.Description

    $Writer.WriteStartElement('command', 'syntax', $script:NsCommand)
    foreach ($syntax in $Doc.SyntaxSets) {
        $Writer.WriteStartElement('command', 'syntaxItem', $script:NsCommand)
        $Writer.WriteElementString('maml', 'name', $script:NsMaml, $Doc.Name)
        foreach ($parameterName in $syntax.Order) {
            $parameter = $Doc.Parameters | Where-Object Name -EQ $parameterName
            $set = Get-ParameterSetEntry -Parameter $parameter -SetName $syntax.Name
            if ($null -eq $set) { throw "$($Doc.Name): -$parameterName is in the syntax of set '$($syntax.Name)' but none of its yaml blocks lists that set." }
            Write-Parameter $Writer $parameter $set
        }
        $Writer.WriteEndElement()
    }
    $Writer.WriteEndElement()

    $Writer.WriteStartElement('command', 'parameters', $script:NsCommand)
    foreach ($parameter in $Doc.Parameters) { Write-Parameter $Writer $parameter $parameter.Sets[0] }
    $Writer.WriteEndElement()

    Write-TypeList $Writer 'inputTypes' 'inputType' $Doc.Inputs
    Write-TypeList $Writer 'returnValues' 'returnValue' $Doc.Outputs

    if ($Doc.Notes.Count -gt 0) {
        $Writer.WriteStartElement('maml', 'alertSet', $script:NsMaml)
        $Writer.WriteStartElement('maml', 'alert', $script:NsMaml)
        Write-Para $Writer $Doc.Notes
        $Writer.WriteEndElement()
        $Writer.WriteEndElement()
    }

    $Writer.WriteStartElement('command', 'examples', $script:NsCommand)
    foreach ($example in $Doc.Examples) {
        $Writer.WriteStartElement('command', 'example', $script:NsCommand)
        $Writer.WriteElementString('maml', 'title', $script:NsMaml, "---------- $($example.Title) ----------")
        $Writer.WriteElementString('dev', 'code', $script:NsDev, $example.Code)
        $Writer.WriteStartElement('dev', 'remarks', $script:NsDev)
        Write-Para $Writer $example.Remarks
        $Writer.WriteEndElement()
        $Writer.WriteEndElement()
    }
    $Writer.WriteEndElement()

    $Writer.WriteStartElement('command', 'relatedLinks', $script:NsCommand)
    $links = @($Doc.Links)
    if ($Doc.OnlineVersion) { $links = @([pscustomobject]@{ Text = 'Online Version:'; Uri = $Doc.OnlineVersion }) + $links }
    foreach ($link in $links) {
        $Writer.WriteStartElement('maml', 'navigationLink', $script:NsMaml)
        $Writer.WriteElementString('maml', 'linkText', $script:NsMaml, $link.Text)
        $Writer.WriteElementString('maml', 'uri', $script:NsMaml, $link.Uri)
        $Writer.WriteEndElement()
    }
    $Writer.WriteEndElement()

    $Writer.WriteEndElement()
}

function Write-MamlFile {
    param([string] $Path, [object[]] $Docs)
    $settings = [System.Xml.XmlWriterSettings]::new()
    $settings.Indent = $true
    $settings.IndentChars = '  '
    $settings.Encoding = [System.Text.UTF8Encoding]::new($false)
    $settings.NewLineChars = "`n"
    $settings.CheckCharacters = $true
    $writer = [System.Xml.XmlWriter]::Create($Path, $settings)
    try {
        $writer.WriteStartDocument()
        $writer.WriteStartElement('helpItems', 'http://msh')
        $writer.WriteAttributeString('schema', 'maml')
        foreach ($doc in $Docs) { Write-Command $writer $doc }
        $writer.WriteEndElement()
        $writer.WriteEndDocument()
    }
    finally {
        $writer.Dispose()
    }
}

#endregion

#region about_ topics

function Format-Wrapped {
    param([string] $Text, [int] $Indent, [int] $HangingIndent = $Indent, [int] $Width = 80)
    $lines = [System.Collections.Generic.List[string]]::new()
    $line = ' ' * $Indent
    $empty = $true
    foreach ($word in ($Text -split '\s+' | Where-Object { $_ })) {
        if (-not $empty -and $line.Length + 1 + $word.Length -gt $Width) {
            $lines.Add($line)
            $line = ' ' * $HangingIndent
            $empty = $true
        }
        $line += $(if ($empty) { $word } else { " $word" })
        $empty = $false
    }
    if (-not $empty) { $lines.Add($line) }
    return $lines.ToArray()
}

function ConvertTo-AboutText {
    param([System.IO.FileInfo] $File)
    $name = $File.BaseName
    $fail = { param($message) throw "$($File.FullName): $message" }
    $doc = Split-FrontMatter -Lines (Get-MarkdownLines $File.FullName) -File $File.FullName
    $top = Split-Section -Lines $doc.Body -Level 1
    $h1 = @($top | Where-Object Title)
    if ($h1.Count -ne 1 -or $h1[0].Title -ne $name) { & $fail "the document must have one '# $name' heading." }
    $sections = @(Split-Section -Lines $h1[0].Lines -Level 2 | Where-Object Title)
    $titles = @($sections.Title | ForEach-Object { $_.ToUpperInvariant() })
    if ($titles.Count -lt 2 -or $titles[0] -ne 'SHORT DESCRIPTION' -or $titles[1] -ne 'LONG DESCRIPTION') {
        & $fail "the first sections must be '## SHORT DESCRIPTION' and '## LONG DESCRIPTION'."
    }
    foreach ($section in $sections[0..1]) {
        if (@(ConvertTo-Block $section.Lines).Count -eq 0) { & $fail "the '## $($section.Title)' section is empty." }
    }

    $out = [System.Collections.Generic.List[string]]::new()
    $out.Add('TOPIC')
    $out.Add("    $name")
    $writeBlocks = {
        param([string[]] $Lines)
        try { $blocks = ConvertTo-Block $Lines } catch { & $fail $_.Exception.Message }
        $previous = $null
        foreach ($block in $blocks) {
            # Items of one list stay together; every other block is set off by a blank line.
            if (-not ($block.Kind -eq 'ListItem' -and $previous -eq 'ListItem')) { $out.Add('') }
            $previous = $block.Kind
            switch ($block.Kind) {
                'Paragraph' { foreach ($row in (Format-Wrapped (ConvertFrom-InlineMarkdown $block.Text) -Indent 4)) { $out.Add($row) } }
                'ListItem' {
                    $item = ConvertFrom-InlineMarkdown ($block.Text -replace '^([-*+])\s+', '- ')
                    foreach ($row in (Format-Wrapped $item -Indent 4 -HangingIndent 6)) { $out.Add($row) }
                }
                'Table' { foreach ($row in $block.Text -split "`n") { $out.Add("    $row") } }
                default { foreach ($row in $block.Text -split "`n") { $out.Add("        $row".TrimEnd()) } }
            }
        }
    }
    foreach ($section in $sections) {
        $out.Add('')
        $out.Add($section.Title.ToUpperInvariant())
        $parts = @(Split-Section -Lines $section.Lines -Level 3)
        foreach ($part in $parts) {
            if ($part.Title) {
                $out.Add('')
                $out.Add("  $($part.Title)")
                $out.Add('  ' + ('-' * $part.Title.Length))
            }
            & $writeBlocks ([string[]] $part.Lines)
        }
    }
    # Blank line pairs become one, and the heading's first paragraph sits right below it.
    $text = ($out -join "`n") -replace "\n{3,}", "`n`n"
    $text = [regex]::Replace($text, '(?m)^((?:TOPIC|[A-Z][A-Z0-9 ]+))\n\n(    \S)', "`$1`n`$2")
    return $text.TrimEnd() + "`n"
}

#endregion

$docs = Resolve-Path -LiteralPath $DocsPath -ErrorAction Stop
$commandFiles = @(Get-ChildItem -LiteralPath $docs -Filter '*-*.md' -File | Where-Object Name -NotLike 'about_*' | Sort-Object Name)
$aboutFiles = @(Get-ChildItem -LiteralPath $docs -Filter 'about_*.md' -File | Sort-Object Name)
if ($commandFiles.Count -eq 0) { throw "No <Verb>-<Noun>.md help files in $docs." }

# Parse everything first: a malformed doc must not leave a half-written help folder behind.
$commandDocs = foreach ($file in $commandFiles) { Read-CommandDoc $file }
$aboutTexts = [ordered]@{}
foreach ($file in $aboutFiles) { $aboutTexts["$($file.BaseName).help.txt"] = ConvertTo-AboutText $file }

New-Item -ItemType Directory -Path $OutputPath -Force | Out-Null
$output = Resolve-Path -LiteralPath $OutputPath
foreach ($group in ($commandDocs | Group-Object HelpFile)) {
    $target = Join-Path $output $group.Name
    Write-MamlFile -Path $target -Docs $group.Group
    # Re-read what was written: a well-formed file is the least Get-Help needs.
    [xml] (Get-Content -LiteralPath $target -Raw) | Out-Null
    Write-Verbose "Wrote $target ($($group.Count) command(s): $($group.Group.Name -join ', '))"
    Get-Item -LiteralPath $target
}
foreach ($entry in $aboutTexts.GetEnumerator()) {
    $target = Join-Path $output $entry.Key
    [System.IO.File]::WriteAllText($target, $entry.Value, [System.Text.UTF8Encoding]::new($false))
    Write-Verbose "Wrote $target"
    Get-Item -LiteralPath $target
}
