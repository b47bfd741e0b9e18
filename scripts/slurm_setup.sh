#!/usr/bin/env bash
# slurm_setup.sh - install, configure and start a single-node Slurm test cluster on
# localhost (Debian packages slurmctld, slurmd, slurm-client, munge, slurmdbd and
# mariadb-server; Debian 12 ships Slurm 22.05), wait until its node is idle and run
# one smoke job.  scripts/slurm_teardown.sh stops exactly the daemons started here.
#
# Used by the Slurm tests (tests/slurm/conftest.py); also usable by hand:
#     sudo bash scripts/slurm_setup.sh && sudo bash scripts/slurm_teardown.sh
#
# Why each piece is there:
# - slurmdbd + MariaDB: cluster_utils 3.0 polls `sacct`, which needs the accounting
#   daemon (Slurm 22.05 has no file-based job accounting).
# - cluster_utils submits to Slurm whenever `sbatch` is on PATH, and it does so even
#   with run_local=True.  So that installing this test cluster does not turn every
#   later local run on this machine (`make demo`, the local tests) into a Slurm run,
#   sbatch is installed under $SLURM_TEST_BIN (dpkg-divert) instead of /usr/bin
#   when this script is what installs slurm-client; the tests put $SLURM_TEST_BIN on
#   PATH.  An sbatch that was already on PATH before is left where it is.
# - No systemd needed: every daemon is started directly; its PID goes to
#   $SLURM_TEST_STATE/<name>.pid, and only those PIDs are ever stopped by teardown.
#   A daemon that already runs (e.g. started by systemd) is used, not restarted.
#
# Idempotent: packages are installed only if missing, config files are rewritten
# only if their content changes, daemons are started only if not running.
# Needs root.  Environment knobs:
#   SLURM_TEST_STATE    dir for PID files            (default /tmp/lttfs-slurm/state)
#   SLURM_TEST_BIN      where sbatch is installed    (default /usr/local/lib/lttfs-slurm/bin)
#   SLURM_TEST_TIMEOUT  seconds to wait for each daemon and for the node (default 60)
#
# slurm.conf timing settings chosen for short tests (see the comments in it):
#   batch_sched_delay=0 (jobs start ~1 s after sbatch instead of ~3 s), KillWait=5
#   (SIGKILL 5 s after the time-limit SIGTERM instead of 30 s).
set -euo pipefail

STATE_DIR=${SLURM_TEST_STATE:-/tmp/lttfs-slurm/state}
BIN_DIR=${SLURM_TEST_BIN:-/usr/local/lib/lttfs-slurm/bin}
TIMEOUT=${SLURM_TEST_TIMEOUT:-60}
NODE=localhost      # slurmd runs with -N localhost: the machine's hostname does not matter
PARTITION=debug
CLUSTER=lttfs       # never change: slurmctld remembers it in StateSaveLocation
DBPASS=lttfs-slurm  # local-only MariaDB account of slurmdbd (MariaDB listens on no port)
LOGDIR=/var/log/slurm

log() { echo "[slurm_setup $(date +%T)] $*"; }
die() {
    echo "[slurm_setup] ERROR: $*" >&2
    for f in "$LOGDIR"/slurmctld.log "$LOGDIR"/slurmd.log "$LOGDIR"/slurmdbd.log \
             "$LOGDIR"/mariadb.log; do
        [ -f "$f" ] && { echo "--- last lines of $f" >&2; tail -n 15 "$f" >&2; }
    done
    exit 1
}
[ "$(id -u)" = 0 ] || die "must run as root (installs packages, starts daemons)"
command -v dpkg-query >/dev/null || die "needs a Debian system (dpkg, apt-get)"
T_START=$(date +%s%N)
mkdir -p "$STATE_DIR"

