"""Collecting the runs of one dataset into a tidy table and a summary over seeds.

``metrics.csv`` has one row per run and split: ``dataset, objective, classes, latent_dim,
weight, seed, split`` (weight: the objective's swept weight; classes: ``all``, or the labels a
run was trained on, ``klgap.sweep.layout``), then one column per metric of ``metrics.json``.
``summary.csv`` has one row per cell ``(dataset, objective, classes, latent_dim, weight, split)``
and metric: the mean over seeds, the standard
deviation (ddof=1) and a t-based 95% interval for the mean. The command is told the whole
expected sweep, so a run without metrics (e.g. a job that failed under ``--keep-going``) shows up
as a missing seed of its cell (``n_runs < n_expected``, ``missing_seeds``) instead of vanishing.
"""

import argparse
import io
import json
import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from klgap import atomic
from klgap.sweep import layout
from klgap.errors import UserError

ID_COLUMNS = ["dataset", "objective", "classes", "latent_dim", "weight", "seed", "split"]
CELL_COLUMNS = ["dataset", "objective", "classes", "latent_dim", "weight", "split"]
# Records and tables written before runs could be on some classes are of every class.
OPTIONAL_ID_COLUMNS = {"classes": layout.ALL_CLASSES}
# Tables written before runs had an objective are of the beta-VAE, and call its weight beta.
DEFAULT_OBJECTIVE = "vae"
SUMMARY_COLUMNS = CELL_COLUMNS + ["metric", "n_expected", "n_runs", "n", "mean", "sd",
                                  "ci95_low", "ci95_high", "missing_seeds"]


def read_run(path: Path, run: layout.Run) -> list[dict]:
    """Reads one run's ``metrics.json`` and checks that it belongs to ``run``.

    Args:
      path: the metrics file.
      run: the coordinates the file's location stands for.

    Returns:
      The run's records, one per split.

    Raises:
      UserError: if the file is not a list of records or its coordinates disagree with ``run``.
    """
    try:
        records = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise UserError(f"{path} is not valid JSON ({error}); re-run its evaluate job") from None
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise UserError(f"{path} should hold a JSON list of records, one per split")
    for record in records:
        missing = [key for key in ID_COLUMNS
                   if key not in record and key not in OPTIONAL_ID_COLUMNS]
        if missing:
            raise UserError(f"{path}: record without {', '.join(missing)}")
        for key, value in OPTIONAL_ID_COLUMNS.items():
            record.setdefault(key, value)
        found = layout.Run(record["dataset"], record["latent_dim"], record["weight"],
                           record["seed"], record["objective"],
                           layout.parse_classes_label(record["classes"]))
        if (found.dataset != run.dataset or found.objective != run.objective
                or found.classes != run.classes
                or int(found.latent_dim) != run.latent_dim
                or not math.isclose(float(found.weight), run.weight, rel_tol=1e-12)
                or int(found.seed) != run.seed):
            raise UserError(f"{path} holds the metrics of {tuple(found)}, not of {tuple(run)}; "
                            "was it moved or copied from another run?")
    return records


def collect(runs_dir: Path, runs: list[layout.Run]) -> tuple[pd.DataFrame, list[layout.Run]]:
    """Reads the metrics of the expected runs of one dataset.

    Args:
      runs_dir: ``<outdir>/runs/<dataset>``.
      runs: the expected runs (all of the same dataset).

    Returns:
      The tidy table (one row per run and split) and the runs whose metrics are missing.
    """
    records, missing = [], []
    for run in runs:
        path = runs_dir / layout.run_subdir(run) / "metrics.json"
        if path.exists():
            records.extend(read_run(path, run))
        else:
            missing.append(run)
    return tidy(records), missing


