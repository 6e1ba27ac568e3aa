#!/usr/bin/env bash
# Rlabs.Pipelines: runs the scheduled pipeline @@PIPELINE@@ of project @@PROJECT@@ when the instance boots
# (crontab @reboot), logs to logs/ next to this script, then shuts the instance down 5 minutes later.
# Generated; re-running New-RlabsPipelineSchedule rewrites it.
# To debug: log in within 5 minutes and run 'sudo shutdown -c', or create a file named no-shutdown next
# to this script to keep the instance up after runs.
set -u

schedule_dir=@@SCHEDULE_DIR@@
repo_dir=@@REPO_DIR@@
pipeline_path=@@PIPELINE_PATH@@
credentials_file=@@CREDENTIALS_FILE@@
module_path=@@MODULE_PATH@@
instance_type=@@INSTANCE_TYPE@@
python_env=@@PYTHON_ENV@@
log_dir=@@LOG_DIR@@
no_shutdown=@@NO_SHUTDOWN@@

mkdir -p "$log_dir"
log="$log_dir/run-$(date -u +%Y%m%d-%H%M%S).log"
ln -sfn "$log" "$log_dir/latest.log"

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

run_pipeline() {
  # cron starts @reboot jobs early: give the network up to two minutes to come up.
  local waited=0
  while command -v ip >/dev/null 2>&1 && [ -z "$(ip route show default 2>/dev/null || true)" ] && [ "$waited" -lt 120 ]; do
    sleep 5
    waited=$((waited + 5))
  done
  if [ -n "$python_env" ] && [ -d "$python_env/bin" ]; then
    PATH="$python_env/bin:$PATH"
    export PATH
  fi
  local pwsh
  if ! pwsh=$(find_pwsh); then
    echo "rlabs-run: PowerShell (pwsh) is not installed; run New-RlabsPipelineSchedule again to set the instance up."
    return 127
  fi
  "$pwsh" -NoProfile -NonInteractive -File "$schedule_dir/run-pipeline.ps1" \
    -ModulePath "$module_path" -Path "$pipeline_path" -RepositoryPath "$repo_dir" \
    -InstanceType "$instance_type" -CredentialsFile "$credentials_file"
}

status=0
{
  echo "rlabs-run: started $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(hostname)"
  # One run at a time, even when someone reboots the instance during a run.
  exec 9>"$schedule_dir/run.lock"
  if flock -n 9; then
    run_pipeline
    status=$?
  else
    echo "rlabs-run: another run holds $schedule_dir/run.lock; not starting a second one."
    status=75
  fi
  echo "rlabs-run: finished $(date -u +%Y-%m-%dT%H:%M:%SZ) with exit code $status"
} >>"$log" 2>&1

{
  if [ -e "$no_shutdown" ]; then
    echo "rlabs-run: $no_shutdown exists; not shutting down."
  else
    echo "rlabs-run: shutting down in 5 minutes (cancel with: sudo shutdown -c)"
    sudo -n shutdown -h +5 "Rlabs pipeline run finished; shutting down in 5 minutes. Cancel with: sudo shutdown -c"
  fi
} >>"$log" 2>&1
exit "$status"