# wait_for <what> <command...>: poll every 0.2 s until the command succeeds
wait_for() {
    local what=$1; shift
    local n=$((TIMEOUT * 5))
    until "$@" >/dev/null 2>&1; do
        n=$((n - 1)); [ "$n" -gt 0 ] || die "timed out after ${TIMEOUT}s waiting for $what"
        sleep 0.2
    done
}
# alive <pidfile> <comm>: the PID in pidfile is a running (non-zombie) process named comm
alive() {
    local pid stat
    [ -s "$1" ] || return 1
    pid=$(cat "$1" 2>/dev/null) || return 1
    [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$2" ] || return 1
    stat=$(cat "/proc/$pid/stat" 2>/dev/null) || return 1
    stat=${stat##*) }
    [ "${stat%% *}" != Z ]
}
record() { # record <name> <the daemon's own pid file>
    cp "$2" "$STATE_DIR/$1.pid"
    log "started $1 (pid $(cat "$2"))"
}
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

# ------------------------------------------------------------------ 1. install
PKGS="slurmctld slurmd slurm-client munge slurmdbd mariadb-server"
MISSING=""
for p in $PKGS; do installed "$p" || MISSING="$MISSING $p"; done
if [ -n "$MISSING" ]; then
    command -v apt-get >/dev/null || die "missing packages:$MISSING and no apt-get"
    if ! installed slurm-client && ! command -v sbatch >/dev/null; then
        # see the header: keep sbatch off PATH (the diversion is registered before
        # the package exists, so sbatch never appears in /usr/bin)
        mkdir -p "$BIN_DIR"
        dpkg-divert --local --rename --divert "$BIN_DIR/sbatch" --add /usr/bin/sbatch >/dev/null
        log "sbatch will be installed as $BIN_DIR/sbatch (not on PATH)"
    fi
    log "installing:$MISSING"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # "invoke-rc.d: policy-rc.d denied execution of start" is expected without systemd
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $MISSING >/dev/null
    log "installed in $(( ($(date +%s%N) - T_START) / 1000000 )) ms"
fi
SBATCH=$(command -v sbatch || true)
[ -n "$SBATCH" ] || SBATCH="$BIN_DIR/sbatch"
[ -x "$SBATCH" ] || die "sbatch is neither on PATH nor at $SBATCH"

# ------------------------------------------------------------------ 2. configure
[ -s /etc/munge/munge.key ] || mungekey --create --keyfile=/etc/munge/munge.key
chown munge:munge /etc/munge/munge.key && chmod 0600 /etc/munge/munge.key

# CPUs/Boards/Sockets/Cores/Threads/RealMemory exactly as slurmd detects them (a larger
# RealMemory than detected gets the node drained as "Low RealMemory").
HW=$(slurmd -C | sed -n '1s/^NodeName=[^ ]* //p')
[ -n "$HW" ] || die "slurmd -C printed nothing"

mkdir -p /etc/slurm "$LOGDIR" /var/lib/slurm/slurmctld /var/lib/slurm/slurmd
chown slurm:slurm "$LOGDIR" /var/lib/slurm/slurmctld
NEW_CONF=$(cat <<EOF
# generated by scripts/slurm_setup.sh (lttfs): a one-node test cluster
ClusterName=$CLUSTER
SlurmctldHost=localhost
SlurmUser=slurm
AuthType=auth/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
# bind each job to its CPUs (as real clusters do): a job with request_cpus 1 sees one CPU,
# so its learner uses one torch thread instead of competing for all cores
TaskPlugin=task/affinity
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
# start a submitted job at once (default: batch jobs wait for a scheduling pass, ~3 s)
SchedulerParameters=batch_sched_delay=0
# at the time limit: SIGTERM, then SIGKILL after KillWait s (default 30); the tests'
# timeout job is warned earlier with --signal=USR1@N (signal_seconds_to_timeout)
KillWait=5
ReturnToService=2
MailProg=/bin/true
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=30
StateSaveLocation=/var/lib/slurm/slurmctld
SlurmdSpoolDir=/var/lib/slurm/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=$LOGDIR/slurmctld.log
SlurmdLogFile=$LOGDIR/slurmd.log
NodeName=$NODE $HW State=UNKNOWN
PartitionName=$PARTITION Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
)
CONF_CHANGED=0
if [ "$(cat /etc/slurm/slurm.conf 2>/dev/null)" != "$NEW_CONF" ]; then
    printf '%s\n' "$NEW_CONF" > /etc/slurm/slurm.conf.new
    mv /etc/slurm/slurm.conf.new /etc/slurm/slurm.conf
    CONF_CHANGED=1
fi
cat > /etc/slurm/slurmdbd.conf.new <<EOF
AuthType=auth/munge
DbdHost=localhost
DbdPort=6819
SlurmUser=slurm
PidFile=/run/slurmdbd.pid
LogFile=$LOGDIR/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=slurm
StoragePass=$DBPASS
StorageLoc=slurm_acct_db
EOF
chown slurm:slurm /etc/slurm/slurmdbd.conf.new
chmod 0600 /etc/slurm/slurmdbd.conf.new     # slurmdbd refuses a group/world-readable file
mv /etc/slurm/slurmdbd.conf.new /etc/slurm/slurmdbd.conf

# ------------------------------------------------------------------ 3. start daemons
# munged runs as user munge, daemonizes and writes /run/munge/munged.pid
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
    mkdir -p /run/munge && chown munge:munge /run/munge && chmod 0755 /run/munge
    rm -f /run/munge/munged.pid
    runuser -u munge -- /usr/sbin/munged --force   # --force: take over a stale socket
    wait_for munged sh -c 'munge -n | unmunge'
    record munged /run/munge/munged.pid
fi

# MariaDB: started directly, unix socket only (--skip-networking)
if ! mariadb-admin --silent ping >/dev/null 2>&1; then
    mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld
    [ -d /var/lib/mysql/mysql ] || mariadb-install-db --user=mysql >/dev/null
    rm -f /run/mysqld/mysqld.pid
    setsid /usr/sbin/mariadbd --user=mysql --skip-networking \
        --innodb-buffer-pool-size=256M --innodb-lock-wait-timeout=900 \
        >"$LOGDIR/mariadb.log" 2>&1 </dev/null &
    wait_for mariadb mariadb-admin --silent ping
    wait_for "mariadb pid file" test -s /run/mysqld/mysqld.pid
    record mariadbd /run/mysqld/mysqld.pid
fi
mariadb -e "CREATE DATABASE IF NOT EXISTS slurm_acct_db;
            CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY '$DBPASS';
            ALTER USER 'slurm'@'localhost' IDENTIFIED BY '$DBPASS';
            GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';"

if ! alive /run/slurmdbd.pid slurmdbd; then
    rm -f /run/slurmdbd.pid
    /usr/sbin/slurmdbd                            # daemonizes, writes /run/slurmdbd.pid
    wait_for slurmdbd sacctmgr -n -P list cluster
    wait_for "slurmdbd pid file" test -s /run/slurmdbd.pid
    record slurmdbd /run/slurmdbd.pid
fi

if ! alive /run/slurmctld.pid slurmctld; then
    rm -f /run/slurmctld.pid
    /usr/sbin/slurmctld                           # daemonizes, drops to SlurmUser=slurm
    wait_for slurmctld sh -c 'scontrol ping | grep -q UP'
    wait_for "slurmctld pid file" test -s /run/slurmctld.pid
    record slurmctld /run/slurmctld.pid
elif [ "$CONF_CHANGED" = 1 ]; then
    log "slurm.conf changed: scontrol reconfigure"
    scontrol reconfigure
fi

if ! alive /run/slurmd.pid slurmd; then
    rm -f /run/slurmd.pid
    /usr/sbin/slurmd -N "$NODE"
    wait_for slurmd test -s /run/slurmd.pid
    record slurmd /run/slurmd.pid
fi

# ------------------------------------------------------------------ 4. wait for the node
st=""
n=$((TIMEOUT * 5))
while :; do
    st=$(sinfo -h -n "$NODE" -o %T 2>/dev/null | sed -n 1p || true)
    case "$st" in
        idle|mixed|allocated) break ;;
        *drain*|*down*|*fail*)                    # left over from an earlier run
            scontrol update NodeName="$NODE" State=RESUME 2>/dev/null || true ;;
    esac
    n=$((n - 1)); [ "$n" -gt 0 ] || die "node $NODE not idle after ${TIMEOUT}s (state: '$st')"
    sleep 0.2
done

# ------------------------------------------------------------------ 5. smoke test
# One trivial job end to end (the first scheduling pass after a start can take ~3 s).
jid=$("$SBATCH" --parsable --chdir=/tmp --output=/dev/null --job-name=lttfs-smoke \
      --time=00:01:00 --wrap true) || die "sbatch failed"
wait_for "smoke-test job $jid to finish" sh -c "! squeue -h -j $jid 2>/dev/null | grep -q ."
scontrol show job "$jid" | grep -q 'JobState=COMPLETED' \
    || die "smoke-test job $jid did not complete: $(scontrol show job "$jid" | grep -o 'JobState=[^ ]*')"

printf 'SBATCH=%s\n' "$SBATCH" > "$STATE_DIR/env"
log "Slurm ready in $(( ($(date +%s%N) - T_START) / 1000000 )) ms: node $NODE $st," \
    "partition $PARTITION, sbatch $SBATCH"
