#!/usr/bin/env bash
# make slurm-up: install (apt, only what is missing) and start a one-node SLURM on 127.0.0.1 with munge
# and accounting (slurmdbd + a private MariaDB), without systemd or cgroups; wait until the node is idle.
# Idempotent: daemons already running (by their PID files) are kept. Needs root.
# On failure: one line naming the daemon and its log file, exit 1.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/common.sh"

die() { echo "slurm-up: $*" >&2; exit 1; }
# Where each log ends before this run, so a failure quotes what this run wrote.
declare -A LOG_START
for d in "${DAEMONS[@]}"; do LOG_START[$d]=$(( $(stat -c %s "$(log_file "$d")" 2>/dev/null || echo 0) + 1 )); done
last_error() {  # $1 daemon: the last fatal line this run wrote to its log, else its last error line
  local new; new=$(tail -c "+${LOG_START[$1]}" "$(log_file "$1")" 2>/dev/null)
  { grep -a 'fatal' <<< "$new" || grep -aiE 'error|denied|refused|cannot|can.t|failed' <<< "$new" \
      | grep -aviE 'pmix|MPI|Aborting'; } | tail -n 1 | cut -c1-200
}
daemon_failed() {  # $1 daemon, $2 what went wrong
  local err; err=$(last_error "$1")
  die "$1 $2; see $(log_file "$1")${err:+: $err}"
}
# Run `$@` every 0.2 s until it succeeds or $1 seconds have passed.
wait_for() {
  local end=$((SECONDS + $1)); shift
  until "$@"; do [ $SECONDS -lt $end ] || return 1; sleep 0.2; done
}

[ "$(id -u)" = 0 ] || die "needs root (it installs packages and starts daemons as root, munge and mysql)"

# --- packages -------------------------------------------------------------------------------------
PACKAGES=(munge mariadb-server slurmctld slurmd slurmdbd slurm-client)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "slurm-up: installing ${missing[*]} (apt)"
  # Keep the packages' own init scripts from starting system-wide daemons: we start our own.
  made_policy=
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && made_policy=1
  fi
  apt_install() { DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"; }
  apt_log=${TMPDIR:-/tmp}/tensorprobe-slurm-apt.log
  ok=1   # on a fresh machine the package lists may be empty: update once and retry
  { apt_install || { apt-get update -q && apt_install; }; } > "$apt_log" 2>&1 || ok=
  if [ -n "$made_policy" ]; then rm -f /usr/sbin/policy-rc.d; fi
  [ -n "$ok" ] || die "apt-get install ${missing[*]} failed; see $apt_log"
fi

# --- already up? ----------------------------------------------------------------------------------
all_running() { for d in "${DAEMONS[@]}"; do [ "$d" = munged ] && continue; running_pid "$d" > /dev/null || return 1; done; }
node_ready() { case "$(node_state)" in idle|mixed|allocated|completing) return 0 ;; *) return 1 ;; esac; }
if [ -r "$SLURM_CONF" ] && all_running && node_ready; then
  echo "slurm-up: already up (partition $PARTITION, state in $STATE); export SLURM_CONF=$SLURM_CONF"
  exit 0
fi

# --- folders and configs --------------------------------------------------------------------------
mkdir -p "$ETC" "$LOG" "$RUN" "$STATE/spool/slurmctld" "$STATE/spool/slurmd"
chmod 755 "$STATE"
install -d -o munge -g munge -m 700 "$MUNGE_DIR"
install -d -o mysql -g mysql -m 750 "$DB_DIR"
# munge and mysql must reach their folders: every folder above the state dir needs o+x.
for u in munge mysql; do
  dir=$MUNGE_DIR; [ $u = mysql ] && dir=$DB_DIR
  setpriv --reuid=$u --regid=$u --init-groups test -w "$dir" \
    || die "user $u cannot write $dir (a folder above it is not world-executable); set SLURM_STATE to a folder under /var/tmp"
done

node_line=$(slurmd -C | head -n 1)               # NodeName=<host> CPUs=... RealMemory=...
host=$(sed 's/^NodeName=\([^ ]*\).*/\1/' <<< "$node_line")
[ -s "$ETC/db.pass" ] || { head -c 18 /dev/urandom | base64 | tr -dc A-Za-z0-9 > "$ETC/db.pass"; chmod 600 "$ETC/db.pass"; }
subst() {
  sed -e "s|@STATE@|$STATE|g" -e "s|@CLUSTER@|$CLUSTER|g" -e "s|@PARTITION@|$PARTITION|g" -e "s|@HOST@|$host|g" \
      -e "s|@NODELINE@|$node_line|g" -e "s|@DB_PORT@|$DB_PORT|g" -e "s|@DB_PASS@|$(cat "$ETC/db.pass")|g" "$1"
}
subst "$HERE/slurm.conf.in" > "$ETC/slurm.conf"
(umask 077; subst "$HERE/slurmdbd.conf.in" > "$ETC/slurmdbd.conf")   # slurmdbd wants 600, owned by SlurmUser

