#!/usr/bin/env bash
# Clears a stale Snakemake lock in the current directory before a new run (the Makefile's
# snakemake targets call it first).
#
#   scripts/unlock-stale.sh SNAKEMAKE [ARGS...]    e.g. .venv/bin/snakemake --snakefile Snakefile
#
# Snakemake holds .snakemake/locks/*.lock while it runs, so that a second workflow writing the same
# files is refused; a run that was killed (SIGKILL, power cut) leaves them behind, and every later
# run is refused until `snakemake --unlock`. This script runs `SNAKEMAKE ARGS... --unlock` when
# lock files exist and no Snakemake process on this machine has this directory as its working
# directory (found through /proc/PID/cmdline and /proc/PID/cwd), and prints one line saying so.
# A live run's lock is kept. Processes on other machines (another login node sharing the file
# system) cannot be seen: there, do not start two runs of the same directory at once.
set -euo pipefail

[[ $# -ge 1 ]] || { echo "usage: $0 SNAKEMAKE [ARGS...]" >&2; exit 2; }
locks=.snakemake/locks
shopt -s nullglob
lock_files=("$locks"/*.lock)
[[ ${#lock_files[@]} -gt 0 ]] || exit 0

if [[ ! -d /proc/self ]]; then
    echo "note: $locks has a lock, and without /proc this script cannot tell whether a Snakemake" \
        "run holds it; if none is running, clear it with: $* --unlock" >&2
    exit 0
fi

here=$(pwd -P)
# Is PID a Snakemake process (`snakemake ...`, `python .../snakemake ...` or
# `python -m snakemake ...`, which includes the job processes of a run) working in this directory?
snakemake_here() {
    local pid=$1 cwd args=() first second
    cwd=$(readlink "/proc/$pid/cwd" 2>/dev/null) || return 1  # gone, or another user's
    [[ $cwd == "$here" ]] || return 1
    mapfile -d '' -t args < "/proc/$pid/cmdline" 2>/dev/null || return 1
    [[ ${#args[@]} -gt 0 ]] || return 1
    first=${args[0]##*/} second=${args[1]:-}
    [[ $first == snakemake ]] && return 0
    [[ $first == python* ]] || return 1
    [[ ${second##*/} == snakemake ]] && return 0
    [[ $second == -m && ${args[2]:-} == snakemake ]]
}

for proc in /proc/[0-9]*; do
    pid=${proc#/proc/}
    [[ $pid == "$$" ]] && continue
    if snakemake_here "$pid"; then
        echo "Snakemake is running in this directory (pid $pid): its lock ($locks) is kept;" \
            "a second run on the same files is refused."
        exit 0
    fi
done

if ! output=$("$@" --unlock 2>&1); then
    echo "error: $locks has a stale lock (no Snakemake process runs here), but '$* --unlock'" \
        "failed; its output:" >&2
    echo "$output" | tail -n 20 >&2
    exit 1
fi
lock_files=("$locks"/*.lock)
if [[ ${#lock_files[@]} -gt 0 ]]; then
    echo "error: '$* --unlock' left ${lock_files[*]}; remove them by hand" >&2
    exit 1
fi
echo "Cleared a stale Snakemake lock ($locks) left by a run that was stopped (no Snakemake" \
    "process runs in $here)."
