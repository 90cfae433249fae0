"""Provenance of results: code version, package versions, platform, and a sweep's wall times."""

import argparse
import json
import platform
import subprocess
import time
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pandas is imported lazily, where it is used; here only for annotations
    import pandas as pd

# Tracked outputs of the workflow: changes there do not make the code "dirty".
RESULTS_DIR = "results"
# Instruction-set extensions that decide which float kernels TensorFlow and NumPy run.
SIMD_FLAGS = {"sse4_1", "sse4_2", "avx", "avx2", "fma", "f16c"}
SIMD_PREFIXES = ("avx512", "amx", "avx_vnni")
PACKAGES = ("tensorflow", "tf-keras", "tensorflow-probability", "numpy", "scipy", "pandas",
            "seaborn", "matplotlib", "scikit-learn", "snakemake")


def git_commit(directory: str | Path = ".") -> str:
    """Returns the git commit of ``directory``'s repository, or ``unknown``.

    ``-dirty`` is appended when a tracked file outside ``results/`` is modified: the workflow
    rewrites its own outputs there (``results/config.yaml``, the tables), which say nothing
    about the code that ran.
    """
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=directory, capture_output=True,
                                text=True, check=True).stdout.strip()
        top = subprocess.run(["git", "rev-parse", "--show-toplevel"], cwd=directory,
                             capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--",
                                ".", f":(exclude){RESULTS_DIR}"], cwd=top, capture_output=True,
                               text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit + ("-dirty" if dirty else "")


def cpu_description(cpuinfo: str | None = None) -> dict:
    """Names the CPU and the instruction-set extensions that change float rounding.

    Bitwise reproduction holds only between machines with the same features (and versions):
    TensorFlow picks its kernels (e.g. AVX-512 or AVX2) by what the CPU has.

    Args:
      cpuinfo: the text of ``/proc/cpuinfo``; None reads it (empty where there is none).

    Returns:
      ``{"model": <model name>, "features": [sorted SIMD flags: sse4_2, avx, avx2, fma,
      avx512*, amx*]}``.
    """
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            cpuinfo = ""
    fields = {}
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())  # the first processor's
    flags = fields.get("flags", "").split()
    features = sorted(flag for flag in flags
                      if flag in SIMD_FLAGS or flag.startswith(SIMD_PREFIXES))
    return {"model": fields.get("model name") or platform.processor() or "unknown",
            "features": features}


def cpu_label(cpu: dict) -> str:
    """Formats ``cpu_description()`` in one line: ``AMD EPYC (avx, avx2, ..., fma)``."""
    return f"{cpu['model']} ({', '.join(cpu['features']) or 'no SIMD extensions listed'})"


def versions() -> dict[str, str]:
    """Returns the Python version and the installed versions of the main packages."""
    found = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def describe() -> dict:
    """Returns commit, versions, platform and CPU (model and features), for a run's metadata."""
    return {"git_commit": git_commit(Path(__file__).resolve().parent),
            "versions": versions(), "platform": platform.platform(), "cpu": cpu_description()}


def read_benchmarks(benchmarks_dir: Path) -> "pd.DataFrame":
    """Reads Snakemake's benchmark files ``<benchmarks_dir>/<rule>/<job>.tsv`` into one table.

    Args:
      benchmarks_dir: the ``benchmarks`` directory of an output root.

    Returns:
      One row per job: ``rule, job``, Snakemake's columns (``s`` wall seconds, ``max_rss`` MB,
      ``cpu_time`` seconds, ...) and ``finished_unix`` (when the job ended: the benchmark file's
      modification time, seconds since the epoch), sorted by rule and job.
    """
    import pandas as pd

    tables = []
    for path in sorted(Path(benchmarks_dir).glob("*/**/*.tsv")):
        table = pd.read_csv(path, sep="\t")
        relative = path.relative_to(benchmarks_dir).with_suffix("")
        table.insert(0, "job", str(Path(*relative.parts[1:])))
        table.insert(0, "rule", relative.parts[0])
        table["finished_unix"] = round(path.stat().st_mtime, 1)
        tables.append(table)
    if not tables:
        return pd.DataFrame(columns=["rule", "job", "s", "max_rss", "cpu_time", "finished_unix"])
    return pd.concat(tables, ignore_index=True).drop(columns=["h:m:s"], errors="ignore")


def sweep_span(benchmarks: "pd.DataFrame") -> float | None:
    """Wall-clock time from the start of the first benchmarked job to the end of the last.

    Args:
      benchmarks: the table of ``read_benchmarks``.

    Returns:
      Seconds (including any pause if the workflow was stopped and resumed), or None without jobs.
    """
    if not len(benchmarks):
        return None
    starts = benchmarks["finished_unix"] - benchmarks["s"]
    return round(float(benchmarks["finished_unix"].max() - starts.min()), 1)