# --- munge ----------------------------------------------------------------------------------------
munge_ok() { munge -n < /dev/null 2>/dev/null | unmunge > /dev/null 2>&1; }
if ! munge_ok; then
  [ -s /etc/munge/munge.key ] || { mungekey --create > /dev/null 2>&1 || die "munged: no /etc/munge/munge.key and mungekey failed"; chown munge:munge /etc/munge/munge.key; }
  install -d -o munge -g munge -m 755 /run/munge
  rm -f "$(pid_file munged)"
  # --force: start even past a stale socket left by a munged that was killed.
  setpriv --reuid=munge --regid=munge --init-groups munged --force --pid-file="$(pid_file munged)" \
    --log-file="$(log_file munged)" --seed-file="$MUNGE_DIR/munged.seed" < /dev/null > /dev/null 2>&1 \
    || daemon_failed munged "did not start"
  wait_for 10 munge_ok || daemon_failed munged "does not answer (munge -n | unmunge)"
fi

# --- private MariaDB ------------------------------------------------------------------------------
DB_SOCK=$DB_DIR/mariadbd.sock
db() { mariadb --no-defaults --protocol=socket --socket="$DB_SOCK" -uroot "$@"; }
if ! running_pid mariadbd > /dev/null; then
  if [ ! -d "$DB_DIR/data/mysql" ]; then
    rm -rf "$DB_DIR/data"
    mariadb-install-db --no-defaults --user=mysql --datadir="$DB_DIR/data" --auth-root-authentication-method=socket \
      --skip-test-db > "$DB_DIR/install-db.log" 2>&1 \
      || die "mariadbd: mariadb-install-db failed; see $DB_DIR/install-db.log"
  fi
  rm -f "$(pid_file mariadbd)"
  setsid mariadbd --no-defaults --user=mysql --datadir="$DB_DIR/data" --socket="$DB_SOCK" --port="$DB_PORT" \
    --bind-address=127.0.0.1 --skip-name-resolve --pid-file="$(pid_file mariadbd)" --log-error="$(log_file mariadbd)" \
    --innodb-log-file-size=48M --innodb-lock-wait-timeout=900 \
    < /dev/null > /dev/null 2>&1 &
  db_pid=$!   # setsid execs mariadbd here: this is its PID
  db_ready() { db -e 'select 1' > /dev/null 2>&1 || { kill -0 $db_pid 2>/dev/null || daemon_failed mariadbd "exited"; false; }; }
  wait_for 30 db_ready || daemon_failed mariadbd "not ready after 30 s"
fi
db -e "CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY '$(cat "$ETC/db.pass")';
       ALTER USER 'slurm'@'127.0.0.1' IDENTIFIED BY '$(cat "$ETC/db.pass")';
       GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';" \
  || daemon_failed mariadbd "refused to create the slurm user"

# --- slurmdbd, the cluster in accounting, slurmctld, slurmd ---------------------------------------
# Start daemon $1 unless it runs, then wait up to $2 s for `${@:3}` to succeed; fail at once if it exits.
start_slurm() {
  local d=$1 limit=$2 end; shift 2
  if ! running_pid "$d" > /dev/null; then
    rm -f "$(pid_file "$d")"
    "$d" < /dev/null > /dev/null 2>&1 || daemon_failed "$d" "did not start"
  fi
  end=$((SECONDS + limit))
  until "$@" > /dev/null 2>&1; do
    # Its PID file appears once it has forked; a PID file without the process means it exited.
    if [ -e "$(pid_file "$d")" ] && ! running_pid "$d" > /dev/null; then daemon_failed "$d" "exited"; fi
    [ $SECONDS -lt $end ] || daemon_failed "$d" "not ready after $limit s"
    sleep 0.2
  done
}
dbd_ready() { timeout 5 sacctmgr -n list cluster; }
ctld_ready() { timeout 5 scontrol ping | grep -q 'is UP'; }
start_slurm slurmdbd 30 dbd_ready
if ! sacctmgr -n -P list cluster format=cluster | grep -qx "$CLUSTER"; then
  sacctmgr -i add cluster "$CLUSTER" > /dev/null || daemon_failed slurmdbd "refused: sacctmgr add cluster $CLUSTER"
fi
start_slurm slurmctld 30 ctld_ready
start_slurm slurmd 30 node_ready

echo "slurm-up: node $host idle in partition $PARTITION (cluster $CLUSTER, state in $STATE); export SLURM_CONF=$SLURM_CONF"
