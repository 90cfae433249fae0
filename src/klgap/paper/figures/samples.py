"""Figures of decoded samples, from the sample grids: a mosaic of decoded prior (or ex-post)
samples per objective and weight."""

import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from klgap.paper.figures.panels import (by_objective_and_weight, empty_figure, panels,
                                        shown_latent_dim)
from klgap.paper.figures.style import FULL_WIDTH, dataset_name, weight_label
from klgap.sweep import sample_grids as sample_grids_module


# Panels (objective and weight) per row of the sample figures at most; more wrap to further rows
# of equal length.
SAMPLE_COLUMNS = 10


def mosaic(images: np.ndarray, columns: int = 4) -> np.ndarray:
    """Tiles images into one array, one NaN pixel between them (drawn white).

    Args:
      images: uint8 grey levels, (G, H, W), G a multiple of ``columns``.
      columns: images per row.

    Returns:
      Floats 0..255 with NaN gaps, (rows (H + 1) - 1, columns (W + 1) - 1).
    """
    count, height, width = images.shape
    rows = math.ceil(count / columns)
    tiled = np.full((rows * (height + 1) - 1, columns * (width + 1) - 1), np.nan)
    for index, image in enumerate(images):
        row, col = divmod(index, columns)
        tiled[row * (height + 1):row * (height + 1) + height,
              col * (width + 1):col * (width + 1) + width] = image
    return tiled


def sample_mosaics(sample_grids: pd.DataFrame, kind: str) -> plt.Figure:
    """Draws one kind of decoded samples (``prior`` or ``expost``) as a 4x4 mosaic per cell.

    Args:
      sample_grids: the concatenated ``sample_grids.csv`` tables.
      kind: which samples.

    Returns:
      The figure: per dataset a row (wrapped beyond ``SAMPLE_COLUMNS`` panels) of the cells at its
      latent size (``shown_latent_dim``), objectives in ``klgap.training.objectives`` order, weights
      ascending; a cell's lowest seed.
    """
    table = sample_grids[sample_grids["kind"] == kind]
    if table.empty:
        return empty_figure(f"No decoded {kind} samples yet: evaluate the runs (samples.npz) "
                            "and run sample_grids.")
    rows = []  # (dataset, latent_dim, [(objective, weight, seed, its rows)])
    for dataset in dict.fromkeys(table["dataset"]):
        of_dataset = table[table["dataset"] == dataset]
        latent_dim = shown_latent_dim(of_dataset)
        chosen = of_dataset[of_dataset["latent_dim"] == latent_dim]
        panels_of = []
        for (objective, weight), cell in by_objective_and_weight(chosen):
            seed = int(cell["seed"].min())
            panels_of.append((objective, weight, seed,
                              cell[cell["seed"] == seed].sort_values("sample")))
        per_row = math.ceil(len(panels_of) / math.ceil(len(panels_of) / SAMPLE_COLUMNS))
        for first in range(0, len(panels_of), per_row):
            rows.append((dataset, latent_dim, first == 0, panels_of[first:first + per_row]))
    columns = max(len(row[3]) for row in rows)
    width = FULL_WIDTH / max(columns, 4)
    figure, axes = panels(len(rows), columns, width, width + 0.3)
    colour_map = plt.get_cmap("gray").with_extremes(bad="white")
    for r, (dataset, latent_dim, first_row, cells_of_row) in enumerate(rows):
        for c in range(columns):
            ax = axes[r, c]
            if c >= len(cells_of_row):
                ax.set_axis_off()
                continue
            objective, weight, seed, cell = cells_of_row[c]
            ax.imshow(mosaic(sample_grids_module.images(cell)), cmap=colour_map, vmin=0,
                      vmax=255, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            ax.grid(False)
            for spine in ax.spines.values():
                spine.set_visible(False)
            ax.set_title(weight_label(objective, weight) + (f", seed {seed}" if seed else ""),
                         fontsize=7)
            if c == 0 and first_row:
                ax.set_ylabel(f"{dataset_name(dataset)}\n$d_z = {latent_dim}$")
    return figure


def prior_samples(sample_grids: pd.DataFrame) -> plt.Figure:
    """Decoded samples from the prior, per objective and weight.

    Each panel shows the decoder's Bernoulli means E[x|z] (grey levels, black = 0) at 16 codes
    z ~ p(z) = N(0, I), of one run: seed 0 (another seed only where seed 0 has no samples; its
    title then names it). Rows: datasets (more than ten panels wrap), at one latent size each
    (d_z = 10 where the sweep has it, else the largest latent size with the most objectives),
    named at the left; columns: the objectives, then their weights ascending (β of vae and
    tcvae, λ of mmd).

    Args:
      sample_grids: the concatenated ``sample_grids.csv`` tables.

    Returns:
      The figure.
    """
    return sample_mosaics(sample_grids, "prior")


def expost_samples(sample_grids: pd.DataFrame) -> plt.Figure:
    """Decoded samples from the ex-post density, per objective and weight.

    As the prior samples' figure, but the 16 codes are drawn from the ex-post density (Ghosh et
    al. 2020): a 10-component full-covariance Gaussian mixture fitted to the posterior means of
    (up to 10,000) training examples. Each panel shows the decoder's Bernoulli means E[x|z] of
    seed 0 (another seed only where seed 0 has no samples; its title then names it), at d_z = 10
    where the sweep has it, else the largest latent size with the most objectives.

    Args:
      sample_grids: the concatenated ``sample_grids.csv`` tables.

    Returns:
      The figure.
    """
    return sample_mosaics(sample_grids, "expost")
