"""Does a re-run of a sweep reproduce the committed tables? Counts the cells that differ.

Compares ``<rerun>/<dataset>/<table>.csv`` with the committed ``<committed>/<dataset>/<table>.csv``
(``results/``, the combined sweep, or one shard's root ``results/shards/<name>``) for every dataset
of the committed configuration that has tables there and every aggregated table that either side
has (one side without it fails), cell by cell and exactly (NaN equals NaN), leaving out what
measures time rather than the models (the columns and summary metrics in ``TIMING``) and what
only one side has (named in the figure's note). Figures
(``results/bench/<name>.csv``): the number of differing cells per table, target 0 (bitwise
reproduction; expected only on the same CPU features and versions), and the largest absolute
difference between numeric cells (how far from bitwise a re-run at a later commit is); and for
the runs' headline metrics (``HEADLINE``, test split), the largest and the median absolute
difference per metric (a re-run on other CPU features trains other models: how far apart their
results are).

Usage: PYTHONPATH=src .venv/bin/python bench/compare_sweeps.py --rerun DIR [--committed DIR]
       [--name NAME]
"""

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib  # noqa: E402

from klgap.evaluation import evaluate  # noqa: E402

TABLES = ("metrics", "summary", "history", "latent_samples", "sample_grids")
# Wall and CPU seconds: the history's per-epoch time and the evaluation's own time.
TIMING = {"seconds", *evaluate.TIMING_KEYS}
# The runs' metrics compared one by one on the test split: likelihoods, the decomposition, the
# fitted bound and its prior's ELBO, active units and the prior samples' FID.
HEADLINE = ("elbo", "iw_ll", "ais_ll", "rate", "mutual_info", "aggregate_kl",
            "fitted_aggregate_kl_lower", "test_elbo_fitted_prior", "active_units", "expost_fid")


def without_timings(rerun: pd.DataFrame, committed: pd.DataFrame):
    """The two tables on the columns (and the summary's metrics) that both have, without the
    summary's timing rows, or (None, None) if they then differ in shape."""
    columns = [c for c in committed.columns if c in rerun.columns]
    rerun, committed = rerun[columns], committed[columns]
    if "metric" in columns:
        shared = (set(rerun["metric"]) & set(committed["metric"])) - TIMING
        rerun = rerun[rerun["metric"].isin(shared)].reset_index(drop=True)
        committed = committed[committed["metric"].isin(shared)].reset_index(drop=True)
    if rerun.shape != committed.shape:
        return None, None
    return rerun, committed


def unshared(rerun: pd.DataFrame, committed: pd.DataFrame) -> list[str]:
    """The columns, and the summary's metrics, that only one of two tables has (e.g. a density
    family that a later commit no longer fits), sorted."""
    names = set(rerun.columns) ^ set(committed.columns)
    if "metric" in rerun.columns and "metric" in committed.columns:
        names |= set(rerun["metric"]) ^ set(committed["metric"])
    return sorted(names)


def differing_cells(rerun: pd.DataFrame, committed: pd.DataFrame) -> int | None:
    """Counts the cells of two tables that differ, timings left out.

    Args:
      rerun, committed: the same table from two sweeps.

    Returns:
      The number of differing cells, or None if the tables differ in shape or columns.
    """
    rerun, committed = without_timings(rerun, committed)
    if rerun is None:
        return None
    columns = [c for c in rerun.columns if c not in TIMING]
    same = (rerun[columns] == committed[columns]) | (rerun[columns].isna()
                                                      & committed[columns].isna())
    return int((~same).to_numpy().sum())


def largest_difference(rerun: pd.DataFrame, committed: pd.DataFrame) -> float:
    """The largest |rerun - committed| over the numeric cells of two tables of the same shape,
    timings left out (0 when they agree; NaN against a number counts as infinite).

    Args:
      rerun, committed: the same table from two sweeps, as ``differing_cells`` accepts them.

    Returns:
      The largest absolute difference, or NaN if the tables differ in shape or columns.
    """
    rerun, committed = without_timings(rerun, committed)
    if rerun is None:
        return float("nan")
    columns = [c for c in rerun.select_dtypes("number").columns
               if c not in TIMING and pd.api.types.is_numeric_dtype(committed[c])]
    left, right = (table[columns].to_numpy(np.float64) for table in (rerun, committed))
    both_nan = np.isnan(left) & np.isnan(right)
    gaps = np.where(both_nan, 0.0, np.abs(left - right))  # NaN where only one side is NaN
    return float(np.max(np.nan_to_num(gaps, nan=np.inf), initial=0.0))


