@echo off
rem rlabs: the original CLI's command lines from cmd, run by the Rlabs.Pipelines module next to this
rem folder. Exit code: 0 success or --help, 1 failure, 2 a wrong command line.
rem PowerShell 7: %RLABS_PWSH% when set (it may be several words, e.g. "dotnet C:\pwsh\pwsh.dll"), else pwsh.
setlocal
set "RLABS_RUN=pwsh"
if defined RLABS_PWSH set "RLABS_RUN=%RLABS_PWSH%"
%RLABS_RUN% -NoProfile -NonInteractive -File "%~dp0rlabs.ps1" %*
exit /b %ERRORLEVEL%
