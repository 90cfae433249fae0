"""A sweep in shards: parts run apart (days or machines apart), each committed as it finishes.

The configuration's ``shards`` name selectors that partition its sweep (every run in exactly one
shard): ``{name: {datasets: [...], objectives: [...], latent_dims: [...], weights: [...],
seeds: [...], classes: [...]}}``, a key left out selecting every value (``classes`` as the
tables write it: ``all``, or the labels joined by ``-``). With ``shard: <name>`` the workflow runs
that shard alone, as its own output root ``<outdir>/shards/<name>/`` (data, runs, tables,
configuration snapshot and provenance with the machine it ran on). Without ``shard``, the output
root's tables and provenance are the shards' combined (``combine-shards``): tables concatenated,
summaries recomputed over all seeds, provenance the shards' records side by side.
"""

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from klgap.errors import UserError
from klgap.sweep import layout

if TYPE_CHECKING:  # pandas is imported where it is used
    import pandas as pd

# Selector keys and the Run field each selects on.
SELECTOR_FIELDS = {"datasets": "dataset", "objectives": "objective",
                   "latent_dims": "latent_dim", "weights": "weight", "seeds": "seed"}
# The tables a shard writes per dataset and the output root combines.
TABLES = ("metrics", "history", "latent_samples", "sample_grids")
SHARDS_DIR = "shards"
# Tables of one seed per cell (its first), and the columns that name a cell.
FIRST_SEED_TABLES = ("latent_samples", "sample_grids")
CELL_COLUMNS = ("dataset", "objective", "classes", "latent_dim", "weight")


def in_shard(run: layout.Run, selector: dict) -> bool:
    """Whether a run is selected by a shard's selector (a key left out selects every value)."""
    if "classes" in selector and layout.classes_label(run.classes) not in [
            str(label) for label in selector["classes"]]:
        return False
    for key, field in SELECTOR_FIELDS.items():
        if key in selector:
            value = getattr(run, field)
            allowed = [float(v) for v in selector[key]] if field == "weight" else selector[key]
            if value not in allowed:
                return False
    return True


def shard_runs(runs: list[layout.Run], shards: dict, name: str) -> list[layout.Run]:
    """The runs of one shard, in the sweep's order.

    Raises:
      UserError: ``name`` is not a shard of the configuration.
    """
    if name not in shards:
        known = ", ".join(shards) or "none (the configuration has no key shards)"
        raise UserError(f"unknown shard {name!r}; the configuration's shards are: {known}.")
    return [run for run in runs if in_shard(run, shards[name])]


def partition_problems(runs: list[layout.Run], shards: dict) -> list[str]:
    """Checks that the shards partition the sweep: every run in exactly one shard.

    Args:
      runs: every run of the sweep (``layout.sweep`` without a shard).
      shards: the configuration's ``shards``.

    Returns:
      One message per problem (empty if none), each naming a run and the fix.
    """
    if not shards:
        return []
    problems = []
    for run in runs:
        owners = [name for name, selector in shards.items() if in_shard(run, selector)]
        if len(owners) != 1:
            where = "no shard" if not owners else f"shards {', '.join(owners)}"
            problems.append(f"run {run.dataset}/{layout.run_subdir(run)} is in {where}; "
                            "the shards must select every run of the sweep exactly once "
                            "(fix the selectors of config key shards).")
    empty = [name for name in shards if not any(in_shard(run, shards[name]) for run in runs)]
    problems += [f"shard {name} selects no run of the sweep; remove it or fix its selector."
                 for name in empty]
    return problems


def shard_root(outdir: str, name: str) -> str:
    """The output root of one shard below the configuration's ``outdir``."""
    return str(Path(outdir) / SHARDS_DIR / name)


def combine_tables(paths: list[Path], table: str) -> "pd.DataFrame":
    """Concatenates one dataset's table of every shard, refusing a run found twice.

    ``latent_samples`` and ``sample_grids`` hold one seed per cell, each shard's first: of
    shards split by seed, the cell's lowest seed is kept, as an unsharded sweep would pick
    (its seeds ascending).

    Args:
      paths: the shards' ``<dataset>/<table>.csv`` files.
      table: their kind (``TABLES``).

    Returns:
      The combined table (older tables upgraded as ``tables.load_tables`` does).

    Raises:
      UserError: a file is missing, or two shards hold the same run.
    """
    from klgap.sweep import tables

    combined = tables.load_tables(paths, table)
    if table == "metrics":
        keys = [c for c in tables.ID_COLUMNS if c in combined.columns]
        doubled = combined[combined.duplicated(keys, keep=False)]
        if len(doubled):
            row = doubled.iloc[0]
            raise UserError(f"run {dict(row[keys])} is in more than one shard's {table} table; "
                            "the shards must not overlap (fix config key shards, and rerun "
                            "the shards that hold it).")
    if table in FIRST_SEED_TABLES and len(combined):
        cell = [c for c in CELL_COLUMNS if c in combined.columns]
        first = combined.groupby(cell, dropna=False)["seed"].transform("min")
        combined = combined[combined["seed"] == first].reset_index(drop=True)
    return combined