def tidy(records: list[dict]) -> pd.DataFrame:
    """Builds the tidy table: identifying columns first, then the metrics in order of appearance.

    Args:
      records: flat metric records, one per run and split.

    Returns:
      The table sorted by objective, latent_dim, weight, seed and split.
    """
    metric_columns = []
    for record in records:
        metric_columns.extend(k for k in record if k not in ID_COLUMNS and k not in metric_columns)
    table = pd.DataFrame.from_records(records, columns=ID_COLUMNS + metric_columns)
    for key, value in OPTIONAL_ID_COLUMNS.items():  # records written before the key
        table[key] = table[key].fillna(value)
    table = table.astype({"latent_dim": int, "weight": float, "seed": int, "classes": str})
    return table.sort_values(["objective", "classes", "latent_dim", "weight", "seed", "split"],
                             ignore_index=True)


def mean_interval(values: np.ndarray, level: float = 0.95) -> dict[str, float]:
    """Mean, standard deviation (ddof=1) and the t-based interval of the mean.

    Args:
      values: the finite values of one metric in one cell (one per seed).
      level: the interval's coverage.

    Returns:
      ``n, mean, sd, ci95_low, ci95_high``; sd and the interval are NaN for fewer than 2 values.
    """
    n = len(values)
    if n == 0:
        return {"n": 0, "mean": math.nan, "sd": math.nan, "ci95_low": math.nan,
                "ci95_high": math.nan}
    mean = float(np.mean(values))
    if n < 2:
        return {"n": 1, "mean": mean, "sd": math.nan, "ci95_low": math.nan, "ci95_high": math.nan}
    sd = float(np.std(values, ddof=1))
    # Imported here: the Snakefile imports this module, and scipy.stats adds most of a second to
    # every Snakemake start.
    from scipy import stats

    half_width = float(stats.t.ppf(0.5 + level / 2, df=n - 1)) * sd / math.sqrt(n)
    return {"n": n, "mean": mean, "sd": sd, "ci95_low": mean - half_width,
            "ci95_high": mean + half_width}


def summarize(table: pd.DataFrame, runs: list[layout.Run]) -> pd.DataFrame:
    """Summarizes every metric over seeds, for every expected cell, finished or not.

    Args:
      table: the tidy table of the finished runs.
      runs: every expected run; cells whose seeds are all missing get rows with ``n_runs = 0``.

    Returns:
      One row per (dataset, objective, latent_dim, weight, split, metric), columns
      ``SUMMARY_COLUMNS``.
    """
    metrics = [c for c in table.columns
               if c not in ID_COLUMNS and pd.api.types.is_numeric_dtype(table[c])]
    splits = sorted(table["split"].unique())
    # Per split, the metrics it has at all (the nested subsets have no likelihoods, say).
    split_metrics = {split: [m for m in metrics
                             if table.loc[table["split"] == split, m].notna().any()]
                     for split in splits}
    expected_seeds: dict[tuple, list[int]] = {}
    for run in runs:
        expected_seeds.setdefault((run.dataset, run.objective, layout.classes_label(run.classes),
                                   run.latent_dim, run.weight), []).append(run.seed)
    rows = []
    for (dataset, objective, classes, latent_dim, weight), seeds in expected_seeds.items():
        in_cell = table[(table["dataset"] == dataset) & (table["objective"] == objective)
                        & (table["classes"] == classes) & (table["latent_dim"] == latent_dim)
                        & np.isclose(table["weight"], weight, rtol=1e-12, atol=0)]
        # A run on some classes has fewer nested subsets (those below its N): a cell lists the
        # splits its runs have, or every split when none of them has finished.
        cell_splits = sorted(in_cell["split"].unique()) if len(in_cell) else splits
        for split in cell_splits:
            cell = in_cell[in_cell["split"] == split]
            found = set(cell["seed"])
            missing = ";".join(str(s) for s in seeds if s not in found)
            for metric in split_metrics[split]:
                values = cell[metric].to_numpy(dtype=float)
                rows.append({"dataset": dataset, "objective": objective, "classes": classes,
                             "latent_dim": latent_dim, "weight": weight,
                             "split": split, "metric": metric, "n_expected": len(seeds),
                             "n_runs": len(found), **mean_interval(values[np.isfinite(values)]),
                             "missing_seeds": missing})
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)


