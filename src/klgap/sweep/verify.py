"""``klgap verify``: retrains a fixed sample of the committed runs here and compares them.

Bitwise reproduction holds only on a CPU with the same instruction-set features (and the same
package versions): TensorFlow picks its float kernels by what the CPU has, and over thousands of
Adam steps a difference in the last bit grows into a different trajectory. Elsewhere the
question is whether the difference stays within that float32 trajectory noise, which is at most
of the order of what another seed changes (mostly well below it). The command trains and
evaluates the sample with the committed configuration (``<results>/config.yaml``) under
``<results>/verify/``, then prints, per run and metric, the deviation from the committed value
in units of the across-seed standard deviation of its cell, and a one-line verdict last. With
``--retrained DIR`` it compares, without training, every run already trained and evaluated under
the output root DIR (e.g. a shard of the sweep re-run from scratch on another machine).
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import yaml

from klgap.sweep import tables as aggregate
from klgap import atomic
from klgap.sweep import layout
from klgap.sweep import provenance
from klgap.errors import UserError

# Both latent sizes, a small and a large beta, both datasets and an alternative objective, each
# from a cell with three seeds (the deviation is measured in their SD).
# MNIST's data directory, where the canonical mirrors cannot be reached:
# make verify ARGS="--data-dir mnist=DIR".
SAMPLE = (
    layout.Run("mnist", 2, 0.5, 0),
    layout.Run("mnist", 10, 1.0, 2),
    layout.Run("fashion_mnist", 10, 2.0, 1),
    layout.Run("mnist", 10, 30.0, 1, "mmd"),
)
METRICS = ("elbo", "iw_ll", "distortion", "rate", "mutual_info", "aggregate_kl",
           "fitted_aggregate_kl_lower", "total_correlation", "label_info", "ais_ll", "prior_fid")
SPLIT = "test"
# A deviation beyond THRESHOLD across-seed SDs fails. Rounding differences between CPUs moved
# values by 0.26-0.41 true SDs (an AVX-512 against an AVX2 machine, issue 13); a whole shard
# re-run without AVX-512 moved most values by a fraction of a sample SD and a few by several
# (results/bench/verify_shard_mnist_vae_s2_no_avx512.csv). With the SD s of
# a cell estimated from 3 seeds, a deviation of c true SDs reads as c |t_2| sample SDs
# (Student's t, 2 degrees of freedom, heavy-tailed): for c = 0.5 it exceeds 10 with probability
# 0.25% per value, about 1% for the sample (the values of one run move together). Even a run
# as different as another seed (c = sqrt 2) exceeds 10 only with probability 2%; a bug in the
# data, model, training or estimators moves values by far more.
THRESHOLD = 10.0
# The report the paper quotes on other CPUs (``klgap tex --cross-cpu-report``), under the output
# root: a shard of the sweep re-run from scratch without AVX-512, compared with --retrained.
CROSS_CPU_REPORT = "bench/verify_shard_mnist_vae_s2_no_avx512.csv"
# Collapsed cells (beta large) have SDs of 1e-4 nats; below this floor, a deviation is scaled
# by the floor instead (the paper prints two decimals).
SD_FLOOR = 0.01


def committed_values(results: Path, runs: tuple[layout.Run, ...]) -> pd.DataFrame:
    """Reads the committed value and its cell's across-seed SD of every sample run and metric.

    Args:
      results: the committed output root (``results``).
      runs: the sample.

    Returns:
      One row per run and metric: ``run, metric, committed, sd``.

    Raises:
      UserError: a table is missing, or a sample run or metric is not in it.
    """
    rows = []
    for run in runs:
        metrics_path = results / run.dataset / "metrics.csv"
        summary_path = results / run.dataset / "summary.csv"
        for path in (metrics_path, summary_path):
            if not path.is_file():
                raise UserError(f"{path} not found: verify compares with the committed tables; "
                                f"restore them with `git checkout {results}`.")
        metrics = aggregate.load_tables([metrics_path], "metrics")  # objective filled
        summary = aggregate.load_tables([summary_path], "summary")
        classes = layout.classes_label(run.classes)
        row = metrics[(metrics["objective"] == run.objective)
                      & (metrics["classes"].astype(str) == classes)
                      & (metrics["latent_dim"] == run.latent_dim)
                      & (metrics["weight"] == run.weight)
                      & (metrics["seed"] == run.seed) & (metrics["split"] == SPLIT)]
        cell = summary[(summary["objective"] == run.objective)
                       & (summary["classes"].astype(str) == classes)
                       & (summary["latent_dim"] == run.latent_dim)
                       & (summary["weight"] == run.weight) & (summary["split"] == SPLIT)]
        if len(row) != 1:
            raise UserError(f"run {run_name(run)} is not in {metrics_path}: the sample of "
                            f"klgap.sweep.verify.SAMPLE must be runs of the committed sweep.")
        for metric in METRICS:
            sd = cell.loc[cell["metric"] == metric, "sd"]
            if metric not in row or len(sd) != 1:
                raise UserError(f"metric {metric} of {run_name(run)} is missing from "
                                f"{metrics_path} or {summary_path}.")
            rows.append({"run": run_name(run), "metric": metric,
                         "committed": float(row[metric].iloc[0]), "sd": float(sd.iloc[0])})
    return pd.DataFrame(rows)


def run_name(run: layout.Run) -> str:
    """Names a run as its directory below ``runs/``."""
    return str(Path(run.dataset) / layout.run_subdir(run))


def retrained_values(outdir: Path, runs: tuple[layout.Run, ...]) -> pd.DataFrame:
    """Reads the retrained runs' metrics: one row per run and metric, ``run, metric, retrained``."""
    rows = []
    for run in runs:
        records = json.loads((layout.run_dir(outdir, run) / "metrics.json").read_text())
        record = next(r for r in records if r["split"] == SPLIT)
        rows += [{"run": run_name(run), "metric": m, "retrained": float(record[m])}
                 for m in METRICS]
    return pd.DataFrame(rows)