def sweep_provenance(runs_dir: Path, benchmarks: "pd.DataFrame", config_text: str,
                     commit: str) -> dict:
    """Collects what produced an output root's results.

    Args:
      runs_dir: ``<outdir>/runs``; every ``run.json`` below it is read.
      benchmarks: the table of ``read_benchmarks``.
      config_text: the validated configuration snapshot (``<outdir>/config.yaml``).
      commit: the commit of the workflow at aggregation time.

    Returns:
      A JSON-serialisable dict: date, commits (workflow, and those the runs were trained with),
      configuration, package versions, devices, CPUs with their features, wall time per rule,
      the summed wall and CPU time of the benchmarked jobs and the span from the first job's
      start to the last one's end.
    """
    import yaml

    runs = [json.loads(path.read_text()) for path in sorted(Path(runs_dir).glob("**/run.json"))]
    per_rule = {}
    for rule, group in benchmarks.groupby("rule"):
        per_rule[rule] = {"jobs": int(len(group)), "wall_seconds_total": float(group["s"].sum()),
                          "wall_seconds_mean": float(group["s"].mean()),
                          "wall_seconds_max": float(group["s"].max()),
                          "max_rss_mb_max": float(group["max_rss"].max())}
    return {
        "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "workflow_commit": commit,
        "training_commits": sorted({run["git_commit"] for run in runs}),
        "training_versions": sorted({json.dumps(run["versions"], sort_keys=True)
                                     for run in runs}),
        "runs_trained": len(runs),
        "devices": sorted({run["device"] for run in runs}),
        # Runs recorded before CPUs were recorded count as "not recorded".
        "cpus": sorted({cpu_label(run["cpu"]) if "cpu" in run else "not recorded"
                        for run in runs}),
        "platforms": sorted({run["platform"] for run in runs}),
        "versions_now": versions(),
        "wall_seconds_per_rule": per_rule,
        "wall_seconds_benchmarked_total": float(benchmarks["s"].sum()) if len(benchmarks) else 0.0,
        "cpu_seconds_benchmarked_total": (float(benchmarks["cpu_time"].sum())
                                          if len(benchmarks) else 0.0),
        "span_seconds": sweep_span(benchmarks),
        "config": yaml.safe_load(config_text),
    }


def machine_fields(machine: dict) -> dict:
    """The provenance fields of a machine record (``klgap machine``, at the start of the sweep).

    Args:
      machine: the record: ``date_utc``, ``cpu``, ``matmul_gflops_per_thread``, ...

    Returns:
      ``{"matmul_gflops_per_thread": rate, "machine": the whole record}``: the rate that
      ``bench/bench_floor.py`` divides the sweep's FLOP floor by.
    """
    return {"matmul_gflops_per_thread": machine["matmul_gflops_per_thread"], "machine": machine}


def runs_without_records(runs_dir: Path, metrics_tables: list[Path]) -> tuple[int, list[str]]:
    """Checks that every run in the aggregated metrics tables has its ``run.json``.

    Args:
      runs_dir: ``<outdir>/runs``.
      metrics_tables: the ``<outdir>/<dataset>/metrics.csv`` files (one row per run and split).

    Returns:
      (number of runs in the tables, run directories without a ``run.json``, relative to
      ``runs_dir``).
    """
    from klgap.sweep import tables as aggregate
    from klgap.sweep import layout

    table = aggregate.load_tables(metrics_tables, "metrics")  # objective filled for old tables
    runs = {layout.Run(row.dataset, int(row.latent_dim), float(row.weight), int(row.seed),
                       row.objective, layout.parse_classes_label(row.classes))
            for row in table.itertuples(index=False)}
    missing = [str(layout.run_dir(runs_dir.parent, run).relative_to(runs_dir))
               for run in sorted(runs, key=str)
               if not (layout.run_dir(runs_dir.parent, run) / "run.json").is_file()]
    return len(runs), missing


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds the ``provenance`` command's arguments."""
    parser.add_argument("--runs-dir", required=True, type=Path, help="<outdir>/runs")
    parser.add_argument("--benchmarks-dir", required=True, type=Path, help="<outdir>/benchmarks")
    parser.add_argument("--config", required=True, type=Path, help="<outdir>/config.yaml")
    parser.add_argument("--metrics", required=True, type=Path, nargs="+",
                        help="the aggregated <outdir>/<dataset>/metrics.csv tables: each of "
                             "their runs must have its run.json")
    parser.add_argument("--commit", required=True, help="commit of the workflow")
    parser.add_argument("--json", required=True, type=Path, help="output provenance JSON")
    parser.add_argument("--benchmarks-csv", required=True, type=Path,
                        help="output table of every benchmarked job")
    parser.add_argument("--machine", type=Path,
                        help="the sweep's machine record (klgap machine), copied into the JSON")


def main(args: argparse.Namespace) -> None:
    """Runs ``provenance``: writes the provenance JSON and the per-job benchmark table.

    Raises:
      UserError: a run of the tables has no ``run.json`` (e.g. a fresh clone, which has the
        tables but not the runs): the record would describe fewer runs than the tables hold, so
        nothing is written.
    """
    from klgap import atomic
    from klgap.errors import UserError

    expected, missing = runs_without_records(args.runs_dir, args.metrics)
    if missing:
        raise UserError(
            f"{len(missing)} of the {expected} runs in {', '.join(map(str, args.metrics))} have no "
            f"run record (run.json) under {args.runs_dir}, e.g. {missing[0]}; provenance describes "
            f"the runs behind the tables and would replace the existing record with a poorer "
            f"one, so nothing was written. Train and evaluate the runs first (`make sweep`); to "
            f"rebuild only the figures and the paper from committed tables, run `make paper`.")
    if expected == 0:
        raise UserError(f"the metrics tables {', '.join(map(str, args.metrics))} hold no runs; "
                        f"aggregate the runs first (`make sweep`).")
    benchmarks = read_benchmarks(args.benchmarks_dir)
    record = sweep_provenance(args.runs_dir, benchmarks, args.config.read_text(), args.commit)
    if args.machine is not None:
        record.update(machine_fields(json.loads(args.machine.read_text())))
    atomic.write_text(args.benchmarks_csv, benchmarks.to_csv(index=False))
    atomic.write_json(args.json, record)
    print(f"provenance of {record['runs_trained']} runs -> {args.json}")
