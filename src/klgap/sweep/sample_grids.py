"""Decoded samples of each run's prior and ex-post density, small enough to commit.

For every (objective, latent_dim, weight) cell among the expected runs, the first of its seeds
(in the order of ``--runs``: seed 0 in the workflow) whose evaluation wrote ``samples.npz`` gives
its 16 decoded prior samples and 16 decoded ex-post samples (uint8 grey levels round(255 E[x|z]),
``klgap.evaluation.generation_metrics.generation_metrics``). Cells without such a run are left
out, with a warning.

``sample_grids.csv`` columns: ``dataset, objective, latent_dim, weight, seed, kind`` (``prior`` or
``expost``), ``sample`` (0..15), ``height, width``, ``pixels``: one image, its row-major uint8
bytes compressed with zlib and written in base64 (``decode_pixels``; about 0.9 kB for a 28x28
decoder mean, 80 characters for 8x8). A zlib stream starts with byte 0x78, so every ``pixels``
starts with ``eN`` and is never read as a number.
"""

import argparse
import base64
import io
import sys
import zlib
from pathlib import Path

import numpy as np
import pandas as pd

from klgap import atomic
from klgap.sweep import layout
from klgap.errors import UserError

COLUMNS = ["dataset", "objective", "classes", "latent_dim", "weight", "seed", "kind", "sample",
           "height", "width", "pixels"]
KINDS = ("prior", "expost")  # the arrays of samples.npz, each (G, P) uint8
SAMPLES_FILE = "samples.npz"


def encode_pixels(image: np.ndarray) -> str:
    """Writes one image's grey levels as text: base64 of the zlib-compressed uint8 bytes.

    Args:
      image: uint8 grey levels, any shape (read row-major), e.g. (P,).

    Returns:
      ASCII text without commas or quotes.
    """
    data = np.ascontiguousarray(image, dtype=np.uint8).tobytes()
    return base64.b64encode(zlib.compress(data, 9)).decode("ascii")


def decode_pixels(text: str, height: int, width: int) -> np.ndarray:
    """Reads an image written by ``encode_pixels`` back.

    Args:
      text: the ``pixels`` of a row.
      height, width: the image's shape.

    Returns:
      The uint8 grey levels, (height, width).

    Raises:
      UserError: the text is not an image of that size.
    """
    try:
        data = zlib.decompress(base64.b64decode(text, validate=True))
    except (ValueError, zlib.error) as error:
        raise UserError(f"pixels {text[:12]!r}... are not base64 of zlib data ({error}); is the "
                        "table written by `klgap sample-grids`?") from None
    if len(data) != height * width:
        raise UserError(f"pixels hold {len(data)} grey levels, not {height}x{width}")
    return np.frombuffer(data, dtype=np.uint8).reshape(height, width)


def choose_runs(runs_dir: Path, runs: list[layout.Run]) -> tuple[list[layout.Run],
                                                                  list[tuple]]:
    """Chooses one run per cell: the first of its seeds whose ``samples.npz`` exists.

    Args:
      runs_dir: ``<outdir>/runs/<dataset>``.
      runs: the expected runs (one dataset), in order of preference within a cell.

    Returns:
      The chosen runs, in order of first appearance of their cells, and the cells
      ``(objective, latent_dim, weight)`` without samples.
    """
    cells: dict[tuple, list[layout.Run]] = {}
    for run in runs:
        cells.setdefault((run.objective, run.classes, int(run.latent_dim), float(run.weight)),
                         []).append(run)
    chosen, missing = [], []
    for cell, candidates in cells.items():
        found = layout.first_run_with(runs_dir, candidates, SAMPLES_FILE)
        if found:
            chosen.append(found)
        else:
            missing.append(cell)
    return chosen, missing


