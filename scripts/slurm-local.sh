#!/usr/bin/env bash
# A one-node Slurm cluster on this machine, for testing the workflow's Slurm profile.
#
#   scripts/slurm-local.sh start DIR    configure and start munged, slurmctld and slurmd under DIR
#   scripts/slurm-local.sh stop DIR     stop them (by the process ids recorded under DIR)
#
# Everything lives under DIR: its own munge key and socket, slurm.conf, state, spool and logs, and
# its own ports. Clients need SLURM_CONF=DIR/slurm.conf (start prints it). One thing outside DIR:
# the link /run/slurm/conf -> DIR, where Slurm's commands look when SLURM_CONF is unset (as on a
# "configless" compute node), because the Snakemake plugin's job step clears SLURM_CONF before it
# calls srun inside each job. start refuses to replace a link or directory that is already there
# (e.g. a real node's); stop removes the link only if it still points to DIR. Must run as root
# (slurmd starts jobs as their users). Needs Debian's munge, slurmctld, slurmd and slurm-client
# (scripts/system-deps.sh --slurm installs them).
#
# No accounting database: `sacct` answers "accounting storage is disabled", but finished jobs are
# appended to DIR/log/jobcomp.txt (read with `sacct -c`), and squeue lists them for MinJobAge
# (an hour) after they end, which the Snakemake plugin's `--slurm-status-command squeue` uses.
set -euo pipefail

usage() { echo "usage: $0 start|stop DIR" >&2; exit 2; }
[[ $# -eq 2 ]] || usage
action=$1
dir=$(mkdir -p "$2" && cd "$2" && pwd)
ctld_port=${SLURM_LOCAL_PORT:-16817}

# Slurm's commands read /run/slurm/conf/slurm.conf when SLURM_CONF is unset.
run_conf=/run/slurm/conf

link_run_conf() {
    local target
    target=$(readlink "$run_conf" 2>/dev/null || true)
    # A dangling link, or one left by a cluster of this script that is no longer running (e.g.
    # after a killed test), is replaced; anything else is not ours to change.
    if [[ -e $run_conf ]] && [[ $target != "$dir" ]] &&
        ! { [[ -n $target && ! -s $target/slurmctld.pid ]] &&
            grep -qs "^# One-node test cluster written by scripts/slurm-local.sh" \
                "$target/slurm.conf"; }; then
        echo "error: $run_conf already exists (another Slurm configuration on this machine," \
            "${target:-not a link}); stop that cluster first" >&2
        exit 1
    fi
    mkdir -p "$(dirname "$run_conf")"
    ln -sfn "$dir" "$run_conf"
}

stop() {
    # slurmd first, so that no job is left waiting for a controller.
    for pidfile in "$dir/slurmd.pid" "$dir/slurmctld.pid" "$dir/munge/munged.pid"; do
        [[ -s $pidfile ]] || continue
        pid=$(cat "$pidfile")
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        # A slurmd still trying to reach a dead controller does not stop on SIGTERM.
        kill -KILL "$pid" 2>/dev/null || true
        rm -f "$pidfile"
    done
    if [[ $(readlink "$run_conf" 2>/dev/null) == "$dir" ]]; then
        rm -f "$run_conf"
    fi
}

start() {
    if [[ $(id -u) -ne 0 ]]; then
        echo "error: the one-node Slurm cluster must be started as root (slurmd runs jobs)" >&2
        exit 1
    fi
    for tool in munged mungekey slurmctld slurmd sinfo sbatch; do
        command -v "$tool" >/dev/null || {
            echo "error: $tool not found; run 'bash scripts/system-deps.sh --slurm'" >&2; exit 1; }
    done
    link_run_conf
    mkdir -p "$dir"/{munge,key,state,spool,log}
    chmod 755 "$dir/munge"   # munged wants its socket directory searchable by everyone
    chmod 700 "$dir/key"
    [[ -s $dir/key/munge.key ]] || mungekey --create --keyfile="$dir/key/munge.key"
    munged --force --socket="$dir/munge/munge.sock" --key-file="$dir/key/munge.key" \
        --log-file="$dir/log/munged.log" --pid-file="$dir/munge/munged.pid" \
        --seed-file="$dir/munge/munged.seed" || fail "munged did not start"

    local node memory_mb
    node=$(hostname -s)
    # Leave a quarter of the free memory (and at least 1 GB) to everything else.
    memory_mb=$(awk '/MemAvailable/ {m = int($2 / 1024 * 0.75); print (m > 1000 ? m : 1000)}' \
        /proc/meminfo)
    cat > "$dir/slurm.conf" <<CONF
# One-node test cluster written by scripts/slurm-local.sh; not for production use.
ClusterName=klgaptest
SlurmctldHost=$node(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$dir/munge/munge.sock
SlurmctldPort=$ctld_port
SlurmdPort=$((ctld_port + 1))
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
# No cgroups: processes are tracked through their parents, and not confined.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
MinJobAge=3600
JobAcctGatherType=jobacct_gather/linux
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$dir/log/jobcomp.txt
NodeName=$node NodeAddr=127.0.0.1 CPUs=$(nproc) RealMemory=$memory_mb State=UNKNOWN
PartitionName=test Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
    export SLURM_CONF=$dir/slurm.conf
    slurmctld -c -i || fail "slurmctld did not start"  # -c: no jobs left from an earlier start
    slurmd || fail "slurmd did not start"
    local deadline=$((SECONDS + 30)) state=""
    while ((SECONDS < deadline)); do
        for daemon in slurmctld slurmd; do
            if [[ -s $dir/$daemon.pid ]] && ! kill -0 "$(cat "$dir/$daemon.pid")" 2>/dev/null; then
                fail "$daemon exited"
            fi
        done
        # A controller that does not answer would keep sinfo waiting for its message timeout.
        state=$(timeout 2 sinfo --noheader --nodes="$node" --format=%t 2>/dev/null || true)
        if [[ $state == idle ]]; then
            echo "export SLURM_CONF=$SLURM_CONF"
            return 0
        fi
        sleep 0.5
    done
    fail "the Slurm node did not become idle within 30 s (state: '${state:-none}')"
}

# Reports why the cluster did not start, with the daemons' last log lines, and stops it.
fail() {
    echo "error: $1. Logs: $dir/log/" >&2
    tail -n 20 "$dir"/log/*.log >&2 || true
    stop
    exit 1
}

case $action in
    start) start ;;
    stop) stop ;;
    *) usage ;;
esac