def combine_provenance(records: dict[str, dict], config_text: str) -> dict:
    """The provenance of a sharded sweep: the shards' records and their totals.

    Args:
      records: each shard's ``provenance.json``, by shard name.
      config_text: the output root's configuration snapshot.

    Returns:
      The fields the paper reads from a one-part provenance (``runs_trained``, ``devices``,
      ``cpus``, ``training_commits``, wall and CPU totals; ``span_seconds`` is the sum of the
      shards' spans, the sweep's time on a machine of its own), the latest ``date_utc``, and
      ``shards``: every shard's record whole.
    """
    import yaml

    def union(key: str) -> list:
        return sorted({item for record in records.values() for item in record.get(key, [])})

    def total(key: str) -> float:
        return float(sum(record.get(key) or 0.0 for record in records.values()))

    return {
        "date_utc": max(record["date_utc"] for record in records.values()),
        "workflow_commit": sorted({record["workflow_commit"] for record in records.values()}),
        "training_commits": union("training_commits"),
        "training_versions": union("training_versions"),
        "runs_trained": int(total("runs_trained")),
        "devices": union("devices"), "cpus": union("cpus"), "platforms": union("platforms"),
        "wall_seconds_benchmarked_total": total("wall_seconds_benchmarked_total"),
        "cpu_seconds_benchmarked_total": total("cpu_seconds_benchmarked_total"),
        "span_seconds": total("span_seconds"),
        "config": yaml.safe_load(config_text),
        "shards": records,
    }


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds the ``combine-shards`` command's arguments."""
    parser.add_argument("--dataset", help="the dataset of the tables (with --tables)")
    parser.add_argument("--runs", nargs="*", default=[], metavar="RUN",
                        help=f"the dataset's expected runs ({layout.RUN_PATTERN}), for the "
                             "summary's missing seeds")
    parser.add_argument("--table", choices=TABLES, help="the kind of table combined")
    parser.add_argument("--tables", nargs="*", type=Path, default=[],
                        help="every shard's <dataset>/<table>.csv")
    parser.add_argument("--out", type=Path, help="the combined table")
    parser.add_argument("--summary-out", type=Path, help="with --table metrics: the summary")
    parser.add_argument("--provenance", nargs="*", default=[], metavar="NAME=PATH",
                        help="every shard's provenance.json, as name=path")
    parser.add_argument("--config", type=Path, help="the output root's config.yaml")
    parser.add_argument("--provenance-out", type=Path, help="the combined provenance.json")
    parser.add_argument("--benchmarks-out", type=Path,
                        help="the shards' benchmarks.csv, concatenated with a shard column")


def main(args: argparse.Namespace) -> None:
    """Runs ``combine-shards``: one dataset's table, or the provenance of every shard."""
    from klgap import atomic
    from klgap.sweep import tables

    if args.table:
        combined = combine_tables(args.tables, args.table)
        tables.write_csv(args.out, combined)
        if args.table == "metrics" and args.summary_out:
            runs = [layout.parse_run_subdir(args.dataset, subdir) for subdir in args.runs]
            tables.write_csv(args.summary_out, tables.summarize(combined, runs))
        print(f"{args.dataset}: {len(args.tables)} shards' {args.table} tables, "
              f"{len(combined)} rows -> {args.out}")
    if args.provenance:
        import pandas as pd

        paths = dict(item.split("=", 1) for item in args.provenance)
        missing = [path for path in paths.values() if not Path(path).is_file()]
        if missing:
            raise UserError(f"shard provenance not found: {', '.join(missing)}; run those "
                            "shards first (make shard-<name>).")
        records = {name: json.loads(Path(path).read_text()) for name, path in paths.items()}
        record = combine_provenance(records, args.config.read_text())
        benchmarks = [pd.read_csv(Path(path).with_name("benchmarks.csv")).assign(shard=name)
                      for name, path in paths.items()
                      if Path(path).with_name("benchmarks.csv").is_file()]
        atomic.write_text(args.benchmarks_out,
                          pd.concat(benchmarks, ignore_index=True).to_csv(index=False)
                          if benchmarks else "shard\n")
        atomic.write_json(args.provenance_out, record)
        print(f"provenance of {len(records)} shards, {record['runs_trained']} runs -> "
              f"{args.provenance_out}", file=sys.stderr)


def shard_tables(config: dict, dataset: str, table: str) -> list[str]:
    """The shards' tables of one dataset that the output root combines.

    Args:
      config: the validated configuration of the output root (``shard`` null).
      dataset: the dataset.
      table: one of ``TABLES``.

    Returns:
      ``<outdir>/shards/<name>/<dataset>/<table>.csv`` of every shard with runs of the dataset
      (for ``latent_samples``, with 2-D runs of the main grid's objective); in ``partial`` mode
      only those that exist.

    Raises:
      UserError: outside ``partial`` mode, a shard's table does not exist yet.
    """
    from klgap.sweep import collected_files

    paths = []
    for name in config["shards"]:
        part = {**config, "shard": name}
        if not layout.sweep(part, dataset):
            continue
        if table == "latent_samples" and not collected_files.has_latent_space(part, dataset):
            continue
        paths.append(str(Path(shard_root(config["outdir"], name)) / dataset / f"{table}.csv"))
    missing = [path for path in paths if not Path(path).is_file()]
    if missing and not config["partial"]:
        names = sorted({Path(path).parts[-3] for path in missing})
        raise UserError(f"shard {', '.join(names)} has not run yet ({missing[0]} is missing); "
                        f"run it first (make shard-{names[0]}), or set partial: true to combine "
                        "the shards that have run.")
    return [path for path in paths if Path(path).is_file()]


def shard_provenance(config: dict) -> dict[str, str]:
    """Each shard's ``provenance.json`` that exists, by name (all of them outside ``partial``
    mode, where a missing one is an error as in ``shard_tables``)."""
    paths = {name: str(Path(shard_root(config["outdir"], name)) / "provenance.json")
             for name in config["shards"]}
    missing = [name for name, path in paths.items() if not Path(path).is_file()]
    if missing and not config["partial"]:
        raise UserError(f"shard {', '.join(missing)} has not run yet (no provenance.json); run "
                        f"it first (make shard-{missing[0]}), or set partial: true.")
    return {name: path for name, path in paths.items() if name not in missing}
