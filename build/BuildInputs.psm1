<#
.SYNOPSIS
    The fingerprint of what decides the built module, so build.ps1 Test, Demo and Bench can skip a build that
    would produce the same module.
#>

function Get-BuildInputHash {
    <#
    .SYNOPSIS
        A SHA-256 over the path, size and modification time of every file under src/, docs/ and build/ (bin/
        and obj/ folders left out), of the named root files that exist, and of a salt (configuration, version,
        the PowerShell that builds). Any edit, added or removed file changes it.
    #>
    [CmdletBinding()]
    [OutputType([string])]
    param(
        [Parameter(Mandatory)] [string] $Root,
        [string[]] $Folders = @('src', 'docs', 'build'),
        [string[]] $RootFiles = @(),
        [string] $Salt = ''
    )
    $files = [System.Collections.Generic.List[string]]::new()
    foreach ($folder in $Folders) {
        $base = Join-Path $Root $folder
        if (-not (Test-Path -LiteralPath $base)) { continue }
        foreach ($file in [System.IO.Directory]::EnumerateFiles($base, '*', [System.IO.SearchOption]::AllDirectories)) {
            $relative = [System.IO.Path]::GetRelativePath($Root, $file) -replace '\\', '/'
            if ($relative -match '(^|/)(bin|obj)/') { continue }
            $files.Add($relative)
        }
    }
    foreach ($file in $RootFiles) {
        if (Test-Path -LiteralPath (Join-Path $Root $file) -PathType Leaf) { $files.Add(($file -replace '\\', '/')) }
    }
    $files.Sort([System.StringComparer]::Ordinal)
    $text = [System.Text.StringBuilder]::new()
    $null = $text.AppendLine($Salt)
    foreach ($relative in $files) {
        $info = [System.IO.FileInfo]::new((Join-Path $Root $relative))
        $null = $text.AppendLine("$relative|$($info.Length)|$($info.LastWriteTimeUtc.Ticks)")
    }
    [System.Convert]::ToHexString([System.Security.Cryptography.SHA256]::HashData([System.Text.Encoding]::UTF8.GetBytes($text.ToString())))
}

Export-ModuleMember -Function Get-BuildInputHash
