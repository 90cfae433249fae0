"""How far a sweep is: runs trained, training (with epoch and ETA), evaluated, and waiting.

Reads only what the jobs leave in the output root: a run is trained once its ``run.json``
exists, evaluated once its ``metrics.json`` exists, and in training while its ``checkpoint.npz``
(written after every epoch, with the history so far) exists without them. Times per epoch come
from the histories; the ETA of a run is its remaining epochs at its mean time per epoch, and the
remaining training work is spread over the jobs that run at once.
"""

import argparse
import os
import time
from pathlib import Path
from typing import NamedTuple

import numpy as np
import yaml

from klgap.config import schema as config_schema
from klgap.sweep import layout
from klgap.training import objectives

SECONDS_COLUMN = -1  # the last column of a training history: seconds of the epoch
# A checkpoint untouched for longer than this many epochs' time (plus a minute) is a stopped run.
STALLED_EPOCHS = 3


class RunStatus(NamedTuple):
    """Where one run of the sweep is."""

    run: layout.Run
    state: str  # "evaluated", "trained", "training", "stopped" or "waiting"
    epochs_done: int
    epochs: int
    seconds_per_epoch: float | None  # mean over its epochs so far, if any


def load_sweep_config(paths: list[Path]) -> dict:
    """Merges configuration files in order, as Snakemake does with ``--configfile``, over the
    schema's defaults of the keys that define the sweep."""
    config = {key: config_schema.default(key) for key in (*layout.GRID_KEYS, "experiments")}
    for path in paths:
        config.update(yaml.safe_load(Path(path).read_text()) or {})
    return config


def epoch_seconds(history: np.ndarray) -> float | None:
    """Mean seconds per epoch of a training history, or None before the first epoch."""
    return float(history[:, SECONDS_COLUMN].mean()) if len(history) else None


def run_status(outdir: Path, run: layout.Run, epochs: int, now: float) -> RunStatus:
    """Reads one run's progress from its directory.

    Args:
      outdir: the output root.
      run: the run.
      epochs: its configured epochs.
      now: the current time (``time.time()``), to tell a running job from a stopped one.

    Returns:
      Its status.
    """
    rundir = layout.run_dir(outdir, run)
    if (rundir / "run.json").exists():
        state = "evaluated" if (rundir / "metrics.json").exists() else "trained"
        history = np.loadtxt(rundir / "history.csv", delimiter=",", skiprows=1, ndmin=2) \
            if (rundir / "history.csv").exists() else np.zeros((0, 1))
        return RunStatus(run, state, epochs, epochs, epoch_seconds(history))
    checkpoint = rundir / "checkpoint.npz"
    try:
        with np.load(checkpoint, allow_pickle=False) as arrays:
            history = arrays["history"]
        modified = checkpoint.stat().st_mtime
    except (OSError, KeyError, ValueError):  # none yet, or being replaced
        return RunStatus(run, "waiting", 0, epochs, None)
    seconds = epoch_seconds(history)
    stalled = now - modified > STALLED_EPOCHS * (seconds or 0) + 60
    return RunStatus(run, "stopped" if stalled else "training", len(history), epochs, seconds)


def clock(seconds: float | None) -> str:
    """Formats seconds as ``h:mm:ss`` (or ``?`` when unknown)."""
    if seconds is None:
        return "?"
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def describe(statuses: list[RunStatus], parallel_jobs: int) -> str:
    """Writes the progress report: counts, one line per run in training, the remaining work.

    Args:
      statuses: every run of the sweep.
      parallel_jobs: how many training jobs run at once (for the overall estimate).

    Returns:
      Lines of text.
    """
    counts = {state: sum(s.state == state for s in statuses)
              for state in ("evaluated", "trained", "training", "stopped", "waiting")}
    total = len(statuses)
    lines = [f"{counts['evaluated'] + counts['trained']} of {total} runs trained "
             f"({counts['evaluated']} evaluated), {counts['training']} training, "
             f"{counts['stopped']} stopped mid-training, {counts['waiting']} waiting"]
    per_dataset = {}
    for status in statuses:
        if status.seconds_per_epoch is not None:
            per_dataset.setdefault(status.run.dataset, []).append(status.seconds_per_epoch)
    remaining, unknown = 0.0, 0
    for status in statuses:
        if status.state in ("evaluated", "trained"):
            continue
        seconds = status.seconds_per_epoch
        if seconds is None and per_dataset.get(status.run.dataset):
            seconds = float(np.mean(per_dataset[status.run.dataset]))
        left = status.epochs - status.epochs_done
        if seconds is None:
            unknown += 1
        else:
            remaining += left * seconds
        if status.state in ("training", "stopped"):
            run = status.run
            lines.append(f"  {status.state} {run.dataset} z={run.latent_dim} "
                         f"{objectives.weight_name(run.objective)}="
                         f"{layout.format_weight(run.weight)} "
                         f"seed={run.seed}: epoch "
                         f"{status.epochs_done}/{status.epochs}, {status.seconds_per_epoch:.1f} "
                         f"s/epoch, ETA {clock(left * status.seconds_per_epoch)}")
    estimate = (f"remaining training: {clock(remaining)} of job time, about "
                f"{clock(remaining / parallel_jobs)} on {parallel_jobs} parallel job(s)")
    if unknown and not remaining:
        estimate = "remaining training: not known until a first epoch is timed"
    elif unknown:
        estimate += f" (not counting {unknown} run(s) of datasets with no epoch timed yet)"
    return "\n".join(lines + [estimate, "evaluation is not included in the estimate"])


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds the command's options."""
    parser.add_argument("--config", type=Path, nargs="+",
                        default=[Path("config/config.yaml")],
                        help="the sweep's configuration files, in the order given to Snakemake")
    parser.add_argument("--outdir", type=Path, default=None,
                        help="output root (default: the configuration's outdir)")
    parser.add_argument("--jobs", type=int, default=None,
                        help="training jobs at once (default: cores / threads_per_run)")


def main(args: argparse.Namespace) -> None:
    """Prints how far the sweep is."""
    config = load_sweep_config(args.config)
    outdir = args.outdir or Path(config.get("outdir", "results"))
    epochs = config.get("epochs", 20)
    runs = layout.sweep(config)
    now = time.time()
    statuses = [run_status(outdir, run, epochs[run.dataset] if isinstance(epochs, dict)
                           else epochs, now) for run in runs]
    jobs = args.jobs or max(1, (os.cpu_count() or 1) // int(config.get("threads_per_run", 1)))
    print(f"{outdir}: " + describe(statuses, jobs))
    print(f"per-epoch lines: {outdir}/logs/run/<dataset>/{layout.RUN_PATTERN}.log")
