#!/usr/bin/env bash
# Rlabs.Pipelines: sets the instance up for the scheduled pipeline @@PIPELINE@@ of project @@PROJECT@@.
# Generated; safe to re-run: it installs only what is missing and changes only what differs.
# It needs PowerShell 7.4+ on the instance. When it is missing the script tries the distribution's package
# manager (a 'powershell' package: present when Microsoft's repository is configured), snap, then
# 'dotnet tool install --global PowerShell'; an instance with no way to reach any of them (offline) stops
# here with a message and nothing else changed.
set -euo pipefail

schedule_dir=@@SCHEDULE_DIR@@
repo_dir=@@REPO_DIR@@
module_path=@@MODULE_PATH@@
python_env=@@PYTHON_ENV@@

say() { printf 'rlabs-setup: %s\n' "$*"; }

find_pwsh() {
  local candidate
  for candidate in "$(command -v pwsh 2>/dev/null || true)" /usr/bin/pwsh /usr/local/bin/pwsh /opt/microsoft/powershell/7/pwsh "$HOME/.dotnet/tools/pwsh"; do
    if [ -n "$candidate" ] && [ -x "$candidate" ]; then
      printf '%s\n' "$candidate"
      return 0
    fi
  done
  return 1
}

pwsh_is_recent() {
  local pwsh version major rest minor
  pwsh=$(find_pwsh) || return 1
  # shellcheck disable=SC2016 # PowerShell code: '$' is PowerShell's, not the shell's.
  version=$("$pwsh" -NoProfile -NonInteractive -Command '$PSVersionTable.PSVersion.ToString()' 2>/dev/null) || return 1
  major=${version%%.*}
  rest=${version#*.}
  minor=${rest%%.*}
  case "$major$minor" in *[!0-9]*|'') return 1 ;; esac
  [ "$major" -gt 7 ] || { [ "$major" -eq 7 ] && [ "$minor" -ge 4 ]; }
}

install_pwsh() {
  say "PowerShell 7.4 or later is missing; trying to install it"
  if command -v apt-get >/dev/null 2>&1; then
    sudo -n apt-get install -y -q powershell && return 0
  fi
  if command -v dnf >/dev/null 2>&1; then
    sudo -n dnf install -y -q powershell && return 0
  fi
  if command -v yum >/dev/null 2>&1; then
    sudo -n yum install -y -q powershell && return 0
  fi
  if command -v snap >/dev/null 2>&1; then
    sudo -n snap install powershell --classic && return 0
  fi
  if command -v dotnet >/dev/null 2>&1; then
    dotnet tool install --global PowerShell && return 0
  fi
  return 1
}

if ! pwsh_is_recent; then
  if ! install_pwsh || ! pwsh_is_recent; then
    say "cannot install PowerShell 7.4+ on this instance (no package source reachable?)."
    say "Install it by hand (https://learn.microsoft.com/powershell/scripting/install/installing-powershell-on-linux) and run New-RlabsPipelineSchedule again."
    exit 3
  fi
fi
pwsh=$(find_pwsh)
say "PowerShell: $pwsh"

# The module was copied next to the repository; check that it imports. The path travels in the
# environment, never inside the PowerShell code.
# shellcheck disable=SC2016 # PowerShell code: '$' is PowerShell's, not the shell's.
if ! RLABS_MODULE_PATH="$module_path" "$pwsh" -NoProfile -NonInteractive -Command 'Import-Module $env:RLABS_MODULE_PATH -ErrorAction Stop' ; then
  say "the Rlabs.Pipelines module at $module_path does not import."
  exit 4
fi

# Steps that run on the instance itself (instance type 'local') need a Python environment with the
# repository's requirements; SageMaker runs need none here.
if [ -n "$python_env" ]; then
  if [ ! -x "$python_env/bin/python" ]; then
    if python3 -m venv "$python_env" 2>/dev/null; then
      say "created the Python environment $python_env (venv)"
    elif command -v conda >/dev/null 2>&1; then
      conda create --yes --quiet --prefix "$python_env" python pip
      say "created the Python environment $python_env (conda)"
    else
      say "neither 'python3 -m venv' nor conda works here; install python3-venv."
      exit 5
    fi
  fi
  requirements="$repo_dir/requirements.txt"
  if [ -f "$requirements" ]; then
    wanted=$(sha256sum "$requirements" | cut -d ' ' -f 1)
    installed=$(cat "$python_env/.rlabs-requirements.sha256" 2>/dev/null || true)
    if [ "$wanted" != "$installed" ]; then
      "$python_env/bin/python" -m pip install --quiet --requirement "$requirements"
      printf '%s\n' "$wanted" >"$python_env/.rlabs-requirements.sha256"
      say "installed the requirements into $python_env"
    fi
  fi
fi

chmod 700 "$schedule_dir/run.sh" "$schedule_dir/cron.sh"
mkdir -p "$schedule_dir/logs"
bash "$schedule_dir/cron.sh"
say "done"
