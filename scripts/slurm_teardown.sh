#!/usr/bin/env bash
# slurm_teardown.sh - stop exactly the daemons that scripts/slurm_setup.sh started, by
# the PIDs it recorded in $SLURM_TEST_STATE (default /tmp/lttfs-slurm/state).
# A daemon that was running before the setup (no PID file of ours) is left alone; each
# PID is checked against the expected process name before it is signalled.  Packages
# and configuration stay installed, so the next setup takes seconds.
set -uo pipefail

STATE_DIR=${SLURM_TEST_STATE:-/tmp/lttfs-slurm/state}
WAIT=${SLURM_TEST_STOP_WAIT:-30}     # seconds to wait after SIGTERM before SIGKILL
log() { echo "[slurm_teardown $(date +%T)] $*"; }

[ -d "$STATE_DIR" ] || { log "nothing to do ($STATE_DIR does not exist)"; exit 0; }

# running <pid> <comm>: pid is a live (non-zombie) process named comm
running() {
    local stat
    [ "$(cat "/proc/$1/comm" 2>/dev/null)" = "$2" ] || return 1
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    stat=${stat##*) }                    # field 3 (state) follows "(comm) "
    [ "${stat%% *}" != Z ]
}

# Cancel the jobs still queued or running, so that no slurmstepd outlives slurmd.
# Only when we started slurmctld: on a cluster we did not start, jobs are not ours.
if [ -s "$STATE_DIR/slurmctld.pid" ] && running "$(cat "$STATE_DIR/slurmctld.pid")" slurmctld; then
    jobs=$(squeue -h -o %i 2>/dev/null | tr '\n' ' ')
    if [ -n "${jobs// /}" ]; then
        log "cancelling jobs: $jobs"
        # shellcheck disable=SC2086
        scancel $jobs 2>/dev/null || true
        for _ in $(seq 50); do [ -z "$(squeue -h -o %i 2>/dev/null)" ] && break; sleep 0.2; done
    fi
fi

stop() { # stop <name> <expected /proc/PID/comm> <the daemon's own pid file>
    local f="$STATE_DIR/$1.pid" pid i
    [ -s "$f" ] || return 0
    pid=$(cat "$f")
    if running "$pid" "$2"; then
        log "stopping $1 (pid $pid)"
        kill -TERM "$pid" 2>/dev/null
        for ((i = 0; i < WAIT * 10; i++)); do
            running "$pid" "$2" || break
            sleep 0.1
        done
        if running "$pid" "$2"; then
            log "$1 (pid $pid) ignored SIGTERM for ${WAIT}s, sending SIGKILL"
            kill -KILL "$pid" 2>/dev/null
        fi
    else
        log "$1: pid $pid is not running (or is not $2), skipping"
    fi
    rm -f "$f"
    # a stale /run/slurmctld.pid makes a later `apt-get remove slurmctld` fail
    [ "$(cat "$3" 2>/dev/null)" = "$pid" ] && rm -f "$3"
    return 0
}

# reverse start order
stop slurmd    slurmd    /run/slurmd.pid
stop slurmctld slurmctld /run/slurmctld.pid   # its child slurmscriptd exits with it
stop slurmdbd  slurmdbd  /run/slurmdbd.pid
stop mariadbd  mariadbd  /run/mysqld/mysqld.pid
stop munged    munged    /run/munge/munged.pid
log "done"