def run_samples(path: Path, run: layout.Run) -> pd.DataFrame:
    """Reads one run's ``samples.npz`` into rows of the table.

    Args:
      path: the file (``prior``, ``expost``: (G, P) uint8; ``image_shape``: (2,)).
      run: the run it belongs to.

    Returns:
      One row per kind and sample (2G rows), columns ``COLUMNS``.

    Raises:
      UserError: arrays missing, or not G images of image_shape's size.
    """
    grids = atomic.load_npz(path)
    absent = sorted({*KINDS, "image_shape"} - set(grids))
    if absent:
        raise UserError(f"{path} lacks the arrays {', '.join(absent)}; re-run its evaluation")
    height, width = (int(n) for n in grids["image_shape"])
    rows = []
    for kind in KINDS:
        images = grids[kind]  # (G, P)
        if images.dtype != np.uint8 or images.ndim != 2 or images.shape[1] != height * width:
            raise UserError(f"{path}: {kind} is {images.dtype} {images.shape}, not uint8 "
                            f"(G, {height * width}) images of shape {height}x{width}")
        rows += [{"dataset": run.dataset, "objective": run.objective,
                  "classes": layout.classes_label(run.classes),
                  "latent_dim": int(run.latent_dim), "weight": float(run.weight),
                  "seed": int(run.seed), "kind": kind, "sample": sample, "height": height,
                  "width": width, "pixels": encode_pixels(image)}
                 for sample, image in enumerate(images)]
    return pd.DataFrame(rows, columns=COLUMNS)


def collect(runs_dir: Path, runs: list[layout.Run]) -> pd.DataFrame:
    """Reads every chosen run's samples; one table (empty, with its columns, for no runs)."""
    tables = [run_samples(runs_dir / layout.run_subdir(run) / SAMPLES_FILE, run) for run in runs]
    return pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(columns=COLUMNS)


def images(table: pd.DataFrame) -> np.ndarray:
    """Decodes the ``pixels`` of a table's rows (all of one image shape).

    Args:
      table: rows of ``sample_grids.csv``.

    Returns:
      uint8 grey levels, (rows, height, width).

    Raises:
      UserError: rows of different image shapes.
    """
    shapes = set(zip(table["height"].astype(int), table["width"].astype(int)))
    if len(shapes) != 1:
        raise UserError(f"expected images of one shape, got {sorted(shapes)}")
    [(height, width)] = shapes
    return np.stack([decode_pixels(text, height, width) for text in table["pixels"]])


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds the command's options."""
    layout.add_sweep_arguments(parser, SAMPLES_FILE)
    parser.add_argument("--out", required=True, type=Path, help="the table (.csv)")


def main(args: argparse.Namespace) -> None:
    """Writes the table of decoded samples; warns about cells without any.

    Raises:
      UserError: no cell has samples and ``--out`` already holds some (never replaced by an
        empty table).
    """
    runs, missing = choose_runs(args.runs_dir, layout.expected_runs(args))
    if not runs and args.out.is_file() and len(pd.read_csv(args.out)):
        raise UserError(f"no run of {args.dataset} has {SAMPLES_FILE} under {args.runs_dir}, "
                        f"and {args.out} holds samples already: an empty table would replace "
                        f"them, so nothing was written. Evaluate the runs first (`make sweep`), "
                        f"or delete {args.out} to write an empty one.")
    table = collect(args.runs_dir, runs)
    buffer = io.StringIO()
    table.to_csv(buffer, index=False)
    atomic.write_text(args.out, buffer.getvalue())
    print(f"{args.dataset}: samples of {len(runs)} of {len(runs) + len(missing)} cells; wrote "
          f"{args.out} ({len(table)} rows, {len(buffer.getvalue()) / 1000:.0f} kB)")
    if missing:
        print(f"warning: {len(missing)} cells of {args.dataset} have no run with "
              f"{SAMPLES_FILE} under {args.runs_dir}:", file=sys.stderr)
        for objective, classes, latent_dim, weight in missing:
            subdir = layout.run_subdir(layout.Run(args.dataset, latent_dim, weight, 0, objective,
                                                  classes))
            print(f"  missing: {args.runs_dir / subdir.parent}/seed*", file=sys.stderr)