def trained_runs(outdir: Path) -> tuple[layout.Run, ...]:
    """The runs trained and evaluated under an output root (a ``metrics.json`` in their directory).

    Args:
      outdir: an output root, e.g. a shard re-run from scratch (``<outdir>/shards/<name>``).

    Returns:
      Its runs, sorted by directory.

    Raises:
      UserError: it holds none.
    """
    runs = []
    for dataset_dir in sorted((Path(outdir) / "runs").glob("*")):
        for record in sorted(dataset_dir.rglob("metrics.json")):
            subdir = record.parent.relative_to(dataset_dir).as_posix()
            runs.append(layout.parse_run_subdir(dataset_dir.name, subdir))
    if not runs:
        raise UserError(f"no evaluated run (runs/<dataset>/.../metrics.json) under {outdir}: "
                        "--retrained names the output root of runs already trained, e.g. a "
                        "shard re-run's <outdir>/shards/<name>.")
    return tuple(runs)


def deviations(committed: pd.DataFrame, retrained: pd.DataFrame) -> pd.DataFrame:
    """Joins both and scales each difference by its cell's across-seed SD (floored).

    Returns:
      ``run, metric, committed, retrained, sd, difference, deviation_sd``.
    """
    table = committed.merge(retrained, on=["run", "metric"], validate="one_to_one")
    table["difference"] = table["retrained"] - table["committed"]
    table["deviation_sd"] = table["difference"].abs() / table["sd"].clip(lower=SD_FLOOR)
    return table


