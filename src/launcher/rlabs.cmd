@echo off
rem rlabs: the original CLI's command lines from cmd, run by the Rlabs.Pipelines module next to this
rem folder. Exit code: 0 success or --help, 1 failure, 2 a wrong command line.
rem PowerShell 7: %RLABS_PWSH% when set (it may be several words, e.g. "dotnet C:\pwsh\pwsh.dll"), else pwsh
rem on the PATH, else the PowerShell that built this launcher (rlabs-pwsh.txt, written by build.ps1).
setlocal
set "RLABS_RUN=pwsh"
where pwsh >nul 2>nul
if errorlevel 1 if exist "%~dp0rlabs-pwsh.txt" (
    set "RLABS_EXE="
    set "RLABS_ARG="
    < "%~dp0rlabs-pwsh.txt" (set /p RLABS_EXE= & set /p RLABS_ARG=)
)
if defined RLABS_EXE set "RLABS_RUN="%RLABS_EXE%" %RLABS_ARG%"
if defined RLABS_PWSH set "RLABS_RUN=%RLABS_PWSH%"
%RLABS_RUN% -NoProfile -NonInteractive -File "%~dp0rlabs.ps1" %*
exit /b %ERRORLEVEL%
