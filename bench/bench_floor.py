"""Measured wall time against the FLOP floor: the smoke configuration now and the last sweep.

The floor of a configuration is its matrix-product FLOPs (``klgap.sweep.floor``: training, the
per-epoch test pass, evaluation) at the one-thread float32 rate of a large square tf.matmul,
spread over the cores: floor wall = FLOPs / (rate x cores). Figures (results/bench/floor.csv):

* the rate, measured here on the spot (``klgap machine``, as the sweep's ``machine`` rule);
* for the smoke configuration, run here into a temporary outdir, and for the last full sweep,
  from its records (``<outdir>/benchmarks.csv``: per job ``s``, ``cpu_time``, ``max_rss``;
  ``provenance.json``: ``span_seconds`` and ``matmul_gflops_per_thread``, the rate measured on
  the sweep's machine when it started; without it today's rate is used, and the ratio is then not
  from one machine at one time):
  - measured / floor: the span of the benchmarked jobs on the cores, and the summed job time on
    one core (which leaves out idle cores);
  - per rule: share of job time, job time / floor, and peak memory (largest ``max_rss``);
  - the share of job time outside the numerical work: 1 - floor / job time (start-up, tracing,
    I/O, elementwise work, and any slow-down of the products themselves), and, from the runs'
    own records (``run.json`` ``train_seconds_all_epochs``, else the committed
    ``history.csv`` epoch seconds), the share of training-job time outside the epochs
    (start-up and finish); the share of core time left idle by the jobs over the span.

Usage: PYTHONPATH=src .venv/bin/python bench/bench_floor.py [--sweep results] [--no-smoke]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib  # noqa: E402

SMOKE_CONFIG = benchlib.ROOT / "config" / "smoke.yaml"
# The rules whose FLOPs klgap.sweep.floor counts, with the parts of the count each job does: rule
# run trains and evaluates a run in one job; older sweeps (and batched_training) have separate
# jobs.
NUMERICAL_RULES = {"run": ("train", "evaluate"), "train": ("train",),
                   "train_together": ("train",), "evaluate": ("evaluate",)}
# Targets (issue 31): the span at most twice the floor, the evaluations at most 2.5 times theirs,
# and at most 5 % of the run jobs' time outside the numerical work.
SPAN_TARGET = 2.0
EVALUATION_TARGET = 2.5
OUTSIDE_WORK_TARGET = 0.05


def environment() -> dict:
    """The environment of the jobs: this checkout's package first, quiet TensorFlow."""
    return {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3",
            "PYTHONPATH": (str(benchlib.ROOT / "src") + os.pathsep
                           + os.environ.get("PYTHONPATH", "")),
            "PATH": str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")}


def measure_rate(directory: Path) -> dict:
    """Runs ``klgap machine`` in its own process (one thread) and returns its record."""
    path = directory / "machine.json"
    subprocess.run([sys.executable, "-m", "klgap", "machine", "--out", str(path)], check=True,
                   capture_output=True, env=environment())
    return json.loads(path.read_text())


def run_smoke(outdir: Path, cores: int) -> float:
    """Runs the smoke configuration into ``outdir``; returns the workflow's wall seconds."""
    command = [str(Path(sys.executable).parent / "snakemake"), "--snakefile",
               str(benchlib.ROOT / "Snakefile"), "--configfile", str(SMOKE_CONFIG),
               "--config", f"outdir={outdir}", "--cores", str(cores), "--quiet"]
    start = time.perf_counter()
    result = subprocess.run(command, cwd=benchlib.ROOT, capture_output=True, text=True,
                            env=environment())
    if result.returncode != 0:
        sys.exit(f"the smoke workflow failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return time.perf_counter() - start


def epoch_seconds(outdir: Path, config: dict) -> tuple[float | None, str]:
    """Training seconds of all epochs of all runs, from their records.

    Returns:
      (seconds, where they came from), or (None, why not).
    """
    records = sorted((outdir / "runs").glob("**/run.json"))
    if records:
        total = sum(json.loads(path.read_text())["train_seconds_all_epochs"] for path in records)
        return total, f"{len(records)} run.json train_seconds_all_epochs"
    histories = [outdir / dataset / "history.csv" for dataset in swept_datasets(outdir, config)]
    if histories:
        total = sum(float(pd.read_csv(path)["seconds"].sum()) for path in histories)
        return total, "history.csv epoch seconds (the runs are not here)"
    return None, "no run records or histories"


def swept_datasets(outdir: Path, config: dict) -> list[str]:
    """The datasets of the configuration whose tables the output root has (a shard's root has
    those of its own runs only)."""
    return [dataset for dataset in config["datasets"]
            if (outdir / dataset / "metrics.csv").is_file()]


# The parts of an evaluation that time themselves (``klgap.evaluation.evaluate.TIMING_KEYS``),
# with the part of ``klgap.sweep.floor.evaluation_parts`` each counts.
TIMED_PARTS = {"fitted_seconds": "fitted", "quality_seconds": "quality", "ais_seconds": "ais"}


def evaluation_seconds(outdir: Path, config: dict, column: str = "evaluation_seconds"
                       ) -> tuple[float | None, str]:
    """Seconds of the evaluations themselves (``evaluation_seconds`` of the test records), or of
    one timed part of them.

    Returns:
      (seconds, where they came from), or (None, why not).
    """
    tables = [outdir / dataset / "metrics.csv" for dataset in swept_datasets(outdir, config)]
    if not tables:
        return None, "no metrics tables"
    metrics = pd.concat([pd.read_csv(path) for path in tables])
    if column not in metrics.columns:
        return None, f"the evaluations did not record {column}"
    test = metrics[metrics["split"] == "test"]
    return float(test[column].sum()), f"{len(test)} test records"


def analyse(report: benchlib.Report, label: str, outdir: Path, rate: float, rate_note: str,
            cores: int, load: float) -> str:
    """Adds the floor figures of one output root and returns its summary.

    Args:
      report: where the figures go.
      label: the configuration's name in the figures.
      outdir: the output root (``benchmarks.csv``, ``provenance.json``, ``config.yaml``).
      rate: one-thread matmul GFLOP/s that the floor is computed at.
      rate_note: where the rate comes from.
      cores: cores the jobs ran on.
      load: the load average to record with the figures.
    """
    from klgap.sweep import floor as flops

    config = yaml.safe_load((outdir / "config.yaml").read_text())
    record = json.loads((outdir / "provenance.json").read_text())
    jobs = pd.read_csv(outdir / "benchmarks.csv")
    jobs = jobs[jobs["rule"].isin(NUMERICAL_RULES)]
    # Dataset and class sizes from the prepared data: the sweep's own, else the checkout's.
    data_dir = outdir / "data" if (outdir / "data").is_dir() else benchlib.ROOT / "results" / "data"
    runs = flops.config_runs(config, data_dir)
    by_rule = flops.sweep_flops(runs)
    total_flops = sum(by_rule.values())
    floor_seconds = total_flops / (rate * 1e9)  # on one core
    job_seconds = float(jobs["s"].sum())
    span = float(record["span_seconds"])

    def add(figure, value, unit, target="", passed=None, note=""):
        report.add(f"{figure} [{label}]", value, unit, target, passed, note, load=load)

    counts = jobs["rule"].value_counts().to_dict()
    parts_done = [part for rule, count in counts.items()
                  for part in NUMERICAL_RULES[rule] for _ in range(count)]
    note = (f"{len(runs)} runs; jobs {counts}" + ("" if all(parts_done.count(part) == len(runs)
            for part in by_rule) or "train_together" in counts
            else " (not one of each part per run: the ratios are off)"))
    add("floor_tflop", total_flops / 1e12, "TFLOP", note=note)
    add("floor_share (train)", by_rule["train"] / total_flops, "",
        note="training's share of the floor (the rest: evaluation)")
    add("matmul_rate", rate, "GFLOP/s", note=rate_note)
    add(f"floor_wall ({cores} cores)", floor_seconds / cores, "s")
    ratio = span / (floor_seconds / cores)
    add("measured_over_floor (span)", ratio, "x", f"<= {SPAN_TARGET:g}", ratio <= SPAN_TARGET,
        f"span of the train/evaluate jobs {span:.0f} s on {cores} cores")
    add("measured_over_floor (job time)", job_seconds / floor_seconds, "x",
        note=f"{job_seconds:.0f} job-seconds / {floor_seconds:.3g} floor core-seconds")
    add("cpu_over_floor", float(jobs["cpu_time"].sum()) / floor_seconds, "x",
        note="CPU seconds of the jobs / floor core-seconds")
    for rule in sorted(counts):
        group = jobs[jobs["rule"] == rule]
        rule_flops = sum(by_rule[part] for part in NUMERICAL_RULES[rule])
        rule_floor = rule_flops / (rate * 1e9)
        add(f"job_time_share ({rule})", float(group["s"].sum()) / job_seconds, "",
            note=f"{group['s'].sum():.0f} s, {len(group)} jobs")
        add(f"measured_over_floor ({rule}, job time)", float(group["s"].sum()) / rule_floor, "x",
            note=f"floor {rule_flops / 1e12:.3g} TFLOP = {rule_floor:.3g} core-seconds")
        add(f"peak_rss ({rule})", float(group["max_rss"].max()), "MB", note="largest max_rss")
    outside = 1.0 - floor_seconds / job_seconds
    add("outside_counted_products_share (job time)", outside, "",
        note="1 - floor / job time: start-up, tracing, I/O, elementwise work, slower products")
    idle = 1.0 - job_seconds / (span * cores)
    add("idle_core_share (span)", idle, "", note=f"1 - job time / (span x {cores} cores)")
    trained, source = epoch_seconds(outdir, config)
    training_rule = "run" if "run" in counts else "train"
    train_jobs = float(jobs.loc[jobs["rule"] == training_rule, "s"].sum())
    if trained is not None and train_jobs:
        add(f"outside_epochs_share ({training_rule} jobs)", 1.0 - trained / train_jobs, "",
            note=f"1 - epoch seconds / {training_rule} job seconds; {source}"
                 + ("; run jobs also evaluate" if training_rule == "run" else ""))
    evaluated, evaluation_source = evaluation_seconds(outdir, config)
    for part, seconds in (("train", trained), ("evaluate", evaluated)):
        if seconds is not None:
            part_ratio = seconds / (by_rule[part] / (rate * 1e9))
            target = (f"<= {EVALUATION_TARGET:g}", part_ratio <= EVALUATION_TARGET) if (
                part == "evaluate") else ("", None)
            add(f"measured_over_floor ({part}, own time)", part_ratio, "x", *target,
                note=f"{seconds:.0f} s of {'epochs' if part == 'train' else 'evaluations'}"
                     f" (the runs' records) / {by_rule[part] / 1e12:.3g} TFLOP")
    if evaluated is not None:
        parts = {}
        for _, shape in runs:
            for part, part_flops in flops.evaluation_parts(shape).items():
                parts[part] = parts.get(part, 0) + part_flops
        for column, part in TIMED_PARTS.items():
            seconds, _ = evaluation_seconds(outdir, config, column)
            if seconds is not None and parts.get(part):
                add(f"measured_over_floor (evaluate: {part}, own time)",
                    seconds / (parts[part] / (rate * 1e9)), "x",
                    note=f"{seconds:.0f} s of `{column}` / {parts[part] / 1e12:.3g} TFLOP")
    if trained is not None and evaluated is not None and training_rule == "run":
        outside_work = 1.0 - (trained + evaluated) / train_jobs
        add("outside_numerical_work_share (run jobs)", outside_work, "",
            f"<= {OUTSIDE_WORK_TARGET:g}", outside_work <= OUTSIDE_WORK_TARGET,
            note="1 - (epochs + evaluations) / run job seconds: start-up, "
            f"loading, model building, tracing, writing; {source}; {evaluation_source}")
    return (f"{label} {ratio:.3g}x the floor over the span ({span:.0f} s vs "
            f"{floor_seconds / cores:.3g} s at {rate:.0f} GFLOP/s x {cores}), "
            f"{job_seconds / floor_seconds:.3g}x in job time, {100 * outside:.0f}% of job time "
            f"outside the products")


def recorded_rate(record: dict) -> tuple[float, str] | None:
    """The one-thread matmul rate a sweep's ``provenance.json`` records, with where it is from.

    Args:
      record: the sweep's record: with its own ``matmul_gflops_per_thread``, or a combination of
        shards (``shards``), each with the rate measured at its start.

    Returns:
      (GFLOP/s, note): the sweep's own rate, else the shards' rates averaged with their spans as
      weights (each shard's time is priced at about its own machine's rate); None if the record
      or any of its shards has none.
    """
    if "matmul_gflops_per_thread" in record:
        return record["matmul_gflops_per_thread"], "the sweep's own (provenance.json)"
    shards = list((record.get("shards") or {}).values())
    if not shards or any("matmul_gflops_per_thread" not in shard for shard in shards):
        return None
    rates = [shard["matmul_gflops_per_thread"] for shard in shards]
    spans = [shard["span_seconds"] for shard in shards]
    mean = sum(r * s for r, s in zip(rates, spans)) / sum(spans)
    return mean, (f"the {len(shards)} shards' own ({min(rates):.1f} to {max(rates):.1f}), their "
                  "mean weighted by span (provenance.json)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sweep", type=Path, default=benchlib.ROOT / "results",
                        help="output root of the last full sweep")
    parser.add_argument("--cores", type=int, default=2, help="cores the workflows run on")
    parser.add_argument("--no-smoke", action="store_true", help="skip the smoke run")
    parser.add_argument("--name", default="floor",
                        help="the CSV's name, results/bench/<name>.csv (e.g. for another sweep)")
    args = parser.parse_args()
    report = benchlib.Report(args.name)
    others = benchlib.others_running()
    if others:
        print(f"# warning: other work is running: {others}", flush=True)
    summary = []
    with tempfile.TemporaryDirectory(prefix="klgap-floor-") as directory:
        directory = Path(directory)
        load = benchlib.load_1min()
        machine = measure_rate(directory)
        rate = machine["matmul_gflops_per_thread"]
        report.add("matmul_rate_now [2048^2 float32, 1 thr]", rate, "GFLOP/s",
                   note=f"per CPU-second, best of 3; {machine['matmul_gflops_wall']} per wall "
                        f"second", load=load)
        if not args.no_smoke:
            outdir = directory / "smoke"
            load, busy = benchlib.load_1min(), benchlib.busy_core_seconds()
            wall = run_smoke(outdir, args.cores)
            others_cores = max(0.0, benchlib.busy_core_seconds() - busy) / wall
            report.add("smoke_workflow_wall [whole DAG, PDF included]", wall, "s",
                       note=f"all processes kept {others_cores:.2f} cores busy meanwhile",
                       load=load)
            smoke_rate = json.loads((outdir / "provenance.json").read_text())
            report.add("matmul_rate_of_the_smoke_machine_rule", smoke_rate.get(
                "matmul_gflops_per_thread", float("nan")), "GFLOP/s",
                note="provenance.json of the smoke run (measured while it started)", load=load)
            summary.append(analyse(report, "smoke", outdir, rate, "measured here, now",
                                   args.cores, load))
        sweep_record = json.loads((args.sweep / "provenance.json").read_text())
        sweep_rate, note = recorded_rate(sweep_record) or (
            rate, "today's rate: the sweep recorded none, so this ratio is not from one machine "
                  "at one time")
        summary.append(analyse(report, "sweep", args.sweep, sweep_rate, note, args.cores,
                               benchlib.load_1min()))
    report.write("; ".join(summary) + f"; load {benchlib.load_1min():.2f} at the end")


if __name__ == "__main__":
    main()