def verdict(table: pd.DataFrame, threshold: float) -> tuple[bool, str]:
    """Says in one line whether the sample reproduces.

    Returns:
      (passed, the verdict line).
    """
    worst = table.loc[table["deviation_sd"].idxmax()]
    bitwise = int((table["difference"] == 0).sum())
    summary = (f"{table['run'].nunique()} runs, {len(table)} values: {bitwise} bitwise equal; "
               f"largest deviation {worst['deviation_sd']:.2f} SD ({worst['metric']} of "
               f"{worst['run']}, {worst['difference']:+.4f} nats); threshold {threshold:g} SD")
    if bitwise == len(table):
        return True, f"verify: PASS (bitwise) - {summary}"
    if worst["deviation_sd"] <= threshold:
        return True, f"verify: PASS (within float32 trajectory noise, not bitwise) - {summary}"
    return False, f"verify: FAIL - {summary}"


# The lines above a report's table: its verdict, the machine, the oneDNN settings.
REPORT_HEADER = ("# ", "# this machine: ", "# environment: ")


def write_report(path: Path, line: str, machine: str, environment: str,
                 table: pd.DataFrame) -> None:
    """Writes a report (``--report``): ``REPORT_HEADER`` with the verdict line, the machine and
    the environment, then the table of ``deviations``."""
    header = "".join(f"{prefix}{value}\n" for prefix, value in
                     zip(REPORT_HEADER, (line, machine, environment)))
    atomic.write_text(path, header + table.to_csv(index=False))


def read_report(path: Path) -> tuple[str, str, pd.DataFrame]:
    """Reads a report that ``write_report`` wrote.

    Returns:
      (the verdict line, the machine it was made on, the table of ``deviations``).

    Raises:
      UserError: the file is not such a report.
    """
    lines = Path(path).read_text().splitlines()
    if (len(lines) <= len(REPORT_HEADER) or not lines[0].startswith(REPORT_HEADER[0] + "verify: ")
            or not all(line.startswith(prefix) for line, prefix in zip(lines, REPORT_HEADER))):
        raise UserError(f"{path} is not a report of `klgap verify --report`: make it again with "
                        "`python -m klgap verify --report ...`.")
    table = pd.read_csv(path, comment="#")
    return lines[0][len(REPORT_HEADER[0]):], lines[1][len(REPORT_HEADER[1]):], table


def data_dir_setting(values: list[str]) -> str | dict | None:
    """The ``data_dir`` of ``--data-dir`` values: one directory, or ``DATASET=DIR`` items.

    Raises:
      UserError: a mix of both forms, or an item without a directory.
    """
    if not values:
        return None
    pairs = [value.split("=", 1) for value in values]
    if len(values) == 1 and len(pairs[0]) == 1:
        return values[0]
    if any(len(pair) != 2 or not pair[1] for pair in pairs):
        raise UserError(f"--data-dir takes one directory or DATASET=DIR items, got "
                        f"{' '.join(values)}; e.g. --data-dir mnist=/path/to/mnist")
    return dict(pairs)


def split_config_items(extra: list[str]) -> tuple[list[str], list[str]]:
    """Splits Snakemake arguments into the items of their ``--config`` options and the rest.

    Snakemake keeps only the last ``--config``, so the items are merged into verify's own.
    """
    items, rest, in_config = [], [], False
    for argument in extra:
        if argument == "--config":
            in_config = True
        elif in_config and not argument.startswith("-"):
            items.append(argument)
        else:
            in_config = False
            rest.append(argument)
    return items, rest