def write_csv(path: Path, table: pd.DataFrame) -> None:
    """Writes a table as CSV, atomically."""
    buffer = io.StringIO()
    table.to_csv(buffer, index=False)
    atomic.write_text(path, buffer.getvalue())


def load_tables(paths: list[Path], table: str) -> pd.DataFrame:
    """Reads and concatenates one kind of aggregated table (one file per dataset).

    A table without an ``objective`` column (written before runs had one) is of the beta-VAE:
    the column is added after ``dataset`` as ``vae``, and its column ``beta`` is the table's
    ``weight``. Objectives renamed since a table was written are read with their new names
    (``layout.upgrade_objectives``). A table of runs without a ``classes`` column (written before
    runs could be on some classes) gets it after ``objective``, as ``all``
    (``layout.upgrade_classes``).

    Args:
      paths: the files, e.g. every dataset's ``summary.csv``.
      table: their kind (``summary``, ``history``, ``latent_samples``), for messages.

    Returns:
      One table.

    Raises:
      UserError: if a file is missing.
    """
    missing = [str(p) for p in paths if not Path(p).exists()]
    if missing:
        raise UserError(f"{table} tables not found: {', '.join(missing)}; run the rule that "
                        "writes them first")
    tables = []
    for path in paths:
        part = pd.read_csv(path)
        if "objective" not in part.columns:
            part.insert(list(part.columns).index("dataset") + 1, "objective", DEFAULT_OBJECTIVE)
        part = layout.upgrade_objectives(part.rename(columns={"beta": "weight"}))
        tables.append(layout.upgrade_classes(part))
    return pd.concat(tables, ignore_index=True)


def only_vae(table: pd.DataFrame) -> pd.DataFrame:
    """The rows of the beta-VAE (objective ``vae``) on every class, whose weight is beta."""
    return whole_dataset(table[table["objective"] == DEFAULT_OBJECTIVE])


def whole_dataset(table: pd.DataFrame) -> pd.DataFrame:
    """The rows of runs on every class (``classes`` ``all``; every row of older tables)."""
    if "classes" not in table.columns:
        return table.reset_index(drop=True)
    return table[table["classes"] == layout.ALL_CLASSES].reset_index(drop=True)


def load_summaries(paths: list[Path]) -> pd.DataFrame:
    """Reads and concatenates summary tables (``load_tables``)."""
    return load_tables(paths, "summary")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds the command's options."""
    layout.add_sweep_arguments(parser, "metrics.json")
    parser.add_argument("--metrics-out", required=True, type=Path, help="tidy table (.csv)")
    parser.add_argument("--summary-out", required=True, type=Path, help="summary (.csv)")


def main(args: argparse.Namespace) -> None:
    """Writes the tidy table and the summary; lists the missing runs on stderr."""
    runs = layout.expected_runs(args)
    table, missing = collect(args.runs_dir, runs)
    if table.empty:
        raise UserError(f"no run of {args.dataset} has metrics under {args.runs_dir} "
                        f"(expected {len(runs)}); run the sweep first")
    summary = summarize(table, runs)
    write_csv(args.metrics_out, table)
    write_csv(args.summary_out, summary)
    print(f"{args.dataset}: {len(runs) - len(missing)} of {len(runs)} runs have metrics; "
          f"wrote {args.metrics_out} ({len(table)} rows) and {args.summary_out}")
    if missing:
        print(f"warning: {len(missing)} runs have no metrics and are reported as missing seeds "
              "in the summary:", file=sys.stderr)
        for run in missing:
            print(f"  missing: {args.runs_dir / layout.run_subdir(run)}", file=sys.stderr)
