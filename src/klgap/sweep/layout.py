"""Which runs a sweep has, and where each run's files live under an output root; shared by the
workflow and the commands that read runs (``aggregate``, ``histories``, ``latent-samples``).

A run of the sweep is
``<outdir>/runs/<dataset>/<objective>/z<latent_dim>/<weight name><weight>/seed<seed>/``
(``RUN_PATTERN`` below ``runs_dir``; the workflow's wildcards are the same pattern): every
objective has one swept weight (``klgap.training.objectives``: ``beta`` of ``vae`` and ``tcvae``,
``lambda`` of ``mmd``), written the shortest way that reads back as the same float
(``vae/z2/beta1/seed0``, ``mmd/z10/lambda100/seed2``). The tables call it ``weight``.
A run trained on some classes only (an experiment's ``classes``, e.g. [1]: the ones alone) has
one more component after the objective, ``classes<labels>`` (labels joined by ``-``:
``vae/classes1/z2/beta1/seed0``); the tables' column ``classes`` is then ``1`` (``all`` for the
others), and the paths of the other runs do not change.
A sweep is the union of grids (``sweep``): the configuration's main grid and its
``experiments``. ``latent_space_weights`` picks the runs whose latent spaces are drawn.
"""

import argparse
import math
from pathlib import Path
from typing import NamedTuple

from klgap.training import objectives
from klgap.errors import UserError

# A run's directory below runs_dir(outdir, dataset); its fields are Run's, the weight formatted
# and preceded by its name (objectives.weight_name).
# {subset} is empty, or ``classes<labels>/`` for a run on some classes (``subset_dir``).
RUN_PATTERN = "{objective}/{subset}z{latent_dim}/{weight_name}{weight}/seed{seed}"
# The tables' ``classes`` of a run on every class (and of tables written before the column).
ALL_CLASSES = "all"
# How the paper, its figures and the README name each dataset.
DATASET_NAMES = {"digits": "Digits (8×8)", "fashion_mnist": "Fashion-MNIST", "mnist": "MNIST"}
# The keys of one grid of a sweep (the configuration's main grid, or one of its experiments).
GRID_KEYS = ("objective", "datasets", "latent_dims", "weights", "seeds")
# What configuration snapshots written before a key existed (results/config.yaml) meant by it.
OLDER_SNAPSHOTS = {"objective": "vae"}


class Run(NamedTuple):
    """The coordinates of one run of the sweep; ``weight`` is the objective's swept weight."""

    dataset: str
    latent_dim: int
    weight: float
    seed: int
    objective: str = "vae"
    classes: tuple[int, ...] | None = None  # trained and evaluated on these labels; None: all


def classes_label(classes) -> str:
    """The tables' ``classes`` of a run: ``all`` (None), or the sorted labels joined by ``-``."""
    if classes is None:
        return ALL_CLASSES
    return "-".join(str(int(c)) for c in sorted(classes))


def parse_classes_label(label) -> tuple[int, ...] | None:
    """The classes of a tables' ``classes`` value (``classes_label``'s inverse; NaN: all).

    Raises:
      UserError: a value that is neither ``all`` nor labels joined by ``-``.
    """
    if label is None or (isinstance(label, float) and math.isnan(label)):
        return None
    label = str(label)
    if label == ALL_CLASSES:
        return None
    try:
        return tuple(sorted(int(part) for part in label.split("-")))
    except ValueError:
        raise UserError(f"classes {label!r} is neither {ALL_CLASSES!r} nor labels joined by "
                        "'-' (e.g. 1 or 1-7)") from None


def subset_dir(classes) -> str:
    """The run path's ``{subset}``: empty for every class, else ``classes<labels>/``."""
    return "" if classes is None else f"classes{classes_label(classes)}/"


def format_weight(weight: float) -> str:
    """Formats a weight for paths and command lines: shortest exact form, no trailing ``.0``.

    Args:
      weight: a finite, non-negative objective weight.

    Returns:
      A string such that ``float(format_weight(w)) == w``, e.g. ``"1"``, ``"0.1"``, ``"1e-05"``.
    """
    weight = float(weight)
    if not math.isfinite(weight) or weight < 0:
        raise ValueError(f"weight must be finite and non-negative, got {weight!r}")
    text = repr(weight)
    return text[:-2] if text.endswith(".0") else text


