"""Samples of the aggregate posterior of the 2-D runs, small enough to commit.

For the weights chosen by ``layout.latent_space_weights`` (smallest, nearest to 1, largest) of the
main objective and of any other objective with 2-D runs (``--also``), and the first seed that has
been evaluated, the test examples (all, or a fixed random subset) are drawn, and for
each example one z ~ q(z|x_n) = N(mu_n, diag(sigma_n^2)) from the run's ``posterior_test.npz``.
The points are samples of the aggregate posterior q(z) = (1/N) sum_n q(z|x_n). The subset and the
noise depend only on ``--sample-seed`` (the same examples for every weight), so the table is
reproducible.

``latent_samples.csv`` columns: ``dataset, objective, latent_dim, weight, seed, example`` (row
of the test split), ``label``, ``z1, z2``.
"""

import argparse
import io
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from klgap import atomic
from klgap.sweep import layout
from klgap.training import objectives
from klgap.errors import UserError

COLUMNS = ["dataset", "objective", "latent_dim", "weight", "seed", "example", "label", "z1",
           "z2"]
POSTERIOR_FILE = "posterior_test.npz"


def choose_runs(runs_dir: Path, dataset: str, latent_dim: int, weights: list[float],
                seeds: list[int], objective: str = "vae") -> tuple[list[layout.Run], list[float]]:
    """Chooses the runs to sample: per chosen weight, the first seed with a test posterior.

    Args:
      runs_dir: ``<outdir>/runs/<dataset>``.
      dataset: the dataset.
      latent_dim: the latent size (2 for a picture of the latent space).
      weights: the weights of the sweep; ``layout.latent_space_weights`` picks among them.
      seeds: the seeds of the sweep, in order of preference.
      objective: the runs' training objective.

    Returns:
      The chosen runs, and the chosen weights for which no seed has a test posterior.
    """
    chosen, missing = [], []
    for weight in layout.latent_space_weights(weights):
        candidates = [layout.Run(dataset, int(latent_dim), weight, int(seed), objective)
                      for seed in seeds]
        found = layout.first_run_with(runs_dir, candidates, POSTERIOR_FILE)
        if found:
            chosen.append(found)
        else:
            missing.append(weight)
    return chosen, missing


