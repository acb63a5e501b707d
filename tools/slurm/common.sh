# Shared by up.sh and down.sh: where the one-node cluster keeps its state, and PID-file helpers.
# The cluster is one per machine (ports 6817-6819, /run/munge), so its state is too:
# SLURM_STATE (default /var/tmp/tensorprobe-slurm) holds configs, PID files, logs, spool and the
# private MariaDB. Every daemon writes its PID file under it; down.sh stops only those.

STATE=${SLURM_STATE:-/var/tmp/tensorprobe-slurm}
DB_PORT=${SLURM_DB_PORT:-3399}          # the private MariaDB (TCP on 127.0.0.1 only)
CLUSTER=tensorprobe
PARTITION=cpu

ETC=$STATE/etc                          # slurm.conf, slurmdbd.conf (root)
LOG=$STATE/log                          # slurmctld.log, slurmd.log, slurmdbd.log (root)
RUN=$STATE/run                          # slurmctld.pid, slurmd.pid, slurmdbd.pid (root)
MUNGE_DIR=$STATE/munge                  # munged.pid, munged.log, munged.seed (owned by munge)
DB_DIR=$STATE/mysql                     # data/, mariadbd.pid, mariadbd.sock, mariadb.log (owned by mysql)
export SLURM_CONF=$ETC/slurm.conf       # every slurm command and daemon reads this (and finds slurmdbd.conf beside it)

# name  PID file  log file  (in the order they start; down.sh stops them in reverse)
DAEMONS=(munged mariadbd slurmdbd slurmctld slurmd)
pid_file() {
  case $1 in
    munged) echo "$MUNGE_DIR/munged.pid" ;;
    mariadbd) echo "$DB_DIR/mariadbd.pid" ;;
    *) echo "$RUN/$1.pid" ;;
  esac
}
log_file() {
  case $1 in
    munged) echo "$MUNGE_DIR/munged.log" ;;
    mariadbd) echo "$DB_DIR/mariadb.log" ;;
    *) echo "$LOG/$1.log" ;;
  esac
}

# The PID of daemon $1 if its PID file names a live process of that program, else nothing.
running_pid() {
  local file pid
  file=$(pid_file "$1")
  [ -r "$file" ] || return 1
  pid=$(tr -dc 0-9 < "$file")
  [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$1" ] && echo "$pid"
}

# The node's state as sinfo prints it (idle, mixed, allocated, down*, ...), or nothing.
node_state() { timeout 5 sinfo -h -N -o %T 2>/dev/null | head -n 1; }
