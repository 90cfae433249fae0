"""Where each run's files live under an output root; shared by the workflow and the commands
that read runs (``aggregate``, ``histories``, ``latent-samples``).

A run of the sweep is ``<outdir>/runs/<dataset>/<objective>/z<latent_dim>/beta<beta>/seed<seed>/``
(``RUN_PATTERN`` below ``runs_dir``; the workflow's wildcards are the same pattern), with beta
written the shortest way that reads back as the same float (``beta1``, ``beta0.1``).
``latent_space_betas`` picks the runs whose latent spaces are drawn.
"""

import argparse
import math
from pathlib import Path
from typing import NamedTuple


# A run's directory below runs_dir(outdir, dataset); its fields are Run's, beta formatted.
RUN_PATTERN = "{objective}/z{latent_dim}/beta{beta}/seed{seed}"


class Run(NamedTuple):
    """The coordinates of one run of the sweep."""

    dataset: str
    latent_dim: int
    beta: float
    seed: int
    objective: str = "vae"


def format_beta(beta: float) -> str:
    """Formats beta for paths and command lines: shortest exact form, no trailing ``.0``.

    Args:
      beta: a finite, non-negative KL weight.

    Returns:
      A string such that ``float(format_beta(b)) == b``, e.g. ``"1"``, ``"0.1"``, ``"1e-05"``.
    """
    beta = float(beta)
    if not math.isfinite(beta) or beta < 0:
        raise ValueError(f"beta must be finite and non-negative, got {beta!r}")
    text = repr(beta)
    return text[:-2] if text.endswith(".0") else text


def runs_dir(outdir: str | Path, dataset: str) -> Path:
    """Returns the directory holding every run of one dataset."""
    return Path(outdir) / "runs" / dataset


def run_subdir(run: Run) -> Path:
    """Returns a run's directory relative to ``runs_dir``: ``RUN_PATTERN`` filled in."""
    return Path(RUN_PATTERN.format(objective=run.objective, latent_dim=int(run.latent_dim),
                                   beta=format_beta(run.beta), seed=int(run.seed)))


def run_dir(outdir: str | Path, run: Run) -> Path:
    """Returns the directory of one run.

    Args:
      outdir: the output root of a configuration (e.g. ``results``).
      run: the run's coordinates.

    Returns:
      ``<outdir>/runs/<dataset>/<objective>/z<latent_dim>/beta<beta>/seed<seed>``.
    """
    return runs_dir(outdir, run.dataset) / run_subdir(run)


def sweep(datasets, latent_dims, betas, seeds, objective: str = "vae") -> list[Run]:
    """Lists the runs of a sweep, in a fixed order (dataset, latent_dim, beta, seed).

    Args:
      datasets, latent_dims, betas, seeds: the values of each axis.
      objective: the training objective of every run.

    Returns:
      One ``Run`` per combination.
    """
    return [Run(d, int(z), float(b), int(s), objective)
            for d in datasets for z in latent_dims for b in betas for s in seeds]


def add_sweep_arguments(parser: argparse.ArgumentParser, per_run_file: str) -> None:
    """Adds the options that name one dataset's expected sweep and where its runs are.

    Args:
      parser: the command's parser.
      per_run_file: the file each run directory holds that the command reads (for the help).
    """
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--objective", default="vae", help="the runs' training objective")
    parser.add_argument("--runs-dir", required=True, type=Path,
                        help=f"<outdir>/runs/<dataset>, holding "
                             f"<objective>/z*/beta*/seed*/{per_run_file}")
    parser.add_argument("--latent-dims", type=int, nargs="+", required=True,
                        help="expected latent sizes")
    parser.add_argument("--betas", type=float, nargs="+", required=True, help="expected betas")
    parser.add_argument("--seeds", type=int, nargs="+", required=True, help="expected seeds")


def latent_space_betas(betas) -> list[float]:
    """Chooses the betas whose 2-D latent spaces are drawn: smallest, nearest to 1, largest.

    "Nearest to 1" is on a log scale (0.5 and 2 are equally near; the smaller wins a tie).

    Args:
      betas: the betas of the sweep.

    Returns:
      Up to three distinct betas, ascending.
    """
    ordered = sorted({float(b) for b in betas})
    if not ordered:
        return []
    nearest_one = min(ordered, key=lambda b: abs(math.log(b)) if b > 0 else math.inf)
    return sorted({ordered[0], nearest_one, ordered[-1]})
