"""Which files of which runs the collecting rules read (``aggregate``, ``histories``,
``latent_samples``, ``sample_grids``, ``provenance``), from a validated configuration.

The workflow's input functions (``workflow/rules/common.smk``) are thin wrappers of these. In
``partial`` mode only files that exist are listed, so that nothing is trained and the collecting
commands report the missing runs instead.
"""

import os
from pathlib import Path

from klgap.sweep import layout

# The latent size whose latent space is drawn.
LATENT_SPACE_DIM = 2


def run_files(config: dict, dataset: str, name: str) -> list[str]:
    """One file (e.g. ``metrics.json``) of every run of a dataset's sweep.

    Args:
      config: the validated configuration.
      dataset: the dataset.
      name: the file's name in a run directory.

    Returns:
      The paths, in the sweep's order (only existing ones in ``partial`` mode).
    """
    paths = [str(layout.run_dir(config["outdir"], run) / name)
             for run in layout.sweep(config, dataset)]
    if config["partial"]:
        paths = [path for path in paths if os.path.exists(path)]
    return paths


def partial_shard_is_empty(config: dict) -> bool:
    """Whether a shard in ``partial`` mode would collect nothing: none of its runs has finished.

    ``partial`` trains no run, so such a shard's tables would be empty and yet look finished to
    the combination of the shards.

    Args:
      config: the validated configuration, ``outdir`` already the shard's root.

    Returns:
      True for a shard (config key ``shard``) in ``partial`` mode without a run's metrics.
    """
    if not (config["shard"] and config["partial"]):
        return False
    return not any((layout.run_dir(config["outdir"], run) / "metrics.json").exists()
                   for run in layout.sweep(config))


def first_seed_files(config: dict, candidates: list[Path]) -> list[str]:
    """The first of one cell's files over its seeds (in ``partial`` mode the first that exists)."""
    if config["partial"]:
        candidates = [path for path in candidates if path.exists()]
    return [str(path) for path in candidates[:1]]


def latent_space_weights(config: dict, dataset: str, objective: str | None = None) -> list[float]:
    """The weights whose 2-D latent spaces are drawn (``layout.latent_space_weights`` chooses),
    of the main grid's objective or another; runs on every class only (not an experiment's
    ``classes``)."""
    return layout.latent_space_weights(
        run.weight for run in layout.sweep(config, dataset)
        if run.latent_dim == LATENT_SPACE_DIM and run.classes is None
        and run.objective == (objective or config["objective"]))


def latent_space_grids(config: dict, dataset: str) -> dict[str, list[float]]:
    """Objective -> the weights whose 2-D latent spaces are drawn, the main objective first; only
    objectives with 2-D runs."""
    objectives = dict.fromkeys([config["objective"]]
                               + [run.objective for run in layout.sweep(config, dataset)])
    grids = {objective: latent_space_weights(config, dataset, objective)
             for objective in objectives}
    return {objective: weights for objective, weights in grids.items() if weights}


def has_latent_space(config: dict, dataset: str | None = None) -> bool:
    """Whether the sweep has 2-D runs of the main grid's objective (of one dataset, or any)."""
    return any(run.latent_dim == LATENT_SPACE_DIM and run.objective == config["objective"]
               and run.classes is None for run in layout.sweep(config, dataset))


def sweep_seeds(config: dict, dataset: str) -> list[int]:
    """The seeds of a dataset's runs in the sweep, in order (a shard's own, e.g. one seed)."""
    return list(dict.fromkeys(run.seed for run in layout.sweep(config, dataset)))


def latent_posterior_files(config: dict, dataset: str) -> list[str]:
    """The test posteriors that ``latent_samples`` reads: per objective with 2-D runs and per
    chosen weight, the first seed's."""
    paths = []
    for objective, weights in latent_space_grids(config, dataset).items():
        for weight in weights:
            paths += first_seed_files(config, [
                layout.run_dir(config["outdir"], layout.Run(dataset, LATENT_SPACE_DIM, weight,
                                                            seed, objective))
                / "posterior_test.npz" for seed in sweep_seeds(config, dataset)])
    return paths


def sample_grid_files(config: dict, dataset: str) -> list[str]:
    """The ``samples.npz`` files that ``sample_grids`` reads: per (objective, latent_dim, weight)
    cell of the sweep, the first seed's."""
    cells = {}
    for run in layout.sweep(config, dataset):
        cells.setdefault((run.objective, run.classes, run.latent_dim, run.weight), []).append(
            layout.run_dir(config["outdir"], run) / "samples.npz")
    return [path for candidates in cells.values()
            for path in first_seed_files(config, candidates)]