def headline_differences(rerun: pd.DataFrame, committed: pd.DataFrame
                         ) -> list[tuple[str, float, float]]:
    """The largest and the median |rerun - committed| of each ``HEADLINE`` metric on the test
    split's rows (rows paired by position, as the grid orders them).

    Args:
      rerun, committed: the runs' metrics table from two sweeps.

    Returns:
      (metric, largest, median) for each headline metric both tables have with numbers; none
      if the tables differ in shape.
    """
    rerun, committed = without_timings(rerun, committed)
    if rerun is None:
        return []
    test = (committed["split"] == "test").to_numpy() if "split" in committed else slice(None)
    out = []
    for metric in [m for m in HEADLINE if m in committed.columns]:
        gaps = np.abs(rerun[metric].to_numpy(np.float64)[test]
                      - committed[metric].to_numpy(np.float64)[test])  # (runs,)
        gaps = gaps[~np.isnan(gaps)]
        if gaps.size:
            out.append((metric, float(gaps.max()), float(np.median(gaps))))
    return out


def config_datasets(committed_root: Path) -> list[str]:
    """The datasets of the committed root's configuration that have tables there."""
    config = yaml.safe_load((committed_root / "config.yaml").read_text())
    return [d for d in config["datasets"] if (committed_root / d).is_dir()]


def compare(rerun_root: Path, committed_root: Path) -> list[tuple[str, int | None, float, str]]:
    """Compares every table of two output roots (module doc).

    Args:
      rerun_root: the re-run's output root.
      committed_root: the committed output root (its ``config.yaml`` names the datasets).

    Returns:
      (``<dataset>/<table>``, differing cells or None if shapes or presence differ, the largest
      numeric difference (NaN then), a note) for each table that either root has. Tables are
      compared on the columns and metrics both have; the note names the others.
    """
    results = []
    for dataset in config_datasets(committed_root):
        for table in TABLES:
            paths = [root / dataset / f"{table}.csv" for root in (rerun_root, committed_root)]
            if not any(path.is_file() for path in paths):
                continue  # a table this grid does not make (latent samples: no d_z = 2 run)
            missing = [path for path in paths if not path.is_file()]
            if missing:
                results.append((f"{dataset}/{table}", None, float("nan"),
                                f"{missing[0]} is missing"))
                continue
            rerun, committed = (pd.read_csv(path) for path in paths)
            count = differing_cells(rerun, committed)
            only = unshared(rerun, committed)
            results.append((f"{dataset}/{table}", count, largest_difference(rerun, committed),
                            f"{len(committed)} rows x {committed.shape[1]} columns"
                            + (f"; compared without what one side lacks: {', '.join(only)}"
                               if only else "")
                            + ("; shapes differ" if count is None else "")))
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rerun", type=Path, required=True, help="the re-run's output root")
    parser.add_argument("--committed", type=Path, default=benchlib.ROOT / "results",
                        help="the committed output root: results (default) or a shard's")
    parser.add_argument("--name", default="sweep_reproduction", help="the CSV's name")
    parser.add_argument("--out", type=Path, default=None,
                        help="the CSV (default: results/bench/<name>.csv)")
    args = parser.parse_args(argv)
    report = benchlib.Report(args.name, args.out)
    total = 0
    largest = 0.0
    for table, count, difference, note in compare(args.rerun, args.committed):
        report.add(f"differing_cells [{table}]", float("nan") if count is None else count,
                   "cells", "== 0", count == 0, note)
        report.add(f"largest_difference [{table}]", difference, "", note="largest absolute "
                   "difference between numeric cells (inf: a number against NaN)")
        total += 1 if count is None else count
        largest = max(largest, difference) if difference == difference else largest
    for dataset in [d for d in config_datasets(args.committed)
                    if all((root / d / "metrics.csv").is_file()
                           for root in (args.rerun, args.committed))]:
        tables = [pd.read_csv(root / dataset / "metrics.csv")
                  for root in (args.rerun, args.committed)]
        for metric, most, median in headline_differences(*tables):
            note = f"the test split's runs; median {median:.3g}"
            report.add(f"largest_difference [{dataset}/metrics: {metric}]", most, "", note=note)
    report.write(f"{total} differing cells (timings left out; a table whose shape or "
                 f"presence differ counts once), the largest numeric difference {largest:.3g}, "
                 f"between {args.rerun} and the committed tables")


if __name__ == "__main__":
    main()