def sample_aggregate_posterior(mu: np.ndarray, sigma: np.ndarray, points: int,
                               sample_seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Draws one z ~ q(z|x_n) for each of a random subset of the examples.

    Args:
      mu, sigma: posterior means and standard deviations, (N, D) each.
      points: how many examples to draw (all N if None or fewer).
      sample_seed: seeds the choice of examples and the noise.

    Returns:
      The chosen examples' rows (K,) and their samples of z (K, D), K = min(points, N).
    """
    rng = np.random.default_rng(sample_seed)
    size = len(mu) if points is None else min(points, len(mu))
    examples = rng.choice(len(mu), size=size, replace=False)  # (K,)
    noise = rng.standard_normal((len(examples), mu.shape[1]))  # (K, D)
    return examples, mu[examples] + sigma[examples] * noise


def run_samples(path: Path, run: layout.Run, points: int, sample_seed: int) -> pd.DataFrame:
    """Reads one run's test posterior and samples its aggregate posterior.

    Args:
      path: the run's ``posterior_test.npz`` (``mu``, ``sigma``: (N, 2); ``labels``: (N,)).
      run: the run it belongs to.
      points: examples to draw.
      sample_seed: seeds the draw.

    Returns:
      One row per drawn example, columns ``COLUMNS``.

    Raises:
      UserError: if the arrays are missing or not two-dimensional posteriors.
    """
    posterior = atomic.load_npz(path)
    absent = sorted({"mu", "sigma", "labels"} - set(posterior))
    if absent:
        raise UserError(f"{path} lacks the arrays {', '.join(absent)}; re-run its evaluate job")
    mu, sigma = posterior["mu"], posterior["sigma"]
    if mu.ndim != 2 or mu.shape[1] != 2 or sigma.shape != mu.shape:
        raise UserError(f"{path} holds posteriors of shape {mu.shape}, not (N, 2): only 2-D "
                        "latent spaces can be drawn")
    examples, z = sample_aggregate_posterior(mu, sigma, points, sample_seed)
    z = z.round(4)  # ample for a scatter plot; keeps the committed table small
    return pd.DataFrame({"dataset": run.dataset, "objective": run.objective,
                         "latent_dim": int(run.latent_dim),
                         "weight": float(run.weight), "seed": int(run.seed), "example": examples,
                         "label": posterior["labels"][examples], "z1": z[:, 0], "z2": z[:, 1]},
                        columns=COLUMNS)


def collect(runs_dir: Path, runs: list[layout.Run], points: int,
            sample_seed: int) -> pd.DataFrame:
    """Samples every chosen run; one table (empty, with its columns, for no runs)."""
    tables = [run_samples(runs_dir / layout.run_subdir(run) / POSTERIOR_FILE, run, points,
                          sample_seed) for run in runs]
    return pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(columns=COLUMNS)


def parse_grids(words: list[str]) -> list[tuple[str, list[float]]]:
    """Reads ``OBJECTIVE=W[,W...]`` words into (objective, weights) pairs.

    Raises:
      UserError: a word of another form, or an unknown objective.
    """
    grids = []
    for word in words:
        objective, _, weights = word.partition("=")
        if objective not in objectives.OBJECTIVES or not weights:
            raise UserError(f"--also takes OBJECTIVE=W[,W...] with an objective of "
                            f"{', '.join(objectives.OBJECTIVES)}, not {word!r}")
        try:
            grids.append((objective, [float(w) for w in weights.split(",")]))
        except ValueError:
            raise UserError(f"--also: the weights of {word!r} are not numbers") from None
    return grids


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds the command's options."""
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--objective", default="vae", help="the runs' training objective")
    parser.add_argument("--runs-dir", required=True, type=Path,
                        help=f"<outdir>/runs/<dataset>, holding "
                             f"{layout.RUN_PATTERN}/posterior_test.npz")
    parser.add_argument("--latent-dim", type=int, default=2, help="latent size of the runs")
    parser.add_argument("--weights", type=float, nargs="+", required=True,
                        help="weights of the sweep (smallest, nearest to 1 and largest are drawn)")
    parser.add_argument("--also", nargs="*", default=[], metavar="OBJECTIVE=W[,W...]",
                        help="other objectives' 2-D runs to draw, with their weights (smallest, "
                             "nearest to 1 and largest are drawn)")
    parser.add_argument("--seeds", type=int, nargs="+", required=True,
                        help="seeds of the sweep (the first one evaluated is drawn)")
    parser.add_argument("--points", type=int, default=None,
                        help="examples drawn per run (default: all of the test split, so that "
                             "the table also gives its class sizes)")
    parser.add_argument("--sample-seed", type=int, default=0,
                        help="seeds the choice of examples and the noise")
    parser.add_argument("--out", required=True, type=Path, help="the table (.csv)")


def main(args: argparse.Namespace) -> None:
    """Writes the table of samples; warns about chosen weights without an evaluated run.

    Raises:
      UserError: no run was evaluated and ``--out`` already holds samples (never replaced by an
        empty table).
    """
    if args.points is not None and args.points < 1:
        raise UserError(f"--points must be positive, got {args.points}")
    runs, missing = [], []
    for objective, weights in [(args.objective, args.weights), *parse_grids(args.also)]:
        chosen, absent = choose_runs(args.runs_dir, args.dataset, args.latent_dim, weights,
                                     args.seeds, objective)
        runs += chosen
        missing += [(objective, weight) for weight in absent]
    if not runs and args.out.is_file() and len(pd.read_csv(args.out)):
        raise UserError(f"no evaluated run of {args.dataset} with latent size {args.latent_dim} "
                        f"under {args.runs_dir}, and {args.out} holds samples already: an "
                        f"empty table would replace them, so nothing was written. Evaluate the "
                        f"runs first (`make sweep`), or delete {args.out} to write an empty one.")
    table = collect(args.runs_dir, runs, args.points, args.sample_seed)
    buffer = io.StringIO()
    table.to_csv(buffer, index=False)
    atomic.write_text(args.out, buffer.getvalue())
    chosen = ", ".join(f"{objectives.weight_name(r.objective)} {layout.format_weight(r.weight)} "
                       f"seed {r.seed}" for r in runs)
    print(f"{args.dataset}: sampled {chosen or 'no run'}; wrote {args.out} ({len(table)} rows)")
    if missing:
        named = ", ".join(f"{objective} {objectives.weight_name(objective)} "
                          f"{layout.format_weight(weight)}" for objective, weight in missing)
        print(f"warning: no evaluated run of {args.dataset} with latent size {args.latent_dim} "
              f"and {named} under {args.runs_dir}", file=sys.stderr)