def retrain(results: Path, outdir: Path, runs: tuple[layout.Run, ...], extra: list[str],
            data_dir: str | dict | None = None) -> None:
    """Trains and evaluates the sample with the committed configuration, through Snakemake.

    Args:
      results: the committed output root.
      outdir: where the sample is retrained.
      runs: the sample.
      extra: further Snakemake arguments; their ``--config`` items join verify's own.
      data_dir: where this machine has the IDX datasets (config key data_dir), or None for the
        canonical mirrors.
    """
    snapshot = results / "config.yaml"
    if not snapshot.is_file():
        raise UserError(f"{snapshot} not found: restore it with `git checkout {snapshot}`.")
    # The committed configuration, in the keys the workflow reads today. Where the sweep's machine
    # found its data is not where this one does: the canonical mirrors, unless --data-dir names
    # a directory.
    # A sweep in shards is retrained as one output root; its samples are scored with the
    # committed feature networks, as the shards were.
    committed = layout.upgrade_snapshot(yaml.safe_load(snapshot.read_text()))
    config = outdir / "committed_config.yaml"
    atomic.write_text(config, yaml.safe_dump({**committed, "data_dir": data_dir, "shards": {},
                                              "shard": None}))
    for features in sorted((results / "features").glob("*.npz")):
        if not (outdir / "features" / features.name).exists():
            with atomic.atomic_path(outdir / "features" / features.name) as tmp:
                shutil.copyfile(features, tmp)
    config_items, extra = split_config_items(extra)
    snakemake = Path(sys.executable).parent / "snakemake"
    repository = Path(__file__).resolve().parents[3]
    targets = [str(layout.run_dir(outdir, run) / "metrics.json") for run in runs]
    command = [str(snakemake), "--snakefile", str(repository / "Snakefile"), "--cores", "all",
               "--configfile", str(config), "--config", f"outdir={outdir}", *config_items, *extra,
               "--",
               *targets]
    print("+", " ".join(command), flush=True)
    if subprocess.run(command, cwd=repository).returncode != 0:
        raise UserError(f"the retraining workflow failed; its logs are in {outdir / 'logs'}; "
                        f"run `make verify` again to resume.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds the ``verify`` command's arguments."""
    parser.add_argument("--results", type=Path, default=Path("results"),
                        help="committed output root (tables and config.yaml)")
    parser.add_argument("--outdir", type=Path, default=None,
                        help="where the sample is retrained (default: <results>/verify)")
    parser.add_argument("--threshold", type=float, default=THRESHOLD,
                        help="largest accepted deviation, in across-seed SDs of the cell")
    parser.add_argument("--report", type=Path, default=None,
                        help="where the table and verdict are written (default: "
                             "<outdir>/verify.csv)")
    parser.add_argument("--data-dir", nargs="+", default=[], metavar="DIR",
                        help="where this machine has the IDX datasets: one directory, or "
                             "DATASET=DIR items (default: the canonical mirrors)")
    parser.add_argument("--retrained", type=Path, default=None,
                        help="compare every run already trained and evaluated under this output "
                             "root (e.g. a shard re-run from scratch) instead of retraining the "
                             "sample")
    parser.add_argument("--snakemake-args", nargs=argparse.REMAINDER, default=[],
                        help="further arguments for Snakemake (last)")


def main(args: argparse.Namespace) -> None:
    """Runs ``verify``: retrains, prints the comparison and the verdict; exits 1 on a failure."""
    results = args.results
    outdir = args.retrained or args.outdir or results / "verify"
    runs = trained_runs(outdir) if args.retrained else SAMPLE
    committed = committed_values(results, runs)  # checked before any training
    if not args.retrained:
        retrain(results, outdir, runs, args.snakemake_args, data_dir_setting(args.data_dir))
    table = deviations(committed, retrained_values(outdir, runs))
    with pd.option_context("display.width", 120, "display.max_rows", None):
        print(table.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    record = json.loads((results / "provenance.json").read_text()) \
        if (results / "provenance.json").is_file() else {}
    print(f"this machine: {provenance.cpu_label(provenance.cpu_description())}; committed "
          f"sweep: {', '.join(record.get('cpus', ['CPU not recorded']))}, "
          f"{', '.join(record.get('platforms', []))}")
    passed, line = verdict(table, args.threshold)
    machine = provenance.cpu_label(provenance.cpu_description())
    report = args.report or outdir / "verify.csv"
    settings = " ".join(f"{k}={v}" for k, v in sorted(os.environ.items())
                        if k.startswith("ONEDNN"))  # e.g. ONEDNN_MAX_CPU_ISA
    write_report(report, line, machine, settings or "default", table)
    print(f"wrote {report}")
    print(line, flush=True)
    if not passed:
        sys.exit(1)