def runs_dir(outdir: str | Path, dataset: str) -> Path:
    """Returns the directory holding every run of one dataset."""
    return Path(outdir) / "runs" / dataset


def run_subdir(run: Run) -> Path:
    """Returns a run's directory relative to ``runs_dir``: ``RUN_PATTERN`` filled in."""
    return Path(RUN_PATTERN.format(objective=run.objective, subset=subset_dir(run.classes),
                                   latent_dim=int(run.latent_dim),
                                   weight_name=objectives.weight_name(run.objective),
                                   weight=format_weight(run.weight), seed=int(run.seed)))


def parse_run_subdir(dataset: str, subdir: str) -> Run:
    """Reads a run's coordinates back from its directory below ``runs_dir`` (``run_subdir``).

    Args:
      dataset: the run's dataset.
      subdir: e.g. ``vae/z2/beta0.5/seed1``.

    Returns:
      The run.

    Raises:
      UserError: the text does not follow ``RUN_PATTERN``.
    """
    parts = Path(subdir).parts
    try:
        classes = None
        if len(parts) == 5 and parts[1].startswith("classes"):  # a run on some classes
            classes = parse_classes_label(parts[1][len("classes"):])
            parts = parts[:1] + parts[2:]
        objective, latent, weight, seed = parts
        name = objectives.weight_name(objective)
        if not (latent.startswith("z") and weight.startswith(name) and seed.startswith("seed")):
            raise ValueError
        run = Run(dataset, int(latent[1:]), float(weight[len(name):]), int(seed[4:]), objective,
                  classes)
    except (ValueError, UserError):
        raise UserError(f"{subdir!r} is not a run directory of the form {RUN_PATTERN}") from None
    if run_subdir(run) != Path(subdir):
        raise UserError(f"{subdir!r} is not written as klgap writes it: {run_subdir(run)}")
    return run


def run_dir(outdir: str | Path, run: Run) -> Path:
    """Returns the directory of one run.

    Args:
      outdir: the output root of a configuration (e.g. ``results``).
      run: the run's coordinates.

    Returns:
      ``<outdir>/runs/<dataset>/`` followed by ``run_subdir(run)``.
    """
    return runs_dir(outdir, run.dataset) / run_subdir(run)


def upgrade_snapshot(config: dict) -> dict:
    """A configuration (snapshot) in today's keys and names: ``betas``, the beta-VAE's grid before
    the main grid had an objective, becomes ``weights``; renamed objectives
    (``objectives.RENAMED``) get their new names, in the main grid and in the experiments.

    Args:
      config: a configuration, e.g. a committed ``results/config.yaml``.

    Returns:
      A new dict; other keys unchanged.
    """
    upgraded = dict(config)
    if "betas" in upgraded:
        upgraded.setdefault("weights", upgraded.pop("betas"))
    if "objective" in upgraded:
        upgraded["objective"] = objectives.RENAMED.get(upgraded["objective"],
                                                       upgraded["objective"])
    if "experiments" in upgraded:
        upgraded["experiments"] = [
            {**grid, "objective": objectives.RENAMED.get(grid["objective"], grid["objective"])}
            if "objective" in grid else grid for grid in upgraded["experiments"]]
    return upgraded


def upgrade_objectives(table):
    """A table (pandas) with renamed objectives (``objectives.RENAMED``) under their new names.

    Args:
      table: a DataFrame with an ``objective`` column, e.g. a committed ``summary.csv``.

    Returns:
      The table, its ``objective`` column mapped (the same object if nothing was renamed).
    """
    if not table["objective"].isin(list(objectives.RENAMED)).any():
        return table
    return table.assign(objective=table["objective"].replace(objectives.RENAMED))


def upgrade_classes(table):
    """A table (pandas) with a ``classes`` column, as strings: added after ``objective`` as
    ``ALL_CLASSES`` where it is missing (tables written before runs could be on some classes).

    Args:
      table: a DataFrame with an ``objective`` column, e.g. a committed ``summary.csv``.

    Returns:
      The table with the column (a new DataFrame).
    """
    table = table.copy()
    if "classes" not in table.columns:
        table.insert(list(table.columns).index("objective") + 1, "classes", ALL_CLASSES)
    table["classes"] = table["classes"].fillna(ALL_CLASSES).astype(str)
    return table


