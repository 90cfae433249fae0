"""Each rule's share of a workflow run, from its per-job benchmark table.

Reads ``<outdir>/benchmarks.csv`` (one row per benchmarked job, written by
``klgap provenance`` from Snakemake's benchmark files: ``rule, job, s, cpu_time, ...``) and
writes ``results/bench/<name>.csv``: per rule and per rule and dataset, the jobs, total, mean
and largest wall seconds, share of all job seconds, and CPU seconds; and a last row with the
estimated wall time of an uninterrupted run, sum of job seconds / parallel jobs. That estimate
assumes the jobs kept every core busy (here: two single-thread jobs on two cores); it ignores
the light rules Snakemake does not benchmark and does not depend on the wall clock, so it holds
for a run that was interrupted and resumed. Jobs slowed by other work on the machine inflate
it; a second row, CPU seconds / cores, is the time if every job had had its core to itself (a
lower bound for the benchmarked jobs).

Usage: .venv/bin/python bench/sweep_shares.py results/benchmarks.csv [--jobs 2]
       [--name sweep_shares]
"""

import argparse
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib  # noqa: E402

COLUMNS = ["rule", "dataset", "jobs", "total_s", "share", "mean_s", "max_s", "cpu_s"]


def rule_shares(benchmarks: pd.DataFrame) -> pd.DataFrame:
    """Summarises job seconds per rule and per (rule, dataset).

    Args:
      benchmarks: one row per job, with ``rule``, ``job`` (``<dataset>/...``), ``s`` and
        ``cpu_time``.

    Returns:
      One row per rule (``dataset`` = ``all``), then one per rule and dataset, with COLUMNS;
      ``share`` is the fraction of all job seconds.
    """
    table = benchmarks.assign(dataset=benchmarks["job"].str.split("/").str[0])
    total = table["s"].sum()
    rows = []
    for keys in (["rule"], ["rule", "dataset"]):
        for key, group in table.groupby(keys, sort=True):
            key = key if isinstance(key, tuple) else (key,)
            rows.append({"rule": key[0], "dataset": key[1] if len(key) > 1 else "all",
                         "jobs": len(group), "total_s": group["s"].sum(),
                         "share": group["s"].sum() / total, "mean_s": group["s"].mean(),
                         "max_s": group["s"].max(), "cpu_s": group["cpu_time"].sum()})
    return pd.DataFrame(rows, columns=COLUMNS)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("benchmarks", type=Path, help="<outdir>/benchmarks.csv")
    parser.add_argument("--jobs", type=int, default=2,
                        help="jobs that ran at once (--cores / threads per job)")
    parser.add_argument("--name", default="sweep_shares", help="results/bench/<name>.csv")
    parser.add_argument("--wall-seconds", type=float,
                        help="measured wall time of the whole run, if it ran uninterrupted")
    args = parser.parse_args()
    benchmarks = pd.read_csv(args.benchmarks)
    shares = rule_shares(benchmarks)
    total = float(benchmarks["s"].sum())
    estimate = total / args.jobs
    shares.loc[len(shares)] = {"rule": f"estimated_wall (sum / {args.jobs} parallel jobs)",
                               "dataset": "all", "jobs": len(benchmarks), "total_s": estimate,
                               "share": float("nan"), "mean_s": float("nan"),
                               "max_s": float("nan"), "cpu_s": benchmarks["cpu_time"].sum()}
    cpu_estimate = float(benchmarks["cpu_time"].sum()) / args.jobs
    shares.loc[len(shares)] = {"rule": f"cpu_bound_wall (cpu seconds / {args.jobs} cores)",
                               "dataset": "all", "jobs": len(benchmarks), "total_s": cpu_estimate,
                               "share": float("nan"), "mean_s": float("nan"),
                               "max_s": float("nan"), "cpu_s": benchmarks["cpu_time"].sum()}
    if args.wall_seconds:
        shares.loc[len(shares)] = {"rule": "measured_wall (whole workflow, light rules included)",
                                   "dataset": "all", "jobs": len(benchmarks),
                                   "total_s": args.wall_seconds, "share": float("nan"),
                                   "mean_s": float("nan"), "max_s": float("nan"),
                                   "cpu_s": float("nan")}
    path = benchlib.BENCH_DIR / f"{args.name}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    shares.to_csv(path, index=False, float_format="%.4g")
    print(shares.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    per_rule = shares[(shares["dataset"] == "all") & shares["share"].notna()]
    slowest = per_rule.loc[per_rule["total_s"].idxmax()]
    slowest_job = benchmarks.loc[benchmarks["s"].idxmax()]
    print(f"# wrote {path.relative_to(benchlib.ROOT)}")
    measured = f"measured wall {args.wall_seconds / 60:.1f} min; " if args.wall_seconds else ""
    print(f"SUMMARY {args.name}: {measured}{len(benchmarks)} jobs, {total / 60:.1f} job-minutes; "
          f"uninterrupted wall ~{estimate / 60:.0f} min on {args.jobs} parallel jobs "
          f"(estimate: sum / {args.jobs}; {cpu_estimate / 60:.0f} min from CPU time alone, "
          f"{benchmarks['cpu_time'].sum() / total:.0%} of job wall time was CPU); "
          f"slowest rule {slowest['rule']} "
          f"({100 * slowest['share']:.0f}% of job time, mean {slowest['mean_s']:.0f} s); "
          f"slowest job {slowest_job['rule']} {slowest_job['job']} ({slowest_job['s']:.0f} s)")


if __name__ == "__main__":
    main()
