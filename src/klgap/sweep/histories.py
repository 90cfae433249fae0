"""Collecting the training histories of one dataset's runs into one tidy table.

``history.csv`` (one per dataset) holds every epoch of every run: ``dataset, objective,
classes, latent_dim, weight, seed`` (classes: ``all``, or the labels of a run on some
classes), then the columns of the runs' own ``history.csv`` (``epoch, train_elbo, ...``),
values rounded to six significant digits. It is small enough to commit, so
the training curves can be redrawn without the run directories.
"""

import argparse
import io
import sys
from pathlib import Path

import pandas as pd

from klgap import atomic
from klgap.sweep import layout
from klgap.errors import UserError

RUN_COLUMNS = ["dataset", "objective", "classes", "latent_dim", "weight", "seed"]
# Six significant digits: far below the differences between epochs, seeds or weights.
SIGNIFICANT = ".6g"


def read_history(path: Path, run: layout.Run) -> pd.DataFrame:
    """Reads one run's history and prefixes it with the run's coordinates.

    Args:
      path: the run's ``history.csv``.
      run: the run it belongs to.

    Returns:
      One row per epoch, columns ``RUN_COLUMNS`` then those of the file.

    Raises:
      UserError: if the file has no ``epoch`` column.
    """
    history = pd.read_csv(path)
    if "epoch" not in history.columns:
        raise UserError(f"{path} has no 'epoch' column; is it a history written by train?")
    coordinates = pd.DataFrame({"dataset": run.dataset, "objective": run.objective,
                                "classes": layout.classes_label(run.classes),
                                "latent_dim": int(run.latent_dim),
                                "weight": float(run.weight), "seed": int(run.seed)},
                               index=history.index)
    return pd.concat([coordinates, history], axis=1)


def collect(runs_dir: Path, runs: list[layout.Run]) -> tuple[pd.DataFrame, list[layout.Run]]:
    """Concatenates the histories of the expected runs that have one.

    Args:
      runs_dir: ``<outdir>/runs/<dataset>``.
      runs: the expected runs (all of the same dataset).

    Returns:
      The table sorted by objective, latent_dim, weight, seed and epoch (empty if no run has a
      history), and the runs without a history.

    Raises:
      UserError: if the runs' histories do not have the same columns.
    """
    tables, missing = {}, []
    for run in runs:
        path = runs_dir / layout.run_subdir(run) / "history.csv"
        if path.exists():
            tables[run] = read_history(path, run)
        else:
            missing.append(run)
    if not tables:
        return pd.DataFrame(columns=RUN_COLUMNS + ["epoch"]), missing
    columns = list(next(iter(tables.values())).columns)
    for run, table in tables.items():
        if list(table.columns) != columns:
            raise UserError(f"the history of {layout.run_subdir(run)} has the columns "
                            f"{list(table.columns)}, others have {columns}; re-train it")
    combined = pd.concat(list(tables.values()), ignore_index=True)
    return combined.sort_values(RUN_COLUMNS[1:] + ["epoch"], ignore_index=True), missing


def to_csv(table: pd.DataFrame) -> str:
    """Formats the table as CSV text, the histories' values to six significant digits."""
    rounded = table.copy()
    for column in table.columns[len(RUN_COLUMNS):]:
        if pd.api.types.is_float_dtype(table[column]):
            rounded[column] = table[column].map(lambda value: format(value, SIGNIFICANT))
    buffer = io.StringIO()
    rounded.to_csv(buffer, index=False)
    return buffer.getvalue()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds the command's options."""
    layout.add_sweep_arguments(parser, "history.csv")
    parser.add_argument("--out", required=True, type=Path, help="the table (.csv)")


def main(args: argparse.Namespace) -> None:
    """Writes the table of histories; lists the runs without one on stderr."""
    runs = layout.expected_runs(args)
    table, missing = collect(args.runs_dir, runs)
    if table.empty:
        raise UserError(f"no run of {args.dataset} has a history under {args.runs_dir} "
                        f"(expected {len(runs)}); run the sweep first")
    atomic.write_text(args.out, to_csv(table))
    print(f"{args.dataset}: {len(runs) - len(missing)} of {len(runs)} runs have a history; "
          f"wrote {args.out} ({len(table)} rows)")
    if missing:
        print(f"warning: {len(missing)} runs have no history:", file=sys.stderr)
        for run in missing:
            print(f"  missing: {args.runs_dir / layout.run_subdir(run)}", file=sys.stderr)