def grid(datasets, latent_dims, weights, seeds, objective: str = "vae",
         classes=None) -> list[Run]:
    """Lists the runs of one grid, in a fixed order (dataset, latent_dim, weight, seed).

    Args:
      datasets, latent_dims, weights, seeds: the values of each axis.
      objective: the training objective of every run.
      classes: the labels every run is trained on (an experiment's ``classes``); None: all.

    Returns:
      One ``Run`` per combination.
    """
    classes = None if classes is None else tuple(sorted(int(c) for c in classes))
    return [Run(d, int(z), float(w), int(s), objective, classes)
            for d in datasets for z in latent_dims for w in weights for s in seeds]


def sweep(config: dict, dataset: str | None = None) -> list[Run]:
    """Lists the runs of a configuration's sweep: its main grid, then each of its experiments.

    An experiment is a grid whose keys (``GRID_KEYS``) default to the main grid's, and whose
    optional ``classes`` restricts its runs to those labels (the main grid has every class); its
    datasets are kept to the configuration's ``datasets``. A run in several grids is listed
    once.

    Args:
      config: the validated configuration (``objective``, ``datasets``, ``latent_dims``,
        ``weights``, ``seeds``, ``experiments``), or a snapshot of one written before some of
        these keys existed (no experiments; objective vae; weights called betas).
      dataset: only this dataset's runs (default: every dataset's).

    Returns:
      The runs, in order of first appearance; with ``shard`` set, that shard's only.
    """
    config = upgrade_snapshot(config)
    main = {key: config.get(key, OLDER_SNAPSHOTS.get(key)) for key in GRID_KEYS}
    runs = []
    for experiment in [{}, *config.get("experiments", [])]:
        keys = {**main, **experiment}
        datasets = [d for d in keys["datasets"] if d in config["datasets"]
                    and (dataset is None or d == dataset)]
        runs += grid(datasets, keys["latent_dims"], keys["weights"], keys["seeds"],
                     keys["objective"], experiment.get("classes"))
    runs = list(dict.fromkeys(runs))
    if config.get("shard"):  # one shard of the sweep (klgap.sweep.shards)
        from klgap.sweep import shards

        runs = shards.shard_runs(runs, config.get("shards") or {}, config["shard"])
    return runs


def first_run_with(runs_dir: Path, candidates: list[Run], file_name: str) -> Run | None:
    """Returns the first of the candidate runs whose directory holds ``file_name``, or None.

    Args:
      runs_dir: ``<outdir>/runs/<dataset>``.
      candidates: runs in order of preference (e.g. the seeds of one cell).
      file_name: the file a run must have (e.g. ``samples.npz``).
    """
    return next((run for run in candidates
                 if (Path(runs_dir) / run_subdir(run) / file_name).is_file()), None)


def add_sweep_arguments(parser: argparse.ArgumentParser, per_run_file: str) -> None:
    """Adds the options that name one dataset's expected runs and where they are.

    Args:
      parser: the command's parser.
      per_run_file: the file each run directory holds that the command reads (for the help).
    """
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--runs-dir", required=True, type=Path,
                        help=f"<outdir>/runs/<dataset>, holding RUN/{per_run_file}")
    parser.add_argument("--runs", nargs="+", required=True, metavar="RUN",
                        help=f"the expected runs, as directories below --runs-dir ({RUN_PATTERN})")


def expected_runs(args: argparse.Namespace) -> list[Run]:
    """Returns the runs named by ``add_sweep_arguments``' options."""
    return [parse_run_subdir(args.dataset, subdir) for subdir in args.runs]


def latent_space_weights(weights) -> list[float]:
    """Chooses the weights whose 2-D latent spaces are drawn: smallest, nearest to 1, largest.

    "Nearest to 1" is on a log scale (0.5 and 2 are equally near; the smaller wins a tie).

    Args:
      weights: the weights (betas) of the sweep's 2-D runs of one objective.

    Returns:
      Up to three distinct weights, ascending.
    """
    ordered = sorted({float(b) for b in weights})
    if not ordered:
        return []
    nearest_one = min(ordered, key=lambda b: abs(math.log(b)) if b > 0 else math.inf)
    return sorted({ordered[0], nearest_one, ordered[-1]})
