#!/usr/bin/env bash
# make slurm-down: cancel the cluster's jobs, then stop the daemons that up.sh started (by their PID
# files), leaving the state folder for the next start. Idempotent.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/common.sh"

stopped=()
if running_pid slurmctld > /dev/null && command -v squeue > /dev/null; then
  # Jobs' processes (slurmstepd and below) outlive slurmd: end them while slurmctld can still do it.
  jobs=$(timeout 10 squeue -h -o %A 2>/dev/null | sort -u)
  if [ -n "$jobs" ]; then
    timeout 10 scancel $jobs 2>/dev/null
    for _ in $(seq 50); do [ -z "$(timeout 5 squeue -h -o %A 2>/dev/null)" ] && break; sleep 0.2; done
  fi
fi
# TERM a group of daemons at once, wait up to 10 s, then KILL what is left. slurmdbd outlives
# slurmctld so the last job records reach it; MariaDB and munged go last.
any_alive() { local pid; for pid in "$@"; do [ -d "/proc/$pid" ] && return 0; done; return 1; }
stop() {
  local d pid pids=()
  for d in "$@"; do
    pid=$(running_pid "$d") || continue
    kill -TERM "$pid" 2>/dev/null && pids+=("$pid") && stopped+=("$d")
  done
  for _ in $(seq 100); do any_alive "${pids[@]}" || break; sleep 0.1; done
  for pid in "${pids[@]}"; do [ -d "/proc/$pid" ] && kill -KILL "$pid" 2>/dev/null; done
  for d in "$@"; do rm -f "$(pid_file "$d")"; done
}
stop slurmd slurmctld
stop slurmdbd
stop mariadbd munged
if [ ${#stopped[@]} -eq 0 ]; then
  echo "slurm-down: nothing running (state in $STATE)"
else
  echo "slurm-down: stopped ${stopped[*]} (state kept in $STATE)"
fi
left=$(pgrep -x slurmstepd | tr '\n' ' ')
[ -z "$left" ] || echo "slurm-down: warning: slurmstepd processes still running: $left" >&2
exit 0
