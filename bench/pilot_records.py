"""Collects the figures of pilot workflow runs (their own records) into one committed CSV.

For each output root given: per run, the jobs' wall and CPU seconds and peak memory (Snakemake's
benchmark files), the training epochs' seconds (run.json), the evaluation's own seconds (the test
record, where recorded), and the slopes over the last five epochs of the test curves
(history.csv). docs/performance.md's before/after figures and the pilots' slopes are read from here.

Usage: .venv/bin/python bench/pilot_records.py --out results/bench/pilots.csv LABEL=OUTDIR ...
"""

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd

CURVES = ("test_elbo", "test_rate", "test_mutual_info", "test_aggregate_kl")


def run_rows(label: str, outdir: Path) -> list[dict]:
    """One row per run of an output root."""
    from klgap.sweep import provenance

    jobs = provenance.read_benchmarks(outdir / "benchmarks")
    rows = []
    for record in sorted((outdir / "runs").glob("*/*/*/*/*/run.json")):
        rundir = record.parent
        run = str(rundir.relative_to(outdir / "runs"))
        row = {"pilot": label, "run": run,
               "epoch_seconds": json.loads(record.read_text())["train_seconds_all_epochs"]}
        for job in jobs[jobs["job"] == run].itertuples():
            row.update({f"{job.rule}_wall_s": job.s, f"{job.rule}_cpu_s": job.cpu_time,
                        f"{job.rule}_max_rss_mb": job.max_rss})
        metrics = rundir / "metrics.json"
        if metrics.is_file():
            row["evaluation_seconds"] = json.loads(metrics.read_text())[0].get("evaluation_seconds")
        history = pd.read_csv(rundir / "history.csv").sort_values("epoch")
        for curve in CURVES:
            if curve in history.columns:
                last = history[["epoch", curve]].tail(5).to_numpy()
                row[f"slope_{curve}"] = float(np.polyfit(last[:, 0], last[:, 1], 1)[0])
        rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("roots", nargs="+", help="LABEL=OUTDIR")
    args = parser.parse_args()
    rows = [row for root in args.roots for row in run_rows(*root.split("=", 1)[:1],
                                                               Path(root.split("=", 1)[1]))]
    pd.DataFrame(rows).to_csv(args.out, index=False)
    print(f"wrote {args.out} ({len(rows)} runs)")


if __name__ == "__main__":
    main()
