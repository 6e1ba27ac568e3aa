#!/usr/bin/env bash
# Rlabs.Pipelines: puts (or removes) this pipeline's @reboot line in the user's crontab. Other lines are
# kept as they are; only lines holding the marker are replaced. Generated.
set -euo pipefail

marker=@@MARKER@@
cron_line=@@CRON_LINE@@

current=$(crontab -l 2>/dev/null || true)
others=$(printf '%s\n' "$current" | grep -v -F -e "$marker" || true)
if [ -z "$cron_line" ]; then
  wanted=$others
elif [ -n "$others" ]; then
  wanted=$(printf '%s\n%s' "$others" "$cron_line")
else
  wanted=$cron_line
fi
if [ "$current" = "$wanted" ]; then
  echo "rlabs-cron: unchanged"
elif [ -z "$wanted" ]; then
  crontab -r 2>/dev/null || true
  echo "rlabs-cron: removed"
else
  printf '%s\n' "$wanted" | crontab -
  echo "rlabs-cron: updated"
fi
